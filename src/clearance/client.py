"""The Python SDK: ``clearance.Client`` talks to a team server (``clearance serve``).

It returns the same types the service layer returns locally (``VersionRecord``,
``RequestResult``, ...) and raises the same exceptions (``NotPermitted``, ``NotFound``, ...),
so code written against a local workspace reads the same against the server. Dict-shaped
views (status, requests) stay plain dicts, as they are locally.

Retries are safe by construction: only connection failures, problems whose type the server's
table marks retryable (a store outage, an idempotency key whose first call is still running;
``problem_types.py``) and a proxy's bare 502/503/504 are retried, and only for methods that
are idempotent by HTTP (GET, PUT, DELETE) or calls carrying an ``Idempotency-Key``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import os
import random
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal, Self, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from clearance import problem_types
from clearance.core.audit import (
    AuditEvent,
    BlobFault,
    ChainFault,
    StateDifference,
    VerifyReport,
)
from clearance.core.loading import read_policy_files
from clearance.core.results import Decision
from clearance.core.rollout import Verdict
from clearance.core.version import EvidenceItem, EvidenceKind
from clearance.errors import (
    ClearanceError,
    InputError,
    Location,
    ManifestError,
    NotFound,
    NotPermitted,
    PolicyError,
    Problem,
    StoreConflict,
    StoreError,
    Unauthenticated,
)
from clearance.manifest import file_sha256, local_files
from clearance.service.promotion import RequestResult
from clearance.service.records import (
    CheckpointRecord,
    DecisionRecord,
    PolicyRecord,
    RequestRecord,
    ReviewRecord,
    RolloutRecord,
    StoredEvidence,
    TickSummary,
    TokenRecord,
    User,
    VersionRecord,
    WaiverRecord,
)
from clearance.service.replay import ReplayReport

__all__ = ["Client"]

M = TypeVar("M", bound=BaseModel)
D = TypeVar("D")

IDEMPOTENCY_HEADER = "Idempotency-Key"
PROBLEM = "urn:clearance:problem:"
RETRY_STATUSES = frozenset({502, 503, 504})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
PAGE_SIZE = 500  # the server's maximum: fewer round trips when iterating everything

_BY_STATUS: dict[int, type[ClearanceError]] = {
    401: Unauthenticated,
    403: NotPermitted,
    404: NotFound,
    409: StoreConflict,
}
_LOCATED = re.compile(r"^(?P<file>.+?)(?::(?P<line>\d+)(?::(?P<column>\d+))?)?(?: (?P<field>.+))?$")


class Client:
    """A connection to a clearance server, acting as the user its API token belongs to.

    ``url`` and ``token`` default to ``$CLEARANCE_URL`` and ``$CLEARANCE_TOKEN`` so a CI job
    or a training script carries no secret in its code. Use it as a context manager (or call
    ``close``) to release the connection pool. ``transport`` replaces the network (tests use
    ``httpx.MockTransport``).
    """

    backoff = 0.5  # seconds before the first retry; doubles each time, with jitter

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 30,
        retries: int = 3,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        base = url or os.environ.get("CLEARANCE_URL", "")
        if not base:
            raise InputError("no server URL: pass Client(url=...) or set CLEARANCE_URL")
        secret = token or os.environ.get("CLEARANCE_TOKEN", "")
        if not secret:
            raise Unauthenticated(
                "no API token: pass Client(token=...) or set CLEARANCE_TOKEN "
                "(create one with `clearance token create`)"
            )
        if retries < 0:
            raise InputError(f"retries must be 0 or more, not {retries}")
        self.url = base.rstrip("/")
        self.retries = retries
        self._http = httpx.Client(
            base_url=self.url,
            timeout=timeout,
            transport=transport,
            headers={
                "Authorization": f"Bearer {secret}",
                "Accept": "application/json",
                "User-Agent": f"clearance-sdk/{_version()}",
            },
        )

    def __repr__(self) -> str:  # never the token
        return f"Client({self.url!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # users and tokens ----------------------------------------------------------------------
    def me(self) -> User:
        """The user this client's token acts for (a cheap check that the token works)."""
        return _model(User, self._get("/v1/me"))

    def users(self) -> list[User]:
        return _models(User, self._items("/v1/users"))

    def add_user(self, name: str, roles: Sequence[str]) -> User:
        return _model(User, self._post("/v1/users", json={"name": name, "roles": list(roles)}))

    def set_roles(self, name: str, roles: Sequence[str]) -> User:
        """Replace ``name``'s roles (PUT: safe to retry)."""
        body = self._call("PUT", f"/v1/users/{_seg(name)}/roles", json={"roles": list(roles)})
        return _model(User, body.json())

    def set_disabled(self, name: str, disabled: bool) -> User:
        """Disable ``name`` (revokes their tokens, refuses sign-in) or enable them (PUT)."""
        body = self._call("PUT", f"/v1/users/{_seg(name)}/disabled", json={"disabled": disabled})
        return _model(User, body.json())

    def create_token(
        self, user: str | None = None, *, name: str = "", expires_in: str | None = None
    ) -> tuple[TokenRecord, str]:
        """A new token (for yourself, or for ``user`` as an admin); the secret is shown once."""
        payload: dict[str, Any] = {"name": name} if name else {}
        if user is not None:
            payload["user"] = user
        if expires_in is not None:
            payload["expires_in"] = expires_in
        data = self._post("/v1/tokens", json=payload)
        return _model(TokenRecord, data["token"]), str(data["secret"])

    def tokens(self, user: str | None = None) -> list[TokenRecord]:
        return _models(TokenRecord, self._items("/v1/tokens", {"user": user}))

    def revoke_token(self, token_id: int) -> TokenRecord:
        return _model(TokenRecord, self._call("DELETE", f"/v1/tokens/{token_id}").json())

    # policies, models, versions, evidence --------------------------------------------------
    def apply_policy(self, path: str | Path) -> tuple[PolicyRecord, bool]:
        """Apply a policy file, or every ``*.yaml``/``*.yml`` under a folder (as locally).

        Returns the record and whether it is new (False: that exact version was applied).
        """
        root = Path(path)
        documents = read_policy_files(root)  # the same files, and errors, as the CLI
        files = [
            (
                "files",
                (
                    Path(name).name if root.is_file() else Path(name).relative_to(root).as_posix(),
                    text.encode("utf-8"),
                    "application/yaml",
                ),
            )
            for name, text in documents
        ]
        response = self._call("POST", "/v1/policies", files=lambda _: files)
        return _model(PolicyRecord, response.json()), response.status_code == 201

    def policies(self, name: str | None = None) -> list[PolicyRecord]:
        return _models(PolicyRecord, self._items("/v1/policies", {"name": name}))

    def register(
        self, manifest_path: str | Path, *, idempotency_key: str | None = None
    ) -> VersionRecord:
        """Register the version a manifest describes, uploading every file it names.

        The manifest is validated here first (the same ``ManifestError`` as locally, before
        any upload). One idempotency key per call makes the upload safe to retry: a retry
        after a lost response returns the version the first attempt registered. Pass your
        own key (a CI job id) to extend that across process restarts.
        """
        manifest = Path(manifest_path)
        uploads = local_files(manifest)  # validates it first, as the server will
        digests = {rel: file_sha256(local) for rel, local in uploads.items()}

        def files(stack: ExitStack) -> list[tuple[str, tuple[str, IO[bytes], str]]]:
            parts = [("manifest", (manifest.name, _open(stack, manifest), "application/yaml"))]
            parts += [
                ("files", (rel, _open(stack, local), "application/octet-stream"))
                for rel, local in uploads.items()
            ]
            return parts

        response = self._call(
            "POST",
            "/v1/versions",
            files=files,
            data={"digests": json.dumps(digests)},
            idempotency_key=idempotency_key or _new_key(),
        )
        return _model(VersionRecord, response.json())

    def attach(
        self,
        model: str,
        version: str,
        name: str,
        path: str | Path | None = None,
        *,
        uri: str | None = None,
        sha256: str | None = None,
        kind: EvidenceKind = "document",
    ) -> EvidenceItem:
        """Attach evidence: upload a file (its sha256 checked on arrival), or record a URI.

        Evidence is append-only: a new item under an existing name supersedes the old one.
        """
        if (path is None) == (uri is None):
            raise InputError("give either a file path or a uri (with its sha256)")
        form: dict[str, str] = {"name": name, "kind": kind}
        target = f"/v1/models/{_seg(model)}/versions/{_seg(version)}/evidence"
        if path is None:
            assert uri is not None
            form["uri"] = uri
            if sha256 is not None:
                form["sha256"] = sha256
            return _model(EvidenceItem, self._call("POST", target, data=form).json())
        local = Path(path)
        if not local.is_file():
            raise InputError(f"evidence file not found: {local}")
        form["sha256"] = sha256 or file_sha256(local)
        response = self._call(
            "POST",
            target,
            data=form,
            files=lambda stack: [("file", (local.name, _open(stack, local), _media(local)))],
        )
        return _model(EvidenceItem, response.json())

    def models(
        self, *, risk_tier: str | None = None, team: str | None = None
    ) -> list[dict[str, Any]]:
        """Every model's status (the ``clearance status`` view), optionally filtered."""
        return self._items("/v1/models", {"risk_tier": risk_tier, "team": team})

    def model(self, model: str) -> dict[str, Any]:
        """One model's status: versions, stages, open requests, emergency changes."""
        data: dict[str, Any] = self._get(f"/v1/models/{_seg(model)}")
        return data

    def versions(self, model: str, *, stage: str | None = None) -> list[VersionRecord]:
        return _models(
            VersionRecord, self._items(f"/v1/models/{_seg(model)}/versions", {"stage": stage})
        )

    def version(self, model: str, version: str) -> VersionRecord:
        return _model(
            VersionRecord, self._get(f"/v1/models/{_seg(model)}/versions/{_seg(version)}")
        )

    def evidence(self, model: str, version: str) -> list[StoredEvidence]:
        """Every evidence item attached to the version, in order (later supersedes)."""
        path = f"/v1/models/{_seg(model)}/versions/{_seg(version)}/evidence"
        return _models(StoredEvidence, _unpage(self._get(path)))

    def history(self, model: str) -> list[AuditEvent]:
        """The model's audit events, oldest first."""
        return _models(AuditEvent, self._items(f"/v1/models/{_seg(model)}/history"))

    # promotion -----------------------------------------------------------------------------
    def promote(
        self,
        model: str,
        version: str,
        to: str,
        *,
        change_type: str = "standard",
        reason: str = "",
        ticket: str = "",
        idempotency_key: str | None = None,
    ) -> RequestResult:
        """Request a promotion; it executes at once when gates pass and no sign-off is due.

        Carries an idempotency key (yours, or one made for this call), so a retry can never
        open a second request.
        """
        body = {
            "model": model,
            "version": version,
            "to": to,
            "change_type": change_type,
            "reason": reason,
            "ticket": ticket,
        }
        return _result(
            self._post("/v1/requests", json=body, idempotency_key=idempotency_key or _new_key())
        )

    def requests(
        self, *, model: str | None = None, open_only: bool = False
    ) -> list[dict[str, Any]]:
        """Promotion requests (only pending and blocked ones with ``open_only``)."""
        return self._items(
            "/v1/requests", {"model": model, "status": "open" if open_only else None}
        )

    def request(self, request_id: int) -> dict[str, Any]:
        """One request with its approvals and latest decision."""
        data: dict[str, Any] = self._get(f"/v1/requests/{request_id}")
        return data

    def approve(self, request_id: int, *, reason: str = "", ticket: str = "") -> RequestResult:
        body = {"reason": reason, "ticket": ticket}
        return _result(self._post(f"/v1/requests/{request_id}/approvals", json=body))

    def reject(self, request_id: int, *, reason: str, ticket: str = "") -> RequestResult:
        """Reject with a reason the requester can act on (required)."""
        body = {"reason": reason, "ticket": ticket}
        return _result(self._post(f"/v1/requests/{request_id}/rejections", json=body))

    def reevaluate(self, request_id: int) -> RequestResult:
        """Evaluate an open request again, after new evidence or a waiver."""
        return _result(self._post(f"/v1/requests/{request_id}/reevaluate"))

    def review(self, request_id: int, *, summary: str, actions: Sequence[str] = ()) -> ReviewRecord:
        """Record the post-incident review an executed emergency change owes."""
        body = {"summary": summary, "actions": list(actions)}
        return _model(ReviewRecord, self._post(f"/v1/requests/{request_id}/review", json=body))

    def rollback(
        self, model: str, *, reason: str, to_version: str | None = None
    ) -> tuple[VersionRecord, VersionRecord]:
        """Restore the previous (or the named) production version: (rolled back, restored)."""
        body = {"reason": reason, "to_version": to_version}
        data = self._post(f"/v1/models/{_seg(model)}/rollback", json=body)
        return _model(VersionRecord, data["rolled_back"]), _model(VersionRecord, data["restored"])

    # waivers and rollouts ------------------------------------------------------------------
    def waivers(
        self,
        *,
        model: str | None = None,
        state: Literal["active", "expired", "revoked"] | None = None,
    ) -> list[WaiverRecord]:
        """Waivers, oldest first; ``state`` is judged by the server's clock."""
        return _models(WaiverRecord, self._items("/v1/waivers", {"model": model, "state": state}))

    def grant_waiver(
        self,
        model: str,
        gate: str,
        *,
        justification: str,
        controls: Sequence[str],
        until: dt.datetime | None = None,
        expires_in: str | None = None,
        version: str | None = None,
    ) -> WaiverRecord:
        """A time-bounded exception for one gate, with its compensating controls.

        Give the expiry as ``until`` (a time) or ``expires_in`` (``14d``); the policy caps it.
        """
        body = {
            "model": model,
            "gate": gate,
            "version": version,
            "until": None if until is None else until.isoformat(),
            "expires_in": expires_in,
            "justification": justification,
            "controls": list(controls),
        }
        return _model(WaiverRecord, self._post("/v1/waivers", json=body))

    def revoke_waiver(self, waiver: str | int, *, reason: str) -> WaiverRecord:
        """Revoke ``W-3`` (or ``3``) before it expires."""
        label = str(waiver)
        body = {"reason": reason}
        return _model(WaiverRecord, self._post(f"/v1/waivers/{_seg(label)}/revoke", json=body))

    def start_rollout(self, model: str, version: str) -> RolloutRecord:
        """Start the canary of an approved promotion that waits for its rollout."""
        data = self._post(f"/v1/models/{_seg(model)}/rollouts", json={"version": version})
        return _model(RolloutRecord, data)

    def observe_rollout(
        self, model: str, readings: Mapping[str, float | tuple[float, float | None]]
    ) -> tuple[RolloutRecord, Verdict]:
        """Feed KPI readings (``{name: canary}`` or ``{name: (canary, control)}``).

        The rollout advances, completes or rolls back; returns it with the verdict.
        """
        kpis = {
            name: {"canary": v[0], "control": v[1]}
            if isinstance(v, tuple)
            else {"canary": v, "control": None}
            for name, v in readings.items()
        }
        data = self._post(f"/v1/models/{_seg(model)}/rollouts/observe", json={"readings": kpis})
        rollout = _model(RolloutRecord, data["rollout"])
        verdict = Verdict(
            action=data["action"],
            reason=data["reason"],
            step=int(data.get("step", rollout.step)),
            traffic=float(data.get("traffic", rollout.traffic)),
            breaches=list(data.get("breaches", [])),
        )
        return rollout, verdict

    def rollout_status(self, model: str) -> dict[str, Any]:
        """Where the model's latest rollout stands, with its latest KPI readings."""
        data: dict[str, Any] = self._get(f"/v1/models/{_seg(model)}/rollouts")
        return data

    # decisions and audit -------------------------------------------------------------------
    def decisions(self, key: str | int) -> list[DecisionRecord]:
        """The stored decisions a number or digest prefix names, with their recorded inputs."""
        return _models(DecisionRecord, self._get(f"/v1/decisions/{_seg(str(key))}"))

    def replay(self, key: str | int) -> ReplayReport:
        """Recompute a stored decision from its recorded inputs on the server."""
        data = self._post(f"/v1/decisions/{_seg(str(key))}/replay")
        return _dataclass(ReplayReport, data)

    def audit_events(
        self,
        *,
        after: int | None = None,
        model: str | None = None,
        since: dt.datetime | None = None,
        page_size: int = PAGE_SIZE,
    ) -> Iterator[AuditEvent]:
        """Every audit event after ``after`` (a seq), oldest first, fetched page by page.

        Lazy: a consumer that stops early fetches no further pages.
        """
        cursor = after
        while True:
            params = {
                "after": cursor,
                "limit": page_size,
                "model": model,
                "since": None if since is None else since.isoformat(),
            }
            data = self._get("/v1/audit/events", params)
            yield from _models(AuditEvent, data["items"])
            nxt = data.get("next_after")
            if nxt is None or not data["items"]:
                return
            cursor = int(nxt)

    def verify_audit(self, *, blobs: bool = False) -> VerifyReport:
        """The server recomputes its hash chain, checks the signed checkpoints, compares the
        state the events imply with its tables and (``blobs``) re-hashes its blobs.

        To trust nobody, export the events and verify them offline with the public key.
        """
        data = dict(self._get("/v1/audit/verify", {"blobs": "true"} if blobs else None))
        fault = data.get("fault")
        data["fault"] = None if fault is None else _dataclass(ChainFault, fault)
        data["warnings"] = tuple(data.get("warnings") or ())
        data["differences"] = tuple(
            _dataclass(StateDifference, d) for d in data.get("differences") or ()
        )
        data["blob_faults"] = tuple(_dataclass(BlobFault, b) for b in data.get("blob_faults") or ())
        return _dataclass(VerifyReport, data)

    def export_audit(
        self,
        format: Literal["jsonl", "csv"] = "jsonl",
        *,
        since: dt.datetime | None = None,
        model: str | None = None,
    ) -> Iterator[str]:
        """The audit trail as JSON Lines or CSV lines (each ending in a newline), streamed."""
        params = {
            "format": format,
            "since": None if since is None else since.isoformat(),
            "model": model,
        }
        with self._stream("GET", "/v1/audit/export", params) as response:
            pending = ""
            for chunk in response.iter_text():
                *complete, pending = (pending + chunk).split("\n")
                yield from (line + "\n" for line in complete)
            if pending:
                yield pending

    def checkpoint(self) -> CheckpointRecord:
        """Sign the head of the audit chain (needs ``admin`` or ``auditor``)."""
        return _model(CheckpointRecord, self._post("/v1/audit/checkpoints"))

    def checkpoints(self) -> list[CheckpointRecord]:
        return _models(CheckpointRecord, _unpage(self._get("/v1/audit/checkpoints")))

    def public_key(self) -> bytes:
        """The raw 32-byte Ed25519 key that verifies the server's checkpoints."""
        return bytes.fromhex(str(self._get("/v1/audit/public-key")["public_key_hex"]))

    def alerts(self, *, model: str | None = None) -> list[dict[str, Any]]:
        """The alerts recorded (newest last)."""
        return _unpage(self._get("/v1/alerts", {"model": model}))

    def tick(self) -> TickSummary:
        """Run the server's time-based work once, alerts included (``admin``/``mlops_oncall``).

        For a cron job or CI schedule when the server runs no scheduler of its own.
        """
        return _model(TickSummary, self._post("/v1/tick"))

    def serving(self, model: str) -> dict[str, Any]:
        """The serving assignment a serving layer reads: champion, canary and its weight."""
        data: dict[str, Any] = self._get(f"/v1/models/{_seg(model)}/serving")
        return data

    def waiver_backlog(
        self, *, model: str | None = None, expiring_within: str | None = None
    ) -> dict[str, Any]:
        """The exception backlog (``clearance waiver list``): states, counts and trend."""
        params = {"model": model, "expiring_within": expiring_within}
        data: dict[str, Any] = self._get("/v1/waivers/backlog", params)
        return data

    # transport -----------------------------------------------------------------------------
    def _get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self._call("GET", path, params=params).json()

    def _post(self, path: str, *, json: Any = None, idempotency_key: str | None = None) -> Any:
        return self._call("POST", path, json=json, idempotency_key=idempotency_key).json()

    def _items(self, path: str, params: Mapping[str, Any] | None = None) -> list[Any]:
        """Every item of a paginated list (``{items, total, limit, offset}``)."""
        out: list[Any] = []
        offset = 0
        while True:
            data = self._get(path, {**(params or {}), "limit": PAGE_SIZE, "offset": offset})
            if not isinstance(data, dict):
                return list(data)  # an unpaginated list
            out += data["items"]
            offset += len(data["items"])
            if not data["items"] or offset >= int(data["total"]):
                return out

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        files: Callable[[ExitStack], Sequence[tuple[str, tuple[str, Any, str]]]] | None = None,
        idempotency_key: str | None = None,
    ) -> httpx.Response:
        """Send with retries; a non-2xx answer becomes the matching clearance exception.

        ``files`` is a factory so each attempt uploads from the start of freshly opened files.
        """
        query = {k: v for k, v in (params or {}).items() if v is not None}
        headers = {IDEMPOTENCY_HEADER: idempotency_key} if idempotency_key else {}
        retryable = method in SAFE_METHODS or idempotency_key is not None
        attempt = 0
        while True:
            with ExitStack() as stack:
                try:
                    response = self._http.request(
                        method,
                        path,
                        params=query,
                        json=json,
                        data=data,
                        files=files(stack) if files is not None else None,
                        headers=headers,
                    )
                except httpx.TransportError as exc:
                    if retryable and attempt < self.retries:
                        attempt += 1
                        self._sleep(attempt, None)
                        continue
                    raise StoreError(
                        f"cannot reach the clearance server at {self.url}: {exc}"
                        + (f" (after {attempt} retries)" if attempt else "")
                    ) from exc
            if response.is_success:
                return response
            if retryable and attempt < self.retries and _transient(response):
                attempt += 1
                self._sleep(attempt, response.headers.get("retry-after"))
                continue
            raise error_from(response)

    def _stream(self, method: str, path: str, params: Mapping[str, Any]) -> _Streaming:
        query = {k: v for k, v in params.items() if v is not None}
        return _Streaming(self, self._http.build_request(method, path, params=query))

    def _sleep(self, attempt: int, retry_after: str | None) -> None:
        delay = self.backoff * 2 ** (attempt - 1) * (0.5 + random.random())
        if retry_after is not None and retry_after.isdigit():
            delay = max(delay, float(retry_after))
        time.sleep(min(delay, 30.0))


