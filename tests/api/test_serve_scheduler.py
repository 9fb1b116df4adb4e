"""Several real ``clearance serve`` processes on one PostgreSQL database: exactly one runs the
scheduled ticks; when it stops, another takes over; ``--no-scheduler`` never ticks.

Slow (three server processes): CI runs it (``CLEARANCE_TEST_SLOW=1``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import pytest

from api.test_serve import Server, serve
from clearance.adapters.clock import SystemClock
from clearance.workspace import init_workspace


def _ticks(server: Server) -> list[int]:
    """The epoch of each scheduled tick the server logged."""
    return [line["epoch"] for line in server.lines() if line["message"] == "scheduled tick"]


def _until(check: Callable[[], bool], seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.mark.slow
def test_one_of_several_servers_ticks_and_another_takes_over_when_it_stops(
    tmp_path: Path, pg_schema_url: str
) -> None:
    ws = init_workspace(tmp_path / "ws", db_url=pg_schema_url, clock=SystemClock())
    every = ("--schedule-every", "1")
    with ExitStack() as later, ExitStack() as sooner:
        first = sooner.enter_context(serve(ws, *every))
        _until(lambda: len(_ticks(first)) >= 1)  # the first server up leads
        second = later.enter_context(serve(ws, *every))
        idle = later.enter_context(serve(ws, "--no-scheduler"))
        _until(lambda: len(_ticks(first)) >= 4)
        assert set(_ticks(first)) == {1} and _ticks(second) == []
        sooner.close()  # SIGTERM: the leader stops and releases its lease
        _until(lambda: len(_ticks(second)) >= 2)
        assert set(_ticks(second)) == {2}  # the next reign
        assert _ticks(idle) == []
    assert "leading the scheduler" in [line["message"] for line in second.lines()]
