"""Shared wording for reports, so every format says the same thing the same way."""

from __future__ import annotations

import re
from typing import Any

from clearance.core.results import GateResult, GateStatus

ORDER = [
    GateStatus.ERROR,
    GateStatus.FAIL,
    GateStatus.WARN,
    GateStatus.WAIVED,
    GateStatus.SKIPPED,
    GateStatus.PASS,
]


_DIGEST = re.compile(r"(sha256:)?[0-9a-f]{64}")


def value(v: Any) -> str:
    """A value as a report shows it: a sha256 digest by its first 12 hex digits, as the CLI
    names decisions and policies (``--json`` keeps every value whole)."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:.6g}"
    text = str(v)
    if _DIGEST.fullmatch(text):
        return text[: len(text) - 52] + "…"  # the prefix, if any, and 12 hex digits
    return text


def threshold(g: GateResult) -> str:
    if g.threshold is None:
        return ""
    op = f"{g.operator} " if g.operator else ""
    return f"{op}{value(g.threshold)}"


def margin(g: GateResult) -> str:
    if g.margin is None:
        return ""
    text = f"{g.margin:+.4g}"
    return f"{text} (near miss)" if g.near_miss else text


def status(g: GateResult) -> str:
    if g.status is GateStatus.WAIVED and g.waived_status is not None:
        return f"waived ({g.waived_status.value})"
    return g.status.value


def by_severity(gates: list[GateResult]) -> list[GateResult]:
    """Worst first, then in policy order (the sort is stable)."""
    return sorted(gates, key=lambda g: ORDER.index(g.status))


def worst_items(g: GateResult) -> list[tuple[str, str, str]]:
    """The worst columns/groups a data gate reported (``details.worst``) as (what, name,
    summary), e.g. ("column", "utilization", "KS 0.21 (p 1e-9); PSI 0.31")."""
    rows: Any = g.details.get("worst")
    if not isinstance(rows, list):
        return []
    return [
        (str(row.get("what", "item")), str(row["name"]), str(row.get("summary", "")))
        for row in rows
        if isinstance(row, dict) and "name" in row
    ]


def worst_lines(g: GateResult) -> list[str]:
    """:func:`worst_items` as plain lines, in the terminal table's wording."""
    return [
        f"{what} {name}: {summary}" if summary else f"{what} {name}"
        for what, name, summary in worst_items(g)
    ]
