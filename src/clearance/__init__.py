"""clearance: policy-as-code clearance for ML model versions.

The public Python surface; everything else is internal and may change.
"""

from clearance.core.approvals import Approval
from clearance.core.engine import evaluate, resolve_transition
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
    PolicyError,
    Problem,
    StoreError,
    TransitionRefused,
)
from clearance.manifest import load_manifest

__version__ = "0.1.0"

__all__ = [
    "Approval",
    "ApprovalError",
    "AuditChainBroken",
    "ClearanceError",
    "Decision",
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
    "Outcome",
    "Policy",
    "PolicyError",
    "Problem",
    "StoreError",
    "Transition",
    "TransitionRefused",
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
