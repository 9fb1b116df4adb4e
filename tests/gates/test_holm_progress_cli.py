"""Holm across a transition's hypothesis tests, the progress callback, latency, the readers,
and ``clearance check`` on the credit-risk-data example."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from clearance import kernels as k
from clearance.adapters.blobs import FileBlobStore
from clearance.adapters.evidence import BlobEvidence, FileEvidence
from clearance.cli.app import app
from clearance.core.columns import Columns
from clearance.core.results import GateStatus
from clearance.core.version import Artifact, EvidenceItem, NoEvidence

from .conftest import DataGates, run

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "credit-risk-data"
CORE_CONFTEST = Path(__file__).resolve().parents[1] / "core" / "conftest.py"
AUC = {"type": "performance", "dataset": "evaluation", "metric": "roc_auc", "confidence": 0.95}


def test_holm_adjusts_the_transitions_tests_together(parquet_env: DataGates) -> None:
    d = parquet_env.run(
        [
            {"id": "auc_a", **AUC, "min": 0.70},
            {"id": "auc_b", **AUC, "min": 0.60},
            {
                "id": "vs",
                "type": "champion_comparison",
                "dataset": "evaluation",
                "metric": "auc",
                "max_degradation": 0.0,
                "confidence": 0.95,
            },
            {
                "id": "plain",
                "type": "performance",
                "dataset": "evaluation",
                "metric": "accuracy",
                "min": 0.5,
            },
        ]
    )
    tests = d.gates[:3]
    raw = np.array([g.details["hypothesis"]["p_value"] for g in tests])
    adjusted = k.holm(raw)
    for g, adj in zip(tests, adjusted, strict=True):
        assert g.details["family_size"] == 3
        assert g.details["holm_adjusted_p"] == pytest.approx(adj)
        assert g.details["family"] == ["auc_a", "auc_b", "vs"]
        assert "Holm over 3 tests" in g.message
        alpha = g.details["hypothesis"]["alpha"]
        assert alpha == pytest.approx(0.025)
        assert g.status is (GateStatus.PASS if adj <= alpha else GateStatus.FAIL)
    assert "holm_adjusted_p" not in d.gates[3].details


def test_holm_can_turn_a_marginal_pass_into_a_fail(parquet_env: DataGates) -> None:
    single = parquet_env.run([{"id": "auc", **AUC, "min": 0.70}]).gates[0]
    auc = single.observed
    se = (single.details["interval"][1] - auc) / 1.959963984540054
    bound = auc - 2.1 * se  # one-sided p ≈ 0.018 < 0.025 alone, > 0.025 after Holm with 2
    alone = parquet_env.run([{"id": "auc", **AUC, "min": bound}]).gates[0]
    assert alone.status is GateStatus.PASS and alone.details["family_size"] == 1
    pair = parquet_env.run(
        [{"id": "auc", **AUC, "min": bound}, {"id": "auc2", **AUC, "min": bound}]
    )
    for g in pair.gates:
        assert g.status is GateStatus.FAIL
        assert g.details["unadjusted_status"] == "pass"
        assert g.margin is None


def test_progress_callback_is_called_for_every_gate(parquet_env: DataGates) -> None:
    calls: list[tuple[int, int, str]] = []
    parquet_env.run(
        [{"id": "a", **AUC, "min": 0.5}, {"id": "b", **AUC, "min": 0.6}],
        progress=lambda done, total, gid: calls.append((done, total, gid)),
    )
    assert calls == [(0, 2, "a"), (1, 2, "b"), (2, 2, "")]


# ----------------------------------------------------------------------------- latency


def test_latency_from_a_benchmark_file(parquet_env: DataGates, tmp_path: Path) -> None:
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps({"p50_ms": 10, "p95_ms": 30, "p99_ms": 90, "mean_ms": 12}))
    item = EvidenceItem(
        name="bench",
        kind="report",
        uri="bench.json",
        sha256=hashlib.sha256(bench.read_bytes()).hexdigest(),
    )
    evidence = FileEvidence({**parquet_env.paths, "bench": bench}, None)
    gate = {
        "id": "lat",
        "type": "latency",
        "benchmark": "bench",
        "max_p95_ms": 25,
        "max_p99_ms": 200,
        "instance_price_per_hour": 3.6,
    }
    g = run([gate], parquet_env.version({"bench": item}), evidence).gates[0]
    assert g.status is GateStatus.FAIL
    assert g.details["decided_by"] == {"statistic": "p95_ms"}
    assert g.observed == 30 and g.threshold == 25
    assert g.details["cost_per_1000"] == pytest.approx(3.6 / 3600 * 0.012 * 1000)


def test_latency_measure_needs_allow_measure_and_a_matching_digest(
    parquet_env: DataGates, tmp_path: Path
) -> None:
    from sklearn.linear_model import LogisticRegression

    t = parquet_env.tables["evaluation"]
    x = np.column_stack([t.column("x2").to_numpy(), t.column("score").to_numpy()])
    model = LogisticRegression().fit(x, t.column("label").to_numpy())
    artifact = tmp_path / "model.pkl"
    artifact.write_bytes(pickle.dumps(model))
    sha = hashlib.sha256(artifact.read_bytes()).hexdigest()
    version = parquet_env.version().model_copy(
        update={"artifact": Artifact(uri="model.pkl", sha256=sha)}
    )
    evidence = FileEvidence(dict(parquet_env.paths), artifact)
    gate = {
        "id": "lat",
        "type": "latency",
        "allow_measure": True,
        "dataset": "evaluation",
        "columns": {"features": ["x2", "score"]},
        "max_p95_ms": 5000,
        "repeats": 20,
        "warmup": 2,
        "batch_size": 8,
    }
    g = run([gate], version, evidence).gates[0]
    assert g.status is GateStatus.PASS, g.message
    lat = g.details["latency_ms"]
    assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"]
    assert g.details["source"] == "measured"
    tampered = version.model_copy(update={"artifact": Artifact(uri="model.pkl", sha256="0" * 64)})
    bad = run([gate], tampered, evidence).gates[0]
    assert bad.status is GateStatus.ERROR and "refusing to unpickle" in bad.message


def test_latency_params_require_an_explicit_mode() -> None:
    from clearance.core.gates.latency import LatencyParams

    with pytest.raises(ValueError, match="allow_measure"):
        LatencyParams(max_p95_ms=100)


# ----------------------------------------------------------------------------- readers


def _parquet_bytes() -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.table({"a": [1.0, None, 3.0], "b": ["x", None, "y"], "c": [1, None, 3]}), buf)
    return buf.getvalue()


def test_readers_return_only_the_asked_columns(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("core_conftest", CORE_CONFTEST)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fake_evidence = module.FakeEvidence

    data = _parquet_bytes()
    path = tmp_path / "d.parquet"
    path.write_bytes(data)
    store = FileBlobStore(tmp_path / "blobs")
    sha, _ = store.put_file(path)
    readers: list[Any] = [
        fake_evidence({"d": data}),
        FileEvidence({"d": path}, None),
        BlobEvidence(store, {"d": sha}, None),
    ]
    for reader in readers:
        cols = reader.read_columns("d", ["b", "c"])
        assert isinstance(cols, Columns) and list(cols) == ["b", "c"]
        assert cols["b"].tolist() == [0, -1, 1] and cols.categories["b"] == ["x", "y"]
        assert cols.nulls["c"].tolist() == [False, True, False]
        assert cols.schema == {"a": "float64", "b": "string", "c": "int64"}
        with pytest.raises(ValueError, match="'zz'"):
            reader.read_columns("d", ["zz"])
        with pytest.raises(KeyError):
            reader.read_columns("nope", ["a"])
    with pytest.raises(KeyError):
        NoEvidence().read_columns("d", ["a"])


def test_a_corrupted_blob_is_not_served(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    path.write_bytes(_parquet_bytes())
    store = FileBlobStore(tmp_path / "blobs")
    sha, _ = store.put_file(path)
    store.path(sha).write_bytes(b"PAR1 tampered")
    with pytest.raises(OSError, match="corrupted"):
        BlobEvidence(store, {"d": sha}, None).read_columns("d", ["a"])


# ----------------------------------------------------------------------------- CLI


def check(to: str, *extra: str) -> Any:
    return CliRunner().invoke(
        app,
        [
            "check",
            "-p",
            str(EXAMPLE / "policy"),
            "-m",
            str(EXAMPLE / "v3-blocked" / "manifest.yaml"),
            "--to",
            to,
            "--now",
            "2026-03-01T00:00:00Z",
            *extra,
        ],
    )


def test_cli_check_on_the_example_staging_passes() -> None:
    result = check("staging", "--from", "draft")
    assert result.exit_code == 0, result.output
    assert "evaluation_quality" in result.output and "auc_floor" in result.output


def test_cli_check_on_the_example_production_is_blocked_by_drift() -> None:
    result = check("production")
    assert result.exit_code == 1, result.output
    out = " ".join(result.output.split())
    assert "feature_drift fail" in out
    assert "column utilization: drifted" in out
    assert "column region: drifted" in out
    assert "group " in out  # the fairness gate's deciding groups


def test_cli_check_json_carries_the_details() -> None:
    result = check("production", "--json")
    decision = json.loads(result.output)
    gates = {g["gate_id"]: g for g in decision["gates"]}
    assert gates["feature_drift"]["details"]["drifted_columns"] == ["utilization", "region"]
    assert gates["auc_vs_champion"]["details"]["family_size"] == 2
    assert gates["approval_rate_parity"]["details"]["groups"]


def test_example_files_are_small() -> None:
    for path in (EXAMPLE / "v3-blocked").glob("*.parquet"):
        assert path.stat().st_size < 200_000, path


def test_example_data_is_reproduced_by_its_generator(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("generate", EXAMPLE / "generate.py")
    assert spec is not None and spec.loader is not None
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    generate.main(tmp_path)
    for name in ("evaluation", "reference", "champion"):
        fresh = pq.read_table(tmp_path / f"{name}.parquet")
        committed = pq.read_table(EXAMPLE / "v3-blocked" / f"{name}.parquet")
        assert _ipc(fresh) == _ipc(committed), name  # bytewise: NaN == NaN here


def _ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    return bytes(sink.getvalue().to_pybytes())
