"""Governed serving: load a model only when clearance says it serves, and its bytes are the
approved ones; guard its inputs with the policy's ``inference`` rules.

    import clearance.serving

    served = clearance.serving.load("credit-default", stage="production")
    served.model.predict(...)

``load`` and ``verify`` raise ``ServingRefused`` (``reason``: a ``ReasonCode`` such as
``not_approved``, ``digest_mismatch``, ``attestation_invalid``, ``waiver_expired``) and
never load anything they refuse. ``clearance.serving.mlflow`` does the same for MLflow
pyfunc models; ``InferenceGuard`` is the ASGI middleware (docs/serving.md).
"""

from __future__ import annotations

from clearance.serving.loader import ServedModel, load, verify
from clearance.serving.middleware import InferenceGuard
from clearance.serving.verify import ServingRefused, VerifiedServing

__all__ = ["InferenceGuard", "ServedModel", "ServingRefused", "VerifiedServing", "load", "verify"]
