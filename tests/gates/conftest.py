"""Small real dataset files in all three formats, and a one-call route through the engine."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as paipc
import pyarrow.parquet as pq
import pytest
import yaml

from clearance.adapters.evidence import FileEvidence
from clearance.core.engine import Evaluation, evaluate, resolve_transition
from clearance.core.hashing import sha256_bytes
from clearance.core.loading import parse_policy
from clearance.core.results import Decision
from clearance.core.version import EvidenceItem, ModelVersion

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
FORMATS = ("parquet", "csv", "arrow")
GROUPS = np.array(["a", "b", "c", "d"])


def make_tables(n: int = 3000, seed: int = 7) -> dict[str, pa.Table]:
    """evaluation (label, score, champion score, group, features, id, ts) and reference."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(0, 1, n)
    x2 = rng.uniform(0, 1, n)
    group = GROUPS[rng.choice(4, n, p=[0.4, 0.3, 0.2, 0.1])]
    logit = 1.2 * x1 + 2.0 * (x2 - 0.5) + 0.3 * (group == "a")
    label = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    score = 1 / (1 + np.exp(-(logit + rng.normal(0, 0.8, n))))
    champion = 1 / (1 + np.exp(-(logit + rng.normal(0, 1.2, n))))
    x1_nulls = x1.copy()
    x1_nulls[rng.random(n) < 0.01] = np.nan
    start = np.datetime64("2026-02-27T00:00:00", "s")
    ts = start + rng.integers(0, 86400, n).astype("timedelta64[s]")
    evaluation = pa.table(
        {
            "id": np.arange(n, dtype=np.int64),
            "ts": pa.array(ts, pa.timestamp("s")),
            "x1": x1_nulls,
            "x2": np.round(x2 + 0.25, 6),  # drift planted: shifted by 0.25
            "cat": rng.choice(np.array(["u", "v", "w"]), n, p=[0.5, 0.3, 0.2]),
            "group": group,
            "label": label,
            "score": np.round(score, 8),
            "champion": np.round(champion, 8),
        }
    )
    ref = pa.table(
        {
            "x1": rng.normal(0, 1, n),
            "x2": np.round(rng.uniform(0, 1, n), 6),
            "cat": rng.choice(np.array(["u", "v", "w"]), n, p=[0.5, 0.3, 0.2]),
        }
    )
    return {"evaluation": evaluation, "reference": ref}


def write(table: pa.Table, path: Path, fmt: str) -> Path:
    if fmt == "parquet":
        target = path.with_suffix(".parquet")
        pq.write_table(table, target, row_group_size=700)
    elif fmt == "csv":
        target = path.with_suffix(".csv")
        pacsv.write_csv(table, target)
    else:
        target = path.with_suffix(".arrow")
        with paipc.new_file(str(target), table.schema) as w:
            w.write_table(table, max_chunksize=700)
    return target


EVAL_COLUMNS = {
    "label": "label",
    "score": "score",
    "champion_score": "champion",
    "sensitive_features": ["group"],
    "features": ["x1", "x2", "cat"],
}


class DataGates:
    def __init__(self, root: Path, fmt: str, tables: dict[str, pa.Table]) -> None:
        self.fmt = fmt
        self.tables = tables
        self.paths = {name: write(t, root / name, fmt) for name, t in tables.items()}
        self.columns: dict[str, dict[str, Any] | None] = {"evaluation": EVAL_COLUMNS}

    def version(self, extra: dict[str, EvidenceItem] | None = None) -> ModelVersion:
        items = {
            name: EvidenceItem(
                name=name,
                kind="dataset",
                uri=str(path),
                sha256=sha256_bytes(path.read_bytes()),
                columns=self.columns.get(name),
            )
            for name, path in self.paths.items()
        }
        items.update(extra or {})
        return ModelVersion.model_validate(
            {
                "model": {"name": "m", "risk_tier": "high"},
                "version": "2",
                "stage": "staging",
                "champion": {"version": "1"},
                "evidence": items,
            }
        )

    def run(self, gates: list[dict[str, Any]], **kw: Any) -> Decision:
        return run(gates, self.version(), FileEvidence(dict(self.paths), None), **kw)


def policy_text(gates: list[dict[str, Any]]) -> str:
    doc = {
        "apiVersion": "clearance/v1",
        "kind": "Policy",
        "metadata": {"name": "data", "version": "1.0.0", "owner": "o@example.com"},
        "workflow": {
            "stages": ["staging", "production"],
            "transitions": [
                {"from": "staging", "to": "production", "gates": [g["id"] for g in gates]}
            ],
        },
        "gates": gates,
    }
    return yaml.safe_dump(doc, sort_keys=False)


def run(gates: list[dict[str, Any]], version: ModelVersion, evidence: Any, **kw: Any) -> Decision:
    loaded = parse_policy([("policy.yaml", policy_text(gates))])
    transition = resolve_transition(loaded, "staging", "production")
    return evaluate(Evaluation(loaded, transition, version, evidence, NOW), **kw)


@pytest.fixture(scope="session")
def tables() -> dict[str, pa.Table]:
    return make_tables()


@pytest.fixture(params=FORMATS)
def env(request: pytest.FixtureRequest, tmp_path: Path, tables: dict[str, pa.Table]) -> DataGates:
    return DataGates(tmp_path, request.param, tables)


@pytest.fixture
def parquet_env(tmp_path: Path, tables: dict[str, pa.Table]) -> DataGates:
    return DataGates(tmp_path, "parquet", tables)


@pytest.fixture(scope="session")
def run_gates() -> Callable[..., Decision]:
    return run
