"""A reader decodes each dataset column once per evaluation, whatever the number of gates.

Issue 12: the gates of one policy (drift, data quality, fairness, performance, champion
comparison) read the same evaluation table; each decoded and converted it again. The reader
keeps what it decoded (``ColumnCache``), bounded; the results are those of gates run alone.
The same readers' bounded artifact read is checked at the end.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clearance.adapters import datasets
from clearance.adapters.blobs import FileBlobStore
from clearance.adapters.datasets import ColumnCache, read_batches, read_columns
from clearance.adapters.evidence import BlobEvidence, FileEvidence
from clearance.core.columns import decoded

from .conftest import DataGates

GATES: list[dict[str, Any]] = [
    {
        "id": "drift",
        "type": "drift",
        "reference": "reference",
        "current": "evaluation",
        "max_drifted_share": 1.0,
    },
    {
        "id": "quality",
        "type": "data_quality",
        "dataset": "evaluation",
        "max_null_fraction": {"*": 0.05},
        "ranges": {"score": {"min": 0, "max": 1}, "x2": {"min": 0}},
        "allowed_values": {"group": ["a", "b", "c"], "cat": ["u", "v", "w"]},
        "unique": ["id"],
        "freshness": {"column": "ts", "max_age": "7d"},
    },
    {
        "id": "fair",
        "type": "fairness",
        "dataset": "evaluation",
        "metric": "demographic_parity_ratio",
        "min": 0.1,
    },
    {
        "id": "auc",
        "type": "performance",
        "dataset": "evaluation",
        "metric": "roc_auc",
        "min": 0.5,
        "confidence": 0.95,
    },
    {"id": "acc", "type": "performance", "dataset": "evaluation", "metric": "accuracy", "min": 0},
    {
        "id": "vs",
        "type": "champion_comparison",
        "dataset": "evaluation",
        "metric": "auc",
        "max_degradation": 0.5,
    },
]


def _decodes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """(dataset, column) of every column decoded from a file from now on, whole or streamed."""
    seen: list[tuple[str, str]] = []
    table, batches = datasets._Opened.table, datasets._Opened.batches

    def whole(self: Any, columns: Any, limits: Any, name: str) -> pa.Table:
        seen.extend((name, c) for c in columns)
        return table(self, columns, limits, name)

    def streamed(self: Any, columns: Any, rows: int) -> Any:
        seen.extend((Path(str(self.source)).stem, c) for c in columns)
        return batches(self, columns, rows)

    monkeypatch.setattr(datasets._Opened, "table", whole)
    monkeypatch.setattr(datasets._Opened, "batches", streamed)
    return seen


def test_the_gates_of_one_evaluation_decode_each_column_once(
    env: DataGates, monkeypatch: pytest.MonkeyPatch
) -> None:
    alone = [env.run([gate]).gates[0] for gate in GATES]  # a reader per gate
    seen = _decodes(monkeypatch)
    together = env.run(GATES).gates  # one reader for all six
    assert len(seen) == len(set(seen)), sorted(seen)
    assert {c for n, c in seen if n == "evaluation"} >= {"label", "score", "x1", "group", "id"}
    for a, b in zip(alone, together, strict=True):
        assert (a.gate_id, a.status, a.observed, a.message) == (
            b.gate_id,
            b.status,
            b.observed,
            b.message,
        )
        assert a.details == b.details


def test_batches_slice_the_cached_columns_and_decode_only_the_others(
    env: DataGates, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Longer than one batch: the cached columns are sliced, the others streamed (a reader of
    the first batch decodes no more than it); the batches equal those streamed alone."""
    path = env.paths["evaluation"]
    cols = ["x1", "cat", "group", "label", "ts"]
    streamed = list(read_batches(path, cols, 700, name="evaluation"))
    cache = ColumnCache(1 << 30)
    read_columns(path, ["x1", "cat"], name="evaluation", cache=cache)
    seen = _decodes(monkeypatch)
    mixed = list(read_batches(path, cols, 700, name="evaluation", cache=cache))
    assert [c for _, c in seen] == ["group", "label", "ts"]
    assert [b.num_rows for b in mixed] == [b.num_rows for b in streamed]
    for c in cols:  # category codes may differ per batch: compare the labels
        whole = np.concatenate([decoded(b, c) for b in streamed])
        sliced = np.concatenate([decoded(b, c) for b in mixed])
        np.testing.assert_array_equal(whole.astype(str), sliced.astype(str))
    assert np.shares_memory(mixed[0]["x1"], cache.get(datasets.source_key(path, "x"), "x1")[0])
    cached_only = list(read_batches(path, ["x1", "cat"], 700, name="evaluation", cache=cache))
    assert [b.num_rows for b in cached_only] == [700, 700, 700, 700, 200]
    assert seen == [("evaluation", c) for c in ("group", "label", "ts")]  # nothing decoded
    one = list(read_batches(path, cols, 5000, name="evaluation", cache=cache))  # one batch:
    assert len(one) == 1 and one[0].num_rows == 3000  # read whole, through the cache
    assert cache.get(datasets.source_key(path, "x"), "ts") is not None


def test_a_file_replaced_on_disk_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"a": [1.0, 2.0]}), path)
    reader = FileEvidence({"d": path}, None)
    assert reader.read_columns("d", ["a"])["a"].tolist() == [1.0, 2.0]
    pq.write_table(pa.table({"a": [3.0, 4.0, 5.0]}), path)
    os.utime(path, ns=(1, 1))  # even with an old modification time: the size differs
    assert reader.read_columns("d", ["a"])["a"].tolist() == [3.0, 4.0, 5.0]


def test_the_cache_keeps_at_most_its_bound_least_recently_used_out(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({c: np.arange(1000, dtype=np.float64) for c in "abc"}), path)
    cache = ColumnCache(2 * 8000)  # two of the three columns
    read_columns(path, ["a", "b"], name="d", cache=cache)
    read_columns(path, ["a"], name="d", cache=cache)  # a is now the most recent
    read_columns(path, ["c"], name="d", cache=cache)  # b goes
    key = datasets.source_key(path, "d")
    assert cache.size == 16000
    assert cache.get(key, "b") is None
    assert cache.get(key, "a") is not None and cache.get(key, "c") is not None
    small = ColumnCache(4000)  # smaller than one column: batches stream from the file
    batches = list(read_batches(path, ["a"], 300, name="d", cache=small))
    assert small.size == 0 and [b.num_rows for b in batches] == [300, 300, 300, 100]


def test_readers_read_at_most_one_byte_past_the_artifact_limit(tmp_path: Path) -> None:
    """``read_artifact(max_bytes)``: a longer answer says the artifact is larger; never all of
    a large file. Without an artifact, ``KeyError``."""
    path = tmp_path / "model.pkl"
    path.write_bytes(bytes(range(200)))
    store = FileBlobStore(tmp_path / "blobs")
    sha, _ = store.put_file(path)
    for reader in (FileEvidence({}, path), BlobEvidence(store, {}, sha)):
        assert reader.read_artifact(500) == bytes(range(200))
        assert reader.read_artifact(10) == bytes(range(11))
    for empty in (FileEvidence({}, None), BlobEvidence(store, {}, None)):
        with pytest.raises(KeyError):
            empty.read_artifact(10)
