"""Fairness kernels agree with fairlearn and scipy (Wilson) on random data and edge cases."""

from __future__ import annotations

import math
import warnings

import fairlearn.metrics as flm
import numpy as np
import pytest
import scipy.stats as st
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hst

from clearance.kernels import fairness as fk

TOL = 1e-9


@hst.composite
def labelled(draw: hst.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = draw(hst.integers(2, 80))  # fairlearn squeezes a 1-row input to 0-D
    k = draw(hst.integers(1, 5))
    ints = hst.lists(hst.integers(0, 1), min_size=n, max_size=n)
    yt = np.array(draw(ints))
    yp = np.array(draw(ints))
    g = np.array(draw(hst.lists(hst.integers(0, k - 1), min_size=n, max_size=n)))
    return yt, yp, g


def _same(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= TOL


PAIRS = [
    (fk.demographic_parity_difference, flm.demographic_parity_difference),
    (fk.demographic_parity_ratio, flm.demographic_parity_ratio),
    (fk.equalized_odds_difference, flm.equalized_odds_difference),
    (fk.equalized_odds_ratio, flm.equalized_odds_ratio),
    (fk.equal_opportunity_difference, flm.equal_opportunity_difference),
    (fk.equal_opportunity_ratio, flm.equal_opportunity_ratio),
]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(labelled(), hst.sampled_from(["between_groups", "to_overall"]))
def test_aggregates_match_fairlearn(data: tuple[np.ndarray, ...], method: str) -> None:
    yt, yp, g = data
    gm = fk.group_metrics(yt, yp, g)
    for ours, theirs in PAIRS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = float(theirs(yt, yp, sensitive_features=g, method=method))
        got = ours(gm, method=method)  # type: ignore[operator]
        assert _same(got.value, expected), (ours.__name__, got, expected)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(labelled())
def test_equalized_odds_mean_matches_fairlearn(data: tuple[np.ndarray, ...]) -> None:
    yt, yp, g = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = float(flm.equalized_odds_difference(yt, yp, sensitive_features=g, agg="mean"))
        r = float(flm.equalized_odds_ratio(yt, yp, sensitive_features=g, agg="mean"))
    assert _same(fk.equalized_odds_difference(yt, yp, g, agg="mean").value, d)
    assert _same(fk.equalized_odds_ratio(yt, yp, g, agg="mean").value, r)


@settings(max_examples=60, deadline=None)
@given(labelled())
def test_group_rates_match_fairlearn_metricframe(data: tuple[np.ndarray, ...]) -> None:
    yt, yp, g = data
    gm = fk.group_metrics(yt, yp, g)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mf = flm.MetricFrame(
            metrics={"sel": flm.selection_rate, "cnt": flm.count},
            y_true=yt,
            y_pred=yp,
            sensitive_features=g,
        )
    by = mf.by_group
    for i, label in enumerate(gm.labels):
        if gm.count[i] == 0:  # an unused integer code: fairlearn has no such group
            assert label not in by.index
            continue
        assert gm.count[i] == by.loc[label, "cnt"]
        assert abs(gm.selection_rate[i] - by.loc[label, "sel"]) <= TOL
        pos = yt[g == label] == 1
        if pos.any():
            assert abs(gm.tpr[i] - float(np.mean(yp[g == label][pos]))) <= TOL
        else:
            assert math.isnan(gm.tpr[i])


@settings(max_examples=100, deadline=None)
@given(hst.integers(0, 60), hst.integers(1, 60), hst.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_wilson_matches_scipy_binomtest(x: int, m: int, conf: float) -> None:
    x = min(x, m)
    lo, hi = fk.wilson_interval(np.array([x]), np.array([m]), conf)
    ci = st.binomtest(x, m).proportion_ci(confidence_level=conf, method="wilson")
    assert abs(lo[0] - ci.low) <= TOL and abs(hi[0] - ci.high) <= TOL


def test_edge_cases_empty_group_no_positive_single_class() -> None:
    yt = np.array([0, 0, 1, 1, 0, 0, 0, 1, 1])
    yp = np.array([0, 1, 1, 0, 1, 0, 0, 1, 1])
    g = np.array([0, 0, 0, 0, 2, 2, 2, 3, 3])  # code 1 is empty; group 2 has no positives,
    gm = fk.group_metrics(yt, yp, g, n_groups=5)  # group 3 no negatives; code 4 empty
    assert gm.count.tolist() == [4, 0, 3, 2, 0]
    assert math.isnan(gm.selection_rate[1]) and math.isnan(gm.tpr[2]) and math.isnan(gm.fpr[3])
    assert math.isnan(gm.selection_rate_ci[0][1])
    # fairlearn treats the undefined TPR/FPR as 0 and never sees the empty codes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fl = flm.equalized_odds_difference(yt, yp, sensitive_features=g)
    eo = fk.equalized_odds_difference(gm)
    assert eo.value == pytest.approx(fl) == 1.0
    assert eo.rate == "tpr" and eo.group_low == 2 and eo.group_high == 3
    # excluding undefined rates changes the answer, and says which groups decided it
    eo_ex = fk.equalized_odds_difference(gm, undefined="exclude")
    assert eo_ex.value == pytest.approx(0.5)  # TPR 1/2 (group 0) vs 1 (group 3)
    tpr = eo_ex.components[0]
    assert (tpr.group_low, tpr.group_high) == (0, 3)
    dp = fk.demographic_parity_ratio(gm)
    assert dp.group_low == 2 and dp.group_high == 3 and dp.value == pytest.approx(1 / 3)
    # single class: nobody selected -> ratio 0/0 is NaN (as fairlearn), difference 0
    zeros = np.zeros(9, dtype=int)
    assert math.isnan(fk.demographic_parity_ratio(yt, zeros, g).value)
    assert fk.demographic_parity_difference(yt, zeros, g).value == 0.0
    ms = fk.min_group_size(gm)
    assert (ms.size, ms.group) == (2, 3)
    assert fk.min_group_size(gm, include_empty=True).size == 0
    assert fk.min_group_size(gm, of="positives").size == 0
    assert fk.min_group_size(g).size == 2


def test_string_groups_and_labels_reported() -> None:
    yt = np.array([1, 0, 1, 0, 1, 1])
    yp = np.array([1, 0, 0, 0, 1, 1])
    g = np.array(["b", "a", "a", "c", "b", "c"])
    d = fk.equal_opportunity_difference(yt, yp, g)
    assert (d.group_low, d.group_high, d.value) == ("a", "b", 1.0)
    to = fk.demographic_parity_difference(yt, yp, g, method="to_overall")
    assert to.group_low in {"a", "b", "c"} and to.rate_high == pytest.approx(0.5)
    with pytest.raises(ValueError, match="binary"):
        fk.group_metrics(np.array([0, 2]), np.array([0, 1]), np.array([0, 0]))
    with pytest.raises(ValueError, match="same length"):
        fk.group_metrics(np.array([0, 1]), np.array([0, 1, 1]), np.array([0, 0]))
