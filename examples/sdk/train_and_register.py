"""The end of a training script: register the new version, attach its evaluation report and
ask for promotion, on the team's clearance server.

    export CLEARANCE_URL=https://clearance.example.internal
    export CLEARANCE_TOKEN=clr_...          # a token of a user with the ml_engineer role
    python train_and_register.py out/manifest.yaml out/evaluation.md

The exit codes are the CLI's: 0 the gates allow the move (sign-offs may still be pending),
1 a blocking gate failed (or the user's roles do not allow the call), 2 bad input.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import clearance
from clearance.errors import ClearanceError


def register_and_promote(manifest: Path, report: Path, to: str = "staging") -> int:
    job = os.environ.get("CI_JOB_ID")  # a re-run CI job repeats its calls, it never doubles them
    described, _ = clearance.load_manifest(manifest)  # fails here, before any upload
    model = described.model.name
    with clearance.Client() as server:  # $CLEARANCE_URL and $CLEARANCE_TOKEN
        version = server.register(manifest, idempotency_key=job and f"{job}-register")
        server.attach(model, version.version, "evaluation_report", report, kind="report")
        result = server.promote(
            model,
            version.version,
            to,
            reason="scheduled retrain",
            ticket=os.environ.get("TICKET", ""),
            idempotency_key=job and f"{job}-promote",
        )
    request, decision = result.request, result.decision
    print(f"{model} {version.version} → {to}: request {request.id} is {request.status}")
    print(f"  {decision.summary}")
    for gate in decision.gates:
        if gate.blocking:
            print(f"  {gate.gate_id}: {gate.message}; {gate.remediation}")
    return result.exit_code


if __name__ == "__main__":
    try:
        sys.exit(register_and_promote(Path(sys.argv[1]), Path(sys.argv[2])))
    except ClearanceError as exc:  # the same exceptions as the local CLI raises
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
