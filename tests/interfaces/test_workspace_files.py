"""``clearance init`` creates every private file private from the start.

The signing key, ``config.json`` (its database URL may carry a password), the SQLite database
and the blob store are 0600 files in 0700 folders. They are created with those modes, not
tightened afterwards: the tests run ``init`` with umask 0 and with ``chmod`` disabled, so a
file made open and narrowed later would show its open mode.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import text

from clearance.adapters.store.database import make_engine
from cli_runner import run_cli


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _init(*args: str) -> None:
    """The console script's entry point, while umask is 0 and chmod does nothing."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLEARANCE_")}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "chmod", lambda *args, **kwargs: None)
        old = os.umask(0)
        try:
            done = run_cli("init", *args, env=env)
        finally:
            os.umask(old)
    assert done.returncode == 0, done.stderr


def _private(home: Path) -> dict[str, int]:
    paths = [home, home / "keys", home / "blobs", home / "keys" / "audit-ed25519.pem"]
    return {str(p.relative_to(home.parent)): _mode(p) for p in paths}


@pytest.mark.parametrize("explicit_db", [False, True])
def test_init_creates_the_key_config_database_and_folders_private(
    tmp_path: Path, explicit_db: bool
) -> None:
    root = tmp_path / "ws"
    db = root / ".clearance" / "clearance.db"
    _init(str(root), *(["--db", f"sqlite:///{db}"] if explicit_db else []))
    home = root / ".clearance"
    modes = _private(home)
    modes[".clearance/clearance.db"] = _mode(db)
    if explicit_db:
        modes[".clearance/config.json"] = _mode(home / "config.json")
    expected = {name: 0o600 if "." in Path(name).name else 0o700 for name in modes}
    expected[".clearance"] = 0o700
    assert modes == expected


def test_the_database_and_its_wal_files_stay_private(tmp_path: Path) -> None:
    """SQLite makes -wal and -shm with the database file's mode; the file is made 0600."""
    old = os.umask(0)
    try:
        engine = make_engine(f"sqlite:///{tmp_path / 'new.db'}")
        with engine.connect() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
            conn.execute(text("INSERT INTO t VALUES (1)"))
            files = sorted(p.name for p in tmp_path.iterdir())
            modes = {p.name: _mode(p) for p in tmp_path.iterdir()}
    finally:
        os.umask(old)
    assert files == ["new.db", "new.db-shm", "new.db-wal"]
    assert modes == dict.fromkeys(files, 0o600)


def test_blobs_are_private(tmp_path: Path) -> None:
    from clearance.adapters.blobs import FileBlobStore

    source = tmp_path / "evidence.txt"
    source.write_text("confidential")
    old = os.umask(0)
    try:
        sha, _ = FileBlobStore(tmp_path / "blobs").put_file(source)
    finally:
        os.umask(old)
    blob = tmp_path / "blobs" / sha[:2] / sha[2:]
    assert (_mode(blob.parent.parent), _mode(blob.parent), _mode(blob)) == (0o700, 0o700, 0o600)
