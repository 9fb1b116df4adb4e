"""The idempotency-key store in memory, on SQLite and PostgreSQL: claims are leases, a use
case's work commits with its response or not at all, and of two calls with one key only one
commits."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from clearance.adapters.store.access import LEASE
from clearance.errors import InputError
from clearance.workspace import Workspace

pytestmark = pytest.mark.backends("memory", "sqlite", "postgresql")  # one contract for all
PRINT = "f" * 64


def _adds(ws: Workspace, name: str) -> Callable[[], tuple[int, str]]:
    """A call whose work is visible: it adds user ``name`` (a use case with its audit event)."""

    def call() -> tuple[int, str]:
        ws.registry.add_user(name, ["ml_engineer"], actor="operator", operator=True)
        return 201, json.dumps({"added": name})

    return call


def _users(ws: Workspace) -> set[str]:
    with ws.store.reading() as tx:
        return {u.name for u in tx.list_users()}


def test_a_claim_holds_its_key_for_its_lease_then_lapses(workspace: Workspace) -> None:
    keys, t0 = workspace.idempotency, workspace.clock.now()
    assert keys.claim("alice", "k", PRINT, t0) is None
    held = keys.claim("alice", "k", PRINT, t0 + LEASE - dt.timedelta(seconds=1))
    assert held is not None and held.status is None and held.claimed_at == t0
    assert keys.claim("bob", "k", PRINT, t0) is None  # keys are per user
    # a different request under a held key is not a takeover, even after the lease
    other = keys.claim("alice", "k", "0" * 64, t0 + 2 * LEASE)
    assert other is not None and other.fingerprint == PRINT
    assert keys.claim("alice", "k", PRINT, t0 + LEASE) is None  # lapsed: taken over
    again = keys.claim("alice", "k", PRINT, t0 + LEASE)
    assert again is not None and again.claimed_at == t0 + LEASE  # the new lease


def test_work_commits_with_its_response_and_a_late_first_call_cannot_commit_too(
    workspace: Workspace,
) -> None:
    keys, t0 = workspace.idempotency, workspace.clock.now()
    assert keys.claim("alice", "k", PRINT, t0) is None
    # the first call's server stalls past its lease; a retry takes the key over and finishes
    assert keys.claim("alice", "k", PRINT, t0 + LEASE) is None
    stored, ours = keys.run("alice", "k", PRINT, t0 + LEASE, _adds(workspace, "second"))
    assert ours and stored.status == 201
    # then the first call finishes: its work is rolled back, it answers with the retry's
    stored, ours = keys.run("alice", "k", PRINT, t0, _adds(workspace, "first"))
    assert not ours and json.loads(stored.body or "") == {"added": "second"}
    assert "second" in _users(workspace) and "first" not in _users(workspace)
    replay = keys.claim("alice", "k", PRINT, t0 + 3 * LEASE)
    assert replay is not None and replay.status == 201  # a finished key never lapses
    assert workspace.auditing.verify().ok


def test_a_call_that_fails_commits_nothing_and_its_release_frees_the_key(
    workspace: Workspace,
) -> None:
    keys, t0 = workspace.idempotency, workspace.clock.now()
    assert keys.claim("alice", "k", PRINT, t0) is None

    def fails() -> tuple[int, str]:
        _adds(workspace, "half")()
        raise InputError("refused after writing")

    with pytest.raises(InputError):
        keys.run("alice", "k", PRINT, t0, fails)
    assert "half" not in _users(workspace)
    assert keys.release("alice", "k") is None
    assert keys.claim("alice", "k", PRINT, t0) is None  # free again, at once


def test_concurrent_first_claims_of_one_key_give_it_to_one(workspace: Workspace) -> None:
    keys, t0 = workspace.idempotency, workspace.clock.now()
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: keys.claim("alice", "race", PRINT, t0), range(8)))
    assert sum(r is None for r in results) == 1
    assert all(r is None or r.status is None for r in results)
