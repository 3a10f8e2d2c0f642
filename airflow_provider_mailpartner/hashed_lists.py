"""Hashed suppression lists: one hex digest of each normalised address per line, and a manifest beside the file.

Affiliate networks exchange suppression lists hashed, so that no party sees the others'
addresses. What is hashed is the key :func:`~airflow_provider_mailpartner.suppression.normalize_email`
gives (trimmed, NFC, local part case-folded, domain in IDNA ASCII form), as UTF-8: for an ASCII
address that is the common convention, the MD5 or SHA-256 of the trimmed, lower-cased address.
A non-ASCII domain is hashed in its ``xn--`` form, so ``Zoë@Exämple.fr`` is hashed as
``zoë@xn--exmple-cua.fr``: a partner who hashes the Unicode domain gets another digest.

MD5 and SHA-256 of an address are easy to reverse by guessing addresses; ``hmac-sha256`` keyed
with a secret shared with the partner is not. The secret is the password of an Airflow
connection, registered with Airflow's masker and never printed.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import partial
from itertools import chain, groupby
from operator import itemgetter, methodcaller
from typing import IO, TYPE_CHECKING, Literal, NamedTuple, TypedDict, cast

from airflow_provider_mailpartner.exceptions import MailPartnerConfigError
from airflow_provider_mailpartner.record_files import blocks
from airflow_provider_mailpartner.storage import open_without_lineage, staged, storage_path
from airflow_provider_mailpartner.suppression import InvalidEmailError, normalize_email

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

log = logging.getLogger(__name__)

HashAlgorithm = Literal["md5", "sha256", "hmac-sha256"]
HASH_ALGORITHMS: tuple[HashAlgorithm, ...] = ("md5", "sha256", "hmac-sha256")
HASHED_FORMAT = "hashed"
NORMALIZATION = "trim-nfc-casefold-idna-utf8"
"""What was hashed: :func:`~airflow_provider_mailpartner.suppression.normalize_email`'s key, as UTF-8."""
MANIFEST_SUFFIX = ".manifest.json"
MIN_SECRET_BYTES = 16

_HEX_LENGTHS = {"md5": 32, "sha256": 64, "hmac-sha256": 64}
_DETECTED: dict[int, HashAlgorithm] = {32: "md5", 64: "sha256"}  # an HMAC-SHA256 list can only be declared
# Constructors mapped over a block of keys: no Python code runs per key (docs/benchmarks.md).
# MD5 is not used for security here, which FIPS-mode OpenSSL needs to be told.
_CONSTRUCTORS: dict[str, Callable[[bytes], hashlib._Hash]] = {
    "md5": partial(hashlib.md5, usedforsecurity=False),
    "sha256": hashlib.sha256,
}
_DIGEST = methodcaller("digest")


class HashedListError(ValueError):
    """A hashed list cannot be trusted: not one digest per line, or not the bytes its manifest describes."""


@dataclasses.dataclass(frozen=True)
class AddressHasher:
    """How normalised addresses become digests: ``md5``, ``sha256``, or ``hmac-sha256`` keyed with ``secret``.

    The repr never shows the secret; build one with a secret through :func:`hasher_from_connection`.
    """

    algorithm: HashAlgorithm
    secret: bytes | None = None

    def __post_init__(self) -> None:
        if self.algorithm not in HASH_ALGORITHMS:
            raise ValueError(f"hash algorithm must be one of {HASH_ALGORITHMS}, not {self.algorithm!r}")
        if self.algorithm == "hmac-sha256" and not self.secret:
            raise ValueError(
                "hmac-sha256 needs its secret: build the hasher with hasher_from_connection('hmac-sha256', conn_id)"
            )
        if self.algorithm != "hmac-sha256" and self.secret is not None:
            raise ValueError(f"{self.algorithm} takes no secret (only hmac-sha256 does)")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.algorithm!r}{', secret=<hidden>' if self.secret else ''})"

    @property
    def hex_length(self) -> int:
        """How many hex digits a digest has."""
        return _HEX_LENGTHS[self.algorithm]

    def digests(self, keys: Iterable[str]) -> Iterator[bytes]:
        """The raw digests of normalised address keys, lazily, one per key."""
        data = map(str.encode, keys)
        if self.secret is not None:
            return map(partial(hmac.digest, self.secret, digest="sha256"), data)
        return map(_DIGEST, map(_CONSTRUCTORS[self.algorithm], data))

    def hexdigests(self, keys: Iterable[str]) -> list[str]:
        """The lowercase hex digests of normalised address keys, one per key."""
        return list(map(bytes.hex, self.digests(keys)))

    def hexdigest(self, key: str) -> str:
        """The lowercase hex digest of one normalised address key."""
        return self.hexdigests([key])[0]


