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
import itertools
import json
import json.scanner
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

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


Handler = Callable[["_Fold", int, str, str, str, str, dict[str, Any]], None]
"""One per action that changes state: (fold, seq, time, actor, action, subject, payload),
with the time as ``plain`` renders it and the payload's values in ``plain`` form."""


class _Fold:
    """The rows so far, and for each field the seq of the event that set it."""

    def __init__(self) -> None:
        self.rows: Rows = {t: {} for t in STATE_TABLES}
        self.seqs: dict[str, dict[str, dict[str, int]]] = {t: {} for t in STATE_TABLES}
        self.rollouts: dict[str, str] = {}  # rollout subject -> request subject
        self.approvals: dict[str, int] = {}  # request subject -> approvals so far

    def set(self, table: str, key: str, seq: int, fields: dict[str, Any]) -> None:
        """Set ``fields`` (a dict the caller hands over) on the row, noting ``seq``."""
        rows = self.rows[table]
        row = rows.get(key)
        if row is None:
            rows[key] = fields
            self.seqs[table][key] = dict.fromkeys(fields, seq)
        else:
            row.update(fields)
            self.seqs[table][key].update(dict.fromkeys(fields, seq))

    def forget(self, table: str, key: str, name: str) -> None:
        self.rows[table].get(key, {}).pop(name, None)

    def seq(self, table: str, key: str, name: str) -> int | None:
        fields = self.seqs.get(table, {}).get(key, {})
        return fields.get(name) or fields.get("(row)")


_PARENTS = frozenset(k for k in subjects.PARENT.values() if k is not None)


def _child(subject: str, kind: subjects.Kind, key: object) -> str:
    """``subjects.parse(subject).child(kind, key)``: for a kind nothing lives under, in
    ``Subject.__str__``'s spelling without building the subject again (a fold names an
    approval or an evidence item per event); otherwise, and for anything it would refuse,
    by ``subjects`` itself."""
    parent, text = _subject(subject), str(key)
    if text and kind not in _PARENTS and subjects.PARENT[kind] == parent.kind:
        return f"{subject}/{kind}:{text}"
    return parent.child(kind, key)


def _user_added(
    f: _Fold, seq: int, time: str, actor: str, action: str, subject: str, p: dict[str, Any]
) -> None:
    roles = sorted(p.get("roles", []))
    f.set("users", subject, seq, {"(row)": True, "roles": roles, "disabled": False})


def _user_roles(
    f: _Fold, seq: int, time: str, actor: str, action: str, subject: str, p: dict[str, Any]
) -> None:
    f.set("users", subject, seq, {"roles": sorted(p.get("roles", []))})


def _user_disabled(
    f: _Fold, seq: int, time: str, actor: str, action: str, subject: str, p: dict[str, Any]
) -> None:
    f.set("users", subject, seq, {"disabled": action == "user.disabled"})
    for token in p.get("revoked_tokens", []):  # disabling revokes every live token
        f.set("tokens", subjects.token(token), seq, {"revoked": True})


def _model_registered(
    f: _Fold, seq: int, time: str, actor: str, action: str, subject: str, p: dict[str, Any]
) -> None:
    fields: dict[str, Any] = {k: p[k] for k in ("risk_tier", "owner", "team", "tags") if k in p}
    f.set("models", subject, seq, {"(row)": True, **fields})


def _version_registered(
    f: _Fold, seq: int, time: str, actor: str, action: str, subject: str, p: dict[str, Any]
) -> None:
    record = {k: v for k, v in p.items() if k not in _REGISTERED_ONLY}
    f.set(
        "versions",
        subject,
        seq,
        {
            "(row)": True,
            "stage": p.get("stage"),
            "production_slot": None,
            "previous_production": None,
            "record": record,
            "registered_by": actor,
            "stage_changed_at": time,
        },
    )
    for name, sha in sorted((p.get("evidence") or {}).items()):
        f.set("evidence", _child(subject, "evidence", name), seq, {"sha256": [sha]})


def _evidence_attached(
    f: _Fold, seq: int, time: str, actor: str, action: str, subject: str, p: dict[str, Any]
) -> None:
    key = _child(subject, "evidence", p.get("name"))
    earlier = f.rows["evidence"].get(key, {}).get("sha256", [])
    f.set("evidence", key, seq, {"sha256": [*earlier, p.get("sha256")]})


