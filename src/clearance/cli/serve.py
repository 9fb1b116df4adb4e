"""``clearance serve``: the team server (FastAPI under Uvicorn) over this workspace.

The server never migrates: it refuses to start (exit 2) while the database schema is not
the one this clearance needs, and says to run ``clearance db upgrade``. ``--db`` reaches
every worker process through ``CLEARANCE_DB_URL``; logs are JSON lines on stderr, each
request's carrying its request id; SIGTERM (or Ctrl-C) stops accepting connections, lets
the requests in flight finish (up to ``--graceful-timeout``) and exits 0.

The server runs the scheduled work itself (``tick``, every ``--schedule-every`` seconds, in
the one process that holds the ``scheduler`` lease in the database) and sends the alerts a
change records as soon as it commits; both reach the workers through the environment
(``CLEARANCE_SCHEDULE_EVERY``, ``CLEARANCE_PUSH_ALERTS``), see ``api/background.py``.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from types import FrameType
from typing import Any

import typer

from clearance.errors import InputError, StoreError
from clearance.extras import require

APP = "clearance.api.app:app_from_environment"
LEVELS = ("critical", "error", "warning", "info", "debug")
# What the API imports from the `server` extra (python-multipart parses the upload forms).
SERVER_LIBRARIES = ("fastapi", "uvicorn", "python_multipart", "prometheus_client")


def log_config(level: str) -> dict[str, Any]:
    """What ``clearance.api.logs.configure`` does, as a ``logging.config.dictConfig``.

    Uvicorn applies this in the supervisor and again in every worker process it spawns, so
    the workers of ``--workers N`` log JSON lines too (a call to ``configure`` in this
    process would not reach them).
    """
    handler = {"()": "clearance.cli.serve.json_handler", "formatter": "json"}
    quiet = {"handlers": [], "level": "CRITICAL", "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "clearance.api.logs.JsonFormatter"}},
        "handlers": {"stderr": handler},
        "loggers": {
            **{
                name: {"handlers": ["stderr"], "level": level.upper(), "propagate": False}
                for name in ("clearance", "uvicorn", "uvicorn.error", "py.warnings")
            },
            "uvicorn.access": quiet,  # the request log line of api/app.py replaces it
        },
    }


def json_handler() -> logging.Handler:
    """The stderr handler; Python warnings (e.g. deprecations) become JSON log lines too, so
    that every line the server writes parses as JSON."""
    logging.captureWarnings(True)
    return logging.StreamHandler(sys.stderr)


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    db: str | None = typer.Option(
        None,
        "--db",
        help="Database URL (default: $CLEARANCE_DB_URL, then the workspace's config).",
    ),
    workers: int = typer.Option(
        1, "--workers", min=1, help="Worker processes (use PostgreSQL for more than one)."
    ),
    log_level: str = typer.Option("info", "--log-level", help=f"One of {', '.join(LEVELS)}."),
    graceful_timeout: int = typer.Option(
        30,
        "--graceful-timeout",
        min=1,
        help="Seconds that requests in flight get to finish after SIGTERM.",
    ),
    schedule_every: int = typer.Option(
        60,
        "--schedule-every",
        min=1,
        max=86_400,
        help="Seconds between runs of the scheduled work (what `clearance tick` does).",
    ),
    no_scheduler: bool = typer.Option(
        False,
        "--no-scheduler",
        help="Do not run the scheduled work here (cron runs `clearance tick` instead).",
    ),
) -> None:
    """Run the team server (REST API, /healthz, /readyz, /metrics) over this workspace.

    The database schema must be current: run `clearance db upgrade` first; the server never
    migrates on its own. Every --schedule-every seconds the server runs the scheduled work
    (deadlines, the MLflow reconcile, alerts): of several server processes on one database,
    only the one holding the scheduler lease does. Alerts go out as soon as the change that
    raised them commits; `clearance tick` from cron still works beside it.
    """
    for library in SERVER_LIBRARIES:  # before any of them is imported: one clear message
        require(library, "`clearance serve`")
    import uvicorn

    from clearance.adapters.store import migrate
    from clearance.api.logs import LOGGER, configure, log
    from clearance.workspace import find_workspace

    level = log_level.lower()
    if level not in LEVELS:
        raise InputError(f"--log-level must be one of {', '.join(LEVELS)}, not '{log_level}'")
    if db:
        os.environ["CLEARANCE_DB_URL"] = db  # the workers read it (Workspace.db_url)
    every = 0 if no_scheduler else schedule_every
    os.environ["CLEARANCE_SCHEDULE_EVERY"] = str(every)  # the workers read these (api/app.py)
    os.environ["CLEARANCE_PUSH_ALERTS"] = "1"
    ws = find_workspace()
    os.environ["CLEARANCE_WORKSPACE"] = str(ws.root)  # the workers find the same one
    try:
        current, head = migrate.current_revision(ws.engine), migrate.head_revision()
    finally:
        where = ws.engine.url.render_as_string(hide_password=True)
        ws.engine.dispose()  # the workers open their own connections
    if current != head:
        found = "has no clearance schema" if current is None else f"is at revision {current}"
        raise StoreError(
            f"not starting: the database at {where} {found}, this clearance needs {head}; "
            "run `clearance db upgrade` first (the server never migrates on its own)"
        )
    configure(level)
    if workers > 1 and where.startswith("sqlite"):
        log(
            30,  # WARNING
            "several workers on SQLite take turns for every write; use PostgreSQL for a team",
            database=where,
        )
    log(
        20,  # INFO
        "starting",
        workspace=str(ws.root),
        database=where,
        schema=head,
        host=host,
        port=port,
        workers=workers,
        schedule_every=every or None,
    )
    stopping: list[int] = []

    def remember(sig: int, _frame: FrameType | None) -> None:
        # Uvicorn handles the signal (graceful shutdown), then re-raises it into the handler
        # it found: this one, so that a clean shutdown exits 0 instead of dying by signal.
        stopping.append(sig)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, remember)
    uvicorn.run(
        APP,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=log_config(level),
        log_level=level,
        access_log=False,
        timeout_graceful_shutdown=graceful_timeout,
        server_header=False,
    )
    LOGGER.info("stopped")
