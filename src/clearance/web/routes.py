"""The web pages: server-rendered HTML over the same use cases as the API.

Every page signs the browser's session in (``sessions.py``) and calls the use cases through
``LocalClearance`` acting as that user, as the API's routes do, so the roles, the two-person
rule and every other check are the API's own. Pages only read and arrange what the use cases
return (a model card's text too: ``evidence_content``, rendered by the safe Markdown subset
of ``markdown.py``).

Every response carries a strict Content-Security-Policy (no inline script or style at all);
Jinja2 escapes every value; state changes are POST forms with the session's CSRF token.
"""

from __future__ import annotations

import datetime as dt
import re
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from clearance.core import subjects
from clearance.core.durations import parse_duration
from clearance.core.engine import resolve_transition
from clearance.errors import (
    ClearanceError,
    InputError,
    NotFound,
    NotPermitted,
    Unauthenticated,
)
from clearance.local import LocalClearance
from clearance.problem_types import KINDS, Kind
from clearance.service.context import load_recorded
from clearance.service.records import User
from clearance.web import display, markdown
from clearance.web.sessions import (
    COOKIE,
    SIGNIN_COOKIE,
    Session,
    SessionKeeper,
    clear_cookie,
    new_signin_value,
    set_cookie,
)
from clearance.workspace import Workspace

HERE = FilePath(__file__).resolve().parent
STATIC = HERE / "static"
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
PAGE_SIZE = 25
EVENTS_PAGE = 50
TEXT = Annotated[str, Form(max_length=2000)]
TICKET = Annotated[str, Form(max_length=200)]
CSRF = Annotated[str, Form(max_length=128)]
T = TypeVar("T")
RequestId = Annotated[int, Path(ge=1, le=2**63 - 1)]  # a database integer, as on the API
# A path on this server to return to after sign-in: no scheme, no host, nothing a browser
# would strip or reinterpret (tabs, backslashes) into another origin.
_LOCAL_PATH = re.compile(r"/(?!/)[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*")
DONE = {"approved": "Your approval is recorded.", "rejected": "Your rejection is recorded."}

_env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"], default=True),
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,  # templates ship in the package: no stat per page
)
_env.filters.update(when=display.when, digest=display.digest)


class SignInNeeded(Exception):
    """No valid session: the browser goes to the sign-in page (and back after)."""


class Page:
    """One signed-in request: the user, their session and the use cases acting as them."""

    def __init__(self, request: Request, ws: Workspace, keeper: SessionKeeper) -> None:
        session = keeper.read(request)
        if session is None:
            raise SignInNeeded
        try:
            user, _ = ws.tokens.sign_in(session.token)
        except (Unauthenticated, NotPermitted) as exc:  # revoked, expired, disabled, no roles
            raise SignInNeeded from exc
        request.state.user = user.name
        self.request, self.ws, self.keeper = request, ws, keeper
        self.session: Session = session
        self.user: User = user
        self.clearance = LocalClearance(ws, user.name)

    def render(self, template: str, code: int = 200, **values: Any) -> Response:
        return render(
            self.request, template, code, user=self.user, csrf=self.session.csrf, **values
        )

    def check_csrf(self, presented: str) -> None:
        if not self.keeper.csrf_ok(self.session, presented):
            raise Forbidden("the form's CSRF token is missing or wrong; reload the page")


class Forbidden(Exception):
    """A refused form (CSRF): 403 with a page saying why."""


def render(request: Request, template: str, code: int = 200, **values: Any) -> Response:
    html = _env.get_template(template).render(request_path=request.url.path, **values)
    return secured(HTMLResponse(html, status_code=code))


