"""Deterministic, realistic-looking unsubscribe entries for :meth:`SandboxBackend.generate`.

Addresses mix French and international names with common mailbox providers; dates rise with the
id across 2015-2025, as on a long-lived account, and a later batch continues after the list's last
date. One 64-bit draw per entry keeps a million entries within a couple of seconds, and the same
seed on the same starting list gives the same entries.
"""

from __future__ import annotations

import random
from array import array
from collections.abc import Callable, Sequence

from .timestamps import to_seconds

# Word lists read better as paragraphs than as one quoted name per line.
FIRST_NAMES: tuple[str, ...] = tuple(
    """
    jean marie pierre michel nathalie isabelle sylvie catherine francoise philippe alain nicolas
    christophe patrick stephane sophie julie camille lea manon chloe emma ines sarah laura pauline
    marine lucie anne claire celine aurelie emilie julien thomas alexandre antoine maxime kevin romain
    guillaume sebastien laurent olivier david eric frederic vincent jerome mathieu benoit hugo lucas
    louis gabriel arthur jules adam raphael leo paul theo nathan enzo noah ethan tom clement quentin
    florian adrien valentin bastien damien cedric yann loic gaelle elodie melanie audrey sandrine
    valerie veronique christine monique helene agathe margaux juliette alice louise jade rose anna
    mila lina zoe eva clara charlotte mathilde oceane justine morgane amandine caroline delphine
    virginie stephanie laetitia karine severine mohamed karim yassine mehdi sofiane nadia samira
    fatima leila yasmine ana carlos miguel marco luca giulia sofia hannah lena jan piotr olga ivan
    john james emily jessica michael daniel chris kim alex sam max yves gilles bruno denis serge
    """.split()  # noqa: SIM905
)

LAST_NAMES: tuple[str, ...] = tuple(
    """
    martin bernard dubois thomas robert richard petit durand leroy moreau simon laurent lefebvre
    michel garcia david bertrand roux vincent fournier morel girard andre lefevre mercier dupont
    lambert bonnet francois martinez legrand garnier faure rousseau blanc guerin muller henry roussel
    nicolas perrin morin mathieu clement gauthier dumont lopez fontaine chevalier robin masson
    sanchez gerard nguyen boyer denis lemaire duval joly gautier roger roche roy noel meyer lucas
    meunier jean perez marchand dufour blanchard marie barbier brun dumas brunet schmitt leroux colin
    fernandez pierre renard arnaud rolland caron aubert giraud leclerc vidal bourgeois renaud lemoine
    picard gaillard philippe leclercq lacroix fabre dupuis olivier rodriguez dasilva hubert louis
    charles guillot riviere legall guillaume adam rey moulin gonzalez berger lecomte menard fleury
    deschamps carpentier julien benoit paris maillard marchal aubry vasseur renault jacquet collet
    prevost poirier charpentier royer huet baron dupuy pons paul laine carre breton remy schneider
    perrot guyot barre marty cousin weber hoarau bailly herve klein lebrun cordier pichon leger
    bouvier boucher legoff tessier carlier gilles boulanger pasquier besson etienne collin jacob
    """.split()  # noqa: SIM905
)

# Mailbox providers, repeated by rough market share so that a uniform pick is weighted.
_DOMAIN_WEIGHTS: tuple[tuple[str, int], ...] = (
    ("gmail.com", 30),
    ("orange.fr", 10),
    ("hotmail.fr", 9),
    ("yahoo.fr", 7),
    ("free.fr", 7),
    ("laposte.net", 5),
    ("outlook.fr", 4),
    ("sfr.fr", 4),
    ("wanadoo.fr", 4),
    ("icloud.com", 3),
    ("outlook.com", 3),
    ("hotmail.com", 3),
    ("live.fr", 2),
    ("yahoo.com", 2),
    ("gmx.fr", 2),
    ("neuf.fr", 1),
    ("bbox.fr", 1),
    ("aol.com", 1),
    ("protonmail.com", 1),
    ("numericable.fr", 1),
)
DOMAINS: tuple[str, ...] = tuple(domain for domain, weight in _DOMAIN_WEIGHTS for _ in range(weight))

WINDOW_START = to_seconds("2015-01-01 00:00:00")
WINDOW_END = to_seconds("2025-12-31 23:59:59")
#: Past the window, a later batch advances this many seconds per entry on average.
LATER_MEAN_GAP_SECONDS = 60

# How a local part is made from a first name, a last name and a number below 1000.
_LOCAL_PARTS: tuple[Callable[[str, str, int], str], ...] = (
    lambda first, last, number: f"{first}.{last}",
    lambda first, last, number: f"{first[0]}{last}",
    lambda first, last, number: f"{first}_{last}",
    lambda first, last, number: f"{first}.{last}{number % 100}",
    lambda first, last, number: f"{first}{last}{1950 + number % 56}",
    lambda first, last, number: f"{first[0]}.{last}",
    lambda first, last, number: f"{first}{number % 1000}",
    lambda first, last, number: f"{last}.{first}{number % 10}",
)


def date_range(n: int, after: int | None) -> tuple[int, int]:
    """The first and last ``createdAt`` seconds a batch of ``n`` entries may use.

    :param after: the date of the list's last entry, or ``None`` for an empty list. A batch starts
        there, so dates keep rising with the id from one call to the next; it ends with the window
        (2015-2025) or, once past it, about a minute per entry later.
    """
    start = WINDOW_START if after is None else max(WINDOW_START, after)
    return start, max(WINDOW_END, start + n * LATER_MEAN_GAP_SECONDS)


def generate_entries(
    n: int, seed: int, taken: set[str], *, first_id: int = 1, after: int | None = None
) -> tuple[list[str], array[int]]:
    """``n`` new addresses and their ``createdAt`` seconds, in rising date order.

    :param n: how many entries to make.
    :param seed: the caller's seed.
    :param taken: normalized addresses already on the list; each new address is added to it, so
        the result never repeats one, within itself or against the list.
    :param first_id: the id the first new entry gets. The random stream is drawn from ``seed``
        *and* ``first_id``, so a second call with the same seed continues with new names instead of
        replaying the first call's (with a number added to each to make it unique).
    :param after: the date of the list's last entry (see :func:`date_range`).
    """
    # A string seed is hashed with SHA-512: the same stream on every run and platform.
    rng = random.Random(f"mailpartner-sandbox/{seed}/{first_id}")
    draw = rng.getrandbits
    firsts: Sequence[str] = FIRST_NAMES
    lasts: Sequence[str] = LAST_NAMES
    domains: Sequence[str] = DOMAINS
    local_parts = _LOCAL_PARTS
    n_first, n_last, n_domain, n_pattern = len(firsts), len(lasts), len(domains), len(local_parts)
    start, end = date_range(n, after)
    max_gap = 2 * (end - start) // max(n, 1)
    emails: list[str] = []
    created: array[int] = array("q")
    add_email, add_created, add_taken = emails.append, created.append, taken.add
    moment = start
    for _ in range(n):
        bits = draw(64)
        bits, first = divmod(bits, n_first)
        bits, last = divmod(bits, n_last)
        bits, domain = divmod(bits, n_domain)
        bits, pattern = divmod(bits, n_pattern)
        bits, number = divmod(bits, 1_000)
        local = local_parts[pattern](firsts[first], lasts[last], number)
        email = f"{local}@{domains[domain]}"
        suffix = 1
        while email in taken:
            suffix += 1
            email = f"{local}{suffix}@{domains[domain]}"
        add_taken(email)
        add_email(email)
        moment = min(moment + bits % (max_gap + 1), end)
        add_created(moment)
    return emails, created
