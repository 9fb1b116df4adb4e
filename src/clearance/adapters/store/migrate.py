"""Schema migrations: ``clearance db upgrade`` runs them; nothing runs them silently.

The store checks the schema revision when it opens and refuses an out-of-date database
with the exact command to run.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import OperationalError

from clearance.errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "alembic_version"


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


@functools.cache
def head_revision() -> str:
    """The newest migration, read from the files' ``revision``/``down_revision`` assignments.

    Every command checks the schema when it opens the store, and Alembic's own script loader
    costs more than the command; tests hold this equal to Alembic's answer.
    """
    revisions: dict[str, str | None] = {}
    for path in sorted((MIGRATIONS / "versions").glob("*.py")):
        values = _assignments(path, ("revision", "down_revision"))
        revisions[str(values["revision"])] = values["down_revision"]
    heads = set(revisions) - set(revisions.values())
    if len(heads) != 1:
        raise StoreError(f"migrations have {len(heads)} heads; merge them into one")
    return heads.pop()


def _assignments(path: Path, names: tuple[str, ...]) -> dict[str, str | None]:
    """The module-level ``names = literal`` assignments of a migration. Only the lines that
    start with one of the names are parsed (the rest of the file is the migration's code),
    unless a value runs over several lines."""
    text = path.read_text(encoding="utf-8")
    try:
        tree = ast.parse("\n".join(line for line in text.splitlines() if line.startswith(names)))
    except SyntaxError:
        tree = ast.parse(text)
    found: dict[str, str | None] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and target.id in names and node.value:
                    found[target.id] = ast.literal_eval(node.value)
    return found


def current_revision(engine: Engine) -> str | None:
    with reachable(engine), engine.connect() as conn:
        if not inspect(conn).has_table(VERSION_TABLE):
            return None
        rows = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    if len(rows) > 1:
        raise StoreError(f"the database records {len(rows)} schema heads; expected one")
    return rows[0] if rows else None


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    config = alembic_config()
    with reachable(engine), engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


@contextmanager
def reachable(engine: Engine) -> Iterator[None]:
    """Turn 'cannot connect' into one line that names the database (password hidden)."""
    try:
        yield
    except OperationalError as exc:
        where = engine.url.render_as_string(hide_password=True)
        first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise StoreError(f"cannot use the database at {where}: {first}") from None


def require_current(engine: Engine) -> None:
    """Refuse to work on a database whose schema is not the one this code expects."""
    current, head = current_revision(engine), head_revision()
    if current == head:
        return
    if current is None:
        raise StoreError(
            f"the database at {engine.url.render_as_string(hide_password=True)} has no "
            "clearance schema; run `clearance init` (or `clearance db upgrade`)"
        )
    raise StoreError(
        f"the database schema is at revision {current}, this clearance needs {head}; "
        "run `clearance db upgrade`"
    )
