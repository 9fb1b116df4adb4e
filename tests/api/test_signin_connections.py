"""Sign-in on the request's own connection, and pooled connections without a ping per use.

A read request signs in through the session its use case reads with: one connection checkout
and, for ``GET /v1/me``, one statement (the token joined with its user). Sharing must not
cache anything between requests: a revoke or a disable made by another process holds on the
next request through a warm pool. PostgreSQL connections are pinged only after sitting idle,
so one the database dropped fails its statement; the pool is then renewed and a GET is run
once more, and the caller never sees it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import Engine, event, text

from api_server import free_port, token_for
from clearance.adapters.store import database
from clearance.adapters.store.database import Disconnected, make_engine
from clearance.adapters.store.sql import SqlStore
from clearance.workspace import Workspace


@contextmanager
def serving(ws: Workspace) -> Iterator[tuple[httpx.Client, Engine]]:
    """The app in a uvicorn thread over a pooled workspace of its own (as ``clearance serve``
    has), with a client and the server's engine to watch."""
    import uvicorn

    from clearance.api.app import Settings, create_app

    served = Workspace(ws.root, ws.clock, url=ws.db_url, pooled=True)
    app = create_app(served, Settings.from_environment(os.environ))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client, served.engine
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        served.engine.dispose()


class Watch:
    """Connection checkouts and SQL statements (not BEGIN/ROLLBACK) on an engine."""

    def __init__(self, engine: Engine) -> None:
        self.checkouts, self.statements = 0, []
        event.listen(engine, "checkout", self._checkout)
        event.listen(engine, "before_cursor_execute", self._statement)

    def _checkout(self, *_: Any) -> None:
        self.checkouts += 1

    def _statement(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.split()[0].upper() not in {"BEGIN", "ROLLBACK", "COMMIT"}:
            self.statements.append(statement)

    def reset(self) -> None:
        self.checkouts, self.statements = 0, []


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_a_read_signs_in_on_the_connection_it_reads_with(server_ws: Workspace) -> None:
    secret = token_for(server_ws, "alice", ["viewer"])
    with serving(server_ws) as (client, engine):
        assert client.get("/v1/me", headers=_bearer(secret)).status_code == 200  # warm
        watch = Watch(engine)
        me = client.get("/v1/me", headers=_bearer(secret))
        assert me.status_code == 200 and me.json()["name"] == "alice"
        assert watch.checkouts == 1
        assert len(watch.statements) == 1, watch.statements  # token and user, one join
        watch.reset()
        models = client.get("/v1/models", params={"limit": 5}, headers=_bearer(secret))
        assert models.status_code == 200, models.text
        assert watch.checkouts == 1
        watch.reset()
        refused = client.get("/v1/models", headers=_bearer("clr_" + "x" * 43))
        assert refused.status_code == 401 and watch.checkouts == 1


def test_a_revoke_or_a_disable_elsewhere_holds_on_the_next_request(
    server_ws: Workspace,
) -> None:
    alice = token_for(server_ws, "alice", ["viewer"])
    bob = token_for(server_ws, "bob", ["viewer"])
    with serving(server_ws) as (client, _):
        for _ in range(3):  # the pool's connection is warm, the rows read through it
            for secret in (alice, bob):
                assert client.get("/v1/models", headers=_bearer(secret)).status_code == 200
        (alice_token,) = server_ws.tokens.list(actor="operator", user="alice", operator=True)
        server_ws.tokens.revoke(alice_token.id, actor="operator", operator=True)
        refused = client.get("/v1/models", headers=_bearer(alice))
        assert refused.status_code == 401 and "was revoked" in refused.json()["detail"]
        assert client.get("/v1/me", headers=_bearer(bob)).status_code == 200
        server_ws.users.disable("bob", actor="operator", operator=True)
        refused = client.get("/v1/me", headers=_bearer(bob))
        assert refused.status_code == 401 and "bob is disabled" in refused.json()["detail"]


def test_a_write_without_a_body_holds_one_connection_at_a_time(server_ws: Workspace) -> None:
    """Sign-in's shared read gives its connection back before the write checks one out."""
    secret = token_for(server_ws, "alice", ["viewer"])
    second = token_for(server_ws, "alice", ["viewer"])
    (_, spare) = server_ws.tokens.list(actor="operator", user="alice", operator=True)
    with serving(server_ws) as (client, engine):
        out, most = 0, 0

        def checkout(*_: Any) -> None:
            nonlocal out, most
            out += 1
            most = max(most, out)

        def checkin(*_: Any) -> None:
            nonlocal out
            out -= 1

        event.listen(engine, "checkout", checkout)
        event.listen(engine, "checkin", checkin)
        revoked = client.delete(f"/v1/tokens/{spare.id}", headers=_bearer(secret))
        assert revoked.status_code == 200, revoked.text
        assert most == 1 and out == 0
        assert client.get("/v1/me", headers=_bearer(second)).status_code == 401


def _drop_connections(url: str) -> int:
    """End every other session on the database (as a restart or a failover does)."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return len(rows)


def test_a_get_whose_connection_was_dropped_runs_again(pg_schema_url: str, tmp_path: Any) -> None:
    from clearance.workspace import init_workspace

    ws = init_workspace(tmp_path / "ws", db_url=pg_schema_url)
    secret = token_for(ws, "alice", ["viewer"])
    with serving(ws) as (client, engine):
        invalidated: list[object] = []
        event.listen(engine, "invalidate", lambda *args: invalidated.append(args))
        assert client.get("/v1/models", headers=_bearer(secret)).status_code == 200
        assert _drop_connections(pg_schema_url) >= 1
        again = client.get("/v1/models", headers=_bearer(secret))
        assert again.status_code == 200, again.text
        assert invalidated, "the dropped connection was not noticed: nothing was run again"
        assert client.get("/v1/me", headers=_bearer(secret)).status_code == 200


def test_only_a_connection_idle_for_a_while_is_pinged(
    pg_schema_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(pg_schema_url, pooled=True)
    store = SqlStore(engine)
    try:
        with store.reading() as tx:
            tx.list_users()
        _drop_connections(pg_schema_url)  # used a moment ago: not pinged, its read fails
        with pytest.raises(Disconnected, match="connection lost"), store.reading() as tx:
            tx.list_users()
        with store.reading() as tx:  # the pool was renewed
            tx.list_users()
        monkeypatch.setattr(database, "IDLE_PING_SECONDS", 0.0)
        _drop_connections(pg_schema_url)  # idle long enough: pinged, replaced, the read works
        with store.reading() as tx:
            tx.list_users()
    finally:
        engine.dispose()


def test_a_postgresql_read_holds_no_transaction_open(pg_schema_url: str) -> None:
    """Reads run in autocommit: no BEGIN and ROLLBACK round trips around them."""
    engine = make_engine(pg_schema_url, pooled=True)
    store = SqlStore(engine)
    try:
        with store.reading() as tx:
            tx.list_users()
            status = tx.s.execute(text("SELECT now() = statement_timestamp()")).scalar()
            assert status is True  # autocommit: each statement its own transaction
    finally:
        engine.dispose()
