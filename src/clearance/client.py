"""The Python SDK: ``clearance.Client`` talks to a team server (``clearance serve``).

``Client`` is the HTTP transport of ``clearance.contract.Clearance``: every use case declared
there is a method here, sent as the API's route (made from the same declaration) reads it and
parsed into the same typed record the service returns locally (``VersionRecord``,
``RequestResult``, ``ModelStatus``, ...). It raises the same exceptions (``NotPermitted``,
``NotFound``, ...), so code written against ``LocalClearance`` reads the same against the
server. Only uploads and streams are written by hand below.

Retries are safe by construction: only connection failures, problems whose type the server's
table marks retryable (a store outage, an idempotency key whose first call is still running;
``problem_types.py``) and a proxy's bare 502/503/504 are retried, and only for methods that
are idempotent by HTTP (GET, PUT, DELETE) or calls carrying an ``Idempotency-Key``.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import random
import re
import time
import types
import typing
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import IO, Annotated, Any, Literal, Self, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter
from pydantic_core import to_jsonable_python

from clearance import problem_types
from clearance.contract import Clearance, Operation
from clearance.contract.operations import IDEMPOTENCY_ARGUMENT
from clearance.core.loading import read_policy_files
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
from clearance.service.records import (
    PolicyRecord,
    TokenRecord,
    VersionRecord,
)

__all__ = ["Client"]

M = TypeVar("M", bound=BaseModel)

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


class Client(Clearance):
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

    # promotion -----------------------------------------------------------------------------
    # waivers and rollouts ------------------------------------------------------------------
    # decisions and audit -------------------------------------------------------------------
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

    # transport -----------------------------------------------------------------------------
    def _run(self, op: Operation, arguments: dict[str, Any]) -> Any:
        """A declared operation over HTTP: path, query or JSON body as the API's route reads
        them (both made from the same declaration), the answer parsed into its type."""
        if op.custom:
            raise NotImplementedError(f"Client.{op.name} is written by hand")
        path = "/v1" + op.path.format(
            **{name: _seg(str(arguments.pop(name))) for name in op.path_names}
        )
        key = arguments.pop(IDEMPOTENCY_ARGUMENT, None) or (_new_key() if op.idempotent else None)
        if op.body is not None:
            body = to_jsonable_python(arguments)
            data = self._call(op.method, path, json=body, idempotency_key=key).json()
        else:
            query = {name: _query_value(value) for name, value in arguments.items()}
            if op.paged:
                data = self._items(path, query)
            else:
                data = self._call(op.method, path, params=query).json()
        return _fit(op.result, data)

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


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def _fit(kind: Any, data: Any) -> Any:
    """``data`` parsed as ``kind``, dropping fields a newer server adds (at any depth)."""
    return TypeAdapter(kind).validate_python(_known(kind, data))


def _known(kind: Any, data: Any) -> Any:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is Annotated:
        return _known(args[0], data)
    if isinstance(kind, type) and issubclass(kind, BaseModel) and isinstance(data, dict):
        fields = {(f.alias or name): f.annotation for name, f in kind.model_fields.items()}
        fields |= {name: f.annotation for name, f in kind.model_fields.items()}
        return {k: _known(fields[k], v) for k, v in data.items() if k in fields}
    if origin is list and isinstance(data, list):
        return [_known(args[0], item) for item in data]
    if origin is dict and isinstance(data, dict):
        return {k: _known(args[1], v) for k, v in data.items()}
    if origin in (typing.Union, types.UnionType) and data is not None:
        models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        return _known(models[0], data) if len(models) == 1 else data
    return data


def _model(kind: type[M], data: Any) -> M:
    """``kind`` from its JSON; fields a newer server adds (a waiver's ``state``) are dropped."""
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k in kind.model_fields}
    return kind.model_validate(data)


def _models(kind: type[M], data: Any) -> list[M]:
    return [_model(kind, item) for item in data]


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
