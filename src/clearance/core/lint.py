"""Checks across a whole policy that field validation cannot see.

Errors make a policy unusable (a transition naming an undefined gate); warnings are smells
a reviewer should see (a gate no transition uses, a stage nothing leads to, an expired or
ownerless gate, which ``policy lint`` alone reports).
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections import Counter

from clearance.core.durations import parse_duration
from clearance.core.monitors import monitor_problems
from clearance.core.policy import Policy
from clearance.core.yamlsource import Positions, format_path
from clearance.errors import Problem

Path = tuple[str | int, ...]


class _Findings:
    def __init__(self, positions: Positions) -> None:
        self.positions = positions
        self.items: list[Problem] = []

    def add(self, path: Path, message: str, *, code: str, warning: bool = False) -> None:
        severity = "warning" if warning else "error"
        loc = self.positions.locate(path)
        self.items.append(Problem(loc, format_path(path), message, severity, code))


def _suggest(name: str, known: list[str]) -> str:
    unique = list(dict.fromkeys(known))
    close = difflib.get_close_matches(name, unique, n=1)
    return f"; did you mean '{close[0]}'?" if close else f"; defined: {', '.join(unique) or 'none'}"


def semantic_problems(policy: Policy, positions: Positions) -> list[Problem]:
    f = _Findings(positions)
    _stages(policy, f)
    _gates(policy, f)
    _transitions(policy, f)
    _canary_windows(policy, f)
    _change_types(policy, f)
    _waivers(policy, f)
    return f.items + monitor_problems(policy, positions)


def _stages(policy: Policy, f: _Findings) -> None:
    wf = policy.workflow
    for stage, n in Counter(wf.stages).items():
        if n > 1:
            f.add(("workflow", "stages"), f"stage '{stage}' is listed {n} times", code="dup-stage")
    if wf.production_stage not in wf.stages:
        f.add(
            ("workflow", "production_stage"),
            f"'{wf.production_stage}' is not a stage{_suggest(wf.production_stage, wf.stages)}",
            code="unknown-stage",
        )
    if not wf.stages:
        return
    reached = {wf.stages[0]}
    frontier = [wf.stages[0]]
    while frontier:
        here = frontier.pop()
        for t in wf.transitions:
            if t.from_ == here and t.to not in reached:
                reached.add(t.to)
                frontier.append(t.to)
    for i, stage in enumerate(wf.stages):
        if stage not in reached:
            f.add(
                ("workflow", "stages", i),
                f"stage '{stage}' cannot be reached from '{wf.stages[0]}' by any transition",
                code="unreachable-stage",
                warning=True,
            )


def _gates(policy: Policy, f: _Findings) -> None:
    first: dict[str, int] = {}
    for i, gate in enumerate(policy.gates):
        if gate.id in first:
            where = f.positions.locate(("gates", first[gate.id]))
            f.add(
                ("gates", i, "id"),
                f"gate id '{gate.id}' is already defined at {where}",
                code="dup-gate",
            )
        else:
            first[gate.id] = i
    used = {g for t in policy.workflow.transitions for g in t.gates}
    used |= {m.gate for m in policy.monitors if m.gate}  # a gate only a monitor runs is used
    bypassed = {g: name for name, ct in policy.change_types.items() for g in ct.bypass}
    for i, gate in enumerate(policy.gates):
        if gate.id not in used and first.get(gate.id) == i:
            only = (
                f" (change type {bypassed[gate.id]} bypasses it, but no transition evaluates it)"
                if gate.id in bypassed
                else ""
            )
            f.add(
                ("gates", i, "id"),
                f"gate '{gate.id}' is not used by any transition{only}",
                code="unused-gate",
                warning=True,
            )


def _transitions(policy: Policy, f: _Findings) -> None:
    stages = policy.workflow.stages
    gate_ids = [g.id for g in policy.gates]
    seen: dict[tuple[str, str], int] = {}
    for i, t in enumerate(policy.workflow.transitions):
        path: Path = ("workflow", "transitions", i)
        for end, name in (("from", t.from_), ("to", t.to)):
            if name not in stages:
                f.add(
                    (*path, end),
                    f"'{name}' is not a stage{_suggest(name, stages)}",
                    code="unknown-stage",
                )
        if (t.from_, t.to) in seen:
            f.add(
                path,
                f"transition {t.key} is already defined as transitions[{seen[t.from_, t.to]}]",
                code="dup-transition",
            )
        seen.setdefault((t.from_, t.to), i)
        for j, gate_id in enumerate(t.gates):
            if gate_id not in gate_ids:
                f.add(
                    (*path, "gates", j),
                    f"gate '{gate_id}' is not defined under gates{_suggest(gate_id, gate_ids)}",
                    code="undefined-gate",
                )
        for role, n in Counter(a.role for a in t.approvals).items():
            if n > 1:
                f.add(
                    (*path, "approvals"),
                    f"role '{role}' is listed {n} times; use count: {n}",
                    code="dup-role",
                )
        if not t.gates and not t.approvals:
            f.add(
                path,
                f"transition {t.key} has no gates and no approvals: anyone can make it",
                code="open-transition",
                warning=True,
            )


def _canary_windows(policy: Policy, f: _Findings) -> None:
    """A trigger's window (``for``, an error budget's ``window``) longer than the whole canary
    cannot fire before the rollout completes: readings never cover it."""
    for i, t in enumerate(policy.workflow.transitions):
        if t.rollout is None:
            continue
        canary = sum((parse_duration(s.min_duration) for s in t.rollout.steps), dt.timedelta())
        path: Path = ("workflow", "transitions", i, "rollout")
        windows = [(("kpis", j, "for"), k.name, k.for_) for j, k in enumerate(t.rollout.kpis)]
        windows += [
            (("error_budgets", j, "window"), f"the {e.kpi} error budget", e.window)
            for j, e in enumerate(t.rollout.error_budgets)
        ]
        for where, what, window in windows:
            if window is not None and parse_duration(window) > canary:
                f.add(
                    (*path, *where),
                    f"{what}: the {window} window is longer than the whole canary ({canary}), "
                    "so this trigger can never fire before the rollout completes",
                    code="window-longer-than-canary",
                    warning=True,
                )


def _change_types(policy: Policy, f: _Findings) -> None:
    gate_ids = [g.id for g in policy.gates]
    for name, ct in policy.change_types.items():
        for j, gate_id in enumerate(ct.bypass):
            if gate_id not in gate_ids:
                f.add(
                    ("change_types", name, "bypass", j),
                    f"gate '{gate_id}' is not defined under gates{_suggest(gate_id, gate_ids)}",
                    code="undefined-gate",
                )
        for j, stage in enumerate(ct.allowed_stages or []):
            if stage not in policy.workflow.stages:
                f.add(
                    ("change_types", name, "allowed_stages", j),
                    f"'{stage}' is not a stage{_suggest(stage, policy.workflow.stages)}",
                    code="unknown-stage",
                )


def _waivers(policy: Policy, f: _Findings) -> None:
    gate_ids = [g.id for g in policy.gates]
    for j, gate_id in enumerate(policy.waivers.not_waivable):
        if gate_id not in gate_ids:
            f.add(
                ("waivers", "not_waivable", j),
                f"gate '{gate_id}' is not defined under gates{_suggest(gate_id, gate_ids)}",
                code="undefined-gate",
            )


def expiry_problems(policy: Policy, positions: Positions, today: dt.date) -> list[Problem]:
    """Warnings for gates whose review date has passed (needs a clock, so lint-only)."""
    f = _Findings(positions)
    for i, gate in enumerate(policy.gates):
        if gate.expires is not None and gate.expires < today:
            f.add(
                ("gates", i, "expires"),
                f"gate '{gate.id}' expired on {gate.expires}; review its threshold and renew it",
                code="expired-gate",
                warning=True,
            )
    return f.items


def ownership_problems(policy: Policy, positions: Positions) -> list[Problem]:
    """Warnings for gates nobody answers for: a threshold without an owner is never reviewed."""
    f = _Findings(positions)
    for i, gate in enumerate(policy.gates):
        if not gate.owner.strip():
            f.add(
                ("gates", i, "id"),
                f"gate '{gate.id}' has no owner: name who answers for its threshold (owner:)",
                code="ownerless-gate",
                warning=True,
            )
    return f.items


def review_problems(policy: Policy, positions: Positions, today: dt.date) -> list[Problem]:
    """What ``policy lint`` adds to the loader's checks: expired and ownerless gates."""
    return expiry_problems(policy, positions, today) + ownership_problems(policy, positions)
