"""The sync rule, pure: compare MLflow, clearance, and what clearance last wrote.

A *key* is one thing clearance governs in MLflow: an alias (``("alias", "champion")``) or
one tag of one version (``("tag", "3", "clearance.stage")``); its *value* is text, or None
when absent. ``plan`` decides, key by key, what to write, what to accept as it is, and what
was changed without a decision (``mlflow_sync``'s module doc has the table).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

Key = tuple[str, ...]  # ("alias", alias) or ("tag", mlflow version, tag key)
Value = str | None  # None: absent (no alias, no tag)


class Unmanaged:
    """The wanted value of an alias no stage holds and clearance never wrote: as found."""


UNMANAGED = Unmanaged()
Wanted = Value | Unmanaged


@dataclass
class Plan:
    """What one sync does (pure: see ``plan``)."""

    writes: dict[Key, Value] = field(default_factory=dict)
    accepted: dict[Key, Value] = field(default_factory=dict)  # as found; recorded, not written
    drifts: list[tuple[Key, Value, Value, bool]] = field(default_factory=list)


def plan(
    actual: Mapping[Key, Value],
    wanted: Mapping[Key, Wanted],
    last: Mapping[Key, Value],
    *,
    revert: bool,
) -> Plan:
    """Compare MLflow (``actual``), clearance (``wanted``) and what clearance last wrote or
    accepted (``last``), key by key; see the module doc for the rule."""
    out = Plan()
    for key, want in wanted.items():
        found = actual.get(key)
        known = key in last
        if isinstance(want, Unmanaged):
            if not known:
                out.accepted[key] = found
                continue
            want = last[key]
        drift = known and found != last[key] and found != want
        write = found != want and (not known or want != last[key] or revert)
        if drift:
            out.drifts.append((key, found, want, write))
        if write:
            out.writes[key] = want
        elif found == want and (not known or last[key] != found):
            out.accepted[key] = found
    return out


def target(key: Key) -> str:
    return f"@{key[1]}" if key[0] == "alias" else f"version {key[1]} {key[2]}"


def nest(values: Mapping[Key, Value]) -> dict[str, Any]:
    aliases = {k[1]: v for k, v in values.items() if k[0] == "alias"}
    tags: dict[str, dict[str, Value]] = {}
    for k, v in values.items():
        if k[0] == "tag":
            tags.setdefault(k[1], {})[k[2]] = v
    return {"aliases": aliases, "tags": tags}


def flat(nested: Mapping[str, Any]) -> dict[Key, Value]:
    out: dict[Key, Value] = {("alias", a): v for a, v in nested.get("aliases", {}).items()}
    for version, tags in nested.get("tags", {}).items():
        out.update({("tag", version, k): v for k, v in tags.items()})
    return out
