"""The MLflow use cases as the product reaches them: the contract (the CLI's and the API's
one way in), the write-back after every committed move, and ``tick``.

On ``InMemoryMlflow``: the workspace's ``mlflow`` is the governance over it (set on the
workspace, as ``mlflow.yaml`` would wire the real adapter).
"""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mlflow_env import MODEL, MODEL_FLAGS, MlflowEnv

from clearance.cli.mlflow import parse_tags
from clearance.errors import InputError, NotFound, NotPermitted
from clearance.local import LocalClearance
from clearance.service.mlflow_settings import MlflowSettingsError
from clearance.testing.mlflow import InMemoryMlflow
from clearance.workspace import Workspace


@pytest.fixture
def wired(menv: MlflowEnv) -> MlflowEnv:
    menv.ws.mlflow = menv.gov  # what Workspace.mlflow builds from mlflow.yaml
    return menv


def _as(ws: Workspace, user: str) -> LocalClearance:
    return LocalClearance(ws, user)


def _to_production(ws: Workspace, version: str) -> None:
    _as(ws, "alice").promote(MODEL, version, "staging")
    request = _as(ws, "alice").promote(MODEL, version, "production").request
    done = _as(ws, "carol").approve(request.id)
    assert done.executed, done.decision.summary


def _register(ws: Workspace, uri: str) -> None:
    _as(ws, "alice").register_mlflow(uri, **MODEL_FLAGS)


def test_every_committed_move_moves_mlflow_without_a_sync_call(
    wired: MlflowEnv, fake: InMemoryMlflow
) -> None:
    ws = wired.ws
    for v in ("1", "2"):
        _register(ws, f"models:/{MODEL}/{v}")
    _to_production(ws, "1")
    assert fake.aliases(MODEL) == {"champion": "1"}
    assert fake.version_tags(MODEL, "1")["clearance.stage"] == "production"

    _to_production(ws, "2")  # the replacement moves the alias and deprecates 1 in MLflow
    assert fake.aliases(MODEL) == {"champion": "2"}
    assert fake.version_tags(MODEL, "1")["clearance.stage"] == "deprecated"

    _as(ws, "frank").rollback(MODEL, reason="INC-7: approval rate fell")
    assert fake.aliases(MODEL) == {"champion": "1"}
    assert fake.version_tags(MODEL, "2")["clearance.stage"] == "deprecated"


def test_a_rejection_syncs_the_request_model(wired: MlflowEnv, fake: InMemoryMlflow) -> None:
    ws = wired.ws
    _register(ws, f"models:/{MODEL}/1")
    fake.down = True  # the move to staging is not written to MLflow
    _as(ws, "alice").promote(MODEL, "1", "staging")
    request = _as(ws, "alice").promote(MODEL, "1", "production").request
    fake.down = False
    assert fake.version_tags(MODEL, "1")["clearance.stage"] == "draft"

    _as(ws, "carol").reject(request.id, reason="the fairness report is missing")

    assert fake.version_tags(MODEL, "1")["clearance.stage"] == "staging"


def test_mlflow_down_never_fails_or_undoes_the_decision(
    wired: MlflowEnv, fake: InMemoryMlflow, caplog: pytest.LogCaptureFixture
) -> None:
    ws = wired.ws
    _register(ws, f"models:/{MODEL}/1")
    _as(ws, "alice").promote(MODEL, "1", "staging")
    request = _as(ws, "alice").promote(MODEL, "1", "production").request
    fake.down = True

    with caplog.at_level(logging.WARNING, logger="clearance.mlflow"):
        done = _as(ws, "carol").approve(request.id)

    assert done.executed
    assert _as(ws, "alice").version(MODEL, "1").stage == "production"
    assert "MLflow is behind for credit" in caplog.text
    fake.down = False
    assert fake.aliases(MODEL) == {}  # behind ...

    summary = _as(ws, "frank").tick()  # ... until the next sync, here the tick

    assert fake.aliases(MODEL) == {"champion": "1"}
    assert "mlflow credit: wrote @champion = 1" in summary.actions


