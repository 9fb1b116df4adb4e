"""``fairness``: a group-fairness disparity of the model's decisions lies within min/max.

Per group of ``sensitive_feature``: confusion counts (TN, FP, FN, TP) from one aggregation
pass (the kernels' ``group_metrics``), summed over record batches when the reader streams;
then selection rate, TPR, FPR with Wilson intervals, and the disparity the policy names,
computed by the kernels exactly as fairlearn defines it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, model_validator

from clearance import kernels as k
from clearance.core.columns import BatchReader, categories_of
from clearance.core.gates._data import (
    DatasetParams,
    aggregator,
    binary,
    complete,
    digests,
    fmt,
    mapping,
    numeric,
    plain,
    pushed,
    read,
    require_dataset,
    role,
)
from clearance.core.gates.base import (
    GateContext,
    GateParams,
    GateProblem,
    Measurement,
    check_bound,
    reports_problems,
)
from clearance.extras import lazy

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray
else:
    np = lazy("numpy", "this gate")  # loads without the data extra; computing needs it

FairnessMetric = Literal[
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "selection_rate_ratio",
    "equalized_odds_difference",
    "equal_opportunity_difference",
]
_RATE_CI = {"selection_rate": "selection_rate_ci", "tpr": "tpr_ci", "fpr": "fpr_ci"}


class FairnessParams(DatasetParams):
    metric: FairnessMetric
    sensitive_feature: str | None = Field(
        default=None, description="Column defining the groups (default: the first mapped one)."
    )
    min: float | None = None
    max: float | None = None
    min_group_size: int = Field(default=30, ge=1)
    small_groups: Literal["exclude", "error"] = "exclude"
    method: Literal["between_groups", "to_overall"] = "between_groups"
    threshold: float = Field(default=0.5, description="Decision threshold: score >= threshold.")
    confidence: float = Field(default=0.95, gt=0, lt=1, description="For Wilson intervals.")
    batch_rows: int = Field(default=1_000_000, ge=1, description="Rows per streamed batch.")

    # For `policy diff`: a larger minimum group leaves more small groups unjudged (a loosening),
    # although its name reads like a floor.
    strictness: ClassVar[dict[str, str]] = {"min_group_size": "ceiling"}

    @model_validator(mode="after")
    def _a_bound(self) -> FairnessParams:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        return self


def _batches(
    ctx: GateContext, dataset: str, columns: list[str], batch_rows: int
) -> Iterable[Mapping[str, NDArray[Any]]]:
    if isinstance(ctx.evidence, BatchReader):
        require_dataset(ctx, dataset)
        try:
            yield from ctx.evidence.read_batches(dataset, columns, batch_rows)
            return
        except KeyError:
            pass  # no streamable content here: the plain read names the problem
        except ValueError as exc:
            raise GateProblem(str(exc), [f"evidence.{dataset}"]) from None
    yield read(ctx, dataset, columns)


def group_counts(
    batches: Iterable[Mapping[str, NDArray[Any]]],
    dataset: str,
    label: str,
    decide: tuple[str, str],
    group: str,
    threshold: float,
) -> tuple[dict[Any, NDArray[np.int64]], int, int]:
    """label -> [TN, FP, FN, TP] summed over batches; (counts, rows, dropped rows)."""
    totals: dict[Any, NDArray[np.int64]] = {}
    rows = dropped = 0
    kind, column = decide
    for cols in batches:
        y = numeric(cols, label, dataset)
        d = numeric(cols, column, dataset)
        g = cols[group]
        cats = categories_of(cols, group)
        if cats is not None:
            g_ok = g >= 0
            labels: list[Any] = list(cats)
            codes = g
        else:
            gv = np.asarray(g)
            g_ok = ~np.isnan(gv) if gv.dtype.kind == "f" else np.ones(gv.shape[0], dtype=bool)
            mask = getattr(cols, "nulls", {}).get(group)
            if mask is not None:
                g_ok &= ~mask
            uniq, codes = np.unique(gv[g_ok], return_inverse=True)
            labels = [plain(v) for v in uniq]
            full = np.full(gv.shape[0], -1, np.int64)
            full[g_ok] = codes
            codes = full
        ok = complete(y, d) & g_ok
        rows += int(ok.shape[0])
        dropped += int(ok.shape[0] - np.count_nonzero(ok))
        if not ok.any():
            continue
        yt = binary(y[ok], label, dataset)
        yp = d[ok] >= threshold if kind == "score" else binary(d[ok], column, dataset)
        gm = k.group_metrics(yt, yp, codes[ok], n_groups=len(labels))
        cells = np.stack(
            [
                gm.negatives - gm.false_positive,
                gm.false_positive,
                gm.positives - gm.true_positive,
                gm.true_positive,
            ],
            axis=1,
        ).astype(np.int64)
        for i, lab in enumerate(labels):
            if cells[i].any():
                totals[lab] = totals.get(lab, np.zeros(4, np.int64)) + cells[i]
    return totals, rows, dropped


MAX_GROUPS = 10_000  # groups of a sensitive feature on the pushdown route


def pushed_group_counts(
    engine: Any, dataset: str, label: str, decide: tuple[str, str], group: str | None,
    threshold: float,
) -> tuple[dict[Any, NDArray[np.int64]], int, int]:  # fmt: skip
    """:func:`group_counts` from the engine's ``GROUP BY group, label, decision`` counts
    (ADR 0009): the same counts, rows and dropped rows, only the counts come back."""
    kind, column = decide
    rows_back = pushed(
        dataset, "group counts", engine.confusion_rows, group, label, column,
        threshold if kind == "score" else None, 4 * MAX_GROUPS,
    )  # fmt: skip
    if rows_back is None:
        raise GateProblem(f"'{group}' of dataset '{dataset}' has over {MAX_GROUPS:,} groups")
    totals: dict[Any, NDArray[np.int64]] = {}
    rows = dropped = 0
    for g, y, d, n in rows_back:
        rows += int(n)
        if _missing(g) or y is None or d is None:
            dropped += int(n)
            continue
        for value, name in ((y, label), (d, column)):
            if value not in (0, 1):
                raise GateProblem(
                    f"column '{name}' of dataset '{dataset}' must be 0/1 for this metric "
                    f"(found {value:g})"
                )
        cell = totals.setdefault(g, np.zeros(4, np.int64))
        cell[2 * int(y) + int(d)] += int(n)  # [TN, FP, FN, TP]
    return {g: c for g, c in totals.items() if c.any()}, rows, dropped


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def from_counts(counts: Mapping[Any, NDArray[np.int64]], confidence: float) -> k.GroupMetrics:
    """A ``GroupMetrics`` from per-group [TN, FP, FN, TP] (groups sorted by label)."""
    labels = sorted(counts, key=lambda v: (str(type(v)), v))
    cells = np.array([counts[lab] for lab in labels], dtype=np.int64).reshape(-1, 4)
    tn, fp, fn, tp = cells[:, 0], cells[:, 1], cells[:, 2], cells[:, 3]
    count = tn + fp + fn + tp
    pos, neg, pp = tp + fn, tn + fp, tp + fp

    def rate(num: NDArray[np.int64], den: NDArray[np.int64]) -> NDArray[np.float64]:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(den > 0, num / np.maximum(den, 1), np.nan)

    return k.GroupMetrics(
        labels=np.array(labels, dtype=object),
        count=count,
        positives=pos,
        negatives=neg,
        predicted_positive=pp,
        true_positive=tp,
        false_positive=fp,
        selection_rate=rate(pp, count),
        tpr=rate(tp, pos),
        fpr=rate(fp, neg),
        precision=rate(tp, pp),
        confidence=confidence,
        selection_rate_ci=k.wilson_interval(pp, count, confidence),
        tpr_ci=k.wilson_interval(tp, pos, confidence),
        fpr_ci=k.wilson_interval(fp, neg, confidence),
        precision_ci=k.wilson_interval(tp, pp, confidence),
    )


def disparity(gm: k.GroupMetrics, metric: str, method: Any) -> k.Disparity:
    if metric == "demographic_parity_difference":
        return k.demographic_parity_difference(gm, method=method)
    if metric in ("demographic_parity_ratio", "selection_rate_ratio"):
        return k.demographic_parity_ratio(gm, method=method)
    if metric == "equalized_odds_difference":
        return k.equalized_odds_difference(gm, method=method, undefined="exclude")
    return k.equal_opportunity_difference(gm, method=method, undefined="exclude")


def _group_table(gm: k.GroupMetrics) -> list[dict[str, Any]]:
    out = []
    for i, lab in enumerate(gm.labels):
        out.append(
            {
                "group": plain(lab),
                "rows": int(gm.count[i]),
                "positives": int(gm.positives[i]),
                "selection_rate": plain(gm.selection_rate[i]),
                "selection_rate_ci": [
                    plain(gm.selection_rate_ci[0][i]),
                    plain(gm.selection_rate_ci[1][i]),
                ],
                "tpr": plain(gm.tpr[i]),
                "fpr": plain(gm.fpr[i]),
                "precision": plain(gm.precision[i]),
            }
        )
    return out


def _interval(gm: k.GroupMetrics, d: k.Disparity) -> list[float | None] | None:
    """Conservative bounds from the deciding groups' Wilson intervals (no multiplicity fix)."""
    if d.group_low is None or d.rate not in _RATE_CI:
        return None
    lows, highs = getattr(gm, _RATE_CI[d.rate])
    index = {plain(lab): i for i, lab in enumerate(gm.labels)}
    lo = index.get(plain(d.group_low))
    if d.group_high is None or lo is None:
        return None
    hi = index[plain(d.group_high)]
    if d.kind == "difference":
        return [plain(max(0.0, lows[hi] - highs[lo])), plain(highs[hi] - lows[lo])]
    with np.errstate(divide="ignore", invalid="ignore"):
        a = lows[lo] / highs[hi] if highs[hi] > 0 else math.nan
        b = min(1.0, highs[lo] / lows[hi]) if lows[hi] > 0 else 1.0
    return [plain(a), plain(b)]


