"""``drift``: the current dataset's feature distributions against the reference (training) one.

Per numeric column (one sort of each sample, the kernels' ``column_drifts``, the columns
spread over the CPUs): exact two-sample KS statistic and p-value, PSI on reference-quantile
bins, Wasserstein-1. Per categorical
column (text/dictionary columns, or those listed in ``categorical``; ``categorical_drift``):
Pearson chi-square p-value and Jensen-Shannon distance. A column is *drifted* when any
configured statistic crosses its threshold; the gate fails when the share of drifted columns
exceeds ``max_drifted_share``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from clearance import kernels as k
from clearance.core.column_roles import ColumnMapping
from clearance.core.columns import categories_of, decoded
from clearance.core.gates._data import (
    ColumnsField,
    digests,
    fmt,
    mapping,
    numeric,
    paired_aggregators,
    plain,
    pushed,
    read,
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
else:
    np = lazy("numpy", "this gate")  # loads without the data extra; computing needs it


class DriftParams(GateParams):
    reference: str = Field(description="Reference (training) dataset evidence.")
    current: str = Field(description="Current (evaluation/production) dataset evidence.")
    features: list[str] | None = Field(
        default=None, description="Columns to compare (default: the mapped `features`)."
    )
    categorical: list[str] = Field(
        default_factory=list, description="Integer-coded columns to treat as categorical."
    )
    columns: ColumnMapping | None = ColumnsField
    ks_pvalue_min: float | None = Field(default=None, ge=0, le=1)
    psi_max: float | None = Field(default=None, ge=0)
    wasserstein_max: float | None = Field(default=None, ge=0)
    chi2_pvalue_min: float | None = Field(default=None, ge=0, le=1)
    js_max: float | None = Field(default=None, ge=0, le=1)
    p_adjust: str = Field(default="none", pattern="^(none|holm)$")
    max_drifted_share: float = Field(default=0.0, ge=0, le=1)
    bins: int = Field(default=10, ge=2, le=1000)
    show: int = Field(default=5, ge=1, description="Worst columns listed in the result.")


def _features(params: DriftParams, ctx: GateContext) -> list[str]:
    if params.features:
        return list(params.features)
    ref = mapping(ctx, params.reference, params.columns)
    cur = mapping(ctx, params.current, params.columns)
    cols = cur.features or ref.features
    if not cols:
        raise GateProblem(
            "needs the feature columns to compare: give `features: [...]` or map "
            f"`columns: {{features: [...]}}` on '{params.current}' or '{params.reference}'",
            [f"evidence.{params.current}.columns.features"],
        )
    return list(cols)


class Drift:
    name: ClassVar[str] = "drift"
    summary: ClassVar[str] = (
        "Per-column drift (KS, PSI, Wasserstein, chi-square, Jensen-Shannon) of the current "
        "dataset against the reference; at most `max_drifted_share` of columns drifted."
    )
    Params: ClassVar[type[GateParams]] = DriftParams

    @reports_problems
    def evaluate(self, params: DriftParams, ctx: GateContext) -> Measurement:
        thresholds = {
            "ks_pvalue_min": params.ks_pvalue_min,
            "psi_max": params.psi_max,
            "wasserstein_max": params.wasserstein_max,
            "chi2_pvalue_min": params.chi2_pvalue_min,
            "js_max": params.js_max,
        }
        if all(v is None for v in thresholds.values()):
            thresholds["ks_pvalue_min"] = 0.01
            thresholds["psi_max"] = 0.2
            thresholds["chi2_pvalue_min"] = 0.01
        feats = _features(params, ctx)
        engines = paired_aggregators(ctx, params.reference, params.current)
        if engines[0] is not None or engines[1] is not None:
            rows = _pushed_rows(feats, engines, params)
        else:
            ref = read(ctx, params.reference, feats)
            cur = read(ctx, params.current, feats)
            numeric_drift = _numeric_drifts(
                [c for c in feats if not _categorical(c, ref, cur, params)], ref, cur, params
            )
            rows = [self._column(col, ref, cur, numeric_drift.get(col)) for col in feats]
        if params.p_adjust == "holm":
            ps = np.array([r["p_value"] if r["p_value"] is not None else 1.0 for r in rows])
            for r, adj in zip(rows, k.holm(ps), strict=True):
                r["p_value_raw"], r["p_value"] = r["p_value"], float(adj)
        for r in rows:
            r["drifted_by"] = _crossed(r, thresholds)
            r["drifted"] = bool(r["drifted_by"])
            r["severity"] = _severity(r, thresholds)
        drifted = [r for r in rows if r["drifted"]]
        share = len(drifted) / len(rows)
        ordered = sorted(rows, key=lambda r: -r["severity"])
        worst = [
            {"name": r["column"], "what": "column", "summary": _summary(r)}
            for r in ordered[: params.show]
        ]
        limit = params.max_drifted_share
        margin = limit - share
        ok = margin >= 0
        top = ordered[0]
        message = (
            f"{len(drifted)} of {len(rows)} columns drifted ({share:.0%}) "
            f"{'meets' if ok else 'violates'} <= {limit:.0%}; worst: {top['column']} "
            f"({_summary(top)})"
        )
        return Measurement(
            GateStatus.PASS if ok else GateStatus.FAIL,
            message,
            observed=share,
            threshold=limit,
            operator="<=",
            margin=margin,
            scale=1.0,
            details={
                "drifted_columns": [r["column"] for r in drifted],
                "decided_by": {"column": top["column"]},
                "thresholds": {k_: v for k_, v in thresholds.items() if v is not None},
                "p_adjust": params.p_adjust,
                "interval": None,
                "columns": rows,
                "worst": worst,
            },
            evidence=digests(ctx, params.reference, params.current),
        )

    def _column(
        self,
        col: str,
        ref: Any,
        cur: Any,
        computed: k.ColumnDrift | ValueError | GateProblem | None,
    ) -> dict[str, Any]:
        """One column's row: a numeric column's drift as computed (or its problem raised),
        a categorical column's (``computed`` None) counted here."""
        if isinstance(computed, GateProblem):
            raise computed
        if isinstance(computed, ValueError):
            raise GateProblem(f"drift of column '{col}': {computed}") from None
        if computed is not None:
            return _numeric_row(col, computed)
        try:
            joint = _joint_counts(ref, cur, col)
            if joint is not None:
                cd = k.categorical_drift_counts(
                    joint[0], joint[1], null_reference=joint[2], null_current=joint[3]
                )
            else:
                cd = k.categorical_drift(_labels(ref, col), _labels(cur, col))
        except ValueError as exc:
            raise GateProblem(f"drift of column '{col}': {exc}") from None
        return _categorical_row(col, cd)


