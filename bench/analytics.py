"""Issue 14.5: governance analytics over N stored decisions, against the target of 100,000
in under 1 s.

    .venv/bin/python bench/analytics.py              # 100,000 decisions
    .venv/bin/python bench/analytics.py --n 20000    # a smaller store

The workspace (SQLite, a temporary folder) holds a 6-gate policy, 500 models and N versions,
each with one promotion request (staging -> production) and its decision, stored as
``promote`` stores one: a ``Decision`` serialised in full (gate results with observed value,
threshold, margin, near-miss flag, message, remediation, evidence digests), ~4 KB each.
Decisions are built from the core's result types with varied values (not evaluated by the
engine: the analytics read what is stored, whatever made it). The audit trail holds what
those moves write (a registration, a request, a decision and, when allowed, a stage change
per version), so the read of stage changes skips the other events as it would in a real trail.

``AnalyticsService.analytics`` (behind ``GET /v1/analytics`` and ``clearance analytics``) is
timed three ways: cold (the first call in a process reads every decision), warm (a later
call reads only what was added since), and warm after 1,000 new decisions.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, insert, select

from clearance.adapters.clock import FixedClock
from clearance.adapters.store.database import make_engine
from clearance.adapters.store.schema import (
    AuditEventRow,
    DecisionRow,
    ModelRow,
    PolicyRow,
    RequestRow,
    VersionRow,
)
from clearance.adapters.store.sql import SqlStore
from clearance.core import subjects
from clearance.core.analytics import gate_facts
from clearance.core.hashing import canonical_json
from clearance.service.analytics import AnalyticsService
from clearance.workspace import init_workspace

sys.path.insert(0, str(Path(__file__).parent))
from _bulk import insert_models  # bench/ is on sys.path when a bench runs

T0 = dt.datetime(2026, 1, 5, 9, tzinfo=dt.UTC)
MODELS = 500
CHUNK = 5000
GATES = ["auc_floor", "ks_floor", "latency_p95", "parity", "calibration", "psi_drift"]


def policy_doc() -> dict[str, Any]:
    gates = [
        {"id": g, "type": "metric_threshold", "metric": g, "min": 0.5, "severity": "block"}
        for g in GATES
    ]
    return {
        "apiVersion": "clearance/v1",
        "kind": "Policy",
        "metadata": {"name": "bench", "version": "1.0.0", "owner": "risk@example.com"},
        "workflow": {
            "stages": ["draft", "staging", "production", "deprecated", "archived"],
            "transitions": [
                {"from": "draft", "to": "staging"},
                {"from": "staging", "to": "production", "gates": GATES},
            ],
        },
        "gates": gates,
    }


def gate_result(rng: random.Random, gate: str) -> dict[str, Any]:
    observed = round(rng.uniform(0.44, 0.95), 4)
    margin = round(observed - 0.5, 4)
    status = "pass" if margin >= 0 else "fail"
    return {
        "gate_id": gate,
        "type": "metric_threshold",
        "severity": "block",
        "status": status,
        "observed": observed,
        "threshold": 0.5,
        "operator": ">=",
        "margin": margin,
        "near_miss": 0 <= margin < 0.02,
        "message": f"{gate} {observed} >= 0.5 (margin {margin:+.4f})",
        "remediation": "retrain on the refreshed data, or justify a waiver signed by risk",
        "details": {"metric": gate},
        "evidence": {"metrics": f"{rng.getrandbits(256):064x}"},
        "waiver": None,
        "waived_status": None,
        "owner": "ml-lead@example.com",
        "rationale": "a model below the floor is not better than the rules it replaces",
        "controls": ["SR-11-7"],
    }


def decision(rng: random.Random, model: str, version: str) -> dict[str, Any]:
    gates = [gate_result(rng, g) for g in GATES]
    outcome = "deny" if any(g["status"] == "fail" for g in gates) else "allow"
    digest = f"{rng.getrandbits(256):064x}"
    return {
        "decision_id": digest,
        "outcome": outcome,
        "policy": "bench",
        "policy_version": "1.0.0",
        "policy_hash": "a" * 64,
        "model": model,
        "version": version,
        "from_stage": "staging",
        "to_stage": "production",
        "change_type": "standard",
        "gates": gates,
        "approvals": {"roles": [], "rejected_by": [], "ignored": []},
        "inputs": {"evidence": {"metrics": gates[0]["evidence"]["metrics"]}},
        "summary": f"{outcome}: {sum(g['status'] == 'fail' for g in gates)} gate(s) failed",
    }


class Seq:
    """Audit seqs after the workspace's own events (the bench reads no hashes)."""

    def __init__(self) -> None:
        self.n = 0

    def event(self, at: dt.datetime, action: str, subject: str, model: str, payload: Any) -> Any:
        self.n += 1
        return {
            "seq": self.n,
            "time": at.isoformat(),
            "actor": "bench",
            "action": action,
            "subject": subject,
            "model": model,
            "payload": canonical_json(payload),
            "prev_hash": f"{self.n - 1:064x}",
            "hash": f"{self.n:064x}",
        }


