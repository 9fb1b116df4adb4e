# mypy: disable-error-code="empty-body"
# (the declarations have no bodies: the decorator sends each call through the transport)
"""MLflow: register a version from MLflow's registry, and reconcile MLflow with clearance.

Both need ``.clearance/mlflow.yaml`` where the use case runs (404 without it). The webhook
MLflow calls is not a use case of a signed-in user (it is verified by its HMAC signature)
and stays hand-written in ``clearance.api.routes.mlflow``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clearance.contract.operations import Contract, operation

if TYPE_CHECKING:  # imported when a transport reads the declarations (operations.py says why)
    from clearance.contract.mlflow_schemas import (  # noqa: F401 (named by body=)
        MlflowReconcileBody,
        MlflowRegisterBody,
    )
    from clearance.service.mlflow_governance import MlflowRegistration
    from clearance.service.mlflow_sync import MlflowSyncResult


class MlflowOps(Contract):
    @operation(
        "POST",
        "/mlflow/versions",
        service="mlflow_configured",
        handler="import_version",  # synced once committed, by the transport (clearance.local)
        tags=("mlflow",),
        errors=(403, 404, 409),
        body="MlflowRegisterBody",
        actor=True,
        idempotent=True,
        route="register_from_mlflow",
    )
    def register_mlflow(
        self,
        uri: str,
        *,
        model: str | None = None,
        version: str | None = None,
        risk_tier: str | None = None,
        owner: str | None = None,
        team: str | None = None,
        tags: dict[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> MlflowRegistration:
        """Register a version from MLflow (``models:/NAME/3``, ``models:/NAME@alias`` or
        ``runs:/RUN/path``) with the lineage, metrics and artifact digest MLflow holds, then
        tag it there.

        The risk tier, owner, team and tags choose the governing policy; a model already in
        clearance keeps its own.
        """

    @operation(
        "POST",
        "/mlflow/reconcile",
        service="mlflow_configured",
        handler="reconcile",
        tags=("mlflow",),
        errors=(403, 404),
        status=200,
        body="MlflowReconcileBody",
        actor=True,
        route="reconcile_mlflow",
    )
    def reconcile_mlflow(
        self, models: list[str] | None = None, *, revert: bool | None = None
    ) -> list[MlflowSyncResult]:
        """Write clearance's stages to MLflow and record every alias or governed tag changed
        there without a clearance decision (admin or mlops_oncall, as ``tick``)."""
