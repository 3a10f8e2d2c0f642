"""MailPartner's JSON fields read by the standard library: small answers whole, and the fields around the list.

Decimals, not floats: a money amount must not pick up binary rounding on its way in. NaN and
Infinity, which Python's decoder accepts by default, are not JSON and no answer carries them.
"""

from __future__ import annotations

import json
from decimal import Decimal

from airflow_provider_mailpartner.client.envelope import DocumentError

BOM = b"\xef\xbb\xbf"  # a byte-order mark before the JSON (a PHP file saved with one) is dropped
WHITESPACE = b" \t\n\r"


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


class _Repeating(dict[str, object]):
    """An object that gives a key twice (the last value kept, as the standard library does): ``repeated`` names it.

    Only the top level's repeats are refused: a second ``success`` after the data could otherwise
    overrule the first.
    """

    repeated = ""


def _object(pairs: list[tuple[str, object]]) -> dict[str, object]:
    fields = dict(pairs)
    if len(fields) == len(pairs):
        return fields
    repeating = _Repeating(pairs)
    repeating.repeated = next(key for number, (key, _) in enumerate(pairs) if key in dict(pairs[:number]))
    return repeating


def top_level(fields: object) -> dict[str, object]:
    """The decoded top-level object's fields; a key given twice is refused."""
    if isinstance(fields, _Repeating):
        raise DocumentError(f"the answer gives {fields.repeated!r} twice")  # (scrubbed, then cut, by the client)
    assert isinstance(fields, dict)
    return fields


DECODER = json.JSONDecoder(object_pairs_hook=_object, parse_float=Decimal, parse_constant=_refuse_constant)


def json_fields(body: bytes) -> dict[str, object]:
    """The fields of a small answer (an envelope, credits, an error), decoded whole."""
    body = body.removeprefix(BOM)
    check_start(body)
    fields = decode(body)
    assert isinstance(fields, dict)
    return fields


def check_start(body: bytes) -> None:
    found = body.lstrip(WHITESPACE)[:1].decode("latin-1")
    if found != "{":
        raise DocumentError(
            f"invalid JSON: expected '{{' at the start of the answer, found {found or 'end of input'!r}"
        )


def decode(text: bytes | str) -> object:
    """One JSON document, or DocumentError saying why not."""
    try:
        return DECODER.decode(text.decode() if isinstance(text, bytes) else text)
    except UnicodeDecodeError as exc:
        raise DocumentError(f"the JSON answer is not valid UTF-8 ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise DocumentError(f"invalid JSON: {exc.msg}") from None
    except (ValueError, RecursionError, ArithmeticError) as exc:  # huge numbers, deep nesting, NaN
        raise DocumentError(f"invalid JSON: {type(exc).__name__}") from None
