"""A manifest's dataset column mapping survives registration: ``check`` and the registry agree.

The manifest maps the evaluation set's columns (label, score, sensitive feature); data gates
read them through that mapping. The registry once dropped it, so gates that passed in
``clearance check`` were ``error`` after ``register`` + ``promote`` on the same files.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from clearance.adapters.clock import FixedClock
from clearance.workspace import Workspace

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "credit-risk-data"
EXE = str(Path(sys.executable).parent / "clearance")
GATES = ["evaluation_quality", "auc_floor", "approval_rate_parity", "feature_drift"]


def _policy(tmp: Path) -> Path:
    """The example's data gates on the one transition both sides run (no sign-offs)."""
    doc: dict[str, Any] = yaml.safe_load((EXAMPLE / "policy" / "policy.yaml").read_text())
    doc["workflow"]["transitions"] = [{"from": "draft", "to": "staging", "gates": GATES}]
    doc["gates"] = [g for g in doc["gates"] if g["id"] in GATES]
    path = tmp / "policy.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _gates(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {g["gate_id"]: g for g in results}


def test_check_and_the_registry_give_the_same_gate_results(
    workspace: Workspace, clock: FixedClock, tmp_path: Path
) -> None:
    folder = tmp_path / "v3"
    shutil.copytree(EXAMPLE / "v3-blocked", folder)
    manifest = folder / "manifest.yaml"
    policy = _policy(tmp_path)
    now = clock.now().isoformat()
    args = ["-p", policy, "-m", manifest, "--from", "draft", "--to", "staging", "--now", now]
    checked = subprocess.run(
        [EXE, "check", *args, "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode in (0, 1), checked.stderr
    expected = _gates(json.loads(checked.stdout)["gates"])
    # the mapping matters: these gates read the label, score and age_band columns through it
    assert expected["auc_floor"]["status"] == "pass"
    assert expected["approval_rate_parity"]["status"] in ("pass", "fail")

    workspace.registry.add_user("paula", ["policy_admin"], actor="admin", operator=True)
    workspace.registry.add_user("alice", ["ml_engineer"], actor="admin", operator=True)
    workspace.registry.apply_policy(policy, actor="paula")
    workspace.registry.register(manifest, actor="alice")
    result = workspace.promotions.promote("credit-default-data", "3", "staging", actor="alice")
    got = _gates([g.model_dump(mode="json") for g in result.decision.gates])
    assert got == expected

    # a corrected file attached later keeps the manifest's mapping
    workspace.registry.attach(
        "credit-default-data",
        "3",
        "evaluation",
        path=folder / "evaluation.parquet",
        kind="dataset",
        actor="alice",
    )
    with workspace.store.reading() as tx:
        model = tx.get_model("credit-default-data")
        assert model is not None
        row = tx.get_version(model.id, "3")
        assert row is not None
        items = [e.item for e in tx.evidence_for(row.id) if e.item.name == "evaluation"]
    assert [i.columns.label if i.columns else None for i in items] == ["defaulted", "defaulted"]
