"""The in-process transport of ``Clearance``: the use cases called on a workspace.

The API serves each request through one of these, acting as the signed-in user; the CLI,
without ``CLEARANCE_URL``, acts as ``--as`` and as the operator (it holds the database, so
the user-administration use cases need no role from it).

Every call passes through ``LocalClearance.call``, from the CLI and from each API request,
so this is where a move is followed by the MLflow write-back (``AFTER_MOVE``): once, for
every transport, after the move commits (``clearance.workspace.after_commit``: an API call
with an ``Idempotency-Key`` commits after the use case returns), and never able to fail or
undo it.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from clearance.contract import Clearance, Operation
from clearance.contract.operations import IDEMPOTENCY_ARGUMENT
from clearance.errors import InputError
from clearance.workspace import after_commit

if TYPE_CHECKING:
    from clearance.service.mlflow_sync import MlflowSyncResult
    from clearance.workspace import Workspace

LOG = logging.getLogger("clearance.mlflow")
# The operations after which a model may stand elsewhere, and the argument naming it (a
# model, or a request of it; "result": the answer's ``model``): MLflow's aliases and tags
# follow them (``_follow``).
AFTER_MOVE = {
    "register_mlflow": "result",
    "promote": "model",
    "approve": "request_id",
    "reject": "request_id",
    "reevaluate": "request_id",
    "rollback": "model",
    "start_rollout": "model",
    "observe_rollout_readings": "model",
}


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
        result = handler(**arguments, **extra)
        if op.name in AFTER_MOVE:
            return self._after_move(op.name, arguments, result)
        return result

    def _after_move(self, name: str, arguments: dict[str, Any], result: Any) -> Any:
        """Sync MLflow once the move has committed. A registration's answer carries that
        first sync when the commit came first (the CLI; an API call without an
        Idempotency-Key); otherwise its ``sync`` is None and MLflow is written just after."""
        where = AFTER_MOVE[name]
        subject = result.model if where == "result" else arguments[where]
        synced: list[MlflowSyncResult | None] = []
        after_commit(lambda: synced.append(self._follow(name, subject)))
        if where == "result" and synced:
            return result.model_copy(update={"sync": synced[0]})
        return result

    def _follow(self, name: str, subject: Any) -> MlflowSyncResult | None:
        """Sync MLflow after the committed ``name``. The move stands whatever happens here:
        MLflow down, a bad ``mlflow.yaml`` or a missing extra is logged, and the next sync
        (``tick``, ``clearance mlflow reconcile``, a webhook, the next move) writes it."""
        from clearance.terminal import printable  # what MLflow said reaches a terminal

        try:
            mlflow = self.ws.mlflow
            if mlflow is None:
                return None
            if AFTER_MOVE[name] == "request_id":
                sync = mlflow.after_request(int(subject))
            else:
                sync = mlflow.after_move(str(subject))
        except Exception as exc:  # the move has committed: nothing here may undo or fail it
            from clearance.service.mlflow_sync import MlflowSyncResult

            LOG.warning("MLflow is behind (%s): %s; the next sync writes it", name, printable(exc))
            return MlflowSyncResult(model=str(subject), mlflow_model="", error=str(exc))
        if sync is not None and sync.error is not None:
            LOG.warning(
                "MLflow is behind for %s: %s; the next sync writes it",
                printable(sync.model),
                printable(sync.error),
            )
        return sync


def _parameters(handler: Callable[..., Any]) -> frozenset[str]:
    return _names(getattr(handler, "__func__", handler))


@functools.cache
def _names(function: Callable[..., Any]) -> frozenset[str]:
    return frozenset(inspect.signature(function).parameters)
