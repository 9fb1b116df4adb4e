"""Invariant 2 under real contention: separate OS processes race for production.

Each process is the real ``clearance`` console script. Whatever the interleaving, exactly
one version ends in production, every loser ends deprecated or fails with a one-line
message (never a traceback), the audit chain verifies, and the chain's stage-change events
tell exactly the story of the final state (invariant 1).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from clearance.adapters.store.sql import FAULT_ENV
from clearance.core.audit import AuditEvent
from race_policies import replayed_stages

from .conftest import (
    APPROVERS,
    GATED,
    MODEL,
    OTHERS,
    REQUESTER,
    RaceSetup,
    assert_clean,
    build,
    wait_all,
)

RACERS = 6
HOLD = {FAULT_ENV: "0.2"}  # each writer holds the lock a little: the others must queue


def _events(setup: RaceSetup, model: str) -> list[AuditEvent]:
    return setup.ws.views.history(model)


def _verify(setup: RaceSetup) -> None:
    result = setup.run("audit", "verify", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["ok"] is True


@pytest.mark.slow  # > 15 s: every process pays ~1.5 s of imports, on 2 cores
def test_concurrent_promotions_leave_one_production_version(tmp_path: Path, any_db: str) -> None:
    setup = build(tmp_path, any_db, versions=RACERS)
    before = setup.snapshot()["events"]
    procs = [
        setup.popen(
            "promote", MODEL, v, "--to", "production", "--as", OTHERS[i], "--json", extra_env=HOLD
        )
        for i, v in enumerate(setup.versions)
    ]
    results = wait_all(procs)
    assert_clean(results)

    stages = setup.stages()
    assert list(stages.values()).count("production") == 1, stages
    assert set(stages.values()) <= {"production", "deprecated", "staging"}, stages
    winners = {v for v, (code, _, _) in zip(setup.versions, results, strict=True) if code == 0}
    # a process that exited 0 executed its promotion; one that failed changed nothing
    for v, (code, stdout, stderr) in zip(setup.versions, results, strict=True):
        if code == 0:
            assert json.loads(stdout)["executed"] is True, stdout
            assert stages[v] in ("production", "deprecated")
        else:
            assert stages[v] == "staging", (v, code, stderr)
    assert winners, "at least the first promotion must succeed"
    [current] = [v for v, s in stages.items() if s == "production"]
    assert current in winners

    # the chain verifies, and its events tell exactly the final state
    _verify(setup)
    events = _events(setup, MODEL)
    assert replayed_stages(events) == stages
    changes = Counter(
        (e.payload["from"], e.payload["to"]) for e in events if e.action == "version.stage_changed"
    )
    assert changes[("staging", "production")] == len(winners)
    assert changes[("production", "deprecated")] == len(winners) - 1
    assert changes[("draft", "staging")] == RACERS
    assert setup.snapshot()["events"] > before

    # each executed request has exactly one allowing decision
    with setup.ws.store.reading() as tx:
        executed = [
            r for r in tx.list_requests(statuses=["executed"]) if r.to_stage == "production"
        ]
        assert len(executed) == len(winners)
        for r in executed:
            assert [d.outcome for d in tx.decisions_for(r.id)] == ["allow"]
        with_slot = [
            v for v in tx.list_versions(executed[0].model_id) if v.production_slot is not None
        ]
        assert [v.version for v in with_slot] == [current]


@pytest.mark.slow  # > 15 s: every process pays ~1.5 s of imports, on 2 cores
def test_concurrent_approvals_execute_a_request_once(tmp_path: Path, any_db: str) -> None:
    setup = build(tmp_path, any_db, versions=1, model=GATED)
    opened = setup.ws.promotions.promote(GATED, "1", "production", actor=REQUESTER)
    assert not opened.executed and opened.request.status == "pending"
    request = str(opened.request.id)
    signers = [*APPROVERS, "bob"]  # two model owners, one risk officer; bob races himself
    procs = [
        setup.popen("approve", request, "--as", who, "--json", extra_env=HOLD) for who in signers
    ]
    results = wait_all(procs)
    assert_clean(results)

    assert setup.stages(GATED) == {"1": "production"}
    with setup.ws.store.reading() as tx:
        req = tx.get_request(int(request))
        assert req is not None and req.status == "executed"
        outcomes = [d.outcome for d in tx.decisions_for(req.id)]
        approvals = tx.approvals_for(req.id)
    assert outcomes.count("allow") == 1, outcomes
    assert outcomes[-1] == "allow"
    # nobody's approval counted twice, and none was recorded after the execution
    pairs = [(a.approver, a.verdict) for a in approvals]
    assert len(pairs) == len(set(pairs)), pairs
    assert len(approvals) == len(outcomes) - 1  # one decision at opening, one per approval
    executed_by = [
        json.loads(out)["request"]["status"] for code, out, _ in results if code == 0 and out
    ]
    assert executed_by.count("executed") == 1, executed_by
    for code, stdout, stderr in results:
        if code != 0:
            assert "error:" in stderr, (code, stdout, stderr)

    _verify(setup)
    events = _events(setup, GATED)
    to_production = [
        e for e in events if e.action == "version.stage_changed" and e.payload["to"] == "production"
    ]
    assert len(to_production) == 1
    assert replayed_stages(events) == {"1": "production"}
