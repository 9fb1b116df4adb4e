"""Issue 12.3: decisions per CPU-second of the engine, against floors, in one run.

    .venv/bin/python bench/engine.py                 # 2,000 candidates, 3 alternating rounds
    .venv/bin/python bench/engine.py -n 100000       # also re-evaluate 100k decisions once
    .venv/bin/python bench/engine.py --keep          # hold every decision in memory

A 20-gate policy (14 metric thresholds, 3 champion comparisons on recorded metrics, 2
documentation gates, the credit-risk example's PII regex expression) over candidates with
precomputed metrics. Candidates draw their feature lists from a pool of 50 (as versions of a
few models do); the ``distinct`` run gives each its own, which no per-input cache can help
with. Every run of every round (and the warm-up) evaluates candidates built afresh for it,
never an object seen before, so nothing remembered per object can carry over.

Timed side by side, alternating, in every round:

* ``evaluate``: the engine, all 20 gates, feature lists from the pool;
* ``evaluate, distinct features``: the same, every candidate with its own feature list;
* ``evaluate, no expression``: the same policy without its expression gate (19 gates);
* ``floor``: the bare loop of the 20 comparisons in plain Python (thresholds, champion
  deltas, a document present, the regex over the features with ``re``): what any engine
  must at least do.

Each decision is tallied by outcome and dropped, as a backtest that compares outcomes does;
``--keep`` holds them all in a list instead, which adds the garbage collector's passes over
the growing heap (with 100k decisions, most of the time).

CPU time is this process's (``time.process_time``) plus that of the expression gate's
worker processes (read from ``/proc`` while they live, ``RUSAGE_CHILDREN`` once reaped).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import re
import resource
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from clearance.core.engine import Evaluation, evaluate, resolve_transition
from clearance.core.hashing import sha256_bytes
from clearance.core.loading import LoadedPolicy, parse_policy
from clearance.core.version import EvidenceItem, ModelVersion

NOW = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
PII = "(?i)email|ssn|phone|name"
N_THRESHOLDS, POOL = 14, 50
CARD = b"# Card\n## Intended use\nx\n## Evaluation\nx\n## Limitations\nx\n"
PLAN = b"# Rollback\n## Trigger\nx\n## Steps\nx\n"
DOCS = {"model_card": CARD, "rollback_plan": PLAN}


def gates() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {"id": f"m{i}", "type": "metric_threshold", "metric": f"m{i}", "min": 0.5}
        if i % 2
        else {"id": f"m{i}", "type": "metric_threshold", "metric": f"m{i}", "max": 0.9}
        for i in range(N_THRESHOLDS)
    ]
    champion = {"type": "champion_comparison"}
    out += [
        {"id": "champ_auc", **champion, "metric": "auc", "max_degradation": 0.01},
        {"id": "champ_m1", **champion, "metric": "m1", "max_relative_degradation": 0.05},
        {"id": "champ_lat", **champion, "metric": "latency", "higher_is_better": False,
         "max_degradation": 10},
        {"id": "card", "type": "documentation",
         "documents": [{"name": "model_card", "sections": ["Intended use", "Limitations"]}]},
        {"id": "rollback", "type": "documentation", "documents": ["rollback_plan"]},
        {"id": "no_pii", "type": "expression",
         "expr": f'!version.features.exists(f, f.matches("{PII}"))'},
    ]  # fmt: skip
    return out


def policy(with_expression: bool = True) -> LoadedPolicy:
    specs = [g for g in gates() if with_expression or g["type"] != "expression"]
    doc = {
        "apiVersion": "clearance/v1",
        "kind": "Policy",
        "metadata": {"name": "bench", "version": "1.0.0", "owner": "risk@example.com"},
        "workflow": {
            "stages": ["staging", "production"],
            "transitions": [
                {
                    "from": "staging",
                    "to": "production",
                    "gates": [g["id"] for g in specs],
                    "approvals": [{"role": "model_owner"}],
                },
            ],
        },
        "gates": specs,
    }
    return parse_policy([("bench.yaml", yaml.safe_dump(doc, sort_keys=False))])


class Docs:
    """An in-memory evidence reader: the documents every candidate carries."""

    def read_bytes(self, name: str) -> bytes:
        return DOCS[name]

    def artifact_sha256(self) -> str | None:
        return None

    def read_artifact(self, max_bytes: int) -> bytes:
        raise KeyError("artifact")

    def read_columns(self, name: str, columns: Sequence[str]) -> Mapping[str, Any]:
        raise KeyError(name)


def candidates(n: int, *, distinct: bool, seed: int = 12) -> list[ModelVersion]:
    """``n`` candidates; each ``seed`` gives other metrics (and, ``distinct``, features)."""
    rng = random.Random(seed)
    words = ["income", "age_band", "utilization", "tenure", "balance", "region", "email_domain"]
    pool = [[f"{rng.choice(words)}_{j}" for j in range(rng.randint(5, 15))] for _ in range(POOL)]
    evidence = {
        k: EvidenceItem(name=k, kind="document", uri=f"mem://{k}", sha256=sha256_bytes(v))
        for k, v in DOCS.items()
    }
    out = []
    for i in range(n):
        metrics = {f"m{j}": round(rng.uniform(0.4, 1.0), 4) for j in range(N_THRESHOLDS)}
        metrics.update(auc=round(rng.uniform(0.75, 0.85), 4), latency=rng.uniform(50, 80))
        features = [f"{f}_{seed}_{i}" for f in rng.choice(pool)] if distinct else rng.choice(pool)
        out.append(
            ModelVersion.model_validate(
                {
                    "model": {"name": f"model-{i % 20}", "risk_tier": "high"},
                    "version": str(i),
                    "stage": "staging",
                    "metrics": metrics,
                    "features": features,
                    "champion": {"version": "0", "metrics": {"auc": 0.8, "m1": 0.7, "latency": 60}},
                    "evidence": evidence,
                }
            )
        )
    return out


Run = Callable[[Sequence[ModelVersion]], object]


def engine(loaded: LoadedPolicy, *, keep: bool = False) -> Run:
    transition = resolve_transition(loaded, "staging", "production")
    reader = Docs()

    def run(versions: Sequence[ModelVersion]) -> object:
        if keep:
            return [evaluate(Evaluation(loaded, transition, v, reader, NOW)) for v in versions]
        tally: Counter[str] = Counter()
        for v in versions:
            tally[evaluate(Evaluation(loaded, transition, v, reader, NOW)).outcome] += 1
        return tally

    return run


def floor(versions: Sequence[ModelVersion]) -> list[bool]:
    """The 20 comparisons alone, in plain Python: the least any engine must do."""
    pii = re.compile(PII)
    out = []
    for v in versions:
        m, c = v.metrics, v.champion.metrics if v.champion else {}
        ok = all((m[f"m{i}"] >= 0.5) if i % 2 else (m[f"m{i}"] <= 0.9) for i in range(N_THRESHOLDS))
        ok &= m["auc"] - c["auc"] >= -0.01
        ok &= (m["m1"] - c["m1"]) / abs(c["m1"]) >= -0.05
        ok &= c["latency"] - m["latency"] >= -10
        card = DOCS["model_card"]
        ok &= b"## Intended use" in card and b"## Limitations" in card
        ok &= bool(DOCS["rollback_plan"].strip())
        ok &= not any(pii.search(f) for f in v.features)
        out.append(ok)
    return out


def _child_ticks() -> float:
    """CPU seconds of this process's live children (the expression workers)."""
    total = 0
    for task in Path("/proc/self/task").iterdir():
        try:
            kids = (task / "children").read_text().split()
        except OSError:
            continue
        for pid in kids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def cpu() -> float:
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + reaped.ru_utime + reaped.ru_stime + _child_ticks()


