"""clearance.kernels.performance agrees with scikit-learn to 1e-9 on random data and edges."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn.metrics as skm
from hypothesis import given, settings
from hypothesis import strategies as st

from clearance.kernels import (
    accuracy,
    brier,
    calibration_error,
    confusion_at_thresholds,
    f1,
    log_loss,
    mae,
    pr_auc,
    precision,
    r2,
    recall,
    rmse,
    roc_auc,
)
from clearance.kernels._arrays import as_binary, as_float

TOL = {"rel": 1e-9, "abs": 1e-9}


@st.composite
def binary_case(draw: st.DrawFn, both_classes: bool = True) -> dict[str, np.ndarray | None]:
    n = draw(st.integers(2, 300))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    y = rng.random(n) < draw(st.floats(0.05, 0.95))
    if both_classes:
        y[0], y[1] = True, False
    levels = draw(st.sampled_from([0, 2, 5, 1000]))  # 0 = continuous, else heavy ties
    s = rng.random(n) + 0.3 * y
    s = s / s.max()
    if levels:
        s = np.round(s * levels) / levels
    w = rng.random(n) * 3 if draw(st.booleans()) else None
    if w is not None and draw(st.booleans()):
        w = rng.integers(0, 4, n).astype(float)
        w[0] = w[1] = 1.0
    return {"y": y.astype(int), "s": s, "pred": s >= 0.5, "w": w}


@settings(max_examples=150, deadline=None)
@given(binary_case())
def test_threshold_metrics_match_sklearn(c: dict[str, np.ndarray]) -> None:
    y, pred, w = c["y"], c["pred"], c["w"]
    assert accuracy(y, pred, w) == pytest.approx(
        skm.accuracy_score(y, pred, sample_weight=w), **TOL
    )
    kw = {"sample_weight": w, "zero_division": 0.0}
    assert precision(y, pred, w) == pytest.approx(skm.precision_score(y, pred, **kw), **TOL)
    assert recall(y, pred, w) == pytest.approx(skm.recall_score(y, pred, **kw), **TOL)
    assert f1(y, pred, w) == pytest.approx(skm.f1_score(y, pred, **kw), **TOL)


@settings(max_examples=150, deadline=None)
@given(binary_case())
def test_score_metrics_match_sklearn(c: dict[str, np.ndarray]) -> None:
    y, s, w = c["y"], c["s"], c["w"]
    assert roc_auc(y, s, w) == pytest.approx(skm.roc_auc_score(y, s, sample_weight=w), **TOL)
    assert pr_auc(y, s, w) == pytest.approx(
        skm.average_precision_score(y, s, sample_weight=w), **TOL
    )
    assert log_loss(y, s, w) == pytest.approx(skm.log_loss(y, s, sample_weight=w), **TOL)
    assert brier(y, s, w) == pytest.approx(skm.brier_score_loss(y, s, sample_weight=w), **TOL)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 200), st.integers(0, 2**32 - 1), st.booleans(), st.booleans())
def test_regression_metrics_match_sklearn(n: int, seed: int, weighted: bool, const: bool) -> None:
    rng = np.random.default_rng(seed)
    y = np.full(n, 2.5) if const else rng.normal(size=n)
    p = y + rng.normal(size=n) * rng.random()
    w = rng.random(n) + 0.01 if weighted else None
    assert mae(y, p, w) == pytest.approx(skm.mean_absolute_error(y, p, sample_weight=w), **TOL)
    assert rmse(y, p, w) == pytest.approx(
        np.sqrt(skm.mean_squared_error(y, p, sample_weight=w)), **TOL
    )
    if n == 1:
        assert np.isnan(r2(y, p, w))
        return
    if const:
        # sklearn's weighted mean of a constant column can round to ≠ y, making SS_tot tiny
        # but non-zero (r2 ~ -1e26); we treat an exactly constant y as constant.
        assert r2(y, p, w) == (1.0 if np.array_equal(y, p) else 0.0)
    else:
        assert r2(y, p, w) == pytest.approx(skm.r2_score(y, p, sample_weight=w), **TOL)
    assert r2(y, y, w) == 1.0


def test_integer_weights_equal_replicated_rows() -> None:
    rng = np.random.default_rng(4)
    y = rng.random(500) < 0.4
    s = np.round(rng.random(500) + 0.2 * y, 2)
    w = rng.integers(0, 4, 500)
    yr, sr = np.repeat(y, w), np.repeat(s, w)
    assert roc_auc(y, s, w) == pytest.approx(roc_auc(yr, sr), **TOL)
    assert pr_auc(y, s, w) == pytest.approx(pr_auc(yr, sr), **TOL)


def test_ties_everywhere_and_constant_scores() -> None:
    y = np.array([0, 1, 0, 1, 1, 0])
    assert roc_auc(y, np.zeros(6)) == 0.5
    assert pr_auc(y, np.zeros(6)) == pytest.approx(skm.average_precision_score(y, np.zeros(6)))
    assert f1(y, np.zeros(6, bool)) == 0.0 == skm.f1_score(y, np.zeros(6), zero_division=0)
    assert precision(y, np.zeros(6, bool)) == 0.0
    assert accuracy(y, np.ones(6, bool)) == 0.5


@pytest.mark.parametrize("y", [np.ones(5), np.zeros(5)])
def test_single_class_auc_is_a_clear_error(y: np.ndarray) -> None:
    with pytest.raises(ValueError, match="single class"):
        roc_auc(y, np.arange(5.0))


def test_input_checks_name_the_problem() -> None:
    with pytest.raises(ValueError, match="NaN label"):
        as_binary(np.array([0.0, np.nan, 1.0]))
    with pytest.raises(ValueError, match="binary"):
        as_binary(np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="1-D"):
        as_binary(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="NaN or infinite"):
        as_float([0.1, np.inf], "score")
    with pytest.raises(ValueError, match="same length"):
        roc_auc([0, 1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="sample_weight has length"):
        accuracy([0, 1], [0, 1], [1.0])
    with pytest.raises(ValueError, match="non-negative"):
        accuracy([0, 1], [0, 1], [1.0, -1.0])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        log_loss([0, 1], [0.5, 1.5])


def test_log_loss_clips_like_sklearn() -> None:
    y = np.array([0, 1, 1, 0])
    p = np.array([0.0, 1.0, 0.0, 1.0])
    assert log_loss(y, p) == pytest.approx(skm.log_loss(y, p), **TOL)


def _ece_direct(y: np.ndarray, p: np.ndarray, bins: np.ndarray) -> float:
    total = 0.0
    for b in np.unique(bins):
        sel = bins == b
        total += sel.sum() / len(y) * abs(y[sel].mean() - p[sel].mean())
    return total


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 300), st.integers(0, 2**32 - 1), st.integers(1, 20))
def test_calibration_error_formula(n: int, seed: int, n_bins: int) -> None:
    rng = np.random.default_rng(seed)
    p = rng.random(n)
    p[0] = 1.0
    y = (rng.random(n) < p).astype(float)
    uniform = np.minimum(np.floor(p * n_bins), n_bins - 1)
    assert calibration_error(y, p, n_bins=n_bins) == pytest.approx(
        _ece_direct(y, p, uniform), **TOL
    )
    edges = np.quantile(p, np.linspace(0, 1, n_bins + 1))
    quant = np.clip(np.searchsorted(edges[1:-1], p, side="left"), 0, n_bins - 1)
    assert calibration_error(y, p, n_bins=n_bins, strategy="quantile") == pytest.approx(
        _ece_direct(y, p, quant), **TOL
    )


def test_calibration_error_of_a_calibrated_constant_is_zero() -> None:
    y = np.array([1, 0, 1, 0])
    assert calibration_error(y, np.full(4, 0.5)) == 0.0


@settings(max_examples=80, deadline=None)
@given(binary_case())
def test_confusion_at_thresholds_matches_sklearn(c: dict[str, np.ndarray]) -> None:
    y, s, w = c["y"], c["s"], c["w"]
    thresholds = np.concatenate(([-1.0, 0.0, 0.5, 2.0], s[:5]))
    cc = confusion_at_thresholds(y, s, thresholds, w)
    for k, t in enumerate(thresholds):
        tn, fp, fn, tp = skm.confusion_matrix(y, s >= t, labels=[0, 1], sample_weight=w).ravel()
        assert (cc.tp[k], cc.fp[k], cc.tn[k], cc.fn[k]) == pytest.approx((tp, fp, tn, fn), **TOL)


@pytest.mark.parametrize("kind", ["continuous", "ties", "three-values", "signed-zeros"])
def test_roc_auc_of_many_rows_by_radix_ranks_equals_the_sorted_sums(kind: str) -> None:
    """From 65,536 unweighted rows AUC comes from the radix ranking's integer pair counts:
    the same float as the weighted sums over ``argsort`` (unit weights), ties included."""
    rng = np.random.default_rng(11)
    n = 100_000
    y = rng.random(n) < 0.3
    s = {
        "continuous": rng.random(n),
        "ties": np.round(rng.random(n), 2),
        "three-values": rng.integers(0, 3, n).astype(np.float64),
        "signed-zeros": np.where(rng.random(n) < 0.5, -0.0, 0.0) + (rng.random(n) < 0.2),
    }[kind]
    assert roc_auc(y, s) == roc_auc(y, s, np.ones(n))
    assert roc_auc(y, s) == pytest.approx(skm.roc_auc_score(y, s), **TOL)
