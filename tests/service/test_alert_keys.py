"""A promotion blocked by many long-named gates still records its alert (the outbox key is
bounded), on both databases."""

from __future__ import annotations

from typing import TYPE_CHECKING

from clearance.service.alerts import MAX_KEY, bounded_key

if TYPE_CHECKING:
    from conftest import Env


def test_a_long_key_is_cut_to_a_unique_bounded_one() -> None:
    a, b = "gate-failed:" + "x" * 400 + "a", "gate-failed:" + "x" * 400 + "b"
    assert bounded_key("short") == "short"
    assert len(bounded_key(a)) == MAX_KEY
    assert bounded_key(a) != bounded_key(b)
    assert bounded_key(a) == bounded_key(a)


def test_a_block_by_many_long_named_gates_is_recorded(env: Env) -> None:
    doc = env.policy(version="1.1.0")
    names = [f"{'floor_' * 15}{i}" for i in range(6)]  # 6 gates, ~91 characters each
    doc["gates"] += [
        {"id": name, "type": "metric_threshold", "metric": "auc", "min": 0.99} for name in names
    ]
    doc["workflow"]["transitions"][0]["gates"] += names
    env.apply(doc)
    env.register("1")

    result = env.ws.promotions.promote(env.model, "1", "staging", actor="alice")

    assert not result.executed
    assert result.decision.outcome == "deny"
