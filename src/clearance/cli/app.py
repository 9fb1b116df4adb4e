"""The ``clearance`` command: sub-commands are registered here; errors become exit codes.

Exit codes: 0 allowed / ok, 1 denied / blocked / findings, 2 usage or input error. An
expected error prints one line per problem on stderr and never a traceback.
"""

from __future__ import annotations

import atexit
import gc
import os
import sys
from pathlib import Path

import typer
from rich.text import Text

from clearance import __version__
from clearance.cli import (
    access,
    analytics,
    attest,
    audit,
    check,
    governance,
    key,
    policy,
    policy_changes,
    promotion,
    registry,
    report,
    serving,
)
from clearance.cli.blobs import blobs_app
from clearance.cli.mlflow import mlflow_app
from clearance.cli.monitor import monitor_app
from clearance.cli.serve import serve
from clearance.errors import ClearanceError
from clearance.terminal import SafeConsole, printable

app = typer.Typer(
    name="clearance",
    help="Clearance for ML model versions: policy-as-code gates, sign-offs and an audit trail.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish, pwsh
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        help="Print the installed clearance version and exit.",
        callback=_print_version,
        is_eager=True,
    ),
) -> None:
    """Clearance for ML model versions: policy-as-code gates, sign-offs and an audit trail."""


app.command("check")(check.check)
app.command("init")(registry.init)
app.command("register")(registry.register)
app.command("promote")(promotion.promote)
app.command("approve")(promotion.approve)
app.command("reject")(promotion.reject)
app.command("queue")(promotion.queue)
app.command("rollback")(promotion.rollback)
app.command("status")(audit.status)
app.command("history")(audit.history)
app.command("replay")(audit.replay)
app.command("analytics")(analytics.analytics)
policy.app.command("apply")(registry.policy_apply)
policy.app.command("propose")(policy_changes.propose)
policy.app.command("changes")(policy_changes.changes)
policy.app.add_typer(policy_changes.change_app, name="change")
app.add_typer(policy.app, name="policy")
registry.user_app.command("disable")(access.user_disable)
registry.user_app.command("enable")(access.user_enable)
app.add_typer(registry.user_app, name="user")
app.add_typer(access.token_app, name="token")
app.add_typer(registry.evidence_app, name="evidence")
app.add_typer(promotion.request_app, name="request")
app.add_typer(audit.audit_app, name="audit")
app.add_typer(registry.db_app, name="db")
app.add_typer(blobs_app, name="blobs")
app.add_typer(governance.waiver_app, name="waiver")
app.add_typer(governance.review_app, name="review")
app.add_typer(governance.rollout_app, name="rollout")
app.add_typer(governance.notify_app, name="alerts")
app.add_typer(mlflow_app, name="mlflow")
app.add_typer(monitor_app, name="monitor")
app.add_typer(attest.app, name="attest")
app.add_typer(report.app, name="report")
app.add_typer(key.app, name="key")
app.add_typer(serving.app, name="serving")
app.command("tick")(governance.tick)
app.command("serve")(serve)
err = SafeConsole(stderr=True, soft_wrap=True)


@app.command("demo")
def demo(
    story: str = typer.Argument("all", help="main, governance or all."),
    directory: Path | None = typer.Option(None, "--dir", help="Where (default: a new temp dir)."),
    files_only: bool = typer.Option(
        False,
        "--files-only",
        help="Only write the story's files (data, models, manifests, policy), no workspace: "
        "for following docs/quickstart.md by hand.",
    ),
) -> None:
    """Run the end-to-end stories: train, register, sign off, block, roll back; then waivers,
    an emergency hotfix and its review, and a canary that rolls itself back."""
    import tempfile

    from clearance.demo.governance import run_governance
    from clearance.demo.story import run_demo, write_files

    if story not in ("main", "governance", "all"):
        raise typer.BadParameter("choose main, governance or all", param_hint="STORY")
    root = directory or Path(tempfile.mkdtemp(prefix="clearance-demo-"))
    console = SafeConsole()
    if files_only:
        write_files(root, console)
        return
    if story in ("main", "all"):
        run_demo(root / "main" if story == "all" else root, console)
    if story in ("governance", "all"):
        console.print()
        run_governance(root / "governance" if story == "all" else root, console)


@app.command("version")
def version() -> None:
    """Print the installed clearance version."""
    typer.echo(__version__)


def main() -> None:
    """Console-script entry point; Click handles usage errors (exit 2) and ``Exit`` itself."""
    from clearance.adapters.numba_cache import announce_compilation

    announce_compilation()  # a cold kernel cache costs seconds: say so instead of hanging
    # The interpreter's exit would search everything the command loaded for cycles, several
    # times over (0.1 s of CPU once the store is loaded); the process's end frees it all anyway.
    atexit.unregister(gc.freeze)  # one registration, however often main runs in a process
    atexit.register(gc.freeze)
    try:
        app()
    except ClearanceError as exc:
        if problems := getattr(exc, "problems", None):  # policy, manifest, notification config
            for problem in problems:  # already "file:line:col: error: field: message"
                err.print(Text(printable(problem)))
        else:
            for line in error_lines(exc):
                err.print(Text.assemble(("error: ", "bold red"), line))
        sys.exit(exc.exit_code)


def error_lines(exc: ClearanceError) -> list[str]:
    """The message as printable lines. Local messages are one line by construction, so a
    newline in one came from a value (a stored name, an argument) and stays visible as
    ``\\n`` rather than forging an ``error:`` line. Through a server (``CLEARANCE_URL``) the
    client adds the field errors as indented lines, and those are kept."""
    text = str(exc) or type(exc).__name__
    if not os.environ.get("CLEARANCE_URL"):
        return [printable(text)]
    first, *rest = text.split("\n  ")
    return [printable(first), *(f"  {printable(line)}" for line in rest)]
