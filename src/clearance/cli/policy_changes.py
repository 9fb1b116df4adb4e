"""``clearance policy propose``, ``policy changes`` and ``policy change show|approve|reject|
withdraw``: a new version of an applied policy is a change request that others approve.

Exit codes: 0 done (a proposal or a sign-off that leaves the change pending is done too; the
message says what is still needed), 1 refused (your roles, your own change, a closed or stale
change), 2 bad input.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.text import Text

from clearance.cli.common import AS_USER, JSON, connect, print_json
from clearance.terminal import SafeConsole, printable

if TYPE_CHECKING:
    from clearance.service.policy_changes import PolicyChangeOut

change_app = typer.Typer(
    help="One policy change request: show, approve, reject or withdraw it.",
    no_args_is_help=True,
)
CHANGE = typer.Argument(..., min=1, metavar="CHANGE", help="The change's id (policy changes).")


def propose(
    policy: Path = typer.Argument(..., exists=True, help="The new version (file or directory)."),
    rationale: str = typer.Option(..., "--rationale", help="Why the policy changes."),
    ticket: str = typer.Option(..., "--ticket", help="The change ticket it answers."),
    as_user: str | None = AS_USER,
    as_json: bool = JSON,
) -> None:
    """Propose a new version of an applied policy; it applies once approved.

    Shows the semantic diff from the version in force (loosenings flagged) and the backtest
    summary. Approvers are the roles the version in force names under change_control
    (default: a policy_admin or admin); never you, and a loosening needs two of them.
    """
    from clearance.core.loading import read_policy_files

    files = [
        {"name": _relative(policy, name), "text": text} for name, text in read_policy_files(policy)
    ]
    out = connect(as_user).propose_policy_change(files, rationale=rationale, ticket=ticket)
    _show(out, as_json, detail=True)


def changes(
    open_only: bool = typer.Option(False, "--open", help="Only pending changes."),
    as_json: bool = JSON,
) -> None:
    """List policy change requests, oldest first."""
    rows = connect().policy_changes(open_only=open_only)
    if as_json:
        print_json([r.model_dump(mode="json") for r in rows])
        return
    from rich.table import Table

    out = SafeConsole(soft_wrap=True)
    if not rows:
        out.print("no policy changes" + (" pending" if open_only else ""))
        return
    table = Table("id", "policy", "from", "to", "author", "ticket", "status", "loosens", "needs")
    for r in rows:
        c = r.change
        table.add_row(
            *(
                Text(printable(str(cell)))
                for cell in (
                    c.id,
                    c.name,
                    c.base_version,
                    c.version,
                    c.author,
                    c.ticket,
                    _status(r),
                    "yes" if c.loosening else "no",
                    "; ".join(r.approval.missing) if r.approval else "",
                )
            )
        )
    out.print(table)


@change_app.command("show")
def show(change_id: int = CHANGE, as_json: bool = JSON) -> None:
    """One change: rationale, ticket, diff, backtest summary and sign-offs."""
    _show(connect().policy_change(change_id), as_json, detail=True)


@change_app.command("approve")
def approve(
    change_id: int = CHANGE,
    reason: str = typer.Option("", "--reason", help="What you checked."),
    as_user: str | None = AS_USER,
    as_json: bool = JSON,
) -> None:
    """Approve a change (never your own); the approval that completes it applies it."""
    _show(connect(as_user).approve_policy_change(change_id, reason=reason), as_json)


@change_app.command("reject")
def reject(
    change_id: int = CHANGE,
    reason: str = typer.Option(..., "--reason", help="Why; the author will read it."),
    as_user: str | None = AS_USER,
    as_json: bool = JSON,
) -> None:
    """Reject a change with a reason; this closes it."""
    _show(connect(as_user).reject_policy_change(change_id, reason=reason), as_json)


@change_app.command("withdraw")
def withdraw(
    change_id: int = CHANGE,
    reason: str = typer.Option("", "--reason", help="Why it is taken back."),
    as_user: str | None = AS_USER,
    as_json: bool = JSON,
) -> None:
    """Withdraw a pending change (its author, or an admin); it can no longer be approved.

    An applied version is not withdrawn: propose the version to go back to (the previous
    content under a higher version number), and it is reviewed like any change.
    """
    _show(connect(as_user).withdraw_policy_change(change_id, reason=reason), as_json)


def _relative(root: Path, name: str) -> str:
    """A file's name as the server sees it: relative to the folder given."""
    path = Path(name)
    return path.name if root.is_file() else path.relative_to(root).as_posix()


def _status(out: PolicyChangeOut) -> str:
    return "stale" if out.stale else out.change.status


def _show(out: PolicyChangeOut, as_json: bool, *, detail: bool = False) -> None:
    if as_json:
        print_json(out.model_dump(mode="json"))
        return
    c = out.change
    con = SafeConsole(soft_wrap=True)
    con.print(
        printable(
            f"policy change {c.id}: {c.name} {c.base_version} -> {c.version} by {c.author} "
            f"(ticket {c.ticket}): {_status(out)}"
        )
    )
    if detail:
        con.print(Text.assemble("  rationale: ", printable(c.rationale)))
        _diff(con, c.diff)
        _backtest(con, c.backtest)
    for a in c.approvals:
        reason = f": {a.reason}" if a.reason else ""
        con.print(printable(f"  {a.verdict} by {a.approver} ({', '.join(a.roles)}){reason}"))
    if c.status != "pending":
        why = f": {c.close_reason}" if c.close_reason else ""
        con.print(printable(f"  {c.status} by {c.closed_by} at {c.closed_at:%Y-%m-%d %H:%M}{why}"))
    elif out.stale:
        con.print(
            printable(f"  {c.name} {out.in_force} is in force now: withdraw and propose again")
        )
    elif out.approval is not None:
        for need in out.approval.missing:
            con.print(Text.assemble(("  still needed: ", "yellow"), printable(need)))


def _diff(con: SafeConsole, diff: dict[str, Any]) -> None:
    changes = diff.get("changes", [])
    loose = sum(1 for ch in changes if ch.get("loosens"))
    con.print(f"  {len(changes)} change(s), {loose} loosening(s):")
    for ch in changes:
        mark = ("LOOSENS ", "red") if ch.get("loosens") else ("", "")
        con.print(Text.assemble("    ", mark, printable(str(ch.get("note", "")))))


def _backtest(con: SafeConsole, summary: dict[str, Any] | None) -> None:
    if summary is None:
        con.print("  backtest: not run (`clearance policy backtest` runs one)")
        return
    if "error" in summary:
        con.print(Text.assemble("  backtest failed: ", printable(str(summary["error"]))))
        return
    con.print(
        printable(
            f"  backtest: {summary.get('examined', 0):,} decision(s), "
            f"{summary.get('newly_blocked', 0):,} newly blocked, "
            f"{summary.get('newly_allowed', 0):,} newly allowed, "
            f"{summary.get('production_at_risk', 0):,} production version(s) would fail"
            + (" (newest only)" if summary.get("more") else "")
        )
    )
    for line in summary.get("at_risk", []):
        con.print(Text.assemble("    at risk: ", printable(str(line))))