def _stage_changed(
    f: _Fold, seq: int, time: str, actor: str, action: str, subject: str, p: dict[str, Any]
) -> None:
    f.set("versions", subject, seq, {"stage": p.get("to"), "stage_changed_at": time})
    if "slot" in p:
        f.set("versions", subject, seq, {"production_slot": p["slot"]})
    else:  # recorded before the slot was in the payload: unknown from here on
        f.forget("versions", subject, "production_slot")
    if p.get("replaced_by") is not None:
        replaced = _subject(subject)
        successor = subjects.version(replaced.key_of("model"), p["replaced_by"])
        f.set("versions", successor, seq, {"previous_production": replaced.key})


def _policy_applied(
    f: _Fold, seq: int, time: str, actor: str, action: str, subject: str, p: dict[str, Any]
) -> None:
    digest = p.get("content_hash")
    f.set("policies", subject, seq, {"content_hash": digest, "source_hash": digest})


def _request_opened(
    f: _Fold, seq: int, time: str, actor: str, action: str, subject: str, p: dict[str, Any]
) -> None:
    f.set(
        "requests",
        subject,
        seq,
        {
            "(row)": True,
            "status": "pending",
            "requester": actor,
            "version": p.get("version"),
            "from_stage": p.get("from"),
            "to_stage": p.get("to"),
            "change_type": p.get("change_type"),
        },
    )


def _request_status(
    f: _Fold, seq: int, time: str, actor: str, action: str, subject: str, p: dict[str, Any]
) -> None:
    f.set("requests", subject, seq, {"status": p.get("status")})


def _signed(
    f: _Fold, seq: int, time: str, actor: str, action: str, subject: str, p: dict[str, Any]
) -> None:
    n = f.approvals[subject] = f.approvals.get(subject, 0) + 1
    f.set(
        "approvals",
        _child(subject, "approval", n),
        seq,
        {
            "approver": actor,
            "verdict": "approve" if action == "request.approved" else "reject",
            "roles": list(p.get("roles", [])),
            "reason": p.get("reason", ""),
            "ticket": p.get("ticket", ""),
            "evidence_digest": p.get("evidence_digest"),
            "at": time,
        },
    )


def _decision(
    f: _Fold, seq: int, time: str, actor: str, action: str, subject: str, p: dict[str, Any]
) -> None:
    f.set(
        "decisions",
        subject,
        seq,
        {
            "(row)": True,
            "request": p.get("request"),
            "digest": p.get("decision_id"),
            "outcome": p.get("outcome"),
            "result.decision_id": p.get("decision_id"),
            "result.outcome": p.get("outcome"),
            "policy_hash": p.get("policy_hash"),
            "summary": p.get("summary"),
            "gates": p.get("gates"),
        },
    )


_ROLLOUT_STATUS = {
    "rollout.started": "rolling_out",
    "rollout.completed": "executed",
    "rollout.rolled_back": "rolled_back",
}


def _rollout(
    f: _Fold, seq: int, time: str, actor: str, action: str, subject: str, p: dict[str, Any]
) -> None:
    if action == "rollout.started":
        f.rollouts[subject] = subjects.request(str(p.get("request")))
    request = f.rollouts.get(subject)
    if request is not None:
        f.set("requests", request, seq, {"status": _ROLLOUT_STATUS[action]})


def _waiver_granted(
    f: _Fold, seq: int, time: str, actor: str, action: str, subject: str, p: dict[str, Any]
) -> None:
    f.set(
        "waivers",
        subject,
        seq,
        {
            "(row)": True,
            "version": p.get("version"),
            "gate_id": p.get("gate"),
            "expires_at": _instant(p.get("expires_at")),
            "justification": p.get("justification"),
            "controls": list(p.get("controls", [])),
            "granted_by": actor,
            "granted_at": time,
            "revoked_at": None,
            "revoked_by": None,
            "revoke_reason": None,
        },
    )
    if "model" in p:
        f.set("waivers", subject, seq, {"model": p["model"]})


def _waiver_revoked(
    f: _Fold, seq: int, time: str, actor: str, action: str, subject: str, p: dict[str, Any]
) -> None:
    fields = {"revoked_at": time, "revoked_by": actor, "revoke_reason": p.get("reason")}
    f.set("waivers", subject, seq, fields)