def load(ws: Any, n: int) -> None:
    rng, seq = random.Random(14), Seq()
    with ws.engine.begin() as conn:
        policy_id = conn.execute(select(PolicyRow.id)).scalar_one()
        ids = insert_models(conn, MODELS, T0)
        seq.n = conn.execute(select(func.max(AuditEventRow.seq))).scalar_one()
    for first in range(0, n, CHUNK):
        _chunk(ws, rng, seq, ids, policy_id, range(first, min(n, first + CHUNK)))


def _chunk(ws: Any, rng: random.Random, seq: Seq, ids: Any, policy_id: int, span: range) -> None:
    made = []
    for i in span:
        model, version = f"model-{i % MODELS:03d}", f"1.{i // MODELS}.0"
        at = T0 + dt.timedelta(minutes=2 * i)
        made.append((model, version, at, decision(rng, model, version)))
    with ws.engine.begin() as conn:
        vids = conn.execute(
            insert(VersionRow).returning(VersionRow.id, sort_by_parameter_order=True),
            [
                {
                    "model_id": ids[m], "version": v, "stage": "staging", "production_slot": None,
                    "record": "{}", "registered_by": "eng", "created_at": at,
                    "stage_changed_at": at,
                }
                for m, v, at, _ in made
            ],
        ).scalars().all()  # fmt: skip
        rids = conn.execute(
            insert(RequestRow).returning(RequestRow.id, sort_by_parameter_order=True),
            [
                {
                    "model_id": ids[m], "version_id": vid, "policy_id": policy_id,
                    "from_stage": "staging", "to_stage": "production",
                    "change_type": "standard", "requester": "eng", "reason": "bench",
                    "ticket": "", "created_at": at, "updated_at": at,
                    "status": "executed" if d["outcome"] == "allow" else "blocked",
                }
                for (m, _, at, d), vid in zip(made, vids, strict=True)
            ],
        ).scalars().all()  # fmt: skip
        conn.execute(
            insert(DecisionRow),
            [
                {
                    "request_id": rid, "policy_id": policy_id, "digest": d["decision_id"],
                    "outcome": d["outcome"], "inputs": "{}", "result": canonical_json(d),
                    "gate_facts": canonical_json(gate_facts(d)),  # as the store writes it
                    "created_at": at + dt.timedelta(seconds=30),
                }
                for (_, _, at, d), rid in zip(made, rids, strict=True)
            ],
        )  # fmt: skip
        conn.execute(insert(AuditEventRow), list(_events(seq, made, rids)))


def _events(seq: Seq, made: list[Any], rids: list[int]) -> Iterator[dict[str, Any]]:
    for (model, version, at, d), rid in zip(made, rids, strict=True):
        subject = subjects.version(model, version)
        yield seq.event(
            at, "version.registered", subject, model, {"stage": "draft", "x": "y" * 900}
        )
        yield seq.event(at, "request.opened", subjects.request(rid), model, {"to": "production"})
        gates = {g["gate_id"]: g["status"] for g in d["gates"]}
        later = at + dt.timedelta(seconds=30)
        yield seq.event(later, "decision.recorded", subjects.decision(rid), model, {"gates": gates})
        if d["outcome"] == "allow":
            move = {"from": "staging", "to": "production", "request": rid}
            yield seq.event(later, "version.stage_changed", subject, model, move)