class Fairness:
    name: ClassVar[str] = "fairness"
    summary: ClassVar[str] = (
        "A group-fairness disparity (demographic parity, equalized odds, equal opportunity) "
        "is within min/max."
    )
    Params: ClassVar[type[GateParams]] = FairnessParams

    @reports_problems
    def evaluate(self, params: FairnessParams, ctx: GateContext) -> Measurement:
        ds = params.dataset
        cm = mapping(ctx, ds, params.columns)
        label = role(cm, "label", ds)
        if params.sensitive_feature is not None:
            group = params.sensitive_feature
        elif cm.sensitive_features:
            group = cm.sensitive_features[0]
        else:
            group = role(cm, "sensitive_features", ds)
        decide = (
            ("prediction", cm.prediction) if cm.prediction else ("score", role(cm, "score", ds))
        )
        columns = list(dict.fromkeys([label, decide[1], group]))
        engine = aggregator(ctx, ds)
        if engine is not None:
            counts, rows, dropped = pushed_group_counts(
                engine, ds, label, decide, group, params.threshold
            )
        else:
            counts, rows, dropped = group_counts(
                _batches(ctx, ds, columns, params.batch_rows),
                ds,
                label,
                decide,
                group,
                params.threshold,
            )
        small = {g: int(c.sum()) for g, c in counts.items() if c.sum() < params.min_group_size}
        if small and params.small_groups == "error":
            raise GateProblem(
                f"groups of '{group}' smaller than min_group_size {params.min_group_size}: "
                + ", ".join(f"{g} ({n} rows)" for g, n in small.items())
            )
        kept = {g: c for g, c in counts.items() if g not in small}
        if len(kept) < 2:
            raise GateProblem(
                f"'{group}' has {len(kept)} group(s) with at least {params.min_group_size} rows; "
                "a disparity needs two"
            )
        gm = from_counts(kept, params.confidence)
        d = disparity(gm, params.metric, params.method)
        if math.isnan(d.value):
            raise GateProblem(f"{params.metric} is undefined on these groups (a rate is 0/0)")
        m = check_bound(d.value, min=params.min, max=params.max, what=params.metric)
        decided = [g for g in (d.group_low, d.group_high) if g is not None]
        worst = [
            {
                "name": plain(g),
                "what": "group",
                "summary": f"{d.rate} {fmt(r)}"
                + (f" (overall {fmt(d.rate_high)})" if d.group_high is None else ""),
            }
            for g, r in ((d.group_low, d.rate_low), (d.group_high, d.rate_high))
            if g is not None
        ]
        details: dict[str, Any] = {
            "metric": params.metric,
            "sensitive_feature": group,
            "method": params.method,
            "rate": d.rate,
            "decided_by": {"groups": [plain(g) for g in decided], "rate": d.rate},
            "interval": _interval(gm, d),
            "interval_method": "Wilson bounds of the deciding groups (conservative)",
            "groups": _group_table(gm),
            "excluded_groups": [{"group": plain(g), "rows": n} for g, n in small.items()],
            "rows": rows,
            "dropped_rows": dropped,
            "worst": worst,
        }
        who = " vs ".join(str(plain(g)) for g in decided)
        return Measurement(
            m.status,
            f"{m.message} ({group}: {who}; {d.rate} {fmt(d.rate_low)} vs {fmt(d.rate_high)})",
            observed=d.value,
            threshold=m.threshold,
            operator=m.operator,
            margin=m.margin,
            scale=m.scale,
            details=details,
            evidence=digests(ctx, ds),
        )
