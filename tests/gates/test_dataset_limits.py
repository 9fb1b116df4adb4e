"""Datasets over a size limit are refused from their metadata, before columns are read.

The finding (issue 10.4): a 384 KB Parquet file of 20M rows took 2.4 GB in a data gate. The
limits (``CLEARANCE_MAX_DATASET_ROWS`` / ``_BYTES``) are lowered here so that a small,
highly compressible file of many rows passes them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from clearance.adapters.datasets import DatasetLimits, DatasetTooLarge, read_batches, read_columns
from clearance.adapters.evidence import FileEvidence
from clearance.core.hashing import sha256_bytes
from clearance.core.results import GateStatus
from clearance.core.version import EvidenceItem, ModelVersion

from .conftest import run

ROWS = 2_000_000


@pytest.fixture(scope="module")
def many_rows(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two million identical rows: a few kilobytes of Parquet, 16 MB once decoded."""
    path = tmp_path_factory.mktemp("big") / "rows.parquet"
    table = pa.table({"label": np.zeros(ROWS, np.int64), "score": np.zeros(ROWS)})
    pq.write_table(table, path, compression="zstd")
    assert path.stat().st_size < 100_000
    return path


def test_rows_over_the_limit_are_refused_from_the_footer(many_rows: Path) -> None:
    limits = DatasetLimits(max_rows=1_000_000)
    with pytest.raises(DatasetTooLarge) as caught:
        read_columns(many_rows, ["label"], name="holdout", limits=limits)
    assert str(caught.value) == (
        "dataset 'holdout' has 2,000,000 rows, over the limit of 1,000,000 rows per dataset; "
        "attach a sample, or raise CLEARANCE_MAX_DATASET_ROWS"
    )
    with pytest.raises(DatasetTooLarge):  # the streaming gates are refused alike
        next(read_batches(many_rows, ["label"], 1000, name="holdout", limits=limits))


def test_repeated_strings_are_refused_while_decoding(tmp_path: Path) -> None:
    """A dictionary-encoded string column understates its size in the footer (34 KB of file,
    over 200 MB decoded): reading stops as soon as the decoded batches pass the limit."""
    path = tmp_path / "strings.parquet"
    pq.write_table(pa.table({"segment": pa.array(["x" * 100] * ROWS)}), path)
    assert path.stat().st_size < 100_000
    limits = DatasetLimits(max_bytes=50 << 20)
    with pytest.raises(DatasetTooLarge, match="dataset 'segments' decodes to more than"):
        read_columns(path, ["segment"], name="segments", limits=limits)


def test_decoded_bytes_over_the_limit_are_refused(many_rows: Path) -> None:
    limits = DatasetLimits(max_bytes=20 << 20)
    read_columns(many_rows, ["label"], name="holdout", limits=limits)  # 15.3 MiB: allowed
    with pytest.raises(DatasetTooLarge) as caught:
        read_columns(many_rows, ["label", "score"], name="holdout", limits=limits)
    assert "dataset 'holdout' decodes to about 30.5 MiB, over the limit of 20.0 MiB" in str(
        caught.value
    )
    assert "raise CLEARANCE_MAX_DATASET_BYTES" in str(caught.value)


def test_csv_rows_are_bounded_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    pacsv.write_csv(pa.table({"label": np.zeros(5000, np.int64)}), path)
    with pytest.raises(DatasetTooLarge, match="5,001 rows, over the limit of 4,000"):
        read_columns(path, ["label"], name="holdout", limits=DatasetLimits(max_rows=4000))


def test_the_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLEARANCE_MAX_DATASET_ROWS", "1_000")
    monkeypatch.setenv("CLEARANCE_MAX_DATASET_BYTES", "4096")
    assert DatasetLimits.from_env() == DatasetLimits(max_rows=1000, max_bytes=4096)
    monkeypatch.setenv("CLEARANCE_MAX_DATASET_ROWS", "lots")
    with pytest.raises(ValueError, match="CLEARANCE_MAX_DATASET_ROWS must be a positive"):
        DatasetLimits.from_env()
    assert DatasetLimits.from_env({}) == DatasetLimits(max_rows=50_000_000, max_bytes=2 << 30)


@pytest.mark.parametrize(
    "gate",
    [
        {"type": "performance", "metric": "roc_auc", "min": 0.5},
        {"type": "data_quality", "min_rows": 1},
    ],
)
def test_a_data_gate_over_the_limit_is_an_error_naming_it(
    many_rows: Path, monkeypatch: pytest.MonkeyPatch, gate: dict[str, object]
) -> None:
    monkeypatch.setenv("CLEARANCE_MAX_DATASET_ROWS", "1000000")
    item = EvidenceItem(
        name="holdout",
        kind="dataset",
        uri=str(many_rows),
        sha256=sha256_bytes(many_rows.read_bytes()),
        columns={"label": "label", "score": "score"},
    )
    version = ModelVersion.model_validate(
        {
            "model": {"name": "m", "risk_tier": "high"},
            "version": "2",
            "stage": "staging",
            "evidence": {"holdout": item},
        }
    )
    decision = run(
        [{"id": "g", "dataset": "holdout", **gate}],
        version,
        FileEvidence({"holdout": many_rows}, None),
    )
    result = decision.gates[0]
    assert result.status is GateStatus.ERROR
    assert "dataset 'holdout' has 2,000,000 rows, over the limit of 1,000,000" in result.message
