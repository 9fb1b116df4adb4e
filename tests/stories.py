"""The steps every store-backed story takes, written once for the service and governance tests.

A story is a workspace (on the test's store: memory, SQLite or PostgreSQL), a fixed clock and a
scratch folder. Each test folder's ``Env`` says which manifest and policy it writes and adds its
own steps (canaries, emergencies); reading the store and the audit trail is the same for all.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clearance.adapters.clock import FixedClock
from clearance.core.audit import AuditEvent
from clearance.service.records import RequestRecord, VersionRecord
from clearance.workspace import Workspace


@dataclass
class Story(abc.ABC):
    ws: Workspace
    clock: FixedClock
    tmp: Path

    model: str = ""  # the model the story is about (set by each Env)

    @abc.abstractmethod
    def manifest(self, version: str, **kw: Any) -> Path:
        """A manifest for ``version`` of the story's model, written under ``tmp``."""

    # steps --------------------------------------------------------------------------------
    def register(self, version: str, **kw: Any) -> VersionRecord:
        return self.ws.registry.register(self.manifest(version, **kw), actor="alice")

    def to_staging(self, version: str, **kw: Any) -> None:
        """Register ``version`` (of ``model=`` when given) and promote it to staging."""
        self.register(version, **kw)
        model = kw.get("model", self.model)
        result = self.ws.promotions.promote(model, version, "staging", actor="alice")
        assert result.executed, result.decision.summary

    def tick(self, times: int = 1) -> list[str]:
        actions: list[str] = []
        for _ in range(times):
            actions += self.ws.governance.tick().actions
        return actions

    # readers ------------------------------------------------------------------------------
    def stage_of(self, version: str, model: str | None = None) -> str:
        with self.ws.store.reading() as tx:
            m = tx.get_model(model or self.model)
            assert m is not None
            row = tx.get_version(m.id, version)
            assert row is not None
            return row.stage

    def request(self, rid: int) -> RequestRecord:
        with self.ws.store.reading() as tx:
            r = tx.get_request(rid)
            assert r is not None
            return r

    def events(self, after: int = 0) -> list[AuditEvent]:
        with self.ws.store.reading() as tx:
            return [e for e in tx.events() if e.seq > after]

    def actions(self, after: int = 0) -> list[str]:
        return [e.action for e in self.events(after)]

    def event_count(self) -> int:
        with self.ws.store.reading() as tx:
            return tx.event_count()

    def alerts(self, event: str | None = None) -> list[dict[str, Any]]:
        with self.ws.store.reading() as tx:
            found = tx.notifications()
        return [a for a in found if event is None or a["event"] == event]


REVIEWERS = ("pol1", "pol2")  # approve policy changes in the stories (never their author)


def apply_reviewed(ws: Workspace, path: Path, actor: str) -> Any:
    """Apply a policy file as a person would: its first version directly, a later one as a
    change request the ``REVIEWERS`` (policy admins the fixture adds) approve; a file that is
    no successor goes to ``apply_policy`` for its error."""
    from clearance.core.loading import parse_policy, read_policy_files
    from clearance.service.context import semver_key
    from clearance.service.registry import current_policy

    loaded = parse_policy(read_policy_files(path))
    with ws.store.reading() as tx:
        current = current_policy(tx, loaded.name)
        same = tx.get_policy(loaded.name, loaded.version)
    if (
        current is None
        or same is not None
        or semver_key(loaded.version) < semver_key(current.version)
    ):
        return ws.registry.apply_policy(path, actor=actor)
    changes = ws.policy_changes
    change = changes.propose_path(path, actor=actor, rationale="test", ticket="T-1").change
    for reviewer in REVIEWERS:
        if changes.approve(change.id, actor=reviewer).change.status == "applied":
            break
    with ws.store.reading() as tx:
        return tx.get_policy(loaded.name, loaded.version), True
