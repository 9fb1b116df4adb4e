"""Datasets read where they live: DuckDB (local files larger than memory, a DuckDB table) and
Spark, by pushing aggregates down (ADR 0009, ``docs/warehouse.md``).

:func:`open_table` opens one declared :class:`TableSource` with its engine (the ``duckdb`` or
``spark`` extra). :class:`WarehouseEvidence` wraps any evidence reader: the datasets declared
with a ``source:`` are served by their engine -- the gates that know summaries (drift, data
quality, fairness, performance) ask :meth:`WarehouseEvidence.aggregator` for one; the others
get columns fetched through the engine, within the usual dataset limits -- and everything else
goes to the wrapped reader.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from clearance.adapters.warehouse._common import BadColumn, TableSource, checked_column

ENGINES = ("duckdb", "spark")


def open_table(source: TableSource, name: str, base: Path | None = None) -> Any:
    """The engine's table for ``source`` (paths relative to ``base``)."""
    if source.engine == "duckdb":
        from clearance.adapters.warehouse.duckdb import DuckDBTable

        return DuckDBTable(source, name, base)
    if source.engine == "spark":
        from clearance.adapters.warehouse.spark import SparkTable

        return SparkTable(source, name, base)
    raise ValueError(f"dataset '{name}': unknown engine {source.engine!r} (known: duckdb, spark)")


class WarehouseEvidence:
    """An evidence reader whose ``sources`` datasets are read by an engine."""

    def __init__(self, inner: Any, sources: Mapping[str, TableSource], base: Path | None = None):
        self._inner = inner
        self._sources = dict(sources)
        self._base = base
        self._tables: dict[str, Any] = {}

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._inner, attr)

    def aggregator(self, name: str) -> Any | None:
        """The engine table of dataset ``name``, or None when it is read in memory."""
        source = self._sources.get(name)
        if source is None:
            return None
        if name not in self._tables:
            self._tables[name] = open_table(source, name, self._base)
        return self._tables[name]

    def file_aggregator(self, name: str) -> Any | None:
        """A dataset read in memory, when it is a local Parquet file, summarised by DuckDB
        instead: drift compares two summaries of the same kind, so a reference kept as a
        file can be compared with production data an engine reads. None when it cannot
        (another format, no such file, DuckDB not installed)."""
        local = getattr(self._inner, "local_path", None)
        path = local(name) if local is not None else None
        if path is None or not _is_parquet(Path(path)):
            return None
        if importlib.util.find_spec("duckdb") is None:
            return None
        key = f"file:{name}"
        if key not in self._tables:
            self._tables[key] = open_table(TableSource("duckdb", path=str(path)), name)
        return self._tables[key]

    def read_columns(self, name: str, columns: Sequence[str]) -> Mapping[str, Any]:
        table = self.aggregator(name)
        if table is None:
            return self._inner.read_columns(name, columns)  # type: ignore[no-any-return]
        from clearance.adapters.datasets import DatasetLimits, to_columns

        limits = DatasetLimits.from_env()
        for c in columns:
            checked_column(c, table.columns, name)
        arrow = table.fetch(columns, limits.max_rows)
        limits.check_bytes(int(arrow.nbytes), name, "decodes to")
        return to_columns(arrow)

    def read_batches(
        self, name: str, columns: Sequence[str], batch_rows: int
    ) -> Iterator[Mapping[str, Any]]:
        if self.aggregator(name) is None:
            return self._inner.read_batches(name, columns, batch_rows)  # type: ignore[no-any-return]
        return iter([self.read_columns(name, columns)])

    def dataset_rows(self, name: str) -> int | None:
        table = self.aggregator(name)
        if table is None:
            return self._inner.dataset_rows(name)  # type: ignore[no-any-return]
        return int(table.rows())

    def close(self) -> None:
        for t in self._tables.values():
            t.close()
        self._tables.clear()


def _is_parquet(path: Path) -> bool:
    """By its magic bytes alone (a stored blob has no suffix): the datasets reader's rule."""
    from clearance.adapters.datasets import detect_format, head_bytes

    try:
        return detect_format(head_bytes(path)) == "parquet"
    except OSError:
        return False


def with_warehouse(
    reader: Any, sources: Mapping[str, TableSource], base: Path | None = None
) -> Any:
    """``reader`` itself when no dataset names an engine, else wrapped."""
    return WarehouseEvidence(reader, sources, base) if sources else reader


__all__ = [
    "ENGINES",
    "BadColumn",
    "TableSource",
    "WarehouseEvidence",
    "open_table",
    "with_warehouse",
]
