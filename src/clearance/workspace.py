"""The workspace: where a team's clearance state lives, and the wiring of the service to it.

A workspace is a folder holding ``.clearance/``: the SQLite database (unless
``CLEARANCE_DB_URL`` or ``config.json`` names a PostgreSQL one), the content-addressed blob
store and the Ed25519 key that signs audit checkpoints. Like git, commands find the nearest
``.clearance`` above the current folder; ``CLEARANCE_WORKSPACE`` points elsewhere.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clearance.adapters.clock import SystemClock
from clearance.errors import InputError, NotFound, StoreError

# Each property imports its own service and adapter: a command pays for the use cases it
# calls (a read loads neither the engine, the signing key's library nor the notifiers).
if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from sqlalchemy import Engine

    from clearance.adapters.blobs import FileBlobStore
    from clearance.adapters.evidence import BlobEvidenceSource
    from clearance.adapters.keyring import DirectoryKeyRing
    from clearance.dataset_sources import TableSource
    from clearance.service.access import Tokens, Users
    from clearance.service.analytics import AnalyticsService
    from clearance.service.attestations import Attestations, DirectoryArchive
    from clearance.service.auditing import Auditing
    from clearance.service.delivery import Deliveries
    from clearance.service.evidence_pack import EvidencePacks
    from clearance.service.governance import Governance
    from clearance.service.housekeeping import Housekeeping
    from clearance.service.keys import Keys
    from clearance.service.kpi_sources import KpiSource
    from clearance.service.mlflow_governance import MlflowGovernance
    from clearance.service.monitors import Monitors
    from clearance.service.policy_changes import PolicyChanges
    from clearance.service.ports import Clock, IdempotencyPort, KeptResponse, LeasePort, Store
    from clearance.service.promotion import Promotions
    from clearance.service.registry import Registry
    from clearance.service.replay import Replays
    from clearance.service.rollouts import Rollouts
    from clearance.service.scheduler import Scheduler
    from clearance.service.serving_check import ServingChecks
    from clearance.service.views import Views
    from clearance.service.waivers import Waivers

HOME = ".clearance"
KEY_FILE = "keys/audit-ed25519.pem"
# What runs once the writes of the idempotent call in progress commit (``after_commit``)
_AFTER_COMMIT: ContextVar[list[Callable[[], None]] | None] = ContextVar(
    "clearance_after_commit", default=None
)


def after_commit(action: Callable[[], None]) -> None:
    """Run ``action`` once what the use case wrote is committed: at once, or, inside an
    idempotent API call (whose writes are held open and committed with its response, see
    ``IdempotencyPort.run``), right after that commit; never if they are rolled back.

    For work with effects outside the store (the MLflow write-back): done before the commit,
    it would act on a decision that might still be undone, and its reads would not see it."""
    pending = _AFTER_COMMIT.get()
    if pending is None:
        action()
    else:
        pending.append(action)


@dataclass(frozen=True)
class CommitHooks:
    """An ``IdempotencyPort`` that runs the ``after_commit`` actions of the call it runs,
    after committing it."""

    inner: IdempotencyPort

    def claim(self, *args: Any, **kwargs: Any) -> KeptResponse | None:
        return self.inner.claim(*args, **kwargs)

    def run(
        self,
        user: str,
        key: str,
        fingerprint: str,
        at: dt.datetime,
        call: Callable[[], tuple[int, str]],
    ) -> tuple[KeptResponse, bool]:
        pending: list[Callable[[], None]] = []
        token = _AFTER_COMMIT.set(pending)
        try:
            stored, ours = self.inner.run(user, key, fingerprint, at, call)
        finally:
            _AFTER_COMMIT.reset(token)
        if ours:  # committed; otherwise another call with the key won and ours rolled back
            for action in pending:
                action()
        return stored, ours

    def refuse(
        self, user: str, key: str, fingerprint: str, at: dt.datetime, status: int, body: str
    ) -> KeptResponse | None:
        return self.inner.refuse(user, key, fingerprint, at, status, body)

    def release(self, user: str, key: str) -> KeptResponse | None:
        return self.inner.release(user, key)


@dataclass
class Workspace:
    root: Path
    clock: Clock
    url: str | None = None  # an explicit database URL beats the environment and config
    pooled: bool | None = None  # keep database connections open (the server does)

    @property
    def home(self) -> Path:
        return self.root / HOME

    @property
    def db_url(self) -> str:
        if self.url:
            return self.url
        env = os.environ.get("CLEARANCE_DB_URL")
        if env:
            return env
        config = self.home / "config.json"
        if config.is_file():
            url = json.loads(config.read_text()).get("db_url")
            if url:
                return str(url)
        return f"sqlite:///{self.home / 'clearance.db'}"

    @cached_property
    def engine(self) -> Engine:
        from clearance.adapters.store.database import make_engine

        return make_engine(self.db_url, pooled=self.pooled)

    @cached_property
    def store(self) -> Store:
        from clearance.adapters.store.sql import SqlStore

        return SqlStore(self.engine)

    @cached_property
    def blobs(self) -> FileBlobStore:
        from clearance.adapters.blobs import FileBlobStore

        return FileBlobStore(self.home / "blobs")

    @property
    def evidence(self) -> BlobEvidenceSource:
        from clearance.adapters.evidence import BlobEvidenceSource

        return BlobEvidenceSource(self.blobs)

    @cached_property
    def key(self) -> Ed25519PrivateKey:
        """The audit signing key: the external signer ``config.json`` names, else the key
        file (ADR 18)."""
        from clearance.adapters.keyring import signer_settings
        from clearance.core.audit import load_private_key_pem

        signer = signer_settings(self.home / "config.json")
        if signer is not None:
            return signer
        path = self.home / KEY_FILE
        try:
            return load_private_key_pem(path.read_bytes())
        except FileNotFoundError:
            raise StoreError(f"the audit signing key {path} is missing") from None

    @cached_property
    def keyring(self) -> DirectoryKeyRing:
        from clearance.adapters.keyring import DirectoryKeyRing

        return DirectoryKeyRing(self.home / "keys")

    @property
    def keys(self) -> Keys:
        from clearance.service.keys import Keys

        return Keys(self.store, self.clock, self.keyring)

    @property
    def registry(self) -> Registry:
        from clearance.service.registry import Registry

        return Registry(self.store, self.blobs, self.clock)

    @property
    def analytics(self) -> AnalyticsService:
        from clearance.service.analytics import AnalyticsService

        return AnalyticsService(self.store, self.clock)

    @property
    def policy_changes(self) -> PolicyChanges:
        from clearance.service.policy_changes import PolicyChanges

        return PolicyChanges(self.store, self.clock, self.replays.backtest)

    @property
    def housekeeping(self) -> Housekeeping:
        from clearance.service.housekeeping import Housekeeping

        return Housekeeping(self.store, self.blobs, self.clock)

    @property
    def promotions(self) -> Promotions:
        from clearance.service.attestations import Attester
        from clearance.service.promotion import Promotions

        attester = Attester(lambda: self.key, self.attestation_archive)
        return Promotions(self.store, self.evidence, self.clock, attester)

    @cached_property
    def attestation_archive(self) -> DirectoryArchive:
        from clearance.service.attestations import DirectoryArchive

        return DirectoryArchive(self.home / "attestations")

    @property
    def attestations(self) -> Attestations:
        from clearance.service.attestations import Attestations

        return Attestations(self.store, self.attestation_archive)

    @property
    def serving(self) -> ServingChecks:
        """The serving check a loader runs before it loads a model (docs/serving.md)."""
        from clearance.service.serving_check import ServingChecks, SigningKey

        def keys() -> list[SigningKey]:
            return [
                SigningKey(
                    keyid=k.keyid,
                    public_key_hex=k.public_key_hex,
                    retired=k.retired,
                    compromised=k.compromised,
                )
                for k in self.keys.known()
            ]

        return ServingChecks(self.store, self.clock, self.attestations, keys)

    @property
    def evidence_packs(self) -> EvidencePacks:
        """Packs of a version's decisions, with their signed attestations."""
        from clearance.service.evidence_pack import EvidencePacks

        attestations = self.attestations

        def attestation(request_id: int, decision: int) -> bytes | None:
            try:
                return attestations.attestation(request_id, decision=decision).to_bytes()
            except NotFound:
                return None

        return EvidencePacks(
            self.store, self.blobs, self.clock, self.auditing.public_key, attestation
        )

    @property
    def auditing(self) -> Auditing:
        from clearance.service.auditing import Auditing

        return Auditing(
            self.store, self.clock, lambda: self.key, self.blobs, self.keyring.kept_public_keys
        )

    @property
    def replays(self) -> Replays:
        from clearance.service.replay import Replays

        return Replays(self.store, self.evidence, self._store_opener())

    def _store_opener(self) -> Callable[[], Store] | None:
        """This workspace's store, opened again (in a worker process); None in memory."""
        from clearance.adapters.store.opener import SqlStoreOpener

        return SqlStoreOpener(self.db_url)

    @property
    def views(self) -> Views:
        from clearance.service.views import Views

        return Views(self.store, self.clock)

    @property
    def waivers(self) -> Waivers:
        from clearance.service.waivers import Waivers

        return Waivers(self.store, self.clock)

    @property
    def rollouts(self) -> Rollouts:
        from clearance.service.rollouts import Rollouts

        return Rollouts(self.store, self.clock)

    @property
    def governance(self) -> Governance:
        from clearance.service.governance import Governance

        return Governance(self.store, self.evidence, self.clock, self.kpi_source)

    @property
    def prometheus_file(self) -> Path:
        return self.home / "prometheus.yaml"

    def kpi_source(self) -> KpiSource | None:
        """The Prometheus that ``prometheus.yaml`` names (read at each call, so a fixed file
        takes effect at the next tick); None without that file."""
        from clearance.adapters.prometheus import PrometheusSource
        from clearance.service.kpi_sources import load_prometheus_settings

        settings = load_prometheus_settings(self.prometheus_file)
        return None if settings is None else PrometheusSource(settings)

    @property
    def tokens(self) -> Tokens:
        from clearance.service.access import Tokens

        return Tokens(self.store, self.clock)

    @property
    def users(self) -> Users:
        from clearance.service.access import Users

        return Users(self.store, self.clock)

    @property
    def idempotency(self) -> IdempotencyPort:
        from clearance.adapters.store.access import SqlIdempotency

        return CommitHooks(SqlIdempotency(self.engine))

    @property
    def leases(self) -> LeasePort:
        """The leader leases (``service/leader.py``): which server process runs the ticks."""
        from clearance.adapters.store.leases import SqlLeases

        return SqlLeases(self.engine)

    @property
    def notifications_file(self) -> Path:
        return self.home / "notifications.yaml"

    @property
    def mlflow_file(self) -> Path:
        return self.home / "mlflow.yaml"

    @cached_property
    def mlflow(self) -> MlflowGovernance | None:
        """The MLflow use cases, wired to MLflow as ``mlflow.yaml`` says; None without that
        file (MLflow is not used here). Only with the file is MLflow imported: without the
        ``mlflow`` extra that is an error naming it."""
        from clearance.service.mlflow_settings import load_settings

        settings = load_settings(self.mlflow_file)
        if settings is None:
            return None
        from clearance.adapters.mlflow import mlflow_governance

        return mlflow_governance(
            self.store,
            self.clock,
            self.registry,
            settings,
            self.idempotency,
            alert_now=self.send_alerts,
        )

    def send_alerts(self) -> None:
        """Route the recorded alerts to their channels and send what is due, now."""
        deliveries = self.deliveries()
        deliveries.route()
        deliveries.send()

    @property
    def mlflow_configured(self) -> MlflowGovernance:
        """``mlflow``, for the use cases that need it (the contract's MLflow operations)."""
        governance = self.mlflow
        if governance is None:
            raise NotFound(
                f"MLflow is not configured for this workspace: it has no {HOME}/mlflow.yaml "
                "(docs/mlflow.md)"
            )
        return governance

    @property
    def scheduler(self) -> Scheduler:
        from clearance.service.scheduler import Scheduler

        return Scheduler(
            self.store, self.governance, self.deliveries, lambda: self.mlflow, lambda: self.monitors
        )

    @property
    def monitors(self) -> Monitors:
        """Production monitors (docs/monitoring.md): batches read like any dataset evidence."""
        from clearance.adapters.evidence import FileEvidence
        from clearance.service.monitors import Monitors

        def open_batch(name: str, path: Path) -> FileEvidence:
            return FileEvidence({name: path}, None)

        def open_source(base: Any, name: str, source: TableSource) -> Any:
            from clearance.adapters.warehouse import WarehouseEvidence

            return WarehouseEvidence(base, {name: source})

        return Monitors(
            self.store,
            self.evidence,
            self.clock,
            open_batch,
            self.root,
            self.deliveries,
            self.kpi_source,
            open_source,
        )

    def deliveries(self, env: Mapping[str, str] | None = None) -> Deliveries:
        """Delivery of recorded alerts through the channels in ``notifications.yaml``."""
        from clearance.adapters.notify import StoreOutbox, usable_channels
        from clearance.notify.config import load_config
        from clearance.service.delivery import Deliveries

        path = self.notifications_file
        config = load_config(path) if path.is_file() else None
        channels = usable_channels(config, env, clock=self.clock)
        return Deliveries(self.store, self.clock, config, StoreOutbox(self.store), channels)