def timed(service: AnalyticsService, **kw: Any) -> tuple[float, float, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = service.analytics(**kw)
    return time.perf_counter() - wall, time.process_time() - cpu, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        clock = FixedClock(T0)
        ws = init_workspace(Path(folder) / "ws", clock=clock)
        ws.registry.add_user("root", ["admin"], actor="operator", operator=True)
        text = yaml.safe_dump(policy_doc(), sort_keys=False)
        ws.registry.apply_documents([("bench.yaml", text)], actor="root")
        started = time.perf_counter()
        load(ws, args.n)
        print(f"loaded {args.n:,} decisions in {time.perf_counter() - started:.1f} s")
        clock.advance(minutes=2 * args.n + 60)
        span = {"since": T0, "until": clock.now(), "bucket": "week"}
        cold_side_by_side(ws, clock, span)
        service = AnalyticsService(ws.store, clock)
        wall, cpu, out = timed(service, **span)
        print(f"cold (first call: reads every decision): {wall:.3f} s wall, {cpu:.3f} s CPU")
        runs = sorted(timed(service, **span)[:2] for _ in range(5))
        wall, cpu = runs[2]
        print(
            f"warm (nothing new), median of 5: {wall:.3f} s wall, {cpu:.3f} s CPU "
            f"(fastest {runs[0][0]:.3f} s); {out.decisions:,} decisions"
        )
        top = out.gates[0]
        print(
            f"  most blocking gate: {top.gate_id} ({top.failed:,} failures, "
            f"{top.near_misses:,} near misses, closest {top.smallest_margin})"
        )
        load_more(ws, args.n)
        wall, cpu, out = timed(service, **span)
        print(f"warm after 1,000 new decisions: {wall:.3f} s wall, {cpu:.3f} s CPU")
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS {rss:.0f} MB; python {sys.version.split()[0]}")


def cold_side_by_side(ws: Any, clock: FixedClock, span: dict[str, Any], rounds: int = 3) -> None:
    """First calls, alternating: decisions with their ``gate_facts`` column (what the store
    writes) and the same decisions without it (rows made before migration 0010: every whole
    result is parsed), each on a store nothing has been read of."""
    copy = Path(ws.home) / "without-facts.db"
    with sqlite3.connect(ws.home / "clearance.db") as source, sqlite3.connect(copy) as target:
        source.backup(target)
        target.execute("UPDATE decisions SET gate_facts = NULL")
    bare = SqlStore(make_engine(f"sqlite:///{copy}"))
    times: dict[str, list[float]] = {"with gate_facts": [], "from whole results": []}
    for _ in range(rounds):
        for label, store in (("with gate_facts", ws.store), ("from whole results", bare)):
            fresh = AnalyticsService(_Fresh(store), clock)  # a new memo each call
            times[label].append(timed(fresh, **span)[1])
    a, b = (statistics.median(v) for v in times.values())
    print(
        f"cold, median CPU of {rounds} alternating: with gate_facts {a:.3f} s, "
        f"from whole results {b:.3f} s ({b / a:.1f}x)"
    )


class _Fresh:
    """A store seen as new by the analytics memo (which is kept per store object)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def reading(self) -> Any:
        return self.inner.reading()

    def transaction(self) -> Any:
        return self.inner.transaction()


def load_more(ws: Any, n: int) -> None:
    """1,000 decisions after the first N (as a server keeps deciding between two reads)."""
    rng, seq = random.Random(15), Seq()
    with ws.engine.begin() as conn:
        policy_id = conn.execute(select(PolicyRow.id)).scalar_one()
        ids = dict(conn.execute(select(ModelRow.name, ModelRow.id)).all())
        seq.n = conn.execute(select(func.max(AuditEventRow.seq))).scalar_one()
    # new versions of the same models: numbers above those ``load`` gave
    _chunk(ws, rng, seq, ids, policy_id, range(n + MODELS * 1000, n + MODELS * 1000 + 1000))


if __name__ == "__main__":
    main()
