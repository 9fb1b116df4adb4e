"""What analytics keeps of a decision's gates survives the store's JSON exactly, and a
summary of any other shape never raises (it is read back from a database)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from clearance.core.analytics import GateFact, facts_of_summary, gate_facts
from clearance.core.hashing import canonical_json

gate = st.fixed_dictionaries(
    {
        "gate_id": st.text(max_size=20),
        "status": st.sampled_from(["pass", "fail", "error", "warn", "waived", "skipped"]),
    },
    optional={
        "margin": st.one_of(
            st.none(),
            st.floats(allow_nan=False, allow_infinity=False),
            st.integers(-(10**6), 10**6),
        ),
        "near_miss": st.booleans(),
        "observed": st.floats(allow_nan=False, allow_infinity=False),
    },
)


@given(st.lists(gate, max_size=8))
def test_the_kept_facts_round_trip_through_the_stored_json(gates: list[dict[str, Any]]) -> None:
    facts = gate_facts({"gates": gates})
    assert len(facts) == len(gates)
    assert facts_of_summary(json.loads(canonical_json(facts))) == facts


json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=5),
    max_leaves=20,
)


@given(json_value)
def test_any_other_shape_gives_facts_or_nothing(value: Any) -> None:
    facts = facts_of_summary(value)
    assert all(isinstance(f, GateFact) and isinstance(f.gate_id, str) for f in facts)
    assert all(f.margin is None or isinstance(f.margin, float) for f in facts)
