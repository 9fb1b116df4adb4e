"""Fairness, performance and data quality on DuckDB (and Spark): the in-memory results.

Each gate reads the same Parquet file in memory and through an engine that returns only
summaries (group confusion counts, a rank sum, null/range counts, per-value counts).
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.gates.conftest import DataGates, make_tables, run

from clearance.adapters.evidence import FileEvidence
from clearance.adapters.warehouse import TableSource, WarehouseEvidence
from clearance.core.results import GateStatus

pytest.importorskip("duckdb")

GATES: list[dict[str, Any]] = [
    {"id": "dp", "type": "fairness", "dataset": "evaluation",
     "metric": "demographic_parity_ratio", "min": 0.8},
    {"id": "eo", "type": "fairness", "dataset": "evaluation",
     "metric": "equalized_odds_difference", "max": 0.1, "min_group_size": 400},
    {"id": "auc", "type": "performance", "dataset": "evaluation", "metric": "roc_auc",
     "min": 0.7},
    {"id": "acc", "type": "performance", "dataset": "evaluation", "metric": "accuracy",
     "min": 0.6, "threshold": 0.4},
    {"id": "f1", "type": "performance", "dataset": "evaluation", "metric": "f1", "min": 0.9},
    {"id": "dq", "type": "data_quality", "dataset": "evaluation", "min_rows": 1000,
     "max_null_fraction": {"*": 0.005}, "ranges": {"x1": {"min": -2.5, "max": 2.5},
                                                   "score": {"min": 0, "max": 1}},
     "allowed_values": {"cat": ["u", "v"]}, "freshness": {"column": "ts", "max_age": "3d"},
     "schema": {"id": "int64", "x1": "float64", "cat": "string", "ts": "datetime"}},
]  # fmt: skip


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> DataGates:
    return DataGates(tmp_path_factory.mktemp("gates"), "parquet", make_tables())


def results(env: DataGates, engine: str | None) -> dict[str, Any]:
    if engine is None:
        reader: Any = FileEvidence(dict(env.paths), None)
    else:
        sources = {n: TableSource(engine, path=str(p)) for n, p in env.paths.items()}  # type: ignore[arg-type]
        reader = WarehouseEvidence(FileEvidence({}, None), sources)
    return {g.gate_id: g for g in run(GATES, env.version(), reader).gates}


def same(a: Any, b: Any) -> None:
    assert (b.status, b.message) == (a.status, a.message)
    assert b.observed == pytest.approx(a.observed, rel=1e-12)
    da, db = dict(a.details), dict(b.details)
    for f in (*da.get("findings", []), *db.get("findings", [])):
        f.pop("examples", None)  # allowed-values examples: the same values, another order
    da.pop("worst", None), db.pop("worst", None)
    assert db == da


def test_duckdb_gates_equal_the_in_memory_ones(env: DataGates) -> None:
    mem, duck = results(env, None), results(env, "duckdb")
    assert {g.status for g in mem.values()} >= {GateStatus.PASS, GateStatus.FAIL}
    for gate_id, a in mem.items():
        assert a.status is not GateStatus.ERROR, (gate_id, a.message)
        same(a, duck[gate_id])


@pytest.mark.slow
def test_spark_gates_equal_the_in_memory_ones(env: DataGates, spark: Any) -> None:
    mem, sparked = results(env, None), results(env, "spark")
    for gate_id, a in mem.items():
        same(a, sparked[gate_id])
