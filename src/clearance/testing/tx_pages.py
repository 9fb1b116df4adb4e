"""``PagesPort`` in memory (as ``adapters/store/sql.py``): the same pages, totals and order,
the same keyset (``after``: rows past that key) and the same tallies."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from clearance.service.ports import ModelTally
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
K = TypeVar("K", str, int)


class PagesRepo(Repo):
    def model_page(
        self,
        *,
        risk_tier: str | None = None,
        team: str | None = None,
        after: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        count: bool = True,
    ) -> tuple[list[ModelRecord], int | None]:
        rows = sorted(
            (
                m
                for m in self.t.models.values()
                if (risk_tier is None or m.risk_tier == risk_tier)
                and (team is None or m.team == team)
            ),
            key=lambda m: m.name,
        )
        return outs(_page(rows, lambda m: m.name, after, limit, offset)), _total(rows, count)

    def versions_of(self, model_ids: Sequence[int]) -> dict[int, list[VersionRecord]]:
        found: dict[int, list[VersionRecord]] = {i: [] for i in model_ids}
        for _, v in sorted(self.t.versions.items()):
            if v.model_id in found:
                found[v.model_id].append(out(v))
        return found

    def version_page(
        self,
        model_id: int,
        *,
        stage: str | None = None,
        after: int | None = None,
        limit: int | None = None,
        offset: int = 0,
        count: bool = True,
    ) -> tuple[list[VersionRecord], int | None]:
        rows = [
            v
            for _, v in sorted(self.t.versions.items())
            if v.model_id == model_id and (stage is None or v.stage == stage)
        ]
        return outs(_page(rows, lambda v: v.id, after, limit, offset)), _total(rows, count)

    def model_tallies(
        self, model_ids: Sequence[int], *, statuses: Sequence[RequestStatus]
    ) -> dict[int, ModelTally]:
        ids = set(model_ids) & set(self.t.models)
        mine: dict[int, list[VersionRecord]] = {i: [] for i in ids}
        for _, v in sorted(self.t.versions.items()):
            if v.model_id in ids:
                mine[v.model_id].append(v)
        waiting = dict.fromkeys(ids, 0)
        for r in self.t.requests.values():
            if r.model_id in ids and r.status in statuses:
                waiting[r.model_id] += 1
        return {
            m: ModelTally(
                versions=len(vs),
                latest=vs[-1].version if vs else None,
                production=tuple(v.version for v in vs if v.production_slot is not None),
                requests=waiting[m],
            )
            for m, vs in sorted(mine.items())
        }

    def version_names(self, version_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
        rows, models = self.t.versions, self.t.models
        return {
            i: (models[rows[i].model_id].name, rows[i].version)
            for i in sorted(set(version_ids))
            if i in rows
        }

    def request_page(
        self,
        *,
        model_id: int | None = None,
        statuses: Sequence[RequestStatus] = (),
        after: int | None = None,
        limit: int | None = None,
        offset: int = 0,
        count: bool = True,
    ) -> tuple[list[RequestRecord], int | None]:
        rows = [
            r
            for _, r in sorted(self.t.requests.items())
            if (model_id is None or r.model_id == model_id)
            and (not statuses or r.status in statuses)
        ]
        return outs(_page(rows, lambda r: r.id, after, limit, offset)), _total(rows, count)

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


def _page(
    rows: list[T], key: Callable[[T], K], after: K | None, limit: int | None, offset: int
) -> list[T]:
    """``rows`` (in ``key`` order) past ``after``, then ``offset`` and ``limit`` as SQL does."""
    if after is not None:
        rows = [r for r in rows if key(r) > after]
    return rows[offset : None if limit is None else offset + limit]


def _total(rows: list[T], count: bool) -> int | None:
    return len(rows) if count else None
