"""The same drift gate in memory, on DuckDB and on Spark: time and memory as rows grow.

```sh
.venv/bin/python bench/warehouse.py                      # 1M, 5M and 10M rows, all three paths
.venv/bin/python bench/warehouse.py --rows 1000000 --paths duckdb
```

Data (fixed seed): a reference and a current table of N rows each, written to Parquet (row
groups of 1M rows, written a million rows at a time so the generator's memory is flat too):
``x0`` normal, ``x1`` lognormal, ``x2`` normal rounded to 0.01 (ties), ``c0`` 8 categories;
drift planted in ``x0`` (mean +0.02) and ``c0``; 1% NaN in ``x1``.

Each (path, N) runs in a fresh Python process that evaluates one ``drift`` gate (KS, PSI,
chi-square on all four columns) through the engine, exactly as ``clearance check`` would, and
reports its wall time and its peak RSS (``VmHWM``). The Spark line also reports the JVM's
peak RSS (local[2], driver memory 2 GB). The in-memory gate's results are the reference: the
DuckDB and Spark lines say whether every column's statistics are equal to them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GATE = {
    "id": "drift",
    "type": "drift",
    "reference": "reference",
    "current": "current",
    "features": ["x0", "x1", "x2", "c0"],
    "ks_pvalue_min": 0.01,
    "psi_max": 0.2,
    "chi2_pvalue_min": 0.01,
    "max_drifted_share": 0.25,
}
CHUNK = 1_000_000


def generate(folder: Path, rows: int) -> dict[str, Path]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(20261204)
    cats = np.array([f"k{i}" for i in range(8)])
    out = {}
    for name, shift in (("reference", 0.0), ("current", 1.0)):
        path = folder / f"{name}-{rows}.parquet"
        out[name] = path
        if path.exists():
            continue
        writer = None
        for start in range(0, rows, CHUNK):
            n = min(CHUNK, rows - start)
            x1 = rng.lognormal(0, 1, n)
            x1[rng.random(n) < 0.01] = np.nan
            p = np.array([8, 7, 6, 5, 4, 3, 2, 1], float) + shift * np.arange(8) * 0.05
            table = pa.table(
                {
                    "x0": rng.normal(0.02 * shift, 1, n),
                    "x1": x1,
                    "x2": np.round(rng.normal(0, 1, n), 2),
                    "c0": pa.array(cats[rng.choice(8, n, p=p / p.sum())]).dictionary_encode(),
                }
            )
            writer = writer or pq.ParquetWriter(path, table.schema)
            writer.write_table(table, row_group_size=CHUNK)
        assert writer is not None
        writer.close()
    return out


def peak_rss(pid: int | str = "self") -> int:
    """Peak resident set size of a process (bytes), from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def _jvm_children() -> list[int]:
    me, out = os.getpid(), []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == me and "java" in stat:
                out.append(int(d.name))
    return out


