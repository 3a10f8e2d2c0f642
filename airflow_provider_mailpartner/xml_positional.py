"""MailPartner's positional XML, read safely.

The platform's XML has no field names: a root element holds ``<entry>`` children in the order of
the JSON keys, nested the same way. Two readers share one hardened expat configuration (no
DOCTYPE, hence no entity of any kind, internal or external):

- :func:`xml_events` streams the answer in chunks and delivers list entries one by one, so a
  million-entry list never sits in memory;
- :func:`xml_fields` reads a small answer whole with xmltodict, whose ``force_list`` keeps the
  shape independent of how many children an element has (the 0/1/many trap).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from types import SimpleNamespace
from typing import Any, NoReturn
from xml.parsers import expat

import xmltodict

from airflow_provider_mailpartner.envelope import (
    ERROR_FIELDS,
    RECORD_FIELDS,
    DocumentError,
    Event,
    FieldSpec,
    data_event,
    field_event,
    item_event,
    name_positional,
    spec_name,
)

ENTRY = "entry"
MAX_DEPTH = 8  # the deepest real answer (a list entry's field) is at depth 4
PositionalValue = str | list["PositionalValue"]


def _refuse_declarations(*_: object) -> NoReturn:
    raise DocumentError("the XML answer declares a DOCTYPE or entities, which MailPartner never sends")


def hardened_parser(*args: Any, **kwargs: Any) -> expat.XMLParserType:
    """An expat parser that refuses any DOCTYPE: no entity can be declared, so none expands."""
    parser = expat.ParserCreate(*args, **kwargs)
    parser.StartDoctypeDeclHandler = _refuse_declarations
    parser.EntityDeclHandler = _refuse_declarations
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    return parser


# xmltodict builds its parser through whatever module it is handed as ``expat``.
_HARDENED_EXPAT = SimpleNamespace(ParserCreate=hardened_parser, ExpatError=expat.ExpatError)


def xml_fields(body: bytes, fields: Sequence[FieldSpec]) -> dict[str, object]:
    """Read a small positional answer whole and name its fields (error form included)."""
    try:
        tree = xmltodict.parse(body, expat=_HARDENED_EXPAT, force_list=(ENTRY,), disable_entities=True)
        if not isinstance(tree, dict) or len(tree) != 1:
            raise DocumentError("invalid XML: no single root element")
        values = _positional(next(iter(tree.values())))
    except expat.ExpatError as exc:
        raise DocumentError(f"invalid XML: {expat.ErrorString(exc.code)} at line {exc.lineno}") from None
    except RecursionError:
        raise DocumentError("invalid XML: nested too deeply") from None
    if not isinstance(values, list):
        raise DocumentError("the XML answer's root holds no <entry> children")
    specs = fields if _first_is_true(values) else ERROR_FIELDS
    named = name_positional(values, specs)
    assert isinstance(named, dict)
    return named


def _first_is_true(values: list[PositionalValue]) -> bool:
    return bool(values) and isinstance(values[0], str) and values[0].strip().lower() in ("true", "1")


def _positional(node: object) -> PositionalValue:
    """xmltodict's tree -> nested lists of text, checking that only <entry> elements appear."""
    if node is None:
        return ""
    if isinstance(node, str):
        return node
    if isinstance(node, dict):
        unexpected = [key for key in node if key not in (ENTRY, "#text") and not key.startswith("@")]
        if unexpected:
            raise DocumentError(f"the XML answer has <{unexpected[0][:40]}> where only <entry> is expected")
        if ENTRY in node:
            if str(node.get("#text", "")).strip():
                raise DocumentError("the XML answer mixes text and <entry> children")
            return [_positional(child) for child in node[ENTRY]]
        return str(node.get("#text", ""))
    raise DocumentError("invalid XML structure")


class _EventBuilder:
    """expat callbacks that turn positional XML into envelope events, streaming one field."""

    def __init__(self, fields: Sequence[FieldSpec], stream_field: str | None) -> None:
        self.specs: Sequence[FieldSpec] = fields
        self.stream_index = next((i for i, spec in enumerate(fields) if spec_name(spec) == stream_field), None)
        self.events: list[Event] = []
        # One frame per open element below the root: [children, text parts].
        self.stack: list[tuple[list[PositionalValue], list[str]]] = []
        self.depth = 0
        self.top_index = -1
        self.streaming = False

    def start(self, name: str, _attrs: object) -> None:
        self.depth += 1
        if self.depth == 1:
            return
        if name != ENTRY:
            raise DocumentError(f"the XML answer has <{name[:40]}> where only <entry> is expected")
        if self.depth > MAX_DEPTH:
            raise DocumentError(f"the XML answer nests deeper than {MAX_DEPTH} levels")
        if self.depth == 2:
            self.top_index += 1
            if self.top_index == self.stream_index and self.specs is not ERROR_FIELDS:
                self.streaming = True
                self.events.append(data_event(spec_name(self.specs[self.top_index])))
        self.stack.append(([], []))

    def text(self, data: str) -> None:
        if self.streaming and self.depth == 2:
            # Between list entries: only layout white space, and none of it is kept.
            if data.strip():
                raise DocumentError("the XML answer's data entry holds text, not entries")
        elif self.stack:
            self.stack[-1][1].append(data)
        elif data.strip() and self.depth == 1:
            raise DocumentError("the XML answer has text directly under its root")

    def end(self, _name: str) -> None:
        self.depth -= 1
        if self.depth == 0:
            return
        children, parts = self.stack.pop()
        text = "".join(parts)
        if children and text.strip():
            raise DocumentError("the XML answer mixes text and <entry> children")
        value: PositionalValue = children if children else text
        if self.depth == 1:
            self._close_top_level(value)
        elif self.depth == 2 and self.streaming:
            self.events.append(item_event("data", name_positional(value, RECORD_FIELDS)))
        else:
            self.stack[-1][0].append(value)

    def _close_top_level(self, value: PositionalValue) -> None:
        if self.top_index == 0 and not _first_is_true([value]):
            self.specs = ERROR_FIELDS
        if self.streaming:
            self.streaming = False
            return
        if self.top_index < len(self.specs):
            spec = self.specs[self.top_index]
            named = value if isinstance(spec, str) else name_positional(value, spec[1])
            self.events.append(field_event(spec_name(spec), named))


def xml_events(
    chunks: Iterable[bytes], fields: Sequence[FieldSpec], stream_field: str | None = None
) -> Iterator[Event]:
    """Events for a positional XML answer, the ``stream_field`` entry's children one by one."""
    builder = _EventBuilder(fields, stream_field)
    parser = hardened_parser()
    parser.buffer_text = True
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.text
    try:
        for chunk in chunks:
            parser.Parse(chunk, False)
            yield from builder.events
            builder.events.clear()
        parser.Parse(b"", True)
    except expat.ExpatError as exc:
        raise DocumentError(f"invalid XML: {expat.ErrorString(exc.code)} at line {exc.lineno}") from None
    except RecursionError:
        raise DocumentError("invalid XML: nested too deeply") from None
    yield from builder.events
