"""``clearance demo`` (what ``make demo`` runs) tells the whole story and exits 0."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXE = str(Path(sys.executable).parent / "clearance")


def test_demo_tells_the_story(tmp_path: Path) -> None:
    result = subprocess.run(
        [EXE, "demo", "main", "--dir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        check=False,
        env={"COLUMNS": "120", "PATH": "/usr/bin:/bin"},
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "refused: alice requested this promotion and cannot approve it" in out
    assert "DENY: blocked by 3 gate(s): auc_vs_champion, approval_rate_parity, model_card" in out
    assert "version 3 → deprecated; version 1 → production" in out
    assert "audit chain OK" in out
    assert "identical (allow)" in out
    verify = subprocess.run(
        [EXE, "audit", "verify"], cwd=tmp_path / "demo", capture_output=True, text=True, check=False
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_governance_demo_shows_waiver_emergency_and_canary(tmp_path: Path) -> None:
    result = subprocess.run(
        [EXE, "demo", "governance", "--dir", str(tmp_path / "gov")],
        capture_output=True,
        text=True,
        check=False,
        env={"COLUMNS": "120", "PATH": "/usr/bin:/bin"},
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "refused: policy credit-risk marks gate 'approval_rate_parity' as not waivable" in out
    assert "waived (W-1, expires" in out
    assert "rollback: approval_rate dropped" in out
    assert "NON-COMPLIANT: emergency request" in out
    assert "every signature verified (0 rejected)" in out
