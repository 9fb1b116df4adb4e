"""Issue 16.3: backtest a policy change over N stored decisions, against the target of
100,000 in under 10 s.

    .venv/bin/python bench/backtest.py --n 20000          # a smaller store
    .venv/bin/python bench/backtest.py                    # 100,000 decisions
    .venv/bin/python bench/backtest.py --sample 50        # fewer `clearance check` runs

The workspace (SQLite, a temporary folder) holds the 20-gate policy of ``bench/engine.py``
(14 metric thresholds, 3 champion comparisons, 2 documentation gates on documents stored as
blobs, the PII expression), 200 models and N versions, one promotion request per version
(staging -> production) and its decision. Every decision is real: evaluated by the engine
from its own inputs (metrics, features, approvals and clock differ from one to the next, so
no two share recorded inputs) and stored with those inputs, as ``promote`` stores them; the
rows go in through the store's schema in batches (no audit events: the backtest reads none).
The latest allowed version of each model is in production.

Then ``Replays.backtest`` (the use case behind ``clearance policy backtest``) is timed, wall
and CPU, for two changes:

* ``tighten m0``: one threshold raised (the common change): only ``m0`` is measured again,
  every other gate's recorded result is provably what it would be;
* ``near_miss``: ``settings.near_miss`` changed, which touches every gate: every decision is
  evaluated in full (the worst case).

"What a user would do instead" is to run ``clearance check`` once per stored decision with
its manifest: ``--sample`` of them are run (one process each, as a script would) and the
time is extrapolated to N; the report says so.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import insert, select

from clearance.adapters.clock import FixedClock
from clearance.adapters.store.schema import (
    DecisionRow,
    PolicyRow,
    RequestRow,
    VersionRow,
)
from clearance.core.approvals import Approval
from clearance.core.engine import Evaluation, evaluate, resolve_transition
from clearance.core.hashing import canonical_json
from clearance.core.loading import parse_policy
from clearance.core.version import EvidenceItem, ModelVersion
from clearance.service.backtest import MAX_DECISIONS, PolicyDocument
from clearance.workspace import Workspace, init_workspace

sys.path.insert(0, str(Path(__file__).parent))
from _bulk import insert_models
from engine import DOCS, N_THRESHOLDS, POOL, gates  # bench/engine.py's policy and documents

T0 = dt.datetime(2026, 1, 5, 9, tzinfo=dt.UTC)
MODELS = 200
CHUNK = 2000  # rows per INSERT batch
EXE = str(Path(sys.executable).parent / "clearance")
TEAM = {"root": ["admin"], "owner": ["model_owner"], "eng": ["ml_engineer"]}


def policy_doc(version: str, *, m0_max: float = 0.9, near_miss: float = 0.05) -> dict[str, Any]:
    specs = gates()
    for g in specs:
        if g["id"] == "m0":
            g["max"] = m0_max
    return {
        "apiVersion": "clearance/v1",
        "kind": "Policy",
        "metadata": {"name": "bench", "version": version, "owner": "risk@example.com"},
        "workflow": {
            "stages": ["staging", "production", "archived"],
            "transitions": [
                {
                    "from": "staging",
                    "to": "production",
                    "gates": [g["id"] for g in specs],
                    "approvals": [{"role": "model_owner"}],
                },
                {"from": "production", "to": "archived"},
            ],
        },
        "gates": specs,
        "settings": {"near_miss": near_miss},
    }


def documents(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return [(f"bench-{doc['metadata']['version']}.yaml", yaml.safe_dump(doc, sort_keys=False))]


class Blobs:
    """The evidence reader of the stored documents, for evaluating while generating."""

    def read_bytes(self, name: str) -> bytes:
        return DOCS[name]

    def artifact_sha256(self) -> str | None:
        return None

    def read_artifact(self, max_bytes: int) -> bytes:
        raise KeyError("artifact")

    def read_columns(self, name: str, columns: Any) -> Any:
        raise KeyError(name)


def prepare(folder: Path) -> tuple[Workspace, dict[str, EvidenceItem]]:
    """A workspace with the team, policy 1.0.0 and the documents stored as blobs."""
    ws = init_workspace(folder / "ws", clock=FixedClock(T0))
    for user, roles in TEAM.items():
        ws.registry.add_user(user, roles, actor="operator", operator=True)
    ws.registry.apply_documents(documents(policy_doc("1.0.0")), actor="root")
    evidence = {}
    for name, content in DOCS.items():
        path = folder / f"{name}.md"
        path.write_bytes(content)
        sha, size = ws.blobs.put_file(path)
        evidence[name] = EvidenceItem(
            name=name, kind="document", uri=f"{name}.md", sha256=sha, size=size
        )
    return ws, evidence


def candidates(n: int, evidence: dict[str, EvidenceItem]) -> Iterator[ModelVersion]:
    rng = random.Random(16)
    words = ["income", "age_band", "utilization", "tenure", "balance", "region", "email_domain"]
    pool = [[f"{rng.choice(words)}_{j}" for j in range(rng.randint(5, 15))] for _ in range(POOL)]
    for i in range(n):
        metrics = {f"m{j}": round(rng.uniform(0.45, 0.95), 4) for j in range(N_THRESHOLDS)}
        metrics.update(auc=round(rng.uniform(0.79, 0.85), 4), latency=rng.uniform(50, 65))
        yield ModelVersion.model_validate(
            {
                "model": {"name": f"model-{i % MODELS:03d}", "risk_tier": "high"},
                "version": f"1.{i // MODELS}.0",
                "stage": "staging",
                "metrics": metrics,
                "features": rng.choice(pool),
                "champion": {"version": "0", "metrics": {"auc": 0.8, "m1": 0.7, "latency": 60}},
                "evidence": evidence,
            }
        )


def bulk_load(ws: Workspace, n: int, evidence: dict[str, EvidenceItem]) -> tuple[float, float]:
    """N versions, requests and decisions; (seconds evaluating, seconds inserting)."""
    loaded = parse_policy(documents(policy_doc("1.0.0")))
    transition = resolve_transition(loaded, "staging", "production")
    reader, rng = Blobs(), random.Random(3)
    with ws.engine.begin() as conn:
        policy_id = conn.execute(select(PolicyRow.id)).scalar_one()
        model_ids = insert_models(conn, MODELS, T0)
    evaluating = inserting = 0.0
    versions: list[dict[str, Any]] = []
    decisions: list[tuple[ModelVersion, str, dict[str, Any], dict[str, Any], dt.datetime]] = []
    for i, version in enumerate(candidates(n, evidence)):
        started = time.perf_counter()
        now = T0 + dt.timedelta(minutes=i)
        approvals = (
            [Approval(approver="owner", roles=["model_owner"], verdict="approve", at=now)]
            if rng.random() < 0.8
            else []
        )
        decision = evaluate(
            Evaluation(
                loaded, transition, version, reader, now, approvals=approvals, requester="eng"
            )
        )
        inputs = {
            "version": version.model_dump(mode="json"),
            "artifact_blob": None,
            "approvals": [a.model_dump(mode="json") for a in approvals],
            "waivers": [],
            "now": now.isoformat(),
            "change_type": "standard",
            "requester": "eng",
            "from": "staging",
            "to": "production",
        }
        result = decision.model_dump(mode="json")
        evaluating += time.perf_counter() - started
        decisions.append((version, decision.outcome.value, inputs, result, now))
        if len(decisions) == CHUNK or i == n - 1:
            started = time.perf_counter()
            _insert(ws, decisions, model_ids, policy_id, versions)
            decisions.clear()
            inserting += time.perf_counter() - started
    started = time.perf_counter()
    _production(ws, versions)
    return evaluating, inserting + time.perf_counter() - started


_STATUS = {"allow": "executed", "deny": "blocked", "needs_approval": "pending"}


def _insert(
    ws: Workspace,
    batch: list[tuple[ModelVersion, str, dict[str, Any], dict[str, Any], dt.datetime]],
    model_ids: dict[str, int],
    policy_id: int,
    versions: list[dict[str, Any]],
) -> None:
    with ws.engine.begin() as conn:
        rows = [
            {
                "model_id": model_ids[v.model.name],
                "version": v.version,
                "stage": "staging",
                "production_slot": None,
                "record": canonical_json({"metrics": v.metrics, "features": v.features}),
                "registered_by": "eng",
                "created_at": now,
                "stage_changed_at": now,
            }
            for v, _, _, _, now in batch
        ]
        first = conn.execute(
            insert(VersionRow).returning(VersionRow.id, sort_by_parameter_order=True), rows
        )
        version_ids = list(first.scalars())
        for row, vid, (_, outcome, *_rest) in zip(rows, version_ids, batch, strict=True):
            versions.append({"id": vid, "model_id": row["model_id"], "outcome": outcome})
        requests = conn.execute(
            insert(RequestRow).returning(RequestRow.id, sort_by_parameter_order=True),
            [
                {
                    "model_id": model_ids[v.model.name],
                    "version_id": vid,
                    "policy_id": policy_id,
                    "from_stage": "staging",
                    "to_stage": "production",
                    "change_type": "standard",
                    "requester": "eng",
                    "reason": "bench",
                    "ticket": "",
                    "status": _STATUS[outcome],
                    "created_at": now,
                    "updated_at": now,
                }
                for (v, outcome, _, _, now), vid in zip(batch, version_ids, strict=True)
            ],
        )
        conn.execute(
            insert(DecisionRow),
            [
                {
                    "request_id": rid,
                    "policy_id": policy_id,
                    "digest": result["decision_id"],
                    "outcome": outcome,
                    "inputs": canonical_json(inputs),
                    "result": canonical_json(result),
                    "created_at": now,
                }
                for (_, outcome, inputs, result, now), rid in zip(
                    batch, requests.scalars(), strict=True
                )
            ],
        )


def _production(ws: Workspace, versions: list[dict[str, Any]]) -> None:
    """Each model's latest allowed version is in production, earlier allowed ones archived."""
    latest: dict[int, int] = {}
    for v in versions:
        if v["outcome"] == "allow":
            latest[v["model_id"]] = v["id"]
    production = set(latest.values())
    archived = [v["id"] for v in versions if v["outcome"] == "allow" and v["id"] not in production]
    with ws.engine.begin() as conn:
        for ids, stage, slot in (
            (sorted(production), "production", 1),
            (archived, "archived", None),
        ):
            for i in range(0, len(ids), 500):
                conn.execute(
                    VersionRow.__table__.update()  # type: ignore[attr-defined]
                    .where(VersionRow.id.in_(ids[i : i + 500]))
                    .values(stage=stage, production_slot=slot)
                )
        conn.exec_driver_sql("ANALYZE")