class _Streaming:
    """A streamed response: retried like a GET until the first byte, then read line by line."""

    def __init__(self, client: Client, request: httpx.Request) -> None:
        self._client, self._request = client, request
        self._response: httpx.Response | None = None

    def __enter__(self) -> httpx.Response:
        attempt = 0
        while True:
            try:
                response = self._client._http.send(self._request, stream=True)
            except httpx.TransportError as exc:
                if attempt < self._client.retries:
                    attempt += 1
                    self._client._sleep(attempt, None)
                    continue
                raise StoreError(f"cannot reach the clearance server: {exc}") from exc
            if response.is_success:
                self._response = response
                return response
            response.read()
            response.close()
            if attempt < self._client.retries and _transient(response):
                attempt += 1
                self._client._sleep(attempt, response.headers.get("retry-after"))
                continue
            raise error_from(response)

    def __exit__(self, *exc: object) -> None:
        if self._response is not None:
            self._response.close()


def error_from(response: httpx.Response) -> ClearanceError:
    """The clearance exception a problem+json response stands for (RFC 9457).

    The type decides first (``approval-refused`` is a 403 but an ``ApprovalError``), then the
    status; the message carries the server's detail and every field error.
    """
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        text = response.text.strip().splitlines()[0][:300] if response.text.strip() else ""
        body = {"detail": f"HTTP {status} {response.reason_phrase}" + (f": {text}" if text else "")}
    slug = str(body.get("type", "")).removeprefix(PROBLEM)
    detail = str(body.get("detail") or body.get("title") or f"HTTP {status}")
    errors = [e for e in body.get("errors") or [] if isinstance(e, dict)]
    located = [f"{e.get('field', '')}: {e.get('message', '')}" for e in errors]
    lines = [detail, *(f"  {text}" for text in located if text not in detail)]
    if status >= 500 and body.get("request_id"):
        lines.append(f"  (request id {body['request_id']})")
    message = "\n".join(lines)
    if slug in ("invalid-policy", "invalid-manifest"):
        kind: type[PolicyError] | type[ManifestError] = (
            PolicyError if slug == "invalid-policy" else ManifestError
        )
        exc = kind([_problem(e) for e in errors])
        exc.args = (message,)  # the server's detail and every field error, not the local format
        return exc
    exc_type = _kinds()[0].get(slug) or _BY_STATUS.get(status)
    if exc_type is None:
        exc_type = StoreError if status >= 500 else InputError
    return exc_type(message)


