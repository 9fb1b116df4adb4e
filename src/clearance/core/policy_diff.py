"""What changed between two versions of a policy, judged by what it does to governance.

A text diff of YAML says that ``min: 0.75`` became ``min: 0.7``; a reviewer needs to know that
the AUC floor was *lowered*, that a gate left the production transition, or that an emergency
path now skips a gate. :func:`diff_policies` compares two loaded policies section by section
and labels every change:

- ``tightened`` / ``loosened``: stricter or laxer for the models the policy governs;
- ``added`` / ``removed``: a gate, transition, change type or KPI appeared or went away (a
  removal of a check is also a loosening, an added path to a stage too);
- ``changed``: a difference whose direction cannot be judged from the text alone (an
  expression, a gate's type, a stage list); it is shown for review, not counted as a loosening.

Gate parameters are compared after validation, with their defaults filled in, so omitting a
parameter that has a default is seen for what it means. A numeric parameter's direction comes
from its gate type's ``Params.strictness`` when the type declares one, else from its name:
``min``, ``min_*`` and ``*_min`` are floors (raising tightens), ``max``, ``max_*`` and ``*_max``
are ceilings. Booleans named ``verify_*``/``require_*`` loosen when turned off, ``allow_*`` when
turned on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from clearance.core.access import MODEL_ACTIONS, model_roles
from clearance.core.durations import parse_duration
from clearance.core.loading import LoadedPolicy
from clearance.core.policy import (
    ApprovalRequirement,
    ChangeType,
    KpiLimit,
    Policy,
    RolloutPlan,
    Selector,
    Transition,
    parse_condition,
)
from clearance.core.yamlsource import Positions
from clearance.errors import Location

Kind = Literal["tightened", "loosened", "added", "removed", "changed"]
Direction = Literal["floor", "ceiling", "neutral"]


@dataclass(frozen=True)
class Change:
    """One difference; ``loosens`` is true when it makes the policy laxer."""

    path: str
    kind: Kind
    old: Any
    new: Any
    note: str
    loosens: bool
    location: Location | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind,
            "old": _plain(self.old),
            "new": _plain(self.new),
            "note": self.note,
            "loosens": self.loosens,
            "location": str(self.location) if self.location else None,
        }


@dataclass(frozen=True)
class PolicyDiff:
    old: str  # name@version (hash prefix)
    new: str
    changes: tuple[Change, ...] = field(default_factory=tuple)

    @property
    def loosenings(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.loosens)

    def to_dict(self) -> dict[str, Any]:
        return {
            "old": self.old,
            "new": self.new,
            "loosenings": len(self.loosenings),
            "changes": [c.to_dict() for c in self.changes],
        }


def diff_policies(old: LoadedPolicy, new: LoadedPolicy) -> PolicyDiff:
    """Every governance-relevant difference from ``old`` to ``new``, in policy order."""
    out = _Collector(new.positions, old.positions)
    a, b = old.policy, new.policy
    _selector(out, a.selector, b.selector)
    _workflow(out, a, b)
    _gates(out, old, new)
    _approval_rules(out, a, b)
    _change_types(out, a, b)
    _waivers(out, a, b)
    _access(out, a, b)
    _other(out, a, b)
    _metadata(out, a, b)  # last: an unraised version matters only beside other changes
    return PolicyDiff(_ref(old), _ref(new), tuple(out.changes))


def _ref(loaded: LoadedPolicy) -> str:
    return f"{loaded.name}@{loaded.version} ({loaded.content_hash[:12]})"


class _Collector:
    def __init__(self, new_positions: Positions, old_positions: Positions) -> None:
        self.changes: list[Change] = []
        self._new = new_positions
        self._old = old_positions

    def add(
        self,
        path: str,
        kind: Kind,
        old: Any,
        new: Any,
        note: str,
        *,
        loosens: bool | None = None,
        at: Sequence[str | int] | None = None,
        in_old: bool = False,
    ) -> None:
        if loosens is None:
            loosens = kind in ("loosened", "removed")
        location = None
        if at is not None:
            location = (self._old if in_old else self._new).locate(at)
        self.changes.append(Change(path, kind, old, new, note, loosens, location))

    def bound(
        self, path: str, direction: Direction, old: Any, new: Any, what: str, **kw: Any
    ) -> None:
        """A numeric bound: a floor tightens when raised, a ceiling when lowered."""
        if old == new:
            return
        if direction != "neutral" and _durations(old, new):
            old_span = parse_duration(old) if old is not None else None
            new_span = parse_duration(new) if new is not None else None
            if old_span == new_span:
                return
            self._judge(path, direction, old, new, old_span, new_span, what, kw)
            return
        if direction == "neutral" or not _number(old, new):
            self.add(path, "changed", old, new, f"{what} changed", loosens=False, **kw)
            return
        self._judge(path, direction, old, new, old, new, what, kw)

    def _judge(
        self,
        path: str,
        direction: Direction,
        old: Any,
        new: Any,
        old_key: Any,
        new_key: Any,
        what: str,
        kw: dict[str, Any],
    ) -> None:
        if old_key is None:
            self.add(path, "tightened", old, new, f"{what} set to {new}", **kw)
        elif new_key is None:
            self.add(path, "loosened", old, new, f"{what} {old} removed", **kw)
        else:
            stricter = new_key > old_key if direction == "floor" else new_key < old_key
            verb = "raised" if new_key > old_key else "lowered"
            kind: Kind = "tightened" if stricter else "loosened"
            self.add(path, kind, old, new, f"{what} {verb} from {old} to {new}", **kw)


def _number(*values: Any) -> bool:
    return all(
        v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in values
    )


def _durations(*values: Any) -> bool:
    """Both values are durations like ``24h`` (or absent), e.g. a freshness ``max_age``."""
    try:
        return any(v is not None for v in values) and all(
            v is None or (isinstance(v, str) and parse_duration(v) is not None) for v in values
        )
    except (ValueError, TypeError):
        return False


def _direction_of(name: str, declared: Mapping[str, str]) -> Direction:
    if name in declared:
        value = declared[name]
        return "floor" if value == "floor" else "ceiling" if value == "ceiling" else "neutral"
    if name == "min" or name.startswith("min_") or name.endswith("_min"):
        return "floor"
    if name == "max" or name.startswith("max_") or name.endswith("_max"):
        return "ceiling"
    return "neutral"


# --- sections -----------------------------------------------------------------------------


def _metadata(out: _Collector, a: Policy, b: Policy) -> None:
    if a.metadata.name != b.metadata.name:
        out.add("metadata.name", "changed", a.metadata.name, b.metadata.name,
                "a different policy name: the new one governs as a separate policy",
                loosens=False, at=("metadata", "name"))  # fmt: skip
    if a.metadata.owner != b.metadata.owner:
        out.add("metadata.owner", "changed", a.metadata.owner, b.metadata.owner,
                "owner changed", loosens=False, at=("metadata", "owner"))  # fmt: skip
    if out.changes and _semver(b.metadata.version) <= _semver(a.metadata.version):
        out.add("metadata.version", "changed", a.metadata.version, b.metadata.version,
                "the version is not raised: two different policies would share one version",
                loosens=False, at=("metadata", "version"))  # fmt: skip


def _semver(text: str) -> tuple[int, int, int, int, str]:
    core, _, pre = text.split("+", 1)[0].partition("-")
    major, minor, patch = (int(x) for x in core.split("."))
    return major, minor, patch, 0 if pre else 1, pre  # a pre-release sorts before its release


def _selector(out: _Collector, a: Selector, b: Selector) -> None:
    """A selector that matches fewer models lets some go ungoverned; one that matches more
    puts models under this policy that another (maybe stricter) policy governed: both need a
    reviewer who knows the other policies, so both are flagged."""
    for name, old, new in (
        ("models", set(a.models), set(b.models)),
        ("risk_tier", set(a.risk_tier), set(b.risk_tier)),
    ):
        if old == new:
            continue
        widened = not new or (bool(old) and old < new)  # an empty list matches every model
        narrowed = not old or (bool(new) and new < old)
        kind = "widened" if widened else "narrowed" if narrowed else "changed"
        note = f"selector {name} {kind}: {sorted(old) or 'any'} -> {sorted(new) or 'any'}"
        out.add(f"selector.{name}", "loosened" if kind != "changed" else "changed",
                sorted(old), sorted(new), note, loosens=True, at=("selector", name))  # fmt: skip
    for tag in sorted(set(a.tags) | set(b.tags)):
        old_v, new_v = a.tags.get(tag), b.tags.get(tag)
        if old_v == new_v:
            continue
        if new_v is None:
            note = f"selector no longer requires tag {tag}={old_v}: it matches more models"
        elif old_v is None:
            note = f"selector now requires tag {tag}={new_v}: it matches fewer models"
        else:
            note = f"selector tag {tag} changed from {old_v} to {new_v}"
        out.add(f"selector.tags.{tag}", "loosened", old_v, new_v, note, loosens=True,
                at=("selector", "tags", tag))  # fmt: skip


def _workflow(out: _Collector, a: Policy, b: Policy) -> None:
    wa, wb = a.workflow, b.workflow
    if wa.stages != wb.stages:
        out.add("workflow.stages", "changed", wa.stages, wb.stages, "stages changed",
                loosens=False, at=("workflow", "stages"))  # fmt: skip
    if wa.production_stage != wb.production_stage:
        out.add("workflow.production_stage", "changed", wa.production_stage,
                wb.production_stage, "a different stage now counts as production",
                loosens=True, at=("workflow", "production_stage"))  # fmt: skip
    out.bound("workflow.max_production_versions", "ceiling", wa.max_production_versions,
              wb.max_production_versions, "versions allowed in production at once",
              at=("workflow", "max_production_versions"))  # fmt: skip
    old = {t.key: t for t in wa.transitions}
    new = {t.key: (i, t) for i, t in enumerate(wb.transitions)}
    for key, ta in old.items():
        if key not in new:
            at = ("workflow", "transitions", wa.transitions.index(ta))
            out.add(f"workflow.transitions[{key}]", "removed", key, None,
                    f"transition {key} removed: that move is no longer possible",
                    loosens=False, at=at, in_old=True)  # fmt: skip
    for key, (i, tb) in new.items():
        at = ("workflow", "transitions", i)
        ta_or_none = old.get(key)
        if ta_or_none is None:
            out.add(f"workflow.transitions[{key}]", "added", None, key,
                    f"transition {key} added: a new way to reach {tb.to}"
                    + (f" (gates: {', '.join(tb.gates)})" if tb.gates else " with no gates"),
                    loosens=True, at=at)  # fmt: skip
            continue
        _transition(out, f"workflow.transitions[{key}]", ta_or_none, tb, at)


def _transition(
    out: _Collector, path: str, a: Transition, b: Transition, at: tuple[str | int, ...]
) -> None:
    for gate in a.gates:
        if gate not in b.gates:
            out.add(f"{path}.gates", "loosened", gate, None,
                    f"gate {gate} no longer checked on {a.key}", at=(*at, "gates"))  # fmt: skip
    for gate in b.gates:
        if gate not in a.gates:
            out.add(f"{path}.gates", "tightened", None, gate,
                    f"gate {gate} now checked on {b.key}", at=(*at, "gates"))  # fmt: skip
    _approvals(out, f"{path}.approvals", a.approvals, b.approvals, (*at, "approvals"))
    _rollout(out, f"{path}.rollout", a.rollout, b.rollout, (*at, "rollout"))
    _duration(out, f"{path}.approval_sla", a.approval_sla, b.approval_sla,
              "approval SLA before escalation", (*at, "approval_sla"))  # fmt: skip


def _approvals(
    out: _Collector,
    path: str,
    a: Sequence[ApprovalRequirement] | None,
    b: Sequence[ApprovalRequirement] | None,
    at: tuple[str | int, ...],
) -> None:
    old = _role_counts(a or [])
    new = _role_counts(b or [])
    for role in sorted(set(old) | set(new)):
        n_old, n_new = old.get(role, 0), new.get(role, 0)
        if n_old == n_new:
            continue
        kind: Kind = "tightened" if n_new > n_old else "loosened"
        if n_new == 0:
            note = f"sign-off by {role} no longer required"
        elif n_old == 0:
            note = f"sign-off by {role} now required" + (f" ({n_new} people)" if n_new > 1 else "")
        else:
            note = f"sign-offs by {role}: {n_old} -> {n_new} people"
        out.add(f"{path}.{role}", kind, n_old, n_new, note, at=at)


def _role_counts(requirements: Iterable[ApprovalRequirement]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in requirements:
        counts[r.role] = counts.get(r.role, 0) + r.count
    return counts


def _rollout(
    out: _Collector,
    path: str,
    a: RolloutPlan | None,
    b: RolloutPlan | None,
    at: tuple[str | int, ...],
) -> None:
    if a == b:
        return
    if a is None or b is None:
        if b is None:
            out.add(path, "removed", "canary", None, "canary rollout removed: the move is "
                    "immediate", at=at)  # fmt: skip
        else:
            out.add(path, "added", None, "canary", "canary rollout added", loosens=False, at=at)
        return
    steps_a = [(s.traffic, parse_duration(s.min_duration)) for s in a.steps]
    steps_b = [(s.traffic, parse_duration(s.min_duration)) for s in b.steps]
    if steps_a != steps_b:
        total_a = sum((d for _, d in steps_a), dt.timedelta())
        total_b = sum((d for _, d in steps_b), dt.timedelta())
        shorter = total_b < total_a
        out.add(f"{path}.steps", "loosened" if shorter else "changed",
                _steps_text(steps_a), _steps_text(steps_b),
                "canary steps changed" + (f"; {total_a} -> {total_b} in all" if shorter else ""),
                loosens=shorter, at=(*at, "steps"))  # fmt: skip
    _kpis(out, f"{path}.kpis", a.kpis, b.kpis, (*at, "kpis"))
    _budgets(out, f"{path}.error_budgets", a, b, (*at, "error_budgets"))


def _budgets(
    out: _Collector, path: str, a: RolloutPlan, b: RolloutPlan, at: tuple[str | int, ...]
) -> None:
    """Error budgets by KPI and window: one removed loosens; one changed in any way is
    reported as loosening too (a lower objective or another trigger can hide a breach)."""
    old = {(e.kpi, e.window): e for e in a.error_budgets}
    new = {(e.kpi, e.window): e for e in b.error_budgets}
    for kpi, window in sorted(old.keys() - new.keys()):
        out.add(f"{path}.{kpi}", "removed", f"{kpi} over {window}", None,
                f"error budget on {kpi} over {window} removed", at=at)  # fmt: skip
    for kpi, window in sorted(new.keys() - old.keys()):
        out.add(f"{path}.{kpi}", "added", None, f"{kpi} over {window}",
                f"error budget on {kpi} over {window} added", loosens=False, at=at)  # fmt: skip
    for key in sorted(old.keys() & new.keys()):
        ea, eb = old[key], new[key]
        if ea != eb:
            was, now = (f"{e.objective:g}, {e.rollback_when}" for e in (ea, eb))
            out.add(f"{path}.{key[0]}", "changed", was, now,
                    f"error budget on {key[0]} over {key[1]} changed", loosens=True,
                    at=at)  # fmt: skip


def _steps_text(steps: Sequence[tuple[float, dt.timedelta]]) -> list[str]:
    return [f"{traffic:g} for {span}" for traffic, span in steps]


def _kpis(
    out: _Collector,
    path: str,
    a: Sequence[KpiLimit],
    b: Sequence[KpiLimit],
    at: tuple[str | int, ...],
) -> None:
    old = {k.name: k for k in a}
    new = {k.name: k for k in b}
    for name in old.keys() - new.keys():
        out.add(f"{path}.{name}", "removed", name, None,
                f"KPI {name} no longer watched during the canary", at=at)  # fmt: skip
    for name in sorted(new.keys() - old.keys()):
        out.add(f"{path}.{name}", "added", None, name, f"KPI {name} now watched",
                loosens=False, at=at)  # fmt: skip
    for name in sorted(old.keys() & new.keys()):
        ka, kb = old[name], new[name]
        for attr in ("min", "max", "max_relative_drop", "max_relative_increase"):
            out.bound(f"{path}.{name}.{attr}", _direction_of(attr, {}), getattr(ka, attr),
                      getattr(kb, attr), f"KPI {name} {attr}", at=at)  # fmt: skip
        _triggers(out, f"{path}.{name}", ka, kb, at)


def _triggers(
    out: _Collector, path: str, a: KpiLimit, b: KpiLimit, at: tuple[str | int, ...]
) -> None:
    """A KPI's rollback triggers: one dropped (or rewritten) loosens, one added tightens; a
    ``for`` window set or lengthened loosens (the breach must last), removed or shortened
    tightens; another source of readings is reported as loosening (it may never breach)."""
    name = a.name
    meant_a, meant_b = _meanings(a), _meanings(b)  # "error_rate >= 0.5%" is ">= 0.005"
    dropped = [text for key, text in meant_a.items() if key not in meant_b]
    added = [text for key, text in meant_b.items() if key not in meant_a]
    if dropped:
        out.add(f"{path}.rollback_when", "loosened", dropped, added or None,
                f"KPI {name}: rollback trigger {', '.join(dropped)} no longer applies",
                at=at)  # fmt: skip
    elif added:
        out.add(f"{path}.rollback_when", "tightened", None, added,
                f"KPI {name}: rollback trigger {', '.join(added)} added", loosens=False,
                at=at)  # fmt: skip
    if a.for_ != b.for_ and (a.for_ is None or b.for_ is None):
        set_now = a.for_ is None
        out.add(f"{path}.for", "loosened" if set_now else "tightened", a.for_, b.for_,
                f"KPI {name}: " + (f"a breach must now last {b.for_}" if set_now
                                   else f"the {a.for_} window removed: any breach counts"),
                loosens=set_now, at=at)  # fmt: skip
    else:
        _duration(out, f"{path}.for", a.for_, b.for_, f"KPI {name} window", at)
    if a.source != b.source:
        out.add(f"{path}.source", "changed", _source_text(a), _source_text(b),
                f"KPI {name}: readings now come from another source", loosens=True,
                at=at)  # fmt: skip


def _meanings(k: KpiLimit) -> dict[tuple[str, str, Decimal], str]:
    """Each trigger by what it means (subject, comparison, exact threshold), as written."""
    out: dict[tuple[str, str, Decimal], str] = {}
    for text in k.rollback_when:
        c = parse_condition(text, kpi=k.name)  # validated when the policy loaded
        out[(c.subject, c.op, c.threshold)] = text
    return out


def _source_text(k: KpiLimit) -> str | None:
    return None if k.source is None else k.source.prometheus.query


def _duration(
    out: _Collector,
    path: str,
    a: str | None,
    b: str | None,
    what: str,
    at: tuple[str | int, ...],
    *,
    longer_loosens: bool = True,
) -> None:
    if a == b:
        return
    da = parse_duration(a) if a is not None else None
    db = parse_duration(b) if b is not None else None
    if da == db:
        return
    if da is None or db is None:
        kind: Kind = "changed"
        loosens = False
        note = f"{what} {'set to ' + str(b) if da is None else str(a) + ' removed'}"
    else:
        longer = db > da
        loosens = longer == longer_loosens
        kind = "loosened" if loosens else "tightened"
        note = f"{what} {'extended' if longer else 'shortened'} from {a} to {b}"
    out.add(path, kind, a, b, note, loosens=loosens, at=at)


def _gates(out: _Collector, old: LoadedPolicy, new: LoadedPolicy) -> None:
    a = {g.id: g for g in old.policy.gates}
    b = {g.id: (i, g) for i, g in enumerate(new.policy.gates)}
    for gid, spec in a.items():
        if gid not in b:
            out.add(f"gates.{gid}", "removed", spec.type, None,
                    f"gate {gid} ({spec.type}) removed",
                    at=("gates", old.policy.gates.index(spec)), in_old=True)  # fmt: skip
    for gid, (i, gb) in b.items():
        at: tuple[str | int, ...] = ("gates", i)
        ga = a.get(gid)
        if ga is None:
            out.add(f"gates.{gid}", "added", None, gb.type, f"gate {gid} ({gb.type}) added",
                    loosens=False, at=at)  # fmt: skip
            continue
        path = f"gates.{gid}"
        if ga.type != gb.type:
            out.add(f"{path}.type", "changed", ga.type, gb.type,
                    f"gate {gid} is now a {gb.type} gate (was {ga.type})", loosens=True,
                    at=(*at, "type"))  # fmt: skip
            continue
        if ga.severity != gb.severity:
            kind: Kind = "loosened" if gb.severity == "warn" else "tightened"
            out.add(f"{path}.severity", kind, ga.severity, gb.severity,
                    f"gate {gid} now {'only warns' if kind == 'loosened' else 'blocks'}",
                    at=(*at, "severity"))  # fmt: skip
        if ga.expires != gb.expires:
            earlier_end = gb.expires is not None and (ga.expires is None or gb.expires < ga.expires)
            out.add(f"{path}.expires", "changed" if earlier_end else "loosened",
                    ga.expires, gb.expires,
                    f"gate {gid} expiry {ga.expires or 'none'} -> {gb.expires or 'none'}"
                    + (": it stops applying sooner" if earlier_end else ""),
                    loosens=earlier_end, at=(*at, "expires"))  # fmt: skip
        params_a = old.params[gid].model_dump(mode="json")
        params_b = new.params[gid].model_dump(mode="json")
        declared = getattr(type(new.params[gid]), "strictness", {}) or {}
        _params(out, path, params_a, params_b, declared, at, inherited=None)


def _params(
    out: _Collector,
    path: str,
    a: Mapping[str, Any],
    b: Mapping[str, Any],
    declared: Mapping[str, str],
    at: tuple[str | int, ...],
    *,
    inherited: Direction | None,
) -> None:
    for key in sorted(set(a) | set(b), key=str):
        va, vb = a.get(key), b.get(key)
        if va == vb:
            continue
        sub = f"{path}.{key}"
        where = (*at, key) if inherited is None else at
        direction = inherited if inherited is not None else _direction_of(str(key), declared)
        if key in _NEUTRAL_MAPPINGS:
            out.add(sub, "changed", va, vb, f"{sub} changed: review what it reads now",
                    loosens=False, at=where)  # fmt: skip
            continue
        if isinstance(va, Mapping) or isinstance(vb, Mapping):
            ma, mb = va or {}, vb or {}
            if isinstance(ma, Mapping) and isinstance(mb, Mapping):
                # a mapping of limits per column (max_null_fraction) inherits the direction;
                # a mapping of specs (ranges.age) judges its own fields by name
                inner = direction if direction != "neutral" else None
                for gone in sorted(set(ma) - set(mb), key=str):
                    out.add(f"{sub}.{gone}", "removed", ma[gone], None,
                            f"{sub}.{gone} removed", at=where)  # fmt: skip
                for came in sorted(set(mb) - set(ma), key=str):
                    out.add(f"{sub}.{came}", "added", None, mb[came], f"{sub}.{came} added",
                            loosens=False, at=where)  # fmt: skip
                common_a = {k: v for k, v in ma.items() if k in mb}
                common_b = {k: v for k, v in mb.items() if k in ma}
                _params(out, sub, common_a, common_b, declared, where, inherited=inner)
                continue
        if isinstance(va, bool) or isinstance(vb, bool):
            _flag(out, sub, str(key), va, vb, where)
        elif _number(va, vb) or _durations(va, vb):
            out.bound(sub, direction, va, vb, sub, at=where)
        elif isinstance(va, list) and isinstance(vb, list) and _is_requirement_list(str(key)):
            for gone in [x for x in va if x not in vb]:
                out.add(sub, "loosened", gone, None, f"{sub} no longer includes {gone}",
                        at=where)  # fmt: skip
            for came in [x for x in vb if x not in va]:
                out.add(sub, "tightened", None, came, f"{sub} now includes {came}", at=where)
        else:
            out.add(sub, "changed", va, vb, f"{sub} changed: review what it checks now",
                    loosens=False, at=where)  # fmt: skip


_NEUTRAL_MAPPINGS = {"columns"}  # which dataset columns play which role: not a limit
_REQUIREMENT_LISTS = {"require", "unique", "features", "required", "not_waivable"}


def _is_requirement_list(name: str) -> bool:
    """Lists whose every entry is one more thing checked."""
    return name in _REQUIREMENT_LISTS


def _flag(out: _Collector, path: str, name: str, a: Any, b: Any, at: tuple[str | int, ...]) -> None:
    if name.startswith(("verify", "require", "check")):
        loosens = bool(a) and not b
    elif name.startswith("allow"):
        loosens = bool(b) and not a
    else:
        out.add(path, "changed", a, b, f"{path} turned {'on' if b else 'off'}", loosens=False,
                at=at)  # fmt: skip
        return
    out.add(path, "loosened" if loosens else "tightened", a, b,
            f"{path} turned {'on' if b else 'off'}", at=at)  # fmt: skip


def _approval_rules(out: _Collector, a: Policy, b: Policy) -> None:
    ra, rb = a.approval_rules, b.approval_rules
    if ra.allow_self_approval != rb.allow_self_approval:
        out.add("approval_rules.allow_self_approval",
                "loosened" if rb.allow_self_approval else "tightened",
                ra.allow_self_approval, rb.allow_self_approval,
                "requesters may approve their own requests" if rb.allow_self_approval
                else "requesters may no longer approve their own requests",
                at=("approval_rules", "allow_self_approval"))  # fmt: skip
    if ra.one_person_counts_once != rb.one_person_counts_once:
        off = not rb.one_person_counts_once
        out.add("approval_rules.one_person_counts_once", "loosened" if off else "tightened",
                ra.one_person_counts_once, rb.one_person_counts_once,
                "one person may fill several required roles (two-person rule off)" if off
                else "two-person rule on: one person fills one role slot",
                at=("approval_rules", "one_person_counts_once"))  # fmt: skip


def _change_types(out: _Collector, a: Policy, b: Policy) -> None:
    for name in sorted(set(a.change_types) | set(b.change_types)):
        ca, cb = a.change_types.get(name), b.change_types.get(name)
        path, at = f"change_types.{name}", ("change_types", name)
        if ca == cb:
            continue
        if cb is None:
            out.add(path, "removed", name, None, f"change type {name} removed", loosens=False,
                    at=at, in_old=True)  # fmt: skip
            continue
        if ca is None:
            out.add(path, "added", None, name,
                    f"change type {name} added" + (f", skipping {', '.join(cb.bypass)}"
                                                   if cb.bypass else ""),
                    loosens=True, at=at)  # fmt: skip
            continue
        _change_type(out, path, ca, cb, at)


def _change_type(
    out: _Collector, path: str, a: ChangeType, b: ChangeType, at: tuple[str | int, ...]
) -> None:
    for gate in [g for g in b.bypass if g not in a.bypass]:
        out.add(f"{path}.bypass", "loosened", None, gate, f"{path} now skips gate {gate}",
                at=(*at, "bypass"))  # fmt: skip
    for gate in [g for g in a.bypass if g not in b.bypass]:
        out.add(f"{path}.bypass", "tightened", gate, None, f"{path} no longer skips {gate}",
                at=(*at, "bypass"))  # fmt: skip
    if a.approvals != b.approvals:
        if a.approvals is None or b.approvals is None:
            out.add(f"{path}.approvals", "changed", a.approvals, b.approvals,
                    f"{path} {'now replaces' if a.approvals is None else 'no longer replaces'}"
                    " the transition's approvals", loosens=a.approvals is None,
                    at=(*at, "approvals"))  # fmt: skip
        else:
            _approvals(out, f"{path}.approvals", a.approvals, b.approvals, (*at, "approvals"))
    if a.allowed_stages != b.allowed_stages:
        old, new = a.allowed_stages, b.allowed_stages
        wider = new is None or (old is not None and not set(new) <= set(old))
        out.add(f"{path}.allowed_stages", "loosened" if wider else "tightened", old, new,
                f"{path} may reach {new or 'any stage'} (was {old or 'any stage'})",
                at=(*at, "allowed_stages"))  # fmt: skip
    _duration(out, f"{path}.expires_after", a.expires_after, b.expires_after,
              f"{path} expiry", (*at, "expires_after"))  # fmt: skip
    _duration(out, f"{path}.post_incident_review_within", a.post_incident_review_within,
              b.post_incident_review_within, f"{path} post-incident review deadline",
              (*at, "post_incident_review_within"))  # fmt: skip
    if a.rollback_if_review_overdue != b.rollback_if_review_overdue:
        off = not b.rollback_if_review_overdue
        out.add(f"{path}.rollback_if_review_overdue", "loosened" if off else "tightened",
                a.rollback_if_review_overdue, b.rollback_if_review_overdue,
                f"{path}: overdue review {'no longer rolls back' if off else 'rolls back'}",
                at=(*at, "rollback_if_review_overdue"))  # fmt: skip


def _waivers(out: _Collector, a: Policy, b: Policy) -> None:
    wa, wb = a.waivers, b.waivers
    _roles(out, "waivers.grantors", wa.grantors, wb.grantors, "may grant waivers",
           ("waivers", "grantors"))  # fmt: skip
    _duration(out, "waivers.max_duration", wa.max_duration, wb.max_duration,
              "longest waiver", ("waivers", "max_duration"))  # fmt: skip
    for gate in [g for g in wa.not_waivable if g not in wb.not_waivable]:
        out.add("waivers.not_waivable", "loosened", gate, None, f"gate {gate} may now be waived",
                at=("waivers", "not_waivable"))  # fmt: skip
    for gate in [g for g in wb.not_waivable if g not in wa.not_waivable]:
        out.add(
            "waivers.not_waivable",
            "tightened",
            None,
            gate,
            f"gate {gate} may no longer be waived",
            at=("waivers", "not_waivable"),
        )


def _access(out: _Collector, a: Policy, b: Policy) -> None:
    for action in MODEL_ACTIONS:
        _roles(out, f"access.{action}", list(model_roles(action, a)),
               list(model_roles(action, b)), f"may {action}", ("access", action))  # fmt: skip


def _roles(
    out: _Collector,
    path: str,
    a: Sequence[str],
    b: Sequence[str],
    what: str,
    at: tuple[str | int, ...],
) -> None:
    for role in [r for r in b if r not in a]:
        out.add(path, "loosened", None, role, f"role {role} now {what}", at=at)
    for role in [r for r in a if r not in b]:
        out.add(path, "tightened", role, None, f"role {role} no longer {what}", at=at)


def _other(out: _Collector, a: Policy, b: Policy) -> None:
    if a.settings != b.settings:
        out.add("settings", "changed", a.settings.model_dump(), b.settings.model_dump(),
                "settings changed (near-miss reporting only)", loosens=False,
                at=("settings",))  # fmt: skip
    if a.escalation != b.escalation:
        out.add("escalation.contacts", "changed", a.escalation.contacts,
                b.escalation.contacts, "escalation contacts changed", loosens=False,
                at=("escalation", "contacts"))  # fmt: skip


def _plain(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return sorted(value, key=str)
    return value
