"""The team server: FastAPI over the same service layer as the CLI.

Stateless: every request opens its own transaction on the shared database, so several
server processes can share one PostgreSQL database and the store's invariants still hold.
Nothing migrates at request time; ``/readyz`` says when ``clearance db upgrade`` is due.
Under ``clearance serve`` the app also runs the scheduled work and pushes alerts as changes
commit (``api/background.py``), started and stopped with the app's lifespan.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from clearance import __version__
from clearance.adapters.store import migrate
from clearance.api import contract_routes, problems
from clearance.api.background import BEATS_PER_LEASE, LEASE, Background, holder_name
from clearance.api.deps import UserDep
from clearance.api.logs import log
from clearance.api.metrics import Metrics
from clearance.api.routes import access, audit, mlflow, registry
from clearance.api.uploads import remove_stale_staging
from clearance.errors import InputError
from clearance.service.leader import Leadership
from clearance.web import install as _install_web
from clearance.workspace import Workspace

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
SWAGGER_UI = Path(__file__).resolve().parent / "static" / "swagger-ui"  # vendored, see VERSION
# /docs loads only what this server serves (the page's own start-up script is inline).
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"
)


@dataclass(frozen=True)
class Settings:
    """Server limits; each can be set with the environment variable named beside it."""

    max_upload_bytes: int = 1 << 30  # CLEARANCE_MAX_UPLOAD_BYTES: one uploaded file
    max_document_bytes: int = 4 << 20  # CLEARANCE_MAX_DOCUMENT_BYTES: a policy file or manifest
    max_request_bytes: int = 4 << 30  # CLEARANCE_MAX_REQUEST_BYTES: a whole upload request
    # CLEARANCE_SCHEDULE_EVERY: seconds between scheduled ticks (0: no scheduler)
    schedule_every: float = 0.0
    push_alerts: bool = False  # CLEARANCE_PUSH_ALERTS=1: send alerts as soon as changes commit

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> Settings:
        values: dict[str, Any] = _background_settings(env)
        for name in ("max_upload_bytes", "max_document_bytes", "max_request_bytes"):
            variable = f"CLEARANCE_{name.upper()}"
            raw = env.get(variable)
            if raw is None:
                continue
            if not raw.strip().isdigit() or int(raw) < 1:
                raise InputError(f"{variable} must be a positive number of bytes, not '{raw}'")
            values[name] = int(raw)
        return cls(**values)


def _background_settings(env: Mapping[str, str]) -> dict[str, Any]:
    """What ``clearance serve`` passes its workers for the background work (unset: none)."""
    values: dict[str, Any] = {}
    raw = env.get("CLEARANCE_SCHEDULE_EVERY", "").strip()
    if raw:
        try:
            every = float(raw)
        except ValueError:
            every = -1.0
        if not (every == 0 or 1 <= every <= 86_400):
            raise InputError(
                f"CLEARANCE_SCHEDULE_EVERY must be 0 (off) or 1 to 86400 seconds, not '{raw}'"
            )
        values["schedule_every"] = every
    push = env.get("CLEARANCE_PUSH_ALERTS", "").strip()
    if push not in ("", "0", "1"):
        raise InputError(f"CLEARANCE_PUSH_ALERTS must be 0 or 1, not '{push}'")
    values["push_alerts"] = push == "1"
    return values


def start_background(ws: Workspace, settings: Settings, metrics: Metrics) -> Background | None:
    """Start the scheduler and the pusher the settings ask for (None: neither)."""
    if not settings.schedule_every and not settings.push_alerts:
        return None
    leadership = None
    if settings.schedule_every:
        ttl = dt.timedelta(seconds=settings.schedule_every * BEATS_PER_LEASE)
        leadership = Leadership(ws.leases, ws.clock, LEASE, holder_name(), ttl)
    background = Background(
        tick=lambda: ws.scheduler.tick(operator=True),
        leadership=leadership,
        every=settings.schedule_every,
        push=ws.send_alerts if settings.push_alerts else None,
        metrics=metrics,
    )
    background.start()
    return background


def create_app(ws: Workspace, settings: Settings | None = None) -> FastAPI:
    app = FastAPI(
        title="clearance",
        version=__version__,
        description=(
            "Policy-as-code clearance for ML model versions: quality gates, sign-offs, "
            "waivers, rollouts and a tamper-evident audit trail. Authenticate with "
            "`Authorization: Bearer <token>` (`clearance token create`); errors are "
            "RFC 9457 problem+json."
        ),
        docs_url=None,  # served below from the package: the page must work offline
        redoc_url=None,
        lifespan=_lifespan,
    )
    app.state.workspace = ws
    app.state.settings = settings or Settings()
    app.state.metrics = Metrics(ws)
    app.state.background = None  # started with the lifespan, if the settings ask
    problems.install(app)
    app.middleware("http")(_push_after_writes)
    app.middleware("http")(_refuse_nul)
    app.middleware("http")(_observe)

    @app.get("/healthz", tags=["operations"], summary="The process is up (no database check).")
    async def healthz() -> dict[str, str]:  # on the event loop: never queued behind gates
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["operations"],
        summary="The database answers and its schema is current.",
        responses=problems.responses(503),
    )
    def readyz(request: Request) -> Response:
        try:
            current, head = migrate.current_revision(ws.engine), migrate.head_revision()
        except Exception as exc:  # any failure to reach the database means not ready
            return problems.store_down(request, f"readiness check: {exc}")
        if current != head:
            return problems.problem_response(
                request,
                503,
                f"database schema is at {current}, the server needs {head}; "
                "run `clearance db upgrade`",
            )
        return Response('{"status":"ready"}', media_type="application/json")

    @app.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics (text exposition format).",
        response_class=Response,
        responses={
            **problems.responses(401),
            200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}},
        },
    )
    def metrics(user: UserDep, request: Request) -> Response:
        data = generate_latest(request.app.state.metrics.registry)
        return Response(data, media_type=CONTENT_TYPE_LATEST)

    app.mount("/static/swagger-ui", StaticFiles(directory=SWAGGER_UI), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    def docs() -> Response:
        page = get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="clearance API",
            swagger_js_url="/static/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/swagger-ui/favicon-32x32.png",
        )
        page.headers["Content-Security-Policy"] = DOCS_POLICY
        return page

    for module in (registry, access, audit, mlflow):
        app.include_router(module.router, prefix="/v1")
    app.include_router(contract_routes.router(), prefix="/v1")
    _install_web(app)  # the pages at /, over the same use cases (docs/web.md)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    state = app.state
    state.background = start_background(state.workspace, state.settings, state.metrics)
    try:
        yield
    finally:
        background, state.background = state.background, None
        if background is not None:
            background.stop()


READS = frozenset({"GET", "HEAD", "OPTIONS"})


async def _push_after_writes(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """After a request that may have written (its work committed by now: a use case commits
    its own transaction, an idempotent call commits before it answers), poke the pusher: the
    alerts it recorded go out at once, without waiting for the next tick."""
    response = await call_next(request)
    background: Background | None = request.app.state.background
    if background is not None and request.method not in READS:
        background.poke()
    return response


def route_template(request: Request) -> str:
    """The matched route's template with its router prefix (``/v1/requests/{request_id}``):
    a bounded label set for the metrics, whatever the ids in the paths."""
    route = request.scope.get("route")
    template = getattr(route, "path", None)
    if not isinstance(template, str):
        return "unmatched"
    path: str = request.scope.get("path", "")
    try:
        inner = template.format(**request.scope.get("path_params", {}))
    except (KeyError, IndexError, ValueError):
        return template
    return path[: len(path) - len(inner)] + template if path.endswith(inner) else template


async def _observe(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Request id, JSON request log line, and the request metrics."""
    incoming = request.headers.get("x-request-id", "")
    request_id = incoming if REQUEST_ID.match(incoming) else uuid.uuid4().hex
    request.state.request_id = request_id
    started = time.perf_counter()
    status = 500
    try:
        response = await call_next(request)
        status = response.status_code
    except Exception:
        log(
            logging.ERROR,
            "request failed",
            exc_info=True,
            request_id=request_id,
            path=request.url.path,
        )
        raise
    finally:
        elapsed = time.perf_counter() - started
        route = route_template(request)
        metrics: Metrics = request.app.state.metrics
        metrics.requests.labels(request.method, route, str(status)).inc()
        metrics.latency.labels(request.method, route).observe(elapsed)
        log(
            logging.INFO,
            "request",
            request_id=request_id,
            method=request.method,
            path=request.url.path,
            route=route,
            status=status,
            duration_ms=round(elapsed * 1000, 2),
            user=getattr(request.state, "user", None),
        )
    response.headers["X-Request-ID"] = request_id
    return response


