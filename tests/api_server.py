"""A real server for the API tests: uvicorn on a free loopback port.

By default uvicorn serves the app from a thread of the test process: the same app factory,
the same uvicorn, real HTTP over a socket, without paying a process start per test. A test
that needs a process of its own (several workers, environment read at request time, signals,
the server's log) asks for ``process=True`` or passes ``env``/``workers``.

Tokens are minted through the service (as `clearance token create` does); every request in
the tests then goes over HTTP to the server.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from clearance.workspace import Workspace

THREAD_START_TIMEOUT = 30


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_server(
    ws: Workspace,
    *,
    workers: int = 1,
    env: dict[str, str] | None = None,
    process: bool = False,
) -> Iterator[str]:
    """Start ``clearance serve``'s app over ``ws``; yields the base URL."""
    if process or workers != 1 or env:
        with _server_process(ws, workers=workers, env=env) as url:
            yield url
    else:
        with _server_thread(ws) as url:
            yield url


@contextmanager
def _server_thread(ws: Workspace) -> Iterator[str]:
    """uvicorn in a thread over a workspace object of the server's own (as a process has)."""
    import uvicorn

    from clearance.api.app import Settings, create_app

    served = Workspace(ws.root, ws.clock, url=ws.db_url, pooled=True)
    app = create_app(served, Settings.from_environment(os.environ))
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + THREAD_START_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"in-thread server on port {port} did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        if "engine" in vars(served):
            served.engine.dispose()


@contextmanager
def _server_process(ws: Workspace, *, workers: int, env: dict[str, str] | None) -> Iterator[str]:
    port = free_port()
    cmd: Sequence[str] = [
        sys.executable,
        "-m",
        "uvicorn",
        "clearance.api.app:app_from_environment",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
    ]
    child_env = {
        **os.environ,
        "CLEARANCE_WORKSPACE": str(ws.root),
        "CLEARANCE_DB_URL": ws.db_url,
        **(env or {}),
    }
    log = Path(ws.home) / f"server-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=child_env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server not ready within 60 s:\n{log.read_text()}")


def token_for(ws: Workspace, user: str, roles: Sequence[str]) -> str:
    """Add ``user`` with ``roles`` if new, and mint a token for them (as the operator)."""
    if ws.store is not None:
        with ws.store.reading() as tx:
            known = tx.get_user(user) is not None
        if not known:
            ws.registry.add_user(user, list(roles), actor="operator", operator=True)
    _, secret = ws.tokens.create(user, actor="operator", operator=True)
    return secret
