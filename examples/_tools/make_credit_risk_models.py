"""Write the credit-risk example's model files: real, small scikit-learn models, pickled.

The artifact gates (``artifact_integrity``, ``unsafe_serialization``, ``secrets``) read real
model bytes, so the credit-risk versions ship real models rather than random stand-ins:
each is a ``LogisticRegression`` fitted on a few synthetic applicants from a fixed seed and
pickled with protocol 5, its weights rounded to ``DECIMALS``. The same scikit-learn and numpy
versions (recorded in ``VERSIONS`` and in each manifest's comment) give the same bytes on any
CPU, so the sha256 recorded in
each manifest stays true. Run from the repository root:

    .venv/bin/python examples/_tools/make_credit_risk_models.py

It also writes the attack files the policy tests use (``credit-risk/attacks/``): a pickle
whose ``__reduce__`` calls ``os.system`` and a tampered copy of v7's model. They are built
here and never loaded; the ``unsafe_serialization`` gate reads them without unpickling.

It prints each file's sha256; compare them with the manifests' ``artifact.sha256``.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression

EXAMPLES = Path(__file__).resolve().parent.parent
VERSIONS = {"scikit-learn": "1.9.1", "numpy": "2.4.6"}
ROWS = 60
DECIMALS = 8  # of the fitted weights, well above the solver's tolerance

# version -> (seed, features); the features are the manifests' ``features``
MODELS: dict[str, tuple[int, tuple[str, ...]]] = {
    "v7-pass": (
        7,
        (
            "income",
            "debt_to_income",
            "credit_history_months",
            "utilization",
            "age_band",
            "num_open_accounts",
        ),
    ),
    "v8-blocked": (
        8,
        (
            "income",
            "debt_to_income",
            "credit_history_months",
            "utilization",
            "age_band",
            "num_open_accounts",
            "email_domain",
        ),
    ),
}


def fitted_model(seed: int, features: tuple[str, ...]) -> LogisticRegression:
    """A scorecard fitted on ``ROWS`` synthetic applicants: default rises with debt and
    utilization, falls with income and credit history (standardised inputs)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(ROWS, len(features)))
    weights = np.array([{"debt_to_income": 1.2, "utilization": 0.9}.get(f, -0.4) for f in features])
    y = (x @ weights + rng.normal(scale=0.5, size=ROWS) > 0).astype(np.int64)
    model = LogisticRegression(C=1.0, max_iter=1000)
    model.fit(x, y)
    # The solver's last bits differ with the CPU's BLAS kernels (AVX2 and AVX-512 give
    # different ULPs): rounded, the same versions give the same bytes on any x86-64 machine.
    model.coef_ = np.round(model.coef_, DECIMALS)
    model.intercept_ = np.round(model.intercept_, DECIMALS)
    model.feature_names_in_ = np.array(features, dtype=object)
    return model


def model_bytes(version: str) -> bytes:
    """The pickle (protocol 5) of ``version``'s model."""
    seed, features = MODELS[version]
    return pickle.dumps(fitted_model(seed, features), protocol=5)


class _RunsAShellCommand:
    """Unpickling this calls ``os.system("echo pwned")``: what a booby-trapped model does."""

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, ("echo pwned",))


def malicious_bytes() -> bytes:
    """v7's model with a shell command hidden beside it in a dict (written, never loaded)."""
    seed, features = MODELS["v7-pass"]
    payload = {"model": fitted_model(seed, features), "hook": _RunsAShellCommand()}
    return pickle.dumps(payload, protocol=5)


def tampered_bytes() -> bytes:
    """v7's model with one coefficient changed after it was registered."""
    seed, features = MODELS["v7-pass"]
    model = fitted_model(seed, features)
    model.coef_[0, 1] *= 0.5  # halve the weight on debt_to_income: more approvals
    return pickle.dumps(model, protocol=5)


def files() -> dict[str, bytes]:
    """Every file this script writes: path relative to examples/ -> bytes."""
    out = {f"credit-risk/{version}/model.pkl": model_bytes(version) for version in MODELS}
    out["credit-risk/attacks/code-in-model/model.pkl"] = malicious_bytes()
    out["credit-risk/attacks/tampered/model.pkl"] = tampered_bytes()
    return out


def main() -> None:
    found = {"scikit-learn": sklearn.__version__, "numpy": np.__version__}
    if found != VERSIONS:
        print(f"warning: {found} differ from {VERSIONS}; the bytes (and sha256) will differ")
    for name, data in files().items():
        path = EXAMPLES / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        print(f"{hashlib.sha256(data).hexdigest()}  {name}")


if __name__ == "__main__":
    main()