def secured(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    return response


def _keeper(request: Request) -> SessionKeeper:
    keeper: SessionKeeper | None = getattr(request.app.state, "web_sessions", None)
    if keeper is None:
        keeper = SessionKeeper(request.app.state.workspace.home)
        request.app.state.web_sessions = keeper
    return keeper


def _page(request: Request) -> Page:
    return Page(request, request.app.state.workspace, _keeper(request))


def _safe_next(target: str | None) -> str:
    """Only a path on this server (no scheme, no host): no open redirect after sign-in."""
    return target if target and _LOCAL_PATH.fullmatch(target) else "/"


def _to_signin(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        target = request.headers.get("referer", "/")
        target = urllib.parse.urlsplit(target).path or "/"
    had = COOKIE in request.cookies  # a session that no longer holds, not a first visit
    query = urllib.parse.urlencode(
        {"next": _safe_next(target), **({"expired": "1"} if had else {})}
    )
    return secured(RedirectResponse(f"/signin?{query}", status_code=303))


def _guarded(request: Request, build: Callable[[Page], Response]) -> Response:
    """Run a page: sign-in first, then ``build``; errors become an HTML page with the
    status the API would give."""
    try:
        page = _page(request)
    except SignInNeeded:
        return _to_signin(request)
    except ClearanceError as exc:  # the session key unreadable, the store down
        kind = _kind(exc)
        return render(request, "error.html", kind.status, title=kind.title, message=str(exc))
    try:
        return build(page)
    except Forbidden as exc:
        return page.render("error.html", 403, title="Refused", message=str(exc))
    except ClearanceError as exc:
        kind = _kind(exc)
        return page.render("error.html", kind.status, title=kind.title, message=str(exc))


def _kind(exc: ClearanceError) -> Kind:
    """The status and title the API gives this error (``problem_types.KINDS``)."""
    return next(k for k in KINDS if isinstance(exc, k.error))  # ClearanceError is last


def _maybe(call: Callable[[], T]) -> T | None:
    try:
        return call()
    except NotFound:
        return None


router = APIRouter(include_in_schema=False)


# sign-in ------------------------------------------------------------------------------------
@router.get("/signin")
def signin_form(
    request: Request,
    next: Annotated[str, Query(max_length=2000)] = "/",
    expired: Annotated[str, Query(max_length=8)] = "",
) -> Response:
    value = new_signin_value()
    message = "Your session has expired or is no longer valid; sign in again." if expired else ""
    response = render(
        request, "signin.html", next=_safe_next(next), csrf=value, message=message, user=None
    )
    set_cookie(response, request, SIGNIN_COOKIE, value, 600)
    return response


@router.post("/signin")
def signin(
    request: Request,
    token: Annotated[str, Form(max_length=200)] = "",
    csrf: CSRF = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    expected = request.cookies.get(SIGNIN_COOKIE, "")
    if not expected or not csrf or not _same(expected, csrf):
        return render(
            request,
            "error.html",
            403,
            title="Refused",
            message="the sign-in form's CSRF token is missing or wrong; reload the page",
            user=None,
        )
    ws: Workspace = request.app.state.workspace
    try:
        keeper = _keeper(request)
        user, _ = ws.tokens.sign_in(token.strip())
    except ClearanceError as exc:
        value = new_signin_value()
        response = render(
            request,
            "signin.html",
            401,
            next=_safe_next(next),
            csrf=value,
            message=f"Sign-in refused: {exc}",
            user=None,
        )
        set_cookie(response, request, SIGNIN_COOKIE, value, 600)
        return response
    request.state.user = user.name
    response = secured(RedirectResponse(_safe_next(next), status_code=303))
    set_cookie(response, request, COOKIE, keeper.issue(token.strip()), keeper.seconds)
    clear_cookie(response, request, SIGNIN_COOKIE)
    return response


@router.post("/signout")
def signout(request: Request, csrf: CSRF = "") -> Response:
    def build(page: Page) -> Response:
        page.check_csrf(csrf)
        response = secured(RedirectResponse("/signin", status_code=303))
        clear_cookie(response, request, COOKIE)
        return response

    return _guarded(request, build)


def _same(a: str, b: str) -> bool:
    import hmac

    return hmac.compare_digest(a.encode(), b.encode())


# 1. inventory -------------------------------------------------------------------------------
@router.get("/")
def inventory(
    request: Request,
    risk_tier: Annotated[str, Query(max_length=64)] = "",
    team: Annotated[str, Query(max_length=200)] = "",
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> Response:
    def build(page: Page) -> Response:
        c = page.clearance
        found = c.model_page(
            risk_tier=risk_tier or None, team=team or None, limit=PAGE_SIZE, offset=offset
        )
        rows = [
            {"summary": m, "stage": m.latest_stage or "", "compliance": m.compliance}
            for m in found.items
        ]
        total = found.total if found.total is not None else offset + len(found.items)
        return page.render(
            "inventory.html",
            rows=rows,
            risk_tier=risk_tier,
            team=team,
            offset=offset,
            total=total,
            page_size=PAGE_SIZE,
            more=found.next is not None,
        )

    return _guarded(request, build)


# 2. model -----------------------------------------------------------------------------------
@router.get("/models/{model}")
def model_page(
    request: Request,
    model: Annotated[str, Path(max_length=200)],
    version: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    def build(page: Page) -> Response:
        c = page.clearance
        status = c.model(model)
        versions = c.versions(model)
        chosen = next((v for v in versions if v.version == version), None)
        if version and chosen is None:
            raise NotFound(f"model {model} has no version {version}")
        chosen = chosen or (versions[-1] if versions else None)
        events = c.history(model)  # one read: the timeline's stage changes and recent events
        serving = c.serving(model)
        champion = next((v for v in versions if v.version == serving.champion), None)
        champion_metrics = (champion.record.get("metrics") or {}) if champion else {}
        evidence, documents = [], []
        if chosen is not None:
            evidence = c.evidence(model, chosen.version)
            documents = [
                _document(c, model, chosen.version, e) for e in evidence if _is_markdown(e)
            ]
        return page.render(
            "model.html",
            status=status,
            versions=versions,
            chosen=chosen,
            champion=champion,
            metrics=_metric_rows(versions, champion_metrics),
            evidence=evidence,
            documents=documents,
            serving=serving,
            rollout=_maybe(lambda: c.rollout_status(model)),
            stages=_stages(status),
            timeline=timeline(status, events),
            history=events[-20:],
        )

    return _guarded(request, build)


STAGE_ACTIONS = ("version.registered", "version.stage_changed")


def timeline(status: Any, events: list[Any]) -> list[dict[str, Any]]:
    """Each version's stage history (registration, then every stage change with its time and
    actor), from the model's audit events; versions in the status's order."""
    by_subject = {subjects.version(status.model, v.version): v.version for v in status.versions}
    changes: dict[str, list[dict[str, Any]]] = {v.version: [] for v in status.versions}
    for e in events:
        version = by_subject.get(e.subject)
        if version is None or e.action not in STAGE_ACTIONS:
            continue
        payload = e.payload
        if e.action == "version.registered":
            to, came = payload.get("stage", ""), ""
        else:
            to, came = payload.get("to", ""), payload.get("from", "")
        note = "rollback" if payload.get("rollback") else ""
        if payload.get("replaced_by"):
            note = f"replaced by {payload['replaced_by']}"
        elif payload.get("request"):
            note = f"request {payload['request']}"
        changes[version].append(
            {
                "time": e.time.strftime("%Y-%m-%d %H:%M UTC"),
                "actor": e.actor,
                "from": came,
                "to": to,
                "note": note,
            }
        )
    return [{"version": v, "changes": changes[v.version]} for v in status.versions]


def _stages(status: Any) -> list[str]:
    seen: list[str] = []
    for v in status.versions:
        if v.stage not in seen:
            seen.append(v.stage)
    order = ["draft", "staging", "production", "deprecated", "archived"]
    return sorted(seen, key=lambda s: order.index(s) if s in order else len(order))


def _metric_rows(versions: list[Any], champion: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for v in versions:
        metrics = v.record.get("metrics") or {}
        cells = {}
        for name, value in metrics.items():
            base = champion.get(name)
            delta = None
            if isinstance(value, int | float) and isinstance(base, int | float):
                delta = value - base
            cells[name] = {"value": value, "delta": delta}
        rows.append({"version": v.version, "stage": v.stage, "cells": cells})
    return rows


def _is_markdown(stored: Any) -> bool:
    item = stored.item
    return bool(
        stored.stored
        and item.sha256
        and item.kind == "document"
        and item.uri.lower().endswith((".md", ".markdown"))
    )


def _document(c: LocalClearance, model: str, version: str, stored: Any) -> dict[str, Any]:
    """An evidence document's text (the contract's read), rendered safely; or why it cannot
    be shown as text here (content missing, too large, not UTF-8)."""
    name = stored.item.name
    try:
        doc = c.evidence_content(model, version, name)
    except InputError as exc:  # NotFound is one too
        return {"name": name, "html": None, "note": str(exc)}
    return {"name": name, "html": markdown.render(doc.text, shift=4), "note": ""}


# 3. request ---------------------------------------------------------------------------------
@router.get("/requests/{request_id}")
def request_page(
    request: Request, request_id: RequestId, done: Literal["approved", "rejected", ""] = ""
) -> Response:
    notice = DONE.get(done, "")
    return _guarded(request, lambda page: _request_view(page, request_id, notice=notice))


def _request_view(page: Page, request_id: int, *, replay: Any = None, notice: str = "") -> Response:
    c = page.clearance
    detail = c.request(request_id)
    decision = detail.latest_decision
    can_sign = signable_roles(page.user, detail)
    return page.render(
        "request.html",
        detail=detail,
        decision=decision,
        gates=ordered_gates(decision.gates) if decision else [],
        can_sign=can_sign,
        own=detail.requester == page.user.name,
        replay=replay,
        notice=notice,
        sla=_sla(page, detail),
    )


_RANK = {"error": 0, "fail": 1, "warn": 2, "pass": 4, "skipped": 5}


def ordered_gates(gates: list[Any]) -> list[Any]:
    """Blocking gates first, then warnings and near misses: what needs action on top."""

    def rank(g: Any) -> tuple[int, int]:
        status = getattr(g.status, "value", g.status)
        near = 3 if g.near_miss and status == "pass" else _RANK.get(status, 6)
        return (near, 0)

    return sorted(gates, key=rank)


def signable_roles(user: User, detail: Any) -> list[str]:
    """The roles in which ``user`` may still sign ``detail`` off: an open request, not
    their own, a required role not yet satisfied. The use case checks again on POST."""
    decision = detail.latest_decision
    if detail.status not in ("pending", "blocked") or decision is None:
        return []
    if detail.requester == user.name:
        return []
    pending = {r.role for r in decision.approvals.roles if not r.satisfied}
    return sorted(pending & set(user.roles))


@router.post("/requests/{request_id}/approve")
def approve(
    request: Request, request_id: RequestId, reason: TEXT = "", ticket: TICKET = "", csrf: CSRF = ""
) -> Response:
    def build(page: Page) -> Response:
        page.check_csrf(csrf)
        page.clearance.approve(request_id, reason=reason, ticket=ticket)
        return _after(request_id, "approved")

    return _guarded(request, build)


@router.post("/requests/{request_id}/reject")
def reject(
    request: Request, request_id: RequestId, reason: TEXT = "", ticket: TICKET = "", csrf: CSRF = ""
) -> Response:
    def build(page: Page) -> Response:
        page.check_csrf(csrf)
        if not reason.strip():
            raise InputError("a rejection needs a reason the requester can act on")
        page.clearance.reject(request_id, reason=reason, ticket=ticket)
        return _after(request_id, "rejected")

    return _guarded(request, build)


@router.post("/requests/{request_id}/replay")
def replay(request: Request, request_id: RequestId, csrf: CSRF = "") -> Response:
    def build(page: Page) -> Response:
        page.check_csrf(csrf)
        detail = page.clearance.request(request_id)
        if detail.decision is None:
            raise NotFound(f"request {request_id} has no decision to replay")
        report = page.clearance.replay(detail.decision)
        return _request_view(page, request_id, replay=report)

    return _guarded(request, build)


def _after(request_id: int, done: str) -> Response:
    """Post/redirect/get: the request page again, saying what was recorded."""
    return secured(RedirectResponse(f"/requests/{request_id}?done={done}", status_code=303))


def _sla(page: Page, detail: Any, policies: dict[tuple[str, str], Any] | None = None) -> Any:
    """How long the request has waited against its transition's approval SLA
    (``policies``: the policy records read so far on this page, by name and version)."""
    decision = detail.latest_decision
    created = dt.datetime.fromisoformat(detail.created_at)
    if created.tzinfo is None:
        created = created.replace(tzinfo=dt.UTC)
    age = page.ws.clock.now() - created
    limit = None
    if decision is not None:
        key = (decision.policy, decision.policy_version)
        known = {} if policies is None else policies
        if key not in known:
            known[key] = _maybe(lambda: page.clearance.policy(*key))
        record = known[key]
        if record is not None:
            try:
                transition = resolve_transition(load_recorded(record), detail.from_stage, detail.to)
                limit = transition.approval_sla
            except ClearanceError:
                limit = None
    late = limit is not None and age > parse_duration(limit)
    return {"age": _age(age), "limit": limit, "late": late}


def _age(delta: dt.timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m"


# 4. my queue --------------------------------------------------------------------------------
@router.get("/queue")
def queue(request: Request, cursor: Annotated[str, Query(max_length=500)] = "") -> Response:
    """A page of the open requests waiting for the user's sign-off, oldest first (the
    ``approval_queue`` use case: requests read in chunks, not one by one)."""

    def build(page: Page) -> Response:
        found = page.clearance.queue_page(limit=PAGE_SIZE, cursor=cursor or None)
        waiting = [
            {
                "detail": item.request,
                "roles": item.roles,
                "sla": {
                    "age": _age(dt.timedelta(seconds=item.age_seconds)),
                    "limit": item.approval_sla,
                    "late": item.overdue,
                },
            }
            for item in found.items
        ]
        return page.render("queue.html", waiting=waiting, next=found.next, first=not cursor)

    return _guarded(request, build)


# 5. analytics ------------------------------------------------------------------------------
TOP_GATES = 10  # bars in "which gate blocks most"
TREND_GATES = 5  # lines in the pass-rate chart


@router.get("/analytics")
def analytics(
    request: Request,
    model: Annotated[str, Query(max_length=200)] = "",
    policy: Annotated[str, Query(max_length=200)] = "",
    bucket: Literal["day", "week"] = "week",
) -> Response:
    def build(page: Page) -> Response:
        read = page.clearance.analytics
        figures = read(model=model or None, policy=policy or None, bucket=bucket)
        return page.render(
            "analytics.html", model=model, policy=policy, bucket=bucket, **analytics_view(figures)
        )

    return _guarded(request, build)


def analytics_view(figures: Any) -> dict[str, Any]:
    """The analytics page's charts (SVG, escaped by ``svg_charts``) and tables."""
    from clearance.reporters import svg_charts

    blocking = [g for g in figures.gates if g.failed][:TOP_GATES]
    bars = svg_charts.bar_chart(
        "Blocking results per gate (fail or error), most first",
        [(f"{g.gate_id} ({g.policy})", float(g.failed)) for g in blocking],
    )
    trend_ids = [(g.policy, g.gate_id) for g in figures.gates[:TREND_GATES]]
    series = {(s.policy, s.gate_id): s for s in figures.gate_series}
    chosen = [series[k] for k in trend_ids if k in series]
    labels = [b.start.isoformat() for b in chosen[0].buckets] if chosen else []
    trend = svg_charts.line_chart(
        "Pass rate per gate over time",
        labels,
        [(s.gate_id, [b.pass_rate for b in s.buckets]) for s in chosen],
        y_max=1.0,
        percent=True,
    )
    outcomes = []
    for p in figures.policies:
        outcomes.append(
            {
                "policy": p.policy,
                "chart": Markup(
                    svg_charts.stacked_bars(
                        f"Decisions under {p.policy}: allowed (bottom) and denied (top)",
                        [b.start.isoformat() for b in p.buckets],
                        [b.allow for b in p.buckets],
                        [b.deny for b in p.buckets],
                    )
                ),
                "row": p,
            }
        )
    return {
        "figures": figures,
        "blocking_chart": Markup(bars),
        "trend_chart": Markup(trend),
        "outcomes": outcomes,
        "span": _span,
    }


def _span(seconds: float | None) -> str:
    """A duration for people: minutes, hours or days."""
    if seconds is None:
        return "—"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


# 6. audit -----------------------------------------------------------------------------------
@router.get("/audit")
def audit(
    request: Request,
    model: Annotated[str, Query(max_length=200)] = "",
    action: Annotated[str, Query(max_length=100)] = "",
    actor: Annotated[str, Query(max_length=100)] = "",
    after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
    verify: Annotated[str, Query(max_length=8)] = "",
) -> Response:
    def build(page: Page) -> Response:
        c = page.clearance
        found = c.audit_page(after=after, limit=EVENTS_PAGE * 4, model=model or None)
        events = [
            e
            for e in found.items
            if (not action or e.action == action) and (not actor or e.actor == actor)
        ][:EVENTS_PAGE]
        nxt = events[-1].seq if len(events) == EVENTS_PAGE else found.next_after
        report = c.verify_audit() if verify else None
        return page.render(
            "audit.html",
            events=events,
            model=model,
            action=action,
            actor=actor,
            after=after,
            next_after=nxt,
            report=report,
            checkpoints=c.checkpoints()[-10:],
        )

    return _guarded(request, build)


@router.get("/audit/download")
def audit_download(
    request: Request,
    format: Literal["jsonl", "csv"] = "jsonl",
    model: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    def build(page: Page) -> Response:
        lines: Iterator[str] = page.clearance.export_audit(format, model=model or None)
        first = next(lines, None)  # bad input fails here, before the status line is sent
        media = "text/csv; charset=utf-8" if format == "csv" else "application/x-ndjson"
        name = f"audit-{'model' if model else 'all'}.{format}"

        def body() -> Iterator[str]:
            if first is not None:
                yield first
            yield from lines

        return secured(
            StreamingResponse(
                body(),
                media_type=media,
                headers={"Content-Disposition": f'attachment; filename="{name}"'},
            )
        )

    return _guarded(request, build)
