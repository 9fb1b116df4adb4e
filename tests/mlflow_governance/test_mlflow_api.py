"""The MLflow routes: the webhook MLflow calls (HMAC, no token) and the contract's two
operations, on the app over a workspace whose ``mlflow`` is the governance of an
``InMemoryMlflow``."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from mlflow_env import MODEL, MODEL_FLAGS, SECRET, MlflowEnv

from clearance.api.app import create_app
from clearance.client import Client
from clearance.service.mlflow_webhooks import MAX_BODY, mlflow_signature
from clearance.testing.mlflow import InMemoryMlflow
from receivers import HttpReceiver

ALIAS_SET = {
    "entity": "model_version_alias",
    "action": "created",
    "timestamp": "2026-11-22T09:00:00Z",
    "data": {"name": MODEL, "alias": "champion", "version": "2"},
}


@pytest.fixture
def api(menv: MlflowEnv) -> Iterator[TestClient]:
    menv.ws.mlflow = menv.gov
    with TestClient(create_app(menv.ws)) as client:
        yield client


def _token(menv: MlflowEnv, user: str) -> dict[str, str]:
    _, secret = menv.ws.tokens.create(user, actor="admin", operator=True)
    return {"Authorization": f"Bearer {secret}"}


def _signed(menv: MlflowEnv, body: bytes, secret: str = SECRET) -> dict[str, str]:
    delivery, stamp = str(uuid.uuid4()), str(int(menv.clock.now().timestamp()))
    return {
        "Content-Type": "application/json",
        "X-MLflow-Delivery-Id": delivery,
        "X-MLflow-Timestamp": stamp,
        "X-MLflow-Signature": mlflow_signature(secret, delivery, stamp, body),
    }


def _in_production(menv: MlflowEnv) -> None:
    for v in ("1", "2"):
        menv.register(f"models:/{MODEL}/{v}")
    menv.promote("1", "staging")
    menv.promote("1", "production")
    menv.gov.after_move(MODEL)


def test_a_signed_webhook_syncs_and_catches_the_hand_move(
    api: TestClient, menv: MlflowEnv, fake: InMemoryMlflow
) -> None:
    _in_production(menv)
    fake.set_alias(MODEL, "champion", "2")  # by hand, and MLflow calls clearance
    body = json.dumps(ALIAS_SET).encode()

    answer = api.post("/v1/mlflow/webhook", content=body, headers=_signed(menv, body))

    assert answer.status_code == 200, answer.text
    out = answer.json()
    assert out["event"] == "model_version_alias.created"
    (result,) = out["results"]
    assert [(c["target"], c["found"]) for c in result["ungoverned"]] == [("@champion", "2")]
    assert len(menv.events("mlflow.ungoverned_change")) == 1 and len(menv.alerts()) == 1


def test_a_bad_signature_is_401_and_syncs_nothing(
    api: TestClient, menv: MlflowEnv, fake: InMemoryMlflow
) -> None:
    _in_production(menv)
    fake.set_alias(MODEL, "champion", "2")
    body = json.dumps(ALIAS_SET).encode()
    headers = _signed(menv, body, secret="not-the-secret")

    answer = api.post("/v1/mlflow/webhook", content=body, headers=headers)

    assert answer.status_code == 401
    assert "does not match" in answer.json()["detail"]
    assert menv.events("mlflow.ungoverned_change") == []
    altered = api.post(
        "/v1/mlflow/webhook", content=body + b" ", headers=_signed(menv, body)
    )  # signed for another body
    assert altered.status_code == 401


def test_an_oversized_delivery_is_refused_before_it_is_verified(
    api: TestClient, menv: MlflowEnv
) -> None:
    body = b"x" * (MAX_BODY + 1)
    answer = api.post("/v1/mlflow/webhook", content=body, headers=_signed(menv, body))
    assert answer.status_code == 413
    # no Content-Length: cut off while it streams
    chunks = iter([b"x" * (MAX_BODY // 2)] * 3)
    streamed = api.post("/v1/mlflow/webhook", content=chunks, headers=_signed(menv, body))
    assert streamed.status_code == 413


def test_without_mlflow_the_routes_are_404(menv: MlflowEnv) -> None:
    with TestClient(create_app(menv.ws)) as client:
        body = json.dumps(ALIAS_SET).encode()
        webhook = client.post("/v1/mlflow/webhook", content=body, headers=_signed(menv, body))
        reconcile = client.post("/v1/mlflow/reconcile", json={}, headers=_token(menv, "frank"))
    assert (webhook.status_code, reconcile.status_code) == (404, 404)


def test_register_and_reconcile_over_http(
    api: TestClient, menv: MlflowEnv, fake: InMemoryMlflow
) -> None:
    alice = _token(menv, "alice")
    answer = api.post(
        "/v1/mlflow/versions", json={"uri": f"models:/{MODEL}/1", **MODEL_FLAGS}, headers=alice
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["version"]["record"]["artifact"]["uri"] == "models:/credit/1"
    assert fake.version_tags(MODEL, "1")["clearance.stage"] == "draft"
    anonymous = api.post("/v1/mlflow/versions", json={"uri": f"models:/{MODEL}/2"})
    assert anonymous.status_code == 401
    oncall = api.post(
        "/v1/mlflow/versions", json={"uri": f"models:/{MODEL}/2"}, headers=_token(menv, "frank")
    )
    assert oncall.status_code == 403  # mlops_oncall may not register
    bad = api.post("/v1/mlflow/versions", json={"uri": "s3://bucket/model"}, headers=alice)
    assert bad.status_code == 422

    fake.set_tag(MODEL, "1", "clearance.stage", "production")  # by hand
    assert api.post("/v1/mlflow/reconcile", json={}, headers=alice).status_code == 403
    done = api.post("/v1/mlflow/reconcile", json={"revert": True}, headers=_token(menv, "frank"))
    assert done.status_code == 200, done.text
    (result,) = done.json()
    assert [c["target"] for c in result["ungoverned"]] == ["version 1 clearance.stage"]
    assert fake.version_tags(MODEL, "1")["clearance.stage"] == "draft"


@pytest.mark.backends("sqlite")  # an idempotent call's writes are held until it commits
def test_the_sdk_registers_promotes_and_mlflow_follows(
    api: TestClient, menv: MlflowEnv, fake: InMemoryMlflow
) -> None:
    """Through the server, the write-back runs after each committed move, also after those
    whose writes commit with their Idempotency-Key's response (the SDK sends one)."""

    def sdk(user: str) -> Client:
        secret = _token(menv, user)["Authorization"].removeprefix("Bearer ")
        return Client("http://testserver", secret, transport=api._transport, retries=0)

    alice = sdk("alice")
    for v in ("1", "2"):
        out = alice.register_mlflow(f"models:/{MODEL}/{v}", **MODEL_FLAGS)
        assert (out.model, out.version.version) == (MODEL, v)
        # the answer was made before the commit; MLflow was tagged right after it
        assert fake.version_tags(MODEL, v)["clearance.stage"] == "draft"
    assert alice.promote(MODEL, "1", "staging").executed  # idempotent: held, then committed
    assert fake.version_tags(MODEL, "1")["clearance.stage"] == "staging"
    request = alice.promote(MODEL, "1", "production").request
    assert fake.aliases(MODEL) == {}

    assert sdk("carol").approve(request.id).executed
    assert fake.aliases(MODEL) == {"champion": "1"}

    fake.set_alias(MODEL, "champion", "2")
    (result,) = sdk("frank").reconcile_mlflow(revert=True)
    assert [c.target for c in result.ungoverned] == ["@champion"]
    assert fake.aliases(MODEL) == {"champion": "1"}


