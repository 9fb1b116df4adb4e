"""The state the audit trail implies, and where the tables say otherwise (pure).

Every use case writes its state change and its audit event in one transaction, so the events
alone say what the governed rows must hold: each version's stage and production slot, each
user's roles, each request's status, every approval, waiver and decision. ``implied_state``
folds the events into rows; ``compare`` names every row and field where the tables differ.
A row edited in the database without an event shows here even though the chain verifies.

Rows are plain data, ``{table: {key: {field: value}}}``, keyed the way the events name their
subjects (``core.subjects``: ``model:M/version:V``, ``user:U``, ``request:N``...). A field an
older event did not record (the production slot before it was in the payload) is left out,
never guessed.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple, Protocol

from clearance.core import subjects
from clearance.core.audit import AuditEvent, StateDifference, StoredEvent

Rows = dict[str, dict[str, dict[str, Any]]]
STATE_TABLES = (
    "users",
    "models",
    "versions",
    "evidence",
    "policies",
    "requests",
    "approvals",
    "decisions",
    "waivers",
    "tokens",
)
_REGISTERED_ONLY = ("stage", "evidence")  # in version.registered's payload, not its record


# Parsed subjects are frozen: one parse per subject however many events name it.
_subject = functools.lru_cache(maxsize=8192)(subjects.parse)
_SCALARS = frozenset({str, int, float, bool, type(None)})


def plain(value: Any) -> Any:
    """One comparable form per value: instants as UTC ISO text, tuples as lists."""
    kind = type(value)
    if kind in _SCALARS:  # most values: checked first, as verify folds every event
        return value
    if kind is dict:
        return {str(k): plain(v) for k, v in value.items()}
    if kind is list:
        return [plain(v) for v in value]
    if isinstance(value, dt.datetime):
        when = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        return when.astimezone(dt.UTC).isoformat(timespec="microseconds")
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def _instant(text: Any) -> Any:
    """An ISO time from a payload in the same form as ``plain`` gives a table's datetime."""
    if not isinstance(text, str):
        return text
    try:
        return plain(dt.datetime.fromisoformat(text))
    except ValueError:
        return text


