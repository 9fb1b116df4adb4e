"""The manifest's ``source:`` of a dataset evidence, and its identity (digest) as evidence.

```yaml
evidence:
  batches: {kind: dataset, source: {duckdb: {path: "batches/*.parquet"}}}
  scored:  {kind: dataset, source: {duckdb: {database: warehouse.duckdb, table: main.scored}}}
  events:  {kind: dataset, source: {spark: {path: events/, format: parquet}}}
```

Paths are relative to the manifest's folder (inside it when the manifest is confined: no
absolute path, no ``..``, refused by their text before anything is listed). The evidence's
sha256 is that of the list of the files read (relative name and each file's sha256, one per
line, sorted), so a decision stays replayable: new files, or a changed one, make new
evidence. The engines read exactly that list (never the folder or the pattern), so the digest
covers exactly what is read. No file matching is an error naming the field; listing stops past
MAX_FILES matches or MAX_ENTRIES folder entries.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, StrictStr, model_validator

MAX_FILES = 100_000
HIDDEN = (".", "_")
MAX_ENTRIES = 1_000_000
MAX_SEGMENTS = 64
_MAGIC = re.compile(r"[*?\[]")
_ENGINE_PATTERN = re.compile(r"[*?\[\]{}\\]")
_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}(\.[A-Za-z_][A-Za-z0-9_]{0,127}){0,2}$")
FORMATS = ("parquet", "csv", "json", "orc")


def checked_table(name: str) -> str:
    """A table name: ``table``, ``schema.table`` or ``catalog.schema.table`` of plain words."""
    if not _TABLE_NAME.match(name):
        raise ValueError(
            f"table name {name!r} must be letters, digits and underscores (optionally schema.table)"
        )
    return name


@dataclass(frozen=True)
class TableSource:
    """Where a dataset evidence lives when an engine reads it (the manifest's ``source:``).

    ``engine`` is ``duckdb`` or ``spark``; ``path`` a file, directory or glob (Parquet by
    default), or ``database`` (a DuckDB file) with ``table``; ``format`` for Spark's reader.
    ``files``: the list :func:`source_files` gave when the digest was taken, so the engine
    reads exactly those; when None the engine lists them itself.
    """

    engine: Literal["duckdb", "spark"]
    path: str | None = None
    database: str | None = None
    table: str | None = None
    format: str = "parquet"
    files: tuple[Path, ...] | None = None

    def describe(self) -> str:
        where = self.path if self.path is not None else f"{self.database}#{self.table}"
        return f"{self.engine}:{where}"


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DuckDBSpec(_Spec):
    """Files (``path``: a file, directory or glob) or ``database`` + ``table``."""

    path: StrictStr | None = None
    format: Literal["parquet", "csv"] = "parquet"
    database: StrictStr | None = None
    table: StrictStr | None = None

    @model_validator(mode="after")
    def _one_place(self) -> DuckDBSpec:
        if (self.path is None) == (self.database is None):
            raise ValueError("give path, or database and table")
        if self.database is not None:
            if self.table is None:
                raise ValueError("a database needs its table")
            checked_table(self.table)
        elif self.table is not None:
            raise ValueError("table goes with database, not with path")
        return self


class SparkSpec(_Spec):
    path: StrictStr
    format: Literal["parquet", "csv", "json", "orc"] = "parquet"


class SourceSpec(_Spec):
    """Which engine reads the dataset where it lives (exactly one)."""

    duckdb: DuckDBSpec | None = None
    spark: SparkSpec | None = None

    @model_validator(mode="after")
    def _one_engine(self) -> SourceSpec:
        if (self.duckdb is None) == (self.spark is None):
            raise ValueError("give exactly one engine: duckdb or spark")
        return self

    def table_source(self) -> TableSource:
        if self.duckdb is not None:
            d = self.duckdb
            return TableSource("duckdb", d.path, d.database, d.table, d.format)
        assert self.spark is not None
        return TableSource("spark", self.spark.path, format=self.spark.format)


def _hidden(name: str) -> bool:
    return name.startswith(HIDDEN)


def _segments(raw: str, within: Path | None) -> list[str]:
    """The path's segments, refused by their text before anything is listed: a leading ``~``
    (never expanded) always, an absolute path or a ``..`` when confined."""
    if "\x00" in raw or len(raw) > 4096:
        raise ValueError("a source path must be at most 4096 characters, without NUL")
    if raw.startswith("~"):
        raise ValueError(f"'{raw}': '~' is not expanded; give a path relative to the manifest")
    parts = [p for p in re.split(r"[/\\]", raw) if p not in ("", ".")]
    if within is not None and (
        Path(raw).is_absolute() or raw.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", raw)
        or ".." in parts
    ):  # fmt: skip
        raise ValueError(f"'{raw}' must be a relative path inside the manifest's folder (no ..)")
    if len(parts) > MAX_SEGMENTS:
        raise ValueError(f"'{raw}' has over {MAX_SEGMENTS} path segments")
    return parts


def _match(segments: list[str], i: int, name: str) -> bool:
    """Whether the name matches segment ``i``: a pattern never matches a hidden name."""
    pattern = segments[i]
    if not _MAGIC.search(pattern):
        return name == pattern
    return not _hidden(name) and fnmatch.fnmatchcase(name, pattern)


def _closure(segments: list[str], states: set[int]) -> set[int]:
    """``**`` also matches no folder: the segment after it (if any) applies here too."""
    out, todo = set(states), list(states)
    while todo:
        i = todo.pop()
        if i + 1 < len(segments) and segments[i] == "**" and i + 1 not in out:
            out.add(i + 1)
            todo.append(i + 1)
    return out


def _walk(root: Path, segments: list[str], raw: str) -> list[Path]:
    """The files under ``root`` the segments match: one walk, each folder once with the set of
    pattern positions it can be at (no backtracking), symlinked folders not followed, stopped
    past MAX_FILES matches or MAX_ENTRIES entries."""
    last = len(segments) - 1
    found: list[Path] = []
    seen = 0
    stack: list[tuple[Path, set[int]]] = [(root, _closure(segments, {0}))]
    while stack:
        folder, states = stack.pop()
        try:
            entries = os.scandir(folder)
        except OSError:
            continue
        with entries:
            for entry in entries:
                seen += 1
                if seen > MAX_ENTRIES:
                    raise ValueError(f"{raw} walks over {MAX_ENTRIES:,} entries")
                name = entry.name
                if entry.is_dir(follow_symlinks=False):
                    below = {i for i in states if segments[i] == "**" and not _hidden(name)}
                    below |= {
                        i + 1 for i in states
                        if i < last and segments[i] != "**" and _match(segments, i, name)
                    }  # fmt: skip
                    if below:
                        stack.append((Path(entry.path), _closure(segments, below)))
                elif entry.is_file() and any(
                    i == last
                    and (not _hidden(name) if segments[i] == "**" else _match(segments, i, name))
                    for i in states
                ):
                    found.append(Path(entry.path))
                    if len(found) > MAX_FILES:
                        raise ValueError(f"{raw} matches over {MAX_FILES:,} files")
    return found


def source_files(source: TableSource, base: Path, within: Path | None) -> list[Path]:
    """The local files a source reads, resolved and sorted; ``ValueError`` when none, when one
    is outside ``within``, or past the bounds.

    A file is itself; a folder is every file below it; a glob (``*``, ``?``, ``[...]``,
    ``**`` for any folders) the files it matches. Names starting with ``.`` or ``_`` (engines'
    temporary and marker files) are left out of folders and never matched by a wildcard. The
    engines read exactly this list, so the digest covers exactly what is read."""
    raw = source.path if source.path is not None else str(source.database)
    parts = _segments(raw, within)
    magic = next((i for i, p in enumerate(parts) if _MAGIC.search(p)), len(parts))
    root = (base / Path(raw).anchor).joinpath(*parts[:magic])
    if magic == len(parts) and root.is_file():
        found = [root]
    elif source.path is None:  # a database is one file, never a pattern
        found = []
    elif magic == len(parts) and root.is_dir():
        found = _walk(root, ["**"], raw)
    elif magic < len(parts) and root.is_dir():
        found = _walk(root, parts[magic:], raw)
    else:
        found = []
    files = sorted({p.resolve() for p in found})
    if within is not None and any(not p.is_relative_to(within) for p in files):
        raise ValueError(
            f"'{raw}' must stay inside the manifest's folder (no absolute paths, no ..)"
        )
    if not files:
        raise ValueError(f"no file matches {raw} (looked in {base.resolve()})")
    odd = next((p for p in files if _ENGINE_PATTERN.search(str(p))), None)
    if odd is not None:
        raise ValueError(f"{odd}: a file name with * ? [ ] {{ }} or \\ would be read as a pattern")
    return files


def engine_files(source: TableSource, base: Path | None) -> list[str]:
    """The files an engine reads for a ``path`` source: ``source.files`` when given, else
    :func:`source_files` (the same list the digest covers)."""
    files = source.files if source.files is not None else source_files(source, base or Path(), None)
    return [str(f) for f in files]


def source_digest(files: list[Path], base: Path) -> tuple[str, int]:
    """sha256 of the sorted ``relative-name sha256`` lines of the files, and their total size."""
    h = hashlib.sha256()
    size = 0
    root = base.resolve()
    for f in files:
        fh = hashlib.sha256()
        with f.open("rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                fh.update(block)
        rel = f.relative_to(root).as_posix() if f.is_relative_to(root) else f.as_posix()
        h.update(f"{rel} {fh.hexdigest()}\n".encode())
        size += f.stat().st_size
    return h.hexdigest(), size
