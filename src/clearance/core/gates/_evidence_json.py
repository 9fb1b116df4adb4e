"""Reading a report attached as evidence (pip-audit, CycloneDX, OSV, JUnit...), bounded.

Every failure is a ``GateProblem`` naming the evidence and its file, so the gate returns it
as its ``error`` result: missing evidence, a file larger than the gate's ``max_bytes``
(checked from the recorded size before reading when the reader knows it), bytes that are not
JSON or not the report expected (:mod:`clearance.core.reports` says what is wrong).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from clearance.core.gates.base import GateContext, GateProblem
from clearance.core.hashing import sha256_bytes
from clearance.core.reports import Format, Report, ReportError, parse

T = TypeVar("T")


def read_evidence(ctx: GateContext, name: str, max_bytes: int, what: str) -> tuple[bytes, str]:
    """The bytes of evidence ``name`` and their sha256."""
    item = ctx.version.evidence.get(name)
    if item is None:
        known = ", ".join(sorted(ctx.version.evidence)) or "none"
        raise GateProblem(
            f"needs {what} as evidence '{name}' (attached evidence: {known})", [f"evidence.{name}"]
        )
    if item.size is not None and item.size > max_bytes:
        raise GateProblem(_too_large(ctx, name, item.size, max_bytes))
    try:
        data = ctx.evidence.read_bytes(name)
    except KeyError:
        raise GateProblem(
            f"evidence '{name}' has no readable content here (referenced by URI only?); "
            "attach the file",
            [f"evidence.{name}"],
        ) from None
    except OSError as exc:
        raise GateProblem(f"cannot read {named(ctx, name)}: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise GateProblem(_too_large(ctx, name, len(data), max_bytes))
    return data, sha256_bytes(data)


def read_json(ctx: GateContext, name: str, max_bytes: int, what: str) -> tuple[Any, str]:
    """The parsed content of evidence ``name`` and its sha256."""
    data, sha = read_evidence(ctx, name, max_bytes, what)
    try:
        return json.loads(data), sha
    except RecursionError:
        raise GateProblem(f"{named(ctx, name)} is JSON nested too deeply to read") from None
    except ValueError as exc:
        raise GateProblem(f"{named(ctx, name)} is not JSON ({what} expected): {exc}") from None


def read_report(
    ctx: GateContext, name: str, max_bytes: int, format: Format | None = None
) -> tuple[Report, str]:
    """Evidence ``name`` parsed as a report (of ``format``, else of the format it shows)."""
    data, sha = read_evidence(ctx, name, max_bytes, f"a {format or 'test or scan'} report")
    return in_report(ctx, name, parse, data, format), sha


def in_report(ctx: GateContext, name: str, read: Callable[..., T], *args: Any) -> T:
    """``read(*args)``, its ``ReportError`` turned into a ``GateProblem`` naming the file."""
    try:
        return read(*args)
    except ReportError as exc:
        raise GateProblem(f"{named(ctx, name)}: {exc}") from None


def named(ctx: GateContext, name: str) -> str:
    """``evidence 'sbom' (sbom.json)``: the evidence and the file it was read from."""
    item = ctx.version.evidence.get(name)
    uri = item.uri if item is not None else ""
    return f"evidence '{name}'" + (f" ({uri[:200]})" if uri and uri != name else "")


def _too_large(ctx: GateContext, name: str, size: int, limit: int) -> str:
    return (
        f"{named(ctx, name)} has {size:,} bytes, over the gate's max_bytes = {limit:,}; "
        "raise max_bytes if the report is expected to be this large"
    )
