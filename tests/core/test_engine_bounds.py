"""``check_bound`` is written out for speed (issue 12.3); it must pick the side, margin and
verdict the sorted original picked, ties and NaN included."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from clearance.core.gates.base import check_bound

NUMBER = st.one_of(st.floats(allow_infinity=False), st.sampled_from([0.0, 0.5, 1.0]))


def _sorted_original(observed: float, lo: float | None, hi: float | None) -> tuple[Any, ...]:
    sides: list[tuple[str, float, float]] = []
    if lo is not None:
        sides.append((">=", lo, observed - lo))
    if hi is not None:
        sides.append(("<=", hi, hi - observed))
    op, threshold, margin = sorted(sides, key=lambda s: s[2])[0]
    return op, threshold, margin, all(m >= 0 for _, _, m in sides)


@given(NUMBER, st.one_of(st.none(), NUMBER), st.one_of(st.none(), NUMBER))
def test_check_bound_matches_the_sorted_original(
    observed: float, lo: float | None, hi: float | None
) -> None:
    if lo is None and hi is None:
        return
    m = check_bound(observed, min=lo, max=hi, what="x")
    op, threshold, margin, ok = _sorted_original(observed, lo, hi)
    assert (m.operator, m.threshold, m.status.value == "pass") == (op, threshold, ok)
    assert repr(m.margin) == repr(margin)  # NaN included
    assert "meets" in m.message if ok else "violates" in m.message