def _numeric_row(col: str, computed: k.ColumnDrift) -> dict[str, Any]:
    return {
        "column": col,
        "kind": "numeric",
        "p_value": plain(computed.ks.pvalue),
        "ks": plain(computed.ks.statistic),
        "ks_method": computed.ks.method,
        "psi": plain(computed.psi.value),
        "wasserstein": plain(computed.wasserstein),
        "nulls": [computed.null_reference, computed.null_current],
    }


def _categorical_row(col: str, cd: k.CategoricalDrift) -> dict[str, Any]:
    return {
        "column": col,
        "kind": "categorical",
        "p_value": plain(cd.chi_square.pvalue),
        "chi2": plain(cd.chi_square.statistic),
        "js": plain(cd.jensen_shannon.distance),
        "categories": len(cd.categories),
        "nulls": [cd.null_reference, cd.null_current],
    }


MAX_CATEGORIES = 100_000  # distinct values of a categorical column on the pushdown route


def _pushed_rows(
    feats: list[str], engines: tuple[Any, Any], params: DriftParams
) -> list[dict[str, Any]]:
    """The columns' rows from summaries computed by the datasets' engines (ADR 0009): only
    counts and bounded histograms come back. Both datasets must name an engine."""
    from clearance.kernels import summaries

    ref, cur = engines
    if ref is None or cur is None:
        memory = params.reference if ref is None else params.current
        raise GateProblem(
            f"dataset '{memory}' is read in memory and the other one by an engine: give "
            f"'{memory}' a `source:` too, or make it a Parquet file DuckDB can read (drift "
            "compares two summaries of the same kind)",
            [f"evidence.{memory}"],
        )
    rows = []
    for col in feats:
        pr = pushed(params.reference, f"column '{col}'", ref.profile, col)
        pc = pushed(params.current, f"column '{col}'", cur.profile, col)
        if col in params.categorical or "text" in (pr.kind, pc.kind):
            rows.append(_pushed_categorical(col, ref, cur, params))
            continue
        for p, name in ((pr, params.reference), (pc, params.current)):
            if p.kind != "numeric":
                raise GateProblem(
                    f"column '{col}' of dataset '{name}' is not numeric (type {p.type_name})"
                )
        sd = pushed(
            None, f"drift of column '{col}'", summaries.pushed_numeric_drift,
            ref, cur, col, bins=params.bins,
        )  # fmt: skip
        row = _numeric_row(col, sd.drift)
        if sd.ks_error > 0:
            # the statistic is bounded, not exact: report the bounds, judge by the worst case
            d_hi = sd.drift.ks.statistic + sd.ks_error
            row["ks_bounds"] = [plain(sd.drift.ks.statistic), plain(d_hi)]
            row["p_value"] = plain(_ks_p(sd.drift.ks, d_hi))
        if sd.wasserstein_error > 0:
            row["wasserstein_error"] = plain(sd.wasserstein_error)
        rows.append(row)
    return rows


