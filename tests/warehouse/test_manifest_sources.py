"""A dataset evidence read where it lives: the manifest's ``source:`` and its digest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clearance.adapters.evidence import FileEvidence
from clearance.adapters.warehouse import TableSource, WarehouseEvidence, with_warehouse
from clearance.errors import ManifestError
from clearance.manifest import read_manifest

HEAD = """apiVersion: clearance/v1
kind: ModelManifest
model: {name: m}
version: "1"
evidence:
"""


def write(root: Path, evidence: str) -> Path:
    batches = root / "batches"
    batches.mkdir(exist_ok=True)
    for i in range(3):
        pq.write_table(pa.table({"x": np.arange(10.0) + i}), batches / f"part-{i}.parquet")
    (root / "manifest.yaml").write_text(HEAD + evidence)
    return root / "manifest.yaml"


def test_a_glob_of_parquet_files_is_one_dataset_with_a_digest(tmp_path: Path) -> None:
    path = write(tmp_path, '  b: {kind: dataset, source: {duckdb: {path: "batches/*.parquet"}}}\n')
    version, files = read_manifest(path)
    digested = tuple(sorted((tmp_path / "batches").resolve().glob("*.parquet")))
    assert files.sources == {"b": TableSource("duckdb", path="batches/*.parquet", files=digested)}
    item = version.evidence["b"]
    assert item.uri == "duckdb:batches/*.parquet" and item.sha256 and item.size
    pq.write_table(pa.table({"x": [1.0]}), tmp_path / "batches" / "part-9.parquet")
    assert read_manifest(path)[0].evidence["b"].sha256 != item.sha256  # new file, new evidence
    reader = with_warehouse(FileEvidence({}, None), files.sources, base=tmp_path)
    assert isinstance(reader, WarehouseEvidence)
    assert reader.dataset_rows("b") == 30  # the files digested, not the one landed since
    again = read_manifest(path)[1].sources
    assert with_warehouse(FileEvidence({}, None), again, base=tmp_path).dataset_rows("b") == 31


@pytest.mark.parametrize(
    ("evidence", "message"),
    [
        ("  b: {kind: dataset, path: x.csv, source: {duckdb: {path: a}}}\n", "exactly one of"),
        ("  b: {kind: dataset, source: {duckdb: {path: a}, spark: {path: a}}}\n", "one engine"),
        ("  b: {kind: dataset, source: {duckdb: {database: w.duckdb}}}\n", "needs its table"),
        ("  b: {kind: dataset, source: {duckdb: {database: w.duckdb, table: 't; drop'}}}\n",
         "letters, digits"),
        ("  b: {kind: dataset, source: {duckdb: {path: 'none/*.parquet'}}}\n", "no file matches"),
        ("  b: {kind: dataset, source: {spark: {path: batches, format: xls}}}\n", "format"),
    ],
)  # fmt: skip
def test_bad_sources_are_located_errors(tmp_path: Path, evidence: str, message: str) -> None:
    with pytest.raises(ManifestError, match=message) as caught:
        read_manifest(write(tmp_path, evidence))
    assert "manifest.yaml:6" in str(caught.value)


def test_a_confined_manifest_keeps_sources_inside(tmp_path: Path) -> None:
    inner = tmp_path / "inner"
    inner.mkdir()
    write(tmp_path, "")
    (inner / "manifest.yaml").write_text(
        HEAD + '  b: {kind: dataset, source: {duckdb: {path: "../batches/*.parquet"}}}\n'
    )
    with pytest.raises(ManifestError, match="inside the manifest's folder"):
        read_manifest(inner / "manifest.yaml", confined=True)


POLICY = """apiVersion: clearance/v1
kind: Policy
metadata: {name: wh, version: 1.0.0, owner: data-team}
workflow:
  stages: [staging, production]
  transitions:
    - {from: staging, to: production, gates: [drift]}
gates:
  - id: drift
    type: drift
    reference: reference
    current: current
    features: [x, y]
    psi_max: 0.2
    ks_pvalue_min: 0.001
"""


def test_check_reads_a_source_dataset_through_duckdb_with_the_in_memory_result(
    tmp_path: Path,
) -> None:
    """``clearance check`` on the same data named by path and by ``source: {duckdb: ...}``:
    the same decision, gate by gate (the digest of the dataset differs, so not the id)."""
    import json

    from cli_runner import run_cli

    pytest.importorskip("duckdb")
    rng = np.random.default_rng(17)
    batches = tmp_path / "current"
    batches.mkdir()
    ref = pa.table({"x": rng.normal(0, 1, 4000), "y": rng.normal(5, 2, 4000)})
    pq.write_table(ref, tmp_path / "reference.parquet")
    parts = [
        pa.table({"x": rng.normal(0.4, 1, 1500), "y": rng.normal(5, 2, 1500)}) for _ in range(2)
    ]
    for i, part in enumerate(parts):
        pq.write_table(part, batches / f"part-{i}.parquet")
    pq.write_table(pa.concat_tables(parts), tmp_path / "current.parquet")
    (tmp_path / "policy.yaml").write_text(POLICY)
    common = HEAD.replace('version: "1"', 'version: "1"\nstage: staging') + (
        "  reference: {kind: dataset, path: reference.parquet}\n"
    )
    (tmp_path / "memory.yaml").write_text(
        common + "  current: {kind: dataset, path: current.parquet}\n"
    )
    (tmp_path / "duck.yaml").write_text(
        common + '  current: {kind: dataset, source: {duckdb: {path: "current/*.parquet"}}}\n'
    )
    outcomes = []
    for manifest in ("memory.yaml", "duck.yaml"):
        ran = run_cli(
            "check", "--policy", tmp_path / "policy.yaml", "--manifest", tmp_path / manifest,
            "--to", "production", "--json", cwd=tmp_path,
        )  # fmt: skip
        assert ran.returncode == 1, ran.stderr  # the shifted x drifts: blocked
        [gate] = json.loads(ran.stdout)["gates"]
        outcomes.append((gate["status"], gate["observed"], gate["message"]))
    assert outcomes[0] == outcomes[1] and outcomes[0][0] == "fail"
