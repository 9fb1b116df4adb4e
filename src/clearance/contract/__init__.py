"""The use cases by name: one declaration each, two transports.

``Clearance`` is what the CLI, the SDK and the web pages program against. Its in-process
transport is ``clearance.local.LocalClearance`` (a workspace, acting as a named user); its HTTP
transport is ``clearance.Client`` (a team server, acting as the token's user). Its methods
are declared :class:`~clearance.contract.operations.Operation` s, one module per area: the API's
routes are made from the same declarations (``clearance.api.contract_routes``), so a use case
is written once, in the service, and reached the same way from everywhere.

To add a read: declare it in its area's module (method, path, result) and give the named
service its method; the route, the SDK method and the local call follow. Then add the CLI
command that prints it.
"""

from __future__ import annotations

from clearance.contract.access import AccessOps
from clearance.contract.analytics import AnalyticsOps
from clearance.contract.attestations import AttestationOps
from clearance.contract.audit import AuditOps
from clearance.contract.governance import GovernanceOps
from clearance.contract.mlflow import MlflowOps
from clearance.contract.monitors import MonitorOps
from clearance.contract.operations import Operation, operations_of
from clearance.contract.policy_changes import PolicyChangeOps
from clearance.contract.promotion import PromotionOps
from clearance.contract.registry import RegistryOps
from clearance.contract.serving import ServingOps

__all__ = ["OPERATIONS", "Clearance", "Operation"]


class Clearance(
    AccessOps,
    RegistryOps,
    PolicyChangeOps,
    PromotionOps,
    GovernanceOps,
    AuditOps,
    AttestationOps,
    MlflowOps,
    AnalyticsOps,
    MonitorOps,
    ServingOps,
):
    """Every use case, by name; a transport supplies ``_run``."""


OPERATIONS: dict[str, Operation] = operations_of(Clearance)