def test_a_hand_move_caught_by_a_webhook_is_sent_to_the_channels_at_once(
    menv: MlflowEnv,
    fake: InMemoryMlflow,
    http_receiver: HttpReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The critical alert reaches the team's webhook channel during the delivery itself,
    not at the next ``clearance tick``."""
    menv.ws.notifications_file.write_text(
        "channels:\n"
        "  - name: oncall\n"
        "    type: webhook\n"
        f"    url: {http_receiver.url}\n"
        "    secret_env: HOOK_SECRET\n"
        "    events: [non_compliant]\n"
    )
    monkeypatch.setenv("HOOK_SECRET", "a-long-enough-shared-secret")
    menv.ws.mlflow = dataclasses.replace(menv.gov, alert_now=menv.ws.send_alerts)
    _in_production(menv)
    with TestClient(create_app(menv.ws)) as client:
        quiet = json.dumps(ALIAS_SET).encode()  # nothing moved by hand yet: nothing sent
        assert client.post("/v1/mlflow/webhook", content=quiet, headers=_signed(menv, quiet))
        assert http_receiver.at("/hooks/clearance") == []
        fake.set_alias(MODEL, "champion", "2")
        answer = client.post("/v1/mlflow/webhook", content=quiet, headers=_signed(menv, quiet))
    assert answer.status_code == 200, answer.text
    (sent,) = http_receiver.at("/hooks/clearance")
    assert b"non_compliant" in sent.body and b"champion" in sent.body
