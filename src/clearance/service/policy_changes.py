"""Policy change requests: propose a new version, sign it, withdraw it; it applies when signed.

The first version of a policy name applies directly (``Registry.apply_documents``): there is
nothing in force to govern it. Every later version is proposed here with a rationale and a
ticket; the proposal stores the files, the semantic diff from the version in force (with its
loosening flags) and a backtest summary. It applies, in the transaction of the sign-off that
completes it, once the roles the version **in force** names under ``change_control`` have
approved it (``core.policy_change`` holds the rules).

No table holds the requests: they are folded from their audit events, the only writes these
use cases make (plus the policy row when one applies), so the hash chain is their record.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from clearance.core import subjects
from clearance.core.approvals import Verdict
from clearance.core.audit import AuditEvent
from clearance.core.loading import (
    LoadedPolicy,
    is_policy_test_file,
    parse_policy,
    read_policy_files,
)
from clearance.core.policy_change import (
    APPLIED,
    APPROVED,
    CHANGE_ACTIONS,
    PROPOSED,
    REJECTED,
    WITHDRAWN,
    ChangeApprovals,
    ChangeEvent,
    PolicyChange,
    control_changes,
    fold_changes,
    judge,
    signing_refusal,
)
from clearance.core.policy_diff import diff_policies
from clearance.errors import ApprovalError, ClearanceError, InputError, NotFound
from clearance.service.access import authorize_server, require_enabled
from clearance.service.context import active_policies, load_recorded
from clearance.service.ports import Clock, Store, Tx
from clearance.service.records import PolicyRecord
from clearance.service.registry import check_successor, current_policy, record_policy

if TYPE_CHECKING:
    from clearance.service.backtest import BacktestOut

MAX_FILES = 64
MAX_TEXT = 1 << 20  # characters in all of a proposal's files together
MAX_RATIONALE = 4000
MAX_TICKET = 200
BACKTEST_LIMIT = 10_000  # newest decisions a proposal's backtest re-decides
MAX_AT_RISK = 50  # production versions listed by name in the stored summary
Backtest = Callable[..., "BacktestOut"]


class ChangeFile(BaseModel):
    """One file of a proposed policy: its name (for error locations) and its text."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=500)
    text: str = Field(max_length=MAX_TEXT)


ChangeFiles = Annotated[list[ChangeFile], Field(min_length=1, max_length=MAX_FILES)]
Rationale = Annotated[str, Field(min_length=1, max_length=MAX_RATIONALE)]
Ticket = Annotated[str, Field(min_length=1, max_length=MAX_TICKET)]


class PolicyChangeBody(BaseModel):
    """``POST /v1/policies/changes``: the new version's files, why, and the ticket."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    files: ChangeFiles
    rationale: Rationale
    ticket: Ticket

    @model_validator(mode="after")
    def _no_nul(self) -> PolicyChangeBody:
        for doc in self.files:
            if "\x00" in doc.name or "\x00" in doc.text:
                raise ValueError(f"{doc.name!r}: text may not contain NUL characters")
        return self


class PolicyChangeSignBody(BaseModel):
    """An approval's (or a withdrawal's) optional reason."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: str = Field(default="", max_length=MAX_RATIONALE)


class PolicyChangeRejectBody(BaseModel):
    """A rejection's reason, which the author can act on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: str = Field(min_length=1, max_length=MAX_RATIONALE)


class PolicyChangeOut(BaseModel):
    """A change request as its reviewers see it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    change: PolicyChange
    in_force: str | None = Field(description="The version of the policy in force now.")
    stale: bool = Field(
        description="Pending, but another version came into force since it was proposed: "
        "it can no longer be approved (withdraw it and propose again)."
    )
    approval: ChangeApprovals | None = Field(
        description="Judged by the change_control of the version in force (pending only)."
    )
    sources: list[ChangeFile] | None = Field(
        default=None, description="The proposed files (one change only, not in lists)."
    )


