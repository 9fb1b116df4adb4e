"""Helpers for the integration tests: a race-ready workspace and the real console script.

``race_workspace`` builds a workspace (SQLite or PostgreSQL) with a small policy, users and
several versions of one model already in staging. The tests then run the real
``clearance`` executable in separate OS processes against it, the way a team's CI jobs and
people at their terminals would; what they check afterwards runs in this process
(``cli_runner``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from clearance.adapters.clock import SystemClock
from clearance.workspace import Workspace, init_workspace
from cli_runner import Ran, run_cli
from race_policies import FREE_POLICY, gated_policy

EXE = str(Path(sys.executable).parent / "clearance")
MODEL = "race-model"
GATED = "gated-model"
REQUESTER = "alice"
APPROVERS = {"bob": "model_owner", "carol": "risk_officer", "dave": "model_owner"}
OTHERS = ["erin", "frank", "grace", "heidi", "ivan", "judy", "ken", "liz"]


@dataclass
class RaceSetup:
    ws: Workspace
    root: Path
    db_url: str
    versions: list[str]

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["CLEARANCE_WORKSPACE"] = str(self.root)
        env["CLEARANCE_DB_URL"] = self.db_url
        for key in ("CLEARANCE_USER", "CLEARANCE_TEST_SLEEP_BEFORE_COMMIT"):
            env.pop(key, None)
        return env

    def popen(self, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [EXE, *args],
            env={**self.env, **(extra_env or {})},
            cwd=self.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, *args: str) -> Ran:
        """One command after the processes are done (in this process: no race left to run)."""
        return run_cli(*args, env=self.env, cwd=self.root)

    def stages(self, model: str = MODEL) -> dict[str, str]:
        [status] = self.ws.views.status(model)
        return {v.version: v.stage for v in status.versions}

    def snapshot(self) -> dict[str, Any]:
        """Everything a half-done write could have touched."""
        with self.ws.store.reading() as tx:
            model = tx.get_model(MODEL)
            assert model is not None
            versions = [
                (v.version, v.stage, v.production_slot, v.previous_production_id)
                for v in tx.list_versions(model.id)
            ]
            requests = [(r.id, r.status) for r in tx.list_requests()]
            decisions = [len(tx.decisions_for(r_id)) for r_id, _ in requests]
            head = tx.head_event()
            return {
                "versions": versions,
                "requests": requests,
                "decisions": decisions,
                "events": tx.event_count(),
                "head": None if head is None else (head.seq, head.hash),
            }


def manifest(folder: Path, model: str, version: str, *, auc: float = 0.8) -> Path:
    """A small valid manifest with a real artifact file next to it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.bin").write_bytes(f"weights of {model} {version}".encode())
    (folder / "card.md").write_text(f"# {model} {version}\n")
    path = folder / "manifest.yaml"
    path.write_text(
        "apiVersion: clearance/v1\n"
        "kind: ModelManifest\n"
        f"model: {{name: {model}, risk_tier: medium, owner: ml@example.org, team: t}}\n"
        f'version: "{version}"\n'
        "artifact: {path: model.bin}\n"
        f"lineage: {{code_commit: c0ffee{version}, data_snapshot: snap-1, seed: 7}}\n"
        f"metrics: {{auc: {auc}}}\n"
        "evidence:\n"
        "  model_card: {kind: document, path: card.md}\n"
    )
    return path


def build(tmp_path: Path, db_url: str, *, versions: int, model: str = MODEL) -> RaceSetup:
    """A workspace with both policies, users, and ``versions`` versions of ``model`` in staging."""
    root = tmp_path / "ws"
    ws = init_workspace(root, db_url=db_url, clock=SystemClock())
    for name, text in (("free.yaml", FREE_POLICY), ("gated.yaml", gated_policy())):
        policy = tmp_path / "policies" / name
        policy.parent.mkdir(exist_ok=True)
        policy.write_text(text)
    reg = ws.registry
    reg.add_user("admin", ["admin"], actor="setup", operator=True)
    reg.add_user(REQUESTER, ["ml_engineer"], actor="admin")
    for name, role in APPROVERS.items():
        reg.add_user(name, [role], actor="admin")
    for name in OTHERS:
        reg.add_user(name, ["ml_engineer"], actor="admin")
    for name in ("free.yaml", "gated.yaml"):
        reg.apply_policy(tmp_path / "policies" / name, actor="admin")
    names = [str(i) for i in range(1, versions + 1)]
    for v in names:
        reg.register(manifest(tmp_path / "manifests" / model / v, model, v), actor=REQUESTER)
        result = ws.promotions.promote(model, v, "staging", actor=REQUESTER)
        assert result.executed, result.decision.summary
    return RaceSetup(ws, root, db_url, names)


def wait_all(
    procs: Sequence[subprocess.Popen[str]], timeout: float = 120
) -> list[tuple[int, str, str]]:
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=timeout)
        out.append((p.returncode, stdout, stderr))
    return out


def assert_clean(results: Sequence[tuple[int, str, str]]) -> None:
    """Every process ended with a documented exit code and never a traceback."""
    for code, stdout, stderr in results:
        assert code in (0, 1, 2), (code, stdout, stderr)
        assert "Traceback" not in stderr + stdout, stderr
        if code != 0:
            assert stderr.strip() or stdout.strip(), "a failure must say why"


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL on SQLite (inside the workspace) or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ws' / '.clearance' / 'clearance.db'}"
    return str(request.getfixturevalue("pg_url"))
