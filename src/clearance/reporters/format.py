"""Shared wording for reports, so every format says the same thing the same way."""

from __future__ import annotations

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


def value(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


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