def hasher_from_connection(algorithm: str, conn_id: str | None = None) -> AddressHasher:
    """The hasher for ``algorithm``; for ``hmac-sha256`` its secret is the password of connection ``conn_id``.

    The secret is registered with Airflow's masker before anything else happens to it. ``md5``
    and ``sha256`` take no connection (one given is refused: it would suggest a secret is used).

    :raises MailPartnerConfigError: the connection is not defined or has no password.
    """
    check_hash_arguments(algorithm, conn_id)
    if conn_id is None:
        return AddressHasher(cast(HashAlgorithm, algorithm))
    return AddressHasher("hmac-sha256", _connection_secret(conn_id))


def check_hash_arguments(algorithm: str, conn_id: str | None) -> None:
    """Refuse an unknown algorithm, an HMAC without its connection, or a connection for a plain hash.

    It reads no connection: an operator calls it when its DAG is parsed.
    """
    if algorithm not in HASH_ALGORITHMS:
        raise ValueError(f"hash algorithm must be one of {HASH_ALGORITHMS}, not {algorithm!r}")
    if algorithm == "hmac-sha256" and not conn_id:
        raise ValueError("hmac-sha256 needs the id of the connection whose password is its secret")
    if algorithm != "hmac-sha256" and conn_id is not None:
        raise ValueError(f"{algorithm} takes no secret: a connection id is only for hmac-sha256")


def _connection_secret(conn_id: str) -> bytes:
    from airflow.exceptions import AirflowNotFoundException
    from airflow.sdk import BaseHook
    from airflow.sdk.log import mask_secret

    try:
        password = BaseHook.get_connection(conn_id).password
    except AirflowNotFoundException:
        raise MailPartnerConfigError(
            f"Connection {conn_id!r} is not defined; create one (of any type) with the HMAC secret as its password",
            conn_id=conn_id,
        ) from None
    if not password:
        raise MailPartnerConfigError(
            f"Connection {conn_id!r} has no password: the HMAC secret goes there", conn_id=conn_id
        )
    secret = password.encode()
    if len(secret) < MIN_SECRET_BYTES:  # (Airflow's masker also leaves secrets under 5 characters unmasked)
        raise MailPartnerConfigError(
            f"Connection {conn_id!r}: the HMAC secret is shorter than {MIN_SECRET_BYTES} bytes, short enough "
            "to be guessed; agree on a longer one with the partner",
            conn_id=conn_id,
        )
    for form in (password, secret.hex(), base64.b64encode(secret).decode()):
        mask_secret(form)
    return secret


class HashedManifest(TypedDict):
    """What :func:`write_hashed_list` returns and writes beside the list (``<list>.manifest.json``).

    ``count`` digests (each once), ``unmatchable`` entries whose address was not an e-mail (not
    hashed), ``sha256`` of the list file's bytes. Never the secret.
    """

    path: str
    format: str
    algorithm: HashAlgorithm
    normalization: str
    count: int
    unmatchable: int
    sha256: str


class HashedListWriter:
    """Unsubscribe records written as a hashed list: each address's digest once, one per line, sorted.

    Shaped like :class:`~airflow_provider_mailpartner.record_files.RecordWriter`, so the list operator
    can feed both from one stream. Sorted rather than in list order: the order would tell the partner
    when each person unsubscribed, and a data-protection officer would rather it did not. Writing each
    digest once means remembering every digest anyway; a list of raw digests, sorted in place at
    :meth:`close`, is the smallest way to (measured in docs/benchmarks.md). So the file is written at
    :meth:`close`, and ``count`` is final only then; ``unmatchable`` counts the entries whose address
    is not an e-mail (a phone number): not written, never raising.
    """

    def __init__(self, handle: IO[bytes], hasher: AddressHasher) -> None:
        self._handle = handle
        self._hasher = hasher
        self._digests: list[bytes] = []
        self.count = 0
        self.unmatchable = 0
        self.sha256: str | None = None

    def write(self, records: Sequence[Mapping[str, object]]) -> None:
        """Hash the records' addresses (kept until :meth:`close`); count those that are not e-mails."""
        keys = []
        for record in records:
            try:
                keys.append(normalize_email(cast(str, record["email"])))  # it refuses non-text
            except InvalidEmailError:
                self.unmatchable += 1
        self._digests.extend(self._hasher.digests(keys))

    def close(self) -> str:
        """Write the digests, sorted, each once; the SHA-256 of every byte written."""
        self._digests.sort()
        file_digest = hashlib.sha256()
        for block in blocks(map(itemgetter(0), groupby(self._digests))):
            data = ("\n".join(map(bytes.hex, block)) + "\n").encode("ascii")
            file_digest.update(data)
            self._handle.write(data)
            self.count += len(block)
        self._digests = []
        self.sha256 = file_digest.hexdigest()
        return self.sha256

    def manifest(self, path: ObjectStoragePath | str) -> HashedManifest:
        """The manifest of the list this writer wrote to ``path`` (after :meth:`close`)."""
        if self.sha256 is None:
            raise RuntimeError("the manifest is known once the writer is closed")
        return {
            "path": str(path),
            "format": HASHED_FORMAT,
            "algorithm": self._hasher.algorithm,
            "normalization": NORMALIZATION,
            "count": self.count,
            "unmatchable": self.unmatchable,
            "sha256": self.sha256,
        }


