"""Monitors: a policy's scheduled checks on production data, and when they call for action.

A monitor runs one of the policy's gates (any gate type: ``drift``, ``data_quality``,
``performance`` once labels arrive, ``metric_threshold``...) on the newest batch of
production data, read as the evidence the gate's params name (``current: production``),
against the production version's own registered evidence (its reference data). Its result
is a ``GateResult`` like any gate's.

This module is pure: the spec as a policy writes it, when a monitor is due, and what a run's
result asks for given the runs before it. The runs come from the audit trail and ``now`` is
passed in; the service (``service.monitors``) reads the data, records and acts.

Rules, one place:

- **Due**: a monitor that never ran for the production version is due; otherwise it is due
  ``every`` after its last run (``is_due``).
- **Sustained**: a failing run ends a *streak* of failing runs (a pass or an error breaks it).
  Without ``for`` the first failure is sustained; with ``for`` the streak needs at least two
  runs and its first failure at least ``for`` before now (``assess``).
- **Actions**: ``alert`` fires on the first failing (or erroring, or warning) run of a
  streak; ``retrain``, ``fallback`` and ``rollback`` fire once per streak, when it is
  sustained. Only a ``fail`` acts: an ``error`` (the batch unreadable, a column missing)
  alerts but never moves a version.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from clearance.core.durations import Duration, parse_duration
from clearance.core.names import MAX_NAME
from clearance.core.yamlsource import Positions, format_path
from clearance.errors import Problem

if TYPE_CHECKING:
    from clearance.core.policy import Policy

MonitorAction = Literal["alert", "retrain", "fallback", "rollback"]
MONITOR_ACTIONS: tuple[str, ...] = get_args(MonitorAction)
MOVES = ("fallback", "rollback")  # the actions that change which version serves
SUSTAINED_ACTIONS = ("retrain", "fallback", "rollback")  # in the order they are taken
MAX_MONITORS = 50  # per policy
MAX_DATA = 4096  # characters of a data path or glob
MAX_QUERY = 4096  # characters of a KPI query (``policy.MAX_QUERY``)
KPI_TYPE = "kpi"  # the ``type`` of a KPI monitor's result
_ID = r"^[a-z][a-z0-9_\-]*$"  # ``policy.IDENT`` (not imported: the policy imports this module)
_CHANNEL = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"  # a notification channel's name


def _alert_only() -> list[MonitorAction]:
    return ["alert"]


class RetrainHook(BaseModel):
    """Where a ``retrain`` action goes: a webhook channel of ``notifications.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: Annotated[str, Field(pattern=_CHANNEL, max_length=64)] = Field(
        description="The notification channel (a webhook) that receives the retrain request."
    )


class KpiQuery(BaseModel):
    """A KPI monitor: a query to the workspace's metrics system (``prometheus.yaml``) and the
    bounds its value must stay within. ``$model`` and ``$version`` in the query are replaced by
    the model's name and the production version's."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    query: Annotated[str, Field(min_length=1, max_length=MAX_QUERY)] = Field(
        description="PromQL returning one number, e.g. an error ratio over the model's pods."
    )
    max: float | None = Field(default=None, description="The highest value that still passes.")
    min: float | None = Field(default=None, description="The lowest value that still passes.")

    @model_validator(mode="after")
    def _a_bound(self) -> KpiQuery:
        if self.max is None and self.min is None:
            raise ValueError("give max, min or both")
        if self.max is not None and self.min is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        outside = _placeholders_outside_strings(self.query)
        if outside:
            raise ValueError(
                f"{outside} must stand inside a double-quoted label value, e.g. "
                '{model="$model", version="$version"}: it is filled in as that string\'s text'
            )
        return self

    def text(self, model: str, version: str) -> str:
        """The query with the names filled in as the text of the double-quoted strings they
        stand in (the validator sees to that), escaped: a name can never end the string."""
        return self.query.replace("$model", _promql_text(model)).replace(
            "$version", _promql_text(version)
        )


_PLACEHOLDERS = ("$model", "$version")


def _promql_text(value: str) -> str:
    """``value`` as the inside of a PromQL double-quoted string."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _placeholders_outside_strings(query: str) -> str | None:
    """The first placeholder that is not inside a double-quoted string of ``query`` (PromQL
    strings: "...", '...' or `...`, with backslash escapes in the first two), or None."""
    quote: str | None = None
    i = 0
    while i < len(query):
        ch = query[i]
        if quote is None:
            if ch in "\"'`":
                quote = ch
            else:
                for name in _PLACEHOLDERS:
                    if query.startswith(name, i):
                        return name
        elif ch == "\\" and quote != "`":
            i += 1  # the escaped character
        elif ch == quote:
            quote = None
        elif quote != '"':
            for name in _PLACEHOLDERS:
                if query.startswith(name, i):
                    return name
        i += 1
    return None


