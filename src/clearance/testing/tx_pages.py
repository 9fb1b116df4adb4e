"""``PagesPort`` in memory (as ``adapters/store/sql.py``): the same pages, totals and order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from clearance.service.records import (
    ModelRecord,
    RequestRecord,
    RequestStatus,
    ReviewRecord,
    RolloutRecord,
    RolloutState,
    VersionRecord,
)
from clearance.testing.tables import Repo, out, outs

T = TypeVar("T")


class PagesRepo(Repo):
    def model_page(
        self,
        *,
        risk_tier: str | None = None,
        team: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> tuple[list[ModelRecord], int]:
        rows = sorted(
            (
                m
                for m in self.t.models.values()
                if (risk_tier is None or m.risk_tier == risk_tier)
                and (team is None or m.team == team)
            ),
            key=lambda m: m.name,
        )
        return outs(_page(rows, limit, offset)), len(rows)

    def models_by_ids(self, model_ids: Sequence[int]) -> dict[int, ModelRecord]:
        rows = self.t.models
        return {i: out(rows[i]) for i in sorted(set(model_ids)) if i in rows}

    def versions_of(self, model_ids: Sequence[int]) -> dict[int, list[VersionRecord]]:
        found: dict[int, list[VersionRecord]] = {i: [] for i in model_ids}
        for _, v in sorted(self.t.versions.items()):
            if v.model_id in found:
                found[v.model_id].append(out(v))
        return found

    def request_page(
        self,
        *,
        model_id: int | None = None,
        statuses: Sequence[RequestStatus] = (),
        limit: int | None = None,
        offset: int = 0,
    ) -> tuple[list[RequestRecord], int]:
        rows = [
            r
            for _, r in sorted(self.t.requests.items())
            if (model_id is None or r.model_id == model_id)
            and (not statuses or r.status in statuses)
        ]
        return outs(_page(rows, limit, offset)), len(rows)

    def requests_of(
        self,
        model_ids: Sequence[int],
        *,
        statuses: Sequence[RequestStatus],
        change_type: str | None = None,
    ) -> list[RequestRecord]:
        ids = set(model_ids)
        return outs(
            r
            for _, r in sorted(self.t.requests.items())
            if r.model_id in ids
            and r.status in statuses
            and (change_type is None or r.change_type == change_type)
        )

    def reviews_for(self, request_ids: Sequence[int]) -> dict[int, ReviewRecord]:
        rows = self.t.reviews
        return {i: out(rows[i]) for i in sorted(set(request_ids)) if i in rows}

    def rollouts_of(self, model_ids: Sequence[int], *, status: RolloutState) -> list[RolloutRecord]:
        ids = set(model_ids)
        return outs(
            r
            for _, r in sorted(self.t.rollouts.items())
            if r.model_id in ids and r.status == status
        )


def _page(rows: list[T], limit: int | None, offset: int) -> list[T]:
    return rows[offset : None if limit is None else offset + limit]
