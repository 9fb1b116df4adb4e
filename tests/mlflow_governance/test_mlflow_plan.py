"""The sync rule, table-driven: MLflow's value, clearance's wanted value, and what clearance
last wrote or accepted decide whether to write, accept, or record an ungoverned change."""

from __future__ import annotations

import pytest

from clearance.service.mlflow_plan import UNMANAGED, Key, Value, Wanted, plan

K: Key = ("alias", "champion")
_ = object()  # "not in last": clearance never wrote or accepted this key

CASES = [
    # found, wanted, last, revert -> written, accepted, drift (_: none)
    ("3", "3", "3", False, _, _, False),  # in step
    ("1", "3", "1", False, "3", _, False),  # a promotion to write back
    ("2", "1", "1", False, _, _, True),  # moved by hand: recorded, left
    ("2", "1", "1", True, "1", _, True),  # moved by hand: recorded, moved back
    ("2", "3", "1", False, "3", _, True),  # moved by hand, then a promotion: both
    ("3", "3", "1", False, _, "3", False),  # already what clearance wants: accepted
    (None, "3", _, False, "3", _, False),  # first sync: write, nothing to compare
    ("3", "3", _, False, _, "3", False),  # first sync, in step: accepted
    ("5", UNMANAGED, _, False, _, "5", False),  # a stage no version holds: as found
    (None, UNMANAGED, _, False, _, None, False),  # ...absent too
    ("6", UNMANAGED, "5", False, _, _, True),  # ...and must not change after
    ("6", UNMANAGED, "5", True, "5", _, True),  # ...or is moved back
    (None, "3", "3", False, _, _, True),  # clearance's alias removed by hand
    (None, "3", "3", True, "3", _, True),  # ...and put back
    ("3", None, "3", False, None, _, False),  # the stage emptied: remove the alias
    (None, None, "3", False, _, None, False),  # ...already removed: accepted
]


@pytest.mark.parametrize(("found", "wanted", "last", "revert", "write", "accepted", "drift"), CASES)
def test_the_sync_rule(
    found: Value,
    wanted: Wanted,
    last: object,
    revert: bool,
    write: object,
    accepted: object,
    drift: bool,
) -> None:
    known: dict[Key, Value] = {} if last is _ else {K: last}  # type: ignore[dict-item]
    out = plan({K: found}, {K: wanted}, known, revert=revert)
    assert out.writes.get(K, _) == write
    assert out.accepted.get(K, _) == accepted
    assert bool(out.drifts) is drift
