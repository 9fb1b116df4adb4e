"""Spark as a distributed engine: a dataset read by ``spark.read`` (Parquet by default) from
exactly the files :func:`clearance.dataset_sources.source_files` lists, summarised by
DataFrame aggregates (:class:`SparkTable` implements
:class:`clearance.kernels.summaries.Aggregator`).

Only summaries reach the driver: counts, min/max, value->count histograms of bounded size
(``limit``), counts per bin (``Bucketizer`` with the bin edges as splits, then a count per
bucket), a bounded sample. Columns are referenced with ``F.col`` on a back-quoted name only
after the name is found, exactly, among the DataFrame's columns. The session is the active one
(``SparkSession.builder.getOrCreate()``: ``local[*]`` when none is running).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from clearance.adapters.warehouse._common import FORMATS, TableSource, checked_column
from clearance.dataset_sources import engine_files
from clearance.extras import require
from clearance.kernels.summaries import ColumnProfile, ValueCounts

SAMPLE_SEED = 20261204
_NUMERIC = ("double", "float", "int", "bigint", "smallint", "tinyint", "decimal", "boolean",
            "long", "short", "byte", "integer")  # fmt: skip


class SparkTable:
    """One dataset as a Spark DataFrame; every method returns a summary."""

    sketch_bins = 16384  # Bucketizer's splits go to the JVM one py4j call per element

    def __init__(self, source: TableSource, name: str, base: Path | None = None) -> None:
        sql = require("pyspark.sql", "reading a dataset with Spark")
        self.F: Any = require("pyspark.sql.functions", "reading a dataset with Spark")
        self.name = name
        if source.format not in FORMATS:
            raise ValueError(f"dataset '{name}': spark format must be one of {', '.join(FORMATS)}")
        if source.path is None:
            raise ValueError(f"dataset '{name}': give spark path (and format)")
        # exactly the files the evidence digest covers, never the folder or the pattern
        files = engine_files(source, base)
        self._spark = sql.SparkSession.builder.getOrCreate()
        reader = self._spark.read.format(source.format)
        if source.format == "csv":
            reader = reader.option("header", "true").option("inferSchema", "true")
        self._df = reader.load(files)
        self._types = {f.name: f.dataType.simpleString() for f in self._df.schema.fields}

    @property
    def columns(self) -> list[str]:
        return list(self._types)

    def _col(self, column: str) -> Any:
        name = checked_column(column, self.columns, self.name)
        return self.F.col("`" + name.replace("`", "``") + "`")

    def kind(self, column: str) -> str:
        t = self._types[checked_column(column, self.columns, self.name)]
        if t.startswith(_NUMERIC):
            return "numeric"
        return "text" if t == "string" else "other"

    def _values(self, column: str) -> Any:
        """A one-column DataFrame ``v`` of the non-null values as double (NaN counts as null)."""
        F = self.F
        v = self._col(column).cast("double")
        return self._df.select(v.alias("v")).where(F.col("v").isNotNull() & ~F.isnan("v"))

    def rows(self) -> int:
        return int(self._df.count())

    def profile(self, column: str) -> ColumnProfile:
        F = self.F
        kind = self.kind(column)
        if kind != "numeric":
            row = self._df.select(F.count(F.lit(1)), F.count(self._col(column))).first()
            return ColumnProfile(kind, int(row[1]), int(row[0]) - int(row[1]), None, None, 0,  # type: ignore[arg-type]
                                 self._types[column])  # fmt: skip
        v = self._col(column).cast("double")
        ok = v.isNotNull() & ~F.isnan(v)
        row = self._df.select(
            F.count(F.lit(1)),
            F.count(F.when(ok, 1)),
            F.min(F.when(ok, v)),
            F.max(F.when(ok, v)),
            F.approx_count_distinct(F.when(ok, v)),
        ).first()
        total, n = int(row[0]), int(row[1])
        return ColumnProfile(
            "numeric", n, total - n, _f(row[2]), _f(row[3]), int(row[4] or 0), self._types[column]
        )

    def value_counts(
        self, column: str, limit: int, ranges: Sequence[tuple[float, float]] = ()
    ) -> ValueCounts | None:
        F = self.F
        df = self._values(column).select((F.col("v") + F.lit(0.0)).alias("v"))
        if ranges:  # disjoint [lo, hi) bins: each is one bucket between the ends, kept by index
            feature = require("pyspark.ml.feature", "reading a dataset with Spark")
            inner = sorted({float(x) for r in ranges for x in r if math.isfinite(x)})
            splits = [-math.inf, *inner, math.inf]
            position = {x: i for i, x in enumerate(splits)}
            wanted = [position[float(lo)] for lo, _ in ranges]
            bucketizer = feature.Bucketizer(splits=splits, inputCol="v", outputCol="b")
            df = bucketizer.transform(df).where(F.col("b").isin(wanted)).select("v")
        got = df.groupBy("v").count().limit(int(limit) + 1).toArrow()  # columnar, no Row objects
        if got.num_rows > limit:
            return None
        values = np.asarray(got.column("v").to_numpy(zero_copy_only=False), dtype=np.float64)
        counts = np.asarray(got.column("count").to_numpy(zero_copy_only=False), dtype=np.int64)
        order = np.argsort(values, kind="stable")
        return ValueCounts(values[order], counts[order])

    def bin_counts(self, column: str, edges: Any) -> Any:
        feature = require("pyspark.ml.feature", "reading a dataset with Spark")
        e = [float(x) for x in np.asarray(edges, np.float64)]
        out = np.zeros(len(e) + 1, np.int64)
        splits = [-float("inf"), *e, float("inf")]
        bucketizer = feature.Bucketizer(splits=splits, inputCol="v", outputCol="b")
        for row in bucketizer.transform(self._values(column)).groupBy("b").count().collect():
            out[int(row[0])] += int(row[1])
        # Bucketizer's last bucket is closed on the right: +inf is in it already
        return out

    def sample(self, column: str, size: int) -> Any:
        values = self._values(column)
        n = values.count()
        if n == 0:
            return np.empty(0)
        fraction = min(1.0, 1.2 * size / n)
        got = values.sample(False, fraction, SAMPLE_SEED).limit(int(size)).toArrow()
        return np.asarray(got.column("v").to_numpy(zero_copy_only=False), dtype=np.float64)

    def category_counts(self, column: str, limit: int) -> tuple[dict[Any, int], int] | None:
        rows = self._df.groupBy(self._col(column)).count().limit(int(limit) + 2).collect()
        nulls = sum(int(r[1]) for r in rows if _null(r[0]))
        counts = {r[0]: int(r[1]) for r in rows if not _null(r[0])}
        return None if len(counts) > limit else (counts, nulls)

    def grouped_counts(self, columns: Sequence[str], limit: int) -> list[tuple[Any, ...]] | None:
        rows = (
            self._df.groupBy(*[self._col(c) for c in columns]).count().limit(int(limit) + 1)
        ).collect()
        return None if len(rows) > limit else [tuple(r) for r in rows]

    def _double(self, column: str) -> Any:
        """The column as double, NaN as null."""
        F = self.F
        v = self._col(column).cast("double")
        return F.when(~F.isnan(v), v)

    def confusion_rows(
        self, group: str | None, label: str, decision: str, threshold: float | None, limit: int
    ) -> list[tuple[Any, ...]] | None:
        """As :meth:`DuckDBTable.confusion_rows`."""
        F = self.F
        g = self._col(group) if group is not None else F.lit(None)
        d = self._double(decision)
        decided = d if threshold is None else (d >= F.lit(float(threshold))).cast("double")
        df = self._df.select(g.alias("g"), self._double(label).alias("y"), decided.alias("p"))
        rows = df.groupBy("g", "y", "p").count().limit(int(limit) + 1).collect()
        return None if len(rows) > limit else [tuple(r) for r in rows]

    def auc_counts(self, score: str, label: str) -> tuple[int, int, int, list[Any]]:
        """As :meth:`DuckDBTable.auc_counts` (the running sum is a window over the scores in
        order: Spark moves the per-score counts to one partition for it)."""
        F = self.F
        window = self._sql_window()
        base = self._df.select(self._double(score).alias("s"), self._double(label).alias("y"))
        base = base.where(F.col("s").isNotNull() & F.col("y").isNotNull())
        labels = [r[0] for r in base.select("y").distinct().limit(3).collect()]
        per = base.groupBy("s").agg(
            F.sum(F.when(F.col("y") == 1, 1).otherwise(0)).alias("pos"),
            F.sum(F.when(F.col("y") != 1, 1).otherwise(0)).alias("neg"),
        )
        per = per.withColumn("cum", F.sum("neg").over(window))
        row = per.select(
            F.sum(F.col("pos") * (2 * (F.col("cum") - F.col("neg")) + F.col("neg"))),
            F.sum("pos"),
            F.sum("neg"),
        ).first()
        return int(row[0] or 0), int(row[1] or 0), int(row[2] or 0), labels

    def _sql_window(self) -> Any:
        window = require("pyspark.sql.window", "reading a dataset with Spark").Window
        return window.orderBy("s").rowsBetween(window.unboundedPreceding, window.currentRow)

    def quality_counts(
        self,
        nulls: Sequence[str],
        ranges: Mapping[str, tuple[float | None, float | None]],
        newest: str | None,
    ) -> dict[str, Any]:
        """As :meth:`DuckDBTable.quality_counts`, in one Spark job."""
        from clearance.adapters.warehouse.duckdb import _quality

        F = self.F
        exprs = [F.count(F.lit(1))]
        for c in nulls:
            col = self._col(c)
            cond = col.isNull()
            if self._types[c] in ("double", "float"):
                cond = cond | F.isnan(col)
            exprs.append(F.count(F.when(cond, 1)))
        for c, (lo, hi) in ranges.items():
            v = self._double(c)
            exprs.append(F.count(v))
            for bound, below in ((lo, True), (hi, False)):
                if bound is None:
                    exprs.append(F.lit(0))
                else:
                    cond = v < F.lit(float(bound)) if below else v > F.lit(float(bound))
                    exprs.append(F.count(F.when(cond, 1)))
        if newest is not None:
            exprs.append(F.unix_micros(F.max(self._col(newest))))
        return _quality(list(self._df.select(*exprs).first()), nulls, ranges, newest)

    def schema(self) -> dict[str, str]:
        """Column -> the kernels' type name (via the Arrow type Spark maps each to)."""
        from clearance.adapters.datasets import arrow_type_name

        empty = self._df.limit(0).toArrow()
        return {f.name: arrow_type_name(f.type) for f in empty.schema}

    def fetch(self, columns: Sequence[str], max_rows: int) -> Any:
        pa = require("pyarrow", "reading a dataset with Spark")
        n = self.rows()
        if n > max_rows:
            raise ValueError(f"dataset '{self.name}' has {n:,} rows, over {max_rows:,}")
        cols = list(dict.fromkeys(columns))
        rows = self._df.select(*[self._col(c) for c in cols]).collect()
        return pa.table({c: [r[i] for r in rows] for i, c in enumerate(cols)})

    def close(self) -> None:
        """The session is shared: nothing to close here."""


def _f(x: Any) -> float | None:
    return None if x is None else float(x)


def _null(v: Any) -> bool:
    return v is None or (isinstance(v, float) and v != v)


__all__ = ["SparkTable"]