# --- timing ---------------------------------------------------------------------------------


def cpu() -> float:
    """CPU-seconds of this process and all it started: the workers of a parallel backtest
    are children of the forkserver (a live child of this one), which reaps them, so its
    times and its reaped children's are read from /proc."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
    tick = os.sysconf("SC_CLK_TCK")
    for pid in _children(os.getpid()):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        total += sum(int(f) for f in fields[11:15]) / tick  # utime stime cutime cstime
    return total


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def backtest(ws: Workspace, doc: dict[str, Any], workers: int) -> tuple[Any, float, float]:
    from clearance.adapters.store.opener import SqlStoreOpener
    from clearance.service.backtest import Backtests

    files = [PolicyDocument(name=n, text=t) for n, t in documents(doc)]
    gc.collect()
    gc.freeze()  # as `clearance policy backtest` does before it starts
    c0, w0 = cpu(), time.perf_counter()
    run = Backtests(ws.store, ws.evidence, open_store=SqlStoreOpener(ws.db_url), workers=workers)
    report = run.run(files, limit=MAX_DECISIONS)
    return report, time.perf_counter() - w0, cpu() - c0


def check_sample(
    ws: Workspace, folder: Path, sample: int, evidence: dict[str, EvidenceItem]
) -> tuple[float, int]:
    """``clearance check`` once per decision for ``sample`` stored decisions, each with its
    manifest written out (what a script re-checking every decision would run); the seconds
    they took and how many agreed with the stored outcome's gates."""
    folder.mkdir()
    policy = folder / "proposed.yaml"
    policy.write_text(documents(policy_doc("1.1.0", m0_max=0.85))[0][1])
    for name, content in DOCS.items():
        (folder / f"{name}.md").write_bytes(content)
    with ws.engine.connect() as conn:
        rows = conn.execute(
            select(DecisionRow.inputs).order_by(DecisionRow.id.desc()).limit(sample)
        ).scalars()
        inputs = [json.loads(r) for r in rows]
    manifests = []
    for i, recorded in enumerate(inputs):
        v = recorded["version"]
        path = folder / f"manifest-{i}.yaml"
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "clearance/v1",
                    "kind": "ModelManifest",
                    "model": {"name": v["model"]["name"], "risk_tier": "high"},
                    "version": v["version"],
                    "metrics": v["metrics"],
                    "features": v["features"],
                    "champion": v["champion"],
                    "evidence": {n: {"path": f"{n}.md"} for n in evidence},
                }
            )
        )
        manifests.append((path, recorded["now"]))
    started = time.perf_counter()
    denied = 0
    for path, now in manifests:
        command = [EXE, "check", "-p", str(policy), "-m", str(path), "--to", "production"]
        done = subprocess.run(
            [*command, "--from", "staging", "--now", now, "--json"],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode not in (0, 1):
            raise RuntimeError(f"clearance check failed: {done.stderr}")
        denied += json.loads(done.stdout)["outcome"] == "deny"
    return time.perf_counter() - started, denied


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100_000, help="stored decisions")
    ap.add_argument("--sample", type=int, default=200, help="`clearance check` runs to time")
    ap.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1, min(os.cpu_count() or 1, 4)],
        help="worker processes of each run (1: one process); the reports must be equal",
    )
    args = ap.parse_args()
    print(f"bench/backtest.py --n {args.n}; load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="bench-backtest-") as tmp:
        folder = Path(tmp)
        ws, evidence = prepare(folder)
        evaluating, inserting = bulk_load(ws, args.n, evidence)
        print(
            f"workspace: {args.n:,} decisions evaluated in {evaluating:.1f} s, "
            f"stored in {inserting:.1f} s"
        )
        changes = {
            "tighten m0 (1 gate measured)": policy_doc("1.1.0", m0_max=0.85),
            "near_miss (every gate measured)": policy_doc("1.1.0", near_miss=0.1),
        }
        for (label, doc), workers in ((c, w) for c in changes.items() for w in args.workers):
            report, wall, spent = backtest(ws, doc, workers)
            assert report.examined == args.n, report.examined
            if workers == args.workers[0]:
                first = report
            assert report == first, f"{workers} workers: a report unlike {args.workers[0]}'s"
            print(
                f"backtest, {label}, {workers} worker{'s' * (workers > 1)}: "
                f"{wall:.2f} s wall, {spent:.2f} CPU-s, "
                f"{args.n / wall:,.0f} decisions/s; {report.newly_blocked:,} newly "
                f"blocked, {report.same:,} same, {report.unreplayable} unreplayable, "
                f"{len(report.production_at_risk)} production versions at risk; load "
                f"average {os.getloadavg()[0]:.2f}"
            )
        if args.sample:
            seconds, denied = check_sample(ws, folder / "check", args.sample, evidence)
            each = seconds / args.sample
            print(
                f"instead, `clearance check` per decision: {args.sample} runs took "
                f"{seconds:.1f} s ({each:.2f} s each, {denied} denied); extrapolated to "
                f"{args.n:,} decisions: {each * args.n / 3600:.1f} h (one process at a time; "
                "it re-checks gates only: approvals are not an input of `check`)"
            )
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