def _problem(error: Mapping[str, Any]) -> Problem:
    """A located problem rebuilt from ``{field: "file:line:col field", message}``."""
    where = str(error.get("field", ""))
    match = _LOCATED.match(where)
    if match is None:  # pragma: no cover (the pattern matches any non-empty text)
        return Problem(Location(where), "", str(error.get("message", "")))
    line, column = match["line"], match["column"]
    return Problem(
        Location(match["file"], int(line) if line else None, int(column) if column else None),
        match["field"] or "",
        str(error.get("message", "")),
    )


def _transient(response: httpx.Response) -> bool:
    """Worth sending again: a problem whose type the server marks retryable, or, for an answer
    that is not one of its problems (a proxy's error page), a 502/503/504."""
    slug = _problem_slug(response)
    if slug is None:
        return response.status_code in RETRY_STATUSES
    return slug in _kinds()[1]


def _problem_slug(response: httpx.Response) -> str | None:
    try:
        kind = response.json().get("type")
    except (ValueError, AttributeError):
        return None
    return (
        kind.removeprefix(PROBLEM) if isinstance(kind, str) and kind.startswith(PROBLEM) else None
    )


@functools.cache
def _kinds() -> tuple[dict[str, type[ClearanceError]], frozenset[str]]:
    """The server's one table of problem types: the exception for each, and which to retry."""
    by_slug: dict[str, type[ClearanceError]] = {}
    for kind in problem_types.KINDS:
        by_slug.setdefault(kind.slug, kind.error)
    return by_slug, problem_types.RETRYABLE


