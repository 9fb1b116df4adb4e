"""MLflow's registry webhooks: only signed, fresh deliveries are acted on, and they sync."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from mlflow_env import MODEL, SECRET, MlflowEnv

from clearance.adapters.clock import FixedClock
from clearance.errors import InputError, Unauthenticated
from clearance.service.mlflow_webhooks import mlflow_signature, verify_delivery
from clearance.testing.mlflow import InMemoryMlflow

DELIVERY = "6f1e2d3c-0000-4000-8000-000000000001"
NOW = 1795338000  # the tests' clock (tests/conftest.py START), in Unix seconds
BODY = (
    b'{"entity": "model_version_alias", "action": "created", "timestamp": '
    b'"2026-11-22T09:00:00+00:00", "data": {"name": "credit", "alias": "champion", '
    b'"version": "2"}}'
)
# Computed by MLflow's own sender (mlflow.webhooks.delivery, 3.17.2 and 3.18.0) for SECRET,
# DELIVERY, NOW and BODY: a known answer, so these tests check MLflow's scheme, not ours.
MLFLOW_SIGNED = "v1,N1rbhoN+OoE1J8h9fda5D7HRDFc1LXGw5wVB0w0bmqY="


def _headers(signature: str = MLFLOW_SIGNED, timestamp: int = NOW) -> dict[str, str]:
    return {
        "X-MLflow-Delivery-Id": DELIVERY,
        "X-MLflow-Timestamp": str(timestamp),
        "X-MLflow-Signature": signature,
    }


def _at(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def test_the_signature_is_mlflows() -> None:
    assert mlflow_signature(SECRET, DELIVERY, str(NOW), BODY) == MLFLOW_SIGNED
    assert verify_delivery(SECRET, _headers(), BODY, _at(NOW), 300) == DELIVERY


def test_headers_are_matched_whatever_their_case() -> None:
    lower = {k.lower(): v for k, v in _headers().items()}
    assert verify_delivery(SECRET, lower, BODY, _at(NOW), 300) == DELIVERY


@pytest.mark.parametrize(
    ("secret", "headers", "body", "now", "message"),
    [
        ("other-secret", _headers(), BODY, NOW, "does not match"),
        (SECRET, _headers(), BODY.replace(b'"2"', b'"3"'), NOW, "does not match"),
        (SECRET, _headers(), BODY, NOW + 301, "more than 300 s"),
        (SECRET, _headers(), BODY, NOW - 301, "more than 300 s"),
        (SECRET, _headers(timestamp=-5), BODY, NOW, "not Unix seconds"),
        (SECRET, {"X-MLflow-Delivery-Id": DELIVERY}, BODY, NOW, "needs X-MLflow-Delivery-Id"),
        (SECRET, _headers(signature="sha256=abc"), BODY, NOW, "does not match"),
    ],
)
def test_a_forged_stale_or_unsigned_delivery_is_refused(
    secret: str, headers: dict[str, str], body: bytes, now: int, message: str
) -> None:
    with pytest.raises(Unauthenticated, match=message):
        verify_delivery(secret, headers, body, _at(now), 300)


def test_one_of_several_signatures_may_match() -> None:
    headers = _headers(signature=f"v1,AAAA {MLFLOW_SIGNED}")
    assert verify_delivery(SECRET, headers, BODY, _at(NOW), 300) == DELIVERY


def _stop_at_now(menv: MlflowEnv) -> None:
    assert isinstance(menv.clock, FixedClock)
    menv.clock.at = _at(NOW)


def _in_production(menv: MlflowEnv) -> None:
    for v in ("1", "2"):
        menv.register(f"models:/credit/{v}")
    menv.promote("1", "staging")
    menv.promote("1", "production")
    menv.gov.after_move(MODEL)
    _stop_at_now(menv)


def test_an_alias_event_syncs_the_model_at_once(menv: MlflowEnv, fake: InMemoryMlflow) -> None:
    _in_production(menv)
    fake.set_alias(MODEL, "champion", "2")

    outcome = menv.gov.receive(_headers(), BODY)

    assert (outcome.event, outcome.delivery, outcome.ignored) == (
        "model_version_alias.created",
        DELIVERY,
        None,
    )
    (result,) = outcome.results
    assert [c.target for c in result.ungoverned] == ["@champion"]
    assert len(menv.alerts()) == 1


def test_deliveries_that_concern_nothing_governed_are_ignored(menv: MlflowEnv) -> None:
    _in_production(menv)
    created = json.dumps({"entity": "model_version", "action": "created", "data": {"name": "x"}})
    signed = mlflow_signature(SECRET, DELIVERY, str(NOW), created.encode())
    assert menv.gov.receive(_headers(signed), created.encode()).ignored == "not an alias or tag"
    other = BODY.replace(b'"credit"', b'"scorer"')
    signed = mlflow_signature(SECRET, DELIVERY, str(NOW), other)
    assert (
        menv.gov.receive(_headers(signed), other).ignored == "no model follows MLflow model scorer"
    )


def test_without_the_secret_every_delivery_is_refused(menv: MlflowEnv) -> None:
    _in_production(menv)
    menv.env = {}
    with pytest.raises(Unauthenticated, match="CLEARANCE_MLFLOW_WEBHOOK_SECRET is not set"):
        menv.gov.receive(_headers(), BODY)


def test_a_signed_body_that_is_not_an_event_is_an_input_error(menv: MlflowEnv) -> None:
    _stop_at_now(menv)
    body = b"[1, 2]"
    with pytest.raises(InputError, match="not \\{entity, action, data: \\{name\\}\\} JSON"):
        menv.gov.receive(_headers(mlflow_signature(SECRET, DELIVERY, str(NOW), body)), body)
