"""The one place jitops turns YAML bytes into data.

Grant and policy files are data written by people we do not fully trust, so this loader is
deliberately small:

- UTF-8 only (a leading BOM is accepted), a size cap per file, empty files rejected;
- exactly one document;
- no tags of any kind (``!!python/object``, ``!!binary``, ``!custom``): nothing is constructed
  from a tag, so nothing can be executed;
- no anchors and no aliases: an alias bomb costs nothing because the first anchor stops the
  parse;
- duplicate mapping keys rejected (YAML says they are an error; PyYAML silently keeps the last);
- mapping keys must be strings;
- every node keeps its line, so every later error can say ``path:line``.

Scalars are typed as YAML 1.1 (PyYAML's safe resolver): ``true``, ``12``, ``1.5``, ``null``.
Timestamps are kept as the text that was written.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from jitops.errors import Problem, ProblemsError

try:  # libyaml's parser when present: same events, several times faster
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

#: Grant files are a handful of lines; anything bigger is a mistake or an attack.
GRANT_MAX_BYTES = 64 * 1024
#: Policy files can be long, but not megabytes.
POLICY_MAX_BYTES = 1024 * 1024

Path_ = tuple[str | int, ...]

_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_STR = "tag:yaml.org,2002:str"
_resolver = yaml.resolver.Resolver()
_constructor = yaml.constructor.SafeConstructor()


class YamlError(ProblemsError):
    """A file that is not acceptable YAML for jitops."""


@dataclass(frozen=True)
class Document:
    """A loaded YAML document: plain Python data plus the line of every node.

    ``lines[("roles", "db", "max_duration")]`` is the 1-based line of that key.
    """

    source: str
    data: Any
    lines: dict[Path_, int] = field(repr=False)

    def line(self, path: Path_ = ()) -> int:
        """The line of the deepest known node on ``path`` (1 when nothing is known)."""
        for cut in range(len(path), -1, -1):
            found = self.lines.get(tuple(path[:cut]))
            if found:
                return found
        return 1


def _fail(source: str, line: int, message: str) -> YamlError:
    return YamlError([Problem(source, line, message)])


def size_problem(source: str, size: int, max_bytes: int) -> Problem:
    return Problem(
        source,
        0,
        f"file is {size:,} bytes, over the {max_bytes:,}-byte limit for this kind of "
        "file; keep it small (one grant per file, short reasons)",
    )


def decode(data: bytes, source: str, *, max_bytes: int) -> str:
    """Check size, emptiness and encoding; return the text."""
    if len(data) > max_bytes:
        raise YamlError([size_problem(source, len(data), max_bytes)])
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise _fail(source, line, "file is not valid UTF-8; save it as UTF-8 text") from None
    if not text.strip() or all(
        not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines()
    ):
        raise _fail(source, 0, "file is empty; write the YAML mapping described in the docs")
    if "\x00" in text:
        raise _fail(source, 0, "file contains NUL bytes; it must be plain UTF-8 text")
    return text


def load(data: bytes, source: str, *, max_bytes: int = GRANT_MAX_BYTES) -> Document:
    """Load one YAML document from ``data``; ``source`` names the file in messages."""
    text = decode(data, source, max_bytes=max_bytes)
    try:
        if _EVENT_ONLY.search(text) is None:
            # No '&', '*' or '!' anywhere: no anchor, alias or tag can exist, so libyaml may
            # compose the node tree directly (several times faster than event by event).
            walker = _Walker(source)
            return Document(source, walker.build(text), walker.lines)
        builder = _Builder(source, _events(text, source))
        value = builder.build()
    except yaml.YAMLError as exc:
        raise _yaml_problem(source, exc) from None
    return Document(source, value, builder.lines)


def _events(text: str, source: str) -> Iterator[yaml.Event]:
    loader = _Loader(text)
    try:
        while loader.check_event():
            event = loader.get_event()
            assert event is not None
            yield event
    finally:
        loader.dispose()


def _yaml_problem(source: str, exc: yaml.YAMLError) -> YamlError:
    mark: Any = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = int(mark.line) + 1 if mark is not None else 0
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    if "single document" in f"{context} {problem}":
        return _fail(
            source, line, "file holds more than one YAML document ('---'); keep exactly one"
        )
    what = f"{context}, {problem}" if context else str(problem)
    return _fail(source, line, f"not valid YAML: {what}; fix the syntax at this line")


_EVENT_ONLY = re.compile(r"[&*!]")


class _Walker:
    """Plain data from libyaml's node tree (only for text without anchors, aliases, tags)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.lines: dict[Path_, int] = {}

    def build(self, text: str) -> Any:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
        if node is None:  # pragma: no cover - decode() rejects empty files
            raise _fail(self.source, 0, "file is empty; write the YAML mapping described")
        return self._node(node, ())

    def _node(self, node: yaml.Node, path: Path_) -> Any:
        self.lines.setdefault(path, _line(node))
        if isinstance(node, yaml.ScalarNode):
            try:
                return _scalar_value(node.tag, node.value, node.style)
            except _BadNumber as exc:
                raise _fail(self.source, _line(node), str(exc)) from None
        if isinstance(node, yaml.SequenceNode):
            return [self._node(item, (*path, i)) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.MappingNode)
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key_line = _line(key_node)
            if not isinstance(key_node, yaml.ScalarNode):
                raise _fail(
                    self.source, key_line, "mapping keys must be plain words, not lists or maps"
                )
            try:
                key = _scalar_value(key_node.tag, key_node.value, key_node.style)
            except _BadNumber as exc:
                raise _fail(self.source, key_line, str(exc)) from None
            if not isinstance(key, str):
                key = key_node.value
            if key in mapping:
                raise _fail(
                    self.source,
                    key_line,
                    f"duplicate key '{key}' (first on line "
                    f"{self.lines.get((*path, key), '?')}); keep only one",
                )
            self.lines[(*path, key)] = key_line
            mapping[key] = self._node(value_node, (*path, key))
        return mapping


