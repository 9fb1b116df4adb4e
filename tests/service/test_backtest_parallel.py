"""A backtest in worker processes answers exactly as one in a single process."""

from __future__ import annotations

import copy
import datetime as dt
import os
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from clearance.adapters.store.opener import SqlStoreOpener
from clearance.errors import StoreError
from clearance.service import backtest as backtest_module
from clearance.service.backtest import (
    BacktestOut,
    Backtests,
    BacktestWorkerFailed,
    PolicyDocument,
)
from clearance.service.ports import Store

if TYPE_CHECKING:
    from conftest import Env

COPIES = 450  # of the 7 decisions of ``decided``: 3,157 decisions


@pytest.fixture
def many(env: Env) -> Env:
    """The decisions of version 1 (production), 2 (staging) and 3 and 4 (refused), stored
    again and again, each copy at its own clock (so no two share recorded inputs)."""
    env.to_production("1", auc=0.80)
    env.to_staging("2", auc=0.72)
    env.register("3", auc=0.60)
    env.ws.promotions.promote(env.model, "3", "staging", actor="alice")
    env.register("4", auc=0.65)
    env.ws.promotions.promote(env.model, "4", "staging", actor="alice")
    with env.ws.store.transaction() as tx:
        made = [d for r in tx.list_requests() for d in tx.decisions_for(r.id)]
        for i in range(1, COPIES):
            for d in made:
                now = dt.datetime.fromisoformat(d.inputs["now"]) + dt.timedelta(seconds=i)
                inputs, result = copy.deepcopy(d.inputs), copy.deepcopy(d.result)
                inputs["now"] = result["inputs"]["now"] = now.isoformat()
                tx.add_decision(
                    request_id=d.request_id,
                    policy_id=d.policy_id,
                    digest=f"{i:08x}" + d.digest[8:],
                    outcome=d.outcome,
                    inputs=inputs,
                    result=result,
                    at=d.created_at + dt.timedelta(seconds=i),
                )
    return env


def run(env: Env, doc: dict[str, Any], workers: int, **kw: Any) -> BacktestOut:
    files = [PolicyDocument(name="credit.yaml", text=yaml.safe_dump(doc, sort_keys=False))]
    opener = SqlStoreOpener(env.ws.db_url)
    return Backtests(env.ws.store, env.ws.evidence, open_store=opener, workers=workers).run(
        files, **kw
    )


@pytest.fixture
def small_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers for a few thousand decisions, read 500 at a time here."""
    monkeypatch.setattr(backtest_module, "PARALLEL_FROM", 1_000)
    monkeypatch.setattr(backtest_module, "PAGE", 500)


@pytest.mark.backends("sqlite", "postgresql")
def test_parallel_and_serial_reports_are_equal(many: Env, small_threshold: None) -> None:
    doc = many.policy(version="1.1.0", auc_min=0.85)  # versions 1 and 2 now fail
    serial = run(many, doc, 1)
    parallel = run(many, doc, 3)
    assert serial.examined == 7 * COPIES and not serial.more
    assert serial.newly_blocked == 5 * COPIES and len(serial.production_at_risk) == 1
    assert len(serial.changed) == backtest_module.MAX_LISTED  # the cap, in both
    assert parallel == serial


@pytest.mark.backends("sqlite")
def test_a_limit_inside_a_range_keeps_the_newest_exactly(many: Env, small_threshold: None) -> None:
    doc = many.policy(version="1.1.0", auc_min=0.85)  # version 1 (production) fails too
    for limit in (1_501, 2_222, 7 * COPIES - 1, 7 * COPIES):
        serial = run(many, doc, 1, limit=limit)
        parallel = run(many, doc, 2, limit=limit)
        assert serial.examined == limit
        assert serial.more is (limit < 7 * COPIES)
        assert len(serial.production_at_risk) == 1
        assert parallel == serial, limit


@pytest.mark.backends("sqlite")
def test_since_and_few_decisions_stay_in_this_process(many: Env, small_threshold: None) -> None:
    doc = many.policy(version="1.1.0", auc_min=0.55)
    since = many.clock.now().date()
    assert run(many, doc, 2, since=since) == run(many, doc, 1, since=since)
    # up to the threshold the workers are never started (this factory would end them)
    files = [PolicyDocument(name="p.yaml", text=yaml.safe_dump(doc, sort_keys=False))]
    report = Backtests(many.ws.store, many.ws.evidence, open_store=_Dies(), workers=2).run(
        files, limit=backtest_module.PARALLEL_FROM
    )
    assert report.examined == backtest_module.PARALLEL_FROM


class _Refuses:
    """A store factory that fails in the worker as an unreachable database would."""

    def __call__(self) -> Store:
        raise StoreError("the database at db.example is unreachable")


@pytest.mark.backends("sqlite")
def test_a_worker_error_reaches_the_caller_as_it_is(many: Env, small_threshold: None) -> None:
    doc = many.policy(version="1.1.0", auc_min=0.75)
    files = [PolicyDocument(name="p.yaml", text=yaml.safe_dump(doc, sort_keys=False))]
    backtests = Backtests(many.ws.store, many.ws.evidence, open_store=_Refuses(), workers=2)
    with pytest.raises(StoreError, match="unreachable"):
        backtests.run(files)


class _Dies:
    """A store factory whose worker process ends at once, as a killed one would."""

    def __call__(self) -> Store:
        os._exit(3)


@pytest.mark.backends("sqlite")
def test_a_worker_that_dies_is_an_error_not_a_hang(many: Env, small_threshold: None) -> None:
    doc = many.policy(version="1.1.0", auc_min=0.75)
    files = [PolicyDocument(name="p.yaml", text=yaml.safe_dump(doc, sort_keys=False))]
    backtests = Backtests(many.ws.store, many.ws.evidence, open_store=_Dies(), workers=2)
    with pytest.raises(BacktestWorkerFailed, match="--workers 1"):
        backtests.run(files)
