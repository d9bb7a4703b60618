"""Read YAML and remember the line of every key and list item, so a validation
error can say `flows/x.yaml:12`. PyYAML's safe loader keeps no positions and
silently lets a later duplicate key win; this walks the composed node tree once
to record lines and refuse duplicate keys.

A flow file is text a person wrote, so reading one is bounded: whatever the bytes,
`load_file` and `load_with_lines` either return data or raise `YamlProblem` with a
line, quickly. Refused before anything is built: files over `MAX_FILE_BYTES`, bytes
that are not UTF-8, control characters. Refused while the node tree is composed
(before any of it is expanded): more than `MAX_DEPTH` levels of nesting, more than
`MAX_NODES` values counting every use of an alias (the "billion laughs" family),
an alias used inside the node it names, and keys that are lists or mappings.

libyaml's parser (PyYAML's C extension) is used when PyYAML has it, with the
composer here on top of it: the same marks (lines) as the pure-Python parser, and
four to six times faster (the example flows: 1.4 ms against 8.5 ms, all seven). The
pure parser is the fallback. The two differ at the edges: libyaml accepts a tab
inside a plain value and a byte-order mark after the first line, which the pure
parser refuses.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import AliasEvent, Event
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from .errors import KustoFlowsError

__all__ = ["MAX_DEPTH", "MAX_FILE_BYTES", "MAX_NODES", "LineMap", "YamlProblem", "load_file",
           "load_with_lines"]

#: A flow file is a page or two of YAML; 1 MB is hundreds of times the examples.
MAX_FILE_BYTES = 1024 * 1024
#: Levels of lists and mappings. Steps nested 10 deep (the loader's limit) need
#: about 25; Python's recursion limit (1000) is far away even for the pure parser.
MAX_DEPTH = 50
#: Values (scalars, lists, mappings) in the document as the program will see it: an
#: alias counts as every value of the node it repeats, each time it is used.
MAX_NODES = 50_000

KeyPath = tuple[str | int, ...]

#: What YAML allows in a stream (YAML 1.1 §5.1, PyYAML's reader): tab, line breaks,
#: printable ASCII, NEL and the printable Unicode planes.
_NOT_PRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd"
                            "\U00010000-\U0010ffff]")


class YamlProblem(KustoFlowsError, code="FlowInvalid", http_status=422):
    """A file that is not valid YAML (or repeats a key), at `line`."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


class LineMap:
    """Line numbers (1-based) by path, falling back to the nearest parent."""

    def __init__(self) -> None:
        self._lines: dict[KeyPath, int] = {(): 1}

    def add(self, path: KeyPath, line: int) -> None:
        self._lines.setdefault(path, line)

    def line(self, path: KeyPath) -> int:
        while path not in self._lines:
            path = path[:-1]
        return self._lines[path]


# ---------------------------------------------------------------------- reading

def load_file(path: Path) -> tuple[Any, LineMap]:
    """Read and parse the YAML file at *path*; YamlProblem for anything but an
    OSError (which the caller words: it is about the file, not its text)."""
    with path.open("rb") as stream:
        raw = stream.read(MAX_FILE_BYTES + 1)
    return load_with_lines(raw)


def load_with_lines(text: str | bytes, *, libyaml: bool = True) -> tuple[Any, LineMap]:
    """Parse *text* (bytes are read as UTF-8); raise YamlProblem (with a line) on bad
    YAML, duplicate keys or a document over the limits. *libyaml* False uses the
    pure-Python parser even when the C one is there (the tests run both)."""
    if isinstance(text, bytes):
        text = _decode(text)
    elif len(text) > MAX_FILE_BYTES // 4 and len(text.encode("utf-8")) > MAX_FILE_BYTES:
        raise _too_big()
    _refuse_control_characters(text)
    loader = (_CLoader if libyaml and _CLoader is not None else _PyLoader)(text)
    lines = LineMap()
    try:
        node = loader.get_single_node()
        if node is None:
            return None, lines
        _walk(node, (), lines)
        return loader.construct_document(node), lines
    except YamlProblem:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise YamlProblem(f"invalid YAML: {_words(exc)}", line) from exc
    except yaml.YAMLError as exc:  # a reader error: no mark, a position
        position = getattr(exc, "position", 0)
        line = text.count("\n", 0, position if isinstance(position, int) else 0) + 1
        raise YamlProblem(f"invalid YAML: {exc}", line) from exc
    finally:
        loader.dispose()


def _words(exc: yaml.MarkedYAMLError) -> str:
    """PyYAML's problem, with its context ("while parsing a flow mapping") and that
    context's line when it is another line than the problem's."""
    problem = exc.problem or str(exc)
    if not exc.context:
        return problem
    where = exc.context_mark
    if where is not None and exc.problem_mark is not None \
            and where.line != exc.problem_mark.line:
        return f"{exc.context} (line {where.line + 1}), {problem}"
    return f"{exc.context}, {problem}"


def _too_big() -> YamlProblem:
    return YamlProblem(f"file is larger than {MAX_FILE_BYTES // 1024 // 1024} MB "
                       f"({MAX_FILE_BYTES:,} bytes), the limit for a flow file; keep big "
                       f"data in Kusto and query it", 1)


def _decode(raw: bytes) -> str:
    if len(raw) > MAX_FILE_BYTES:
        raise _too_big()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise YamlProblem("file is UTF-16 text; save it as UTF-8", 1)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        byte = raw[exc.start]
        raise YamlProblem(f"not UTF-8 text: byte 0x{byte:02x} at column {column} is not "
                          f"valid UTF-8; save the file as UTF-8", line) from None