def manifest_path(path: ObjectStoragePath) -> ObjectStoragePath:
    """Where a hashed list's manifest goes: beside it, ``<name>.manifest.json``."""
    return path.parent / f"{path.name}{MANIFEST_SUFFIX}"


def write_manifest(manifest: HashedManifest, target: ObjectStoragePath) -> None:
    """Write ``manifest`` as JSON to ``target`` (a staging path: publish it with :func:`staged`)."""
    with open_without_lineage(target) as handle:
        handle.write((json.dumps(manifest, indent=2) + "\n").encode())


class HashedListPublication:
    """A hashed list being written to its staging files, published when its :func:`publishing_hashed_list`
    block ends without error."""

    def __init__(self, writer: HashedListWriter, target: ObjectStoragePath, manifest_staging: ObjectStoragePath):
        self.writer = writer
        self._target = target
        self._manifest_staging = manifest_staging
        self.manifest: HashedManifest | None = None

    def write(self, records: Sequence[Mapping[str, object]]) -> None:
        self.writer.write(records)

    def finish(self) -> HashedManifest:
        """Write the digests and the manifest to their staging files (once): all that is left is to move them.

        A caller publishing other files with this one calls it before moving those, so that a
        failure while writing (a full disk, a stopped task) leaves every file as it was.
        """
        if self.manifest is None:
            self.writer.close()
            self.manifest = self.writer.manifest(self._target)
            write_manifest(self.manifest, self._manifest_staging)
        return self.manifest


@contextmanager
def publishing_hashed_list(
    path: ObjectStoragePath | str, hasher: AddressHasher, *, lineage: bool = True
) -> Iterator[HashedListPublication]:
    """A hashed list and its manifest beside it, written to staging files and published when the block
    ends without error: an error while writing changes neither. The list is moved into place first,
    then its manifest; a reader checks one against the other, so a failure between the two moves
    fails closed. ``lineage`` is :func:`~airflow_provider_mailpartner.storage.staged`'s.
    """
    target = storage_path(path)
    with (
        staged(manifest_path(target), lineage=lineage) as manifest_staging,
        staged(target, lineage=lineage) as list_staging,
        open_without_lineage(list_staging) as handle,
    ):
        publication = HashedListPublication(HashedListWriter(handle, hasher), target, manifest_staging)
        yield publication
        manifest = publication.finish()
    log.info(
        "Hashed list (%s): %d digests, %d entries that are not e-mail addresses left out",
        hasher.algorithm,
        manifest["count"],
        manifest["unmatchable"],
    )


def write_hashed_list(
    records: Iterable[Mapping[str, object]],
    path: ObjectStoragePath | str,
    hasher: AddressHasher,
    *,
    lineage: bool = True,
) -> HashedManifest:
    """Write the hashed list of ``records``' addresses to ``path`` and its manifest beside it, atomically
    (:func:`publishing_hashed_list`). Memory grows with the number of digests, not with anything else."""
    with publishing_hashed_list(path, hasher, lineage=lineage) as publication:
        for block in blocks(records):
            publication.write(block)
    return publication.finish()


class HashedList(NamedTuple):
    """A hashed list read back: how its digests were made, and the digests (lowercase hex)."""

    hasher: AddressHasher
    digests: list[str]


