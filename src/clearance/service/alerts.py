"""Alerts: notifications written in the same transaction as the change that caused them.

This is a transactional outbox. A use case records a ``Notification`` under an idempotency
key (``promoted:request:12``, ``review-overdue:request:12``) in the transaction of the state
change it reports, whose audit event already says what happened. The same fact noticed
again (``tick`` runs every few minutes) finds the key and records nothing. Delivery to
channels happens afterwards, outside the transaction (``delivery.py``), with retries, so a
slow receiver never holds a database lock.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from pydantic import Field

from clearance.core.results import Decision, GateStatus
from clearance.notify.events import EventType, Notification, Severity
from clearance.service.ports import Tx

MAX_KEY = 300  # the outbox's key column


class Alert(Notification):
    """A recorded notification with where it has gone so far (``clearance alerts list``)."""

    deliveries: list[str] = Field(
        default_factory=list,
        description="Each channel's delivery state, e.g. 'slack: sent' (none: not routed).",
    )


def bounded_key(key: str) -> str:
    """``key`` as stored: one that names many gates is cut and suffixed with its own digest,
    so it still fits the outbox's column and still names that fact alone."""
    if len(key) <= MAX_KEY:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"{key[: MAX_KEY - len(digest) - 1]}~{digest}"


def emit(
    tx: Tx,
    key: str,
    *,
    event: EventType,
    model: str,
    version: str,
    summary: str,
    policy: str,
    now: dt.datetime,
    actor: str,
    details: dict[str, Any] | None = None,
    remediation: str = "",
    severity: Severity = "info",
) -> bool:
    """Record a notification once; True when it is new (and so will be delivered)."""
    n = Notification(
        id=bounded_key(key),
        event=event,
        model=model,
        version=version,
        summary=summary[:500],
        policy=policy,
        details=details or {},
        remediation=remediation,
        severity=severity,
        occurred_at=now,
    )
    return tx.add_notification(
        n.id, event=event, model=model, body=n.model_dump(mode="json"), at=now
    )


def decision_details(decision: Decision, request_id: int) -> dict[str, Any]:
    """The facts an alert about a decision carries: failing gates and the evidence used."""
    gates = [
        {
            "id": g.gate_id,
            "status": g.status.value,
            "observed": g.observed,
            "threshold": g.threshold,
            "message": g.message,
            "remediation": g.remediation,
        }
        for g in decision.gates
        if g.status in (GateStatus.FAIL, GateStatus.ERROR, GateStatus.WARN)
    ]
    evidence = [{"name": k, "sha256": v} for k, v in sorted(decision.inputs.evidence.items())]
    return {
        "request": request_id,
        "gates": gates,
        "evidence": evidence,
        "decision": decision.decision_id,
        "outcome": decision.outcome.value,
    }


def remediation_of(decision: Decision) -> str:
    return "; ".join(
        f"{g.gate_id}: {g.remediation}" for g in decision.gates if g.blocking and g.remediation
    )
