"""The ports the service layer needs; adapters implement them (``adapters/store/sql.py``).

``Store.transaction()`` is the unit of work: everything done through its ``Tx`` commits
together with the audit events, or not at all. ``Tx`` is the sum of one small port per
aggregate, so a use case (or a fake) can be read against the few methods it touches;
``clearance.testing.InMemoryStore`` implements them all in memory, and the contract suite
(``tests/contract``) holds every store to the same behaviour.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from clearance.core.approvals import Approval
from clearance.core.audit import AuditEvent, StoredEvent
from clearance.core.version import EvidenceItem
from clearance.errors import InputError
from clearance.service.records import (
    CheckpointRecord,
    DecisionBrief,
    DecisionRecord,
    KpiRecord,
    ModelRecord,
    PolicyRecord,
    RequestRecord,
    RequestStatus,
    ReviewRecord,
    RolloutRecord,
    RolloutState,
    StoredEvidence,
    StoredOutcome,
    TokenRecord,
    User,
    VersionRecord,
    WaiverRecord,
)

if TYPE_CHECKING:  # notify's channels use this module's Clock: import the record lazily
    from clearance.notify.outbox import Delivery
    from clearance.service.leader import Lease


class Clock(Protocol):
    def now(self) -> dt.datetime: ...


class BlobStore(Protocol):
    """Content-addressed file storage: a blob's name is the sha256 of its bytes."""

    def put_file(self, path: Path) -> tuple[str, int]: ...
    def read(self, sha256: str) -> bytes: ...
    def has(self, sha256: str) -> bool: ...
    def verify(self, sha256: str) -> None: ...  # OSError when its bytes do not match
    def stored(self) -> Iterator[tuple[str, dt.datetime]]: ...
    def remove(self, sha256: str) -> None: ...


class Store(Protocol):
    def transaction(self) -> AbstractContextManager[Tx]: ...
    def reading(self) -> AbstractContextManager[Tx]: ...


class AccessPort(Protocol):
    """Users (their roles, whether they are disabled) and the API tokens that act for them."""

    def get_user(self, name: str) -> User | None: ...
    def add_user(self, name: str, roles: Sequence[str], at: dt.datetime) -> User: ...
    def set_roles(self, name: str, roles: Sequence[str]) -> User: ...
    def list_users(self) -> list[User]: ...
    def set_disabled(self, name: str, at: dt.datetime | None) -> None: ...
    def add_token(
        self,
        *,
        user: str,
        name: str,
        prefix: str,
        secret_sha256: str,
        created_by: str,
        at: dt.datetime,
        expires_at: dt.datetime | None,
        parent_id: int | None = None,
    ) -> TokenRecord: ...
    def token_by_secret(self, secret_sha256: str) -> TokenRecord | None: ...
    def get_token(self, token_id: int) -> TokenRecord | None: ...
    def list_tokens(self, *, user: str | None = None) -> list[TokenRecord]: ...
    def revoke_token(self, token_id: int, *, by: str, at: dt.datetime) -> TokenRecord: ...
    def revoke_tokens_of(self, user: str, *, by: str, at: dt.datetime) -> list[int]: ...


class ModelsPort(Protocol):
    """Models, their immutable versions with the stage each is in, and attached evidence."""

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
    def versions_by_ids(self, version_ids: Sequence[int]) -> dict[int, VersionRecord]: ...
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
    def referenced_blobs(self) -> set[str]: ...


class PoliciesPort(Protocol):
    """Applied policies: each (name, version) once, with the sources it was applied from."""

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


ResultPath = tuple[str | int, ...]
"""A path into a recorded result: object keys (letters, digits, ``_``; not a digit first)
and list indexes."""
MAX_SCAN = 10_000  # decisions one ``decisions_under`` call returns at most
MAX_PICKS = 1_000  # paths one call reads from each result


