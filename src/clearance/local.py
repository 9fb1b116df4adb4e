"""The in-process transport of ``Clearance``: the use cases called on a workspace.

The API serves each request through one of these, acting as the signed-in user; the CLI,
without ``CLEARANCE_URL``, acts as ``--as`` and as the operator (it holds the database, so
the user-administration use cases need no role from it).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from clearance.contract import Clearance, Operation
from clearance.contract.operations import IDEMPOTENCY_ARGUMENT
from clearance.errors import InputError

if TYPE_CHECKING:
    from clearance.workspace import Workspace


class LocalClearance(Clearance):
    def __init__(self, ws: Workspace, actor: str | None = None, *, operator: bool = False):
        self.ws = ws
        self.actor = actor
        self.operator = operator

    def __repr__(self) -> str:
        return f"LocalClearance({str(self.ws.root)!r}, actor={self.actor!r})"

    def _run(self, op: Operation, arguments: dict[str, Any]) -> Any:
        result = self.call(op, arguments)
        if not op.paged:
            return result
        from clearance.service.views import Listing  # loaded already: views build pages

        return result.items if isinstance(result, Listing) else result

    def call(
        self, op: Operation, arguments: dict[str, Any], *, limit: int | None = None, offset: int = 0
    ) -> Any:
        """Call the use case ``op`` names; a paged one gets ``limit``/``offset`` when it can
        build just that page (then it returns a ``Listing``)."""
        handler = getattr(getattr(self.ws, op.service), op.handler)
        arguments = {k: v for k, v in arguments.items() if k != IDEMPOTENCY_ARGUMENT}
        accepts = _parameters(handler)
        extra: dict[str, Any] = {}
        if op.actor:
            if not self.actor:
                raise InputError("who is acting? pass --as USER or set CLEARANCE_USER")
            extra["actor"] = self.actor
        if "operator" in accepts:
            extra["operator"] = self.operator
        if op.paged and "limit" in accepts and limit is not None:
            extra |= {"limit": limit, "offset": offset}
        return handler(**arguments, **extra)


def _parameters(handler: Callable[..., Any]) -> frozenset[str]:
    return _names(getattr(handler, "__func__", handler))


@functools.cache
def _names(function: Callable[..., Any]) -> frozenset[str]:
    return frozenset(inspect.signature(function).parameters)
