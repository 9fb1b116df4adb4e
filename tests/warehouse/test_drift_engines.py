"""The same drift gate in memory, on DuckDB and on Spark: the same results.

The datasets are real Parquet files (and a DuckDB database file); the engines run for real
(DuckDB embedded, Spark in local mode on the machine's Java). Only summaries come back from
the engines, and the gate's rows must equal the in-memory ones.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from tests.gates.conftest import DataGates, make_tables, run

from clearance.adapters.evidence import FileEvidence
from clearance.adapters.warehouse import TableSource, WarehouseEvidence
from clearance.core.results import GateStatus
from clearance.kernels import summaries

duckdb = pytest.importorskip("duckdb")

GATE = {
    "id": "drift",
    "type": "drift",
    "reference": "reference",
    "current": "evaluation",
    "ks_pvalue_min": 0.01,
    "psi_max": 0.2,
    "chi2_pvalue_min": 0.01,
    "wasserstein_max": 0.2,
    "max_drifted_share": 0.0,
}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> DataGates:
    return DataGates(tmp_path_factory.mktemp("wh"), "parquet", make_tables())


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> DataGates:
    """Past the exact KS p-value's 10,000 values: the sketch route applies."""
    rng = np.random.default_rng(11)
    n = 30_000
    x1 = rng.normal(size=n)
    x1[rng.random(n) < 0.01] = np.nan
    tables = {
        "reference": pa.table({"x1": rng.normal(size=n), "x2": rng.exponential(size=n),
                               "x3": rng.integers(0, 50, n)}),
        "evaluation": pa.table({"x1": x1, "x2": rng.exponential(1.05, size=n),
                                "x3": rng.integers(0, 52, n)}),
    }  # fmt: skip
    out = DataGates(tmp_path_factory.mktemp("big"), "parquet", tables)
    out.columns = {"evaluation": {"features": ["x1", "x2", "x3"]}}
    return out


def engine_run(env: DataGates, sources: dict[str, TableSource], gate: dict[str, Any] = GATE) -> Any:
    reader = WarehouseEvidence(FileEvidence({}, None), sources)
    try:
        return run([gate], env.version(), reader).gates[0]
    finally:
        reader.close()


def memory_run(env: DataGates, gate: dict[str, Any] = GATE) -> Any:
    return run([gate], env.version(), FileEvidence(dict(env.paths), None)).gates[0]


def files(env: DataGates, engine: str) -> dict[str, TableSource]:
    return {n: TableSource(engine, path=str(p)) for n, p in env.paths.items()}  # type: ignore[arg-type]


def assert_same(mem: Any, pushed: Any, *, wasserstein_rel: float = 1e-12) -> None:
    assert pushed.status is mem.status
    assert pushed.observed == mem.observed
    assert pushed.details["drifted_columns"] == mem.details["drifted_columns"]
    for a, b in zip(mem.details["columns"], pushed.details["columns"], strict=True):
        wa, wb = a.pop("wasserstein", None), b.pop("wasserstein", None)
        sa, sb = a.pop("severity"), b.pop("severity")
        assert a == b
        if wa is not None:
            assert wb == pytest.approx(wa, rel=wasserstein_rel)
        assert sb == pytest.approx(sa, rel=wasserstein_rel)


def test_duckdb_files_give_the_in_memory_result(env: DataGates) -> None:
    mem = memory_run(env)
    assert mem.status is GateStatus.FAIL and "x2" in mem.details["drifted_columns"]
    assert_same(mem, engine_run(env, files(env, "duckdb")))