def _ks_p(ks: k.KSResult, d: float) -> float:
    big, small = max(ks.n_reference, ks.n_current), min(ks.n_reference, ks.n_current)
    return min(1.0, max(0.0, k.kolmogorov_sf(round(big * small / (big + small)), d)))


def _pushed_categorical(col: str, ref: Any, cur: Any, params: DriftParams) -> dict[str, Any]:
    from clearance.kernels import summaries

    got = []
    for engine, name in ((ref, params.reference), (cur, params.current)):
        counts = pushed(name, f"column '{col}'", engine.category_counts, col, MAX_CATEGORIES)
        if counts is None:
            raise GateProblem(
                f"column '{col}' of dataset '{name}' has more than {MAX_CATEGORIES:,} "
                "categories: compare it as a numeric column"
            )
        got.append(counts)
    (rc, rn), (cc, cn) = got
    _, r, c = summaries.joint_category_counts(rc, cc)
    try:
        cd = k.categorical_drift_counts(r, c, null_reference=rn, null_current=cn)
    except ValueError as exc:
        raise GateProblem(f"drift of column '{col}': {exc}") from None
    return _categorical_row(col, cd)


def _categorical(col: str, ref: Any, cur: Any, params: DriftParams) -> bool:
    return col in params.categorical or (
        categories_of(ref, col) is not None or categories_of(cur, col) is not None
    )


def _numeric_drifts(
    cols: list[str], ref: Any, cur: Any, params: DriftParams
) -> dict[str, k.ColumnDrift | ValueError | GateProblem]:
    """Each numeric column's drift, computed together (``column_drifts``: the columns spread
    over the CPUs); a column that cannot be compared maps to its problem, which the gate
    raises when it reaches that column, so the first in feature order is the one reported."""
    out: dict[str, k.ColumnDrift | ValueError | GateProblem] = {}
    pairs, names = [], []
    for col in cols:
        try:
            pairs.append((numeric(ref, col, params.reference), numeric(cur, col, params.current)))
            names.append(col)
        except GateProblem as exc:
            out[col] = exc
    out.update(zip(names, k.column_drifts(pairs, bins=params.bins), strict=True))
    return out


