"""The fold of audit events into the state they imply, and its comparison with the tables."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from clearance.core.audit import AuditEvent, next_event
from clearance.core.trail import Rows, compare, implied_state

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
STAGES = ["draft", "staging", "production", "deprecated"]
NAMES = ["ann", "ben", "cai"]
ROLES = ["admin", "auditor", "model_owner", "risk_officer"]


def chain(*events: tuple[str, str, str, dict[str, Any]]) -> list[AuditEvent]:
    out: list[AuditEvent] = []
    for i, (actor, action, subject, payload) in enumerate(events):
        out.append(
            next_event(
                out[-1] if out else None,
                time=T0 + dt.timedelta(seconds=i),
                actor=actor,
                action=action,
                subject=subject,
                payload=payload,
            )
        )
    return out


def test_a_promotion_a_retirement_and_a_rollout_fold_into_rows() -> None:
    v1, v2 = "model:m/version:1", "model:m/version:2"
    events = chain(
        ("op", "version.registered", v1, {"version": "1", "stage": "staging", "evidence": {}}),
        ("op", "version.registered", v2, {"version": "2", "stage": "staging", "evidence": {}}),
        ("op", "version.stage_changed", v1, {"from": "staging", "to": "production", "slot": 0}),
        (
            "al",
            "request.opened",
            "request:1",
            {"version": "2", "from": "staging", "to": "production"},
        ),
        ("cy", "request.approved", "request:1", {"roles": ["model_owner"], "evidence_digest": "d"}),
        ("op", "rollout.started", "rollout:4", {"request": 1}),
        ("op", "version.stage_changed", v1, {"to": "deprecated", "replaced_by": "2", "slot": None}),
        ("op", "version.stage_changed", v2, {"to": "production", "slot": 0}),
        ("op", "rollout.completed", "rollout:4", {"version": "2"}),
        ("op", "version.stage_changed", v1, {"to": "archived"}),  # no slot: before it was kept
    )
    rows = implied_state(events).rows
    assert rows["versions"][v2]["stage"] == "production"
    assert rows["versions"][v2]["production_slot"] == 0
    assert rows["versions"][v2]["previous_production"] == "1"
    assert "production_slot" not in rows["versions"][v1]  # unknown, so never compared
    assert rows["requests"]["request:1"]["status"] == "executed"
    assert rows["requests"]["request:1"]["requester"] == "al"
    approval = rows["approvals"]["request:1/approval:1"]
    assert (approval["approver"], approval["verdict"]) == ("cy", "approve")
    assert approval["at"] == "2026-03-01T12:00:04.000000+00:00"


def test_disabling_a_user_revokes_the_tokens_its_event_names() -> None:
    events = chain(
        ("op", "user.added", "user:ann", {"roles": ["admin"]}),
        ("ann", "token.created", "user:ann", {"token": 3, "prefix": "clr_x", "expires_at": None}),
        ("op", "user.disabled", "user:ann", {"revoked_tokens": [3]}),
    )
    rows = implied_state(events).rows
    assert rows["users"]["user:ann"]["disabled"] is True
    assert rows["tokens"]["token:3"]["revoked"] is True


def test_rows_no_event_made_and_rows_gone_are_both_named() -> None:
    state = implied_state(chain(("op", "user.added", "user:ann", {"roles": ["admin"]})))
    found: Rows = {"users": {"user:bob": {"roles": ["admin"], "disabled": False}}}
    messages = [d.message for d in compare(state, found)]
    assert messages == [
        "users user:ann: the events created this row (event seq 1) but it is not in the table",
        "users user:bob: the row is in the table but no event created it",
    ]


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("roles"), st.sampled_from(NAMES), st.sets(st.sampled_from(ROLES))),
        st.tuples(st.just("stage"), st.sampled_from(NAMES), st.sampled_from(STAGES)),
    ),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(OPS, st.data())
def test_the_fold_agrees_with_a_plain_model_and_any_one_edit_is_found(
    ops: list[tuple[str, str, Any]], data: st.DataObject
) -> None:
    """Users' roles and versions' stages, changed in any order: the fold says what a plain
    dictionary update says, and editing any single field of that state is one difference."""
    events: list[tuple[str, str, str, dict[str, Any]]] = []
    expected: Rows = {"users": {}, "versions": {}}
    for kind, name, value in ops:
        if kind == "roles":
            key = f"user:{name}"
            action = "user.roles_changed" if key in expected["users"] else "user.added"
            events.append(("op", action, key, {"roles": sorted(value)}))
            expected["users"].setdefault(key, {"disabled": False})["roles"] = sorted(value)
        else:
            key = f"model:m/version:{name}"
            if key not in expected["versions"]:
                events.append(("op", "version.registered", key, {"stage": "draft"}))
                expected["versions"][key] = {"stage": "draft", "production_slot": None}
            slot = 0 if value == "production" else None
            events.append(("op", "version.stage_changed", key, {"to": value, "slot": slot}))
            expected["versions"][key].update(stage=value, production_slot=slot)
    state = implied_state(chain(*events))
    assert compare(state, expected) == []

    rows = [(t, k) for t in expected for k in expected[t]]
    if not rows:
        return
    table, key = data.draw(st.sampled_from(rows))
    field = data.draw(st.sampled_from(sorted(expected[table][key])))
    edited = copy.deepcopy(expected)
    edited[table][key][field] = "tampered"
    [difference] = compare(state, edited)
    assert (difference.table, difference.key, difference.field) == (table, key, field)
    assert difference.found == "tampered"
