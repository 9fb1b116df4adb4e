"""The API's routes made from the contract's declarations (``clearance.contract``).

Each declared operation becomes one route that signs the caller in, reads its path and query
parameters or its JSON body, calls that one use case through ``LocalClearance`` acting as the
caller, and answers with the declared result (a ``Page`` of it for paged lists). Routes with
uploads, streams or HTTP-specific answers stay hand-written in ``routes/``, each still calling
exactly one use case.
"""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Path, Query, Request
from pydantic import BaseModel, TypeAdapter
from pydantic.fields import FieldInfo
from pydantic_core import to_jsonable_python

from clearance.api.deps import PageDep, PageParams, UserDep, WorkspaceDep
from clearance.api.guard import GuardedRoute
from clearance.api.idempotency import HEADER, fingerprint, run_once
from clearance.api.problems import COMMON, responses
from clearance.contract import OPERATIONS, Operation
from clearance.contract.operations import IDEMPOTENCY_ARGUMENT
from clearance.contract.schemas import Page, page, paged
from clearance.local import LocalClearance
from clearance.service.records import User
from clearance.service.views import Listing
from clearance.workspace import Workspace

_KEY_HELP = "Retry-safe: the same key and request get the first call's response."
_CONSTRAINTS = ("ge", "gt", "le", "lt", "min_length", "max_length", "pattern")


def router() -> APIRouter:
    made = APIRouter(route_class=GuardedRoute)
    for op in OPERATIONS.values():
        if op.custom:
            continue  # its route is in routes/
        made.add_api_route(
            op.path,
            endpoint(op),
            methods=[op.method],
            status_code=op.status,
            summary=op.summary,
            tags=list(op.tags),
            response_model=Page[_item(op.result)] if op.paged else op.result,  # type: ignore[misc]
            responses=responses(*COMMON, *op.errors),
        )
    return made


def endpoint(op: Operation) -> Callable[..., Any]:
    """A function FastAPI can read the route's parameters from, calling the one use case."""

    def call(**kwargs: Any) -> Any:
        request: Request = kwargs.pop("_request")
        user: User = kwargs.pop("_caller")
        ws: Workspace = kwargs.pop("_workspace")
        paging: PageParams | None = kwargs.pop("_paging", None)
        key: str | None = kwargs.pop(IDEMPOTENCY_ARGUMENT, None)
        body = kwargs.pop("body", None)
        arguments = {**kwargs, **({} if body is None else dict(body))}
        local = LocalClearance(ws, user.name)

        def answer() -> Any:
            result = local.call(op, arguments)
            request.app.state.metrics.observe_result(result)
            return result

        if op.idempotent:
            print_ = _fingerprint(op, body, arguments)
            return run_once(
                request, ws, user.name, key, print_, lambda: (op.status, _json(op, answer()))
            )
        if paging is None:
            return answer()
        result = local.call(op, arguments, limit=paging.limit, offset=paging.offset)
        if isinstance(result, Listing):
            return paged(result.items, result.total, paging.limit, paging.offset)
        return page(list(result), paging.limit, paging.offset)

    params = [
        inspect.Parameter("_request", inspect.Parameter.KEYWORD_ONLY, annotation=Request),
        inspect.Parameter("_caller", inspect.Parameter.KEYWORD_ONLY, annotation=UserDep),
        inspect.Parameter("_workspace", inspect.Parameter.KEYWORD_ONLY, annotation=WorkspaceDep),
    ]
    if op.paged:
        params.append(
            inspect.Parameter("_paging", inspect.Parameter.KEYWORD_ONLY, annotation=PageDep)
        )
    in_path = set(op.path_names)
    for p in op.arguments:
        if p.name in in_path:
            params.append(_param(p, Path))
        elif op.body is None:
            params.append(_param(p, Query))
    if op.body is not None:
        params.append(
            inspect.Parameter(
                "body", inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[op.body, Body()]
            )
        )
    if op.idempotent:
        params.append(
            inspect.Parameter(
                IDEMPOTENCY_ARGUMENT,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=Annotated[str | None, Header(alias=HEADER, description=_KEY_HELP)],
                default=None,
            )
        )
    call.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    call.__name__ = call.__qualname__ = op.route
    return call


def _fingerprint(op: Operation, body: BaseModel | None, arguments: dict[str, Any]) -> str:
    """What makes two calls under one key "the same request": the validated body (defaults
    filled in, as keys stored before the contract were made), else the arguments."""
    if body is not None:
        return fingerprint(op.name, body.model_dump_json())
    return fingerprint(op.name, json.dumps(to_jsonable_python(arguments), sort_keys=True))


def _json(op: Operation, result: Any) -> Any:
    """The answer as the route's response model would render it (to store under its key)."""
    return TypeAdapter(op.result).dump_python(result, mode="json", by_alias=True)


def _param(p: inspect.Parameter, kind: Callable[..., Any]) -> inspect.Parameter:
    """``p`` as a FastAPI path or query parameter, keeping its description and limits."""
    base, info = _split(p.annotation)
    options: dict[str, Any] = {}
    if info is not None:
        options["description"] = info.description
        for meta in info.metadata:
            for name in _CONSTRAINTS:
                if hasattr(meta, name):
                    options[name] = getattr(meta, name)
    default = ... if p.default is inspect.Parameter.empty else p.default
    return inspect.Parameter(
        p.name,
        inspect.Parameter.KEYWORD_ONLY,
        annotation=Annotated[base, kind(**options)],
        default=inspect.Parameter.empty if default is ... else default,
    )


def _split(annotation: Any) -> tuple[Any, FieldInfo | None]:
    if typing.get_origin(annotation) is Annotated:
        base, *extras = typing.get_args(annotation)
        info = next((e for e in extras if isinstance(e, FieldInfo)), None)
        return base, info
    return annotation, None


def _item(result: Any) -> Any:
    (item,) = typing.get_args(result)  # a paged operation returns list[T]
    return item