def load_hashed_list(
    path: ObjectStoragePath | str,
    hasher: AddressHasher | HashAlgorithm | None = None,
    *,
    sha256: str | None = None,
    count: int | None = None,
) -> HashedList:
    """Read a hashed list: one hex digest per line (either case; LF or CRLF).

    ``hasher`` declares the algorithm (a name, or an :class:`AddressHasher`: ``hmac-sha256`` needs
    one, with its secret); without it, the digests' length decides: 32 hex digits are ``md5``, 64
    are ``sha256``. An HMAC-SHA256 list has the same length as a SHA-256 one, so it must be declared:
    read undeclared, it would match nothing. With ``sha256`` and ``count`` (a manifest's), a file
    whose bytes or digest count differ fails closed.

    :raises HashedListError: a line that is not a digest of the right length (its number given), an
        empty list whose algorithm was not declared, or a file that is not what the manifest says.
    """
    source = storage_path(path)
    file_digest = hashlib.sha256()
    with source.open("rb") as handle:  # type: ignore[no-untyped-call]
        lines = _hashed_lines(handle, file_digest)
        first = next(lines, None)
        chosen = _declared_or_detected(hasher, first, source)
        digests = _checked_digests(chain([first] if first else [], lines), chosen.hex_length, source)
    if sha256 is not None and file_digest.hexdigest() != sha256:
        raise HashedListError(
            f"{source}: SHA-256 is {file_digest.hexdigest()}, its manifest says {sha256}: "
            "the file changed after it was written"
        )
    if count is not None and len(digests) != count:
        raise HashedListError(f"{source}: holds {len(digests)} digests, its manifest says {count}")
    return HashedList(chosen, digests)


def _hashed_lines(handle: IO[bytes], digest: hashlib._Hash) -> Iterator[bytes]:
    for line in handle:
        digest.update(line)
        yield line


def _declared_or_detected(
    hasher: AddressHasher | HashAlgorithm | None, first_line: bytes | None, source: ObjectStoragePath
) -> AddressHasher:
    if isinstance(hasher, AddressHasher):
        return hasher
    if hasher is not None:
        return AddressHasher(hasher)
    if first_line is None:
        raise HashedListError(f"{source}: the list is empty, so its algorithm cannot be told: declare it")
    detected = _DETECTED.get(len(first_line.rstrip(b"\r\n")))
    if detected is None:
        raise HashedListError(f"{source}: line 1 is not an MD5 (32 hex digits) or SHA-256 (64) digest")
    if detected == "sha256":  # (an undeclared HMAC list would match nobody, and say nothing)
        log.warning(
            "%s: read as SHA-256 from its digests' length; an HMAC-SHA256 list has the same length and "
            "must be declared with its hasher, or it matches no contact",
            source,
        )
    return AddressHasher(detected)


def _checked_digests(lines: Iterable[bytes], hex_length: int, source: ObjectStoragePath) -> list[str]:
    line_pattern = re.compile(rb"[0-9a-fA-F]{%d}\r?\n?" % hex_length)
    digests = []
    for number, line in enumerate(lines, 1):
        if not line_pattern.fullmatch(line):
            raise HashedListError(f"{source}: line {number} is not a digest of {hex_length} hex digits")
        digests.append(line[:hex_length].decode("ascii").lower())
    return digests


def load_hashed_manifest(
    manifest: Mapping[str, object] | ObjectStoragePath | str, hasher: AddressHasher | None = None
) -> HashedList:
    """Read the hashed list a manifest describes (the dict, or the path of its ``.manifest.json`` file).

    The list is checked against the manifest's SHA-256 and count (fail closed). The algorithm is the
    manifest's; ``hasher`` is needed for ``hmac-sha256`` (the secret) and must match it.
    """
    if not isinstance(manifest, Mapping):
        manifest = _read_manifest_file(storage_path(manifest, "manifest"))
    path, algorithm, sha256, count = _manifest_fields(manifest)
    if hasher is not None and hasher.algorithm != algorithm:
        raise HashedListError(f"{path}: the manifest says {algorithm}, the hasher given is {hasher.algorithm}")
    return load_hashed_list(path, hasher or algorithm, sha256=sha256, count=count)


def _read_manifest_file(path: ObjectStoragePath) -> Mapping[str, object]:
    try:
        document = json.loads(path.read_text())
    except ValueError:
        raise HashedListError(f"{path}: a hashed list's manifest is JSON") from None
    if not isinstance(document, dict):
        raise HashedListError(f"{path}: a hashed list's manifest is a JSON object")
    return document


def _manifest_fields(manifest: Mapping[str, object]) -> tuple[str, HashAlgorithm, str, int]:
    """Path, algorithm, SHA-256 and count, refused unless each has its documented type and value."""
    path, algorithm = manifest.get("path"), manifest.get("algorithm")
    sha256, count = manifest.get("sha256"), manifest.get("count")
    if (
        manifest.get("format") != HASHED_FORMAT
        or not isinstance(path, str)
        or algorithm not in HASH_ALGORITHMS
        or not isinstance(sha256, str)
        or not isinstance(count, int)
    ):
        raise HashedListError(
            f"not a hashed-list manifest (format 'hashed', path, algorithm, count, sha256): {sorted(manifest)}"
        )
    if manifest.get("normalization") != NORMALIZATION:
        raise HashedListError(
            f"{path}: addresses were normalised as {manifest.get('normalization')!r} before hashing, not as "
            f"{NORMALIZATION!r}: its digests would match no contact"
        )
    return path, algorithm, sha256, count