def test_a_bad_mlflow_yaml_does_not_fail_the_move(
    menv: MlflowEnv, caplog: pytest.LogCaptureFixture
) -> None:
    ws = menv.ws
    (ws.home / "mlflow.yaml").write_text("aliases: {production: latest}\n")
    with caplog.at_level(logging.WARNING, logger="clearance.mlflow"):
        menv.register("models:/credit/1")  # through the service: the file is not read
        out = _as(ws, "alice").promote(MODEL, "1", "staging")

    assert out.executed
    assert "MLflow is behind (promote)" in caplog.text and "latest" in caplog.text
    with pytest.raises(MlflowSettingsError, match=r"mlflow.yaml:1:.*not an alias MLflow accepts"):
        _as(ws, "frank").reconcile_mlflow()
    summary = _as(ws, "frank").tick()  # the tick's other work still runs
    assert any(a.startswith("mlflow: not reconciled:") for a in summary.actions)


def test_without_mlflow_yaml_the_operations_say_so(menv: MlflowEnv) -> None:
    assert menv.ws.mlflow is None
    with pytest.raises(NotFound, match=r"no \.clearance/mlflow\.yaml"):
        _as(menv.ws, "alice").register_mlflow("models:/credit/1")
    assert "mlflow" not in " ".join(_as(menv.ws, "frank").tick().actions)


def test_tick_reconciles_and_delivers_the_alert(wired: MlflowEnv, fake: InMemoryMlflow) -> None:
    ws = wired.ws
    for v in ("1", "2"):
        _register(ws, f"models:/{MODEL}/{v}")
    _to_production(ws, "1")
    fake.set_alias(MODEL, "champion", "2")  # by hand

    summary = _as(ws, "frank").tick()

    assert "mlflow credit: ungoverned change @champion: found 2, expected 1" in summary.actions
    assert summary.routed >= 1  # the critical non_compliant alert was routed in this tick
    (event,) = wired.events("mlflow.ungoverned_change")
    assert event.payload["found"] == "2"


def test_reconcile_through_the_contract(wired: MlflowEnv, fake: InMemoryMlflow) -> None:
    ws = wired.ws
    for v in ("1", "2"):
        _register(ws, f"models:/{MODEL}/{v}")
    _to_production(ws, "1")
    fake.set_alias(MODEL, "champion", "2")

    with pytest.raises(NotPermitted):  # the roles that may run tick
        _as(ws, "alice").reconcile_mlflow()
    (result,) = _as(ws, "frank").reconcile_mlflow([MODEL], revert=True)

    assert [(c.target, c.reverted) for c in result.ungoverned] == [("@champion", True)]
    assert fake.aliases(MODEL) == {"champion": "1"}
    with pytest.raises(NotFound):
        _as(ws, "frank").reconcile_mlflow(["no-such-model"])


def test_register_from_a_run_and_by_alias(wired: MlflowEnv, fake: InMemoryMlflow) -> None:
    fake.set_alias(MODEL, "candidate", "2")
    out = _as(wired.ws, "alice").register_mlflow("models:/credit@candidate", **MODEL_FLAGS)
    assert (out.version.version, out.version.record["artifact"]["uri"]) == ("2", "models:/credit/2")
    assert out.sync is not None and out.sync.error is None

    run = _as(wired.ws, "alice").register_mlflow(
        "runs:/r1/model", model="credit-runs", version="r1"
    )
    assert run.sync is None  # a run has no model version to tag
    with pytest.raises(InputError, match="not an MLflow model URI"):
        _as(wired.ws, "alice").register_mlflow("models:/credit")


# --tag KEY=VALUE ------------------------------------------------------------------------------
_keys = st.text(min_size=1, max_size=20).filter(lambda k: "=" not in k and k.strip())


@given(st.dictionaries(_keys, st.text(max_size=30), max_size=5))
def test_tags_round_trip(tags: dict[str, str]) -> None:
    assert parse_tags([f"{k}={v}" for k, v in tags.items()]) == tags


@given(st.text(max_size=30).filter(lambda t: "=" not in t))
def test_a_tag_without_a_value_is_refused(text: str) -> None:
    with pytest.raises(InputError, match="--tag"):
        parse_tags([text])


def test_a_tag_twice_or_without_a_key_is_refused() -> None:
    with pytest.raises(InputError, match="given twice"):
        parse_tags(["a=1", "a=2"])
    with pytest.raises(InputError, match="KEY=VALUE"):
        parse_tags(["=1"])
    assert parse_tags(["url=https://x.example/?a=b"]) == {"url": "https://x.example/?a=b"}
