"""DuckDB as an out-of-core engine: Parquet/CSV files (a path or a glob) or a table in a
DuckDB database file, summarised where they are (:class:`DuckDBTable` implements
:class:`clearance.kernels.summaries.Aggregator`).

Only summaries come back: counts, ranges, value->count histograms of bounded size, counts per
bin. DuckDB streams the files and spills to disk past its memory limit, so the Python side's
memory does not grow with the rows. The SQL is fixed text: values (paths, bin edges, ranges,
limits) are bound parameters or registered Arrow tables; a column is used only when it is
exactly one of the table's columns (:func:`~._common.checked_column`), and then as a quoted
identifier; a table name must be plain words (``schema.table``), also quoted; files become a
view through DuckDB's Python API (``read_parquet([files]).create_view``), not SQL text.

The connection reads exactly the files :func:`clearance.dataset_sources.source_files` lists
(``allowed_paths``, external access off), and a database file is opened with external access
off, so neither a view in it nor a pattern reaches another file.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from clearance.adapters.warehouse._common import (
    BadColumn,
    TableSource,
    checked_column,
    checked_table,
)
from clearance.dataset_sources import engine_files
from clearance.extras import require
from clearance.kernels.summaries import ColumnProfile, ValueCounts

_NUMERIC = ("DOUBLE", "FLOAT", "REAL", "DECIMAL", "INT", "BIGINT", "SMALLINT", "TINYINT",
            "HUGEINT", "UBIGINT", "UINTEGER", "USMALLINT", "UTINYINT", "INTEGER", "BOOLEAN",
            "UHUGEINT")  # fmt: skip
_FLOAT = ("DOUBLE", "FLOAT", "REAL")
SAMPLE_SEED = 20261204
MEMORY_ENV, DEFAULT_MEMORY = "CLEARANCE_DUCKDB_MEMORY", "256MB"
GRID_CELLS = 1 << 20


def quote(identifier: str) -> str:
    """A SQL identifier in double quotes (quotes inside doubled)."""
    return '"' + identifier.replace('"', '""') + '"'


class DuckDBTable:
    """One dataset read by DuckDB; every method returns a summary."""

    def __init__(self, source: TableSource, name: str, base: Path | None = None) -> None:
        duckdb = require("duckdb", "reading a dataset with DuckDB")
        self.name = name
        # Bounded memory: DuckDB spills its sorts and joins to a temporary folder past this.
        limit = os.environ.get(MEMORY_ENV, DEFAULT_MEMORY).strip()
        if not re.fullmatch(r"\d+(\.\d+)?\s*[KMGT]i?B", limit, flags=re.IGNORECASE):
            raise ValueError(f"{MEMORY_ENV} must be a size such as 512MB, not {limit!r}")
        spill = tempfile.mkdtemp(prefix="clearance-duckdb-")
        weakref.finalize(self, shutil.rmtree, spill, True)  # removed with this table
        if source.path is not None:
            files = engine_files(source, base)
            self._con = duckdb.connect()
        else:
            if source.database is None or source.table is None:
                raise ValueError(f"dataset '{name}': give duckdb path, or database and table")
            db = (base / source.database) if base is not None else Path(source.database)
            if not db.is_file():
                raise FileNotFoundError(f"dataset '{name}': DuckDB database not found: {db}")
            files = []
            # attached to a connection of its own (not DuckDB's per-file shared instance, whose
            # settings another table may have locked), under its own name as before
            self._con = duckdb.connect()
            self._con.execute(f"ATTACH ? AS {quote(db.stem)} (READ_ONLY)", [str(db)])
            self._con.execute(f"USE {quote(db.stem)}")
        # External access off (and no SET can turn it back on) before anything is read: the
        # connection reads exactly the listed files -- the ones the evidence digest covers,
        # not the folder or the pattern -- and a view in a database file (SQL its author
        # wrote) reads the database's own tables, never a local file or a URL.
        self._con.execute("SET allowed_paths = ?", [files])
        self._con.execute("SET memory_limit = ?", [limit])
        self._con.execute("SET temp_directory = ?", [spill])
        self._con.execute("SET enable_external_access = false")
        if source.path is not None:
            # the files become a view through the Python API: a path is never SQL text
            reader = self._con.read_csv if source.format == "csv" else self._con.read_parquet
            reader(files).create_view("clearance_source")
            self._from = quote("clearance_source")
        else:
            assert source.table is not None
            self._from = ".".join(quote(p) for p in checked_table(source.table).split("."))
        self._con.execute("SET enable_progress_bar = false")
        # Parquet min/max statistics leave NaN out, and DuckDB (2.0.1) folds isnan() to false
        # from them, so NaN would be counted as a value: keep the statistics out of it.
        self._con.execute("SET disabled_optimizers = 'statistics_propagation'")
        self._con.execute("SET lock_configuration = true")  # no SET can give access back
        self._types: dict[str, str] = {
            str(row[0]): str(row[1]).upper()
            for row in self._sql(f"DESCRIBE SELECT * FROM {self._from}").fetchall()
        }

    def _sql(self, text: str, extra: Sequence[Any] = ()) -> Any:
        return self._con.execute(text, list(extra))

    @property
    def columns(self) -> list[str]:
        return list(self._types)

    def _column(self, column: str) -> str:
        return quote(checked_column(column, self.columns, self.name))

    def kind(self, column: str) -> str:
        t = self._types[checked_column(column, self.columns, self.name)]
        if t.startswith(_NUMERIC):
            return "numeric"
        if t.startswith(("VARCHAR", "ENUM")):
            return "text"
        return "other"

    def _values(self, column: str) -> str:
        """A subquery of the column's non-null values as DOUBLE (NaN counts as null)."""
        col = self._column(column)
        nan = f" AND NOT isnan({col})" if self._types[column].startswith(_FLOAT) else ""
        return f"SELECT CAST({col} AS DOUBLE) AS v FROM {self._from} WHERE {col} IS NOT NULL{nan}"

    def rows(self) -> int:
        return int(self._sql(f"SELECT count(*) FROM {self._from}").fetchall()[0][0])

    def profile(self, column: str) -> ColumnProfile:
        kind = self.kind(column)
        if kind != "numeric":
            total = self.rows()
            col = self._column(column)
            nn = int(self._sql(f"SELECT count({col}) FROM {self._from}").fetchall()[0][0])
            return ColumnProfile(kind, nn, total - nn, None, None, 0, self._types[column])  # type: ignore[arg-type]
        stats = "count(*), min(v), max(v), approx_count_distinct(v)"
        row = self._sql(f"SELECT {stats} FROM ({self._values(column)})").fetchall()[0]
        total = self.rows()
        n = int(row[0])
        return ColumnProfile(
            "numeric", n, total - n, _f(row[1]), _f(row[2]), int(row[3] or 0), self._types[column]
        )

    def value_counts(
        self, column: str, limit: int, ranges: Sequence[tuple[float, float]] = ()
    ) -> ValueCounts | None:
        source = self._values(column)
        query = f"SELECT v + 0.0 AS v, count(*) AS c FROM ({source}) t"
        params: list[Any] = []
        if ranges:
            query, params = self._within(source, ranges)
        try:
            got = self._sql(
                f"{query} GROUP BY 1 ORDER BY 1 LIMIT ?", [*params, int(limit) + 1]
            ).fetchnumpy()
        finally:
            if ranges:
                self._con.unregister("clearance_ranges")
                self._con.unregister("clearance_cells")
        values = np.asarray(got["v"], dtype=np.float64)
        if values.shape[0] > limit:
            return None
        return ValueCounts(values, np.asarray(got["c"], dtype=np.int64))

    def _within(self, values: str, ranges: Sequence[tuple[float, float]]) -> tuple[str, list[Any]]:
        """``query`` restricted to values in the disjoint ``[lo, hi)`` ranges, in flat memory:
        a hash semi-join on the cells of a 2^20-cell grid over the ranges' span keeps the
        candidates (streaming), then an ASOF join with the ranges (the last one starting at or
        below the value) and ``v < hi`` keeps exactly those inside."""
        pa = require("pyarrow", "reading a dataset with DuckDB")
        ordered = sorted((float(a), float(b)) for a, b in ranges)
        lo, hi = (np.array([r[i] for r in ordered], np.float64) for i in (0, 1))
        finite = np.concatenate([lo[np.isfinite(lo)], hi[np.isfinite(hi)]])
        a, b = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
        scale = GRID_CELLS / (b - a) if b > a else 1.0
        cells: set[int] = set()
        for x, y in zip(np.clip(lo, a, b), np.clip(hi, a, b), strict=True):
            first, last = (int(np.floor((v - a) * scale)) for v in (x, y))
            cells.update(range(first, last + 1))
        self._con.register("clearance_ranges", pa.table({"lo": lo, "hi": hi}))
        self._con.register("clearance_cells", pa.table({"cell": np.array(sorted(cells), np.int64)}))
        keep = "CAST(floor((v - ?) * ?) AS BIGINT) IN (SELECT cell FROM clearance_cells)"
        outside = ["v < ?"] if np.isneginf(lo[0]) else []
        outside += ["v >= ?"] if np.isposinf(hi[-1]) else []
        params: list[Any] = [a, scale] + ([a] if np.isneginf(lo[0]) else [])
        params += [b] if np.isposinf(hi[-1]) else []
        near = " OR ".join([keep, *outside])
        query = (
            f"SELECT t.v + 0.0 AS v, count(*) AS c FROM (SELECT v FROM ({values}) WHERE {near}) t "
            "ASOF JOIN clearance_ranges r ON t.v >= r.lo WHERE t.v < r.hi"
        )
        return query, params

    def bin_counts(self, column: str, edges: Any) -> Any:
        """Counts in ``(-inf, e1), [e1, e2), ..., [ek, inf)``: DuckDB's streaming
        ``histogram(v, boundaries)`` counts ``v <= boundary`` buckets, so each edge is given as
        the double just below it (``v <= prev(e)`` is ``v < e``); the last bucket is +inf."""
        e = np.asarray(edges, np.float64)
        out = np.zeros(e.shape[0] + 1, np.int64)
        if e.shape[0] == 0:
            out[0] = int(
                self._sql(f"SELECT count(*) FROM ({self._values(column)})").fetchall()[0][0]
            )
            return out
        below = np.nextafter(e, -np.inf)
        got = self._sql(
            f"SELECT histogram(v, ?::DOUBLE[]) FROM ({self._values(column)})", [below.tolist()]
        ).fetchall()[0][0]
        got = got or {}
        keys = np.fromiter(got.keys(), np.float64, len(got))
        counts = np.fromiter(got.values(), np.int64, len(got))
        at = np.where(np.isposinf(keys), e.shape[0], np.searchsorted(below, keys))
        np.add.at(out, at, counts)
        return out

    def sample(self, column: str, size: int) -> Any:
        got = self._sql(
            f"SELECT v FROM ({self._values(column)}) "
            f"USING SAMPLE reservoir({int(size)} ROWS) REPEATABLE ({SAMPLE_SEED})"
        ).fetchnumpy()
        return np.asarray(got["v"], dtype=np.float64)

    def category_counts(self, column: str, limit: int) -> tuple[dict[Any, int], int] | None:
        col = self._column(column)
        rows = self._sql(
            f"SELECT {col}, count(*) FROM {self._from} GROUP BY 1 LIMIT ?", [int(limit) + 2]
        ).fetchall()
        nulls = sum(int(c) for v, c in rows if _null(v))
        counts = {v: int(c) for v, c in rows if not _null(v)}
        return None if len(counts) > limit else (counts, nulls)

    def grouped_counts(self, columns: Sequence[str], limit: int) -> list[tuple[Any, ...]] | None:
        """``GROUP BY columns`` counts: rows of (values..., count), at most ``limit``."""
        cols = ", ".join(self._column(c) for c in columns)
        rows = self._sql(
            f"SELECT {cols}, count(*) FROM {self._from} GROUP BY ALL LIMIT ?", [int(limit) + 1]
        ).fetchall()
        return None if len(rows) > limit else [tuple(r) for r in rows]

    def _double(self, column: str) -> str:
        """The column as DOUBLE, NaN as NULL."""
        col = f"CAST({self._column(column)} AS DOUBLE)"
        return f"CASE WHEN isnan({col}) THEN NULL ELSE {col} END"

    def confusion_rows(
        self, group: str | None, label: str, decision: str, threshold: float | None, limit: int
    ) -> list[tuple[Any, ...]] | None:
        """Rows ``(group, label, decided, count)``: label and decision as 0/1 doubles (a
        score is decided by ``score >= threshold``), NULL where null or NaN; at most
        ``limit`` rows (None: more)."""
        g = self._column(group) if group is not None else "NULL"
        d = self._double(decision)
        decided = d if threshold is None else f"CAST({d} >= ? AS DOUBLE)"
        params = [] if threshold is None else [float(threshold)]
        rows = self._sql(
            f"SELECT {g}, {self._double(label)}, {decided}, count(*) FROM {self._from} "
            "GROUP BY ALL LIMIT ?",
            [*params, int(limit) + 1],
        ).fetchall()
        return None if len(rows) > limit else [tuple(r) for r in rows]

    def auc_counts(self, score: str, label: str) -> tuple[int, int, int, list[Any]]:
        """ROC AUC's rank sum pushed down: ``(Σ_pos (2·neg below + neg tied), P, N, labels)``
        over rows where both are non-null, from per-score counts and a running sum over the
        scores in order (one sort in the engine; one row comes back), with the distinct
        labels seen (at most three, to check they are 0/1)."""
        s, y = self._double(score), self._double(label)
        base = f"SELECT {s} AS s, {y} AS y FROM {self._from}"
        labels = [r[0] for r in self._sql(
            f"SELECT DISTINCT y FROM ({base}) WHERE s IS NOT NULL AND y IS NOT NULL LIMIT 3"
        ).fetchall()]  # fmt: skip
        row = self._sql(
            "SELECT sum(pos * (2 * (cum - neg) + neg)), sum(pos), sum(neg) FROM ("
            "SELECT pos, neg, sum(neg) OVER (ORDER BY s ROWS UNBOUNDED PRECEDING) AS cum FROM ("
            "SELECT s, count(*) FILTER (WHERE y = 1) AS pos, count(*) FILTER (WHERE y <> 1) AS neg "
            f"FROM ({base}) WHERE s IS NOT NULL AND y IS NOT NULL GROUP BY s))"
        ).fetchall()[0]
        return int(row[0] or 0), int(row[1] or 0), int(row[2] or 0), labels

    def quality_counts(
        self,
        nulls: Sequence[str],
        ranges: Mapping[str, tuple[float | None, float | None]],
        newest: str | None,
    ) -> dict[str, Any]:
        """One pass: rows, nulls per column (NaN counts), per range column the non-null
        values checked and those below/above (inclusive bounds), the newest timestamp (as
        microseconds since the epoch)."""
        exprs, params = ["count(*)"], []
        for c in nulls:
            exprs.append(f"count(*) FILTER (WHERE {self._null(c)})")
        for c, (lo, hi) in ranges.items():
            v = self._double(c)
            exprs.append(f"count({v})")
            for bound, op in ((lo, "<"), (hi, ">")):
                exprs.append("0" if bound is None else f"count(*) FILTER (WHERE {v} {op} ?)")
                params += [] if bound is None else [float(bound)]
        if newest is not None:
            exprs.append(f"epoch_us(max({self._column(newest)}))")
        row = list(self._sql(f"SELECT {', '.join(exprs)} FROM {self._from}", params).fetchall()[0])
        return _quality(row, nulls, ranges, newest)

    def _null(self, column: str) -> str:
        col = self._column(column)
        nan = f" OR isnan({col})" if self._types[column].startswith(_FLOAT) else ""
        return f"{col} IS NULL{nan}"

    def schema(self) -> dict[str, str]:
        """Column -> the kernels' type name, from the Arrow schema of an empty result."""
        from clearance.adapters.datasets import arrow_type_name

        empty = _arrow(self._sql(f"SELECT * FROM {self._from} LIMIT 0"))
        return {f.name: arrow_type_name(f.type) for f in empty.schema}

    def fetch(self, columns: Sequence[str], max_rows: int) -> Any:
        """The columns as an Arrow table (the fallback for gates that need rows)."""
        cols = ", ".join(self._column(c) for c in dict.fromkeys(columns))
        n = self.rows()
        if n > max_rows:
            raise ValueError(f"dataset '{self.name}' has {n:,} rows, over {max_rows:,}")
        return _arrow(self._sql(f"SELECT {cols} FROM {self._from}"))

    def close(self) -> None:
        self._con.close()


def _quality(
    row: list[Any],
    nulls: Sequence[str],
    ranges: Mapping[str, tuple[float | None, float | None]],
    newest: str | None,
) -> dict[str, Any]:
    """:meth:`DuckDBTable.quality_counts`'s row as a record (shared with Spark)."""
    out: dict[str, Any] = {"rows": int(row[0]), "nulls": {}, "ranges": {}, "newest_us": None}
    i = 1
    for c in nulls:
        out["nulls"][c] = int(row[i])
        i += 1
    for c in ranges:
        checked, below, above = (int(x or 0) for x in row[i : i + 3])
        out["ranges"][c] = (below, above, checked)
        i += 3
    if newest is not None:
        out["newest_us"] = None if row[i] is None else int(row[i])
    return out


def _arrow(result: Any) -> Any:
    """A result as an Arrow table (``to_arrow_table`` from DuckDB 1.4, ``fetch_arrow_table``
    before)."""
    to_table = getattr(result, "to_arrow_table", None) or result.fetch_arrow_table
    return to_table()


def _f(x: Any) -> float | None:
    return None if x is None else float(x)


def _null(v: Any) -> bool:
    return v is None or (isinstance(v, float) and v != v)


__all__ = ["BadColumn", "DuckDBTable", "quote"]
