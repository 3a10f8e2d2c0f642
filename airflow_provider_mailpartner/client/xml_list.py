"""MailPartner's positional XML, read safely.

The platform's XML has no field names: a root element holds ``<entry>`` children in the order of
the JSON keys, nested the same way. Both readers refuse any DOCTYPE, hence every entity, internal
or external: none can be declared, so none expands and none is fetched.

- :func:`xml_events` reads a list answer with ElementTree's C parser, which builds the tree with
  no Python call per element. The tree is read and pruned as it grows: after each small piece,
  the list entries it completed are checked, handed out and removed, so a million-entry list
  never sits in memory. That parser offers no handler to refuse a DOCTYPE, so a hardened expat
  parser reads the same bytes first, up to the root's start tag: a DOCTYPE can only come before.
- :func:`xml_fields` reads a small answer whole with xmltodict, whose ``force_list`` keeps the
  shape independent of how many children an element has (the 0/1/many trap).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any, NoReturn
from xml.parsers import expat

import xmltodict

from airflow_provider_mailpartner.client.commands import ERROR_FIELDS, RECORD_FIELDS, FieldSpec, spec_name
from airflow_provider_mailpartner.client.envelope import DocumentError, Event, data_event, field_event
from airflow_provider_mailpartner.records import Entry

ENTRY = "entry"
MAX_DEPTH = 8  # the deepest real answer (a list entry's field) is at depth 4
# What the parser builds between two looks at the tree (some 120 entries). Small on purpose: elements
# still in the tree when the garbage collector runs move to its oldest generation, and enough of
# them trigger full collections over every object of the process (airflow.sdk's 160,000): 256 KB
# pieces cost 41 full collections and twice the time at 1,000,000 entries; 16 KB pieces, none.
FEED_SIZE = 16 << 10
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
    except ET.ParseError as exc:
        raise DocumentError(f"invalid XML: {exc}") from None
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
            raise DocumentError(f"the XML answer has <{unexpected[0]}> where only <entry> is expected")
        if ENTRY in node:
            if str(node.get("#text", "")).strip():
                raise DocumentError("the XML answer mixes text and <entry> children")
            return [_positional(child) for child in node[ENTRY]]
        return str(node.get("#text", ""))
    raise DocumentError("invalid XML structure")


def xml_events(
    chunks: Iterable[bytes], fields: Sequence[FieldSpec], stream_field: str | None = None
) -> Iterator[Event]:
    """Events for a positional XML answer: each top-level field whole, the ``stream_field`` list in batches."""
    tree = _GrowingTree(fields, stream_field)
    with _parse_errors():
        for chunk in chunks:
            view = memoryview(chunk)
            for start in range(0, len(view), FEED_SIZE):
                yield from tree.feed(view[start : start + FEED_SIZE])
        yield from tree.close()


class _RootSeen(Exception):
    """Stops the prolog guard at the root's start tag: what follows cannot declare anything."""


def _stop_at_root(*_: object) -> NoReturn:
    raise _RootSeen