_KEY = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def checked_picks(picks: Sequence[ResultPath]) -> list[ResultPath]:
    """``picks`` as a list, each path checked: every store takes the same paths, and a path
    is spliced into a database's JSON path syntax only after this."""
    if len(picks) > MAX_PICKS:
        raise InputError(f"picks: at most {MAX_PICKS} paths, got {len(picks)}")
    out: list[ResultPath] = []
    for path in picks:
        if not isinstance(path, tuple) or not 1 <= len(path) <= 16:
            raise InputError(f"picks: a path is a tuple of 1 to 16 steps, not {path!r}")
        for step in path:
            if type(step) is int:
                if not 0 <= step < 1_000_000:
                    raise InputError(f"picks: a list index is 0 to 999999, not {step}")
            elif (
                type(step) is not str
                or not 0 < len(step) <= 100
                or not _KEY.issuperset(step)
                or step[0].isdigit()  # never read as a list index
            ):
                raise InputError(
                    f"picks: a key is 1 to 100 letters, digits or '_' (a letter or '_' "
                    f"first), not {step!r}"
                )
        out.append(path)
    return out


@dataclass(frozen=True, slots=True)
class ScannedDecision:
    """A stored decision as a scan reads it: its recorded inputs whole and, of its recorded
    result, the value at each path asked for (``None`` where there is none), in order."""

    id: int
    request_id: int
    policy_id: int
    outcome: StoredOutcome
    created_at: dt.datetime
    inputs: dict[str, Any]
    picked: tuple[Any, ...]


class RequestsPort(Protocol):
    """Promotion requests and what they gather: approvals, decisions, post-incident reviews."""

    def add_request(self, **fields: Any) -> RequestRecord: ...
    def get_request(self, request_id: int) -> RequestRecord | None: ...
    def set_request_status(
        self, request_id: int, status: RequestStatus, at: dt.datetime
    ) -> RequestRecord: ...
    def list_requests(
        self,
        *,
        model_id: int | None = None,
        version_id: int | None = None,
        statuses: Sequence[RequestStatus] = (),
        change_type: str | None = None,
    ) -> list[RequestRecord]: ...
    def add_approval(self, request_id: int, approval: Approval) -> None: ...
    def approvals_for(self, request_id: int) -> list[Approval]: ...
    # many requests' sign-offs in one read, each in order; a request with none is absent
    def approvals_of(self, request_ids: Sequence[int]) -> dict[int, list[Approval]]: ...
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
    ) -> DecisionRecord: ...
    def get_decision(self, key: str) -> list[DecisionRecord]: ...
    def decisions_for(self, request_id: int) -> list[DecisionRecord]: ...
    def latest_decisions(self, request_ids: Sequence[int]) -> dict[int, DecisionBrief]: ...
    def add_review(self, review: ReviewRecord) -> None: ...
    def get_review(self, request_id: int) -> ReviewRecord | None: ...
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
        """The decisions made under ``policy_ids`` (on or after ``since``, numbered below
        ``before`` and above ``after``: a range a parallel backtest reads), newest first, at
        most ``limit`` (1 to ``MAX_SCAN``): a page of a backtest. Of each recorded result only
        the values at ``picks`` (at most ``MAX_PICKS``) are read, so that a scan of many does
        not parse every result whole."""
        ...


@dataclass(frozen=True, slots=True)
class DecisionResult:
    """A stored decision as ``audit verify`` compares it: its recorded result, not its
    inputs (what replay needs, and most of a decision's bytes)."""

    id: int
    request_id: int
    digest: str
    outcome: StoredOutcome
    result: dict[str, Any]


class StatePort(Protocol):
    """Every row of a governed table in one read (decisions in pages), in id order: what
    ``audit verify`` compares with the state the events imply (``service/state.py``), in a
    constant number of queries however many models, versions and requests there are."""

    def all_versions(self) -> list[VersionRecord]: ...
    def all_evidence(self) -> list[StoredEvidence]: ...
    # each request's sign-offs in order (as ``approvals_of``); a request with none is absent
    def all_approvals(self) -> dict[int, list[Approval]]: ...
    # streamed in id order, a page at a time: parsed results are large, only a page is held
    def all_decision_results(self, *, batch: int = 1000) -> Iterator[DecisionResult]: ...