@dataclass(frozen=True)
class PolicyChanges:
    store: Store
    clock: Clock
    # the proposal's backtest (``Replays.backtest``); None: proposals record no summary
    backtest: Backtest | None = None

    def propose_path(
        self, path: str | Path, *, actor: str, rationale: str, ticket: str
    ) -> PolicyChangeOut:
        """``propose`` for a policy file or folder (``*.test.yaml`` left out)."""
        files = [{"name": n, "text": t} for n, t in read_policy_files(Path(path))]
        return self.propose(files, actor=actor, rationale=rationale, ticket=ticket)

    def propose(
        self,
        files: Sequence[ChangeFile | Mapping[str, str]],
        *,
        actor: str,
        rationale: str,
        ticket: str,
    ) -> PolicyChangeOut:
        """Propose a new version of an applied policy; it applies once approved."""
        rationale, ticket = (
            _text(rationale, "rationale", MAX_RATIONALE),
            _text(ticket, "ticket", MAX_TICKET),
        )
        documents = _documents(files)
        loaded = parse_policy(documents)
        with self.store.reading() as tx:
            current = self._base(tx, actor, loaded)
        summary = self._backtest(documents, loaded.name)
        now = self.clock.now()
        with self.store.transaction() as tx:
            base = self._base(tx, actor, loaded)
            if base.id != current.id:
                raise ApprovalError(
                    f"policy {base.name} {base.version} came into force meanwhile; propose again"
                )
            in_force = load_recorded(base)
            diff = diff_policies(in_force, loaded).to_dict()
            extra = [c.to_dict() for c in control_changes(in_force.policy, loaded.policy)]
            diff["changes"] = [*diff["changes"], *extra]
            loosening = any(c["loosens"] for c in diff["changes"])
            diff["loosenings"] = sum(1 for c in diff["changes"] if c["loosens"])
            event = tx.append_event(
                time=now,
                actor=actor,
                action=PROPOSED,
                subject=subjects.policy(loaded.name, loaded.version),
                model=None,
                payload={
                    "name": loaded.name,
                    "version": loaded.version,
                    "base_version": base.version,
                    "base_hash": base.content_hash,
                    "content_hash": loaded.content_hash,
                    "rationale": rationale,
                    "ticket": ticket,
                    "files": [n for n, _ in documents],
                    "sources": [[n, t] for n, t in documents],
                    "diff": diff,
                    "loosening": loosening,
                    "backtest": summary,
                },
            )
            return self._out(tx, event.seq, with_sources=True, appended=[event])

    def approve(self, change_id: int, *, actor: str, reason: str = "") -> PolicyChangeOut:
        """Sign a change; the sign-off that completes it applies the version."""
        return self._sign(change_id, actor=actor, verdict="approve", reason=reason)

    def reject(self, change_id: int, *, actor: str, reason: str) -> PolicyChangeOut:
        """Refuse a change (closes it); the reason goes to its author."""
        if not reason.strip():
            raise InputError("a rejection needs a --reason the author can act on")
        return self._sign(change_id, actor=actor, verdict="reject", reason=reason)

    def withdraw(self, change_id: int, *, actor: str, reason: str = "") -> PolicyChangeOut:
        """Take back a pending change (its author, or an admin); it can no longer be signed."""
        with self.store.transaction() as tx:
            user = require_enabled(tx, actor)
            change, _ = self._pending(tx, change_id)
            if actor != change.author and "admin" not in user.roles:
                raise ApprovalError(
                    f"only the author ({change.author}) or an admin may withdraw change "
                    f"{change_id}; {actor} holds {', '.join(user.roles) or 'no roles'}"
                )
            event = tx.append_event(
                time=self.clock.now(),
                actor=actor,
                action=WITHDRAWN,
                subject=subjects.policy(change.name, change.version),
                model=None,
                payload={"change": change.id, "reason": reason},
            )
            return self._out(tx, change_id, appended=[event])

    def list_changes(self, *, open_only: bool = False) -> list[PolicyChangeOut]:
        """Change requests, oldest first; ``open_only``: the pending ones."""
        with self.store.reading() as tx:
            changes, _ = _fold(tx)
            in_force = _in_force(tx)
            out = [_view(tx, c, in_force, None) for c in changes.values()]
        return [c for c in out if not open_only or c.change.status == "pending"]

    def show(self, change_id: int) -> PolicyChangeOut:
        """One change with its files, diff, backtest summary and approvals."""
        with self.store.reading() as tx:
            return self._out(tx, change_id, with_sources=True)

    # internals -----------------------------------------------------------------------------
    def _base(self, tx: Tx, actor: str, loaded: LoadedPolicy) -> PolicyRecord:
        """The version a proposal changes, after the checks a proposal must pass."""
        authorize_server(tx, actor, "policy")
        name, version = loaded.name, loaded.version
        current = current_policy(tx, name)
        if current is None:
            raise InputError(
                f"no version of policy {name} is applied yet: apply the first one with "
                "`clearance policy apply` (it has no change control to pass)"
            )
        if tx.get_policy(name, version) is not None:
            raise InputError(f"policy {name} {version} is already applied; bump metadata.version")
        check_successor(current, version)
        if current.version == version:
            raise InputError(f"policy {name} {version} is already in force")
        changes, _ = _fold(tx)
        for other in changes.values():
            if (other.name, other.version, other.status) == (name, version, "pending"):
                raise InputError(
                    f"change {other.id} already proposes policy {name} {version}; sign or "
                    "withdraw it, or propose another version"
                )
        return current

    def _backtest(self, documents: Sequence[tuple[str, str]], name: str) -> dict[str, Any] | None:
        """The backtest summary a proposal carries (None when no backtest is wired)."""
        if self.backtest is None:
            return None
        files = [{"name": n, "text": t} for n, t in documents]
        try:
            out = self.backtest(files, replaces=name, limit=BACKTEST_LIMIT)
        except ClearanceError as exc:
            return {"error": str(exc).splitlines()[0][:500]}
        at_risk = [
            f"{r.model} {r.version}: {', '.join(r.gates) or 'approvals'}"
            for r in out.production_at_risk
        ]
        return {
            "examined": out.examined,
            "more": out.more,
            "same": out.same,
            "newly_blocked": out.newly_blocked,
            "newly_allowed": out.newly_allowed,
            "approvals_changed": out.approvals_changed,
            "unreplayable": out.unreplayable,
            "production_at_risk": len(at_risk),
            "at_risk": at_risk[:MAX_AT_RISK],
        }

    def _sign(
        self, change_id: int, *, actor: str, verdict: Verdict, reason: str
    ) -> PolicyChangeOut:
        with self.store.transaction() as tx:
            user = require_enabled(tx, actor)  # a disabled person's sign-off does not count
            change, sources = self._pending(tx, change_id)
            base = current_policy(tx, change.name)
            if base is None or base.version != change.base_version:
                raise ApprovalError(
                    f"change {change_id} was proposed against policy {change.name} "
                    f"{change.base_version}, but {base.version if base else 'none'} is in force "
                    "now: withdraw it and propose again"
                )
            in_force = load_recorded(base)
            control = in_force.policy.change_control
            refusal = signing_refusal(
                actor, user.roles, author=change.author, control=control, policy=change.name
            )
            if refusal is not None:
                raise ApprovalError(refusal)
            if any(a.approver == actor and a.verdict == verdict for a in change.approvals):
                raise ApprovalError(f"{actor} already gave '{verdict}' on change {change_id}")
            now = self.clock.now()
            appended = [
                tx.append_event(
                    time=now,
                    actor=actor,
                    action=APPROVED if verdict == "approve" else REJECTED,
                    subject=subjects.policy(change.name, change.version),
                    model=None,
                    payload={"change": change.id, "roles": sorted(user.roles), "reason": reason},
                )
            ]
            if verdict == "approve":
                applied = self._apply_if_approved(tx, change_id, sources, in_force, appended)
                appended += applied
            return self._out(tx, change_id, appended=appended)

    def _apply_if_approved(
        self,
        tx: Tx,
        change_id: int,
        sources: list[tuple[str, str]],
        in_force: LoadedPolicy,
        appended: Sequence[AuditEvent],
    ) -> list[AuditEvent]:
        """Put the change's version in force if its approvals now suffice (its event, if so)."""
        changes, _ = _fold(tx, appended)
        change = changes[change_id]
        loaded = parse_policy(sources)
        if loaded.content_hash != change.content_hash:  # the stored text is what was reviewed
            raise ApprovalError(f"change {change_id}'s stored text no longer matches its hash")
        diff = diff_policies(in_force, loaded)
        again = bool(diff.loosenings) or bool(
            [c for c in control_changes(in_force.policy, loaded.policy) if c.loosens]
        )
        control = in_force.policy.change_control
        verdict = judge(
            control, change.approvals, author=change.author, loosening=change.loosening or again
        )
        if not verdict.satisfied:
            return []
        _, event = record_policy(
            tx,
            loaded,
            sources,
            actor=appended[-1].actor,  # whose sign-off completed it
            now=appended[-1].time,
            extra={"change": change.id, "author": change.author, "approved_by": verdict.approvers},
        )
        return [event]

    def _pending(self, tx: Tx, change_id: int) -> tuple[PolicyChange, list[tuple[str, str]]]:
        changes, sources = _fold(tx)
        change = _require(changes, change_id)
        if change.status != "pending":
            raise ApprovalError(
                f"change {change_id} is {change.status}"
                + (f" (by {change.closed_by})" if change.closed_by else "")
                + "; only a pending change can be signed or withdrawn"
            )
        return change, _files(sources.get(change_id))

    def _out(
        self,
        tx: Tx,
        change_id: int,
        *,
        with_sources: bool = False,
        appended: Sequence[AuditEvent] = (),
    ) -> PolicyChangeOut:
        changes, sources = _fold(tx, appended)
        change = _require(changes, change_id)
        files = _files(sources.get(change_id)) if with_sources else None
        return _view(tx, change, _in_force(tx), files)


