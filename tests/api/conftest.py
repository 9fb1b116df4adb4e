"""Fixtures for the API tests: a workspace and a live server over it (SQLite or PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from api_server import running_server  # shared with the benchmark-style tests
from clearance.workspace import Workspace, init_workspace


@pytest.fixture
def server_ws(tmp_path: Path, db_url: str) -> Workspace:
    """A workspace on the parametrised database, with the system clock (the server's)."""
    return init_workspace(tmp_path / "ws", db_url=db_url)


@pytest.fixture
def server(server_ws: Workspace) -> Iterator[str]:
    with running_server(server_ws) as url:
        yield url
