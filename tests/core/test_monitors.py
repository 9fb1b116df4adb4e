"""The monitor rules (``core.monitors``): due-ness, sustained failure, actions once per streak,
and the policy's ``monitors`` section checked with located errors."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from clearance.core.loading import check_policy, parse_policy
from clearance.core.monitors import (
    KpiQuery,
    MonitorRun,
    MonitorSpec,
    assess,
    failing_streak,
    is_due,
)
from clearance.errors import PolicyError

T0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def spec(**over: Any) -> MonitorSpec:
    data: dict[str, Any] = {"id": "m", "gate": "g", "data": "prod", "every": "1h"}
    data.update(over)
    return MonitorSpec.model_validate(data)


# --- due-ness ------------------------------------------------------------------------------
@given(
    last=st.none() | st.integers(0, 10_000).map(lambda m: T0 + dt.timedelta(minutes=m)),
    every=st.integers(1, 2000).map(lambda m: dt.timedelta(minutes=m)),
    later=st.integers(0, 20_000).map(lambda m: dt.timedelta(minutes=m)),
)
def test_due_exactly_once_the_cadence_has_passed(
    last: dt.datetime | None, every: dt.timedelta, later: dt.timedelta
) -> None:
    now = (last or T0) + later
    assert is_due(last, every, now) == (last is None or later >= every)
    if is_due(last, every, now):  # once due it stays due until it runs
        assert is_due(last, every, now + dt.timedelta(minutes=1))


# --- sustained failure and actions --------------------------------------------------------
Statuses = st.lists(st.sampled_from(["pass", "fail", "error", "warn"]), max_size=12)


def _history(
    statuses: list[str], m: MonitorSpec, step: dt.timedelta
) -> tuple[list[MonitorRun], dt.datetime]:
    """Runs every ``step`` with ``statuses``, each carrying the actions ``assess`` took."""
    runs: list[MonitorRun] = []
    now = T0
    for status in statuses:
        verdict = assess(m, runs, status, now)
        runs.append(MonitorRun(m.id, "1", now, status, verdict.actions))
        now += step
    return runs, now


@given(
    statuses=Statuses,
    window=st.sampled_from([None, "0m", "30m", "1h", "2h", "5h"]),
    step=st.integers(1, 180).map(lambda m: dt.timedelta(minutes=m)),
)
def test_actions_follow_the_window_and_happen_once_per_streak(
    statuses: list[str], window: str | None, step: dt.timedelta
) -> None:
    m = spec(**{"for": window, "on_fail": ["alert", "retrain", "rollback"],
                "retrain": {"channel": "hook"}})  # fmt: skip
    runs, _ = _history(statuses, m, step)
    for i, run in enumerate(runs):
        streak = failing_streak(runs[: i + 1])
        moved = "rollback" in run.actions
        if moved:
            assert run.status == "fail"
            if window is not None:
                assert len(streak) >= 2
                assert run.at - streak[0].at >= m.window  # type: ignore[operator]
            # once per streak: no earlier run of this streak rolled back
            assert all("rollback" not in r.actions for r in streak[:-1])
            assert "retrain" in run.actions  # the sustained actions come together
        if run.status == "fail" and len(streak) == 1:
            assert "alert" in run.actions  # the first failure of a streak alerts
        if run.status == "pass":
            assert run.actions == ()
        # a failure sustained long enough always acts once in its streak
        if run.status == "fail" and (
            window is None or (len(streak) >= 2 and run.at - streak[0].at >= m.window)  # type: ignore[operator]
        ):
            assert any("rollback" in r.actions for r in streak)


def test_first_failure_alerts_and_only_a_sustained_one_rolls_back() -> None:
    m = spec(every="1h", **{"for": "2h", "on_fail": ["alert", "rollback"]})
    hour = dt.timedelta(hours=1)
    runs = [MonitorRun("m", "1", T0, "pass")]
    first = assess(m, runs, "fail", T0 + hour)
    assert first.actions == ("alert",) and not first.sustained
    runs.append(MonitorRun("m", "1", T0 + hour, "fail", first.actions))
    second = assess(m, runs, "fail", T0 + 2 * hour)
    assert second.actions == () and second.runs_failing == 2
    runs.append(MonitorRun("m", "1", T0 + 2 * hour, "fail"))
    third = assess(m, runs, "fail", T0 + 3 * hour)
    assert third.sustained and third.actions == ("rollback",)
    assert third.failing_since == T0 + hour
    # an error breaks the streak and never moves a version
    runs.append(MonitorRun("m", "1", T0 + 3 * hour, "error"))
    assert assess(m, runs, "error", T0 + 4 * hour).actions == ()
    assert assess(m, runs, "fail", T0 + 4 * hour).actions == ("alert",)


def test_an_error_or_warning_alerts_when_it_starts() -> None:
    m = spec()
    assert assess(m, [], "error", T0).actions == ("alert",)
    after = [MonitorRun("m", "1", T0, "error")]
    assert assess(m, after, "error", T0 + dt.timedelta(hours=1)).actions == ()
    assert assess(spec(on_fail=["rollback"]), [], "warn", T0).actions == ()


# --- the spec ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"on_fail": ["fallback", "rollback"]}, "fallback or rollback, not both"),
        ({"on_fail": ["alert", "alert"]}, "twice"),
        ({"on_fail": ["retrain"]}, "name its webhook"),
        ({"retrain": {"channel": "x"}}, "does not list retrain"),
        ({"every": "0m"}, "longer than 0m"),
        ({"every": "hourly"}, "String should match pattern"),
        ({"on_fail": ["page"]}, "Input should be"),
        ({"kpi": {"query": "up", "min": 1}}, "one of them"),
        ({"gate": None, "data": None}, "one of them"),
        ({"gate": None, "kpi": {"query": "up", "min": 1}}, "not data files"),
        ({"data": None}, "needs the production data"),
        ({"gate": None, "data": None, "kpi": {"query": "up"}}, "give max, min or both"),
        ({"gate": None, "data": None, "kpi": {"query": "up", "min": 2, "max": 1}}, "above max"),
    ],
)
def test_bad_specs_say_why(over: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        spec(**over)


def test_a_kpi_query_names_the_model_and_version() -> None:
    m = spec(gate=None, data=None, kpi={"query": 'x{m="$model",v="$version"}', "max": 1})
    assert m.kpi is not None and m.kpi.text("fraud", "7") == 'x{m="fraud",v="7"}'


POLICY = """\
apiVersion: clearance/v1
kind: Policy
metadata: {name: mon, version: 1.0.0, owner: ml@bank.example}
workflow:
  transitions:
    - {from: draft, to: staging, approvals: [{role: tech_lead}]}
