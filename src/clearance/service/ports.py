"""The ports the service layer needs; adapters implement them (``adapters/store/sql.py``).

``Store.transaction()`` is the unit of work: everything done through its ``Tx`` commits
together with the audit events, or not at all.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from clearance.core.approvals import Approval
from clearance.core.audit import AuditEvent
from clearance.core.version import EvidenceItem
from clearance.service.records import (
    CheckpointRecord,
    DecisionRecord,
    ModelRecord,
    PolicyRecord,
    RequestRecord,
    StoredEvidence,
    User,
    VersionRecord,
)


class Clock(Protocol):
    def now(self) -> dt.datetime: ...


class BlobStore(Protocol):
    """Content-addressed file storage: a blob's name is the sha256 of its bytes."""

    def put_file(self, path: Path) -> tuple[str, int]: ...
    def read(self, sha256: str) -> bytes: ...
    def has(self, sha256: str) -> bool: ...


class Store(Protocol):
    def transaction(self) -> AbstractContextManager[Tx]: ...
    def reading(self) -> AbstractContextManager[Tx]: ...


class Tx(Protocol):
    def get_user(self, name: str) -> User | None: ...
    def add_user(self, name: str, roles: Sequence[str], at: dt.datetime) -> User: ...
    def set_roles(self, name: str, roles: Sequence[str]) -> User: ...
    def list_users(self) -> list[User]: ...
    def get_model(self, name: str) -> ModelRecord | None: ...
    def model_by_id(self, model_id: int) -> ModelRecord: ...
    def add_model(
        self,
        *,
        name: str,
        risk_tier: str,
        owner: str,
        team: str,
        tags: dict[str, str],
        at: dt.datetime,
    ) -> ModelRecord: ...
    def list_models(self) -> list[ModelRecord]: ...
    def get_version(self, model_id: int, version: str) -> VersionRecord | None: ...
    def version_by_id(self, version_id: int) -> VersionRecord: ...
    def add_version(
        self,
        *,
        model_id: int,
        version: str,
        stage: str,
        record: dict[str, Any],
        actor: str,
        at: dt.datetime,
    ) -> VersionRecord: ...
    def list_versions(self, model_id: int) -> list[VersionRecord]: ...
    def versions_in_stage(self, model_id: int, stage: str) -> list[VersionRecord]: ...
    def set_stage(
        self,
        version_id: int,
        stage: str,
        *,
        slot: int | None,
        at: dt.datetime,
        previous_production_id: int | None = None,
    ) -> VersionRecord: ...
    def add_evidence(
        self, version_id: int, item: EvidenceItem, *, stored: bool, actor: str, at: dt.datetime
    ) -> StoredEvidence: ...
    def evidence_for(self, version_id: int) -> list[StoredEvidence]: ...
    def get_policy(self, name: str, version: str) -> PolicyRecord | None: ...
    def policy_by_id(self, policy_id: int) -> PolicyRecord: ...
    def add_policy(
        self,
        *,
        name: str,
        version: str,
        content_hash: str,
        sources: Sequence[tuple[str, str]],
        actor: str,
        at: dt.datetime,
    ) -> PolicyRecord: ...
    def list_policies(self) -> list[PolicyRecord]: ...
    def add_request(self, **fields: Any) -> RequestRecord: ...
    def get_request(self, request_id: int) -> RequestRecord | None: ...
    def set_request_status(
        self, request_id: int, status: str, at: dt.datetime
    ) -> RequestRecord: ...
    def list_requests(
        self,
        *,
        model_id: int | None = None,
        version_id: int | None = None,
        statuses: Sequence[str] = (),
    ) -> list[RequestRecord]: ...
    def add_approval(self, request_id: int, approval: Approval) -> None: ...
    def approvals_for(self, request_id: int) -> list[Approval]: ...
    def add_decision(
        self,
        *,
        request_id: int,
        policy_id: int,
        digest: str,
        outcome: str,
        inputs: dict[str, Any],
        result: dict[str, Any],
        at: dt.datetime,
    ) -> DecisionRecord: ...
    def get_decision(self, key: str) -> list[DecisionRecord]: ...
    def decisions_for(self, request_id: int) -> list[DecisionRecord]: ...
    def append_event(
        self,
        *,
        time: dt.datetime,
        actor: str,
        action: str,
        subject: str,
        model: str | None,
        payload: dict[str, Any],
    ) -> AuditEvent: ...
    def events(
        self, *, model: str | None = None, since: dt.datetime | None = None, batch: int = 1000
    ) -> Iterator[AuditEvent]: ...
    def event_count(self) -> int: ...
    def head_event(self) -> AuditEvent | None: ...
    def add_checkpoint(self, cp: CheckpointRecord) -> None: ...
    def checkpoints(self) -> list[CheckpointRecord]: ...
