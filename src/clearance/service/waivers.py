"""Waivers: time-bounded, justified exceptions for one gate on one model (or version).

Only the roles the governing policy names may grant them, never for a gate the policy marks
not waivable, never for longer than the policy allows. They expire on their own: evaluation
compares ``expires_at`` with the injected clock, so nothing has to run for one to lapse.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import Any

from clearance.core.durations import parse_duration
from clearance.errors import InputError, NotFound, NotPermitted
from clearance.service.access import require_enabled
from clearance.service.context import (
    governing_policy,
    require_model,
    require_version,
)
from clearance.service.ports import Clock, Store
from clearance.service.records import WaiverRecord


@dataclass(frozen=True)
class Waivers:
    store: Store
    clock: Clock

    def grant(
        self,
        model_name: str,
        gate_id: str,
        *,
        until: dt.datetime,
        justification: str,
        controls: list[str],
        actor: str,
        version: str | None = None,
    ) -> WaiverRecord:
        if not justification.strip():
            raise InputError("a waiver needs a --justification")
        if not [c for c in controls if c.strip()]:
            raise InputError("a waiver needs at least one compensating --control")
        now = self.clock.now()
        with self.store.transaction() as tx:
            user = require_enabled(tx, actor)
            model = require_model(tx, model_name)
            if version is not None:
                require_version(tx, model, version)
            record, loaded = governing_policy(tx, model)
            rules, policy = loaded.policy.waivers, loaded.policy
            if gate_id not in {g.id for g in policy.gates}:
                known = ", ".join(g.id for g in policy.gates)
                raise NotFound(f"policy {record.name} has no gate '{gate_id}' (gates: {known})")
            if gate_id in rules.not_waivable:
                raise InputError(f"policy {record.name} marks gate '{gate_id}' as not waivable")
            if not rules.grantors:
                raise NotPermitted(
                    f"policy {record.name} names no waiver grantors "
                    "(waivers.grantors); nobody may grant a waiver"
                )
            if not set(user.roles) & set(rules.grantors):
                raise NotPermitted(
                    f"{actor} holds {', '.join(user.roles) or 'no roles'}; "
                    f"waivers are granted by {', '.join(rules.grantors)}"
                )
            if until <= now:
                raise InputError(f"--until {until:%Y-%m-%d %H:%M} UTC is not in the future")
            limit = now + parse_duration(rules.max_duration)
            if until > limit:
                raise InputError(
                    f"policy {record.name} allows waivers of at most "
                    f"{rules.max_duration} (until {limit:%Y-%m-%d %H:%M} UTC)"
                )
            waiver = tx.add_waiver(
                model=model.name,
                version=version,
                gate_id=gate_id,
                expires_at=until,
                justification=justification,
                controls=controls,
                granted_by=actor,
                at=now,
            )
            tx.append_event(
                time=now,
                actor=actor,
                action="waiver.granted",
                subject=f"waiver:{waiver.label}",
                model=model.name,
                payload={
                    "model": model.name,
                    "gate": gate_id,
                    "version": version,
                    "expires_at": until.isoformat(),
                    "justification": justification,
                    "controls": controls,
                    "policy": f"{record.name}@{record.version}",
                },
            )
            return waiver

    def revoke(self, label: str, *, reason: str, actor: str) -> WaiverRecord:
        if not reason.strip():
            raise InputError("revoking a waiver needs a --reason")
        now = self.clock.now()
        with self.store.transaction() as tx:
            user = require_enabled(tx, actor)
            waiver = tx.get_waiver(parse_label(label))
            if waiver is None:
                raise NotFound(f"there is no waiver {label}; see `clearance waiver list`")
            if waiver.revoked_at is not None:
                raise InputError(f"waiver {waiver.label} was already revoked")
            _, loaded = governing_policy(tx, require_model(tx, waiver.model))
            if actor != waiver.granted_by and not set(user.roles) & set(
                loaded.policy.waivers.grantors
            ):
                raise NotPermitted(
                    f"{actor} may not revoke {waiver.label}: only its grantor or "
                    "a waiver grantor role may"
                )
            revoked = tx.revoke_waiver(waiver.id, by=actor, reason=reason, at=now)
            tx.append_event(
                time=now,
                actor=actor,
                action="waiver.revoked",
                subject=f"waiver:{waiver.label}",
                model=waiver.model,
                payload={"reason": reason, "gate": waiver.gate_id},
            )
            return revoked

    def backlog(
        self, *, model: str | None = None, expiring_within: dt.timedelta | None = None
    ) -> dict[str, Any]:
        """The exception backlog: each waiver's state, and counts by month for the trend."""
        now = self.clock.now()
        with self.store.reading() as tx:
            waivers = tx.list_waivers(model=model)
        rows = []
        for w in waivers:
            state = w.state(now)
            if expiring_within is not None and not (
                state == "active" and w.expires_at <= now + expiring_within
            ):
                continue
            rows.append(
                {
                    "id": w.label,
                    "model": w.model,
                    "version": w.version,
                    "gate": w.gate_id,
                    "state": state,
                    "expires_at": w.expires_at.isoformat(),
                    "days_left": round((w.expires_at - now).total_seconds() / 86400, 1),
                    "granted_by": w.granted_by,
                    "justification": w.justification,
                    "controls": w.controls,
                }
            )
        return {"waivers": rows, "counts": _counts(waivers, now), "trend": _trend(waivers)}


def parse_label(label: str) -> int:
    text = label.upper().removeprefix("W-")
    if not text.isdigit():
        raise InputError(f"'{label}' is not a waiver id like W-3")
    return int(text)


def active_waivers(waivers: list[WaiverRecord], now: dt.datetime) -> list[WaiverRecord]:
    return [w for w in waivers if w.state(now) == "active"]


def _counts(waivers: list[WaiverRecord], now: dt.datetime) -> dict[str, int]:
    states = Counter(w.state(now) for w in waivers)
    soon = sum(
        1
        for w in waivers
        if w.state(now) == "active" and w.expires_at <= now + dt.timedelta(days=7)
    )
    return {
        "active": states["active"],
        "expiring_within_7d": soon,
        "expired": states["expired"],
        "revoked": states["revoked"],
    }


def _trend(waivers: list[WaiverRecord]) -> list[dict[str, Any]]:
    """Granted, expired and revoked per calendar month: is the backlog growing?"""
    months: dict[str, Counter[str]] = {}
    for w in waivers:
        months.setdefault(f"{w.granted_at:%Y-%m}", Counter())["granted"] += 1
        if w.revoked_at is not None:
            months.setdefault(f"{w.revoked_at:%Y-%m}", Counter())["revoked"] += 1
        else:
            months.setdefault(f"{w.expires_at:%Y-%m}", Counter())["expiring"] += 1
    return [
        {"month": m, "granted": c["granted"], "expiring": c["expiring"], "revoked": c["revoked"]}
        for m, c in sorted(months.items())
    ]
