"""``clearance demo`` (what ``make demo`` runs) tells the whole story and exits 0."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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


def test_demo_without_its_extra_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cli_runner import run_cli

    monkeypatch.delitem(sys.modules, "clearance.demo.assets", raising=False)
    monkeypatch.setitem(sys.modules, "sklearn", None)  # as if scikit-learn were not installed
    ran = run_cli("demo", "main", "--dir", tmp_path / "demo")
    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert "pip install 'clearance[demo]'" in ran.stderr
    assert "Traceback" not in ran.stderr
    assert not (tmp_path / "demo" / ".clearance").exists()


def test_files_only_writes_the_project_and_no_workspace(tmp_path: Path) -> None:
    from cli_runner import run_cli

    ran = run_cli("demo", "--files-only", "--dir", tmp_path / "qs")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert (tmp_path / "qs" / "project" / "models" / "v2" / "manifest.yaml").is_file()
    assert not (tmp_path / "qs" / ".clearance").exists()
    again = run_cli("demo", "--files-only", "--dir", tmp_path / "qs")
    assert again.returncode == 2
    assert "already holds a demo" in again.stderr
