"""``data_quality``: row counts, schema, null fractions, ranges, allowed sets, uniqueness and
freshness of one dataset, each a check with its own limit.

Row count, nulls, ranges, allowed sets and freshness are sums (or a max) over rows, so they are
computed batch by batch when the reader streams; uniqueness reads its key columns whole (one
sort); the schema comes from the file's metadata.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, cast

from pydantic import ConfigDict, Field, field_validator, model_validator

from clearance import kernels as k
from clearance.core.columns import BatchReader, categories_of, decoded, null_mask_of, schema_of
from clearance.core.durations import parse_duration
from clearance.core.gates._data import (
    DatasetParams,
    aggregator,
    digests,
    fmt,
    numeric,
    plain,
    pushed,
    read,
    require_dataset,
)
from clearance.core.gates.base import (
    GateContext,
    GateParams,
    GateProblem,
    Measurement,
    reports_problems,
)
from clearance.core.results import GateStatus
from clearance.extras import lazy

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray
else:
    np = lazy("numpy", "this gate")  # loads without the data extra; computing needs it


class RangeSpec(GateParams):
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _a_bound(self) -> RangeSpec:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        return self


class FreshnessSpec(GateParams):
    column: str
    max_age: str = Field(description="Duration like 90m, 24h, 7d, 2w.")

    @field_validator("max_age")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value


class DataQualityParams(DatasetParams):
    min_rows: int | None = Field(default=None, ge=0)
    max_rows: int | None = Field(default=None, ge=0)
    expected_schema: dict[str, str] | None = Field(
        default=None,
        alias="schema",
        description="Column -> type (bool, int64, float, numeric, string, datetime, ...).",
    )
    allow_extra_columns: bool = True
    max_null_fraction: dict[str, float] = Field(
        default_factory=dict, description="Column -> largest null share; '*' = every column."
    )
    ranges: dict[str, RangeSpec] = Field(default_factory=dict)
    allowed_values: dict[str, list[str | int | float | bool]] = Field(default_factory=dict)
    unique: list[str] = Field(default_factory=list)
    freshness: FreshnessSpec | None = None
    max_violation_share: float = Field(
        default=0.0, ge=0, le=1, description="Tolerated share of out-of-range/not-allowed values."
    )
    batch_rows: int = Field(default=1_000_000, ge=1)
    show: int = Field(default=5, ge=1)

    model_config = ConfigDict(
        extra="forbid", frozen=True, allow_inf_nan=False, populate_by_name=True
    )

    @model_validator(mode="after")
    def _something(self) -> DataQualityParams:
        if not (
            self.min_rows is not None
            or self.max_rows is not None
            or self.expected_schema
            or self.max_null_fraction
            or self.ranges
            or self.allowed_values
            or self.unique
            or self.freshness
        ):
            raise ValueError("give at least one check (min_rows, schema, max_null_fraction, ...)")
        for share in self.max_null_fraction.values():
            if not 0 <= share <= 1:
                raise ValueError(f"max_null_fraction values lie in [0, 1], got {share}")
        return self


class _Acc:
    """Running sums over batches."""

    def __init__(self) -> None:
        self.rows = 0
        self.nulls: dict[str, int] = {}
        self.range: dict[str, list[int]] = {}  # below, above, checked
        self.allowed: dict[str, list[Any]] = {}  # bad, checked, examples
        self.newest: np.datetime64 | None = None
        self.fresh_nulls = 0
        self.schema: dict[str, str] = {}


MAX_ALLOWED_CHECK = 100_000  # distinct values counted for an allowed-values check, pushed down


def _pushed_counts(engine: Any, p: DataQualityParams, null_cols: list[str], acc: _Acc) -> None:
    """The running sums of :meth:`DataQuality._batch`, from one pass of the dataset's engine
    (ADR 0009): rows, nulls, range violations, the newest timestamp; allowed values from
    per-value counts; the schema from the engine's column types."""
    ds = p.dataset
    acc.schema = pushed(ds, "schema", engine.schema)
    ranges: dict[str, tuple[float | None, float | None]] = {}
    for col, spec in p.ranges.items():
        kind = pushed(ds, f"column '{col}'", engine.kind, col)
        if kind != "numeric":
            what = "it is text" if kind == "text" else f"type {acc.schema.get(col)}"
            raise GateProblem(f"column '{col}' of dataset '{ds}' is not numeric ({what})")
        ranges[col] = (spec.min, spec.max)
    fresh = p.freshness.column if p.freshness is not None else None
    if fresh is not None and acc.schema.get(fresh) != "datetime":
        raise GateProblem(
            f"freshness column '{fresh}' of dataset '{ds}' is not a timestamp "
            f"(type {acc.schema.get(fresh)})"
        )
    got = pushed(ds, "data quality counts", engine.quality_counts, null_cols, ranges, fresh)
    acc.rows = got["rows"]
    acc.nulls = dict(got["nulls"])
    acc.range = {c: list(v) for c, v in got["ranges"].items()}
    if got["newest_us"] is not None:
        acc.newest = np.datetime64(got["newest_us"], "us").astype("datetime64[ns]")
    for col, allowed in p.allowed_values.items():
        counts = pushed(ds, f"column '{col}'", engine.category_counts, col, MAX_ALLOWED_CHECK)
        if counts is None:
            raise GateProblem(
                f"column '{col}' of dataset '{ds}' has over {MAX_ALLOWED_CHECK:,} distinct "
                "values: an allowed-values check needs fewer"
            )
        ok = set(allowed)
        bad = {v: n for v, n in counts[0].items() if v not in ok}
        examples = sorted(bad, key=lambda v: (-bad[v], str(v)))[:5]
        acc.allowed[col] = [sum(bad.values()), sum(counts[0].values()), examples]


