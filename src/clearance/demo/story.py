"""``clearance demo``: the whole promotion story, end to end, in a fresh workspace.

It trains real (small) models on a synthetic credit dataset, registers them with their
lineage and evidence, and walks them through the policy exactly as a team would with the
CLI: each step prints the command a person would type, then what clearance answered.
It stops with an error if any step does not behave as the story says.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from clearance.errors import ApprovalError, ClearanceError, InputError
from clearance.reporters.table import render
from clearance.service.promotion import RequestResult
from clearance.terminal import SafeConsole
from clearance.workspace import Workspace, init_workspace

if TYPE_CHECKING:
    from clearance.demo.assets import DemoAssets

T = TypeVar("T")
MODEL = "credit-default"
PEOPLE = {
    "alice": ["ml_engineer"],
    "bob": ["tech_lead"],
    "carol": ["model_owner"],
    "dave": ["risk_officer"],
    "frank": ["mlops_oncall"],
    "erin": ["policy_admin"],
}


class DemoFailed(ClearanceError):
    """A step of the demo did not turn out as the story says."""

    exit_code = 1


class Story:
    def __init__(self, ws: Workspace, console: SafeConsole) -> None:
        self.ws = ws
        self.out = console

    def chapter(self, title: str) -> None:
        self.out.print()
        rule = Rule(Text(title, style="bold"), align="left")
        self.out.print(rule, width=min(self.out.width, 100))  # a pipe is 400 columns wide

    def say(self, text: str) -> None:
        """The story's own narration (markup and line breaks are its own)."""
        self.out.print(Text.from_markup(text, emoji=False))

    def run(self, command: str, action: Callable[[], T]) -> T:
        self.out.say("[dim]$[/] [bold cyan]clearance {command}[/]", command=command)
        return action()

    def request(
        self, command: str, action: Callable[[], RequestResult], *, expect: str, show: bool = False
    ) -> RequestResult:
        result = self.run(command, action)
        if show:
            render(result.decision, self.out)
        else:
            self.out.print(
                f"  → {result.decision.outcome.value}: {result.decision.summary}", highlight=False
            )
        self.out.say(
            "  request {id} is [bold]{status}[/]",
            id=result.request.id,
            status=result.request.status,
        )
        if result.request.status != expect:
            raise DemoFailed(
                f"request {result.request.id} is {result.request.status}, "
                f"the story expected {expect}"
            )
        return result


def build_assets(root: Path) -> DemoAssets:
    """The demo's data, trained models, manifests and policy under ``root``.

    Training needs numpy and scikit-learn, which only the ``demo`` extra installs: without
    them the demo says which extra to install instead of failing on an import.
    """
    from clearance.extras import MissingExtra, missing_extra

    try:
        from clearance.demo.assets import build_assets as build
    except ImportError as exc:
        missing = missing_extra(exc, "clearance demo")
        if missing is None:
            raise
        raise MissingExtra("clearance demo", missing.module, "demo") from None
    return build(root)


def write_files(directory: Path, console: SafeConsole) -> DemoAssets:
    """Only the story's files, and no workspace: for typing docs/quickstart.md by hand."""
    if (directory / "project").exists() or (directory / ".clearance").exists():
        raise InputError(f"{directory} already holds a demo; choose an empty folder")
    directory.mkdir(parents=True, exist_ok=True)
    assets = build_assets(directory / "project")
    console.say("wrote the demo's data, models, manifests and policy to {root}", root=assets.root)
    console.say("next: cd {root} and follow docs/quickstart.md from step 1", root=directory)
    return assets