def timed(fn: Run, versions: Sequence[ModelVersion]) -> tuple[float, float]:
    c0, w0 = cpu(), time.perf_counter()
    fn(versions)
    return cpu() - c0, time.perf_counter() - w0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-c", "--candidates", type=int, default=2000)
    ap.add_argument("-r", "--rounds", type=int, default=3)
    ap.add_argument("-n", type=int, default=0, help="also re-evaluate n decisions once")
    ap.add_argument("--keep", action="store_true", help="hold every decision in a list")
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}; {args.candidates} candidates, ", end="")
    print(f"{args.rounds} rounds, decisions {'kept' if args.keep else 'tallied and dropped'}")
    full, partial = engine(policy(), keep=args.keep), engine(policy(False), keep=args.keep)
    # name: (run, distinct feature lists)
    runs: dict[str, tuple[Run, bool]] = {
        "evaluate (20 gates)": (full, False),
        "evaluate, distinct features": (full, True),
        "evaluate, no expression (19)": (partial, False),
        "floor: plain-Python loop": (floor, False),
    }
    for run, distinct in runs.values():  # imports, the worker's start, first compilations
        run(candidates(200, distinct=distinct, seed=99))
    best = {name: float("inf") for name in runs}
    for r in range(args.rounds):
        for name, (run, distinct) in runs.items():
            versions = candidates(args.candidates, distinct=distinct, seed=100 + r)
            best[name] = min(best[name], timed(run, versions)[0])
            del versions
    rate = {name: args.candidates / max(s, 1e-9) for name, s in best.items()}
    base = rate["evaluate (20 gates)"]
    for name in runs:
        each, ratio = 1e6 / rate[name], rate[name] / base
        print(f"{name:30s} {rate[name]:10,.0f} decisions/CPU-s {each:9.1f} us each", end="")
        print(f"   x{ratio:7.2f} of evaluate")
    if args.n:
        many = candidates(args.n, distinct=False, seed=13)
        spent, wall = timed(engine(policy(), keep=args.keep), many)
        print(f"re-evaluation of {args.n:,}: {spent:.2f} CPU-s, {wall:.2f} s wall, ", end="")
        print(f"{args.n / spent:,.0f} decisions/CPU-s; load average {os.getloadavg()[0]:.2f}")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