class _GrowingTree:
    """The answer's tree as ElementTree's parser builds it, read and pruned after each piece fed."""

    def __init__(self, fields: Sequence[FieldSpec], stream_field: str | None) -> None:
        self.specs = fields
        self.stream_index = next((i for i, spec in enumerate(fields) if spec_name(spec) == stream_field), None)
        self.guard: expat.XMLParserType | None = hardened_parser()
        self.guard.StartElementHandler = _stop_at_root
        builder = ET.TreeBuilder()
        self.outer = builder.start("outer", {})  # the document's root becomes its child, in view while it grows
        self.parser = ET.XMLParser(target=builder)
        self.closed = 0  # top-level children read so far
        self.data_started = False

    def feed(self, piece: memoryview) -> list[Event]:
        if self.guard is not None:  # first: the tree's parser never meets a DOCTYPE
            try:
                self.guard.Parse(piece, False)
            except _RootSeen:
                self.guard = None
        self.parser.feed(piece)
        return self._read(done=False)

    def close(self) -> list[Event]:
        if self.guard is not None:
            self.guard.Parse(b"", True)  # a document that never reaches its root fails here
        self.parser.close()
        return self._read(done=True)

    def _read(self, done: bool) -> list[Event]:
        """The events for what the last piece completed: top-level fields, list entries."""
        if not len(self.outer):
            return []
        root = self.outer[0]
        _check_open_depth(root)
        events: list[Event] = []
        complete = len(root) if done else len(root) - 1  # the last child may still be growing
        while self.closed < complete:
            events += self._top_level(root, self.closed)
            self.closed += 1
        if done:
            _only_space(root.text, "root")
        if self.closed == self.stream_index and self.specs is not ERROR_FIELDS and len(root) > self.closed:
            events += self._entries(root[self.closed], done=False)
        return events

    def _top_level(self, root: ET.Element, index: int) -> list[Event]:
        """A complete child of the root: a named field, the list, or an extra the answer's form does not name."""
        child = root[index]
        _check_tag(child)
        _only_space(root.text, "root")
        _only_space(child.tail, "root")
        if index == 0 and not _first_is_true([child.text or ""]):
            self.specs = ERROR_FIELDS
        if index == self.stream_index and self.specs is not ERROR_FIELDS:
            return self._entries(child, done=True)
        if index >= len(self.specs):
            _positional_element(child, depth=2)  # checked, and left out
            return []
        spec = self.specs[index]
        value = _positional_element(child, depth=2)
        return [field_event(spec_name(spec), value if isinstance(spec, str) else name_positional(value, spec[1]))]

    def _entries(self, data: ET.Element, done: bool) -> list[Event]:
        """The list entries ``data`` completed, as a batch; removed from the tree once read."""
        events: list[Event] = []
        name = spec_name(self.specs[self.stream_index])  # type: ignore[index]
        if not self.data_started:
            _check_tag(data)
            self.data_started = True
            events.append(data_event(name))
        count = len(data) if done else len(data) - 1
        if count > 0 or done:
            _only_space(data.text, "data entry")
        if count > 0:
            batch = [_entry(element) for element in data[:count]]
            del data[:count]
            events.append(("items", name, batch))
        return events


def _entry(element: ET.Element) -> object:
    """One list entry: an :class:`Entry` of its three fields' text (a dict if it has fewer, for the record checks)."""
    _check_tag(element)
    _only_space(element.text, "list entry")
    _only_space(element.tail, "data entry")
    texts = []
    for field in element:
        if len(field):
            raise DocumentError("a field of a list entry holds elements instead of text")
        _check_tag(field)
        _only_space(field.tail, "list entry")
        texts.append(field.text or "")
    if len(texts) < len(RECORD_NAMES):
        return dict(zip(RECORD_NAMES, texts, strict=False))
    return Entry(texts[0], texts[1], texts[2])  # fields after the third (a newer API's) are left out


def _positional_element(element: ET.Element, depth: int) -> PositionalValue:
    """A complete element's value: its text, or its children's values (checked, depth-limited)."""
    _check_tag(element)
    if depth > MAX_DEPTH:
        raise DocumentError(f"the XML answer nests deeper than {MAX_DEPTH} levels")
    if not len(element):
        return element.text or ""
    _only_space(element.text, "<entry> with children")
    for child in element:
        _only_space(child.tail, "<entry> with children")
    return [_positional_element(child, depth + 1) for child in element]


def _check_open_depth(root: ET.Element) -> None:
    """The path of last children from the root, which holds every open element, is not too deep."""
    node, depth = root, 1
    while len(node):
        node, depth = node[-1], depth + 1
        if depth > MAX_DEPTH:
            raise DocumentError(f"the XML answer nests deeper than {MAX_DEPTH} levels")


def _check_tag(element: ET.Element) -> None:
    if element.tag != ENTRY:
        raise DocumentError(f"the XML answer has <{element.tag}> where only <entry> is expected")  # (cut once scrubbed)


def _only_space(text: str | None, where: str) -> None:
    if text and not text.isspace():
        raise DocumentError(f"the XML answer's {where} holds text, not <entry> children")
