"""Issue 12's registry benchmark: the list reads over HTTP, clearance beside MLflow.

    .venv/bin/python bench/registry.py                       # --scale 0.02: 200 models, SQLite
    .venv/bin/python bench/registry.py --scale 1 --db both   # 10k models / 100k versions
    .venv/bin/python bench/registry.py --no-mlflow           # clearance alone

At ``--scale S`` it builds 10k*S models, 100k*S versions (10 per model) and 100k*S promotion
requests (one per version; 2 in 10 open, some emergencies) in a fresh clearance workspace,
inserted in bulk through the store's schema (SQLAlchemy Core ``insert`` of many rows per
statement, not one use case per row: the reads are what is timed, and no audit events are
written for these rows). Then it starts the real ``clearance serve`` and times, per page of 50
at a random position: list models (``GET /v1/models``, from a cursor; and by offset, the old
way), search models by team, list a model's versions, one model's status and the open
request queue (from a cursor); and ``GET /v1/me``, the floor every signed-in call pays
(HTTP, middleware, the token's sign-in) before its own read. A cursor at a random position
is what a client walking the list holds there; the bench makes it with the server's own
encoder.

MLflow (``--mlflow``, the default) is installed in its own venv
(~/.cache/clearance-bench/mlflow-venv) and ``mlflow server`` runs on its own database of the
same kind (it creates its schema with its own migrations). MLflow has no bulk import and its
REST API takes a call per row, about 0.3 s each here (loading 100k versions that way, 8
threads, did not finish in 900 s), so the load goes through both of MLflow's doors: the first
model, its team tag and its 10 versions through the REST API (``registered-models/create``,
``model-versions/create``), then every other model copied from those rows into MLflow's
tables (``registered_models``, ``registered_model_tags``, ``model_versions``; read back by
reflection, name, tag value and timestamps changed), in batches, and ANALYZE, as for
clearance. Its reads (``registered-models/search`` from an offset page token, by team tag,
``model-versions/search`` by name, ``registered-models/get``) alternate with clearance's, one
request of each in turn, so both see the same load.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from sqlalchemy import MetaData, create_engine, insert, select

from clearance.adapters.store.database import make_engine
from clearance.adapters.store.schema import ModelRow, PolicyRow, RequestRow, VersionRow
from clearance.service import paging

sys.path.insert(0, str(Path(__file__).parent))
from _pg import pg_database  # bench/ is on sys.path when a bench runs
from server import free_port, prepare, server  # bench/server.py's helpers

MLFLOW_VENV = Path.home() / ".cache" / "clearance-bench" / "mlflow-venv"
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
PAGE = 50
CHUNK = 5000  # rows per INSERT batch
TEAMS = 20
STATUSES = ("executed",) * 7 + ("rejected", "pending", "blocked")  # 1 in 10 waits in the queue


# --- bulk loading ------------------------------------------------------------------------


def bulk_load(url: str, models: int, per_model: int) -> float:
    """``models`` models with ``per_model`` versions each and one request per version, in
    batches of ``CHUNK`` rows per statement; returns the seconds it took."""
    started = time.perf_counter()
    engine = make_engine(url)
    with engine.begin() as conn:
        policy = conn.execute(select(PolicyRow.id).order_by(PolicyRow.id)).scalars().first()
        assert policy is not None, "apply a policy first"
        rows: list[dict[str, Any]] = [
            {
                "name": f"model-{i:05d}",
                "risk_tier": ("high", "medium", "low")[i % 3],
                "owner": f"owner{i % 50}@example.com",
                "team": f"team-{i % TEAMS}",
                "tags": json.dumps({"domain": f"d{i % 9}"}),
                "created_at": T0,
            }
            for i in range(models)
        ]
        _insert(conn, ModelRow, rows)
        ids = conn.execute(select(ModelRow.id).where(ModelRow.name.like("model-%"))).scalars()
        model_ids = sorted(ids)
        first_version = (
            conn.execute(select(VersionRow.id).order_by(VersionRow.id.desc())).scalars().first()
            or 0
        ) + 1
        versions: list[dict[str, Any]] = []
        for m in model_ids:
            for v in range(per_model):
                prod = v == per_model - 1
                versions.append(
                    {
                        "model_id": m,
                        "version": f"1.{v}.0",
                        "stage": "production" if prod else "staging",
                        "production_slot": 1 if prod else None,
                        "record": json.dumps({"metrics": {"auc": 0.8 + v / 1000}}),
                        "registered_by": "eng",
                        "created_at": T0 + dt.timedelta(minutes=v),
                        "stage_changed_at": T0 + dt.timedelta(minutes=v),
                    }
                )
        _insert(conn, VersionRow, versions)
        requests = []
        for n, row in enumerate(versions):
            status = STATUSES[n % len(STATUSES)]
            requests.append(
                {
                    "model_id": row["model_id"],
                    "version_id": first_version + n,
                    "policy_id": policy,
                    "from_stage": "staging",
                    "to_stage": "production",
                    "change_type": "emergency" if n % 97 == 0 else "standard",
                    "requester": "eng",
                    "reason": "bench",
                    "ticket": f"T-{n}",
                    "status": status,
                    "created_at": row["created_at"],
                    "updated_at": row["created_at"],
                }
            )
        _insert(conn, RequestRow, requests)
    _analyze(engine)
    engine.dispose()
    return time.perf_counter() - started


def _insert(conn: object, table: object, rows: list[dict[str, Any]]) -> None:
    for i in range(0, len(rows), CHUNK):
        conn.execute(insert(table), rows[i : i + CHUNK])  # type: ignore[attr-defined,arg-type]


def _analyze(engine: object) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:  # type: ignore[attr-defined]
        c.exec_driver_sql("VACUUM ANALYZE" if c.dialect.name == "postgresql" else "ANALYZE")


@contextmanager
def database(kind: str, path: Path) -> Iterator[str]:
    """A SQLAlchemy URL of a fresh database of ``kind`` (PostgreSQL: created and dropped)."""
    if kind == "sqlite":
        yield f"sqlite:///{path}"
        return
    with pg_database("bench_registry") as url:
        yield url


# --- MLflow ------------------------------------------------------------------------------


def mlflow_exe() -> Path:
    exe = MLFLOW_VENV / "bin" / "mlflow"
    if not exe.exists():
        base = getattr(sys, "_base_executable", sys.executable)  # not this project's venv
        subprocess.run([base, "-m", "venv", str(MLFLOW_VENV)], check=True)
        pip = MLFLOW_VENV / "bin" / "pip"
        subprocess.run([str(pip), "install", "-q", "mlflow", "psycopg2-binary"], check=True)
    return exe


@contextmanager
def mlflow_server(url: str, folder: Path) -> Iterator[str]:
    port = free_port()
    store = url.replace("postgresql://", "postgresql+psycopg2://") if "postgres" in url else url
    cmd = [str(mlflow_exe()), "server", "--backend-store-uri", store, "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--workers", "1", "--default-artifact-root", str(folder)]
    log = (folder / "mlflow.log").open("w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=log, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited: {(folder / 'mlflow.log').read_text()}")
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("mlflow server not ready in 180 s")
            time.sleep(0.5)
        yield base
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)


def mlflow_load(base: str, url: str, models: int, per_model: int) -> tuple[float, float]:
    """The same counts in MLflow's database: model 0 through its REST API, the rest copied
    from its rows in bulk (see the module's docstring); the seconds each part took."""
    started = time.perf_counter()
    api = f"{base}/api/2.0/mlflow"
    first = "model-00000"
    with httpx.Client(timeout=60) as c:
        tags = [{"key": "team", "value": "team-0"}]
        c.post(f"{api}/registered-models/create", json={"name": first, "tags": tags})
        for v in range(per_model):
            body = {"name": first, "source": f"s3://bench/{first}/{v}", "description": "bench"}
            c.post(f"{api}/model-versions/create", json=body).raise_for_status()
    rest = time.perf_counter() - started
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    meta = MetaData()
    names = ["registered_models", "registered_model_tags", "model_versions"]
    meta.reflect(engine, only=names)
    with engine.begin() as conn:
        for name in names:
            table = meta.tables[name]
            template = [dict(r._mapping) for r in conn.execute(select(table))]
            rows = [_copy(row, first, i) for i in range(1, models) for row in template]
            for start in range(0, len(rows), CHUNK):
                conn.execute(insert(table), rows[start : start + CHUNK])
    _analyze(engine)
    engine.dispose()
    return rest, time.perf_counter() - started - rest


def _copy(row: dict[str, object], first: str, i: int) -> dict[str, object]:
    """MLflow's row of model 0 as model ``i``'s: its name in every text column, its team tag,
    timestamps a millisecond per model later."""
    name = f"model-{i:05d}"
    out: dict[str, object] = {}
    for column, value in row.items():
        if isinstance(value, str):
            value = value.replace(first, name)
        elif column.endswith("_time") and isinstance(value, int):
            value += i
        out[column] = value
    if out.get("key") == "team":
        out["value"] = f"team-{i % TEAMS}"
    return out


# --- the timed reads ---------------------------------------------------------------------


def token(offset: int) -> str:
    """MLflow's page token for an offset (its SearchUtils encodes {"offset": n} in base64)."""
    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode()


def reads(
    models: int, base: str, headers: dict[str, str]
) -> dict[str, Callable[[httpx.Client], httpx.Response]]:
    rnd = random.Random(12)

    def name() -> str:
        return f"model-{rnd.randrange(models):05d}"

    def offset(total: int) -> int:
        return rnd.randrange(max(total - PAGE, 1))

    team_size = models // TEAMS

    def after_model(team: str | None) -> str:
        """The cursor a client walking the list holds at a random model (of ``team``)."""
        if team is None:
            i = rnd.randrange(models - PAGE)
        else:  # a full page of the team's models follows
            i = int(team.split("-")[1]) + TEAMS * rnd.randrange(max(team_size - PAGE, 1))
        return paging.encode("models", {"risk_tier": None, "team": team}, f"model-{i:05d}")

    def after_request() -> str:
        last = rnd.randrange(1, models * 10 - PAGE * 5)
        return paging.encode("requests", {"model": None, "status": "open"}, last)

    def team_page(c: httpx.Client) -> httpx.Response:
        team = f"team-{rnd.randrange(TEAMS)}"
        params: dict[str, Any] = {"team": team, "limit": PAGE, "cursor": after_model(team)}
        return c.get(f"{base}/v1/models", params=params, headers=headers)

    return {
        "list models": lambda c: c.get(
            f"{base}/v1/models",
            params={"limit": PAGE, "cursor": after_model(None)},
            headers=headers,
        ),
        "list models (offset)": lambda c: c.get(
            f"{base}/v1/models", params={"limit": PAGE, "offset": offset(models)}, headers=headers
        ),
        "search models (team)": team_page,
        "list versions": lambda c: c.get(
            f"{base}/v1/models/{name()}/versions", params={"limit": PAGE}, headers=headers
        ),
        "model status": lambda c: c.get(f"{base}/v1/models/{name()}", headers=headers),
        "request queue": lambda c: c.get(
            f"{base}/v1/requests",
            params={"status": "open", "limit": PAGE, "cursor": after_request()},
            headers=headers,
        ),
        # what every authenticated call costs before its read: sign-in, middleware, HTTP
        "(floor: GET /v1/me)": lambda c: c.get(f"{base}/v1/me", headers=headers),
    }


def mlflow_reads(models: int, base: str) -> dict[str, Callable[[httpx.Client], httpx.Response]]:
    rnd = random.Random(12)
    api = f"{base}/api/2.0/mlflow"

    def name() -> str:
        return f"model-{rnd.randrange(models):05d}"

    def page(total: int) -> dict[str, Any]:
        start = rnd.randrange(max(total - PAGE, 1))
        return {"max_results": PAGE, **({"page_token": token(start)} if start else {})}

    def listing(c: httpx.Client) -> httpx.Response:
        return c.get(f"{api}/registered-models/search", params=page(models))

    return {
        "list models": listing,
        "list models (offset)": listing,  # MLflow pages by offset only
        "search models (team)": lambda c: c.get(
            f"{api}/registered-models/search",
            params={
                "filter": f"tags.team = 'team-{rnd.randrange(TEAMS)}'",
                **page(models // TEAMS),
            },
        ),
        "list versions": lambda c: c.get(
            f"{api}/model-versions/search",
            params={"filter": f"name = '{name()}'", "max_results": PAGE},
        ),
        "model status": lambda c: c.get(f"{api}/registered-models/get", params={"name": name()}),
    }


def timed(
    calls: dict[str, dict[str, Callable[[httpx.Client], httpx.Response]]], rounds: int
) -> dict[str, dict[str, list[float]]]:
    """Each round: one call of each read of each system, in turn (alternating)."""
    times: dict[str, dict[str, list[float]]] = {s: defaultdict(list) for s in calls}
    clients = {s: httpx.Client(timeout=120) for s in calls}
    for _ in range(3):  # warm up connections and caches
        for system, ops in calls.items():
            for call in ops.values():
                call(clients[system]).raise_for_status()
    for _ in range(rounds):
        for op in calls[next(iter(calls))]:
            for system, ops in calls.items():
                if op in ops:
                    started = time.perf_counter()
                    ops[op](clients[system]).raise_for_status()
                    times[system][op].append(time.perf_counter() - started)
    return times


def report(times: dict[str, dict[str, list[float]]]) -> None:
    print(
        "| read (page of 50) | system | p50 ms | p99 ms | p99 < 50 ms "
        "| MLflow/clearance p50 | p99 |"
    )
    print("| --- | --- | ---: | ---: | --- | ---: | ---: |")
    ours = times["clearance"]
    for op, values in ours.items():
        mine = np.asarray(values) * 1000
        for system in times:
            if op not in times[system]:
                continue
            a = np.asarray(times[system][op]) * 1000
            p50, p99 = np.percentile(a, 50), np.percentile(a, 99)
            ratios = " | "
            if system != "clearance":
                ratios = (
                    f"{p50 / np.percentile(mine, 50):.2f} | {p99 / np.percentile(mine, 99):.2f}"
                )
            ok = "yes" if p99 < 50 else "NO"
            print(f"| {op} | {system} | {p50:.1f} | {p99:.1f} | {ok} | {ratios} |")


def bench(kind: str, args: argparse.Namespace) -> None:
    models = max(int(10_000 * args.scale), TEAMS)
    per_model = 10
    print(
        f"\n## {kind}: {models} models, {models * per_model} versions, "
        f"{models * per_model} requests"
    )
    with tempfile.TemporaryDirectory(prefix="bench-registry-") as tmp:
        folder = Path(tmp)
        calls: dict[str, dict[str, Callable[[httpx.Client], httpx.Response]]] = {}
        with database(kind, folder / "ws" / ".clearance" / "clearance.db") as url:
            ws, tokens = prepare(folder, url)
            seconds = bulk_load(url, models, per_model)
            print(
                f"clearance bulk load: {seconds:.1f} s "
                f"({models * per_model * 2 / seconds:,.0f} rows/s)"
            )
            with server(ws, url, 1) as base:
                calls["clearance"] = reads(
                    models, base, {"Authorization": f"Bearer {tokens['root']}"}
                )
                if not args.mlflow:
                    report(timed(calls, args.rounds))
                    return
                (folder / "mlflow").mkdir()
                with (
                    database(kind, folder / "mlflow" / "mlflow.db") as murl,
                    mlflow_server(murl, folder / "mlflow") as mbase,
                ):
                    rest, copied = mlflow_load(mbase, murl, models, per_model)
                    print(
                        f"MLflow load: model 0 through its REST API ({1 + per_model} calls) "
                        f"{rest:.2f} s; the other {models - 1} models copied in SQL {copied:.1f} s"
                    )
                    calls["MLflow"] = mlflow_reads(models, mbase)
                    cpu = resource.getrusage(resource.RUSAGE_SELF).ru_utime
                    report(timed(calls, args.rounds))
                    print(
                        f"(client CPU for the timed rounds: "
                        f"{resource.getrusage(resource.RUSAGE_SELF).ru_utime - cpu:.1f} s)"
                    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="sqlite")
    ap.add_argument("--scale", type=float, default=0.02, help="1: 10k models / 100k versions")
    ap.add_argument("--rounds", type=int, default=200, help="timed calls of each read")
    ap.add_argument("--no-mlflow", dest="mlflow", action="store_false")
    args = ap.parse_args()
    print(f"bench/registry.py {' '.join(sys.argv[1:])}; load average {os.getloadavg()}")
    for kind in ["sqlite", "postgresql"] if args.db == "both" else [args.db]:
        bench(kind, args)


if __name__ == "__main__":
    main()