class _Event(Protocol):
    """What the fold reads of an event: an ``AuditEvent``, or a stored row parsed (``_Fact``)."""

    @property
    def seq(self) -> int: ...
    @property
    def time(self) -> dt.datetime | str: ...
    @property
    def actor(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def payload(self) -> Mapping[str, Any]: ...


class _Fact(NamedTuple):
    """A stored event with its payload parsed and its time as hashed (``plain``'s form)."""

    seq: int
    time: str
    actor: str
    action: str
    subject: str
    payload: dict[str, Any]


class _Fold:
    """The rows so far, and for each field the seq of the event that set it."""

    def __init__(self) -> None:
        self.verbatim = False  # the values come from parsed JSON: already ``plain``
        self.rows: Rows = {t: {} for t in STATE_TABLES}
        self.seqs: dict[tuple[str, str], dict[str, int]] = {}  # (table, key) -> field -> seq
        self.rollouts: dict[str, str] = {}  # rollout subject -> request subject
        self.approvals: dict[str, int] = {}  # request subject -> approvals so far

    def set(self, table: str, key: str, seq: int, **fields: Any) -> None:
        row = self.rows[table].setdefault(key, {})
        row.update(fields if self.verbatim else {k: plain(v) for k, v in fields.items()})
        self.seqs.setdefault((table, key), {}).update(dict.fromkeys(fields, seq))

    def forget(self, table: str, key: str, name: str) -> None:
        self.rows[table].get(key, {}).pop(name, None)

    def seq(self, table: str, key: str, name: str) -> int | None:
        fields = self.seqs.get((table, key), {})
        return fields.get(name) or fields.get("(row)")


def _user_added(f: _Fold, e: _Event) -> None:
    f.set("users", e.subject, e.seq, **{"(row)": True})
    f.set("users", e.subject, e.seq, roles=sorted(e.payload.get("roles", [])), disabled=False)


def _user_roles(f: _Fold, e: _Event) -> None:
    f.set("users", e.subject, e.seq, roles=sorted(e.payload.get("roles", [])))


def _user_disabled(f: _Fold, e: _Event) -> None:
    f.set("users", e.subject, e.seq, disabled=e.action == "user.disabled")
    for token in e.payload.get("revoked_tokens", []):  # disabling revokes every live token
        f.set("tokens", subjects.token(token), e.seq, revoked=True)


def _model_registered(f: _Fold, e: _Event) -> None:
    p = e.payload
    f.set("models", e.subject, e.seq, **{"(row)": True})
    f.set(
        "models",
        e.subject,
        e.seq,
        **{k: p[k] for k in ("risk_tier", "owner", "team", "tags") if k in p},
    )


def _version_registered(f: _Fold, e: _Event) -> None:
    p = e.payload
    record = {k: v for k, v in p.items() if k not in _REGISTERED_ONLY}
    f.set("versions", e.subject, e.seq, **{"(row)": True})
    f.set(
        "versions",
        e.subject,
        e.seq,
        stage=p.get("stage"),
        production_slot=None,
        previous_production=None,
        record=record,
        registered_by=e.actor,
        stage_changed_at=e.time,
    )
    for name, sha in sorted((p.get("evidence") or {}).items()):
        f.set("evidence", _subject(e.subject).child("evidence", name), e.seq, sha256=[sha])


def _evidence_attached(f: _Fold, e: _Event) -> None:
    key = _subject(e.subject).child("evidence", e.payload.get("name"))
    earlier = f.rows["evidence"].get(key, {}).get("sha256", [])
    f.set("evidence", key, e.seq, sha256=[*earlier, e.payload.get("sha256")])


def _stage_changed(f: _Fold, e: _Event) -> None:
    p = e.payload
    f.set("versions", e.subject, e.seq, stage=p.get("to"), stage_changed_at=e.time)
    if "slot" in p:
        f.set("versions", e.subject, e.seq, production_slot=p["slot"])
    else:  # recorded before the slot was in the payload: unknown from here on
        f.forget("versions", e.subject, "production_slot")
    if p.get("replaced_by") is not None:
        replaced = _subject(e.subject)
        successor = subjects.version(replaced.key_of("model"), p["replaced_by"])
        f.set("versions", successor, e.seq, previous_production=replaced.key)


def _policy_applied(f: _Fold, e: _Event) -> None:
    digest = e.payload.get("content_hash")
    f.set("policies", e.subject, e.seq, content_hash=digest, source_hash=digest)


def _request_opened(f: _Fold, e: _Event) -> None:
    p = e.payload
    f.set("requests", e.subject, e.seq, **{"(row)": True})
    f.set(
        "requests",
        e.subject,
        e.seq,
        status="pending",
        requester=e.actor,
        version=p.get("version"),
        from_stage=p.get("from"),
        to_stage=p.get("to"),
        change_type=p.get("change_type"),
    )


def _request_status(f: _Fold, e: _Event) -> None:
    f.set("requests", e.subject, e.seq, status=e.payload.get("status"))


def _signed(f: _Fold, e: _Event) -> None:
    n = f.approvals[e.subject] = f.approvals.get(e.subject, 0) + 1
    p = e.payload
    f.set(
        "approvals",
        _subject(e.subject).child("approval", n),
        e.seq,
        approver=e.actor,
        verdict="approve" if e.action == "request.approved" else "reject",
        roles=list(p.get("roles", [])),
        reason=p.get("reason", ""),
        ticket=p.get("ticket", ""),
        evidence_digest=p.get("evidence_digest"),
        at=e.time,
    )


def _decision(f: _Fold, e: _Event) -> None:
    p = e.payload
    f.set("decisions", e.subject, e.seq, **{"(row)": True})
    f.set(
        "decisions",
        e.subject,
        e.seq,
        request=p.get("request"),
        digest=p.get("decision_id"),
        outcome=p.get("outcome"),
        **{"result.decision_id": p.get("decision_id"), "result.outcome": p.get("outcome")},
        policy_hash=p.get("policy_hash"),
        summary=p.get("summary"),
        gates=p.get("gates"),
    )


def _rollout(f: _Fold, e: _Event) -> None:
    if e.action == "rollout.started":
        f.rollouts[e.subject] = subjects.request(str(e.payload.get("request")))
    status = {
        "rollout.started": "rolling_out",
        "rollout.completed": "executed",
        "rollout.rolled_back": "rolled_back",
    }[e.action]
    request = f.rollouts.get(e.subject)
    if request is not None:
        f.set("requests", request, e.seq, status=status)


def _waiver_granted(f: _Fold, e: _Event) -> None:
    p = e.payload
    f.set("waivers", e.subject, e.seq, **{"(row)": True})
    f.set(
        "waivers",
        e.subject,
        e.seq,
        version=p.get("version"),
        gate_id=p.get("gate"),
        expires_at=_instant(p.get("expires_at")),
        justification=p.get("justification"),
        controls=list(p.get("controls", [])),
        granted_by=e.actor,
        granted_at=e.time,
        revoked_at=None,
        revoked_by=None,
        revoke_reason=None,
    )
    if "model" in p:
        f.set("waivers", e.subject, e.seq, model=p["model"])


def _waiver_revoked(f: _Fold, e: _Event) -> None:
    reason = e.payload.get("reason")
    f.set("waivers", e.subject, e.seq, revoked_at=e.time, revoked_by=e.actor, revoke_reason=reason)


def _token_created(f: _Fold, e: _Event) -> None:
    key = subjects.token(str(e.payload.get("token")))
    f.set("tokens", key, e.seq, **{"(row)": True})
    f.set(
        "tokens",
        key,
        e.seq,
        user=_subject(e.subject).key_of("user"),
        prefix=e.payload.get("prefix"),
        expires_at=_instant(e.payload.get("expires_at")),
        revoked=False,
    )


def _token_revoked(f: _Fold, e: _Event) -> None:
    f.set("tokens", subjects.token(str(e.payload.get("token"))), e.seq, revoked=True)


_HANDLERS: dict[str, Callable[[_Fold, _Event], None]] = {
    "user.added": _user_added,
    "user.roles_changed": _user_roles,
    "user.disabled": _user_disabled,
    "user.enabled": _user_disabled,
    "model.registered": _model_registered,
    "version.registered": _version_registered,
    "evidence.attached": _evidence_attached,
    "version.stage_changed": _stage_changed,
    "policy.applied": _policy_applied,
    "request.opened": _request_opened,
    "request.status_changed": _request_status,
    "request.approved": _signed,
    "request.rejected": _signed,
    "decision.recorded": _decision,
    "rollout.started": _rollout,
    "rollout.completed": _rollout,
    "rollout.rolled_back": _rollout,
    "waiver.granted": _waiver_granted,
    "waiver.revoked": _waiver_revoked,
    "token.created": _token_created,
    "token.revoked": _token_revoked,
}


class ImpliedState:
    """The rows the events imply, with the seq of the event behind each field."""

    def __init__(self, fold: _Fold) -> None:
        self.rows = fold.rows
        self._fold = fold

    def seq(self, table: str, key: str, name: str) -> int | None:
        return self._fold.seq(table, key, name)


class Folder:
    """Fold events one at a time (the chain is streamed), then take the ``state``."""

    def __init__(self) -> None:
        self._fold = _Fold()

    def add(self, event: AuditEvent) -> None:
        handler = _HANDLERS.get(event.action)
        if handler is not None:
            self._fold.verbatim = False
            handler(self._fold, event)

    def add_stored(self, row: StoredEvent, time: str) -> None:
        """Fold a stored row (``time`` as hashed); its payload is parsed only when its
        action changes state."""
        handler = _HANDLERS.get(row.action)
        if handler is not None:
            fact = _Fact(row.seq, time, row.actor, row.action, row.subject, json.loads(row.payload))
            self._fold.verbatim = True  # JSON values, the time as ``plain`` renders it
            handler(self._fold, fact)

    @property
    def state(self) -> ImpliedState:
        return ImpliedState(self._fold)


def implied_state(events: Iterable[AuditEvent]) -> ImpliedState:
    """The governed rows as the events say they must be."""
    folder = Folder()
    for event in events:
        folder.add(event)
    return folder.state


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _difference(
    table: str, key: str, name: str, expected: Any, found: Any, seq: int | None
) -> StateDifference:
    at = f" (event seq {seq})" if seq is not None else ""
    if name == "(row)":
        message = (
            f"{table} {key}: the row is in the table but no event created it"
            if expected is None
            else f"{table} {key}: the events created this row{at} but it is not in the table"
        )
    else:
        message = (
            f"{table} {key}: {name} is {_show(found)} in the table, but the events say "
            f"{_show(expected)}{at}"
        )
    return StateDifference(table, key, name, expected, found, seq, message)


def compare(implied: ImpliedState, found: Rows) -> list[StateDifference]:
    """Every row and field of ``found`` that the events contradict, table by table.

    Only the tables in ``found`` are compared, and only the fields both sides have.
    """
    out: list[StateDifference] = []
    for table in (t for t in STATE_TABLES if t in found):
        expected_rows, found_rows = implied.rows.get(table, {}), found[table]
        for key in sorted(set(expected_rows) | set(found_rows), key=_natural):
            if key not in expected_rows:
                out.append(_difference(table, key, "(row)", None, True, None))
                continue
            if key not in found_rows:
                seq = implied.seq(table, key, "(row)")
                out.append(_difference(table, key, "(row)", True, None, seq))
                continue
            row = {k: plain(v) for k, v in found_rows[key].items()}
            for name, value in expected_rows[key].items():
                if name != "(row)" and name in row and row[name] != value:
                    seq = implied.seq(table, key, name)
                    out.append(_difference(table, key, name, value, row[name], seq))
    return out


def _natural(key: str) -> tuple[Any, ...]:
    """``request:10`` after ``request:9``."""
    parts: list[Any] = []
    for chunk in key.replace(":", " : ").split():
        parts.append((0, int(chunk), "") if chunk.isdigit() else (1, 0, chunk))
    return tuple(parts)