class GovernancePort(Protocol):
    """Waivers of gates, canary rollouts and the KPI readings that judge them."""

    def add_waiver(
        self,
        *,
        model: str,
        version: str | None,
        gate_id: str,
        expires_at: dt.datetime,
        justification: str,
        controls: Sequence[str],
        granted_by: str,
        at: dt.datetime,
    ) -> WaiverRecord: ...
    def get_waiver(self, waiver_id: int) -> WaiverRecord | None: ...
    def revoke_waiver(
        self, waiver_id: int, *, by: str, reason: str, at: dt.datetime
    ) -> WaiverRecord: ...
    def list_waivers(self, *, model: str | None = None) -> list[WaiverRecord]: ...
    def add_rollout(self, **fields: Any) -> RolloutRecord: ...
    def update_rollout(self, rollout_id: int, **fields: Any) -> RolloutRecord: ...
    def rollouts(
        self, *, model_id: int | None = None, status: RolloutState | None = None
    ) -> list[RolloutRecord]: ...
    def add_reading(self, rollout_id: int, reading: KpiRecord) -> None: ...
    def latest_readings(self, rollout_id: int) -> dict[str, KpiRecord]: ...
    def readings_since(self, rollout_id: int, since: dt.datetime) -> dict[str, list[KpiRecord]]:
        """Each KPI's readings from the one standing at ``since`` (its latest at or before
        ``since``; of several at that time, the last recorded) onward, in time order, ties
        in the order recorded: what a trigger over a window ending later reads."""
        ...


@dataclass(frozen=True)
class ModelTally:
    """What a list row says of a model beyond its own fields: how many versions, the latest
    registered, those holding a production slot (whatever the policy calls that stage),
    oldest first, and how many of its requests are in the statuses asked about."""

    versions: int
    latest: str | None
    production: tuple[str, ...]
    requests: int


class PagesPort(Protocol):
    """Set-based reads for the registry's list pages: a page and its total in SQL, and what
    a page's models need in one query per kind (not one per model), whatever the page size.

    A page is chosen by keyset: ``after`` is the last key of the page before (a model's
    name, a version's or a request's id), so a deep page costs what the first one does;
    ``offset`` skips rows after that. The total counts every row the filters match (None
    with ``count=False``: a client walking by cursor had it with the first page).
    ``model_ids`` / ``request_ids`` are at most a page (a few hundred ids); lists come in id
    order (models by name), as the per-model methods return them.
    """

    def model_page(
        self,
        *,
        risk_tier: str | None = None,
        team: str | None = None,
        after: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        count: bool = True,
    ) -> tuple[list[ModelRecord], int | None]: ...
    def versions_of(self, model_ids: Sequence[int]) -> dict[int, list[VersionRecord]]: ...
    def version_page(
        self,
        model_id: int,
        *,
        stage: str | None = None,
        after: int | None = None,
        limit: int | None = None,
        offset: int = 0,
        count: bool = True,
    ) -> tuple[list[VersionRecord], int | None]: ...
    def model_tallies(
        self, model_ids: Sequence[int], *, statuses: Sequence[RequestStatus]
    ) -> dict[int, ModelTally]:
        """Each known model's tally (requests counted in ``statuses``), in two queries."""
        ...

    def version_names(self, version_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
        """Each version's (model name, version): what a list row shows of it, without its
        registration record."""
        ...

    def request_page(
        self,
        *,
        model_id: int | None = None,
        statuses: Sequence[RequestStatus] = (),
        after: int | None = None,
        limit: int | None = None,
        offset: int = 0,
        count: bool = True,
    ) -> tuple[list[RequestRecord], int | None]: ...
    def requests_of(
        self,
        model_ids: Sequence[int],
        *,
        statuses: Sequence[RequestStatus],
        change_type: str | None = None,
    ) -> list[RequestRecord]: ...
    def reviews_for(self, request_ids: Sequence[int]) -> dict[int, ReviewRecord]: ...
    def rollouts_of(
        self, model_ids: Sequence[int], *, status: RolloutState
    ) -> list[RolloutRecord]: ...


class AuditLogPort(Protocol):
    """The audit trail: a hash chain only ever appended to, and its signed checkpoints."""

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
        self,
        *,
        model: str | None = None,
        since: dt.datetime | None = None,
        after: int = 0,
        batch: int = 1000,
        action: str | None = None,
    ) -> Iterator[AuditEvent]: ...
    def stored_events(self, *, batch: int = 20_000) -> Iterator[StoredEvent]:
        """Every event in seq order as stored (payload as its canonical JSON text): what
        verifying hashes, without parsing and re-serialising each event."""
        ...

    def event_count(self) -> int: ...
    def head_event(self) -> AuditEvent | None: ...
    def head_mark(self) -> tuple[int, str] | None:
        """The last event's seq and stored hash, nothing else decoded: verify reads the head
        of a trail that may have been tampered with."""
        ...

    def add_checkpoint(self, cp: CheckpointRecord) -> None: ...
    def checkpoints(self) -> list[CheckpointRecord]: ...


