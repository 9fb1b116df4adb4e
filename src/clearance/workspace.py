"""The workspace: where a team's clearance state lives, and the wiring of the service to it.

A workspace is a folder holding ``.clearance/``: the SQLite database (unless
``CLEARANCE_DB_URL`` or ``config.json`` names a PostgreSQL one), the content-addressed blob
store and the Ed25519 key that signs audit checkpoints. Like git, commands find the nearest
``.clearance`` above the current folder; ``CLEARANCE_WORKSPACE`` points elsewhere.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from clearance.adapters.clock import SystemClock
from clearance.errors import InputError, StoreError

# Each property imports its own service and adapter: a command pays for the use cases it
# calls (a read loads neither the engine, the signing key's library nor the notifiers).
if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from sqlalchemy import Engine

    from clearance.adapters.blobs import FileBlobStore
    from clearance.adapters.evidence import BlobEvidenceSource
    from clearance.service.access import Tokens, Users
    from clearance.service.auditing import Auditing
    from clearance.service.delivery import Deliveries
    from clearance.service.governance import Governance
    from clearance.service.housekeeping import Housekeeping
    from clearance.service.ports import Clock, IdempotencyPort, Store
    from clearance.service.promotion import Promotions
    from clearance.service.registry import Registry
    from clearance.service.replay import Replays
    from clearance.service.rollouts import Rollouts
    from clearance.service.scheduler import Scheduler
    from clearance.service.views import Views
    from clearance.service.waivers import Waivers

HOME = ".clearance"
KEY_FILE = "keys/audit-ed25519.pem"


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
        from clearance.core.audit import load_private_key_pem

        path = self.home / KEY_FILE
        try:
            return load_private_key_pem(path.read_bytes())
        except FileNotFoundError:
            raise StoreError(f"the audit signing key {path} is missing") from None

    @property
    def registry(self) -> Registry:
        from clearance.service.registry import Registry

        return Registry(self.store, self.blobs, self.clock)

    @property
    def housekeeping(self) -> Housekeeping:
        from clearance.service.housekeeping import Housekeeping

        return Housekeeping(self.store, self.blobs, self.clock)

    @property
    def promotions(self) -> Promotions:
        from clearance.service.promotion import Promotions

        return Promotions(self.store, self.evidence, self.clock)

    @property
    def auditing(self) -> Auditing:
        from clearance.service.auditing import Auditing

        return Auditing(self.store, self.clock, lambda: self.key, self.blobs)

    @property
    def replays(self) -> Replays:
        from clearance.service.replay import Replays

        return Replays(self.store, self.evidence)

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

        return Governance(self.store, self.evidence, self.clock)

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

        return SqlIdempotency(self.engine)

    @property
    def notifications_file(self) -> Path:
        return self.home / "notifications.yaml"

    @property
    def scheduler(self) -> Scheduler:
        from clearance.service.scheduler import Scheduler

        return Scheduler(self.store, self.governance, self.deliveries)

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
