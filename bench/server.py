"""Issue 6's server benchmark: `clearance serve` driven from a second process over loopback.

    .venv/bin/python bench/server.py                    # SQLite and PostgreSQL, 4 clients
    .venv/bin/python bench/server.py --db postgresql --workers 2 --clients 8
    .venv/bin/python bench/server.py --record           # also append the output to RESULTS.md

For each database it builds a fresh workspace (the credit-risk example's policy, a team with
tokens), starts the real ``clearance serve`` in its own process, and then, from this process:

1. **write loops**: N client threads (one httpx connection each) repeat register (the v7
   candidate's manifest and five files, as multipart) → promote draft → staging (a decision:
   the gates pass, the tech lead's sign-off is due) → approve as the tech lead (a second
   decision, which executes the move); each client its own model;
2. **read traffic**: N threads cycle through GET /v1/models, /v1/requests and
   /v1/audit/events (100 events a page);
3. **one decision, in-process vs through the API**: the same use case,
   ``Promotions.reevaluate`` on one open request (evaluate the policy, store the decision with
   its inputs and its audit events), called M times in this process on a pooled engine and M
   times as ``POST /v1/requests/{id}/reevaluate`` over one keep-alive connection, alternating
   one of each so that both see the same background load. The ratio of the medians is the
   server's overhead per decision.

Each phase reports throughput and p50/p99 latency per operation. Nothing is written to the
repository unless --record; PostgreSQL databases are created and dropped here.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import yaml
from _pg import pg_database  # bench/ is on sys.path when a bench runs

from clearance.adapters.clock import SystemClock
from clearance.workspace import Workspace, init_workspace

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "credit-risk"
EXE = str(Path(sys.executable).parent / "clearance")
FILES = ["model.pkl", "model_card.md", "monitoring_plan.md", "rollback_plan.md"]
FILES += ["sbom.json", "pip-audit.json"]
TEAM = {"eng": ["ml_engineer"], "lead": ["tech_lead"], "root": ["admin"]}


# --- the latency book --------------------------------------------------------------------


@dataclass
class Book:
    """Latencies (seconds) and failures per operation, from every client thread."""

    times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    failures: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    first_failure: dict[str, str] = field(default_factory=dict)  # op -> status and body
    lock: threading.Lock = field(default_factory=threading.Lock)
    order: list[str] = field(default_factory=list)  # operations in the order first timed

    def timed(
        self, op: str, ok: int, call: Callable[..., httpx.Response], *args: Any, **kw: Any
    ) -> httpx.Response:
        started = time.perf_counter()
        r = call(*args, **kw)
        elapsed = time.perf_counter() - started
        with self.lock:
            if op not in self.times:
                self.order.append(op)
            self.times[op].append(elapsed)
            if r.status_code != ok:
                self.failures[op] += 1
                self.first_failure.setdefault(op, f"{r.status_code} {r.text[:300]}")
        return r


def percentiles(values: list[float]) -> tuple[float, float, float]:
    """p50, p99 and mean in milliseconds."""
    a = np.asarray(values) * 1000
    return float(np.percentile(a, 50)), float(np.percentile(a, 99)), float(a.mean())


def table(book: Book, wall: float) -> list[str]:
    lines = ["| operation | calls | per second | p50 ms | p99 ms | mean ms | failed |"]
    lines.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for op, values in sorted(book.times.items(), key=lambda kv: book.order.index(kv[0])):
        p50, p99, mean = percentiles(values)
        lines.append(
            f"| {op} | {len(values)} | {len(values) / wall:.1f} | {p50:.1f} | {p99:.1f} | "
            f"{mean:.1f} | {book.failures.get(op, 0)} |"
        )
    for op, failure in book.first_failure.items():  # say why, not only how many
        lines.append(f"\nfirst failure of {op}: {failure}")
    return lines


# --- the workspace, the server -----------------------------------------------------------


@contextmanager
def database(kind: str, tmp: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'ws' / '.clearance' / 'clearance.db'}"
        return
    with pg_database("clearance_bench") as url:
        yield url


def prepare(tmp: Path, url: str) -> tuple[Workspace, dict[str, str]]:
    """A workspace with the credit-risk policy and the team, as an operator sets one up."""
    ws = init_workspace(tmp / "ws", db_url=url, clock=SystemClock())
    tokens = {}
    for user, roles in TEAM.items():
        ws.registry.add_user(user, roles, actor="operator", operator=True)
        _, tokens[user] = ws.tokens.create(user, actor="operator", operator=True)
    ws.registry.apply_policy(EXAMPLE / "policy", actor="root")
    return ws, tokens


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(ws: Workspace, url: str, workers: int) -> Iterator[str]:
    """`clearance serve` in its own process (its log in the workspace folder)."""
    port = free_port()
    env = {**os.environ, "CLEARANCE_WORKSPACE": str(ws.root)}
    env.pop("CLEARANCE_TEST_SLEEP_BEFORE_COMMIT", None)
    cmd = [EXE, "serve", "--port", str(port), "--db", url, "--workers", str(workers)]
    log = ws.home / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen([*cmd, "--log-level", "warning"], env=env, stderr=out)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"serve exited with {proc.returncode}: {log.read_text()}")
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"serve not ready in 60 s: {log.read_text()}")
            time.sleep(0.1)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def upload(model: str, version: str) -> list[tuple[str, Any]]:
    """Multipart parts registering the v7 candidate as ``model`` ``version``."""
    doc = yaml.safe_load((EXAMPLE / "v7-pass" / "manifest.yaml").read_text())
    doc["model"]["name"], doc["version"] = model, version
    manifest = yaml.safe_dump(doc, sort_keys=False).encode()
    parts: list[tuple[str, Any]] = [("manifest", ("manifest.yaml", manifest, "text/yaml"))]
    for name in FILES:
        parts.append(("files", (name, BLOBS[name], "application/octet-stream")))
    return parts


BLOBS = {name: (EXAMPLE / "v7-pass" / name).read_bytes() for name in FILES}


# --- the phases --------------------------------------------------------------------------


def run_clients(n: int, seconds: float, work: Callable[[int, Callable[[], bool]], None]) -> float:
    """``n`` threads run ``work(i, more)`` until ``more()`` turns false; returns the wall time."""
    stop = time.monotonic() + seconds
    barrier = threading.Barrier(n + 1)
    errors: list[BaseException] = []

    def body(i: int) -> None:
        barrier.wait()
        try:
            work(i, lambda: time.monotonic() < stop)
        except BaseException as exc:  # a client that dies is reported, not hidden
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - started


def write_loops(base: str, tokens: dict[str, str], clients: int, seconds: float) -> list[str]:
    book = Book()
    loops = [0] * clients

    def work(i: int, more: Callable[[], bool]) -> None:
        eng = httpx.Client(base_url=base, headers=_auth(tokens["eng"]), timeout=120)
        lead = httpx.Client(base_url=base, headers=_auth(tokens["lead"]), timeout=120)
        model = f"credit-bench-{i}"
        with eng, lead:
            n = 0
            while more():
                n += 1
                version = str(n)
                parts = upload(model, version)
                book.timed(
                    "register (POST /v1/versions)", 201, eng.post, "/v1/versions", files=parts
                )
                body = {"model": model, "version": version, "to": "staging"}
                opened = book.timed(
                    "promote: decision, sign-off due (POST /v1/requests)",
                    201,
                    eng.post,
                    "/v1/requests",
                    json=body,
                )
                if opened.status_code != 201:
                    continue
                rid = opened.json()["request"]["id"]
                signed = book.timed(
                    "approve: decision + move (POST /v1/requests/{id}/approvals)",
                    201,
                    lead.post,
                    f"/v1/requests/{rid}/approvals",
                    json={"reason": "ok"},
                )
                if signed.status_code == 201 and signed.json()["executed"]:
                    loops[i] += 1

    wall = run_clients(clients, seconds, work)
    done = sum(loops)
    return [
        f"write loops: {clients} clients, {wall:.1f} s, {done} register → promote → approve "
        f"loops completed ({done / wall:.1f} loops/s)",
        "",
        *table(book, wall),
    ]


def read_traffic(base: str, tokens: dict[str, str], clients: int, seconds: float) -> list[str]:
    book = Book()
    reads = [
        ("GET /v1/models", "/v1/models"),
        ("GET /v1/requests", "/v1/requests?limit=50"),
        ("GET /v1/audit/events", "/v1/audit/events?limit=100"),
    ]

    book.order = [op for op, _ in reads]

    def work(i: int, more: Callable[[], bool]) -> None:
        with httpx.Client(base_url=base, headers=_auth(tokens["eng"]), timeout=120) as client:
            k = i
            while more():
                op, path = reads[k % len(reads)]
                book.timed(op, 200, client.get, path)
                k += 1

    wall = run_clients(clients, seconds, work)
    total = sum(len(v) for v in book.times.values())
    return [
        f"read traffic: {clients} clients, {wall:.1f} s, {total} requests ({total / wall:.1f}/s)",
        "",
        *table(book, wall),
    ]


def decision_cost(ws: Workspace, base: str, tokens: dict[str, str], m: int) -> list[str]:
    """One decision (reevaluate an open request) in-process vs through the API."""
    manifest = ws.root.parent / "decision" / "manifest.yaml"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        (manifest.parent / name).write_bytes(BLOBS[name])
    doc = yaml.safe_load((EXAMPLE / "v7-pass" / "manifest.yaml").read_text())
    doc["model"]["name"], doc["version"] = "credit-decision", "1"
    manifest.write_text(yaml.safe_dump(doc, sort_keys=False))
    local = Workspace(ws.root, SystemClock(), url=ws.db_url, pooled=True)  # as the server's
    local.registry.register(manifest, actor="eng")
    rid = local.promotions.promote("credit-decision", "1", "staging", actor="eng").request.id

    inproc: list[float] = []
    api: list[float] = []
    with httpx.Client(base_url=base, headers=_auth(tokens["eng"]), timeout=120) as client:
        for i in range(m + 3):  # alternate, so that both see the same background load
            started = time.perf_counter()
            result = local.promotions.reevaluate(rid, actor="eng")
            middle = time.perf_counter()
            r = client.post(f"/v1/requests/{rid}/reevaluate")
            ended = time.perf_counter()
            assert result.request.status == "pending", result.decision.summary
            assert r.status_code == 200, r.text
            if i >= 3:  # the first calls warm up: parse the policy once, open the pools
                inproc.append(middle - started)
                api.append(ended - middle)
    local.engine.dispose()
    p50_in, p99_in, mean_in = percentiles(inproc)
    p50_api, p99_api, mean_api = percentiles(api)
    return [
        f"one decision (Promotions.reevaluate: evaluate 2 gates, store the decision and its "
        f"audit events), {m} calls each, one at a time, alternating:",
        "",
        "| path | p50 ms | p99 ms | mean ms |",
        "| --- | ---: | ---: | ---: |",
        f"| in-process service call | {p50_in:.2f} | {p99_in:.2f} | {mean_in:.2f} |",
        f"| through the API (POST /v1/requests/{{id}}/reevaluate) | {p50_api:.2f} | "
        f"{p99_api:.2f} | {mean_api:.2f} |",
        "",
        f"API / in-process: {p50_api / p50_in:.2f}x at the median, "
        f"{mean_api / mean_in:.2f}x on the mean (server overhead {p50_api - p50_in:.2f} ms "
        "per decision at the median)",
    ]


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def bench(kind: str, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="clearance-bench-") as tmp_name:
        tmp = Path(tmp_name)
        with database(kind, tmp) as url:
            ws, tokens = prepare(tmp, url)
            with server(ws, url, args.workers) as base:
                print(f"### {kind}: clearance serve --workers {args.workers}\n")
                for line in write_loops(base, tokens, args.clients, args.seconds):
                    print(line)
                print()
                for line in read_traffic(base, tokens, args.clients, args.seconds):
                    print(line)
                print()
                for line in decision_cost(ws, base, tokens, args.decisions):
                    print(line)
                print()
                report = ws.auditing.verify()
                print(f"audit chain after the run: {report.events} events, ok={report.ok}\n")
            ws.engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--clients", type=int, default=4, help="concurrent client threads")
    ap.add_argument("--workers", type=int, default=1, help="clearance serve --workers")
    ap.add_argument("--seconds", type=float, default=15, help="length of each load phase")
    ap.add_argument("--decisions", type=int, default=100, help="M, for the decision cost")
    ap.add_argument("--record", action="store_true", help="append the output to RESULTS.md")
    args = ap.parse_args()

    out = io.StringIO()
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    uptime = subprocess.run(["uptime"], capture_output=True, text=True, check=False)
    head = [
        f"```\n{' '.join(['.venv/bin/python', 'bench/server.py', *sys.argv[1:]])}\n```",
        "",
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC · {os.cpu_count()} cores · "
        f"Python {platform.python_version()} · uptime before: `{uptime.stdout.strip()}`",
        "",
    ]
    for line in head:
        print(line)
    tee = _Tee(sys.stdout, out)
    with redirect_stdout(tee):
        for kind in kinds:
            bench(kind, args)
    uptime = subprocess.run(["uptime"], capture_output=True, text=True, check=False)
    tail = f"uptime after: `{uptime.stdout.strip()}`"
    print(tail)
    if args.record:
        with (Path(__file__).parent / "RESULTS.md").open("a", encoding="utf-8") as f:
            f.write("\n## Team server (issue 6): `bench/server.py` over loopback\n\n")
            f.write("\n".join(head) + "\n" + out.getvalue() + tail + "\n")


class _Tee(io.TextIOBase):
    def __init__(self, *streams: Any) -> None:
        self.streams = streams

    def write(self, s: str) -> int:
        for stream in self.streams:
            stream.write(s)
        return len(s)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()


if __name__ == "__main__":
    main()