def _view(
    tx: Tx,
    change: PolicyChange,
    in_force: dict[str, PolicyRecord],
    files: list[tuple[str, str]] | None,
) -> PolicyChangeOut:
    current = in_force.get(change.name)
    stale = change.status == "pending" and (
        current is None or current.version != change.base_version
    )
    approval = None
    if change.status == "pending" and current is not None:
        control = load_recorded(current).policy.change_control
        approval = judge(
            control, change.approvals, author=change.author, loosening=change.loosening
        )
    return PolicyChangeOut(
        change=change,
        in_force=None if current is None else current.version,
        stale=stale,
        approval=approval,
        sources=None if files is None else [ChangeFile(name=n, text=t) for n, t in files],
    )


def _in_force(tx: Tx) -> dict[str, PolicyRecord]:
    return {p.name: p for p in active_policies(tx)}


def _require(changes: dict[int, PolicyChange], change_id: int) -> PolicyChange:
    change = changes.get(change_id)
    if change is None:
        known = ", ".join(str(i) for i in sorted(changes)[-5:]) or "none"
        raise NotFound(f"no policy change {change_id} (latest: {known}); see `policy changes`")
    return change


def _fold(
    tx: Tx, appended: Sequence[AuditEvent] = ()
) -> tuple[dict[int, PolicyChange], dict[int, Any]]:
    """The changes as the trail says, with the events this transaction appended (a store may
    not show its unflushed rows to the trail's plain read)."""
    events = {e.seq: e for e in _change_events(tx)}
    for a in appended:
        events[a.seq] = ChangeEvent(
            seq=a.seq, time=a.time, actor=a.actor, action=a.action, payload=dict(a.payload)
        )
    return fold_changes(events[seq] for seq in sorted(events))


