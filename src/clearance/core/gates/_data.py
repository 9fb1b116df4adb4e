"""Shared plumbing of the gates that compute from datasets (performance, fairness, drift, ...).

Finding the dataset evidence, resolving column roles (gate ``columns:`` over the manifest
entry's ``columns:``), reading only the needed columns through the ``EvidenceReader`` port,
raising every problem as a ``GateProblem`` that names the dataset and the column (the gate's
``reports_problems`` returns it as the ``error`` result), and the small statistics glue
(one-sided p-values, the ``hypothesis`` record the engine's Holm step reads).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

from pydantic import Field

from clearance.core.column_roles import ColumnMapping
from clearance.core.columns import categories_of, null_mask_of
from clearance.core.gates.base import GateContext, GateParams, GateProblem
from clearance.extras import MissingExtra, lazy

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray
else:
    np = lazy("numpy", "this gate")  # loads without the data extra; computing needs it

ColumnsField = Field(
    default=None,
    description="Column roles for this gate; each role given here overrides the manifest's.",
)


class DatasetParams(GateParams):
    """Parameters shared by gates that read one dataset."""

    dataset: str = Field(description="Name of the dataset evidence (Parquet, CSV, Arrow IPC).")
    columns: ColumnMapping | None = ColumnsField


def require_dataset(ctx: GateContext, name: str) -> ColumnMapping:
    """The dataset's manifest column mapping; a GateProblem when the evidence is absent."""
    item = ctx.version.evidence.get(name)
    if item is None:
        known = ", ".join(sorted(ctx.version.evidence)) or "none"
        raise GateProblem(
            f"needs dataset evidence '{name}' (attached evidence: {known})", [f"evidence.{name}"]
        )
    return item.columns or ColumnMapping()


def mapping(ctx: GateContext, name: str, override: ColumnMapping | None) -> ColumnMapping:
    return require_dataset(ctx, name).merged(override)


def role(cm: ColumnMapping, name: str, dataset: str) -> str:
    value = getattr(cm, name)
    if not value:
        raise GateProblem(
            f"needs the '{name}' column of dataset '{dataset}': map it with "
            f"`columns: {{{name}: ...}}` in the gate or in the manifest's evidence entry",
            [f"evidence.{dataset}.columns.{name}"],
        )
    return str(value)


def read(ctx: GateContext, dataset: str, columns: Sequence[str]) -> Mapping[str, NDArray[Any]]:
    """Read only ``columns`` of ``dataset``; every failure becomes a GateProblem naming it."""
    require_dataset(ctx, dataset)
    wanted = list(dict.fromkeys(columns))
    try:
        return ctx.evidence.read_columns(dataset, wanted)
    except KeyError:
        raise GateProblem(
            f"dataset '{dataset}' has no readable content here (referenced by URI only?); "
            "attach the file",
            [f"evidence.{dataset}"],
        ) from None
    except ValueError as exc:
        missing = [c for c in wanted if f"'{c}'" in str(exc)]
        raise GateProblem(
            str(exc), [f"evidence.{dataset}.{c}" for c in missing] or [f"evidence.{dataset}"]
        ) from None
    except OSError as exc:
        raise GateProblem(f"cannot read dataset '{dataset}': {exc}") from None


def aggregator(ctx: GateContext, dataset: str) -> Any | None:
    """The engine that summarises ``dataset`` where it lives (a ``source:`` in the manifest,
    ``clearance.adapters.warehouse``), or None: the dataset is read in memory. The engine
    implements :class:`clearance.kernels.summaries.Aggregator`; opening it can fail (a
    missing extra, a missing file), which is a GateProblem naming the dataset."""
    require_dataset(ctx, dataset)
    open_engine = getattr(ctx.evidence, "aggregator", None)
    if open_engine is None:
        return None
    try:
        return open_engine(dataset)
    except (ValueError, OSError) as exc:
        raise GateProblem(f"dataset '{dataset}': {exc}", [f"evidence.{dataset}"]) from None


def paired_aggregators(ctx: GateContext, first: str, second: str) -> tuple[Any, Any]:
    """Engines for two datasets compared by their summaries (drift): when only one names an
    engine, the other, a local Parquet file, is summarised by DuckDB too, if the reader can
    (``file_aggregator``); otherwise it stays None and the gate says which to give a source."""
    engines = [aggregator(ctx, first), aggregator(ctx, second)]
    if (engines[0] is None) != (engines[1] is None):
        from_file = getattr(ctx.evidence, "file_aggregator", None)
        i = 0 if engines[0] is None else 1
        if from_file is not None:
            try:
                engines[i] = from_file((first, second)[i])
            except (ValueError, OSError) as exc:
                name = (first, second)[i]
                raise GateProblem(f"dataset '{name}': {exc}", [f"evidence.{name}"]) from None
    return engines[0], engines[1]


