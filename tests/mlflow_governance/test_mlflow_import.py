"""Registering from MLflow builds the version from MLflow itself (on ``InMemoryMlflow``)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from mlflow_env import COMMIT, MODEL, MlflowEnv, model_files, training_run

from clearance.errors import InputError, NotFound, NotPermitted
from clearance.service.mlflow_import import artifact_listing, parse_source
from clearance.testing.mlflow import InMemoryMlflow


def _record(menv: MlflowEnv, version: str) -> dict[str, object]:
    with menv.ws.store.reading() as tx:
        model = tx.get_model(MODEL)
        assert model is not None
        row = tx.get_version(model.id, version)
        assert row is not None
        return row.record


def _provenance(menv: MlflowEnv, version: str) -> dict[str, object]:
    with menv.ws.store.reading() as tx:
        model = tx.get_model(MODEL)
        assert model is not None
        row = tx.get_version(model.id, version)
        assert row is not None
        (item,) = [e.item for e in tx.evidence_for(row.id) if e.item.name == "mlflow_provenance"]
    assert item.sha256 is not None
    return json.loads(menv.ws.blobs.read(item.sha256))


def test_a_model_version_becomes_a_clearance_version_with_its_lineage(menv: MlflowEnv) -> None:
    out = menv.register("models:/credit/1")

    assert (out.version.version, out.version.stage) == ("1", "draft")
    record = _record(menv, "1")
    assert record["metrics"] == {"auc": 0.83}  # the NaN loss cannot be compared: dropped
    assert record["params"] == {"lr": "0.1", "seed": "7", "max_depth": "4"}
    assert record["features"] == ["income", "utilization"]  # from the MLmodel signature
    assert record["tags"] == {
        "team": "risk",
        "mlflow.model_name": "credit",
        "mlflow.model_version": "1",
        "mlflow.run_id": "r1",
    }
    params_digest = hashlib.sha256(b'{"lr":"0.1","max_depth":"4","seed":"7"}').hexdigest()
    lock = hashlib.sha256(model_files()["requirements.txt"]).hexdigest()
    assert record["lineage"] == {
        "code_commit": COMMIT,
        "data_snapshot": "loans-train@a5357541",  # the training dataset, not the eval one
        "config_digest": params_digest,
        "seed": 7,
        "environment_lock_digest": lock,
    }
    artifact = record["artifact"]
    assert isinstance(artifact, dict) and artifact["uri"] == "models:/credit/1"
    # the stored artifact is the listing, whose sha256 is the recorded digest
    listing = menv.ws.blobs.read(artifact["sha256"]).decode()
    assert hashlib.sha256(listing.encode()).hexdigest() == artifact["sha256"]
    assert [line.split("  ")[1] for line in listing.splitlines()] == [
        "MLmodel",
        "data/model.pkl",
        "requirements.txt",
    ]


def test_the_provenance_evidence_keeps_what_mlflow_said(menv: MlflowEnv) -> None:
    menv.register("models:/credit/2")

    p = _provenance(menv, "2")
    assert p["requested"] == "models:/credit/2" and p["tracking"] == "memory://mlflow"
    run = p["run"]
    assert isinstance(run, dict)
    assert run["run_id"] == "r2" and run["metrics"] == {"auc": 0.85}
    assert [d["name"] for d in run["datasets"]] == ["loans-train", "loans-eval"]
    assert p["dropped_metrics"] == ["loss"]
    artifact = p["artifact"]
    assert isinstance(artifact, dict)
    assert {f["path"]: f["size"] for f in artifact["files"]} == {
        "MLmodel": len(model_files()["MLmodel"]),
        "data/model.pkl": len(b"weights-v2"),
        "requirements.txt": len(model_files()["requirements.txt"]),
    }


def test_the_registered_version_passes_the_reproducibility_gate(menv: MlflowEnv) -> None:
    """MLflow gives every pinned lineage field, and the stored listing matches its digest."""
    menv.register("models:/credit/1")
    result = menv.ws.promotions.promote(MODEL, "1", "staging", actor="alice")

    gates = {g.gate_id: g.status.value for g in result.decision.gates}
    assert gates == {"reproducibility": "pass", "auc_floor": "pass"}, result.decision.summary


def test_an_alias_registers_the_version_it_names_now(menv: MlflowEnv, fake: InMemoryMlflow) -> None:
    fake.set_alias(MODEL, "candidate", "2")
    out = menv.register("models:/credit@candidate")

    assert out.version.version == "2"
    assert _record(menv, "2")["artifact"]["uri"] == "models:/credit/2"  # type: ignore[index]
    assert _provenance(menv, "2")["requested"] == "models:/credit@candidate"


def test_a_run_registers_under_the_name_given(menv: MlflowEnv, fake: InMemoryMlflow) -> None:
    fake.add_run(training_run("r9", auc=0.9), model_files(b"weights-r9"))
    out = menv.register("runs:/r9/model", model="credit", version="r9")

    assert out.version.version == "r9"
    assert out.sync is None  # no MLflow model version to tag
    record = _record(menv, "r9")
    assert record["tags"] == {"mlflow.run_id": "r9"}
    assert record["artifact"]["uri"] == "runs:/r9/model"  # type: ignore[index]
    with pytest.raises(InputError, match="a run has no registered model name"):
        menv.gov.register("runs:/r9/model", actor="alice")


def test_the_artifact_digest_is_what_sha256sum_gives(tmp_path: Path) -> None:
    """The documented shell pipeline recomputes the digest from the files alone."""
    if shutil.which("sha256sum") is None:
        pytest.skip("sha256sum (GNU coreutils) is not installed")
    for path, content in {**model_files(), "Data/b.bin": b"x", "a b.txt": b"y"}.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(content)
    listing, files = artifact_listing(tmp_path)
    shell = subprocess.run(
        "find . -type f | sed 's|^\\./||' | LC_ALL=C sort | xargs -d '\\n' sha256sum | sha256sum",
        shell=True,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert shell.stdout.split()[0] == hashlib.sha256(listing.encode()).hexdigest()
    assert [f["path"] for f in files][:2] == ["Data/b.bin", "MLmodel"]  # bytes order: D < M


@pytest.mark.parametrize(
    "uri",
    ["models:/credit", "models:/credit/x", "runs:/r1/../../etc", "runs:/r1/", "s3://b/m", "m"],
)
def test_a_uri_that_names_no_model_version_is_refused(uri: str) -> None:
    with pytest.raises(InputError, match=r"MLflow model URI|must name a folder"):
        parse_source(uri)


def test_unknown_names_in_mlflow_are_not_found(menv: MlflowEnv) -> None:
    before = menv.head()
    for uri in ("models:/credit/9", "models:/nope/1", "models:/credit@nope", "runs:/r404/model"):
        with pytest.raises(NotFound, match="MLflow"):
            menv.register(uri, model="credit")
    assert menv.head() == before


def test_a_refused_user_downloads_nothing(menv: MlflowEnv, fake: InMemoryMlflow) -> None:
    fake.files.clear()  # any download would now fail with a KeyError
    with pytest.raises(NotPermitted, match="may not register"):
        menv.register("models:/credit/1", actor="frank")


def test_versions_are_immutable(menv: MlflowEnv, fake: InMemoryMlflow) -> None:
    menv.register("models:/credit/1")
    with pytest.raises(InputError, match="already registered"):
        menv.register("models:/credit/1")
    fake.set_alias(MODEL, "candidate", "1")  # the same MLflow version under another name
    with pytest.raises(InputError, match="version 1 is already registered in clearance"):
        menv.register("models:/credit@candidate", version="c1")


def test_a_later_version_inherits_the_models_risk_tier(menv: MlflowEnv) -> None:
    menv.register("models:/credit/1")
    out = menv.gov.register("models:/credit/2", actor="alice")  # no flags this time
    assert out.version.version == "2"


def test_an_artifact_over_the_bounds_is_refused_before_registering(
    menv: MlflowEnv, fake: InMemoryMlflow
) -> None:
    before = menv.head()
    menv.settings = menv.settings.model_copy(update={"max_artifact_bytes": 20})
    with pytest.raises(InputError, match="more than max_artifact_bytes"):
        menv.register("models:/credit/1")
    menv.settings = menv.settings.model_copy(
        update={"max_artifact_bytes": 10**6, "max_artifact_files": 2}
    )
    with pytest.raises(InputError, match=r"has 3 files, more than max_artifact_files \(2\)"):
        menv.register("models:/credit/1")
    assert menv.head() == before


def test_one_mlflow_model_is_governed_as_one_clearance_model(
    menv: MlflowEnv, fake: InMemoryMlflow
) -> None:
    menv.register("models:/credit/1")
    with pytest.raises(InputError, match="already governed as clearance model credit"):
        menv.register("models:/credit/2", model="credit-b")
    other = fake.add_version("scorer", "r1", model_files())
    with pytest.raises(InputError, match="follows MLflow model credit, not scorer"):
        menv.register(f"models:/scorer/{other.version}", model="credit")


def test_a_bad_model_field_is_an_input_error(menv: MlflowEnv) -> None:
    with pytest.raises(InputError, match="model credit: risk_tier: Input should be"):
        menv.register("models:/credit/1", risk_tier="extreme")