def _refuse_control_characters(text: str) -> None:
    found = _NOT_PRINTABLE.search(text)
    if found is None:
        return
    start = found.start()
    line = text.count("\n", 0, start) + 1
    column = start - (text.rfind("\n", 0, start) + 1) + 1
    code = ord(found.group())
    name = "NUL" if code == 0 else "control character" if code < 0xA0 else "character"
    raise YamlProblem(f"{name} U+{code:04X} at column {column} is not "
                      f"allowed in YAML; remove it (write it as an escape, e.g. \"\\t\", "
                      f"inside a double-quoted string)", line)


# ------------------------------------------------------------ bounded composing

class _Bounded(Composer):
    """PyYAML's composer, counting as it goes: depth, values (an alias counts as the
    values of its node, each time), and aliases to a node not yet finished."""

    #: The parser's (libyaml's or PyYAML's), by the class this is mixed into.
    peek_event: Callable[[], Event | None]

    def _start_budget(self) -> None:
        self._depth = 0
        self._nodes = 0
        #: Values and depth below each anchored node, once it is finished.
        self._size: dict[int, int] = {}
        self._height: dict[int, int] = {}
        self._reach = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            return self._compose_alias(event, parent, index)
        assert event is not None
        anchor = getattr(event, "anchor", None)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _problem(f"nested more than {MAX_DEPTH} levels deep (lists and mappings "
                           f"inside each other); flatten the structure", event)
        start = self._nodes
        self._count(1, event)
        outer_reach, self._reach = self._reach, self._depth
        node = super().compose_node(parent, index)
        if anchor is not None and node is not None:
            # A collection registers its anchor before its children are composed, so
            # an alias inside it finds no size yet: a recursive alias.
            self._size[id(node)] = self._nodes - start
            self._height[id(node)] = self._reach - self._depth + 1
        self._reach = max(outer_reach, self._reach)
        self._depth -= 1
        return node

    def _compose_alias(self, event: Event, parent: Node | None, index: int) -> Node | None:
        target = self.anchors.get(getattr(event, "anchor", None))
        if target is not None:
            name = getattr(event, "anchor", "")
            if id(target) not in self._size:
                raise _problem(f"alias '*{name}' is used inside the node it names (a "
                               f"recursive alias); an alias may only repeat a finished "
                               f"node", event)
            self._count(self._size[id(target)], event)
            reach = self._depth + self._height[id(target)]
            if reach > MAX_DEPTH:
                raise _problem(f"alias '*{name}' nests its node more than {MAX_DEPTH} "
                               f"levels deep; flatten the structure", event)
            self._reach = max(self._reach, reach)
        return super().compose_node(parent, index)  # PyYAML words an undefined alias

    def _count(self, values: int, event: Event) -> None:
        self._nodes += values
        if self._nodes > MAX_NODES:
            raise _problem(f"more than {MAX_NODES:,} values once aliases are expanded (an "
                           f"alias counts as every value it repeats, each time it is "
                           f"used); a flow file is much smaller", event)


def _problem(message: str, event: Event) -> YamlProblem:
    mark = event.start_mark
    return YamlProblem(message, mark.line + 1 if mark is not None else 1)


class _SafeValues(SafeConstructor):
    """SafeConstructor whose errors on a value (a 13th month, an int of 5,000 digits,
    an empty `!!int`) are YAML errors at the value's line, like its own."""

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except Exception as exc:  # e.g. ValueError, IndexError ('!!int ' and nothing)
            kind = str(node.tag).rsplit(":", 1)[-1]
            why = f": {exc}" if isinstance(exc, ValueError) else ""
            raise ConstructorError(None, None, f"cannot read this value as {kind}{why}",
                                   node.start_mark) from exc


class _PyLoader(_Bounded, yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser,
                _SafeValues, Resolver):
    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        Composer.__init__(self)
        _SafeValues.__init__(self)
        Resolver.__init__(self)
        self._start_budget()

    def dispose(self) -> None:
        yaml.parser.Parser.dispose(self)


def _c_loader() -> type[Any] | None:
    try:
        from yaml._yaml import CParser
    except ImportError:  # PyYAML built without libyaml
        return None

    class CLoader(_Bounded, CParser, _SafeValues, Resolver):
        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            Composer.__init__(self)
            _SafeValues.__init__(self)
            Resolver.__init__(self)
            self._start_budget()

    return CLoader


_CLoader = _c_loader()


# -------------------------------------------------------------------- lines

def _walk(node: Node, path: KeyPath, lines: LineMap) -> None:
    """Record lines and refuse duplicate and non-scalar keys. Aliases are walked as
    often as they are used: the composer bounded that (MAX_NODES, MAX_DEPTH)."""
    if isinstance(node, MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, ScalarNode):
                kind = "list" if isinstance(key_node, SequenceNode) else "mapping"
                raise YamlProblem(f"a key must be a plain value, not a {kind} (a '? ' "
                                  f"or '[...]:' key); quote it if it is text", line)
            key = key_node.value
            if key in seen:
                raise YamlProblem(
                    f"duplicate key '{key}' (first defined on line {seen[key]})", line
                )
            seen[key] = line
            lines.add((*path, key), line)
            _walk(value_node, (*path, key), lines)
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            lines.add((*path, index), item.start_mark.line + 1)
            _walk(item, (*path, index), lines)
