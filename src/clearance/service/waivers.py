"""Waivers: time-bounded, justified exceptions for one gate on one model (or version).

Only the roles the governing policy names may grant them, never for a gate the policy marks
not waivable, never for longer than the policy allows. They expire on their own: evaluation
compares ``expires_at`` with the injected clock, so nothing has to run for one to lapse.

An expiry is given as ``until`` or ``expires_in``, and :func:`expiry` alone turns it into
``expires_at``, for the CLI, the API and the SDK alike: a date means the end of that day,
23:59:59 UTC (``--until 2026-12-31`` covers all of the 31st); a time without a zone is UTC.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

from pydantic import BeforeValidator, Field, TypeAdapter, ValidationError

from clearance.core import subjects
from clearance.core.durations import parse_duration
from clearance.errors import InputError, NotFound, NotPermitted
from clearance.service.access import require_enabled
from clearance.service.context import (
    governing_policy,
    require_model,
    require_version,
)
from clearance.service.ports import Clock, Store
from clearance.service.records import Record, WaiverFields, WaiverRecord, WaiverState

END_OF_DAY = dt.time(23, 59, 59)
_DATE_OR_TIME: TypeAdapter[dt.datetime | dt.date] = TypeAdapter(dt.datetime | dt.date)


def _as_written(value: object) -> object:
    """Text is read as JSON text is: ``2026-12-31`` a date, ``2026-12-31T18:00`` a time (left
    to itself, Python-mode validation reads a bare date as that day's midnight)."""
    if not isinstance(value, str):
        return value
    try:
        return _DATE_OR_TIME.validate_strings(value)
    except ValidationError:
        raise ValueError(f"'{value}' is not a date (2026-12-31) or ISO time") from None


# A waiver's expiry as given: a date (the end of that day, UTC) or a time (without a zone: UTC).
Until = Annotated[dt.datetime | dt.date, BeforeValidator(_as_written)]
_UNTIL: TypeAdapter[Until] = TypeAdapter(Until)


def read_until(text: str, what: str = "until") -> Until:
    """``until`` as written (``--until``), read as the API's body reads it."""
    try:
        return _UNTIL.validate_python(text)
    except ValidationError:
        raise InputError(f"{what}: '{text}' is not a date (2026-12-31) or ISO time") from None


def expiry(until: Until | None, expires_in: str | None, now: dt.datetime) -> dt.datetime:
    """When a waiver granted ``now`` lapses: at ``until`` or ``expires_in`` (e.g. 14d) from
    now, exactly one of them. The one rule every transport's grant goes through."""
    if (until is None) == (expires_in is None):
        raise InputError("give the waiver's expiry as either until or expires_in (not both)")
    if expires_in is not None:
        try:
            return now + parse_duration(expires_in)
        except ValueError as exc:
            raise InputError(f"expires_in: {exc}") from None
    assert until is not None
    if not isinstance(until, dt.datetime):  # a date: all of that day
        return dt.datetime.combine(until, END_OF_DAY, dt.UTC)
    try:
        return until.astimezone(dt.UTC) if until.tzinfo else until.replace(tzinfo=dt.UTC)
    except (OverflowError, ValueError):
        raise InputError(f"until: {until.isoformat()} is out of range") from None


class WaiverOut(WaiverFields):
    """A waiver (the fields of a ``WaiverRecord``) with its state now."""

    state: WaiverState

    @classmethod
    def of(cls, waiver: WaiverRecord, now: dt.datetime) -> WaiverOut:
        return cls.model_validate({**waiver.model_dump(), "state": waiver.state(now)})


class BacklogWaiver(Record):
    """One waiver as the exception backlog lists it."""

    id: str = Field(description="Its label, e.g. W-3.")
    model: str
    version: str | None = Field(description="None: every version of the model.")
    gate: str
    state: WaiverState
    expires_at: str
    days_left: float = Field(description="Days until it expires (negative: since).")
    granted_by: str
    justification: str
    controls: list[str]


class BacklogCounts(Record):
    active: int
    expiring_within_7d: int
    expired: int
    revoked: int


class BacklogMonth(Record):
    """One calendar month of the trend: waivers granted, expiring and revoked in it."""

    month: str = Field(description="YYYY-MM")
    granted: int
    expiring: int
    revoked: int


class WaiverBacklog(Record):
    """The exception backlog: each waiver's state, the counts, and the monthly trend."""

    waivers: list[BacklogWaiver]
    counts: BacklogCounts
    trend: list[BacklogMonth]


@dataclass(frozen=True)
class Waivers:
    store: Store
    clock: Clock

    def grant(
        self,
        model: str,
        gate: str,
        *,
        justification: str,
        controls: Sequence[str],
        actor: str,
        until: Until | None = None,
        expires_in: str | None = None,
        version: str | None = None,
    ) -> WaiverRecord:
        """Grant a waiver for ``gate`` on ``model`` (or one ``version``), expiring at
        ``until`` or ``expires_in`` from now (:func:`expiry`)."""
        if not justification.strip():
            raise InputError("a waiver needs a --justification")
        controls = list(controls)
        if not [c for c in controls if c.strip()]:
            raise InputError("a waiver needs at least one compensating --control")
        now = self.clock.now()
        expires_at = expiry(until, expires_in, now)
        with self.store.transaction() as tx:
            user = require_enabled(tx, actor)
            model_record = require_model(tx, model)
            if version is not None:
                require_version(tx, model_record, version)
            record, loaded = governing_policy(tx, model_record)
            rules, policy = loaded.policy.waivers, loaded.policy
            if gate not in {g.id for g in policy.gates}:
                known = ", ".join(g.id for g in policy.gates)
                raise NotFound(f"policy {record.name} has no gate '{gate}' (gates: {known})")
            if gate in rules.not_waivable:
                raise InputError(f"policy {record.name} marks gate '{gate}' as not waivable")
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
            if expires_at <= now:
                raise InputError(f"--until {expires_at:%Y-%m-%d %H:%M} UTC is not in the future")
            limit = now + parse_duration(rules.max_duration)
            if expires_at > limit:
                raise InputError(
                    f"policy {record.name} allows waivers of at most "
                    f"{rules.max_duration} (until {limit:%Y-%m-%d %H:%M} UTC)"
                )
            waiver = tx.add_waiver(
                model=model_record.name,
                version=version,
                gate_id=gate,
                expires_at=expires_at,
                justification=justification,
                controls=controls,
                granted_by=actor,
                at=now,
            )
            tx.append_event(
                time=now,
                actor=actor,
                action="waiver.granted",
                subject=subjects.waiver(waiver.label),
                model=model_record.name,
                payload={
                    "model": model_record.name,
                    "gate": gate,
                    "version": version,
                    "expires_at": expires_at.isoformat(),
                    "justification": justification,
                    "controls": controls,
                    "policy": f"{record.name}@{record.version}",
                },
            )
            return waiver

    def revoke(self, waiver_id: str, *, reason: str, actor: str) -> WaiverRecord:
        """End the waiver ``waiver_id`` (``W-3`` or ``3``) now: its grantor or a grantor role."""
        if not reason.strip():
            raise InputError("revoking a waiver needs a --reason")
        now = self.clock.now()
        with self.store.transaction() as tx:
            user = require_enabled(tx, actor)
            waiver = tx.get_waiver(parse_label(waiver_id))
            if waiver is None:
                raise NotFound(f"there is no waiver {waiver_id}; see `clearance waiver list`")
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
                subject=subjects.waiver(waiver.label),
                model=waiver.model,
                payload={"reason": reason, "gate": waiver.gate_id},
            )
            return revoked

    def backlog(
        self, *, model: str | None = None, expiring_within: str | dt.timedelta | None = None
    ) -> WaiverBacklog:
        """The exception backlog: each waiver's state, and counts by month for the trend.

        ``expiring_within`` (a duration, or its text such as ``7d``) keeps only the active
        waivers that expire within it."""
        within = _duration(expiring_within, "expiring_within")
        now = self.clock.now()
        with self.store.reading() as tx:
            waivers = tx.list_waivers(model=model)
        rows = []
        for w in waivers:
            state = w.state(now)
            if within is not None and not (state == "active" and w.expires_at <= now + within):
                continue
            rows.append(
                BacklogWaiver(
                    id=w.label,
                    model=w.model,
                    version=w.version,
                    gate=w.gate_id,
                    state=state,
                    expires_at=w.expires_at.isoformat(),
                    days_left=round((w.expires_at - now).total_seconds() / 86400, 1),
                    granted_by=w.granted_by,
                    justification=w.justification,
                    controls=w.controls,
                )
            )
        return WaiverBacklog(waivers=rows, counts=_counts(waivers, now), trend=_trend(waivers))

    # last: below this, ``list`` names the method, not the builtin
    def list(
        self, *, model: str | None = None, state: WaiverState | None = None
    ) -> list[WaiverOut]:
        """Waivers with their state now, oldest first; an unknown ``model`` is NotFound."""
        now = self.clock.now()
        with self.store.reading() as tx:
            if model is not None:
                require_model(tx, model)
            waivers = tx.list_waivers(model=model)
        rows = [WaiverOut.of(w, now) for w in waivers]
        return [w for w in rows if state is None or w.state == state]