def child(path: str, reference: str, current: str) -> dict[str, Any]:
    """One evaluation of the drift gate in this process; its time, memory and rows."""
    import yaml

    from clearance.adapters.evidence import FileEvidence
    from clearance.adapters.warehouse import TableSource, WarehouseEvidence
    from clearance.core.engine import Evaluation, evaluate, resolve_transition
    from clearance.core.loading import parse_policy
    from clearance.core.version import ModelVersion

    files = {"reference": Path(reference), "current": Path(current)}
    policy = {
        "apiVersion": "clearance/v1",
        "kind": "Policy",
        "metadata": {"name": "bench", "version": "1.0.0", "owner": "o@example.com"},
        "workflow": {
            "stages": ["staging", "production"],
            "transitions": [{"from": "staging", "to": "production", "gates": ["drift"]}],
        },
        "gates": [GATE],
    }
    loaded = parse_policy([("policy.yaml", yaml.safe_dump(policy))])
    transition = resolve_transition(loaded, "staging", "production")
    version = ModelVersion.model_validate(
        {
            "model": {"name": "m"},
            "version": "1",
            "stage": "staging",
            "evidence": {
                n: {"name": n, "kind": "dataset", "uri": str(p)} for n, p in files.items()
            },
        }
    )
    jvm = 0
    if path == "memory":
        reader: Any = FileEvidence(files, None)
    else:
        if path == "spark":
            from pyspark.sql import SparkSession

            SparkSession.builder.master("local[2]").config("spark.driver.memory", "2g").config(
                "spark.sql.shuffle.partitions", "4"
            ).config("spark.ui.enabled", "false").getOrCreate().sparkContext.setLogLevel("ERROR")
        sources = {n: TableSource(path, path=str(p)) for n, p in files.items()}  # type: ignore[arg-type]
        reader = WarehouseEvidence(FileEvidence({}, None), sources)
    import datetime as dt

    start = time.perf_counter()
    decision = evaluate(
        Evaluation(loaded, transition, version, reader, dt.datetime(2026, 12, 4, tzinfo=dt.UTC))
    )
    seconds = time.perf_counter() - start
    if path == "spark":
        jvm = sum(peak_rss(p) for p in _jvm_children())
    gate = decision.gates[0]
    return {
        "path": path,
        "seconds": seconds,
        "python_peak_rss": peak_rss(),
        "jvm_peak_rss": jvm,
        "status": str(gate.status.value),
        "columns": gate.details.get("columns"),
        "message": gate.message,
    }


def same_columns(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> str:
    """Whether b's statistics equal a's (W within 1e-9 relative; sketch bounds reported)."""
    notes = []
    for x, y in zip(a, b, strict=True):
        for key in ("ks", "p_value", "psi", "chi2", "js", "nulls"):
            if x.get(key) != y.get(key):
                notes.append(f"{x['column']}.{key} {x.get(key)} vs {y.get(key)}")
        if x.get("wasserstein") is not None and y.get("wasserstein") is not None:
            rel = abs(x["wasserstein"] - y["wasserstein"]) / max(abs(x["wasserstein"]), 1e-300)
            if rel > 1e-9:
                notes.append(f"{x['column']}.W rel {rel:.1e} (bound ±{y.get('wasserstein_error')})")
        if "ks_bounds" in y:
            notes.append(f"{x['column']}.KS in {y['ks_bounds']}")
    return "equal" if not notes else "; ".join(notes)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000, 10_000_000])
    ap.add_argument("--paths", nargs="+", default=["memory", "duckdb", "spark"])
    ap.add_argument("--data", type=Path, default=None, help="folder for the Parquet files")
    ap.add_argument("--child", nargs=3, metavar=("PATH", "REFERENCE", "CURRENT"))
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    folder = args.data or Path(tempfile.mkdtemp(prefix="clearance-warehouse-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"{'rows':>11} {'path':>7} {'seconds':>8} {'python peak':>12} {'JVM peak':>9}  result")
    for rows in args.rows:
        files = generate(folder, rows)
        mem_columns = None
        for path in args.paths:
            proc = subprocess.run(
                [sys.executable, __file__, "--child", path, str(files["reference"]),
                 str(files["current"])],
                capture_output=True, text=True, cwd=ROOT, check=False,
            )  # fmt: skip
            if proc.returncode != 0:
                print(f"{rows:>11,} {path:>7} failed: {proc.stderr.strip().splitlines()[-1:]}")
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            if path == "memory":
                mem_columns, note = r["columns"], f"{r['status']} (reference)"
            elif mem_columns is not None:
                note = f"{r['status']}, {same_columns(mem_columns, r['columns'])}"
            else:
                note = r["status"]
            jvm = f"{r['jvm_peak_rss'] / 2**20:>6.0f} MB" if r["jvm_peak_rss"] else f"{'-':>9}"
            print(
                f"{rows:>11,} {path:>7} {r['seconds']:>8.2f} "
                f"{r['python_peak_rss'] / 2**20:>9.0f} MB {jvm}  {note}",
                flush=True,
            )


if __name__ == "__main__":
    main()