class MonitorSpec(BaseModel):
    """One scheduled check on production data (``monitors:`` in a policy)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, allow_inf_nan=False, populate_by_name=True
    )

    id: Annotated[str, Field(pattern=_ID, max_length=MAX_NAME)]
    gate: Annotated[str, Field(pattern=_ID, max_length=MAX_NAME)] | None = Field(
        default=None, description="The id of the gate (under `gates`) the monitor runs."
    )
    data: Annotated[str, Field(min_length=1, max_length=MAX_DATA)] | None = Field(
        default=None,
        description="Production data: a dataset file, a glob (prod/*.parquet) or a folder of "
        "batches; the newest batch is checked. Relative to the workspace.",
    )
    engine: Literal["duckdb", "spark"] | None = Field(
        default=None,
        description="Read `data` with this engine, aggregates pushed down: all of it (every "
        "file the path or glob names, larger than memory), not only its newest batch.",
    )
    kpi: KpiQuery | None = Field(
        default=None, description="A KPI query instead of a gate (no `data`): Prometheus."
    )
    evidence: Annotated[str, Field(min_length=1, max_length=MAX_NAME)] = Field(
        default="production",
        description="The evidence name the gate reads the batch as (its `current:`).",
    )
    every: Duration = Field(description="Cadence, e.g. 1h.")
    for_: Duration | None = Field(
        default=None,
        alias="for",
        description="Act only when the monitor has failed in every run for this long "
        "(at least two runs); unset: on the first failure.",
    )
    on_fail: list[MonitorAction] = Field(
        default_factory=_alert_only, max_length=len(MONITOR_ACTIONS)
    )
    retrain: RetrainHook | None = None
    description: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> MonitorSpec:
        if (self.gate is None) == (self.kpi is None):
            raise ValueError("give a gate (with its data) or a kpi, one of them")
        if self.gate is not None and self.data is None:
            raise ValueError("data: a gate monitor needs the production data it checks")
        if self.kpi is not None and self.data is not None:
            raise ValueError("data: a kpi monitor reads its query's value, not data files")
        if self.engine is not None and self.data is None:
            raise ValueError("engine: only a gate monitor's data is read by an engine")
        if len(set(self.on_fail)) != len(self.on_fail):
            raise ValueError("on_fail lists an action twice")
        if all(a in self.on_fail for a in MOVES):
            raise ValueError("on_fail: give fallback or rollback, not both")
        if "retrain" in self.on_fail and self.retrain is None:
            raise ValueError("on_fail has retrain: name its webhook with `retrain: {channel: ...}`")
        if self.retrain is not None and "retrain" not in self.on_fail:
            raise ValueError("retrain is set but on_fail does not list retrain")
        if parse_duration(self.every) <= dt.timedelta(0):
            raise ValueError("every: a cadence must be longer than 0m")
        return self

    @property
    def cadence(self) -> dt.timedelta:
        return parse_duration(self.every)

    @property
    def window(self) -> dt.timedelta | None:
        return None if self.for_ is None else parse_duration(self.for_)


@dataclass(frozen=True)
class MonitorRun:
    """One recorded run of a monitor on one production version (from its audit event)."""

    monitor: str
    version: str
    at: dt.datetime
    status: str  # a GateStatus value: pass, fail, warn, error, ...
    actions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Assessment:
    """What a run's result asks for: whether the failure is sustained, since when, and the
    actions to take now (none already taken in this streak)."""

    sustained: bool
    failing_since: dt.datetime | None
    runs_failing: int
    actions: tuple[str, ...]


def is_due(last: dt.datetime | None, every: dt.timedelta, now: dt.datetime) -> bool:
    """Whether a monitor last run at ``last`` (None: never) is due at ``now``."""
    return last is None or now >= last + every


def next_due(last: dt.datetime | None, every: dt.timedelta, now: dt.datetime) -> dt.datetime:
    """When the monitor is next due (``now`` when it is due already)."""
    return now if last is None or is_due(last, every, now) else last + every


def failing_streak(runs: Sequence[MonitorRun]) -> list[MonitorRun]:
    """The trailing runs (oldest first) that all failed: the failure in progress."""
    streak: list[MonitorRun] = []
    for run in reversed(runs):
        if run.status != "fail":
            break
        streak.append(run)
    return streak[::-1]


def assess(
    spec: MonitorSpec, prior: Sequence[MonitorRun], status: str, now: dt.datetime
) -> Assessment:
    """The actions this run (``status`` at ``now``) calls for, given the ``prior`` runs of the
    same monitor on the same version, oldest first."""
    wants_alert = "alert" in spec.on_fail
    if status != "fail":
        previous = prior[-1].status if prior else "pass"
        alert = wants_alert and status in ("error", "warn") and previous != status
        return Assessment(False, None, 0, ("alert",) if alert else ())
    before = failing_streak(prior)
    streak = [*before, MonitorRun(spec.id, "", now, status)]
    since = streak[0].at
    window = spec.window
    sustained = window is None or (len(streak) >= 2 and now - since >= window)
    taken = {a for run in before for a in run.actions}
    actions: list[str] = []
    if wants_alert and not before:
        actions.append("alert")
    if sustained:
        actions += [a for a in SUSTAINED_ACTIONS if a in spec.on_fail and a not in taken]
    return Assessment(sustained, since, len(streak), tuple(actions))


def runs_of(runs: Iterable[MonitorRun], monitor: str, version: str) -> list[MonitorRun]:
    """One monitor's runs on one version, oldest first."""
    return sorted((r for r in runs if r.monitor == monitor and r.version == version),
                  key=lambda r: r.at)  # fmt: skip