class OutboxPort(Protocol):
    """The transactional outbox: notifications recorded with their change, then one
    delivery per (notification, channel) until it is sent or fails for good."""

    def add_notification(
        self, key: str, *, event: str, model: str | None, body: dict[str, Any], at: dt.datetime
    ) -> bool: ...
    def has_notification(self, key: str) -> bool: ...
    def unrouted_notifications(self) -> list[tuple[str, dict[str, Any]]]: ...
    def mark_routed(self, key: str) -> None: ...
    def notifications(self, *, model: str | None = None) -> list[dict[str, Any]]: ...
    def add_delivery(self, delivery: Delivery) -> bool: ...
    def due_deliveries(self, now: dt.datetime) -> list[Delivery]: ...
    def update_delivery(self, delivery: Delivery) -> None: ...
    # a pending delivery due at ``now`` made due at ``until``; True for the one caller that did
    def claim_delivery(
        self, key: tuple[str, str], now: dt.datetime, until: dt.datetime
    ) -> bool: ...
    def all_deliveries(self) -> list[Delivery]: ...


class Tx(
    AccessPort,
    ModelsPort,
    PoliciesPort,
    RequestsPort,
    GovernancePort,
    PagesPort,
    StatePort,
    AuditLogPort,
    OutboxPort,
    Protocol,
):
    """Everything one unit of work may read and change, across all aggregates."""


class LeasePort(Protocol):
    """Leader leases (``service/leader.py``): each call is one atomic step of its own, never
    part of a use case's transaction, so two processes asking at once cannot both win."""

    def acquire_lease(
        self, name: str, holder: str, now: dt.datetime, ttl: dt.timedelta
    ) -> Lease | None:
        """Take the lease (free, expired or released), or renew it (``holder``'s already),
        until ``now + ttl``; None while another holder's lease runs."""
        ...

    def renew_lease(
        self, name: str, holder: str, epoch: int, now: dt.datetime, ttl: dt.timedelta
    ) -> Lease | None:
        """Extend the reign ``(holder, epoch)`` to ``now + ttl``; None when it is over."""
        ...

    def release_lease(self, name: str, holder: str, epoch: int, now: dt.datetime) -> bool:
        """Free the lease at ``now`` if the reign ``(holder, epoch)`` still holds it."""
        ...

    def get_lease(self, name: str) -> Lease | None: ...


class KeptResponse(Protocol):
    """What an idempotency key holds: a call's response, or (``status`` None) a claim."""

    @property
    def fingerprint(self) -> str: ...
    @property
    def status(self) -> int | None: ...
    @property
    def body(self) -> str | None: ...
    @property
    def claimed_at(self) -> dt.datetime: ...


class IdempotencyPort(Protocol):
    """Responses kept by ``Idempotency-Key`` (adapters/store/access.py explains the lease).

    Not part of ``Tx``: a key is claimed in a transaction of its own before the use case
    runs, and ``run`` commits the use case's work with its response.
    """

    def claim(
        self, user: str, key: str, fingerprint: str, at: dt.datetime, lease: dt.timedelta = ...
    ) -> KeptResponse | None: ...
    def run(
        self,
        user: str,
        key: str,
        fingerprint: str,
        at: dt.datetime,
        call: Callable[[], tuple[int, str]],
    ) -> tuple[KeptResponse, bool]: ...
    def refuse(
        self, user: str, key: str, fingerprint: str, at: dt.datetime, status: int, body: str
    ) -> KeptResponse | None: ...
    def release(self, user: str, key: str) -> KeptResponse | None: ...
