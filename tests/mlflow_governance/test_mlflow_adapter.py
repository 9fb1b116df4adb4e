"""``MlflowRegistry`` against a real MLflow: a SQLite tracking store in a temporary folder.

One module-wide store holds two training runs logged here (nothing is downloaded): run 1
logs params, metrics, the git commit tag, two datasets and an MLflow 3 logged model (a small
pyfunc); run 2 logs a plain artifact folder. Each test registers them as versions 1 and 2
of a registered model of its own. (MLflow 3.17 keeps the ``file:`` store in maintenance
mode behind ``MLFLOW_ALLOW_FILE_STORE``; SQLite is what it recommends.)
"""

from __future__ import annotations

import hashlib
import itertools
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mlflow_env import COMMIT, MlflowEnv, mlflow_store, require_mlflow, setup_workspace

require_mlflow()

import mlflow  # noqa: E402
import pandas as pd  # noqa: E402
from mlflow import MlflowClient  # noqa: E402

from clearance.adapters.clock import FixedClock  # noqa: E402
from clearance.adapters.mlflow import MlflowRegistry  # noqa: E402
from clearance.errors import NotFound  # noqa: E402
from clearance.service.mlflow_port import MlflowUnavailable  # noqa: E402
from clearance.workspace import Workspace  # noqa: E402


class Scorer(mlflow.pyfunc.PythonModel):
    def predict(self, context: Any, model_input: Any) -> Any:
        return model_input["income"] > 0


@dataclass(frozen=True)
class Tracking:
    uri: str
    logged_run: str  # run 1: a logged model named "model"
    plain_run: str  # run 2: an artifact folder "model"


def log_runs(uri: str, root: Path) -> Tracking:
    """Log the two runs into the store at ``uri`` (the current tracking URI), as a training
    script would."""
    exp = mlflow.create_experiment("credit", artifact_location=(root / "artifacts").as_uri())
    frame = pd.DataFrame({"income": [1.0, 2.0, 3.0], "utilization": [0.1, 0.5, 0.9]})
    with mlflow.start_run(experiment_id=exp) as logged:
        mlflow.log_params({"lr": 0.1, "seed": 7})
        mlflow.log_metrics({"auc": 0.83, "loss": 0.41})
        mlflow.set_tag("mlflow.source.git.commit", COMMIT)
        train = mlflow.data.from_pandas(frame, source="s3://bank/loans/train.parquet", name="train")
        mlflow.log_input(train, context="training")
        held = mlflow.data.from_pandas(
            frame.head(2), source="s3://bank/loans/eval.parquet", name="eval"
        )
        mlflow.log_input(held, context="evaluation")
        signature = mlflow.models.infer_signature(frame, [True, True, True])
        mlflow.pyfunc.log_model(  # pip_requirements: no inference, which loads the model
            name="model", python_model=Scorer(), signature=signature, pip_requirements=["mlflow"]
        )
    folder = root / "plain"
    (folder / "data").mkdir(parents=True)
    (folder / "MLmodel").write_text("flavors: {}\n")
    (folder / "data" / "weights.bin").write_bytes(bytes(range(256)) * 4)
    with mlflow.start_run(experiment_id=exp) as plain:
        mlflow.log_params({"lr": 0.05, "seed": 11})
        mlflow.log_metric("auc", 0.86)
        mlflow.set_tag("mlflow.source.git.commit", COMMIT[::-1])
        mlflow.log_artifacts(str(folder), "model")
    return Tracking(uri, logged.info.run_id, plain.info.run_id)


@pytest.fixture(scope="module")
def tracking(
    tmp_path_factory: pytest.TempPathFactory, mlflow_db_template: Path
) -> Iterator[Tracking]:
    """The store, also MLflow's current tracking URI for the module: registering a logged
    model resolves it through that URI."""
    root = tmp_path_factory.mktemp("mlflow")
    uri = mlflow_store(mlflow_db_template, root)
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        yield log_runs(uri, root)
    finally:
        mlflow.set_tracking_uri(previous)


_names = (f"credit-{n}" for n in itertools.count())


def register_versions(uri: str, tracking: Tracking, name: str) -> None:
    client = MlflowClient(tracking_uri=uri)
    client.create_registered_model(name)
    for run_id in (tracking.logged_run, tracking.plain_run):
        mlflow_model_version(client, name, run_id)


def mlflow_model_version(client: Any, name: str, run_id: str) -> None:
    run = client.get_run(run_id)
    outputs = run.outputs.model_outputs if run.outputs else []
    source = (
        client.get_logged_model(outputs[0].model_id).model_uri
        if outputs
        else f"{run.info.artifact_uri}/model"
    )
    client.create_model_version(name, source, run_id=run_id)


@pytest.fixture
def real(
    tracking: Tracking, workspace: Workspace, clock: FixedClock, tmp_path: Path
) -> Iterator[MlflowEnv]:
    name = next(_names)
    register_versions(tracking.uri, tracking, name)
    setup_workspace(workspace, tmp_path)
    yield MlflowEnv(workspace, clock, tmp_path, MlflowRegistry(tracking.uri), model=name)


