"""The commands a user runs: ``clearance register models:/...``, the moves after it, and
``clearance mlflow reconcile``, on a SQLite workspace wired by ``.clearance/mlflow.yaml`` to
a real MLflow (a SQLite tracking store). Also ``--version`` and the register options."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from mlflow_env import MODEL_FLAGS, mlflow_store, setup_workspace

from clearance import __version__
from clearance.workspace import Workspace, init_workspace
from cli_runner import Cli


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    ws = init_workspace(tmp_path / "ws")
    setup_workspace(ws, tmp_path)
    return ws


@pytest.fixture
def cli(ws: Workspace) -> Cli:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLEARANCE_", "MLFLOW_"))}
    return Cli(env={**env, "CLEARANCE_WORKSPACE": str(ws.root)})


@pytest.fixture
def tracking(ws: Workspace, mlflow_db_template: Path, tmp_path: Path) -> Iterator[str]:
    """MLflow with registered model ``credit``: versions 1 (a logged model) and 2 (a plain
    folder), and ``mlflow.yaml`` pointing at it."""
    import mlflow
    from test_mlflow_adapter import log_runs, register_versions

    uri = mlflow_store(mlflow_db_template, tmp_path / "mlflow")
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)  # registering a logged model resolves it through this
    try:
        register_versions(uri, log_runs(uri, tmp_path / "mlflow"), "credit")
        ws.mlflow_file.write_text(yaml.safe_dump({"tracking_uri": uri}))
        yield uri
    finally:
        mlflow.set_tracking_uri(previous)


def _flags() -> list[str]:
    flags = ["--risk-tier", MODEL_FLAGS["risk_tier"], "--owner", MODEL_FLAGS["owner"]]
    flags += ["--team", MODEL_FLAGS["team"]]
    return flags + [f"--tag={k}={v}" for k, v in MODEL_FLAGS["tags"].items()]


def test_register_promote_and_reconcile_a_hand_moved_champion(
    cli: Cli, ws: Workspace, tracking: str
) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking)
    ran = cli("register", "models:/credit/1", *_flags(), "--as", "alice")
    assert ran.returncode == 0, ran.stderr
    assert "registered credit 1 in stage draft from models:/credit/1" in ran.stdout
    assert client.get_model_version("credit", "1").tags["clearance.stage"] == "draft"

    assert cli("promote", "credit", "1", "--to", "staging", "--as", "alice").returncode == 0
    asked = cli("promote", "credit", "1", "--to", "production", "--as", "alice", "--json")
    assert asked.returncode == 0, asked.stderr
    request = json.loads(asked.stdout)["request"]["id"]
    approved = cli("approve", str(request), "--as", "carol")
    assert approved.returncode == 0, approved.stderr

    # the approval moved @champion and tagged the decision: no sync command was run
    assert client.get_registered_model("credit").aliases == {"champion": 1}
    assert client.get_model_version("credit", "1").tags["clearance.stage"] == "production"
    assert cli("mlflow", "reconcile").returncode == 0  # in step

    client.set_registered_model_alias("credit", "champion", "2")  # by hand, in MLflow
    found = cli("mlflow", "reconcile", "--json")

    assert found.returncode == 1, found.stderr
    (result,) = json.loads(found.stdout)
    assert [(c["target"], c["found"], c["expected"]) for c in result["ungoverned"]] == [
        ("@champion", "2", "1")
    ]
    with ws.store.reading() as tx:
        events = [e for e in tx.events() if e.action == "mlflow.ungoverned_change"]
        alerts = [a for a in tx.notifications() if a["event"] == "non_compliant"]
    assert [(e.actor, e.payload["found"]) for e in events] == [("clearance-mlflow", "2")]
    assert len(alerts) == 1 and alerts[0]["severity"] == "critical"

    moved_back = cli("mlflow", "reconcile", "credit", "--revert")
    assert moved_back.returncode == 1  # found again, and this time moved back
    assert "UNGOVERNED @champion: 2, clearance has 1; moved back" in moved_back.stdout
    assert client.get_registered_model("credit").aliases == {"champion": 1}


def test_mlflow_down_leaves_the_approval_standing(
    cli: Cli, ws: Workspace, tracking: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert cli("register", "models:/credit/1", *_flags(), "--as", "alice").returncode == 0
    assert cli("promote", "credit", "1", "--to", "staging", "--as", "alice").returncode == 0
    # MLflow gone between the registration and the promotion
    ws.mlflow_file.write_text(yaml.safe_dump({"tracking_uri": "http://127.0.0.1:9"}))
    cli.env |= {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "2"}

    asked = cli("promote", "credit", "1", "--to", "production", "--as", "alice", "--json")
    request = json.loads(asked.stdout)["request"]["id"]
    approved = cli("approve", str(request), "--as", "carol")

    assert approved.returncode == 0, approved.stderr
    # logged (a process without logging set up prints it on stderr; pytest captures it)
    assert "MLflow is behind for credit" in caplog.text
    shown = cli("status", "credit", "--json")
    assert '"production"' in shown.stdout
    unreachable = cli("mlflow", "reconcile")
    assert unreachable.returncode == 2 and "not checked" in unreachable.stderr


def test_register_options_and_errors(cli: Cli, tmp_path: Path) -> None:
    manifest = tmp_path / "model.yaml"
    manifest.write_text("model: {name: m}\n")
    mixed = cli("register", str(manifest), "--risk-tier", "high", "--as", "alice")
    assert mixed.returncode == 2 and "--risk-tier apply to an MLflow URI only" in mixed.stderr
    unset = cli("register", "models:/credit/1", "--as", "alice")
    assert unset.returncode == 2 and "no .clearance/mlflow.yaml" in unset.stderr
    bad_tag = cli("register", "runs:/r1/model", "--tag", "domain", "--as", "alice")
    assert bad_tag.returncode == 2 and "--tag 'domain': give KEY=VALUE" in bad_tag.stderr
    assert cli("mlflow", "reconcile").returncode == 2


def test_version_option_prints_the_version(cli: Cli) -> None:
    ran = cli("--version")
    assert (ran.returncode, ran.stdout.strip()) == (0, __version__)
    assert cli("version").stdout == ran.stdout
    shown = cli("--show-completion", "bash")
    assert shown.returncode == 0 and "clearance" in shown.stdout