def _token_created(
    f: _Fold, seq: int, time: str, actor: str, action: str, subject: str, p: dict[str, Any]
) -> None:
    f.set(
        "tokens",
        subjects.token(str(p.get("token"))),
        seq,
        {
            "(row)": True,
            "user": _subject(subject).key_of("user"),
            "prefix": p.get("prefix"),
            "expires_at": _instant(p.get("expires_at")),
            "revoked": False,
        },
    )


def _token_revoked(
    f: _Fold, seq: int, time: str, actor: str, action: str, subject: str, p: dict[str, Any]
) -> None:
    f.set("tokens", subjects.token(str(p.get("token"))), seq, {"revoked": True})


_HANDLERS: dict[str, Handler] = {
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
_changes_state = _HANDLERS.__contains__
_action = operator.itemgetter(3)
# ``json.loads``'s own C scanner, called without its Python wrappers (typeshed types the
# argument of ``make_scanner`` as a scanner; it is the decoder whose settings it scans by)
_scan: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(
    json.JSONDecoder()  # type: ignore[arg-type]
)


def _parsed(text: str) -> Any:
    """``json.loads(text)``: canonical JSON (no spaces to skip) straight from the scanner;
    anything else, and its errors, as ``json.loads`` gives them."""
    try:
        value, end = _scan(text, 0)
    except (StopIteration, ValueError, TypeError):
        return json.loads(text)
    return value if end == len(text) else json.loads(text)


class ImpliedState:
    """The rows the events imply, with the seq of the event behind each field."""

    def __init__(self, fold: _Fold) -> None:
        self.rows = fold.rows
        self._fold = fold

    def seq(self, table: str, key: str, name: str) -> int | None:
        return self._fold.seq(table, key, name)


class Folder:
    """Fold events one at a time, or verified stored rows a batch at a time (the chain is
    streamed), then take the ``state``."""

    def __init__(self) -> None:
        self._fold = _Fold()

    def add(self, event: AuditEvent) -> None:
        handler = _HANDLERS.get(event.action)
        if handler is not None:
            payload = plain(dict(event.payload))
            time = plain(event.time)
            handler(self._fold, event.seq, time, event.actor, event.action, event.subject, payload)

    def add_stored(self, rows: Sequence[StoredEvent], times: Sequence[str]) -> None:
        """Fold stored rows (``times`` as hashed, which is ``plain``'s form); a payload is
        parsed only when its action changes state."""
        fold = self._fold
        changing = map(_changes_state, map(_action, rows))
        for (seq, _, actor, action, subject, payload, _, _), time in itertools.compress(
            zip(rows, times, strict=True), changing
        ):
            _HANDLERS[action](fold, seq, time, actor, action, subject, _parsed(payload))

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
    """Every row and field of ``found`` that the events contradict, table by table and in
    the natural order of the keys (``request:10`` after ``request:9``).

    Only the tables in ``found`` are compared, and only the fields both sides have.
    """
    out: list[StateDifference] = []
    for table in (t for t in STATE_TABLES if t in found):
        expected_rows, found_rows = implied.rows.get(table, {}), found[table]
        keyed: list[tuple[str, StateDifference]] = []
        for key in found_rows.keys() - expected_rows.keys():
            keyed.append((key, _difference(table, key, "(row)", None, True, None)))
        for key in expected_rows.keys() - found_rows.keys():
            seq = implied.seq(table, key, "(row)")
            keyed.append((key, _difference(table, key, "(row)", True, None, seq)))
        for key, row in found_rows.items():
            expected = expected_rows.get(key)
            if expected is None:
                continue
            for name, value in expected.items():
                if name in row and name != "(row)" and (held := plain(row[name])) != value:
                    seq = implied.seq(table, key, name)
                    keyed.append((key, _difference(table, key, name, value, held, seq)))
        keyed.sort(key=lambda pair: _natural(pair[0]))  # stable: a row's fields stay in order
        out.extend(difference for _, difference in keyed)
    return out


def _natural(key: str) -> tuple[Any, ...]:
    """``request:10`` after ``request:9``."""
    parts: list[Any] = []
    for chunk in key.replace(":", " : ").split():
        parts.append((0, int(chunk), "") if chunk.isdigit() else (1, 0, chunk))
    return tuple(parts)
