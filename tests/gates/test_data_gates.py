"""Every data gate type from policy YAML through the engine, on real files in three formats,
checked against scipy / scikit-learn / fairlearn and the kernels."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import fairlearn.metrics as flm
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.stats as st
from sklearn.metrics import accuracy_score, brier_score_loss, roc_auc_score

from clearance import kernels as k
from clearance.adapters.evidence import FileEvidence
from clearance.core.results import GateResult, GateStatus
from clearance.core.version import EvidenceItem, ModelVersion

from .conftest import DataGates
from .conftest import run as run_gates


def only(decision: Any) -> GateResult:
    assert len(decision.gates) == 1
    return decision.gates[0]


def eval_arrays(env: DataGates) -> dict[str, np.ndarray]:
    t = env.tables["evaluation"]
    return {c: t.column(c).to_numpy(zero_copy_only=False) for c in t.column_names}


# ----------------------------------------------------------------------------- performance


def test_performance_roc_auc_agrees_with_sklearn_and_delong(env: DataGates) -> None:
    g = only(
        env.run(
            [
                {
                    "id": "auc",
                    "type": "performance",
                    "dataset": "evaluation",
                    "metric": "roc_auc",
                    "min": 0.7,
                    "confidence": 0.95,
                }
            ]
        )
    )
    a = eval_arrays(env)
    assert g.status is GateStatus.PASS, g.message
    assert g.observed == pytest.approx(roc_auc_score(a["label"], a["score"]), abs=1e-12)
    de = k.delong_auc(a["label"], a["score"])
    low, high = g.details["interval"]
    z = st.norm.ppf(0.975)
    assert low == pytest.approx(de.auc - z * math.sqrt(de.variance), abs=1e-12)
    assert high == pytest.approx(de.auc + z * math.sqrt(de.variance), abs=1e-12)
    assert g.margin == pytest.approx(low - 0.7)
    assert g.details["method"] == "DeLong"
    assert g.evidence["evaluation"]


@pytest.mark.parametrize(
    ("metric", "reference"),
    [
        ("accuracy", lambda y, s: accuracy_score(y, s >= 0.5)),
        ("brier", brier_score_loss),
    ],
)
def test_performance_point_metrics_agree_with_sklearn(
    parquet_env: DataGates, metric: str, reference: Any
) -> None:
    bound = {"min": 0.0} if metric == "accuracy" else {"max": 1.0}
    g = only(
        parquet_env.run(
            [{"id": "m", "type": "performance", "dataset": "evaluation", "metric": metric, **bound}]
        )
    )
    a = eval_arrays(parquet_env)
    assert g.observed == pytest.approx(reference(a["label"], a["score"]), abs=1e-12)
    assert g.details["interval"] is None


def test_performance_bootstrap_interval_for_f1_and_brier(parquet_env: DataGates) -> None:
    d = parquet_env.run(
        [
            {
                "id": "f1",
                "type": "performance",
                "dataset": "evaluation",
                "metric": "f1",
                "min": 0.5,
                "confidence": 0.9,
                "n_resamples": 100,
                "seed": 3,
            },
            {
                "id": "brier",
                "type": "performance",
                "dataset": "evaluation",
                "metric": "brier",
                "max": 0.3,
                "confidence": 0.9,
                "n_resamples": 50,
            },
        ]
    )
    f1, brier = d.gates
    a = eval_arrays(parquet_env)
    b = k.bootstrap_auc_accuracy_f1(
        a["label"], a["score"], 0.5, n_resamples=100, confidence=0.9, seed=3
    )
    assert f1.details["interval"] == pytest.approx([b.f1.low, b.f1.high])
    lo, hi = brier.details["interval"]
    assert lo <= brier.observed <= hi
    assert brier.margin == pytest.approx(0.3 - hi)


def test_a_missing_dataset_is_an_error_that_names_it(parquet_env: DataGates) -> None:
    g = only(
        parquet_env.run(
            [
                {
                    "id": "auc",
                    "type": "performance",
                    "dataset": "holdout",
                    "metric": "roc_auc",
                    "min": 0.7,
                }
            ]
        )
    )
    assert g.status is GateStatus.ERROR
    assert "holdout" in g.message
    assert g.details["missing"] == ["evidence.holdout"]


def test_a_missing_column_is_an_error_that_names_it(env: DataGates) -> None:
    g = only(
        env.run(
            [
                {
                    "id": "auc",
                    "type": "performance",
                    "dataset": "evaluation",
                    "metric": "roc_auc",
                    "min": 0.7,
                    "columns": {"score": "proba"},
                }
            ]
        )
    )
    assert g.status is GateStatus.ERROR
    assert "'proba'" in g.message and "evaluation" in g.message


def test_an_unmapped_role_is_an_error_that_names_the_role(parquet_env: DataGates) -> None:
    parquet_env.columns["evaluation"] = None
    g = only(
        parquet_env.run(
            [
                {
                    "id": "auc",
                    "type": "performance",
                    "dataset": "evaluation",
                    "metric": "roc_auc",
                    "min": 0.7,
                }
            ]
        )
    )
    assert g.status is GateStatus.ERROR
    assert "'label' column" in g.message


def test_gate_columns_override_the_manifest_mapping(parquet_env: DataGates) -> None:
    g = only(
        parquet_env.run(
            [
                {
                    "id": "auc",
                    "type": "performance",
                    "dataset": "evaluation",
                    "metric": "roc_auc",
                    "min": 0.5,
                    "columns": {"score": "champion"},
                }
            ]
        )
    )
    a = eval_arrays(parquet_env)
    assert g.observed == pytest.approx(roc_auc_score(a["label"], a["champion"]), abs=1e-12)


# ----------------------------------------------------------------------------- champion


def test_champion_non_inferiority_on_data_uses_delong_paired(env: DataGates) -> None:
    g = only(
        env.run(
            [
                {
                    "id": "vs",
                    "type": "champion_comparison",
                    "dataset": "evaluation",
                    "metric": "auc",
                    "test": "non_inferiority",
                    "max_degradation": 0.01,
                    "confidence": 0.95,
                }
            ]
        )
    )
    a = eval_arrays(env)
    t = k.delong_paired(a["label"], a["score"], a["champion"])
    assert g.status is GateStatus.PASS, g.message
    assert g.observed == pytest.approx(t.diff, abs=1e-12)
    assert g.threshold == -0.01
    se = math.sqrt(t.variance_of_diff)
    assert g.details["interval"][0] == pytest.approx(t.diff - st.norm.ppf(0.975) * se)
    expected_p = st.norm.sf((t.diff + 0.01) / se)
    assert g.details["hypothesis"]["p_value"] == pytest.approx(expected_p, rel=1e-9)


def test_champion_superiority_bootstrap_for_accuracy(parquet_env: DataGates) -> None:
    g = only(
        parquet_env.run(
            [
                {
                    "id": "vs",
                    "type": "champion_comparison",
                    "dataset": "evaluation",
                    "metric": "accuracy",
                    "test": "superiority",
                    "min_improvement": 0.5,
                    "confidence": 0.95,
                    "n_resamples": 100,
                }
            ]
        )
    )
    a = eval_arrays(parquet_env)
    diff = accuracy_score(a["label"], a["score"] >= 0.5) - accuracy_score(
        a["label"], a["champion"] >= 0.5
    )
    assert g.observed == pytest.approx(diff, abs=1e-12)
    assert g.status is GateStatus.FAIL  # better, but nowhere near by 0.5
    assert "superiority" in g.message


def test_champion_scores_from_a_separate_dataset(parquet_env: DataGates, tmp_path: Any) -> None:
    import pyarrow as pa

    from .conftest import write

    champ = pa.table({"s": parquet_env.tables["evaluation"].column("champion")})
    parquet_env.paths["champ"] = write(champ, tmp_path / "champ", "parquet")
    parquet_env.columns["champ"] = {"score": "s"}
    g = only(
        parquet_env.run(
            [
                {
                    "id": "vs",
                    "type": "champion_comparison",
                    "dataset": "evaluation",
                    "champion_dataset": "champ",
                    "metric": "roc_auc",
                    "max_degradation": 0.01,
                    "confidence": 0.95,
                }
            ]
        )
    )
    a = eval_arrays(parquet_env)
    assert g.observed == pytest.approx(k.delong_paired(a["label"], a["score"], a["champion"]).diff)
    assert set(g.evidence) == {"evaluation", "champ"}


def test_champion_data_params_need_a_dataset() -> None:
    from clearance.core.gates.champion_comparison import ChampionComparisonParams

    with pytest.raises(ValueError, match="need dataset"):
        ChampionComparisonParams(metric="auc", max_degradation=0.01, confidence=0.9)
    with pytest.raises(ValueError, match="does not match"):
        ChampionComparisonParams(
            metric="auc", max_degradation=0.01, dataset="e", test="superiority"
        )


# ----------------------------------------------------------------------------- fairness


def test_fairness_agrees_with_fairlearn(env: DataGates) -> None:
    d = env.run(
        [
            {
                "id": "dpr",
                "type": "fairness",
                "dataset": "evaluation",
                "metric": "selection_rate_ratio",
                "min": 0.5,
            },
            {
                "id": "dpd",
                "type": "fairness",
                "dataset": "evaluation",
                "metric": "demographic_parity_difference",
                "max": 0.01,
            },
            {
                "id": "eod",
                "type": "fairness",
                "dataset": "evaluation",
                "metric": "equalized_odds_difference",
                "max": 0.5,
            },
        ]
    )
    dpr, dpd, eod = d.gates
    a = eval_arrays(env)
    y, yp, g = a["label"], (a["score"] >= 0.5).astype(int), a["group"]
    assert dpr.observed == pytest.approx(flm.demographic_parity_ratio(y, yp, sensitive_features=g))
    assert dpd.observed == pytest.approx(
        flm.demographic_parity_difference(y, yp, sensitive_features=g)
    )
    assert eod.observed == pytest.approx(flm.equalized_odds_difference(y, yp, sensitive_features=g))
    assert dpd.status is GateStatus.FAIL
    assert set(dpd.details["decided_by"]["groups"]) <= {"a", "b", "c", "d"}
    assert len(dpd.details["decided_by"]["groups"]) == 2
    assert [row["group"] for row in dpd.details["groups"]] == ["a", "b", "c", "d"]
    assert dpd.details["worst"][0]["what"] == "group"
    lo, hi = dpd.details["interval"]
    assert lo <= dpd.observed <= hi


def test_fairness_streamed_in_small_batches_equals_one_read(parquet_env: DataGates) -> None:
    gate = {
        "id": "f",
        "type": "fairness",
        "dataset": "evaluation",
        "metric": "demographic_parity_difference",
        "max": 0.5,
    }
    whole = only(parquet_env.run([gate]))
    batched = only(parquet_env.run([{**gate, "batch_rows": 128}]))
    assert batched.observed == whole.observed
    assert batched.details["groups"] == whole.details["groups"]


def test_fairness_small_groups_are_excluded_or_an_error(parquet_env: DataGates) -> None:
    base = {
        "id": "f",
        "type": "fairness",
        "dataset": "evaluation",
        "metric": "demographic_parity_ratio",
        "min": 0.1,
    }
    g = only(parquet_env.run([{**base, "min_group_size": 400}]))
    assert [e["group"] for e in g.details["excluded_groups"]] == ["d"]
    assert "d" not in [row["group"] for row in g.details["groups"]]
    err = only(parquet_env.run([{**base, "min_group_size": 400, "small_groups": "error"}]))
    assert err.status is GateStatus.ERROR and "d (" in err.message


def test_fairness_missing_sensitive_column_is_named(parquet_env: DataGates) -> None:
    g = only(
        parquet_env.run(
            [
                {
                    "id": "f",
                    "type": "fairness",
                    "dataset": "evaluation",
                    "metric": "demographic_parity_ratio",
                    "min": 0.8,
                    "sensitive_feature": "age_band",
                }
            ]
        )
    )
    assert g.status is GateStatus.ERROR
    assert "'age_band'" in g.message


# ----------------------------------------------------------------------------- drift


def test_drift_agrees_with_scipy_and_reports_worst_columns(env: DataGates) -> None:
    g = only(
        env.run(
            [
                {
                    "id": "drift",
                    "type": "drift",
                    "reference": "reference",
                    "current": "evaluation",
                    "ks_pvalue_min": 0.01,
                    "psi_max": 0.2,
                    "chi2_pvalue_min": 0.01,
                    "max_drifted_share": 0.0,
                }
            ]
        )
    )
    assert g.status is GateStatus.FAIL
    assert g.details["drifted_columns"] == ["x2"]
    assert g.observed == pytest.approx(1 / 3)
    assert g.details["decided_by"] == {"column": "x2"}
    assert g.details["worst"][0]["name"] == "x2"
    ref, cur = env.tables["reference"], env.tables["evaluation"]
    by = {r["column"]: r for r in g.details["columns"]}
    for col in ("x1", "x2"):
        a = ref.column(col).to_numpy(zero_copy_only=False)
        b = cur.column(col).to_numpy(zero_copy_only=False)
        expected = st.ks_2samp(a[~np.isnan(a)], b[~np.isnan(b)])
        assert by[col]["ks"] == pytest.approx(expected.statistic, abs=1e-12)
        assert by[col]["p_value"] == pytest.approx(expected.pvalue, rel=1e-6, abs=1e-300)
        assert by[col]["wasserstein"] == pytest.approx(
            st.wasserstein_distance(a[~np.isnan(a)], b[~np.isnan(b)]), rel=1e-9
        )
    rc = ref.column("cat").to_pylist()
    cc = cur.column("cat").to_pylist()
    table = np.array([[rc.count(v) for v in "uvw"], [cc.count(v) for v in "uvw"]])
    assert by["cat"]["p_value"] == pytest.approx(st.chi2_contingency(table)[1], rel=1e-9)
    assert by["x1"]["nulls"][1] > 0


def test_drift_share_passes_when_allowed(parquet_env: DataGates) -> None:
    g = only(
        parquet_env.run(
            [
                {
                    "id": "d",
                    "type": "drift",
                    "reference": "reference",
                    "current": "evaluation",
                    "features": ["x1", "x2", "cat"],
                    "max_drifted_share": 0.4,
                    "p_adjust": "holm",
                }
            ]
        )
    )
    assert g.status is GateStatus.PASS
    assert g.margin == pytest.approx(0.4 - 1 / 3)


def test_drift_missing_column_in_reference_is_named(parquet_env: DataGates) -> None:
    g = only(
        parquet_env.run(
            [
                {
                    "id": "d",
                    "type": "drift",
                    "reference": "reference",
                    "current": "evaluation",
                    "features": ["x1", "score"],
                }
            ]
        )
    )
    assert g.status is GateStatus.ERROR
    assert "'score'" in g.message and "reference" in g.message


def test_drift_of_categories_the_samples_do_not_share(tmp_path: Path) -> None:
    """Codes of two files index different category lists: counted per code, then re-indexed
    into one vocabulary, they give the chi-square and Jensen-Shannon of the labels."""
    rng = np.random.default_rng(12)
    ref = rng.choice(np.array(["a", "b", "c", None], dtype=object), 5000, p=[0.3, 0.3, 0.3, 0.1])
    cur = rng.choice(np.array(["b", "c", "d", None], dtype=object), 4000, p=[0.4, 0.3, 0.2, 0.1])
    paths = {"reference": tmp_path / "r.parquet", "evaluation": tmp_path / "c.parquet"}
    pq.write_table(pa.table({"seg": pa.array(ref, pa.string())}), paths["reference"])
    pq.write_table(pa.table({"seg": pa.array(cur, pa.string())}), paths["evaluation"])
    items = {n: EvidenceItem(name=n, kind="dataset", uri=str(p)) for n, p in paths.items()}
    version = ModelVersion.model_validate(
        {"model": {"name": "m"}, "version": "1", "evidence": items}
    )
    gate = {"id": "d", "type": "drift", "reference": "reference", "current": "evaluation",
            "features": ["seg"], "js_max": 0.1, "max_drifted_share": 1.0}  # fmt: skip
    row = run_gates([gate], version, FileEvidence(paths, None)).gates[0].details["columns"][0]
    want = k.categorical_drift(ref, cur)
    assert row["p_value"] == want.chi_square.pvalue and row["chi2"] == want.chi_square.statistic
    assert row["js"] == want.jensen_shannon.distance
    assert (row["categories"], row["nulls"]) == (4, [want.null_reference, want.null_current])


# ----------------------------------------------------------------------------- quality


QUALITY = {
    "id": "q",
    "type": "data_quality",
    "dataset": "evaluation",
    "min_rows": 1000,
    "max_rows": 10000,
    "schema": {"label": "int", "score": "float", "group": "string", "ts": "datetime"},
    "max_null_fraction": {"*": 0.05, "score": 0},
    "ranges": {"score": {"min": 0, "max": 1}},
    "allowed_values": {"group": ["a", "b", "c", "d"]},
    "unique": ["id"],
    "freshness": {"column": "ts", "max_age": "7d"},
}


def test_data_quality_passes_on_clean_data(env: DataGates) -> None:
    g = only(env.run([QUALITY]))
    assert g.status is GateStatus.PASS, g.message
    checks = {(c["check"], c["column"]): c for c in g.details["checks"]}
    x1 = env.tables["evaluation"].column("x1").to_numpy(zero_copy_only=False)
    assert checks[("nulls", "x1")]["observed"] == pytest.approx(np.isnan(x1).mean())
    assert checks[("rows", None)]["observed"] == 3000
    assert checks[("freshness", "ts")]["observed"] < 4 * 24


def test_data_quality_failures_name_the_column(env: DataGates) -> None:
    bad = {
        **QUALITY,
        "max_null_fraction": {"x1": 0.001},
        "ranges": {"x2": {"min": 0, "max": 1}},
        "allowed_values": {"group": ["a", "b"]},
        "unique": ["label"],
        "freshness": {"column": "ts", "max_age": "1d"},
    }
    g = only(env.run([bad]))
    assert g.status is GateStatus.FAIL
    failed = {(c["check"], c["column"]) for c in g.details["checks"] if not c["ok"]}
    assert failed == {
        ("nulls", "x1"),
        ("range", "x2"),
        ("allowed_values", "group"),
        ("unique", "label"),
        ("freshness", "ts"),
    }
    allowed = next(c for c in g.details["checks"] if c["check"] == "allowed_values")
    assert set(allowed["examples"]) == {"c", "d"}
    names = {w["name"] for w in g.details["worst"]}
    assert "x2" in names and "x1" in names


def test_data_quality_streamed_equals_one_read(parquet_env: DataGates) -> None:
    whole = only(parquet_env.run([QUALITY]))
    batched = only(parquet_env.run([{**QUALITY, "batch_rows": 100}]))
    assert batched.details["checks"] == whole.details["checks"]


def test_data_quality_schema_mismatch(parquet_env: DataGates) -> None:
    g = only(
        parquet_env.run(
            [
                {
                    "id": "q",
                    "type": "data_quality",
                    "dataset": "evaluation",
                    "schema": {"label": "string", "missing_col": "float"},
                    "allow_extra_columns": True,
                }
            ]
        )
    )
    assert g.status is GateStatus.FAIL
    problems = g.details["checks"][0]["problems"]
    assert "missing missing_col" in problems
    assert "label is int64, expected string" in problems


def test_data_quality_missing_column_is_named(parquet_env: DataGates) -> None:
    g = only(
        parquet_env.run(
            [
                {
                    "id": "q",
                    "type": "data_quality",
                    "dataset": "evaluation",
                    "ranges": {"income": {"min": 0}},
                }
            ]
        )
    )
    assert g.status is GateStatus.ERROR and "'income'" in g.message
