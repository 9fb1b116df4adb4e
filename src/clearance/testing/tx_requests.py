"""``RequestsPort`` in memory: requests, approvals, decisions and reviews."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from clearance.core.approvals import Approval
from clearance.errors import InputError
from clearance.service.ports import MAX_SCAN, ResultPath, ScannedDecision, checked_picks
from clearance.service.records import (
    DecisionBrief,
    DecisionRecord,
    RequestRecord,
    RequestStatus,
    ReviewRecord,
    StoredOutcome,
)
from clearance.testing.tables import (
    ApprovalRow,
    Repo,
    as_json,
    one,
    out,
    outs,
    require,
    unique,
    utc,
    utc_fields,
)


class RequestsRepo(Repo):
    # requests ----------------------------------------------------------------------------
    def add_request(self, **fields: Any) -> RequestRecord:
        require(self.t.models, fields.get("model_id"), "models", "requests.model_id")
        require(self.t.versions, fields.get("version_id"), "versions", "requests.version_id")
        require(self.t.policies, fields.get("policy_id"), "policies", "requests.policy_id")
        values = utc_fields(fields)
        row = RequestRecord(
            id=self.t.next_id("requests"), **values, updated_at=values["created_at"]
        )
        self.t.requests[row.id] = row
        return out(row)

    def get_request(self, request_id: int) -> RequestRecord | None:
        row = self.t.requests.get(request_id)
        return None if row is None else out(row)

    def set_request_status(
        self, request_id: int, status: RequestStatus, at: dt.datetime
    ) -> RequestRecord:
        row = one(self.t.requests, request_id, "requests")
        row = RequestRecord.model_validate(
            {**row.model_dump(), "status": status, "updated_at": utc(at)}
        )
        self.t.requests[row.id] = row
        return out(row)

    def list_requests(
        self,
        *,
        model_id: int | None = None,
        version_id: int | None = None,
        statuses: Sequence[RequestStatus] = (),
        change_type: str | None = None,
    ) -> list[RequestRecord]:
        return outs(
            r
            for _, r in sorted(self.t.requests.items())
            if (model_id is None or r.model_id == model_id)
            and (version_id is None or r.version_id == version_id)
            and (not statuses or r.status in statuses)
            and (change_type is None or r.change_type == change_type)
        )

    # approvals ---------------------------------------------------------------------------
    def add_approval(self, request_id: int, approval: Approval) -> None:
        require(self.t.requests, request_id, "requests", "approvals.request_id")
        kept = Approval(
            approver=approval.approver,
            roles=as_json(approval.roles),
            verdict=approval.verdict,
            reason=approval.reason,
            ticket=approval.ticket,
            at=utc(approval.at),
            evidence_digest=approval.evidence_digest or None,
        )
        self.t.approvals[self.t.next_id("approvals")] = ApprovalRow(request_id, kept)

    def approvals_for(self, request_id: int) -> list[Approval]:
        return self.approvals_of([request_id]).get(request_id, [])

    def approvals_of(self, request_ids: Sequence[int]) -> dict[int, list[Approval]]:
        wanted = set(request_ids)
        out: dict[int, list[Approval]] = {}
        for _, a in sorted(self.t.approvals.items()):
            if a.request_id in wanted:
                out.setdefault(a.request_id, []).extend(outs([a.approval]))
        return out

    # decisions ---------------------------------------------------------------------------
    def add_decision(
        self,
        *,
        request_id: int,
        policy_id: int,
        digest: str,
        outcome: StoredOutcome,
        inputs: dict[str, Any],
        result: dict[str, Any],
        at: dt.datetime,
    ) -> DecisionRecord:
        require(self.t.requests, request_id, "requests", "decisions.request_id")
        require(self.t.policies, policy_id, "policies", "decisions.policy_id")
        row = DecisionRecord(
            id=self.t.next_id("decisions"),
            request_id=request_id,
            policy_id=policy_id,
            digest=digest,
            outcome=outcome,
            inputs=as_json(inputs),
            result=as_json(result),
            created_at=utc(at),
        )
        self.t.decisions[row.id] = row
        return out(row)

    def get_decision(self, key: str) -> list[DecisionRecord]:
        """By number, or by a prefix (at least 6 hex digits) of the decision digest."""
        if key.isascii() and key.isdigit() and len(key) <= 18:  # beyond: no such row id
            row = self.t.decisions.get(int(key))
            if row is not None or len(key) < 6:
                return [] if row is None else [out(row)]
            # no decision with that number: a digest prefix may well be all decimal digits
        prefix = key.lower()
        return outs(d for _, d in sorted(self.t.decisions.items()) if d.digest.startswith(prefix))

    def decisions_for(self, request_id: int) -> list[DecisionRecord]:
        return outs(d for _, d in sorted(self.t.decisions.items()) if d.request_id == request_id)

    def latest_decisions(self, request_ids: Sequence[int]) -> dict[int, DecisionBrief]:
        """Each request's latest decision in brief (for lists of requests)."""
        wanted = set(request_ids)
        latest: dict[int, DecisionRecord] = {}
        for _, d in sorted(self.t.decisions.items()):
            if d.request_id in wanted:
                latest[d.request_id] = d
        return {
            rid: DecisionBrief(id=d.id, outcome=d.outcome, summary=d.result.get("summary"))
            for rid, d in latest.items()
        }

    def decisions_under(
        self,
        policy_ids: Sequence[int],
        *,
        since: dt.datetime | None,
        before: int | None,
        limit: int,
        picks: Sequence[ResultPath] = (),
        after: int | None = None,
    ) -> list[ScannedDecision]:
        paths = checked_picks(picks)
        if not 1 <= limit <= MAX_SCAN:
            raise InputError(f"limit: give 1 to {MAX_SCAN:,} decisions, not {limit}")
        wanted = set(policy_ids)
        found = (
            d
            for _, d in sorted(self.t.decisions.items(), reverse=True)
            if d.policy_id in wanted
            and (since is None or d.created_at >= since)
            and (before is None or d.id < before)
            and (after is None or d.id > after)
        )
        out: list[ScannedDecision] = []
        for d in found:
            if len(out) == limit:
                break
            out.append(
                ScannedDecision(
                    id=d.id,
                    request_id=d.request_id,
                    policy_id=d.policy_id,
                    outcome=d.outcome,
                    created_at=d.created_at,
                    inputs=_json_copy(d.inputs),
                    picked=tuple(_at(d.result, path) for path in paths),
                )
            )
        return out

    # post-incident reviews ---------------------------------------------------------------
    def add_review(self, review: ReviewRecord) -> None:
        require(self.t.requests, review.request_id, "requests", "reviews.request_id")
        if review.request_id in self.t.reviews:
            raise unique("reviews", "request_id")
        self.t.reviews[review.request_id] = ReviewRecord(
            request_id=review.request_id,
            summary=review.summary,
            actions=as_json(review.actions),
            recorded_by=review.recorded_by,
            recorded_at=utc(review.recorded_at),
        )

    def get_review(self, request_id: int) -> ReviewRecord | None:
        row = self.t.reviews.get(request_id)
        return None if row is None else out(row)


def _json_copy(data: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of stored JSON data (changing it never changes the store)."""
    copied: dict[str, Any] = as_json(data)
    return copied


def _at(data: Any, path: ResultPath) -> Any:
    """The value at ``path`` in JSON data, as a database's JSON path reads it: ``None``
    where there is none (a missing key, an index beyond the list, a step into a scalar)."""
    for step in path:
        if type(step) is int:
            if not isinstance(data, list) or step >= len(data):
                return None
        elif not isinstance(data, dict) or step not in data:
            return None
        data = data[step]
    return as_json(data) if isinstance(data, dict | list) else data
