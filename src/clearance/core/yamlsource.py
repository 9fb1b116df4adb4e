"""YAML to plain data, remembering where every value came from.

Pydantic reports errors by field path (``("gates", 2, "min")``); people need a file, a line
and a column. Parsing keeps a ``Positions`` map from field paths to locations, so any
validation error can point at the exact spot. YAML problems (syntax, duplicate keys,
alias bombs, non-string keys) become located ``Problem`` s, never tracebacks.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from clearance.errors import Location, Problem

if TYPE_CHECKING:
    import yaml

Path = tuple[str | int, ...]

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
MAX_NODES = 200_000  # far above any real policy; stops alias "billion laughs" expansion
MAX_DEPTH = 64  # real policies nest under 10 levels; bounds the parser's recursion
_COLLECTION_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}
_SCALAR_TYPES = (str, int, float, bool, type(None), dt.date)


@dataclass
class Positions:
    """Field path -> location of the value (and of its key, for mappings)."""

    file: str
    values: dict[Path, Location] = field(default_factory=dict)
    keys: dict[Path, Location] = field(default_factory=dict)

    def locate(self, path: Iterable[str | int], *, key: bool = False) -> Location:
        """The closest known location for ``path``: itself, else its nearest parent."""
        parts = tuple(path)
        table = self.keys if key else self.values
        for end in range(len(parts), -1, -1):
            prefix = parts[:end]
            if prefix in table:
                return table[prefix]
            if prefix in self.values:
                return self.values[prefix]
        return Location(self.file, 1, 1)

    def update(self, other: Positions, *, prefix: Path = (), shift: Path = ()) -> None:
        """Copy ``other`` 's positions, replacing its path prefix ``shift`` by ``prefix``."""
        for src, dst in ((other.values, self.values), (other.keys, self.keys)):
            for path, loc in src.items():
                if path[: len(shift)] == shift:
                    dst[prefix + path[len(shift) :]] = loc


class YamlProblems(Exception):
    """Raised inside this module with the problems found; callers get the list."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(map(str, problems)))


def format_path(path: Iterable[str | int]) -> str:
    """``("gates", 2, "min")`` -> ``gates[2].min``: the way people write field paths."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not _PLAIN_KEY.match(part):  # a key with spaces, dots, newlines ...: quote it
            out += f"[{json.dumps(part, ensure_ascii=False)}]"
        else:
            out += f".{part}" if out else part
    return out


def _loc(file: str, mark: Any) -> Location:
    return Location(file, mark.line + 1, mark.column + 1)


class _Converter:
    def __init__(self, file: str) -> None:
        self.file = file
        self.positions = Positions(file)
        self.constructor = yaml.SafeLoader("")  # scalar resolution only; no stream is read from it
        self.count = 0
        self.problems: list[Problem] = []
        self.open: set[int] = set()  # collections being converted, to catch alias cycles

    def convert(self, node: yaml.Node, path: Path) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise YamlProblems(
                [
                    Problem(
                        _loc(self.file, node.start_mark), "", _too("large", f"{MAX_NODES:,} values")
                    )
                ]
            )
        self.positions.values[path] = _loc(self.file, node.start_mark)
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            if node.tag not in _COLLECTION_TAGS:  # !!set, !!omap, !custom ...: not plain data
                self.problems.append(
                    Problem(
                        _loc(self.file, node.start_mark),
                        format_path(path),
                        f"the tag {_short_tag(node.tag)} is not supported; "
                        "write a plain mapping or list",
                    )
                )
                return None
            if id(node) in self.open:  # an alias inside its own anchor: a cycle
                raise YamlProblems(
                    [
                        Problem(
                            _loc(self.file, node.start_mark),
                            format_path(path),
                            "an alias refers to the value that contains it (a cycle)",
                        )
                    ]
                )
            self.open.add(id(node))
            try:
                if isinstance(node, yaml.MappingNode):
                    return self._mapping(node, path)
                return [self.convert(item, (*path, i)) for i, item in enumerate(node.value)]
            finally:
                self.open.discard(id(node))
        return self._scalar(node, path)

    def _scalar(self, node: yaml.Node, path: Path) -> Any:
        try:
            value = self.constructor.construct_object(node, deep=True)
        except Exception as exc:  # PyYAML's constructors raise KeyError, IndexError ... on odd tags
            return self._unreadable(node, path, _reason(node, exc))
        if not isinstance(value, _SCALAR_TYPES):  # !!binary gives bytes: never a policy value
            return self._unreadable(node, path, f"{_short_tag(node.tag)} values are not supported")
        return value

    def _unreadable(self, node: yaml.Node, path: Path, reason: str) -> None:
        self.problems.append(
            Problem(
                _loc(self.file, node.start_mark),
                format_path(path),
                f"cannot read value: {reason}",
            )
        )

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                self.problems.append(
                    Problem(
                        _loc(self.file, key_node.start_mark),
                        format_path(path),
                        "YAML merge keys (<<) are not supported; write the fields out",
                    )
                )
                continue
            key = self._scalar(key_node, path) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str):
                self.problems.append(
                    Problem(
                        _loc(self.file, key_node.start_mark),
                        format_path(path),
                        f"keys must be strings, found {type(key).__name__}",
                    )
                )
                continue
            if key in out:
                self.problems.append(
                    Problem(
                        _loc(self.file, key_node.start_mark),
                        format_path((*path, key)),
                        "duplicate key; each key may appear once in a mapping",
                    )
                )
                continue
            self.positions.keys[(*path, key)] = _loc(self.file, key_node.start_mark)
            out[key] = self.convert(value_node, (*path, key))
        return out


