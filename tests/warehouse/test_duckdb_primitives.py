"""DuckDB's summaries equal numpy's on the same values: bins (values on the edges included),
values within ranges (infinite ends included), NaN as null; the memory setting is checked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearance.adapters.warehouse import TableSource, open_table

pytest.importorskip("duckdb")


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, np.ndarray]:
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.integers(-50, 50, 3000).astype(float), rng.normal(0, 30, 3000)])
    x[::97] = np.nan
    path = tmp_path_factory.mktemp("prim") / "t.parquet"
    pq.write_table(pa.table({"x": x, "s": np.where(x > 0, "pos", "neg")}), path)
    return open_table(TableSource("duckdb", path=str(path)), "t"), x[~np.isnan(x)]


edges_st = st.lists(st.integers(-60, 60), min_size=1, max_size=40, unique=True).map(
    lambda e: np.array(sorted(e), float)
)


@settings(max_examples=30, deadline=None)
@given(edges_st)
def test_bin_counts_are_left_closed_like_searchsorted(table: tuple, edges: np.ndarray) -> None:
    t, x = table
    want = np.bincount(np.searchsorted(edges, x, side="right"), minlength=edges.size + 1)
    assert np.array_equal(t.bin_counts("x", edges), want)  # type: ignore[attr-defined]


@settings(max_examples=30, deadline=None)
@given(edges_st, st.data())
def test_values_within_ranges(table: tuple, edges: np.ndarray, data: st.DataObject) -> None:
    t, x = table
    bounds = [-np.inf, *edges.tolist(), np.inf]
    bins = data.draw(st.sets(st.integers(0, len(bounds) - 2), min_size=1))
    ranges = [(bounds[b], bounds[b + 1]) for b in sorted(bins)]
    keep = np.zeros(x.size, bool)
    for lo, hi in ranges:
        keep |= (x >= lo) & (x < hi)
    values, counts = np.unique(x[keep], return_counts=True)
    got = t.value_counts("x", 10**6, ranges)  # type: ignore[attr-defined]
    assert np.array_equal(got.values, values) and np.array_equal(got.counts, counts)


def test_profile_and_limits(table: tuple) -> None:
    t, x = table
    p = t.profile("x")  # type: ignore[attr-defined]
    assert (p.rows, p.nulls, p.minimum, p.maximum) == (x.size, 6000 - x.size, x.min(), x.max())
    assert t.value_counts("x", 10) is None  # type: ignore[attr-defined]
    assert t.category_counts("s", 5) == ({"pos": int((x > 0).sum()),  # type: ignore[attr-defined]
                                          "neg": 6000 - int((x > 0).sum())}, 0)  # fmt: skip


def test_memory_setting_is_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"x": [1.0]}), path)
    monkeypatch.setenv("CLEARANCE_DUCKDB_MEMORY", "1GB; PRAGMA x")
    with pytest.raises(ValueError, match="CLEARANCE_DUCKDB_MEMORY must be a size"):
        open_table(TableSource("duckdb", path=str(path)), "t")
