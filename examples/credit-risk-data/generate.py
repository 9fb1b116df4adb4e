"""Write the example's small Parquet files (fixed seed: the same bytes on every run).

    .venv/bin/python examples/credit-risk-data/generate.py

evaluation.parquet  4,000 held-out applications: features, label `defaulted`, the candidate's
                    `score` (probability of default), `age_band` (sensitive), id, timestamp
champion.parquet    the production model's `score` on the same 4,000 rows, same order
reference.parquet   4,000 training-time applications (features only)

Drift is planted on purpose: `utilization` and `region` moved between training and now, so
the production transition's drift gate blocks while the staging transition passes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent / "v3-blocked"
N = 4000
BANDS = np.array(["18-25", "26-40", "41-60", "60+"])
REGIONS = np.array(["north", "south", "east", "west"])


def features(rng: np.random.Generator, n: int, shifted: bool) -> dict[str, np.ndarray]:
    income = np.round(rng.lognormal(10.6, 0.5, n), 0)
    income[rng.random(n) < 0.01] = np.nan  # ~1% missing, as in real application data
    util = np.clip(rng.beta(2.0, 5.0, n) + (0.12 if shifted else 0.0), 0, 1)
    region_p = [0.25, 0.25, 0.25, 0.25] if not shifted else [0.10, 0.30, 0.30, 0.30]
    return {
        "income": income,
        "debt_to_income": np.round(rng.beta(2.0, 6.0, n), 4),
        "credit_history_months": rng.integers(6, 360, n).astype(np.int64),
        "utilization": np.round(util, 4),
        "num_open_accounts": rng.poisson(4.0, n).astype(np.int64),
        "age_band": BANDS[rng.choice(4, n, p=[0.2, 0.35, 0.3, 0.15])],
        "region": REGIONS[rng.choice(4, n, p=region_p)],
    }


def main(out: Path = HERE) -> None:
    rng = np.random.default_rng(20260301)
    out.mkdir(parents=True, exist_ok=True)
    ref = features(rng, N, shifted=False)
    cur = features(rng, N, shifted=True)
    inc = np.nan_to_num(np.log(cur["income"]), nan=10.6)
    logit = (
        -2.6
        + 7.0 * cur["debt_to_income"]
        + 4.5 * cur["utilization"]
        - 2.0 * (inc - 10.6)
        - 0.008 * cur["credit_history_months"]
        + 0.2 * (cur["num_open_accounts"] - 4)
    )
    p = 1 / (1 + np.exp(-logit))
    label = (rng.random(N) < p).astype(np.int64)
    noise = rng.normal(0, 0.45, N)
    score = 1 / (1 + np.exp(-(logit + noise)))
    champ = 1 / (1 + np.exp(-(logit + rng.normal(0, 0.60, N))))
    ids = np.arange(100_000, 100_000 + N, dtype=np.int64)
    start = np.datetime64("2026-02-01T00:00:00", "s")
    ts = start + np.sort(rng.integers(0, 27 * 86400, N)).astype("timedelta64[s]")
    opts = {"compression": "zstd", "row_group_size": 2000}
    pq.write_table(pa.table(ref), out / "reference.parquet", **opts)
    evaluation = {
        "application_id": ids,
        "applied_at": pa.array(ts.astype("datetime64[s]"), pa.timestamp("s", tz="UTC")),
        **cur,
        "defaulted": label,
        "score": np.round(score, 6),
    }
    pq.write_table(pa.table(evaluation), out / "evaluation.parquet", **opts)
    pq.write_table(pa.table({"score": np.round(champ, 6)}), out / "champion.parquet", **opts)
    for name in ("reference", "evaluation", "champion"):
        size = (out / f"{name}.parquet").stat().st_size
        print(f"{name}.parquet: {size:,} bytes")


if __name__ == "__main__":
    main()