def find_workspace(start: Path | None = None, clock: Clock | None = None) -> Workspace:
    clock = clock or SystemClock()
    env = os.environ.get("CLEARANCE_WORKSPACE")
    if env:
        root = Path(env).resolve()
        root = root.parent if root.name == HOME else root
        if not (root / HOME).is_dir():
            raise InputError(
                f"CLEARANCE_WORKSPACE={env} holds no {HOME}; run `clearance init {env}`"
            )
        return Workspace(root, clock)
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / HOME).is_dir():
            return Workspace(folder, clock)
    raise InputError(f"no clearance workspace in {here} or above; run `clearance init`")


def init_workspace(
    root: Path, *, db_url: str | None = None, clock: Clock | None = None
) -> Workspace:
    """Create (or complete) a workspace and bring its database schema up to date."""
    from clearance.adapters.private import private_dir, write_private
    from clearance.adapters.store import migrate
    from clearance.core.audit import generate_key, private_key_pem

    ws = Workspace(root.resolve(), clock or SystemClock(), url=db_url)
    for folder in (ws.home, ws.home / "keys", ws.home / "blobs"):
        private_dir(folder)  # 0700 from the start: keys, the database and evidence live here
    (ws.home / ".gitignore").write_text("*\n")
    key_path = ws.home / KEY_FILE
    if not key_path.exists():
        write_private(key_path, private_key_pem(generate_key()))
    migrate.upgrade(ws.engine)  # before the URL is kept: an unusable one is never saved
    if db_url:
        # 0600 from the start: the URL may carry a password (prefer CLEARANCE_DB_URL for that)
        config = json.dumps({"db_url": db_url}, indent=2) + "\n"
        write_private(ws.home / "config.json", config.encode())
    return ws
