"""Receive MLflow's registry webhooks, so that a hand-moved alias is caught in seconds.

MLflow (3.3 and later, SQL backend) POSTs ``{"entity", "action", "timestamp", "data"}`` as
JSON with three headers: ``X-MLflow-Delivery-Id`` (a UUID), ``X-MLflow-Timestamp`` (Unix
seconds) and, when the webhook was created with a secret, ``X-MLflow-Signature``:
``v1,`` then the base64 HMAC-SHA256, keyed by the secret, of
``"<delivery id>.<timestamp>.<raw body>"``. A delivery is accepted only with a valid
signature (compared in constant time) and a timestamp within ``webhook_tolerance_s`` of
clearance's clock, so a captured delivery cannot be replayed later; handling one is a
``sync``, which is idempotent, so a replay within the window changes nothing either.

Alias and version-tag events sync the clearance models that follow the MLflow model named
in ``data.name``; other events (a new model or version) change nothing clearance governs.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from clearance.errors import ClearanceError, InputError, Unauthenticated
from clearance.service.mlflow_sync import MlflowSync, MlflowSyncResult
from clearance.service.ports import Clock

SIGNATURE_HEADER = "X-MLflow-Signature"
TIMESTAMP_HEADER = "X-MLflow-Timestamp"
DELIVERY_HEADER = "X-MLflow-Delivery-Id"
MAX_BODY = 1 << 20  # MLflow's payloads are a few hundred bytes
SYNCING = {
    ("model_version_alias", "created"),
    ("model_version_alias", "deleted"),
    ("model_version_tag", "set"),
    ("model_version_tag", "deleted"),
}


class WebhookOutcome(BaseModel):
    """What one delivery did: the event, and the sync of each model it concerned."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event: str = Field(description="entity.action, e.g. model_version_alias.created.")
    delivery: str
    results: list[MlflowSyncResult] = Field(default_factory=list)
    ignored: str | None = Field(default=None, description="Why nothing was synced.")


def mlflow_signature(secret: str, delivery: str, timestamp: str, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of "<delivery>.<timestamp>.<body>">``: what MLflow sends."""
    signed = f"{delivery}.{timestamp}.".encode() + body
    mac = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode("ascii")


def verify_delivery(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    now: dt.datetime,
    tolerance_s: float,
) -> str:
    """The delivery id of a genuine, fresh delivery; ``Unauthenticated`` naming the check
    that failed otherwise (never the secret or the expected signature)."""
    lower = {k.lower(): v for k, v in headers.items()}
    delivery = lower.get(DELIVERY_HEADER.lower(), "")
    timestamp = lower.get(TIMESTAMP_HEADER.lower(), "")
    given = lower.get(SIGNATURE_HEADER.lower(), "")
    if not (delivery and timestamp and given):
        raise Unauthenticated(
            f"an MLflow webhook delivery needs {DELIVERY_HEADER}, {TIMESTAMP_HEADER} and "
            f"{SIGNATURE_HEADER}; create the webhook in MLflow with the secret clearance holds"
        )
    if not (timestamp.isascii() and timestamp.isdigit()):
        raise Unauthenticated(f"{TIMESTAMP_HEADER} is not Unix seconds")
    if abs(now.timestamp() - int(timestamp)) > tolerance_s:
        raise Unauthenticated(
            f"{TIMESTAMP_HEADER} is more than {tolerance_s:g} s from clearance's clock: a stale "
            "or replayed delivery, or clocks out of step"
        )
    expected = mlflow_signature(secret, delivery, timestamp, body)
    # MLflow sends one signature; Standard Webhooks allows several, separated by spaces
    if not any(hmac.compare_digest(expected, s) for s in given.split(" ") if s):
        raise Unauthenticated(f"{SIGNATURE_HEADER} does not match: wrong secret, or altered body")
    return delivery


@dataclass(frozen=True)
class MlflowWebhooks:
    sync: MlflowSync
    clock: Clock
    secret: str | None  # from the variable mlflow.yaml names; None: not set

    def receive(self, headers: Mapping[str, str], body: bytes) -> WebhookOutcome:
        """Verify a delivery, then sync the models it concerns."""
        if not self.secret:
            raise Unauthenticated(
                f"MLflow webhooks are refused: {self.sync.settings.webhook_secret_env} is not "
                "set where clearance runs"
            )
        if len(body) > MAX_BODY:
            raise InputError(f"an MLflow webhook body is at most {MAX_BODY} bytes")
        tolerance = self.sync.settings.webhook_tolerance_s
        delivery = verify_delivery(self.secret, headers, body, self.clock.now(), tolerance)
        try:
            message = json.loads(body)
            event = (str(message["entity"]), str(message["action"]))
            name = message["data"]["name"]
        except (ValueError, KeyError, TypeError):
            raise InputError(
                "the MLflow webhook body is not {entity, action, data: {name}} JSON"
            ) from None
        label = ".".join(event)
        if event not in SYNCING:
            return WebhookOutcome(event=label, delivery=delivery, ignored="not an alias or tag")
        models = self.sync.models_following(str(name))
        if not models:
            return WebhookOutcome(
                event=label, delivery=delivery, ignored=f"no model follows MLflow model {name}"
            )
        results = []
        for model in models:
            try:
                results.append(self.sync.sync(model))
            except ClearanceError as exc:
                results.append(MlflowSyncResult(model=model, mlflow_model=name, error=str(exc)))
        return WebhookOutcome(event=label, delivery=delivery, results=results)
