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
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any, NoReturn
from xml.parsers import expat

import xmltodict

from airflow_provider_mailpartner.client.commands import ERROR_FIELDS, RECORD_FIELDS, FieldSpec, spec_name
from airflow_provider_mailpartner.client.envelope import DocumentError, Event, data_event, field_event, item_event

ENTRY = "entry"
MAX_DEPTH = 8  # the deepest real answer (a list entry's field) is at depth 4
# A small answer (an envelope, credits, an error with its list) has a few dozen elements. xmltodict
# keeps every open one alive, so a megabyte of nesting costs it seconds of garbage collection.
MAX_SMALL_ELEMENTS = 2000
RECORD_NAMES = tuple(spec_name(spec) for spec in RECORD_FIELDS)
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


@contextmanager
def _parse_errors() -> Iterator[None]:
    """Whatever stops expat, as a DocumentError: the document, its nesting, or its declared encoding."""
    try:
        yield
    except DocumentError:
        raise
    except expat.ExpatError as exc:
        raise DocumentError(f"invalid XML: {expat.ErrorString(exc.code)} at line {exc.lineno}") from None
    except RecursionError:
        raise DocumentError("invalid XML: nested too deeply") from None
    except (LookupError, ValueError):  # encoding="TTF-8" (unknown), or a multi-byte one expat cannot use
        raise DocumentError("invalid XML: the encoding its declaration names cannot be read") from None


def xml_fields(body: bytes, fields: Sequence[FieldSpec]) -> dict[str, object]:
    """Read a small positional answer whole and name its fields (error form included)."""
    if body.count(b"<") > MAX_SMALL_ELEMENTS:  # counted in C: a millisecond for a megabyte
        raise DocumentError(f"invalid XML: more than {MAX_SMALL_ELEMENTS} elements, far beyond a small answer")
    with _parse_errors():
        tree = xmltodict.parse(body, expat=_HARDENED_EXPAT, force_list=(ENTRY,), disable_entities=True)
        if not isinstance(tree, dict) or len(tree) != 1:
            raise DocumentError("invalid XML: no single root element")
        values = _positional(next(iter(tree.values())))
    if not isinstance(values, list):
        raise DocumentError("the XML answer's root holds no <entry> children")
    specs = fields if _first_is_true(values) else ERROR_FIELDS
    named = name_positional(values, specs)
    assert isinstance(named, dict)
    return named


def name_positional(values: object, specs: Sequence[FieldSpec]) -> object:
    """Give positional XML children their JSON names; text and unnamed extras pass through."""
    if not isinstance(values, list):
        return values
    named: dict[str, object] = {}
    for spec, value in zip(specs, values, strict=False):
        named[spec_name(spec)] = value if isinstance(spec, str) else name_positional(value, spec[1])
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
    """expat callbacks that turn positional XML into envelope events.

    While inside the streamed field (the list's data), a lean :class:`_EntryReader` takes over the
    callbacks: that is where a million entries go by, and each entry needs no general nesting.
    """

    def __init__(self, parser: expat.XMLParserType, fields: Sequence[FieldSpec], stream_field: str | None) -> None:
        self.parser = parser
        self.specs: Sequence[FieldSpec] = fields
        self.stream_index = next((i for i, spec in enumerate(fields) if spec_name(spec) == stream_field), None)
        self.events: list[Event] = []
        # One frame per open element below the root: [children, text parts].
        self.stack: list[tuple[list[PositionalValue], list[str]]] = []
        self.depth = 0
        self.top_index = -1
        self.listen()

    def listen(self) -> None:
        self.parser.StartElementHandler = self.start
        self.parser.EndElementHandler = self.end
        self.parser.CharacterDataHandler = self.text

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
                name = spec_name(self.specs[self.top_index])
                self.events.append(data_event(name))
                _EntryReader(self, name).listen()
                return
        self.stack.append(([], []))

    def text(self, data: str) -> None:
        if self.stack:
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
        else:
            self.stack[-1][0].append(value)

    def _close_top_level(self, value: PositionalValue) -> None:
        if self.top_index == 0 and not _first_is_true([value]):
            self.specs = ERROR_FIELDS
        if self.top_index < len(self.specs):
            spec = self.specs[self.top_index]
            named = value if isinstance(spec, str) else name_positional(value, spec[1])
            self.events.append(field_event(spec_name(spec), named))


class _EntryReader:
    """Callbacks inside the streamed field: each child is one list entry of text fields."""

    def __init__(self, builder: _EventBuilder, name: str) -> None:
        self.builder = builder
        self.name = name
        self.depth = 0  # 0: in the data entry, 1: in a list entry, 2: in one of its fields
        self.entry: list[str] = []
        self.field: list[str] = []

    def listen(self) -> None:
        parser = self.builder.parser
        parser.StartElementHandler = self.start
        parser.EndElementHandler = self.end
        parser.CharacterDataHandler = self.text

    def start(self, name: str, _attrs: object) -> None:
        if name != ENTRY:
            raise DocumentError(f"the XML answer has <{name[:40]}> where only <entry> is expected")
        self.depth += 1
        if self.depth == 1:
            self.entry = []
        elif self.depth == 2:
            self.field = []
        else:
            raise DocumentError("a field of a list entry holds elements instead of text")

    def text(self, data: str) -> None:
        if self.depth == 2:
            self.field.append(data)
        elif data.strip():  # between entries or between fields: layout white space only
            where = "the data entry" if self.depth == 0 else "a list entry"
            raise DocumentError(f"the XML answer's {where} holds text, not <entry> children")

    def end(self, name: str) -> None:
        if self.depth == 2:
            self.entry.append("".join(self.field))
        elif self.depth == 1:
            self.builder.events.append(item_event(self.name, dict(zip(RECORD_NAMES, self.entry, strict=False))))
        else:  # the data entry itself closes: the general builder takes over again
            self.builder.listen()
            self.builder.depth -= 1
            return
        self.depth -= 1


def xml_events(
    chunks: Iterable[bytes], fields: Sequence[FieldSpec], stream_field: str | None = None
) -> Iterator[Event]:
    """Events for a positional XML answer, the ``stream_field`` entry's children one by one."""
    parser = hardened_parser()
    parser.buffer_text = True
    builder = _EventBuilder(parser, fields, stream_field)
    with _parse_errors():
        for chunk in chunks:
            parser.Parse(chunk, False)
            yield from builder.events
            builder.events.clear()
        parser.Parse(b"", True)
    yield from builder.events
