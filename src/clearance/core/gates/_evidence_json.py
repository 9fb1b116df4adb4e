"""Reading a JSON report attached as evidence (pip-audit, CycloneDX, OSV), bounded.

Every failure is a ``GateProblem`` naming the evidence, so the gate returns it as its
``error`` result: missing evidence, a file larger than the gate's ``max_bytes`` (checked
from the recorded size before reading when the reader knows it), bytes that are not JSON,
or JSON nested too deeply to parse.
"""

from __future__ import annotations

import json
from typing import Any

from clearance.core.gates.base import GateContext, GateProblem
from clearance.core.hashing import sha256_bytes


def read_json(ctx: GateContext, name: str, max_bytes: int, what: str) -> tuple[Any, str]:
    """The parsed content of evidence ``name`` and its sha256."""
    item = ctx.version.evidence.get(name)
    if item is None:
        known = ", ".join(sorted(ctx.version.evidence)) or "none"
        raise GateProblem(
            f"needs {what} as evidence '{name}' (attached evidence: {known})", [f"evidence.{name}"]
        )
    if item.size is not None and item.size > max_bytes:
        raise GateProblem(_too_large(name, item.size, max_bytes))
    try:
        data = ctx.evidence.read_bytes(name)
    except KeyError:
        raise GateProblem(
            f"evidence '{name}' has no readable content here (referenced by URI only?); "
            "attach the file",
            [f"evidence.{name}"],
        ) from None
    except OSError as exc:
        raise GateProblem(f"cannot read evidence '{name}': {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise GateProblem(_too_large(name, len(data), max_bytes))
    try:
        return json.loads(data), sha256_bytes(data)
    except RecursionError:
        raise GateProblem(f"evidence '{name}' is JSON nested too deeply to read") from None
    except ValueError as exc:
        raise GateProblem(f"evidence '{name}' is not JSON ({what} expected): {exc}") from None


def _too_large(name: str, size: int, limit: int) -> str:
    return (
        f"evidence '{name}' has {size:,} bytes, over the gate's max_bytes = {limit:,}; "
        "raise max_bytes if the report is expected to be this large"
    )
