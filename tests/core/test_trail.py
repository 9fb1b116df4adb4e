"""The fold of audit events into the state they imply, and its comparison with the tables."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from clearance.core import audit, subjects
from clearance.core.audit import AuditEvent, next_event
from clearance.core.trail import Folder, Rows, _child, compare, implied_state

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


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["request:7", "model:m/version:1.0", "model:m", "user:ann", "decision:3"]),
    st.sampled_from(["approval", "evidence", "version", "request"]),
    st.one_of(st.integers(-2, 12), st.text(max_size=6), st.none()),
)
def test_a_child_subject_is_spelled_as_subjects_spells_it(parent: str, kind: Any, key: Any) -> None:
    """The fold's shortcut for an approval's or an evidence item's subject gives what
    ``subjects`` gives, and refuses what it refuses."""
    try:
        expected: Any = subjects.parse(parent).child(kind, key)
    except ValueError as exc:
        expected = type(exc)
    try:
        got: Any = _child(parent, kind, key)
    except ValueError as exc:
        got = type(exc)
    assert got == expected


def _any_event(draw: st.DrawFn, i: int) -> tuple[str, str, str, dict[str, Any]]:
    """One event of any action the fold knows (and one it does not), on a few subjects."""
    m, v, r = draw(st.sampled_from("ab")), str(draw(st.integers(1, 3))), draw(st.integers(1, 4))
    user, version = draw(st.sampled_from(NAMES)), f"model:{m}/version:{v}"
    signed = {"roles": ["model_owner"], "reason": "ok", "ticket": "T", "evidence_digest": "d"}
    waiver = {"model": m, "version": v, "gate": "g", "justification": "j", "controls": ["c"]}
    return draw(
        st.sampled_from(
            [
                ("op", "user.added", f"user:{user}", {"roles": ["b", "a"]}),
                ("op", "user.roles_changed", f"user:{user}", {"roles": ["c"]}),
                ("op", "user.disabled", f"user:{user}", {"revoked_tokens": [r]}),
                ("op", "user.enabled", f"user:{user}", {}),
                ("op", "model.registered", f"model:{m}", {"risk_tier": "high", "tags": {}}),
                ("op", "version.registered", version, {"stage": "draft", "evidence": {"c": "1"}}),
                ("op", "evidence.attached", version, {"name": "c", "sha256": f"s{i}"}),
                ("op", "version.stage_changed", version, {"to": "production", "slot": 0}),
                ("op", "version.stage_changed", version, {"to": "deprecated", "replaced_by": "2"}),
                ("op", "version.stage_changed", version, {"to": "archived"}),
                ("op", "policy.applied", "policy:p@1.0.0", {"content_hash": f"h{i}"}),
                (user, "request.opened", f"request:{r}", {"version": v, "from": "a", "to": "b"}),
                ("op", "request.status_changed", f"request:{r}", {"status": "executed"}),
                (user, "request.approved", f"request:{r}", signed),
                (user, "request.rejected", f"request:{r}", signed),
                (
                    "op",
                    "decision.recorded",
                    f"decision:{i}",
                    {"request": r, "gates": {"g": "pass"}},
                ),
                ("op", "rollout.started", f"rollout:{r}", {"request": r}),
                ("op", "rollout.rolled_back", f"rollout:{r}", {}),
                ("op", "waiver.granted", f"waiver:{r}", {**waiver, "expires_at": T0.isoformat()}),
                ("op", "waiver.revoked", f"waiver:{r}", {"reason": "r"}),
                (user, "token.created", f"user:{user}", {"token": r, "expires_at": None}),
                (user, "token.revoked", f"user:{user}", {"token": r}),
                ("op", "review.noted", f"model:{m}", {"note": "changes nothing"}),
            ]
        )
    )


@settings(max_examples=100, deadline=None)
@given(st.data(), st.integers(1, 5))
def test_folding_stored_rows_in_batches_gives_what_folding_events_gives(
    data: st.DataObject, size: int
) -> None:
    """Payloads parsed from their stored JSON, times as hashed, any batch size: the same
    rows, and the same event behind each field, as folding the events themselves."""
    n = data.draw(st.integers(0, 40))
    events = chain(
        *(data.draw(st.composite(lambda draw, i=i: _any_event(draw, i))()) for i in range(n))
    )
    folder = Folder()
    with mock.patch.object(audit, "BATCH", size):
        rows = [audit.stored(e)._replace(time=e.time.isoformat()) for e in events]  # as written
        assert audit.verify_stored(rows, fold=folder.add_stored).ok
    expected = implied_state(events)
    assert folder.state.rows == expected.rows
    for table, rows in expected.rows.items():
        for key, fields in rows.items():
            for name in fields:
                assert folder.state.seq(table, key, name) == expected.seq(table, key, name)