def _change_events(tx: Tx) -> Iterator[ChangeEvent]:
    """The trail's change events: every event is read as stored, only these are parsed."""
    for row in tx.stored_events():
        if row.action in CHANGE_ACTIONS:
            payload = json.loads(row.payload)
            if row.action == APPLIED and "change" not in payload:
                continue
            yield ChangeEvent(
                seq=row.seq, time=_when(row.time), actor=row.actor, action=row.action,
                payload=payload,
            )  # fmt: skip


def _when(value: object) -> dt.datetime:
    """A stored time (text in SQLite and memory, a datetime from some drivers), in UTC."""
    when = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


def _files(raw: Any) -> list[tuple[str, str]]:
    if not isinstance(raw, list):
        return []
    return [(str(f[0]), str(f[1])) for f in raw if isinstance(f, list | tuple) and len(f) == 2]


def _text(value: str, field: str, limit: int) -> str:
    text = value.strip()
    if not text:
        raise InputError(f"{field}: a policy change needs a {field} (--{field})")
    if len(text) > limit:
        raise InputError(f"{field}: at most {limit} characters, got {len(text)}")
    return text


def _documents(files: Iterable[ChangeFile | Mapping[str, str]]) -> list[tuple[str, str]]:
    """The files as (name, text), bounded; policy test files are left out."""
    items = list(files)
    if not items:
        raise InputError("files: give the proposed policy's files")
    if len(items) > MAX_FILES:
        raise InputError(f"files: at most {MAX_FILES} files, got {len(items)}")
    room = MAX_TEXT
    out: list[tuple[str, str]] = []
    for item in items:
        try:
            doc = item if isinstance(item, ChangeFile) else ChangeFile.model_validate(item)
        except ValidationError as exc:
            raise InputError(f"files: {exc.errors()[0]['msg']}") from None
        room -= len(doc.text)
        if room < 0:
            raise InputError(f"files: the policy's files hold more than {MAX_TEXT:,} characters")
        if not is_policy_test_file(Path(doc.name)):
            out.append((doc.name, doc.text))
    if not out:
        raise InputError("files: only policy test files (*.test.yaml) were given")
    return out