def test_duckdb_table_in_a_database_file(env: DataGates, tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    con = duckdb.connect(str(db))
    for name, table in env.tables.items():
        con.register("incoming", table)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM incoming")
        con.unregister("incoming")
    con.close()
    sources = {n: TableSource("duckdb", database=str(db), table=f"main.{n}") for n in env.tables}
    assert_same(memory_run(env), engine_run(env, sources))


def test_sketch_route_is_exact_after_resolving_bins(
    big: DataGates, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Force the binned route (few bins, no exact histogram): KS and PSI stay exact;
    Wasserstein comes with its bound, which holds the in-memory value."""
    monkeypatch.setattr(summaries, "EXACT_DISTINCT", 10)
    monkeypatch.setattr(summaries, "SKETCH_BINS", 64)
    mem = memory_run(big)
    pushed = engine_run(big, files(big, "duckdb"))
    for a, b in zip(mem.details["columns"], pushed.details["columns"], strict=True):
        if a["kind"] != "numeric":
            assert a == b
            continue
        assert (b["ks"], b["psi"], b["nulls"]) == (a["ks"], a["psi"], a["nulls"])
        assert "ks_bounds" not in b  # every bin KS needed was resolved
        assert abs(b["wasserstein"] - a["wasserstein"]) <= b.get("wasserstein_error", 0) + 1e-12
    assert pushed.status is mem.status


def test_sketch_route_out_of_budget_reports_a_bound_that_holds(
    big: DataGates, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(summaries, "EXACT_DISTINCT", 10)
    monkeypatch.setattr(summaries, "SKETCH_BINS", 32)
    monkeypatch.setattr(summaries, "RESOLVE_ROWS", 0)  # only what PSI needs is resolved
    mem = {r["column"]: r for r in memory_run(big).details["columns"]}
    pushed = {r["column"]: r for r in engine_run(big, files(big, "duckdb")).details["columns"]}
    assert any("ks_bounds" in r for r in pushed.values())
    for col in ("x1", "x2", "x3"):
        lo, hi = pushed[col].get("ks_bounds", [pushed[col]["ks"]] * 2)
        assert lo <= mem[col]["ks"] <= hi
        assert pushed[col]["p_value"] <= mem[col]["p_value"]  # judged by the worst case
        assert pushed[col]["psi"] == mem[col]["psi"]


def test_a_hostile_column_name_is_refused_not_run(env: DataGates) -> None:
    bad = 'x1" FROM t; DROP TABLE t; --'
    g = engine_run(env, files(env, "duckdb"), {**GATE, "features": ["x1", bad]})
    assert g.status is GateStatus.ERROR
    assert "has no column" in g.message and "DROP TABLE" in g.message


def test_a_parquet_reference_meets_an_engine_read_current(env: DataGates, tmp_path: Path) -> None:
    """Production data an engine reads against a reference kept as a file (a monitor's
    case): DuckDB summarises the Parquet reference too, with the in-memory result; a
    reference DuckDB is not given (CSV here) is a precise error."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    memory = run([GATE], env.version(), FileEvidence(dict(env.paths), None)).gates[0]
    reader = WarehouseEvidence(
        FileEvidence({"reference": env.paths["reference"]}, None),
        {"evaluation": TableSource("duckdb", path=str(env.paths["evaluation"]))},
    )
    mixed = run([GATE], env.version(), reader).gates[0]
    assert mixed.status is memory.status is not GateStatus.ERROR
    assert mixed.observed == pytest.approx(memory.observed, rel=1e-12)
    csv = tmp_path / "reference.csv"
    pacsv.write_csv(pq.read_table(env.paths["reference"]), csv)
    reader = WarehouseEvidence(
        FileEvidence({"reference": csv}, None),
        {"evaluation": TableSource("duckdb", path=str(env.paths["evaluation"]))},
    )
    g = run([GATE], env.version(), reader).gates[0]
    assert g.status is GateStatus.ERROR and "'reference' is read in memory" in g.message


def test_missing_engine_names_the_extra(env: DataGates, monkeypatch: pytest.MonkeyPatch) -> None:
    from clearance.extras import MissingExtra

    monkeypatch.setitem(sys.modules, "duckdb", None)
    try:
        g = engine_run(env, files(env, "duckdb"))
    except MissingExtra as exc:
        message = str(exc)
    else:
        assert g.status is GateStatus.ERROR
        message = g.message
    assert "pip install 'clearance[duckdb]'" in message


def test_nan_and_null_are_both_nulls(tmp_path: Path) -> None:
    """A Parquet NaN and a Parquet null are both counted as nulls, as in memory."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=500)
    x[:5] = np.nan
    tables = {
        "reference": pa.table({"x1": pa.array(rng.normal(size=400), pa.float64())}),
        "evaluation": pa.table({"x1": pa.array(list(x[:-3]) + [None] * 3, pa.float64())}),
    }
    env = DataGates(tmp_path, "parquet", tables)
    gate = {**GATE, "features": ["x1"]}
    mem, pushed = memory_run(env, gate), engine_run(env, files(env, "duckdb"), gate)
    assert pushed.details["columns"][0]["nulls"] == mem.details["columns"][0]["nulls"] == [0, 8]
    assert_same(mem, pushed)


@pytest.mark.slow
def test_spark_gives_the_in_memory_result(env: DataGates, big: DataGates, spark: Any) -> None:
    assert_same(memory_run(env), engine_run(env, files(env, "spark")))
    assert_same(memory_run(big), engine_run(big, files(big, "spark")))


@pytest.mark.slow
def test_spark_sketch_route_matches(
    big: DataGates, spark: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(summaries, "EXACT_DISTINCT", 10)
    monkeypatch.setattr(summaries, "SKETCH_BINS", 64)
    mem = memory_run(big)
    sparked = engine_run(big, files(big, "spark"))
    for a, b in zip(mem.details["columns"], sparked.details["columns"], strict=True):
        assert (a["ks"], a["p_value"], a["psi"], a["nulls"]) == (
            b["ks"],
            b["p_value"],
            b["psi"],
            b["nulls"],
        )


def test_duckdb_histogram_route_past_ten_thousand_rows(big: DataGates) -> None:
    """30,000 rows a side: the value->count histograms, the asymptotic p-value."""
    mem = memory_run(big)
    assert {r["ks_method"] for r in mem.details["columns"]} == {"asymp"}
    assert_same(mem, engine_run(big, files(big, "duckdb")))