def pushed(dataset: str | None, what: str, call: Any, *args: Any, **kwargs: Any) -> Any:
    """``call(*args, **kwargs)`` on an engine; an engine's refusal (a bad column, a failed
    query, a statistic that is undefined) becomes a GateProblem saying ``what`` (and of which
    dataset, when one is given)."""
    where = "" if dataset is None else f" of dataset '{dataset}'"
    missing = [] if dataset is None else [f"evidence.{dataset}"]
    try:
        return call(*args, **kwargs)
    except (GateProblem, MissingExtra):
        raise
    except (ValueError, OSError) as exc:
        raise GateProblem(f"{what}{where}: {exc}", missing) from None
    except Exception as exc:  # an engine's own error type (duckdb.Error, a Py4J error, ...)
        text = str(exc).strip()
        first = text.splitlines()[0][:300] if text else type(exc).__name__
        raise GateProblem(f"{what}{where} failed in its engine: {first}", missing) from None


def digests(ctx: GateContext, *names: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for n in names:
        item = ctx.version.evidence.get(n)
        if item is not None and item.sha256:
            out[n] = item.sha256
    return out


def numeric(cols: Mapping[str, NDArray[Any]], name: str, dataset: str) -> NDArray[np.float64]:
    """A numeric column as float64 with NaN for nulls (a categorical one is a GateProblem)."""
    if categories_of(cols, name) is not None:
        raise GateProblem(f"column '{name}' of dataset '{dataset}' is not numeric (it is text)")
    values = np.asarray(cols[name])
    if values.dtype.kind not in "biuf":
        raise GateProblem(
            f"column '{name}' of dataset '{dataset}' is not numeric (dtype {values.dtype})"
        )
    out = values.astype(np.float64, copy=values.dtype != np.float64)
    mask = null_mask_of(cols, name)
    if mask is not None and mask.any():
        out = out.copy() if out is values else out
        out[mask] = np.nan
    return out


def binary(values: NDArray[np.float64], name: str, dataset: str) -> NDArray[np.bool_]:
    """0/1 (or boolean) values as bool; anything else is a GateProblem naming the column."""
    bad = (values != 0) & (values != 1)
    if bad.any():
        example = values[np.flatnonzero(bad)[0]]
        raise GateProblem(
            f"column '{name}' of dataset '{dataset}' must be 0/1 for this metric "
            f"(found {example:g})"
        )
    out: NDArray[np.bool_] = values == 1
    return out


def complete(*arrays: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Rows where no array is NaN."""
    ok = np.ones(arrays[0].shape[0], dtype=bool)
    for a in arrays:
        ok &= ~np.isnan(a)
    return ok


_N = NormalDist()


def z_of(confidence: float) -> float:
    """Two-sided normal quantile: the interval ``estimate ± z·se`` has coverage ``confidence``."""
    return _N.inv_cdf(0.5 + confidence / 2.0)


def normal_sf(z: float) -> float:
    if math.isinf(z):
        return 0.0 if z > 0 else 1.0
    return 1.0 - _N.cdf(z)


def bootstrap_p(replicates: NDArray[np.float64], bound: float, side: str) -> float:
    """One-sided bootstrap p-value of H0 "the statistic is on the wrong side of ``bound``".

    ``side='>='``: the share of finite replicates below the bound (ties count one half);
    ``side='<='``: the share above it.
    """
    r = replicates[np.isfinite(replicates)]
    if r.shape[0] == 0:
        return math.nan
    below = np.count_nonzero(r < bound) if side == ">=" else np.count_nonzero(r > bound)
    ties = np.count_nonzero(r == bound)
    return float((below + 0.5 * ties) / r.shape[0])


def hypothesis(p_value: float, confidence: float, statement: str) -> dict[str, Any]:
    """The record the engine's Holm step reads: pass iff (adjusted) p ≤ alpha = (1 - c) / 2.

    The two-sided interval at confidence ``c`` clears the threshold exactly when the one-sided
    test at level ``(1 - c) / 2`` rejects "the threshold is not met".
    """
    return {
        "null": statement,
        "p_value": p_value,
        "alpha": (1.0 - confidence) / 2.0,
        "confidence": confidence,
    }


def fmt(x: float | None) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.4g}"


def plain(value: Any) -> Any:
    """A numpy scalar (or anything) as plain JSON-able data; NaN becomes None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.datetime64):
        return str(value)
    return value
