"""The demo's assets are real, deterministic, quick to build, and behave as the story needs.

v1 (the good model) clears every gate of staging -> production; v2 fails exactly
``auc_vs_champion`` (when v1 is its champion), ``approval_rate_parity`` and ``model_card``.
The checks run the real ``clearance`` console script, as users and CI do.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from sklearn.metrics import roc_auc_score  # type: ignore[import-untyped]

from clearance.demo.assets import (
    AGE_BANDS,
    V1_FEATURES,
    V2_FEATURES,
    DemoAssets,
    build_assets,
    generate_csv_texts,
    read_csv,
)

CLEARANCE = Path(sys.executable).parent / "clearance"
NOW = "2026-11-22T12:00:00"
PRODUCTION_GATES = {
    "reproducibility",
    "artifact_unchanged",
    "no_code_in_model",
    "no_secrets",
    "auc_vs_champion",
    "approval_rate_parity",
    "latency_p95",
    "no_known_vulnerabilities",
    "licenses_allowed",
    "no_pii_features",
    "model_card",
    "monitoring_and_rollback",
}
STABLE_METRICS = ("auc", "ks", "accuracy", "approval_rate", "approval_rate_disparity_ratio")


@dataclass(frozen=True)
class Built:
    assets: DemoAssets
    seconds: float


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("demo")
    start = time.perf_counter()
    assets = build_assets(root)
    return Built(assets, time.perf_counter() - start)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def manifest(assets: DemoAssets, version: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(assets.manifests[version].read_text(encoding="utf-8"))
    return data


# --- the build --------------------------------------------------------------------------------


def test_build_is_quick(built: Built) -> None:
    assert built.seconds < 20, f"build_assets took {built.seconds:.1f} s"


def test_layout(built: Built) -> None:
    root = built.assets.root
    assert built.assets.policy_dir == root / "policy"
    assert sorted(p.name for p in built.assets.policy_dir.iterdir()) == [
        "gates.yaml",
        "workflow.yaml",
    ]
    assert built.assets.manifests == {
        "1": root / "models" / "v1" / "manifest.yaml",
        "2": root / "models" / "v2" / "manifest.yaml",
        "3": root / "models" / "v3" / "manifest.yaml",
    }
    for name in ("train.csv", "eval.csv"):
        assert (root / "data" / name).is_file()
    for version in ("1", "2", "3"):
        folder = root / "models" / f"v{version}"
        for name in (
            "model.pkl",
            "model_card.md",
            "monitoring_plan.md",
            "rollback_plan.md",
            "sbom.json",
            "pip-audit.json",
        ):
            assert (folder / name).is_file(), f"v{version}/{name}"


def test_data_is_deterministic_and_nothing_is_printed(
    built: Built, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    assert generate_csv_texts() == generate_csv_texts()
    capfd.readouterr()
    again = build_assets(tmp_path / "again")
    assert capfd.readouterr() == ("", ""), "build_assets prints nothing: the story does"
    for name in ("train.csv", "eval.csv"):
        assert sha256(built.assets.root / "data" / name) == sha256(again.root / "data" / name)
    for version in ("1", "2"):
        assert manifest(again, version)["lineage"] == manifest(built.assets, version)["lineage"]
        for metric in STABLE_METRICS:
            assert again.metrics[version][metric] == built.assets.metrics[version][metric]


def test_data_shape(built: Built) -> None:
    train = read_csv(built.assets.root / "data" / "train.csv")
    evaluation = read_csv(built.assets.root / "data" / "eval.csv")
    assert (len(train), len(evaluation)) == (4500, 1500)
    assert not set(train.applicant_id) & set(evaluation.applicant_id)
    assert set(np.unique(train.age_band)) == set(range(len(AGE_BANDS)))
    assert 0.1 < train.default.mean() < 0.35


# --- the manifests ----------------------------------------------------------------------------


def test_manifests_record_lineage_artifact_and_evidence(built: Built) -> None:
    root = built.assets.root
    for version in ("1", "2"):
        data = manifest(built.assets, version)
        folder = built.assets.manifests[version].parent
        assert data["apiVersion"] == "clearance/v1"
        assert data["kind"] == "ModelManifest"
        assert data["version"] == version
        assert data["model"]["name"] == "credit-default"
        assert data["model"]["risk_tier"] == "high"
        assert data["model"]["tags"] == {"domain": "credit"}
        assert "champion" not in data, "the registry supplies the champion"
        lineage = data["lineage"]
        assert len(lineage["code_commit"]) == 40
        int(lineage["code_commit"], 16)
        assert lineage["data_snapshot"] == "sha256:" + sha256(root / "data" / "train.csv")
        canonical = json.dumps(data["params"], sort_keys=True, separators=(",", ":")).encode()
        assert lineage["config_digest"] == "sha256:" + hashlib.sha256(canonical).hexdigest()
        assert lineage["environment_lock_digest"].startswith("sha256:")
        assert isinstance(lineage["seed"], int)
        assert data["artifact"] == {"path": "model.pkl", "sha256": sha256(folder / "model.pkl")}
        assert data["metrics"] == built.assets.metrics[version]
        evidence = data["evidence"]
        assert evidence["eval_dataset"]["kind"] == "dataset"
        assert (folder / evidence["eval_dataset"]["path"]).resolve() == root / "data" / "eval.csv"
        assert {evidence[n]["kind"] for n in ("sbom", "vulnerability_scan")} == {"report"}
        sbom = json.loads((folder / "sbom.json").read_text(encoding="utf-8"))
        assert sbom["bomFormat"] == "CycloneDX"
        assert {c["name"] for c in sbom["components"]} == {"numpy", "scikit-learn"}
    assert manifest(built.assets, "1")["features"] == list(V1_FEATURES)
    assert manifest(built.assets, "2")["features"] == list(V2_FEATURES)


def test_metrics_are_clearly_apart(built: Built) -> None:
    v1, v2 = built.assets.metrics["1"], built.assets.metrics["2"]
    assert v1["auc"] >= 0.78
    assert v2["auc"] >= 0.72, "v2 must still clear the 0.70 floor to reach staging"
    assert (v1["auc"] - v2["auc"]) / v1["auc"] > 0.03, "v2 must be far more than 1% worse"
    assert v1["approval_rate_disparity_ratio"] >= 0.85
    assert v2["approval_rate_disparity_ratio"] <= 0.70
    for metrics in (v1, v2):
        assert 0.3 < metrics["ks"] < 1
        assert 0.6 < metrics["accuracy"] <= 1
        assert 0.7 < metrics["approval_rate"] < 0.8
        assert 0 < metrics["latency_p95_ms"] < 120


def test_artifacts_reproduce_the_recorded_auc(built: Built) -> None:
    evaluation = read_csv(built.assets.root / "data" / "eval.csv")
    for version, features in (("1", V1_FEATURES), ("2", V2_FEATURES)):
        path = built.assets.manifests[version].parent / "model.pkl"
        with path.open("rb") as f:
            model = pickle.load(f)
        score = model.predict_proba(evaluation.matrix(features))[:, 1]
        auc = float(roc_auc_score(evaluation.default, score))
        assert round(auc, 4) == built.assets.metrics[version]["auc"]


def test_model_cards(built: Built) -> None:
    cards = {
        v: (built.assets.manifests[v].parent / "model_card.md").read_text(encoding="utf-8")
        for v in ("1", "2")
    }
    for section in ("Intended use", "Training data", "Evaluation", "Limitations", "Fairness"):
        assert f"## {section}\n" in cards["1"]
    for section in ("Intended use", "Training data", "Evaluation"):
        assert f"## {section}\n" in cards["2"]
    for section in ("Limitations", "Fairness"):
        assert section not in cards["2"]


# --- the real console script ------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    code: int
    decision: dict[str, Any]

    @property
    def statuses(self) -> dict[str, str]:
        return {g["gate_id"]: g["status"] for g in self.decision["gates"]}

    def with_status(self, *statuses: str) -> set[str]:
        return {gate for gate, status in self.statuses.items() if status in statuses}


def _champion_copy(assets: DemoAssets) -> Path:
    """v2's manifest with v1 as its champion (written by the test; build_assets writes none)."""
    data = manifest(assets, "2")
    data["champion"] = {"version": "1", "metrics": assets.metrics["1"]}
    path = assets.manifests["2"].with_name("manifest-vs-v1.yaml")
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def runs(built: Built) -> dict[str, Run]:
    """Every case at once, in parallel: the file takes about as long as its slowest run."""
    assets = built.assets
    policy = str(assets.policy_dir)
    m1, m2 = str(assets.manifests["1"]), str(assets.manifests["2"])
    vs_v1 = str(_champion_copy(assets))
    prod = ["--from", "staging", "--to", "production"]
    check = [str(CLEARANCE), "check", "--policy", policy, "--json", "--now", NOW, "--manifest"]
    cases = {
        "v1-staging": [m1, "--to", "staging"],
        "v2-staging": [m2, "--to", "staging"],
        "v1-production": [m1, *prod],
        "v2-production": [m2, *prod],
        "v2-production-vs-v1": [vs_v1, *prod],
        "v2-emergency-vs-v1": [vs_v1, *prod, "--change-type", "emergency"],
    }
    procs = {
        name: subprocess.Popen(
            [*check, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, args in cases.items()
    }
    results: dict[str, Run] = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode in (0, 1), f"{name}: exit {proc.returncode}\n{err}"
        results[name] = Run(proc.returncode, json.loads(out))
    return results


def test_policy_lints_clean(built: Built) -> None:
    done = subprocess.run(
        [str(CLEARANCE), "policy", "lint", str(built.assets.policy_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 error(s), 0 warning(s)" in done.stdout


@pytest.mark.parametrize("case", ["v1-staging", "v2-staging"])
def test_both_versions_reach_staging(runs: dict[str, Run], case: str) -> None:
    run = runs[case]
    assert run.code == 0
    assert run.decision["outcome"] == "needs_approval"
    assert run.statuses == {"reproducibility": "pass", "auc_floor": "pass"}


def test_v1_clears_every_production_gate(runs: dict[str, Run]) -> None:
    run = runs["v1-production"]
    assert run.code == 0
    assert run.decision["outcome"] == "needs_approval"
    assert set(run.statuses) == PRODUCTION_GATES
    assert run.with_status("skipped") == {"auc_vs_champion"}  # no champion yet: first release
    assert run.with_status("pass") == PRODUCTION_GATES - {"auc_vs_champion"}


def test_v2_without_champion_fails_parity_and_model_card(runs: dict[str, Run]) -> None:
    run = runs["v2-production"]
    assert run.code == 1
    assert run.decision["outcome"] == "deny"
    assert run.with_status("fail", "error") == {"approval_rate_parity", "model_card"}
    assert run.statuses["auc_vs_champion"] == "skipped"


def test_v2_against_v1_fails_exactly_the_intended_gates(runs: dict[str, Run]) -> None:
    run = runs["v2-production-vs-v1"]
    assert run.code == 1
    assert run.decision["outcome"] == "deny"
    failing = {"auc_vs_champion", "approval_rate_parity", "model_card"}
    assert run.with_status("fail", "error") == failing
    assert run.with_status("pass") == PRODUCTION_GATES - failing
    gates = {g["gate_id"]: g for g in run.decision["gates"]}
    assert gates["auc_vs_champion"]["observed"] < -0.03  # relative change, limit -0.01
    assert gates["approval_rate_parity"]["observed"] <= 0.70
    assert "Limitations" in gates["model_card"]["message"]
    assert "Fairness" in gates["model_card"]["message"]
    for gate in failing:
        assert gates[gate]["remediation"], gate


def test_emergency_bypasses_only_the_champion_comparison(runs: dict[str, Run]) -> None:
    run = runs["v2-emergency-vs-v1"]
    assert run.code == 1
    assert run.statuses["auc_vs_champion"] == "skipped"
    assert run.with_status("fail", "error") == {"approval_rate_parity", "model_card"}
