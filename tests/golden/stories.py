"""The fixed stories the golden files record, run in a process of their own.

``python tests/golden/stories.py FOLDER`` replays them in ``FOLDER`` and prints one JSON
object: golden file name → text. A process of its own, because a Rich console takes its
width and colour from the environment when it is created (at import, for the CLI's shared
console): here that is always 100 columns without colour, whatever the terminal, CI or the
other tests in the pytest process did.

What keeps the text the same from run to run:

- the time: the CLI has no clock setting, so :class:`SystemClock` is held at a fixed minute
  per step (the step's index), whatever the number of clock reads inside a step; ``check``
  takes ``--now``;
- the paths: every command runs with relative paths, so none is recorded in the audit
  trail, whose hashes are printed;
- the one random value printed, the signing key's id (a new key per workspace), is masked;
- Rich pads some lines with spaces to the console width: trailing spaces are dropped, so an
  editor that trims them cannot break the files.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shlex
import shutil
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
START = dt.datetime(2026, 11, 22, 9, 0, tzinfo=dt.UTC)
NOW = "2026-11-22T12:00:00"
COLUMNS = 100
# Set for the stories' process; every other variable that steers Rich or clearance is removed.
ENV = {"COLUMNS": str(COLUMNS), "LINES": "50", "NO_COLOR": "1", "CLEARANCE_WORKSPACE": "ws"}
UNSET = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "JUPYTER_COLUMNS", "TERM")
WAIVER_RULES = "waivers:\n  grantors: [risk_officer]\n  max_duration: 30d\n"
MASKS = [  # the signing key's id, as `audit checkpoint` and `audit verify --json` print it
    (re.compile(r"(?<=, key )[0-9a-f]{16}$", re.MULTILINE), "<signing key id>"),
    (re.compile(r'(?<="key_id": ")[0-9a-f]{16}(?=")'), "<signing key id>"),
]


@dataclass(frozen=True)
class Step:
    args: tuple[str, ...]
    golden: str | None = None  # the file under data/; None: a step of the setting only
    reports: tuple[str, ...] = ()  # files the step writes, kept as data/reports/<name>


def step(*args: str, golden: str | None = None) -> Step:
    return Step(args, golden)


EXAMPLE = "examples/credit-risk"
V7, V8 = f"{EXAMPLE}/v7-pass/manifest.yaml", f"{EXAMPLE}/v8-blocked/manifest.yaml"
USERS = [
    ("alice", "ml_engineer"),
    ("bob", "tech_lead"),
    ("carol", "model_owner"),
    ("dave", "risk_officer"),
    ("erin", "compliance_officer"),
    ("paula", "policy_admin"),
]
# One workspace through users, a policy, two versions, sign-offs, a waiver and the audit trail.
REGISTRY = [
    step("init", "ws"),
    *(step("user", "add", name, "--role", role) for name, role in USERS),
    step("user", "list", golden="cli/01-user-list"),
    step("policy", "apply", "policy", "--as", "paula", golden="cli/02-policy-apply"),
    step("register", V7, "--as", "alice", golden="cli/03-register"),
    step(
        *("promote", "credit-default", "7", "--to", "staging", "--as", "alice"),
        *("--ticket", "CHG-1"),
        golden="cli/04-promote-pending",
    ),
    step("approve", "1", "--as", "bob", "--reason", "reproducible", golden="cli/05-approve"),
    step(
        *("promote", "credit-default", "7", "--to", "production", "--as", "alice"),
        golden="cli/06-promote-blocked",
    ),
    step(
        *("waiver", "grant", "credit-default", "auc_vs_champion", "--version", "7"),
        *("--until", "2026-12-15", "--justification", "first release: no champion to compare"),
        *("--control", "weekly AUC monitoring", "--control", "manual review of declines"),
        *("--as", "dave"),
        golden="cli/07-waiver-grant",
    ),
    step("request", "reevaluate", "2", "--as", "alice", golden="cli/08-reevaluate-waived"),
    step("approve", "2", "--as", "carol"),
    step("approve", "2", "--as", "dave", "--ticket", "CHG-2"),
    step("approve", "2", "--as", "erin", golden="cli/09-approve-to-production"),
    step("register", V8, "--as", "alice"),
    step("promote", "credit-default", "8", "--to", "staging", "--as", "alice"),
    step("approve", "3", "--as", "bob"),
    step(
        *("promote", "credit-default", "8", "--to", "production", "--as", "alice"),
        golden="cli/10-promote-denied",
    ),
    step("request", "list", golden="cli/11-request-list"),
    step("request", "list", "--open", "--json", golden="cli/12-request-list-open-json"),
    step("request", "show", "2", golden="cli/13-request-show"),
    step("waiver", "list", golden="cli/14-waiver-list"),
    step("waiver", "list", "--json", golden="cli/15-waiver-list-json"),
    step("status", golden="cli/16-status"),
    step("status", "credit-default", "--json", golden="cli/17-status-json"),
    step("history", "credit-default", golden="cli/18-history"),
    step("alerts", "list", golden="cli/19-alerts-list"),
    step("replay", "2", golden="cli/20-replay"),
    step("audit", "checkpoint", golden="cli/21-audit-checkpoint"),
    step("audit", "verify", golden="cli/22-audit-verify"),
    step("audit", "verify", "--json", golden="cli/23-audit-verify-json"),
]


def check(name: str, policy: str, manifest: str, *extra: str) -> Step:
    """``clearance check`` to production, with its table and both reports kept."""
    reports = (f"{name}.md", f"{name}.xml")
    args = ("check", "-p", policy, "-m", manifest, "--to", "production", "--now", NOW, *extra)
    args += ("--markdown", f"reports/{reports[0]}", "--junit", f"reports/{reports[1]}")
    return Step(args, f"check/{name}", reports)


# Stateless checks over the examples: every outcome, waived-or-skipped gates, data gates' details.
CHECKS = [
    check("needs-approval", f"{EXAMPLE}/policy", V7),
    check("deny", f"{EXAMPLE}/policy", V8),
    check("emergency", f"{EXAMPLE}/policy", V8, "--change-type", "emergency"),
    check(
        "data-gates",
        "examples/credit-risk-data/policy",
        "examples/credit-risk-data/v3-blocked/manifest.yaml",
    ),
]


def golden_names(steps: list[Step]) -> list[str]:
    """Every golden file the steps make: transcripts (``.txt``) and reports."""
    names = []
    for s in steps:
        if s.golden:
            names.append(f"{s.golden}.txt")
        names += [f"reports/{r}" for r in s.reports]
    return names


def transcript(s: Step, exit_code: int, stdout: str, stderr: str) -> str:
    """What a person would see, as a small file: the command, its exit code, its output."""
    text = f"$ clearance {shlex.join(s.args)}\nexit {exit_code}\n{stdout}"
    if stderr:
        text += f"--- stderr\n{stderr}"
    return tidy(text)


def tidy(text: str) -> str:
    """``text`` with the random values masked and trailing spaces dropped."""
    for pattern, mask in MASKS:
        text = pattern.sub(mask, text)
    return "".join(line.rstrip() + "\n" for line in text.splitlines())


def run(steps: list[Step], folder: Path) -> dict[str, Any]:
    """Each golden step's text by file name, or ``{"crash": ...}`` naming the step that failed."""
    from typer.testing import CliRunner

    from clearance.adapters.clock import SystemClock
    from clearance.cli.app import app

    minute = START  # the time every clock read gets during the step running now
    SystemClock.now = lambda _self: minute
    runner = CliRunner()
    os.chdir(folder)
    texts: dict[str, str] = {}
    for index, s in enumerate(steps):
        minute = START + dt.timedelta(minutes=index)
        result = runner.invoke(app, list(s.args))
        exc = result.exception
        if exc is not None and not isinstance(exc, SystemExit):
            trace = "".join(traceback.format_exception(exc))
            return {"crash": f"`clearance {shlex.join(s.args)}` crashed:\n{trace}"}
        if s.golden is None:
            if result.exit_code != 0:
                output = result.stdout + result.stderr
                return {
                    "crash": f"`clearance {shlex.join(s.args)}` exit {result.exit_code}:\n{output}"
                }
            continue
        texts[f"{s.golden}.txt"] = transcript(s, result.exit_code, result.stdout, result.stderr)
        for report in s.reports:
            texts[f"reports/{report}"] = tidy((folder / "reports" / report).read_text("utf-8"))
    return {"texts": texts}


def prepare(folder: Path) -> None:
    """The examples, copied so that every path in a command is relative, and the registry
    story's policy: the credit-risk example's, with waivers allowed."""
    for example in ("credit-risk", "credit-risk-data"):
        shutil.copytree(ROOT / "examples" / example, folder / "examples" / example)
    shutil.copytree(ROOT / EXAMPLE / "policy", folder / "policy")
    with (folder / "policy" / "workflow.yaml").open("a") as workflow:
        workflow.write(WAIVER_RULES)


def environment() -> dict[str, str]:
    """The stories' environment: this one, less what steers Rich or clearance, plus ENV."""
    env = {k: v for k, v in os.environ.items() if k not in UNSET and not k.startswith("CLEARANCE_")}
    return {**env, **ENV}


def main(folder: Path) -> None:
    prepare(folder)
    out = run(REGISTRY + CHECKS, folder)
    sys.stdout.write(json.dumps(out))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
