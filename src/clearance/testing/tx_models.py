"""``ModelsPort`` and ``PoliciesPort`` in memory (as ``adapters/store/sql.py``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from clearance.core.version import EvidenceItem
from clearance.errors import StoreConflict
from clearance.service.records import ModelRecord, PolicyRecord, StoredEvidence, VersionRecord
from clearance.testing.tables import Repo, as_json, one, out, outs, require, unique, utc

SLOT_TAKEN = "another promotion took the production slot at the same time; re-run the request"
VERSION_TAKEN = "this version is already registered (versions are immutable)"


class ModelsRepo(Repo):
    # models ------------------------------------------------------------------------------
    def get_model(self, name: str) -> ModelRecord | None:
        found = [m for m in self.t.models.values() if m.name == name]
        return out(found[0]) if found else None

    def model_by_id(self, model_id: int) -> ModelRecord:
        return out(one(self.t.models, model_id, "models"))

    def add_model(
        self,
        *,
        name: str,
        risk_tier: str,
        owner: str,
        team: str,
        tags: dict[str, str],
        at: dt.datetime,
    ) -> ModelRecord:
        if any(m.name == name for m in self.t.models.values()):
            raise unique("models", "name")
        model = ModelRecord(
            id=self.t.next_id("models"),
            name=name,
            risk_tier=risk_tier,
            owner=owner,
            team=team,
            tags=as_json(tags),
            created_at=utc(at),
        )
        self.t.models[model.id] = model
        return out(model)

    def list_models(self) -> list[ModelRecord]:
        return outs(sorted(self.t.models.values(), key=lambda m: m.name))

    # versions ----------------------------------------------------------------------------
    def get_version(self, model_id: int, version: str) -> VersionRecord | None:
        for row in self.t.versions.values():
            if row.model_id == model_id and row.version == version:
                return out(row)
        return None

    def version_by_id(self, version_id: int) -> VersionRecord:
        return out(one(self.t.versions, version_id, "versions"))

    def versions_by_ids(self, version_ids: Sequence[int]) -> dict[int, VersionRecord]:
        rows = self.t.versions
        return {i: out(rows[i]) for i in sorted(set(version_ids)) if i in rows}

    def add_version(
        self,
        *,
        model_id: int,
        version: str,
        stage: str,
        record: dict[str, Any],
        actor: str,
        at: dt.datetime,
    ) -> VersionRecord:
        require(self.t.models, model_id, "models", "versions.model_id")
        if self.get_version(model_id, version) is not None:
            raise StoreConflict(VERSION_TAKEN)
        row = VersionRecord(
            id=self.t.next_id("versions"),
            model_id=model_id,
            version=version,
            stage=stage,
            production_slot=None,
            record=as_json(record),
            registered_by=actor,
            created_at=utc(at),
            stage_changed_at=utc(at),
        )
        self.t.versions[row.id] = row
        return out(row)

    def list_versions(self, model_id: int) -> list[VersionRecord]:
        return outs(v for _, v in sorted(self.t.versions.items()) if v.model_id == model_id)

    def versions_in_stage(self, model_id: int, stage: str) -> list[VersionRecord]:
        """Oldest arrival first."""
        rows = [v for v in self.t.versions.values() if v.model_id == model_id and v.stage == stage]
        return outs(sorted(rows, key=lambda v: (v.stage_changed_at, v.id)))

    def set_stage(
        self,
        version_id: int,
        stage: str,
        *,
        slot: int | None,
        at: dt.datetime,
        previous_production_id: int | None = None,
    ) -> VersionRecord:
        row = one(self.t.versions, version_id, "versions")
        if slot is not None and any(
            v.model_id == row.model_id and v.production_slot == slot and v.id != row.id
            for v in self.t.versions.values()
        ):
            raise StoreConflict(SLOT_TAKEN)
        change: dict[str, Any] = {
            "stage": stage,
            "production_slot": slot,
            "stage_changed_at": utc(at),
        }
        if previous_production_id is not None:
            change["previous_production_id"] = previous_production_id
        row = row.model_copy(update=change)
        self.t.versions[row.id] = row
        return out(row)

    # evidence ----------------------------------------------------------------------------
    def add_evidence(
        self, version_id: int, item: EvidenceItem, *, stored: bool, actor: str, at: dt.datetime
    ) -> StoredEvidence:
        require(self.t.versions, version_id, "versions", "evidence.version_id")
        columns = (
            None
            if item.columns is None
            else as_json(item.columns.model_dump(mode="json", exclude_none=True))
        )
        kept = EvidenceItem(
            name=item.name,
            kind=item.kind,
            uri=item.uri,
            sha256=item.sha256 or None,
            size=item.size,
            columns=columns,
        )
        row = StoredEvidence(
            id=self.t.next_id("evidence"),
            version_id=version_id,
            item=kept,
            stored=stored,
            attached_by=actor,
            attached_at=utc(at),
        )
        self.t.evidence[row.id] = row
        return out(row)

    def evidence_for(self, version_id: int) -> list[StoredEvidence]:
        """All attachments in order; a later one with the same name supersedes earlier ones."""
        return outs(e for _, e in sorted(self.t.evidence.items()) if e.version_id == version_id)

    def referenced_blobs(self) -> set[str]:
        """Every blob a version's artifact or its stored evidence names (what GC keeps)."""
        shas = {e.item.sha256 or "" for e in self.t.evidence.values() if e.stored}
        for row in self.t.versions.values():
            blob = row.record.get("artifact_blob")
            if isinstance(blob, str):
                shas.add(blob)
        return shas

    # policies ----------------------------------------------------------------------------
    def get_policy(self, name: str, version: str) -> PolicyRecord | None:
        for row in self.t.policies.values():
            if row.name == name and row.version == version:
                return out(row)
        return None

    def policy_by_id(self, policy_id: int) -> PolicyRecord:
        return out(one(self.t.policies, policy_id, "policies"))

    def add_policy(
        self,
        *,
        name: str,
        version: str,
        content_hash: str,
        sources: Sequence[tuple[str, str]],
        actor: str,
        at: dt.datetime,
    ) -> PolicyRecord:
        if self.get_policy(name, version) is not None:
            raise unique("policies", "name, policies.version")
        row = PolicyRecord(
            id=self.t.next_id("policies"),
            name=name,
            version=version,
            content_hash=content_hash,
            sources=[(f, t) for f, t in as_json([list(s) for s in sources])],
            applied_by=actor,
            applied_at=utc(at),
        )
        self.t.policies[row.id] = row
        return out(row)

    def list_policies(self) -> list[PolicyRecord]:
        return outs(p for _, p in sorted(self.t.policies.items()))