def run_demo(directory: Path | None, console: SafeConsole) -> Workspace:
    """Tell the story in ``directory`` (a new temporary folder when None)."""
    root = directory or Path(tempfile.mkdtemp(prefix="clearance-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    console.say("[bold]clearance demo[/] in {root}", root=root)
    assets = build_assets(root / "project")
    ws = init_workspace(root)
    s = Story(ws, console)
    reg, promo = ws.registry, ws.promotions

    s.chapter("1. A team, a policy and three trained models")
    for name, roles in PEOPLE.items():
        s.run(
            f"user add {name} --role {' --role '.join(roles)}",
            partial(reg.add_user, name, roles, actor="admin", operator=True),
        )
    s.run(
        "policy apply project/policy --as erin",
        lambda: reg.apply_policy(assets.policy_dir, actor="erin"),
    )
    s.say(
        "The credit-risk policy: draft → staging needs reproducibility and an AUC floor plus a "
        "tech lead;\nstaging → production re-hashes the artifact, inspects the pickle for "
        "code, scans for secrets,\nadds champion comparison, the four-fifths rule, latency, "
        "vulnerability and license scans,\nno PII features, a complete model card, monitoring "
        "and rollback plans, and the model owner\nand the risk officer."
    )
    table = Table("version", "auc", "approval-rate disparity", "latency p95 ms")
    for version, m in assets.metrics.items():
        s.run(
            f"register project/models/v{version}/manifest.yaml --as alice",
            partial(reg.register, assets.manifests[version], actor="alice"),
        )
        table.add_row(
            version,
            f"{m['auc']:.4f}",
            f"{m['approval_rate_disparity_ratio']:.3f}",
            f"{m['latency_p95_ms']:.2f}",
        )
    s.out.print(table)

    s.chapter("2. Version 1: draft → staging → production, with sign-offs")
    r = s.request(
        f"promote {MODEL} 1 --to staging --as alice",
        lambda: promo.promote(MODEL, "1", "staging", actor="alice", ticket="CHG-101"),
        expect="pending",
    )
    s.request(
        f"approve {r.request.id} --as bob",
        lambda: promo.approve(r.request.id, actor="bob", reason="lineage and AUC checked"),
        expect="executed",
    )
    r = s.request(
        f"promote {MODEL} 1 --to production --as alice",
        lambda: promo.promote(MODEL, "1", "production", actor="alice", ticket="CHG-102"),
        expect="pending",
        show=True,
    )
    s.say("Alice asks for production and tries to approve her own request:")
    try:
        s.run(
            f"approve {r.request.id} --as alice", lambda: promo.approve(r.request.id, actor="alice")
        )
        raise DemoFailed("a self-approval was accepted")
    except ApprovalError as exc:
        s.out.say("  [bold red]refused[/]: {exc}", exc=exc)
    s.request(
        f"approve {r.request.id} --as carol",
        lambda: promo.approve(r.request.id, actor="carol", ticket="CHG-102"),
        expect="pending",
    )
    v1_live = s.request(
        f"approve {r.request.id} --as dave",
        lambda: promo.approve(r.request.id, actor="dave", ticket="CHG-102"),
        expect="executed",
    )

    s.chapter("3. Version 2: leaner, but blocked by its gates")
    r = s.request(
        f"promote {MODEL} 2 --to staging --as alice",
        lambda: promo.promote(MODEL, "2", "staging", actor="alice"),
        expect="pending",
    )
    s.request(
        f"approve {r.request.id} --as bob",
        lambda: promo.approve(r.request.id, actor="bob"),
        expect="executed",
    )
    s.request(
        f"promote {MODEL} 2 --to production --as alice",
        lambda: promo.promote(MODEL, "2", "production", actor="alice"),
        expect="blocked",
        show=True,
    )

    s.chapter("4. Version 3 replaces version 1; an incident; rollback")
    r = s.request(
        f"promote {MODEL} 3 --to staging --as alice",
        lambda: promo.promote(MODEL, "3", "staging", actor="alice"),
        expect="pending",
    )
    s.request(
        f"approve {r.request.id} --as bob",
        lambda: promo.approve(r.request.id, actor="bob"),
        expect="executed",
    )
    r = s.request(
        f"promote {MODEL} 3 --to production --as alice",
        lambda: promo.promote(MODEL, "3", "production", actor="alice"),
        expect="pending",
    )
    request_id = r.request.id
    for who in ("carol", "dave"):
        s.request(
            f"approve {request_id} --as {who}",
            partial(promo.approve, request_id, actor=who),
            expect="executed" if who == "dave" else "pending",
        )
    reason = "approval rate for 18-25 fell 9 points in the first week (INC-2207)"
    done = s.run(
        f'rollback {MODEL} --reason "{reason}" --as frank',
        lambda: promo.rollback(MODEL, actor="frank", reason=reason),
    )
    bad, restored = done.rolled_back, done.restored
    s.say(f"  version {bad.version} → {bad.stage}; version {restored.version} → {restored.stage}")
    if restored.version != "1":
        raise DemoFailed(f"rollback restored version {restored.version}, not 1")
    _status(s)

    s.chapter("5. The auditor's view")
    report = s.run("audit verify", ws.auditing.verify)
    if not report.ok:
        raise DemoFailed(f"the audit chain does not verify: {report.fault}")
    s.say(f"  audit chain OK: {report.events} events, head {report.head_hash[:16]}…")
    cp = s.run("audit checkpoint", ws.auditing.checkpoint)
    s.say(f"  signed checkpoint at seq {cp.seq} with key {cp.key_id}")
    number = str(v1_live.decision_number)
    replay = s.run(f"replay {number}", lambda: ws.replays.replay(number))
    s.say(
        f"  decision {number} (version 1 into production) replayed from its recorded inputs: "
        f"{'identical' if replay.identical else 'DIFFERENT'} ({replay.replayed_outcome})"
    )
    if not replay.identical:
        raise DemoFailed("replay differs: " + "; ".join(replay.differences))
    s.out.print()
    s.say(f"Done. The workspace is in {root}; try `cd {root} && clearance history {MODEL}`.")
    return ws


def _status(s: Story) -> None:
    rows = s.run(f"status {MODEL}", lambda: s.ws.views.status(MODEL))
    table = Table("version", "stage")
    for v in rows[0].versions:
        table.add_row(v.version, v.stage)
    s.out.print(table)
