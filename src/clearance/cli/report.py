"""Evidence packs: ``clearance report MODEL VERSION --out FILE.zip`` (or ``--html FILE``)
builds one on the workspace; ``clearance report verify FILE.zip`` checks it anywhere.

``verify`` needs no workspace, no database and no server: it reads the zip (bounded, never
extracted), checks the audit chain proof against a signed checkpoint and re-runs every
decision's gates from the pack's own files. Exit codes: 0 every check passed, 1 a check
failed, 2 the file is not a readable pack (or another input error).

``report MODEL VERSION`` is ``report create MODEL VERSION``: the group runs ``create`` when
its first argument is not one of its commands (a model named ``verify`` or ``create`` is
reached as ``report create verify 1.0.0``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.text import Text
from typer.core import TyperGroup

from clearance.cli.common import JSON, console, print_json, remote, workspace
from clearance.errors import InputError

if TYPE_CHECKING:
    from clearance.core.evidence_pack import PackBlobs, PackReport
    from clearance.core.version import EvidenceReader, ModelVersion

MIB = 1024 * 1024


class _DefaultCreate(TyperGroup):
    """``report MODEL VERSION`` runs ``create``; ``report verify FILE`` runs ``verify``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # typer's own click Context
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["create", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_DefaultCreate,
    help="Evidence packs: a version's decisions, evidence, policy and audit proof in one "
    "file an auditor verifies offline (`report MODEL VERSION --out F.zip`, `report verify F`).",
    no_args_is_help=True,
)


def open_pack_evidence(
    version: ModelVersion, artifact: str | None, blobs: PackBlobs
) -> EvidenceReader:
    """The server's own evidence reader (the one replay uses), over the pack's files."""
    from clearance.adapters.evidence import BlobEvidence

    return BlobEvidence.of(blobs, version, artifact)


@app.command("create")
def create(
    model: str = typer.Argument(..., help="The model."),
    version: str = typer.Argument(..., help="The version."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the zip here."),
    html_out: Path | None = typer.Option(
        None, "--html", help="Write one self-contained, printable HTML page here."
    ),
    checkpoint: bool = typer.Option(
        False,
        "--checkpoint",
        help="Sign a checkpoint of the audit head first (the workspace key), so the pack's "
        "chain proof is anchored.",
    ),
    max_bytes: int = typer.Option(
        256 * MIB, "--max-bytes", min=1, help="Refuse a pack larger than this (uncompressed)."
    ),
) -> None:
    """Build the evidence pack of MODEL VERSION: model card, gate results, approvals and
    waivers, the policy at its exact version, the evidence the gates read, the audit events
    with a chain proof up to a signed checkpoint, and signed attestations where they exist."""
    if out is None and html_out is None:
        raise InputError("say where: --out FILE.zip, --html FILE.html, or both")
    if remote() is not None:
        raise InputError(
            "evidence packs are built on the workspace (unset CLEARANCE_URL and run this where "
            "the workspace is); verifying one needs nothing but the file"
        )
    ws = workspace()
    if checkpoint:
        cp = ws.auditing.checkpoint()
        console.print(f"checkpoint signed at seq {cp.seq} ({cp.hash[:12]})")
    built = ws.evidence_packs.build(model, version, max_bytes=max_bytes)
    if out is not None:
        _write(out, built.data)
        console.print(
            f"wrote {out}: {built.files} files, {len(built.decisions)} decision(s), "
            f"{built.events} audit events up to the checkpoint at seq {built.checkpoint_seq}",
            markup=False,
        )
    if html_out is not None:
        from clearance.core.evidence_pack import read_pack
        from clearance.reporters.html_pack import render

        pack = read_pack(built.data, max_bytes=max_bytes)
        _write(html_out, render(pack).encode("utf-8"))
        console.print(f"wrote {html_out}", markup=False)
    for note in built.notes:
        console.print(f"note: {note}", markup=False)


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise InputError(f"{path}: cannot write it ({exc.strerror or exc})") from None


@app.command("verify")
def verify(
    file: Path = typer.Argument(..., help="The evidence pack (.zip)."),
    public_key: Path | None = typer.Option(
        None,
        "--public-key",
        help="The workspace's public key (hex, PEM or 32 raw bytes; `clearance audit "
        "public-key`), kept outside the workspace. Without it the key inside the pack is used, "
        "which proves only that the pack is consistent.",
    ),
    html_out: Path | None = typer.Option(
        None, "--html", help="Also write the pack, with this verification, as an HTML page."
    ),
    max_bytes: int = typer.Option(
        256 * MIB, "--max-bytes", min=1, help="Refuse a pack larger than this (uncompressed)."
    ),
    as_json: bool = JSON,
) -> None:
    """Check a pack offline: every file's sha256, the audit chain up to its signed
    checkpoint, each decision against its audit event and recorded inputs, and the gates
    re-run from the pack. Exit 0 all checks pass, 1 one fails, 2 not a readable pack."""
    from clearance.cli.common import read_public_key
    from clearance.core.evidence_pack import read_pack, report_json, verify_pack

    key = read_public_key(public_key) if public_key is not None else None
    try:
        with file.open("rb") as f:
            pack = read_pack(f, max_bytes=max_bytes)
    except OSError as exc:
        raise InputError(f"{file}: cannot read it ({exc.strerror or exc})") from None
    report = verify_pack(pack, open_pack_evidence, key)
    if html_out is not None:
        from clearance.reporters.html_pack import render

        _write(html_out, render(pack, report).encode("utf-8"))
    if as_json:
        print_json(report_json(report))
    else:
        _print(report)
    raise typer.Exit(report.exit_code)


def _print(report: PackReport) -> None:
    for warning in report.warnings:
        console.print(Text.assemble(("WARNING", "bold red"), f": {warning}"))
    for c in report.checks:
        mark = ("ok  ", "green") if c.ok else ("FAIL", "bold red")
        console.print(Text.assemble(mark, f" {c.name}: {c.detail}"))
    verdict = "VERIFIED" if report.ok else "DOES NOT VERIFY"
    console.print(
        Text.assemble(
            (verdict, "bold green" if report.ok else "bold red"),
            f": {report.model} {report.version}, {len(report.decisions)} decision(s), "
            f"{len(report.checks)} checks",
        )
    )
