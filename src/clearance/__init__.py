"""clearance: policy-as-code clearance for ML model versions.

The public Python surface; everything else is internal and may change.
"""

import typing

from clearance.adapters.evidence import load_manifest
from clearance.core.approvals import Approval
from clearance.core.engine import Evaluation, evaluate, resolve_transition
from clearance.core.gates.base import GateContext, GateParams, GateType, Measurement
from clearance.core.gates.registry import GateRegistry, default_registry
from clearance.core.loading import LoadedPolicy, check_policy, load_policy, parse_policy
from clearance.core.policy import GateSpec, Policy, Transition
from clearance.core.results import Decision, GateResult, GateStatus, Outcome
from clearance.core.version import EvidenceItem, EvidenceReader, ModelInfo, ModelVersion
from clearance.core.waivers import Waiver
from clearance.errors import (
    ApprovalError,
    AuditChainBroken,
    ClearanceError,
    InputError,
    ManifestError,
    NotFound,
    NotPermitted,
    PolicyError,
    Problem,
    StoreConflict,
    StoreError,
    TransitionRefused,
    Unauthenticated,
)

if typing.TYPE_CHECKING:
    from clearance.client import Client

__version__ = "0.1.0"

__all__ = [
    "Approval",
    "ApprovalError",
    "AuditChainBroken",
    "ClearanceError",
    "Client",
    "Decision",
    "Evaluation",
    "EvidenceItem",
    "EvidenceReader",
    "GateContext",
    "GateParams",
    "GateRegistry",
    "GateResult",
    "GateSpec",
    "GateStatus",
    "GateType",
    "InputError",
    "LoadedPolicy",
    "ManifestError",
    "Measurement",
    "ModelInfo",
    "ModelVersion",
    "NotFound",
    "NotPermitted",
    "Outcome",
    "Policy",
    "PolicyError",
    "Problem",
    "StoreConflict",
    "StoreError",
    "Transition",
    "TransitionRefused",
    "Unauthenticated",
    "Waiver",
    "__version__",
    "check_policy",
    "default_registry",
    "evaluate",
    "load_manifest",
    "load_policy",
    "parse_policy",
    "resolve_transition",
]


def __getattr__(name: str) -> object:
    """``Client`` loads httpx only when asked for: the CLI and the engine never need it."""
    if name == "Client":
        from clearance.client import Client

        return Client
    raise AttributeError(f"module 'clearance' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), "Client"])
