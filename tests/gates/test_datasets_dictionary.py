"""Dictionary-encoded text columns convert from the file's own encoding, exactly as the
decoded strings would."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clearance.adapters.datasets import read_columns, to_columns


def _as_strings(table: pa.Table) -> pa.Table:
    return pa.table({n: table.column(n).cast(pa.string()) for n in table.column_names})


def _chunked() -> pa.Table:
    """Three chunks with different dictionaries (one with an unused, one with a null value)."""
    chunks = [
        pa.DictionaryArray.from_arrays(pa.array([2, 0, None, 2], pa.int32()), ["b", "z", "a"]),
        pa.DictionaryArray.from_arrays(pa.array([0, 1, 1], pa.int32()), ["c", "a", "unused"]),
        pa.DictionaryArray.from_arrays(pa.array([1, 0], pa.int32()), ["b", None]),
    ]
    return pa.table({"c": pa.chunked_array(chunks)})


@pytest.mark.parametrize(
    "table",
    [
        _chunked(),
        pa.table({"c": pa.array(["x", None, "y", "x"]).dictionary_encode()}),
        pa.table({"c": pa.array([None, None], pa.string()).dictionary_encode()}),
        pa.table({"c": pa.chunked_array([], pa.dictionary(pa.int32(), pa.string()))}),
        pa.table(  # int8 indices up to 127: no overflow when shifted
            {
                "c": pa.DictionaryArray.from_arrays(
                    pa.array([127, 0, None, 5], pa.int8()), [f"v{i:03}" for i in range(128)]
                )
            }
        ),
    ],
)
def test_codes_and_categories_equal_those_of_the_decoded_strings(table: pa.Table) -> None:
    got, want = to_columns(table), to_columns(_as_strings(table))
    assert got.categories == want.categories
    np.testing.assert_array_equal(got["c"], want["c"])
    assert got["c"].dtype == np.int64
    assert got.schema == {"c": "string"}


def test_a_parquet_categorical_reads_as_sorted_codes(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 4, 200_000).astype(np.int32)
    labels = pa.array(["d", "b", "c", "a"])
    col = pa.DictionaryArray.from_arrays(pa.array(codes, mask=codes == 3), labels)
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"c": col}), path, row_group_size=50_000)
    got = read_columns(path, ["c"], name="t")
    assert got.categories["c"] == ["b", "c", "d"]  # "a" is only ever null here: not a category
    expected = np.array([2, 0, 1, -1])[codes]
    np.testing.assert_array_equal(got["c"], expected)