def mentions(value: Any, name: str) -> bool:
    """Whether ``name`` appears as a value anywhere in gate params (dicts and lists walked)."""
    if isinstance(value, str):
        return value == name
    if isinstance(value, Mapping):
        return any(mentions(v, name) for v in value.values())
    if isinstance(value, list | tuple):
        return any(mentions(v, name) for v in value)
    return False


def monitor_problems(policy: Policy, positions: Positions) -> list[Problem]:
    """Cross-checks of ``monitors``: unique ids, gates that exist, gates that read the data."""
    out: list[Problem] = []

    def add(path: tuple[str | int, ...], message: str, code: str, warning: bool = False) -> None:
        severity = "warning" if warning else "error"
        out.append(Problem(positions.locate(path), format_path(path), message, severity, code))

    monitors = policy.monitors
    if len(monitors) > MAX_MONITORS:
        add(
            ("monitors",),
            f"at most {MAX_MONITORS} monitors, got {len(monitors)}",
            "too-many-monitors",
        )
    gates = {g.id: g for g in reversed(policy.gates)}  # the first of an id, as Policy.gate
    seen: dict[str, int] = {}
    for i, m in enumerate(monitors):
        if m.id in seen:
            add(("monitors", i, "id"), f"monitor id '{m.id}' is already monitors[{seen[m.id]}]",
                "dup-monitor")  # fmt: skip
        seen.setdefault(m.id, i)
        if m.gate is None:
            continue  # a kpi monitor
        gate = gates.get(m.gate)
        if gate is None:
            known = ", ".join(gates) or "none"
            add(("monitors", i, "gate"),
                f"gate '{m.gate}' is not defined under gates; defined: {known}",
                "undefined-gate")  # fmt: skip
        elif not mentions(gate.params, m.evidence):
            add(("monitors", i, "gate"),
                f"gate '{m.gate}' never reads '{m.evidence}' (the production batch): give it "
                f"`current: {m.evidence}` (or the parameter its type reads data from)",
                "monitor-without-data", warning=True)  # fmt: skip
    return out