async def _refuse_nul(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """A NUL character in the path or the query is refused (422) before any handler runs:
    no database stores one in text, and PostgreSQL fails on it instead of answering."""
    in_path = "\x00" in request.scope.get("path", "")
    in_query = any("\x00" in k + v for k, v in request.query_params.multi_items())
    if in_path or in_query:
        where = "path" if in_path else "query"
        return problems.problem_response(
            request,
            422,
            f"the {where} contains a NUL character",
            slug="invalid-input",
            errors=[problems.FieldProblem(field=where, message="NUL character")],
        )
    return await call_next(request)


def app_from_environment() -> FastAPI:
    """The app for ``uvicorn --factory``: the workspace from $CLEARANCE_WORKSPACE or the
    current folder, the database from --db ($CLEARANCE_DB_URL) or the workspace's config."""
    from clearance.workspace import find_workspace

    ws = find_workspace()
    ws.pooled = True
    settings = Settings.from_environment(os.environ)
    remove_stale_staging()  # what a killed server process left in the temp folder
    app = create_app(ws, settings)
    warm_analytics(ws)
    return app


def warm_analytics(ws: Workspace) -> threading.Thread:
    """Read the stored decisions into this process's analytics memo in a daemon thread, so
    that no request pays the first read (seconds over 100k decisions). Each worker process
    of ``--workers N`` keeps its own memo and warms it; a failure is logged, never raised
    (the first request then reads as it would have)."""
    service = ws.analytics  # made here: the thread and the requests share one store and memo

    def warm() -> None:
        started = time.perf_counter()
        try:
            kept = service.warm()
        except Exception:  # the database not reachable yet, say: requests report it
            log(logging.WARNING, "analytics warm-up failed", exc_info=True)
            return
        log(
            logging.INFO,
            "analytics warmed",
            decisions=kept,
            seconds=round(time.perf_counter() - started, 3),
        )

    thread = threading.Thread(target=warm, name="analytics-warm", daemon=True)
    thread.start()
    return thread
