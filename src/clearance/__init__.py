"""clearance: policy-as-code clearance for ML model versions.

The public Python surface; everything else is internal and may change. Names load on first
use (PEP 562), so ``import clearance`` and the CLI's start-up pay only for what they touch.
"""

import importlib
import typing

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
    from clearance.adapters.evidence import load_manifest
    from clearance.client import Client
    from clearance.core.approvals import Approval
    from clearance.core.engine import Evaluation, evaluate, resolve_transition
    from clearance.core.gates.base import GateContext, GateParams, GateType, Measurement
    from clearance.core.gates.registry import GateRegistry, default_registry
    from clearance.core.loading import LoadedPolicy, check_policy, load_policy, parse_policy
    from clearance.core.policy import GateSpec, Policy, Transition
    from clearance.core.results import Decision, GateResult, GateStatus, Outcome
    from clearance.core.version import EvidenceItem, EvidenceReader, ModelInfo, ModelVersion
    from clearance.core.waivers import Waiver

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


_LAZY: dict[str, str] = {
    "Approval": "clearance.core.approvals",
    "Client": "clearance.client",
    "Decision": "clearance.core.results",
    "Evaluation": "clearance.core.engine",
    "EvidenceItem": "clearance.core.version",
    "EvidenceReader": "clearance.core.version",
    "GateContext": "clearance.core.gates.base",
    "GateParams": "clearance.core.gates.base",
    "GateRegistry": "clearance.core.gates.registry",
    "GateResult": "clearance.core.results",
    "GateSpec": "clearance.core.policy",
    "GateStatus": "clearance.core.results",
    "GateType": "clearance.core.gates.base",
    "LoadedPolicy": "clearance.core.loading",
    "Measurement": "clearance.core.gates.base",
    "ModelInfo": "clearance.core.version",
    "ModelVersion": "clearance.core.version",
    "Outcome": "clearance.core.results",
    "Policy": "clearance.core.policy",
    "Transition": "clearance.core.policy",
    "Waiver": "clearance.core.waivers",
    "check_policy": "clearance.core.loading",
    "default_registry": "clearance.core.gates.registry",
    "evaluate": "clearance.core.engine",
    "load_manifest": "clearance.adapters.evidence",
    "load_policy": "clearance.core.loading",
    "parse_policy": "clearance.core.loading",
    "resolve_transition": "clearance.core.engine",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'clearance' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
