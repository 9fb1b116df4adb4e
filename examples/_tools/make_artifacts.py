"""Write the example model artifacts: small, deterministic stand-ins for real model files.

Each artifact is a short text header followed by pseudo-random bytes from a fixed seed, so
running this script again reproduces every file byte for byte, and the sha256 recorded in
each manifest stays true. Run from the repository root:

    .venv/bin/python examples/_tools/make_artifacts.py

It prints each file's sha256; compare them with the manifests' ``artifact.sha256``.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent

# path relative to examples/ -> (seed, size in bytes); the credit-risk models are real
# pickles, written by make_credit_risk_models.py.
ARTIFACTS: dict[str, tuple[int, int]] = {
    "recommender/v12-pass/model.bin": (12, 3072),
    "recommender/v13-blocked/model.bin": (13, 3072),
    "medical-triage/v4-pass/model.bin": (4, 4096),
    "medical-triage/v5-blocked/model.bin": (5, 4096),
    "ride-eta/v21-pass/model.bin": (21, 2048),
    "ride-eta/v22-blocked/model.bin": (22, 2048),
}


def artifact_bytes(name: str, seed: int, size: int) -> bytes:
    header = f"clearance example artifact: {name} (seed {seed})\n".encode()
    return header + random.Random(seed).randbytes(size - len(header))


def main() -> None:
    for name, (seed, size) in ARTIFACTS.items():
        path = EXAMPLES / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = artifact_bytes(name, seed, size)
        path.write_bytes(data)
        print(f"{hashlib.sha256(data).hexdigest()}  {name}")


if __name__ == "__main__":
    main()