def test_the_registry_reads_what_the_runs_logged(real: MlflowEnv, tracking: Tracking) -> None:
    port = real.mlflow
    mv = port.model_version(real.model, "1")
    assert (mv.run_id, mv.source.startswith("models:/m-")) == (tracking.logged_run, True)
    run = port.run(tracking.logged_run)
    assert run.params == {"lr": "0.1", "seed": "7"}
    assert run.metrics == {"auc": 0.83, "loss": 0.41}
    assert run.tags["mlflow.source.git.commit"] == COMMIT
    assert sorted((d.name, d.context, d.source_type) for d in run.datasets) == [
        ("eval", "evaluation", "s3"),
        ("train", "training", "s3"),
    ]
    files = {f.path for f in port.list_files(mv.storage_uri)}
    assert {"MLmodel", "python_model.pkl", "requirements.txt"} <= files
    plain = port.model_version(real.model, "2").storage_uri
    assert {(f.path, f.size) for f in port.list_files(plain)} == {
        ("MLmodel", 12),
        ("data/weights.bin", 1024),
    }
    assert port.run_storage(tracking.logged_run, "model") == mv.storage_uri


def test_a_logged_model_registers_governs_and_moves_champion(real: MlflowEnv) -> None:
    client = MlflowClient(tracking_uri=real.mlflow.location())
    name = real.model
    out = real.register(f"models:/{name}/1", model=name)
    record = out.version.record
    assert record["lineage"]["code_commit"] == COMMIT
    assert record["lineage"]["seed"] == 7
    assert record["lineage"]["data_snapshot"].startswith("train@")
    assert record["features"] == ["income", "utilization"]
    assert client.get_model_version(name, "1").tags["clearance.stage"] == "draft"

    real.promote("1", "staging")  # reproducibility passes: MLflow gave every lineage field
    result = real.promote("1", "production")
    real.gov.after_move(name)

    assert client.get_registered_model(name).aliases == {"champion": 1}
    tags = client.get_model_version(name, "1").tags
    assert tags["clearance.decision"] == result.decision.decision_id
    assert tags["clearance.policy"] == "credit-mlflow@1.0.0"


def test_a_hand_moved_champion_is_caught_and_moved_back(real: MlflowEnv) -> None:
    client = MlflowClient(tracking_uri=real.mlflow.location())
    name = real.model
    for v in ("1", "2"):
        real.register(f"models:/{name}/{v}", model=name)
    real.promote("1", "staging")
    real.promote("1", "production")
    real.gov.after_move(name)
    client.set_registered_model_alias(name, "champion", "2")  # by hand

    (result,) = real.gov.reconcile(revert=True)

    assert [(c.target, c.found, c.expected) for c in result.ungoverned] == [("@champion", "2", "1")]
    assert client.get_registered_model(name).aliases == {"champion": 1}
    assert len(real.alerts()) == 1


def test_a_plain_run_folder_registers_with_its_digest(real: MlflowEnv, tracking: Tracking) -> None:
    out = real.register(f"runs:/{tracking.plain_run}/model", model=real.model, version="r2")
    listing = (
        "".join(
            f"{hashlib.sha256(content).hexdigest()}  {path}\n"
            for path, content in (
                ("MLmodel", b"flavors: {}\n"),
                ("data/weights.bin", bytes(range(256)) * 4),
            )
        )
    ).encode()
    assert out.version.record["artifact"] == {
        "uri": f"runs:/{tracking.plain_run}/model",
        "sha256": hashlib.sha256(listing).hexdigest(),
    }


def test_mlflows_errors_are_translated(real: MlflowEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(NotFound, match=r"MLflow: model .* version 99"):
        real.mlflow.model_version(real.model, "99")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    down = MlflowRegistry("http://127.0.0.1:9")  # the discard port: nothing listens
    with pytest.raises(MlflowUnavailable, match="MLflow: model m"):
        down.aliases("m")
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "0"


def test_credentials_never_reach_provenance() -> None:
    port = MlflowRegistry("http://svc:s3cret@mlflow.internal:5000")
    assert port.location() == "http://mlflow.internal:5000"


def test_the_documented_recipe_recomputes_the_digest(real: MlflowEnv, tmp_path: Path) -> None:
    """docs/mlflow.md: download by the models:/ URI, drop the registered_model_meta some
    MLflow versions add, and sha256sum the listing."""
    if shutil.which("sha256sum") is None:
        pytest.skip("sha256sum (GNU coreutils) is not installed")
    out = real.register(f"models:/{real.model}/1", model=real.model)
    folder = tmp_path / "model"
    folder.mkdir()
    mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{real.model}/1", dst_path=str(folder)
    )
    (folder / "registered_model_meta").unlink(missing_ok=True)  # 3.17 adds it, 3.18 not
    shell = subprocess.run(
        "find . -type f | sed 's|^\\./||' | LC_ALL=C sort | xargs -d '\\n' sha256sum | sha256sum",
        shell=True,
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    )
    assert shell.stdout.split()[0] == out.version.record["artifact"]["sha256"]
