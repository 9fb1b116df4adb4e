"""The end-to-end demo that ``make demo`` runs: ``clearance check`` on the shipped examples.

It runs the real console script, as a user would, and stops with an error if any example
does not behave as documented in examples/README.md.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOW = "2026-11-22T12:00:00"
STEPS = [
    (
        "A candidate that clears every gate; sign-offs are still owed (exit 0)",
        "examples/credit-risk/policy",
        "examples/credit-risk/v7-pass/manifest.yaml",
        "production",
        0,
    ),
    (
        "A candidate blocked by its gates, with remediation (exit 1)",
        "examples/credit-risk/policy",
        "examples/credit-risk/v8-blocked/manifest.yaml",
        "production",
        1,
    ),
]


def main() -> int:
    exe = shutil.which("clearance", path=str(Path(sys.executable).parent))
    if exe is None:
        print("the clearance console script is not installed; run `make demo`", file=sys.stderr)
        return 2
    for title, policy, manifest, stage, expected in STEPS:
        command = [
            exe,
            "check",
            "--policy",
            policy,
            "--manifest",
            manifest,
            "--to",
            stage,
            "--now",
            NOW,
        ]
        print(f"\n=== {title}\n$ clearance {' '.join(command[1:])}\n", flush=True)
        code = subprocess.run(command, cwd=ROOT, check=False).returncode
        if code != expected:
            print(f"demo: expected exit {expected}, got {code}", file=sys.stderr)
            return 1
    print("\nDemo complete: one version cleared its gates, one was blocked with remediation.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
