"""``latency``: prediction latency percentiles (and cost per 1,000 predictions) within limits.

Two sources:

* ``benchmark:`` a JSON evidence file with the percentiles in milliseconds (``p50_ms``,
  ``p95_ms``, ``p99_ms``, optionally ``mean_ms`` and ``batch_size``; or the same keys without
  ``_ms`` under ``latency_ms``). Replayable: the decision depends only on the file's digest.
* ``allow_measure: true``: the artifact is **unpickled** (only after its bytes match the
  recorded sha256) and its ``predict_proba``/``predict`` is timed on rows of ``dataset``:
  ``warmup`` untimed calls, then ``repeats`` timed calls of ``batch_size`` rows each; p50/p95/p99
  are the linear-interpolation percentiles of the per-call times. Unpickling runs the
  artifact's code, so it is off unless the policy says so, and it happens only where the
  evidence reader offers it (the ``LatencyMeter`` capability): ``clearance check`` on local
  files. The registry and the server never unpickle an uploaded artifact; there the gate is an
  ``error`` that says to measure in CI and attach the benchmark. Measured times depend on the
  machine and its load, so such a decision is not bit-for-bit replayable (timings recorded).

This module judges numbers; the measuring (reading the artifact, unpickling it, the stopwatch)
is the reader's, in :mod:`clearance.adapters.latency`: core reads no clock.

Cost per 1,000 predictions = ``instance_price_per_hour / 3600 * mean seconds per row * 1000``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from pydantic import Field, model_validator

from clearance.core.column_roles import ColumnMapping
from clearance.core.gates._data import ColumnsField, digests, fmt, mapping, read, role
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

    Rows = NDArray[np.float64]
    Predict = Callable[[Rows], object]
else:
    np = lazy("numpy", "this gate")  # loads without the data extra; computing needs it

_PCTS = ("p50", "p95", "p99")


class CannotMeasure(Exception):
    """Why a ``LatencyMeter`` cannot measure the artifact; the gate reports it as its error."""


@runtime_checkable
class LatencyMeter(Protocol):
    """Optional reader capability (``allow_measure``): run the artifact and time it.

    Offered only where running the artifact's code is acceptable: local files in
    ``clearance check`` (:class:`clearance.adapters.evidence.FileEvidence`).
    """

    def load_predictor(self, sha256: str | None) -> Predict:
        """The artifact's ``predict_proba`` (else ``predict``), unpickled only when its bytes
        match ``sha256``, the digest recorded for it; ``CannotMeasure`` saying why not."""
        ...

    def time_calls(self, predict: Predict, warmup: Sequence[Rows], timed: Sequence[Rows]) -> Rows:
        """Call ``predict`` on each ``warmup`` batch untimed, then on each ``timed`` batch:
        the duration of each timed call, in milliseconds."""
        ...


class LatencyParams(GateParams):
    benchmark: str | None = Field(default=None, description="Benchmark JSON evidence.")
    allow_measure: bool = Field(
        default=False, description="Measure the artifact's predict (unpickles it: runs its code)."
    )
    dataset: str | None = Field(default=None, description="Rows to predict on when measuring.")
    columns: ColumnMapping | None = ColumnsField
    max_p50_ms: float | None = Field(default=None, gt=0)
    max_p95_ms: float | None = Field(default=None, gt=0)
    max_p99_ms: float | None = Field(default=None, gt=0)
    instance_price_per_hour: float | None = Field(default=None, gt=0)
    max_cost_per_1000: float | None = Field(default=None, gt=0)
    batch_size: int = Field(default=1, ge=1)
    warmup: int = Field(default=20, ge=0)
    repeats: int = Field(default=200, ge=10)
    sample_rows: int = Field(default=1000, ge=1)

    @model_validator(mode="after")
    def _mode(self) -> LatencyParams:
        if (self.benchmark is None) == (not self.allow_measure):
            raise ValueError(
                "give benchmark: (a benchmark file) or allow_measure: true (measures the "
                "artifact, which unpickles it), not both"
            )
        if self.allow_measure and self.dataset is None:
            raise ValueError("allow_measure needs dataset: (rows to predict on)")
        limits = (self.max_p50_ms, self.max_p95_ms, self.max_p99_ms, self.max_cost_per_1000)
        if all(v is None for v in limits):
            raise ValueError(
                "give at least one of max_p50_ms, max_p95_ms, max_p99_ms, max_cost_per_1000"
            )
        if self.max_cost_per_1000 is not None and self.instance_price_per_hour is None:
            raise ValueError("max_cost_per_1000 needs instance_price_per_hour")
        return self


def _from_benchmark(data: Any, name: str) -> dict[str, float]:
    if not isinstance(data, dict):
        raise GateProblem(f"benchmark '{name}' is not a JSON object")
    src = data.get("latency_ms") if isinstance(data.get("latency_ms"), dict) else None
    out: dict[str, float] = {}
    for key in (*_PCTS, "mean"):
        v = src.get(key) if src is not None else data.get(f"{key}_ms")
        if isinstance(v, int | float) and not isinstance(v, bool):
            out[key] = float(v)
    if "batch_size" in data:
        out["batch_size"] = float(data["batch_size"])
    return out


class Latency:
    name: ClassVar[str] = "latency"
    summary: ClassVar[str] = (
        "Prediction latency p50/p95/p99 (from a benchmark file, or measured on the artifact) "
        "and cost per 1,000 predictions within limits."
    )
    Params: ClassVar[type[GateParams]] = LatencyParams

    @reports_problems
    def evaluate(self, params: LatencyParams, ctx: GateContext) -> Measurement:
        if params.benchmark is not None:
            stats, source, used = (
                self._benchmark(params.benchmark, ctx),
                "benchmark",
                [params.benchmark],
            )
        else:
            assert params.dataset is not None
            stats, source, used = self._measure(params, ctx), "measured", [params.dataset]
        batch = stats.get("batch_size", float(params.batch_size))
        per_row_ms = stats.get("mean", stats.get("p50", math.nan)) / batch
        cost = None
        if params.instance_price_per_hour is not None:
            cost = params.instance_price_per_hour / 3600.0 * (per_row_ms / 1000.0) * 1000.0
        checks: list[tuple[str, float, float]] = []
        for pct in _PCTS:
            limit = getattr(params, f"max_{pct}_ms")
            if limit is None:
                continue
            if pct not in stats:
                raise GateProblem(
                    f"benchmark '{params.benchmark}' has no {pct}_ms",
                    [f"{params.benchmark}.{pct}_ms"],
                )
            checks.append((f"{pct}_ms", stats[pct], limit))
        if params.max_cost_per_1000 is not None:
            assert cost is not None
            checks.append(("cost_per_1000", cost, params.max_cost_per_1000))
        decided = min(checks, key=lambda c: (c[2] - c[1]) / c[2])
        what, observed, limit = decided
        failed = [c for c in checks if c[1] > c[2]]
        ok = not failed
        parts = ", ".join(f"{n} {fmt(v)} (≤ {fmt(lim)})" for n, v, lim in checks)
        message = f"{source}: {parts}; " + (
            f"{what} {'meets' if ok else 'violates'} <= {fmt(limit)}"
        )
        return Measurement(
            GateStatus.PASS if ok else GateStatus.FAIL,
            message,
            observed=observed,
            threshold=limit,
            operator="<=",
            margin=limit - observed,
            scale=limit,
            details={
                "source": source,
                "decided_by": {"statistic": what},
                "latency_ms": {k_: v for k_, v in stats.items() if k_ != "batch_size"},
                "batch_size": batch,
                "cost_per_1000": cost,
                "instance_price_per_hour": params.instance_price_per_hour,
                "interval": None,
                "checks": [{"statistic": n, "observed": v, "limit": lim} for n, v, lim in checks],
            },
            evidence=digests(ctx, *used),
        )

    def _benchmark(self, name: str, ctx: GateContext) -> dict[str, float]:
        if name not in ctx.version.evidence:
            raise GateProblem(f"needs benchmark evidence '{name}'", [f"evidence.{name}"])
        try:
            data = json.loads(ctx.evidence.read_bytes(name))
        except KeyError:
            raise GateProblem(f"benchmark '{name}' has no readable content here") from None
        except (OSError, ValueError) as exc:
            raise GateProblem(f"cannot read benchmark '{name}': {exc}") from None
        return _from_benchmark(data, name)

    def _measure(self, params: LatencyParams, ctx: GateContext) -> dict[str, float]:
        assert params.dataset is not None
        meter = ctx.evidence
        if not isinstance(meter, LatencyMeter):
            raise GateProblem(
                "measuring latency would unpickle the artifact (run its code), which the "
                "registry and the server never do; measure in CI and attach the figures as "
                "benchmark evidence (gate parameter `benchmark:` instead of `allow_measure`)"
            )
        recorded = ctx.version.artifact.sha256 if ctx.version.artifact else None
        try:
            predict = meter.load_predictor(recorded)
        except CannotMeasure as exc:
            raise GateProblem(str(exc)) from None
        cm = mapping(ctx, params.dataset, params.columns)
        feats = cm.features or [role(cm, "features", params.dataset)]
        cols = read(ctx, params.dataset, feats)
        # text columns arrive as integer category codes and are passed as numbers
        x = np.column_stack([np.asarray(cols[f], dtype=np.float64) for f in feats])
        x = x[: params.sample_rows]
        n = x.shape[0]
        b = params.batch_size

        def batch(i: int) -> Rows:
            start = (i * b) % max(n - b + 1, 1)
            return x[start : start + b]

        warmup = [batch(i) for i in range(params.warmup)]
        timed = [batch(params.warmup + i) for i in range(params.repeats)]
        times = meter.time_calls(predict, warmup, timed)
        p50, p95, p99 = np.percentile(times, [50, 95, 99])
        return {
            "p50": float(p50),
            "p95": float(p95),
            "p99": float(p99),
            "mean": float(times.mean()),
            "batch_size": float(b),
            "calls": float(params.repeats),
        }
