"""Invariant 1 under a crash: a writer killed with SIGKILL just before commit changes nothing.

``CLEARANCE_TEST_SLEEP_BEFORE_COMMIT`` holds a promotion open after it has written (but
not committed) its request, decision, stage change and audit events. The test waits until
the process is inside that window, kills it, and checks that the database is exactly as
before, the chain verifies, and the next writer is not blocked by anything left behind.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from clearance.adapters.store.sql import FAULT_ENV

from .conftest import MODEL, RaceSetup, build

WINDOW = 5.0  # seconds the doomed writer sleeps before its commit
HELD = 0.3  # seconds it must have been in the window before we kill it


def _sqlite_writer_holds_lock(path: str) -> bool:
    """True while another connection holds SQLite's write lock (BEGIN IMMEDIATE)."""
    conn = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return True
        raise
    else:
        conn.execute("ROLLBACK")
        return False
    finally:
        conn.close()


def _pg_writers_in_window(url: str) -> int:
    """Sessions on the test database idle inside a transaction for at least HELD seconds."""
    name = make_url(url).database
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> "
            "pg_backend_pid() AND state = 'idle in transaction' "
            "AND now() - state_change > make_interval(secs => %s)",
            (name, HELD),
        ).fetchone()
    return int(row[0]) if row else 0


def _wait_until_in_window(setup: RaceSetup, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    sqlite_path = make_url(setup.db_url).database if setup.db_url.startswith("sqlite") else None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"the writer ended before the crash window: {out}{err}")
        if sqlite_path is not None:
            if _sqlite_writer_holds_lock(sqlite_path):
                time.sleep(HELD)  # the write itself takes milliseconds; now it sleeps
                return
        elif _pg_writers_in_window(setup.db_url):
            return
        time.sleep(0.05)
    raise AssertionError("the writer never reached its pre-commit window")


def test_writer_killed_before_commit_leaves_no_trace(tmp_path: Path, any_db: str) -> None:
    setup = build(tmp_path, any_db, versions=1)
    before = setup.snapshot()
    assert setup.stages() == {"1": "staging"}

    start = time.monotonic()
    proc = setup.popen(
        "promote", MODEL, "1", "--to", "production", "--as", "erin", extra_env={FAULT_ENV: "5"}
    )
    _wait_until_in_window(setup, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    assert time.monotonic() - start < WINDOW + 3, "killed too late: the commit may have run"

    # exactly as before: no request, decision, stage change or audit event survived
    assert setup.snapshot() == before
    assert setup.stages() == {"1": "staging"}
    verify = setup.run("audit", "verify", "--json")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert json.loads(verify.stdout)["events"] == before["events"]

    # nothing stale: the next writer gets the lock (SQLite recovers its WAL) and succeeds
    again = setup.run("promote", MODEL, "1", "--to", "production", "--as", "erin", "--json")
    assert again.returncode == 0, again.stdout + again.stderr
    assert json.loads(again.stdout)["executed"] is True
    assert setup.stages() == {"1": "production"}
    after = setup.snapshot()
    assert after["events"] > before["events"]
    assert len(after["requests"]) == len(before["requests"]) + 1
    report = setup.ws.auditing.verify()
    assert report.ok and report.events == after["events"]
