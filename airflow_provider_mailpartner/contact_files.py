"""Contact files as spreadsheets write them: encoding, separator, line ending and address column, found from the start.

French Excel saves "CSV" as cp1252 with ``;`` and CRLF (or UTF-8 with a BOM, "CSV UTF-8"), under
headers such as ``Adresse e-mail``. Nobody should have to say so: a BOM means UTF-8; bytes that read
as UTF-8 are UTF-8; anything else is read as cp1252, with a WARNING saying how to choose otherwise.
The separator is the one that splits the header line into the most cells. The choice is made from
the file's first bytes; a later byte that contradicts it fails with the advice to give ``encoding=``.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import logging
import unicodedata
from collections.abc import Sequence

log = logging.getLogger(__name__)

ENCODINGS = ("utf-8", "utf-8-sig", "cp1252")
DELIMITERS = (",", ";", "\t", "|")
HEAD_BYTES = 64 * 1024
"""How much of the file decides its encoding and separator."""
# Header cells taken for the address, compared without case, accents, spaces, hyphens or underscores.
EMAIL_COLUMN_NAMES = frozenset(
    {
        "email",
        "mail",
        "emailaddress",
        "mailaddress",
        "adresseemail",
        "adressemail",
        "adressemel",
        "courriel",
        "adressecourriel",
        "adresseelectronique",
        "mel",
    }
)


class ContactFileError(ValueError):
    """The contact file cannot be read: no header, no address column, or bytes its encoding cannot read."""


@dataclasses.dataclass(frozen=True)
class CsvDialect:
    """How a contact file is written; its outputs are written the same way.

    ``encoding`` is ``utf-8``, ``utf-8-sig`` (UTF-8 starting with a BOM) or ``cp1252``.
    """

    encoding: str
    delimiter: str
    line_terminator: str

    @property
    def text_encoding(self) -> str:
        """The codec to read and write the text with: a BOM stays in the text as ``\\ufeff``, so copies keep it."""
        return "utf-8" if self.encoding == "utf-8-sig" else self.encoding


def check_options(encoding: str | None = None, delimiter: str | None = None) -> None:
    """Refuse an ``encoding`` or ``delimiter`` given by hand that the reading cannot use (operators: at parse time)."""
    if encoding is not None and encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {ENCODINGS} or None (found from the file), not {encoding!r}")
    if delimiter is not None and len(delimiter) != 1:
        raise ValueError(f"delimiter must be one character or None (found from the header), not {delimiter!r}")


def sniff_dialect(head: bytes, source: str, *, encoding: str | None = None, delimiter: str | None = None) -> CsvDialect:
    """The dialect of a file whose first bytes are ``head``; ``encoding`` and ``delimiter`` as given, if given."""
    check_options(encoding, delimiter)
    chosen = encoding or detect_encoding(head, source)
    text = _decoded_head(head, chosen, source)
    header_line, _, _ = text.removeprefix("\ufeff").partition("\n")
    terminator = "\r\n" if header_line.endswith("\r") else "\n"
    return CsvDialect(chosen, delimiter or detect_delimiter(header_line.rstrip("\r")), terminator)


def detect_encoding(head: bytes, source: str) -> str:
    """``utf-8-sig`` with a BOM, ``utf-8`` when the bytes read as UTF-8, else ``cp1252`` (with a WARNING)."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)  # a character may be cut at the end
    except UnicodeDecodeError as error:
        log.warning(
            "%s is not UTF-8 (byte 0x%02x at offset %d): reading it as cp1252, what Excel on a French or "
            "Western Windows writes. If it is another encoding, give encoding= (one of %s).",
            source,
            head[error.start],
            error.start,
            ", ".join(ENCODINGS),
        )
        return "cp1252"
    return "utf-8"


def _decoded_head(head: bytes, encoding: str, source: str) -> str:
    try:
        return codecs.getincrementaldecoder(encoding)().decode(head, final=False)
    except UnicodeDecodeError as error:
        raise ContactFileError(unreadable(source, error, encoding, "in its first bytes")) from None


def unreadable(source: str, error: UnicodeDecodeError, encoding: str, where: str) -> str:
    """The message for bytes ``encoding`` cannot read, with what to do about it."""
    other = "cp1252" if encoding.startswith("utf-8") else "utf-8"
    return (
        f"{source}: byte 0x{error.object[error.start]:02x} {where} is not {encoding}, though the file's start "
        f"was read as {encoding}. Save the file in one encoding, or give encoding= ({other}?); nothing was published"
    )


def detect_delimiter(header_line: str) -> str:
    """The separator that splits the header line into the most cells (``,`` when none splits it)."""
    cells = {delimiter: len(next(csv.reader([header_line], delimiter=delimiter), [])) for delimiter in DELIMITERS}
    return max(DELIMITERS, key=lambda delimiter: cells[delimiter])  # ties: the first in DELIMITERS


def find_email_column(header: Sequence[str], source: str, email_column: str | None = None) -> int:
    """The index of the address column: ``email_column`` if given, else the one cell named like an address.

    Names are compared without case, accents, spaces, hyphens or underscores, so ``E-mail Address``,
    ``Adresse e-mail`` and ``courriel`` are all found.
    """
    if email_column is not None:
        wanted = frozenset({_plain_name(email_column)})
        why = f"named {email_column!r}"
    else:
        wanted = EMAIL_COLUMN_NAMES
        why = "named like an address (email, e-mail, mail, E-mail Address, Adresse e-mail, courriel...)"
    found = [index for index, name in enumerate(header) if _plain_name(name) in wanted]
    if len(found) == 1:
        return found[0]
    problem = "no column" if not found else f"{len(found)} columns"
    advice = "" if email_column is not None or not found else "; give email_column= to choose"
    raise ContactFileError(f"{source}: {problem} {why} in the header {list(header)!r}{advice}")


def is_email_column_name(name: str) -> bool:
    """Whether a header cell names an address column (``E-mail Address``, ``Adresse e-mail``, ``courriel``...)."""
    return _plain_name(name) in EMAIL_COLUMN_NAMES


def _plain_name(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return "".join(char for char in decomposed if char.isalnum())
