"""The manifest's ``source:`` of a dataset evidence, and its identity (digest) as evidence.

```yaml
evidence:
  batches: {kind: dataset, source: {duckdb: {path: "batches/*.parquet"}}}
  scored:  {kind: dataset, source: {duckdb: {database: warehouse.duckdb, table: main.scored}}}
  events:  {kind: dataset, source: {spark: {path: events/, format: parquet}}}
```

Paths are relative to the manifest's folder (inside it when the manifest is confined). The
evidence's sha256 is that of the list of the files read (relative name and each file's
sha256, one per line, sorted), so a decision stays replayable: new files, or a changed one,
make new evidence. No file matching is an error naming the field.
"""

from __future__ import annotations

import glob
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, StrictStr, model_validator

MAX_FILES = 100_000
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
    """

    engine: Literal["duckdb", "spark"]
    path: str | None = None
    database: str | None = None
    table: str | None = None
    format: str = "parquet"

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


def source_files(source: TableSource, base: Path, within: Path | None) -> list[Path]:
    """The local files a source reads, resolved; ``ValueError`` when none (or one outside
    ``within``)."""
    raw = source.path if source.path is not None else str(source.database)
    if Path(raw).is_absolute() and within is not None:
        raise ValueError(f"'{raw}' must be a relative path inside the manifest's folder")
    pattern = str(base / raw)
    if Path(pattern).is_dir():
        found = [
            p for p in Path(pattern).rglob("*") if p.is_file() and not p.name.startswith((".", "_"))
        ]
    else:
        matched = glob.glob(pattern, recursive=True)  # noqa: PTH207 (a pattern across folders)
        found = [Path(p) for p in matched if Path(p).is_file()]
    files = sorted({p.resolve() for p in found})
    if within is not None and any(not p.is_relative_to(within) for p in files):
        raise ValueError(
            f"'{raw}' must stay inside the manifest's folder (no absolute paths, no ..)"
        )
    if not files:
        raise ValueError(f"no file matches {raw} (looked in {base.resolve()})")
    if len(files) > MAX_FILES:
        raise ValueError(f"{raw} matches {len(files):,} files, over {MAX_FILES:,}")
    return files


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