def _short_tag(tag: str) -> str:
    return "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml") else tag


def _reason(node: yaml.Node, exc: Exception) -> str:
    if isinstance(exc, yaml.YAMLError | ValueError | OverflowError):
        # a marked YAML error's text repeats the position over several lines: keep one
        return str(getattr(exc, "problem", None) or str(exc).split("\n", 1)[0])
    return f"{node.value!r} is not a valid {_short_tag(node.tag)}"


def _check_shape(text: str, file: str) -> None:
    """Count events and depth before composing: a huge or deep document is refused while
    streaming, before PyYAML builds (and recurses over) a node for each value."""
    loader = _loader()(text)
    count = depth = 0
    try:
        while loader.check_event():
            event = loader.get_event()  # type: ignore[no-untyped-call]
            count += 1
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
            if count > MAX_NODES:
                raise YamlProblems(
                    [
                        Problem(
                            _loc(file, event.start_mark), "", _too("large", f"{MAX_NODES:,} values")
                        )
                    ]
                )
            if depth > MAX_DEPTH:
                raise YamlProblems(
                    [
                        Problem(
                            _loc(file, event.start_mark),
                            "",
                            _too("deeply nested", f"{MAX_DEPTH} levels"),
                        )
                    ]
                )
    finally:
        loader.dispose()


def _too(what: str, limit: str) -> str:
    return f"document is too {what} (more than {limit})"


def _offset(file: str, text: str, exc: yaml.reader.ReaderError) -> Location:
    """Line and column of a reader error (the C reader counts UTF-8 bytes, not characters)."""
    pos = exc.position
    if exc.encoding != "unicode":
        pos = len(text.encode("utf-8")[:pos].decode("utf-8", errors="ignore"))
    line = text.count("\n", 0, pos) + 1
    return Location(file, line, pos - (text.rfind("\n", 0, pos) + 1) + 1)


def _loader() -> type[yaml.SafeLoader]:
    """PyYAML's fastest safe loader. PyYAML is imported by the first parse: the modules that
    import this one for ``Positions`` and ``format_path`` (a store read does) need none of it."""
    global yaml
    import yaml

    found: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return found


def parse_yaml(text: str, file: str) -> tuple[Any, Positions]:
    """Parse one YAML document; raise ``YamlProblems`` with located problems on any fault."""
    loader = _loader()
    try:
        _check_shape(text, file)
        node = yaml.compose(text, Loader=loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = _loc(file, mark) if mark is not None else Location(file)
        problem = exc.problem or exc.context or "invalid YAML"
        raise YamlProblems([Problem(loc, "", f"YAML syntax: {problem}")]) from None
    except yaml.reader.ReaderError as exc:  # a character YAML refuses: a position, no mark
        raise YamlProblems(
            [Problem(_offset(file, text, exc), "", f"YAML: {exc.reason} (#x{exc.character:04x})")]
        ) from None
    except yaml.YAMLError as exc:
        raise YamlProblems([Problem(Location(file), "", f"YAML: {exc}")]) from None
    if node is None:
        return None, Positions(file)
    converter = _Converter(file)
    try:
        data = converter.convert(node, ())
    except RecursionError:  # aliases can nest past MAX_DEPTH without more events
        raise YamlProblems(
            [Problem(Location(file, 1, 1), "", _too("deeply nested", f"{MAX_DEPTH} levels"))]
        ) from None
    if converter.problems:
        raise YamlProblems(converter.problems)
    return data, converter.positions
