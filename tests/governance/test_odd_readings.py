"""A NaN or infinite KPI reading (``clearance rollout observe --kpi error_rate=nan``) is an
input error that records nothing: NaN compares false with every limit, so it would never
roll a bad canary back, and the audit trail cannot digest it."""

from __future__ import annotations

import math

import pytest

from clearance.errors import InputError

from .conftest import GOOD, MODEL, Env


@pytest.mark.parametrize(
    "readings",
    [
        {"error_rate": (math.nan, 0.001)},
        {"error_rate": (0.001, math.inf)},
        {**GOOD, "ctr": (float("1e400"), 0.05)},
    ],
    ids=["nan-canary", "inf-control", "1e400"],
)
def test_a_non_finite_kpi_reading_is_refused_and_records_nothing(
    env: Env, readings: dict[str, tuple[float, float | None]]
) -> None:
    env.canary_to_production("1")
    env.approved("2")
    env.ws.rollouts.start(MODEL, "2", actor="frank")
    before = env.event_count()

    with pytest.raises(InputError, match="is not a finite number"):
        env.ws.rollouts.observe(MODEL, readings, actor="frank")

    assert env.event_count() == before
    assert env.ws.rollouts.status(MODEL).readings == {}
    _, verdict = env.ws.rollouts.observe(MODEL, GOOD, actor="frank")  # still usable
    assert verdict.action == "hold"
