"""Fast metric kernels: pure functions from numpy columns to numbers.

The kernels know nothing of policies, gates or storage (they import nothing else from
clearance). Each function documents its formula and the reference implementation or paper
it agrees with.

Imports are lazy (PEP 562): ``import clearance.kernels`` costs nothing until a kernel is
used, so the command line starts fast; scipy and numba load with the first kernel call.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_WHERE = {
    "AllowedSetViolations": "clearance.kernels.quality",
    "BootstrapResult": "clearance.kernels.uncertainty",
    "CategoricalDrift": "clearance.kernels.drift",
    "ChiSquareResult": "clearance.kernels.drift",
    "ColumnDrift": "clearance.kernels.drift",
    "ConfusionCounts": "clearance.kernels.performance",
    "DeLongAUC": "clearance.kernels.uncertainty",
    "DeLongPaired": "clearance.kernels.uncertainty",
    "Disparity": "clearance.kernels.fairness",
    "Freshness": "clearance.kernels.quality",
    "GroupMetrics": "clearance.kernels.fairness",
    "Interval": "clearance.kernels.uncertainty",
    "JensenShannonResult": "clearance.kernels.drift",
    "KSResult": "clearance.kernels.drift",
    "McNemarResult": "clearance.kernels.uncertainty",
    "MinGroupSize": "clearance.kernels.fairness",
    "NullCount": "clearance.kernels.quality",
    "PSIResult": "clearance.kernels.drift",
    "RangeViolations": "clearance.kernels.quality",
    "RowCountCheck": "clearance.kernels.quality",
    "SchemaCheck": "clearance.kernels.quality",
    "SortedColumn": "clearance.kernels.drift",
    "TypeMismatch": "clearance.kernels.quality",
    "Uniqueness": "clearance.kernels.quality",
    "accuracy": "clearance.kernels.performance",
    "allowed_set_violations": "clearance.kernels.quality",
    "bootstrap_auc_accuracy_f1": "clearance.kernels.uncertainty",
    "brier": "clearance.kernels.performance",
    "calibration_error": "clearance.kernels.performance",
    "categorical_drift": "clearance.kernels.drift",
    "categorical_drift_counts": "clearance.kernels.drift",
    "category_counts": "clearance.kernels.drift",
    "chi_square": "clearance.kernels.drift",
    "chi_square_counts": "clearance.kernels.drift",
    "column_drift": "clearance.kernels.drift",
    "column_drifts": "clearance.kernels.drift",
    "confusion_at_thresholds": "clearance.kernels.performance",
    "delong_auc": "clearance.kernels.uncertainty",
    "delong_paired": "clearance.kernels.uncertainty",
    "demographic_parity_difference": "clearance.kernels.fairness",
    "demographic_parity_ratio": "clearance.kernels.fairness",
    "dtype_name": "clearance.kernels.quality",
    "encode_groups": "clearance.kernels.fairness",
    "equal_opportunity_difference": "clearance.kernels.fairness",
    "equal_opportunity_ratio": "clearance.kernels.fairness",
    "equalized_odds_difference": "clearance.kernels.fairness",
    "equalized_odds_ratio": "clearance.kernels.fairness",
    "f1": "clearance.kernels.performance",
    "freshness": "clearance.kernels.quality",
    "group_metrics": "clearance.kernels.fairness",
    "holm": "clearance.kernels.uncertainty",
    "jensen_shannon": "clearance.kernels.drift",
    "kolmogorov_sf": "clearance.kernels.drift",
    "ks_2samp": "clearance.kernels.drift",
    "log_loss": "clearance.kernels.performance",
    "mae": "clearance.kernels.performance",
    "mcnemar": "clearance.kernels.uncertainty",
    "min_group_size": "clearance.kernels.fairness",
    "null_fraction": "clearance.kernels.quality",
    "null_mask": "clearance.kernels.quality",
    "percentile_interval": "clearance.kernels.uncertainty",
    "poisson_weight_blocks": "clearance.kernels.uncertainty",
    "poisson_weights": "clearance.kernels.uncertainty",
    "pr_auc": "clearance.kernels.performance",
    "precision": "clearance.kernels.performance",
    "psi": "clearance.kernels.drift",
    "psi_equal_width": "clearance.kernels.drift",
    "r2": "clearance.kernels.performance",
    "range_violations": "clearance.kernels.quality",
    "recall": "clearance.kernels.performance",
    "rmse": "clearance.kernels.performance",
    "roc_auc": "clearance.kernels.performance",
    "row_count_bounds": "clearance.kernels.quality",
    "schema_check": "clearance.kernels.quality",
    "sort_column": "clearance.kernels.drift",
    "uniqueness": "clearance.kernels.quality",
    "wasserstein": "clearance.kernels.drift",
    "wilson_interval": "clearance.kernels.fairness",
}
__all__ = sorted(_WHERE)

if TYPE_CHECKING:
    from clearance.kernels.drift import (
        CategoricalDrift as CategoricalDrift,
    )
    from clearance.kernels.drift import (
        ChiSquareResult as ChiSquareResult,
    )
    from clearance.kernels.drift import (
        ColumnDrift as ColumnDrift,
    )
    from clearance.kernels.drift import (
        JensenShannonResult as JensenShannonResult,
    )
    from clearance.kernels.drift import (
        KSResult as KSResult,
    )
    from clearance.kernels.drift import (
        PSIResult as PSIResult,
    )
    from clearance.kernels.drift import (
        SortedColumn as SortedColumn,
    )
    from clearance.kernels.drift import (
        categorical_drift as categorical_drift,
    )
    from clearance.kernels.drift import (
        categorical_drift_counts as categorical_drift_counts,
    )
    from clearance.kernels.drift import (
        category_counts as category_counts,
    )
    from clearance.kernels.drift import (
        chi_square as chi_square,
    )
    from clearance.kernels.drift import (
        chi_square_counts as chi_square_counts,
    )
    from clearance.kernels.drift import (
        column_drift as column_drift,
    )
    from clearance.kernels.drift import (
        column_drifts as column_drifts,
    )
    from clearance.kernels.drift import (
        jensen_shannon as jensen_shannon,
    )
    from clearance.kernels.drift import (
        kolmogorov_sf as kolmogorov_sf,
    )
    from clearance.kernels.drift import (
        ks_2samp as ks_2samp,
    )
    from clearance.kernels.drift import (
        psi as psi,
    )
    from clearance.kernels.drift import (
        psi_equal_width as psi_equal_width,
    )
    from clearance.kernels.drift import (
        sort_column as sort_column,
    )
    from clearance.kernels.drift import (
        wasserstein as wasserstein,
    )
    from clearance.kernels.fairness import (
        Disparity as Disparity,
    )
    from clearance.kernels.fairness import (
        GroupMetrics as GroupMetrics,
    )
    from clearance.kernels.fairness import (
        MinGroupSize as MinGroupSize,
    )
    from clearance.kernels.fairness import (
        demographic_parity_difference as demographic_parity_difference,
    )
    from clearance.kernels.fairness import (
        demographic_parity_ratio as demographic_parity_ratio,
    )
    from clearance.kernels.fairness import (
        encode_groups as encode_groups,
    )
    from clearance.kernels.fairness import (
        equal_opportunity_difference as equal_opportunity_difference,
    )
    from clearance.kernels.fairness import (
        equal_opportunity_ratio as equal_opportunity_ratio,
    )
    from clearance.kernels.fairness import (
        equalized_odds_difference as equalized_odds_difference,
    )
    from clearance.kernels.fairness import (
        equalized_odds_ratio as equalized_odds_ratio,
    )
    from clearance.kernels.fairness import (
        group_metrics as group_metrics,
    )
    from clearance.kernels.fairness import (
        min_group_size as min_group_size,
    )
    from clearance.kernels.fairness import (
        wilson_interval as wilson_interval,
    )
    from clearance.kernels.performance import (
        ConfusionCounts as ConfusionCounts,
    )
    from clearance.kernels.performance import (
        accuracy as accuracy,
    )
    from clearance.kernels.performance import (
        brier as brier,
    )
    from clearance.kernels.performance import (
        calibration_error as calibration_error,
    )
    from clearance.kernels.performance import (
        confusion_at_thresholds as confusion_at_thresholds,
    )
    from clearance.kernels.performance import (
        f1 as f1,
    )
    from clearance.kernels.performance import (
        log_loss as log_loss,
    )
    from clearance.kernels.performance import (
        mae as mae,
    )
    from clearance.kernels.performance import (
        pr_auc as pr_auc,
    )
    from clearance.kernels.performance import (
        precision as precision,
    )
    from clearance.kernels.performance import (
        r2 as r2,
    )
    from clearance.kernels.performance import (
        recall as recall,
    )
    from clearance.kernels.performance import (
        rmse as rmse,
    )
    from clearance.kernels.performance import (
        roc_auc as roc_auc,
    )
    from clearance.kernels.quality import (
        AllowedSetViolations as AllowedSetViolations,
    )
    from clearance.kernels.quality import (
        Freshness as Freshness,
    )
    from clearance.kernels.quality import (
        NullCount as NullCount,
    )
    from clearance.kernels.quality import (
        RangeViolations as RangeViolations,
    )
    from clearance.kernels.quality import (
        RowCountCheck as RowCountCheck,
    )
    from clearance.kernels.quality import (
        SchemaCheck as SchemaCheck,
    )
    from clearance.kernels.quality import (
        TypeMismatch as TypeMismatch,
    )
    from clearance.kernels.quality import (
        Uniqueness as Uniqueness,
    )
    from clearance.kernels.quality import (
        allowed_set_violations as allowed_set_violations,
    )
    from clearance.kernels.quality import (
        dtype_name as dtype_name,
    )
    from clearance.kernels.quality import (
        freshness as freshness,
    )
    from clearance.kernels.quality import (
        null_fraction as null_fraction,
    )
    from clearance.kernels.quality import (
        null_mask as null_mask,
    )
    from clearance.kernels.quality import (
        range_violations as range_violations,
    )
    from clearance.kernels.quality import (
        row_count_bounds as row_count_bounds,
    )
    from clearance.kernels.quality import (
        schema_check as schema_check,
    )
    from clearance.kernels.quality import (
        uniqueness as uniqueness,
    )
    from clearance.kernels.uncertainty import (
        BootstrapResult as BootstrapResult,
    )
    from clearance.kernels.uncertainty import (
        DeLongAUC as DeLongAUC,
    )
    from clearance.kernels.uncertainty import (
        DeLongPaired as DeLongPaired,
    )
    from clearance.kernels.uncertainty import (
        Interval as Interval,
    )
    from clearance.kernels.uncertainty import (
        McNemarResult as McNemarResult,
    )
    from clearance.kernels.uncertainty import (
        bootstrap_auc_accuracy_f1 as bootstrap_auc_accuracy_f1,
    )
    from clearance.kernels.uncertainty import (
        delong_auc as delong_auc,
    )
    from clearance.kernels.uncertainty import (
        delong_paired as delong_paired,
    )
    from clearance.kernels.uncertainty import (
        holm as holm,
    )
    from clearance.kernels.uncertainty import (
        mcnemar as mcnemar,
    )
    from clearance.kernels.uncertainty import (
        percentile_interval as percentile_interval,
    )
    from clearance.kernels.uncertainty import (
        poisson_weight_blocks as poisson_weight_blocks,
    )
    from clearance.kernels.uncertainty import (
        poisson_weights as poisson_weights,
    )


def __getattr__(name: str) -> Any:
    try:
        module = _WHERE[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