gates:
  - id: input_drift
    type: drift
    reference: reference
    current: production
monitors:
  - id: drift
    gate: input_drift
    data: batches/
    every: 1h
    for: 2h
    on_fail: [alert, rollback]
"""


def _problems(text: str) -> list[str]:
    _, problems = check_policy([("mon.yaml", text)])
    return [str(p) for p in problems]


def test_a_good_monitor_loads_and_its_gate_counts_as_used() -> None:
    loaded = parse_policy([("mon.yaml", POLICY)])
    [m] = loaded.policy.monitors
    assert (m.id, m.gate, m.cadence, m.window) == (
        "drift",
        "input_drift",
        dt.timedelta(hours=1),
        dt.timedelta(hours=2),
    )
    assert not any("unused-gate" in p or "not used" in p for p in _problems(POLICY))


def test_a_policy_without_monitors_keeps_its_hash() -> None:
    doc = yaml.safe_load(POLICY)
    del doc["monitors"]
    bare = parse_policy([("a.yaml", yaml.safe_dump(doc))])
    doc["monitors"] = []
    empty = parse_policy([("b.yaml", yaml.safe_dump(doc))])
    assert bare.content_hash == empty.content_hash


@pytest.mark.parametrize(
    ("edit", "where", "message"),
    [
        (("gate: input_drift", "gate: input_drfit"), "mon.yaml:14:11:", "not defined under gates"),
        (("every: 1h", "every: 1 hour"), "mon.yaml:16:12:", "monitors[0].every"),
        (("on_fail: [alert, rollback]", "on_fail: [alert, rollback, fallback]"), "mon.yaml:13:5:",
         "not both"),
        (("    for: 2h\n", "    for: 2h\n    window: 3h\n"), "mon.yaml:18:5:", "unknown field"),
    ],
)  # fmt: skip
def test_monitor_errors_name_the_file_and_line(
    edit: tuple[str, str], where: str, message: str
) -> None:
    text = POLICY.replace(*edit)
    with pytest.raises(PolicyError) as caught:
        parse_policy([("mon.yaml", text)])
    lines = [str(p) for p in caught.value.problems]
    assert any(line.startswith(where) and message in line for line in lines), lines


def test_duplicate_ids_and_a_gate_that_never_reads_the_batch() -> None:
    doc = yaml.safe_load(POLICY)
    doc["monitors"].append(dict(doc["monitors"][0], evidence="live"))
    problems = _problems(yaml.safe_dump(doc, sort_keys=False))
    assert any("dup-monitor" in p or "already monitors[0]" in p for p in problems), problems
    assert any("never reads 'live'" in p and "warning" in p for p in problems), problems


def _outside_strings(query: str) -> str:
    """The text of a PromQL query outside its double-quoted strings (escapes honoured)."""
    out, inside, i = [], False, 0
    while i < len(query):
        ch = query[i]
        if inside and ch == "\\":
            i += 2
            continue
        if ch == '"':
            inside = not inside
        elif not inside:
            out.append(ch)
        i += 1
    return "".join(out)


@given(
    st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=30),
    st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=30),
)
def test_a_name_filled_into_a_kpi_query_never_leaves_its_string(model: str, version: str) -> None:
    """A version named ``1"}[5m]))*0#`` must not turn the monitor's query into a constant."""
    kpi = KpiQuery(query='sum(rate(errors{model="$model",version="$version"}[5m]))', max=0.01)
    filled = kpi.text(model, version)
    assert _outside_strings(filled) == _outside_strings(kpi.query)


@pytest.mark.parametrize(
    "query", ["rate(x[5m]) * $version", "x{model=$model}", "x{model='$model'}"]
)
def test_a_placeholder_outside_a_double_quoted_string_is_refused(query: str) -> None:
    with pytest.raises(ValueError, match="must stand inside a double-quoted label value"):
        KpiQuery(query=query, max=1.0)
