"""What differs between two decisions as JSON: one wording for replay and evidence packs.

Gates are matched by id, not by position, so a policy that reorders its gates shows what
changed in each gate rather than every gate as moved. Either side may come from an untrusted
file (an evidence pack), so nothing here assumes the shapes it compares.
"""

from __future__ import annotations

from typing import Any


def decision_differences(before: Any, after: Any, path: str = "") -> list[str]:
    """Field-by-field differences, as ``path: old → new`` lines."""
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[str] = []
        for key in sorted(set(before) | set(after), key=str):
            where = f"{path}.{key}" if path else str(key)
            out += decision_differences(before.get(key), after.get(key), where)
        return out
    if isinstance(before, list) and isinstance(after, list) and path.endswith("gates"):
        old = {g.get("gate_id"): g for g in before if isinstance(g, dict)}
        new = {g.get("gate_id"): g for g in after if isinstance(g, dict)}
        out = []
        for gid in dict.fromkeys([*old, *new]):
            out += decision_differences(old.get(gid), new.get(gid), f"{path}[{gid}]")
        return out
    if before != after:
        return [f"{path}: {short(before)} → {short(after)}"]
    return []


def short(value: Any, limit: int = 80) -> str:
    """``repr`` cut to ``limit`` characters, for one line of a report."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
