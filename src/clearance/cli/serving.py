"""``clearance serving verify``: may this model serve, and is this artifact the approved one?

For deploy scripts: it does what ``clearance.serving.load`` does before loading (resolve the
serving version, hash the artifact's bytes here, verify the decision's signed attestation,
judge the waivers' and the bypass's expiry now) and loads nothing. Exit codes: 0 it may
serve, 1 refused (the reason code and why on stderr, or in the JSON), 2 usage or input error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.text import Text
from typer.core import TyperGroup

from clearance.cli import governance
from clearance.cli.common import JSON, connect, console, print_json, read_public_key
from clearance.terminal import SafeConsole, printable


class _ServingGroup(TyperGroup):
    """``clearance serving MODEL`` (no sub-command) is ``clearance serving show MODEL``, as
    it was before the group existed."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # typer's own click Context
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["show", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_ServingGroup,
    help="Governed serving: what serves, and whether a serving process may load it "
    "(`clearance serving MODEL` is `clearance serving show MODEL`).",
    no_args_is_help=True,
)
app.command("show")(governance.serving)
err = SafeConsole(stderr=True, soft_wrap=True)


@app.command("verify")
def serving_verify(
    model: str = typer.Argument(..., help="The model."),
    stage: str = typer.Option("production", "--stage", help="The stage served from."),
    version: str | None = typer.Option(
        None, "--version", help="This version (e.g. the canary), not the stage's default."
    ),
    artifact: Path | None = typer.Option(
        None,
        "--artifact",
        help="The file (or MLflow model folder) about to be served; default: the workspace's "
        "stored copy, or the path registered.",
    ),
    public_key: Path | None = typer.Option(
        None,
        "--public-key",
        help="Verify the attestation with this key (hex, PEM or 32 raw bytes; `clearance "
        "audit public-key`) instead of the keys the workspace or server lists.",
    ),
    allow_unattested: bool = typer.Option(
        False,
        "--allow-unattested",
        help="Accept a decision without an attestation (one made before attestations).",
    ),
    as_json: bool = JSON,
) -> None:
    """Check that MODEL may serve from --stage and that its artifact is the approved one.

    Exit 0 it may serve, 1 refused (reason printed), 2 usage or input error.
    """
    from clearance.serving.loader import verify_artifact
    from clearance.serving.verify import ServingRefused

    key = read_public_key(public_key) if public_key is not None else None
    try:
        verified, read = verify_artifact(
            model,
            stage,
            version=version,
            artifact=artifact,
            client=connect(),
            public_key=key,
            require_attestation=not allow_unattested,
        )
    except ServingRefused as exc:
        if as_json:
            print_json({"ok": False, "reason": exc.reason, "message": exc.detail})
        else:
            err.print(Text.assemble(("refused: ", "bold red"), printable(str(exc))))
        raise typer.Exit(1) from None
    if read.keep is not None:
        read.keep.cleanup()
    if as_json:
        print_json({"ok": True, **verified.as_dict()})
        return
    signed = (
        f"attestation signed by key {verified.keyid[:16]} ({verified.key_source})"
        if verified.keyid
        else "no attestation (allowed by --allow-unattested)"
    )
    console.print(
        f"ok: {verified.model} {verified.version} serves in {verified.stage} "
        f"({verified.role}); sha256:{verified.sha256[:12]} matches decision "
        f"{verified.decision} of request {verified.request}; {signed}"
    )