def parse_label(label: str) -> int:
    text = label.upper().removeprefix("W-")
    if not text.isdigit():
        raise InputError(f"'{label}' is not a waiver id like W-3")
    return int(text)


def active_waivers(waivers: list[WaiverRecord], now: dt.datetime) -> list[WaiverRecord]:
    return [w for w in waivers if w.state(now) == "active"]


def _duration(value: str | dt.timedelta | None, what: str) -> dt.timedelta | None:
    if value is None or isinstance(value, dt.timedelta):
        return value
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise InputError(f"{what}: {exc}") from None


def _counts(waivers: list[WaiverRecord], now: dt.datetime) -> BacklogCounts:
    states = Counter(w.state(now) for w in waivers)
    soon = sum(
        1
        for w in waivers
        if w.state(now) == "active" and w.expires_at <= now + dt.timedelta(days=7)
    )
    return BacklogCounts(
        active=states["active"],
        expiring_within_7d=soon,
        expired=states["expired"],
        revoked=states["revoked"],
    )


def _trend(waivers: list[WaiverRecord]) -> list[BacklogMonth]:
    """Granted, expired and revoked per calendar month: is the backlog growing?"""
    months: dict[str, Counter[str]] = {}
    for w in waivers:
        months.setdefault(f"{w.granted_at:%Y-%m}", Counter())["granted"] += 1
        if w.revoked_at is not None:
            months.setdefault(f"{w.revoked_at:%Y-%m}", Counter())["revoked"] += 1
        else:
            months.setdefault(f"{w.expires_at:%Y-%m}", Counter())["expiring"] += 1
    return [
        BacklogMonth(month=m, granted=c["granted"], expiring=c["expiring"], revoked=c["revoked"])
        for m, c in sorted(months.items())
    ]