def _joint_counts(ref: Any, cur: Any, col: str) -> tuple[Any, Any, int, int] | None:
    """Both samples' category counts over one shared vocabulary, and their null counts: one
    ``bincount`` of each sample's codes (-1 = null), re-indexed by category, not per row."""
    rc, cc = categories_of(ref, col), categories_of(cur, col)
    if rc is None or cc is None:
        return None
    vocab = sorted(set(rc) | set(cc), key=str)
    index = {v: i for i, v in enumerate(vocab)}

    def counts(codes: Any, cats: list[Any]) -> tuple[Any, int]:
        per_code = np.bincount(np.asarray(codes) + 1, minlength=len(cats) + 1)
        joint = np.zeros(len(vocab), np.int64)
        joint[[index[v] for v in cats]] = per_code[1:]
        return joint, int(per_code[0])

    (r, rn), (c, cn) = counts(ref[col], rc), counts(cur[col], cc)
    return r, c, rn, cn


def _labels(cols: Any, col: str) -> Any:
    """Category labels (as strings, null as None) so both samples share one vocabulary."""
    values = decoded(cols, col)
    if values.dtype.kind == "O":
        return values
    mask = getattr(cols, "nulls", {}).get(col)
    out = values.astype(object)
    if values.dtype.kind == "f":
        out[np.isnan(values)] = None
    if mask is not None:
        out[mask] = None
    return out


def _crossed(r: dict[str, Any], t: dict[str, float | None]) -> list[str]:
    crossed: list[str] = []
    p = r.get("p_value")
    if r["kind"] == "numeric":
        if t["ks_pvalue_min"] is not None and p is not None and p < t["ks_pvalue_min"]:
            crossed.append("ks")
        if t["psi_max"] is not None and (r.get("psi") or 0.0) > t["psi_max"]:
            crossed.append("psi")
        wmax = t["wasserstein_max"]
        # the sketch route's W is bounded (± wasserstein_error): judged by the worst case
        worst_w = (r.get("wasserstein") or 0.0) + (r.get("wasserstein_error") or 0.0)
        if wmax is not None and worst_w > wmax:
            crossed.append("wasserstein")
    else:
        if t["chi2_pvalue_min"] is not None and p is not None and p < t["chi2_pvalue_min"]:
            crossed.append("chi2")
        if t["js_max"] is not None and (r.get("js") or 0.0) > t["js_max"]:
            crossed.append("js")
    return crossed


def _severity(r: dict[str, Any], t: dict[str, float | None]) -> float:
    """How far past (>1) or short of (<1) its thresholds a column is; orders the worst first."""
    ratios = [0.0]
    p = r.get("p_value")
    pmin = t["ks_pvalue_min"] if r["kind"] == "numeric" else t["chi2_pvalue_min"]
    if pmin and p is not None:
        ratios.append(math.log10(max(p, 1e-300)) / math.log10(pmin) if pmin < 1 else 0.0)
    for key, limit in (
        ("psi", t["psi_max"]),
        ("wasserstein", t["wasserstein_max"]),
        ("js", t["js_max"]),
    ):
        if limit and r.get(key) is not None:
            ratios.append(r[key] / limit)
    return max(ratios)


def _summary(r: dict[str, Any]) -> str:
    flag = "drifted" if r.get("drifted") else "ok"
    if r["kind"] == "numeric":
        return (
            f"{flag}: KS {fmt(r.get('ks'))} p={fmt(r.get('p_value'))}, PSI {fmt(r.get('psi'))}, "
            f"W {fmt(r.get('wasserstein'))}"
        )
    return f"{flag}: chi2 p={fmt(r.get('p_value'))}, JS {fmt(r.get('js'))}"