class _Builder:
    """Builds plain data from parser events, refusing what jitops files never need."""

    def __init__(self, source: str, events: Iterator[yaml.Event]) -> None:
        self.source = source
        self.events = events
        self.lines: dict[Path_, int] = {}

    def _next(self) -> yaml.Event:
        return next(self.events)

    def build(self) -> Any:
        ev = self._next()
        assert isinstance(ev, yaml.StreamStartEvent)
        ev = self._next()
        if isinstance(ev, yaml.StreamEndEvent):  # pragma: no cover - decode() rejects this
            raise _fail(self.source, 0, "file is empty; write the YAML mapping described")
        assert isinstance(ev, yaml.DocumentStartEvent)
        value = self._node(self._next(), ())
        end = self._next()
        assert isinstance(end, yaml.DocumentEndEvent)
        nxt = self._next()
        if not isinstance(nxt, yaml.StreamEndEvent):
            raise _fail(
                self.source,
                _line(nxt),
                "file holds more than one YAML document ('---'); keep exactly one",
            )
        return value

    def _check_node_event(self, ev: yaml.Event, path: Path_) -> int:
        assert isinstance(ev, yaml.NodeEvent)
        line = _line(ev)
        if isinstance(ev, yaml.AliasEvent):
            raise _fail(
                self.source,
                line,
                f"YAML alias '*{ev.anchor}' is not allowed; write the value out in full",
            )
        if ev.anchor is not None:
            raise _fail(
                self.source,
                line,
                f"YAML anchor '&{ev.anchor}' is not allowed; write each value out in full",
            )
        tag = getattr(ev, "tag", None)
        explicit = tag is not None and tag != "!"
        if isinstance(ev, yaml.ScalarEvent):
            explicit = tag is not None and not ev.implicit[0] and not ev.implicit[1]
            if tag == "!":
                explicit = False
        if explicit:
            shown = str(tag).replace("tag:yaml.org,2002:", "!!")
            raise _fail(self.source, line, f"YAML tag '{shown}' is not allowed; remove the tag")
        return line

    def _node(self, ev: yaml.Event, path: Path_) -> Any:
        assert isinstance(ev, yaml.NodeEvent)
        line = self._check_node_event(ev, path)
        self.lines.setdefault(path, line)
        if isinstance(ev, yaml.ScalarEvent):
            return _scalar(self.source, line, ev)
        if isinstance(ev, yaml.SequenceStartEvent):
            items: list[Any] = []
            while True:
                item = self._next()
                if isinstance(item, yaml.SequenceEndEvent):
                    return items
                items.append(self._node(item, (*path, len(items))))
        if isinstance(ev, yaml.MappingStartEvent):
            mapping: dict[str, Any] = {}
            while True:
                key_ev = self._next()
                if isinstance(key_ev, yaml.MappingEndEvent):
                    return mapping
                key_line = self._check_node_event(key_ev, path)
                if not isinstance(key_ev, yaml.ScalarEvent):
                    raise _fail(
                        self.source, key_line, "mapping keys must be plain words, not lists or maps"
                    )
                key = _scalar(self.source, key_line, key_ev)
                if not isinstance(key, str):
                    key = key_ev.value
                if key in mapping:
                    raise _fail(
                        self.source,
                        key_line,
                        f"duplicate key '{key}' (first on line "
                        f"{self.lines.get((*path, key), '?')}); keep only one",
                    )
                self.lines[(*path, key)] = key_line
                mapping[key] = self._node(self._next(), (*path, key))
        raise AssertionError(f"unexpected YAML event {ev!r}")  # pragma: no cover


def _line(ev: yaml.Event | yaml.Node) -> int:
    mark: Any = ev.start_mark
    return int(mark.line) + 1 if mark is not None else 0


def _scalar(source: str, line: int, ev: yaml.ScalarEvent) -> Any:
    if ev.style:  # quoted or block scalars are always strings
        return ev.value
    tag: str = _resolver.resolve(yaml.ScalarNode, ev.value, ev.implicit)  # type: ignore[no-untyped-call]
    try:
        return _scalar_value(tag, ev.value, ev.style)
    except _BadNumber as exc:
        raise _fail(source, line, str(exc)) from None


#: Longest number a jitops file may hold (Python refuses to convert over 4,300 digits).
_MAX_NUMBER = 100


class _BadNumber(ValueError):
    """A number jitops will not read; the caller adds the file and line."""


_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"


def _scalar_value(tag: str, value: str, style: str | None) -> Any:
    if style or tag in (_TIMESTAMP, _STR):  # quoted or block scalars are always strings
        return value
    construct = _constructor.yaml_constructors.get(tag)
    if construct is None:  # '=' (value) and '<<' (merge) keys: plain text here
        return value
    if len(value) > _MAX_NUMBER and tag in (_INT, _FLOAT):  # Python refuses > 4,300 digits
        raise _BadNumber(
            f"a number of {len(value):,} characters is not a value jitops can use; write a "
            "short number, or quote the text"
        )
    try:
        return construct(_constructor, yaml.ScalarNode(tag, value))
    except (ValueError, OverflowError):
        raise _BadNumber(
            "a number here cannot be read; write a short number, or quote it"
        ) from None
