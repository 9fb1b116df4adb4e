"""Replay: recompute a stored Decision from its recorded inputs and say what differs.

A decision is a function of (policy, version and evidence, approvals, waivers, clock); all of
those are stored with it, and evidence is content-addressed, so the recomputation must be
identical. A difference means the engine, the policy or the stored evidence changed, or the
stored decision was edited: every stored field is compared (the outcome and digest columns,
the whole stored result, the policy row's hash) and so is the decision's audit event, which
the hash chain protects. The decision is also evaluated under the policy that governs the
model today, to show what the answer would be now.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator

from clearance.core import subjects
from clearance.core.audit import AuditEvent
from clearance.core.decision_diff import decision_differences, short
from clearance.core.engine import evaluate_recorded
from clearance.core.loading import LoadedPolicy
from clearance.errors import InputError, NotFound
from clearance.service.backtest import DEFAULT_LIMIT, Backtests
from clearance.service.context import EvidenceSource, governing_policy, load_recorded
from clearance.service.ports import Store, Tx
from clearance.service.records import DecisionRecord

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from clearance.service.backtest import BacktestOut, PolicyDocument


# One record for every transport: the service returns it (as ``ReplayReport``), the API
# serves it under this name (its OpenAPI schema's) and the SDK parses it back.
class ReplayOut(BaseModel):
    """A stored decision recomputed from its recorded inputs (``clearance replay --json``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    decision: int
    decision_id: str
    recorded_outcome: str
    replayed_outcome: str
    differences: list[str]
    current_policy: str | None = None
    current_outcome: str | None = None
    current_differences: list[str] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def identical(self) -> bool:
        return not self.differences

    @computed_field(  # type: ignore[prop-decorator]
        description="What the CLI would exit with: 0 identical, 1 not."
    )
    @property
    def exit_code(self) -> int:
        return 0 if self.identical else 1

    @model_validator(mode="before")
    @classmethod
    def _derived_fields(cls, data: Any) -> Any:
        """``identical`` and ``exit_code`` follow from the differences: a report as served
        validates again."""
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k not in ("identical", "exit_code")}
        return data


ReplayReport = ReplayOut


def decision_key(key: str) -> str:
    """A decision's number or a digest prefix, refused when it can be neither.

    A decision number is a database integer: a longer all-digit key can only be a digest
    prefix, which the store would still read as a number (and overflow); say so instead.
    """
    if re.fullmatch(r"[0-9]{19,}", key):
        raise InputError(
            f"decision '{key}': a number has at most 18 digits; for a digest prefix, "
            "include a hex letter or give fewer digits"
        )
    return key


@dataclass(frozen=True)
class Replays:
    store: Store
    evidence: EvidenceSource
    # opens this store again in another process: backtests of many decisions use several
    open_store: Callable[[], Store] | None = None

    def decisions(self, key: str) -> list[DecisionRecord]:
        """The stored decisions a number or a digest prefix names, with their inputs."""
        with self.store.reading() as tx:
            return _decisions(tx, key)

    def replay(self, key: str) -> ReplayReport:
        with self.store.reading() as tx:
            found = _decisions(tx, key)
            if len(found) > 1:
                raise InputError(f"'{key}' matches {len(found)} decisions; give more digits")
            record = found[0]
            policy_row = tx.policy_by_id(record.policy_id)
            recorded_policy = load_recorded(policy_row)
            model = tx.model_by_id(tx.get_request(record.request_id).model_id)  # type: ignore[union-attr]
            event = _recorded_event(tx, model.name, record.id)
            try:
                _, current = governing_policy(tx, model)
            except (NotFound, InputError):
                current = None
        replayed = self._evaluate(record, recorded_policy)
        report = ReplayReport(
            decision=record.id,
            decision_id=record.digest,
            recorded_outcome=record.outcome,
            replayed_outcome=replayed["outcome"],
            differences=[
                *_stored_fields(record, replayed, policy_row.content_hash),
                *decision_differences(record.result, replayed),
                *_event_fields(event, record, replayed),
            ],
        )
        if current is None or current.content_hash == recorded_policy.content_hash:
            return report
        try:
            now_result = self._evaluate(record, current)
        except InputError as exc:  # today's policy may no longer have this transition
            outcome, differences = "not evaluable", [str(exc)]
        else:
            outcome = now_result["outcome"]
            differences = decision_differences(record.result, now_result)
        return report.model_copy(
            update={
                "current_policy": f"{current.name} {current.version}",
                "current_outcome": outcome,
                "current_differences": differences,
            }
        )

    def backtest(
        self,
        files: Sequence[PolicyDocument | Mapping[str, str]],
        *,
        replaces: str | None = None,
        since: dt.date | None = None,
        limit: int = DEFAULT_LIMIT,
        workers: int = 1,
    ) -> BacktestOut:
        """Every stored decision of the policy decided again under a proposed version of it,
        from its recorded inputs (``service.backtest`` says how); with ``workers`` > 1 and a
        store that can be opened again, a large store in that many processes."""
        backtests = Backtests(
            self.store, self.evidence, open_store=self.open_store, workers=workers
        )
        return backtests.run(files, replaces=replaces, since=since, limit=limit)

    def _evaluate(self, record: DecisionRecord, loaded: LoadedPolicy) -> dict[str, Any]:
        decision = evaluate_recorded(loaded, record.inputs, self.evidence.open)
        return decision.model_dump(mode="json")


def _decisions(tx: Tx, key: str) -> list[DecisionRecord]:
    found = tx.get_decision(decision_key(key))
    if not found:
        raise NotFound(f"no decision '{key}'; give its number or a digest prefix")
    return found


def _recorded_event(tx: Tx, model: str, decision: int) -> AuditEvent | None:
    subject = subjects.decision(decision)
    return next(
        (
            e
            for e in tx.events(model=model)
            if e.subject == subject and e.action == "decision.recorded"
        ),
        None,
    )


def _stored_fields(record: DecisionRecord, replayed: dict[str, Any], policy_hash: str) -> list[str]:
    """The decision row's own columns against the replay: an edited column is a difference."""
    pairs = [
        ("stored outcome", record.outcome, replayed["outcome"]),
        ("stored digest", record.digest, replayed["decision_id"]),
        ("stored policy hash", policy_hash, replayed["policy_hash"]),
    ]
    return [f"{name}: {short(a)} → {short(b)}" for name, a, b in pairs if a != b]


def _event_fields(
    event: AuditEvent | None, record: DecisionRecord, replayed: dict[str, Any]
) -> list[str]:
    """The decision's audit event (protected by the chain) against the replay."""
    if event is None:
        return [f"audit event: no decision.recorded event for decision {record.id}"]
    p = event.payload
    pairs = [
        ("request", p.get("request"), record.request_id),
        ("decision_id", p.get("decision_id"), replayed["decision_id"]),
        ("outcome", p.get("outcome"), replayed["outcome"]),
        ("policy_hash", p.get("policy_hash"), replayed["policy_hash"]),
        ("summary", p.get("summary"), replayed["summary"]),
        ("gates", p.get("gates"), {g["gate_id"]: g["status"] for g in replayed["gates"]}),
    ]
    return [
        f"audit event seq {event.seq} {name}: {short(a)} → {short(b)}"
        for name, a, b in pairs
        if a != b
    ]