def _model(kind: type[M], data: Any) -> M:
    """``kind`` from its JSON; fields a newer server adds (a waiver's ``state``) are dropped."""
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k in kind.model_fields}
    return kind.model_validate(data)


def _models(kind: type[M], data: Any) -> list[M]:
    return [_model(kind, item) for item in data]


def _dataclass(kind: type[D], data: Mapping[str, Any]) -> D:
    """A service dataclass from its JSON, ignoring fields this client does not know."""
    assert dataclasses.is_dataclass(kind)
    names = {f.name for f in dataclasses.fields(kind)}
    return kind(**{k: v for k, v in data.items() if k in names})


def _result(data: Mapping[str, Any]) -> RequestResult:
    """The service's ``RequestResult``, so remote results print like local ones."""
    return RequestResult(
        request=RequestRecord.model_validate(data["request"]),
        decision=Decision.model_validate(data["decision"]),
        decision_number=int(data["decision_number"]),
        executed=bool(data["executed"]),
    )


def _unpage(data: Any) -> list[Any]:
    if isinstance(data, dict) and "items" in data:
        return list(data["items"])
    return list(data)


def _seg(value: str) -> str:
    """One URL path segment (a model name may hold characters a path cannot)."""
    return quote(value, safe="")


def _new_key() -> str:
    return f"sdk-{uuid.uuid4()}"


def _open(stack: ExitStack, path: Path) -> IO[bytes]:
    return stack.enter_context(path.open("rb"))


def _media(path: Path) -> str:
    return {
        ".json": "application/json",
        ".md": "text/markdown",
        ".csv": "text/csv",
        ".yaml": "application/yaml",
        ".yml": "application/yaml",
    }.get(path.suffix.lower(), "application/octet-stream")


def _version() -> str:
    from clearance import __version__  # here: clearance/__init__.py imports this module

    return __version__
