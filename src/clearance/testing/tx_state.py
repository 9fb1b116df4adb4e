"""``StatePort`` in memory: every row of a governed table at once (as ``SqlTx`` reads them)."""

from __future__ import annotations

from collections.abc import Iterator

from clearance.core.approvals import Approval
from clearance.service.ports import DecisionResult
from clearance.service.records import StoredEvidence, VersionRecord
from clearance.testing.tables import Repo, as_json, outs


class StateRepo(Repo):
    def all_versions(self) -> list[VersionRecord]:
        return outs(v for _, v in sorted(self.t.versions.items()))

    def all_evidence(self) -> list[StoredEvidence]:
        return outs(e for _, e in sorted(self.t.evidence.items()))

    def all_approvals(self) -> dict[int, list[Approval]]:
        out: dict[int, list[Approval]] = {}
        for _, a in sorted(self.t.approvals.items()):
            out.setdefault(a.request_id, []).extend(outs([a.approval]))
        return out

    def all_decision_results(self, *, batch: int = 1000) -> Iterator[DecisionResult]:
        return iter(
            [
                DecisionResult(
                    id=d.id,
                    request_id=d.request_id,
                    digest=d.digest,
                    outcome=d.outcome,
                    result=as_json(d.result),  # a copy: the stored row stays as it is
                )
                for _, d in sorted(self.t.decisions.items())
            ]
        )