def _nulls(cols: Mapping[str, NDArray[Any]], col: str) -> NDArray[np.bool_]:
    values = cols[col]
    if categories_of(cols, col) is not None:
        return np.asarray(values < 0)
    return k.null_mask(values, null_mask_of(cols, col))


class DataQuality:
    name: ClassVar[str] = "data_quality"
    summary: ClassVar[str] = (
        "Row count, schema, null fractions, ranges, allowed values, uniqueness and freshness "
        "of a dataset."
    )
    Params: ClassVar[type[GateParams]] = DataQualityParams

    def _stream(
        self, ctx: GateContext, p: DataQualityParams, columns: list[str]
    ) -> Iterable[Mapping[str, NDArray[Any]]]:
        if isinstance(ctx.evidence, BatchReader):
            require_dataset(ctx, p.dataset)
            try:
                yield from ctx.evidence.read_batches(p.dataset, columns, p.batch_rows)
                return
            except KeyError:
                pass
            except ValueError as exc:
                raise GateProblem(str(exc), [f"evidence.{p.dataset}"]) from None
        yield read(ctx, p.dataset, columns)

    @reports_problems
    def evaluate(self, p: DataQualityParams, ctx: GateContext) -> Measurement:
        ds = p.dataset
        engine = aggregator(ctx, ds)
        null_cols = [c for c in p.max_null_fraction if c != "*"]
        star = "*" in p.max_null_fraction
        if star:
            # every column: learn the names from one read of the schema
            every = engine.columns if engine is not None else self._all_columns(ctx, p)
            null_cols = list(dict.fromkeys([*null_cols, *every]))
        stream_cols = list(
            dict.fromkeys(
                [
                    *null_cols,
                    *p.ranges,
                    *p.allowed_values,
                    *([p.freshness.column] if p.freshness else []),
                ]
            )
        )
        acc = _Acc()
        if engine is not None:
            _pushed_counts(engine, p, null_cols, acc)
        elif stream_cols:
            for cols in self._stream(ctx, p, stream_cols):
                self._batch(cols, p, null_cols, acc)
        else:
            acc.rows, acc.schema = self._count(ctx, p)
        findings: list[dict[str, Any]] = []
        if p.min_rows is not None or p.max_rows is not None:
            rc = k.row_count_bounds(acc.rows, p.min_rows, p.max_rows)
            if p.min_rows is not None:
                findings.append(_finding("rows", None, rc.rows, p.min_rows, ">="))
            if p.max_rows is not None:
                findings.append(_finding("rows", None, rc.rows, p.max_rows, "<="))
        if p.expected_schema:
            schema = acc.schema or self._count(ctx, p)[1]
            sc = k.schema_check(p.expected_schema, schema, allow_extra=p.allow_extra_columns)
            problems = (
                [f"missing {c}" for c in sc.missing]
                + [f"unexpected {c}" for c in sc.extra]
                + [f"{m.column} is {m.actual}, expected {m.expected}" for m in sc.wrong_type]
            )
            findings.append(
                {
                    **_finding("schema", None, len(problems), 0, "<="),
                    "problems": problems,
                    "scale": 1.0,
                }
            )
        for col in null_cols:
            limit = p.max_null_fraction.get(col, p.max_null_fraction.get("*", 0.0))
            share = acc.nulls[col] / acc.rows if acc.rows else math.nan
            findings.append(_finding("nulls", col, share, limit, "<=", scale=max(limit, 0.01)))
        for col, (below, above, checked) in acc.range.items():
            share = (below + above) / checked if checked else 0.0
            f = _finding("range", col, share, p.max_violation_share, "<=", scale=0.01)
            f.update(below=below, above=above, checked=checked)
            findings.append(f)
        for col, (bad, checked, examples) in acc.allowed.items():
            share = bad / checked if checked else 0.0
            f = _finding("allowed_values", col, share, p.max_violation_share, "<=", scale=0.01)
            f.update(violations=bad, checked=checked, examples=examples[:5])
            findings.append(f)
        for col in p.unique:
            cols = read(ctx, ds, [col])
            values = decoded(cols, col) if categories_of(cols, col) is not None else cols[col]
            nulls = _nulls(cols, col)
            if values.dtype.kind == "O":
                u = k.uniqueness(values[~nulls].astype(str))
            else:
                u = k.uniqueness(values, mask=nulls)
            f = _finding("unique", col, u.duplicate_rows, 0, "<=", scale=1.0)
            f.update(examples=[plain(v) for v in u.examples])
            findings.append(f)
        if p.freshness is not None:
            max_age = parse_duration(p.freshness.max_age)
            stamps = np.array([acc.newest] if acc.newest is not None else [], "datetime64[ns]")
            fr = k.freshness(stamps, ctx.now, max_age)
            age = fr.age_seconds
            f = _finding(
                "freshness",
                p.freshness.column,
                None if math.isnan(age) else age / 3600.0,
                max_age.total_seconds() / 3600.0,
                "<=",
            )
            f.update(newest=None if acc.newest is None else str(acc.newest), unit="hours")
            if math.isnan(age):
                f.update(ok=False, margin=-1.0)
            findings.append(f)
        return self._result(p, ctx, findings, acc.rows)

    def _all_columns(self, ctx: GateContext, p: DataQualityParams) -> list[str]:
        cols = read(ctx, p.dataset, [])
        names = list(schema_of(cols)) or list(cols)
        return names

    def _count(self, ctx: GateContext, p: DataQualityParams) -> tuple[int, dict[str, str]]:
        if isinstance(ctx.evidence, BatchReader):
            try:
                rows = ctx.evidence.dataset_rows(p.dataset)
            except KeyError:
                rows = None
            if rows is not None:
                cols = read(ctx, p.dataset, [])
                return rows, schema_of(cols) or {c: k.dtype_name(v) for c, v in cols.items()}
        cols = read(ctx, p.dataset, [])
        schema = schema_of(cols) or {c: k.dtype_name(v) for c, v in cols.items()}
        rows = int(getattr(cols, "num_rows", 0)) or (
            int(next(iter(cols.values())).shape[0]) if cols else 0
        )
        return rows, schema

    def _batch(
        self,
        cols: Mapping[str, NDArray[Any]],
        p: DataQualityParams,
        null_cols: list[str],
        acc: _Acc,
    ) -> None:
        n = int(getattr(cols, "num_rows", 0)) or (
            int(next(iter(cols.values())).shape[0]) if cols else 0
        )
        acc.rows += n
        acc.schema = acc.schema or schema_of(cols) or {c: k.dtype_name(v) for c, v in cols.items()}
        for col in null_cols:
            acc.nulls[col] = acc.nulls.get(col, 0) + int(np.count_nonzero(_nulls(cols, col)))
        for col, spec in p.ranges.items():
            x = numeric(cols, col, p.dataset)
            rv = k.range_violations(x, spec.min, spec.max)
            b = acc.range.setdefault(col, [0, 0, 0])
            b[0] += rv.below
            b[1] += rv.above
            b[2] += rv.checked
        for col, allowed in p.allowed_values.items():
            cats = categories_of(cols, col)
            if cats is not None:  # compare codes: the allowed labels' codes in this batch
                ok = set(allowed)
                codes = cols[col]
                allowed_codes = np.array([i for i, c in enumerate(cats) if c in ok], np.int64)
                av = k.allowed_set_violations(codes, allowed_codes, mask=codes < 0)
                examples = [cats[cast(int, e)] for e in av.examples]
            else:
                av = k.allowed_set_violations(cols[col], allowed, mask=null_mask_of(cols, col))
                examples = [plain(e) for e in av.examples]
            a = acc.allowed.setdefault(col, [0, 0, []])
            a[0] += av.count
            a[1] += av.checked
            a[2] += [e for e in examples if e not in a[2]]
        if p.freshness is not None:
            ts = np.asarray(cols[p.freshness.column])
            if ts.dtype.kind != "M":
                raise GateProblem(
                    f"freshness column '{p.freshness.column}' of dataset '{p.dataset}' is not a "
                    f"timestamp (dtype {ts.dtype})"
                )
            valid = ts[~np.isnat(ts)]
            acc.fresh_nulls += int(ts.shape[0] - valid.shape[0])
            if valid.size:
                newest = valid.max().astype("datetime64[ns]")
                acc.newest = newest if acc.newest is None or newest > acc.newest else acc.newest

    def _result(
        self, p: DataQualityParams, ctx: GateContext, findings: list[dict[str, Any]], rows: int
    ) -> Measurement:
        failed = [f for f in findings if not f["ok"]]
        ranked = sorted(findings, key=_closeness)
        worst = ranked[0]
        perfect = worst["ok"] and _closeness(worst) == math.inf
        shown = failed or ranked
        summary = [
            {
                "name": f["column"] or f["check"],
                "what": "column" if f["column"] else "check",
                "summary": f"{f['check']} {fmt(f['observed'])} {f['operator']} {fmt(f['limit'])}"
                + (" (fails)" if not f["ok"] else ""),
            }
            for f in shown[: p.show]
        ]
        where = f"{worst['check']}" + (f" of {worst['column']}" if worst["column"] else "")
        if failed:
            message = (
                f"{len(failed)} of {len(findings)} checks fail on '{p.dataset}' ({rows} rows); "
                f"worst: {where} = {fmt(worst['observed'])} violates "
                f"{worst['operator']} {fmt(worst['limit'])}"
            )
        else:
            message = (
                f"all {len(findings)} checks pass on '{p.dataset}' ({rows} rows); closest: "
                f"{where} = {fmt(worst['observed'])} {worst['operator']} {fmt(worst['limit'])}"
            )
        return Measurement(
            GateStatus.FAIL if failed else GateStatus.PASS,
            message,
            observed=worst["observed"],
            threshold=worst["limit"],
            operator=worst["operator"],
            margin=None if perfect else worst["margin"],
            scale=worst["scale"],
            details={
                "rows": rows,
                "checks": findings,
                "failed": len(failed),
                "decided_by": {"check": worst["check"], "column": worst["column"]},
                "interval": None,
                "worst": summary,
            },
            evidence=digests(ctx, p.dataset),
        )


def _closeness(f: dict[str, Any]) -> float:
    """Relative margin; a zero-tolerance check met exactly (0 of 0 allowed) is not 'close'."""
    if f["ok"] and f["limit"] == 0 and f["observed"] == 0:
        return math.inf
    return float(f["margin"]) / (f["scale"] or 1.0)


def _finding(
    check: str,
    column: str | None,
    observed: float | None,
    limit: float,
    op: str,
    *,
    scale: float | None = None,
) -> dict[str, Any]:
    if observed is None or (isinstance(observed, float) and math.isnan(observed)):
        margin = -1.0
        ok = False
    else:
        margin = float(observed - limit if op == ">=" else limit - observed)
        ok = margin >= 0
    return {
        "check": check,
        "column": column,
        "observed": plain(observed),
        "limit": limit,
        "operator": op,
        "margin": margin,
        "ok": ok,
        "scale": scale if scale is not None else (abs(limit) or 1.0),
    }
