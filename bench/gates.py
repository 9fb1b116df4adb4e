"""Issue 4's workloads: clearance vs scipy + scikit-learn vs peers vs the hardware floor.

    .venv/bin/python bench/gates.py                       # N = 100k and 1M, peers if installed
    .venv/bin/python bench/gates.py -n 10000000 --no-peers
    .venv/bin/python bench/gates.py --record              # also append the output to RESULTS.md

See bench/README.md for the data, the workloads and how each figure is measured. Writes
nothing to the repository unless --record (data files go to a temporary directory).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import importlib.util
import os
import platform
import resource
import sys
import tempfile
import time
import tracemalloc
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from clearance import kernels as k
from clearance.adapters.evidence import FileEvidence
from clearance.core.engine import Evaluation, evaluate, resolve_transition
from clearance.core.loading import parse_policy
from clearance.core.version import EvidenceItem, ModelVersion
from clearance.manifest import file_sha256

N_NUM, N_CAT = 20, 5
CAT_K = [3, 5, 8, 12, 20]
GROUPS = np.array(["g0", "g1", "g2", "g3"])
SEED = 20260301
RESAMPLES = 200
NOW = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)

Result = dict[str, Any]


# ----------------------------------------------------------------------------- data


def make_tables(n: int) -> tuple[pa.Table, pa.Table]:
    """reference and current: 20 numeric + 5 categorical features (drift planted in 6 + 2),
    ~1% nulls; current also has label, score, champion score, a 4-group attribute, id, ts."""
    rng = np.random.default_rng(SEED)
    ref: dict[str, Any] = {}
    cur: dict[str, Any] = {}
    for j in range(N_NUM):
        drift = 0.05 * (j % 4 + 1) if j % 3 == 0 and j < 18 else 0.0  # 6 drifted
        kind = j % 4
        if kind == 0:
            a, b = rng.normal(size=n), rng.normal(drift, size=n)
        elif kind == 1:
            a, b = rng.lognormal(size=n), rng.lognormal(drift, size=n)
        elif kind == 2:
            a, b = rng.random(n), rng.random(n) * (1 + drift)
        else:
            a, b = np.round(rng.normal(size=n), 1), np.round(rng.normal(drift, size=n), 1)
        a[rng.random(n) < 0.01] = np.nan
        b[rng.random(n) < 0.01] = np.nan
        ref[f"x{j}"], cur[f"x{j}"] = a, b
    for j, kk in enumerate(CAT_K):
        p = rng.dirichlet(np.ones(kk))
        q = p if j < 3 else rng.dirichlet(np.ones(kk))  # 2 drifted
        labels = np.array([f"v{i}" for i in range(kk)])
        for table, probs in ((ref, p), (cur, q)):
            codes = rng.choice(kk, size=n, p=probs)
            mask = rng.random(n) < 0.01
            table[f"c{j}"] = pa.DictionaryArray.from_arrays(
                pa.array(codes.astype(np.int32), mask=mask), pa.array(labels)
            )
    group = rng.choice(4, size=n, p=[0.4, 0.3, 0.2, 0.1])
    y = (rng.random(n) < 0.3).astype(np.int8)
    score = np.clip(0.35 * y + 0.65 * rng.random(n) - 0.03 * group, 0, 1)
    champion = np.clip(0.30 * y + 0.70 * rng.random(n) - 0.03 * group, 0, 1)
    cur["group"] = pa.DictionaryArray.from_arrays(pa.array(group.astype(np.int32)), GROUPS)
    cur["label"] = y
    cur["score"] = score
    cur["champion"] = champion
    cur["id"] = rng.permutation(n).astype(np.int64)
    start = np.datetime64("2026-01-01T00:00:00", "s")
    cur["ts"] = pa.array(start + rng.integers(0, 86_400 * 30, n).astype("timedelta64[s]"))
    return pa.table(ref), pa.table(cur)


NUM = [f"x{j}" for j in range(N_NUM)]
CAT = [f"c{j}" for j in range(N_CAT)]


def arrays(ref_t: pa.Table, cur_t: pa.Table) -> tuple[dict[str, Any], dict[str, Any]]:
    """Columns as numpy: floats with NaN, categoricals as int codes (-1 null)."""

    def conv(t: pa.Table) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in t.column_names:
            col = t.column(name).combine_chunks()
            if pa.types.is_dictionary(col.type):
                out[name] = col.indices.fill_null(-1).to_numpy().astype(np.int64)
            else:
                out[name] = col.to_numpy(zero_copy_only=False)
        return out

    return conv(ref_t), conv(cur_t)


# ----------------------------------------------------------------------------- clearance


def clearance_w1(ref: dict[str, Any], cur: dict[str, Any]) -> Any:
    # the numeric columns together, as the drift gate computes them (one column per thread)
    out = [d.ks.pvalue for d in k.column_drifts([(ref[c], cur[c]) for c in NUM])]
    for c, kk in zip(CAT, CAT_K, strict=True):
        out.append(k.categorical_drift(ref[c], cur[c], n_categories=kk).chi_square.pvalue)
    return out


def clearance_w2(ref: dict[str, Any], cur: dict[str, Any]) -> Any:
    gm = k.group_metrics(cur["label"], cur["score"] >= 0.5, cur["group"], n_groups=4)
    return (
        k.demographic_parity_difference(gm).value,
        k.demographic_parity_ratio(gm).value,
        k.equalized_odds_difference(gm).value,
        k.equal_opportunity_difference(gm).value,
        k.min_group_size(gm).size,
    )


def clearance_w3(ref: dict[str, Any], cur: dict[str, Any]) -> Any:
    out: list[Any] = [k.row_count_bounds(cur["id"], 1000, None).ok]
    for c in NUM:
        out.append(k.null_fraction(cur[c]).fraction)
        out.append(k.range_violations(cur[c], -50.0, 1e6).count)
    for c, kk in zip(CAT, CAT_K, strict=True):
        codes = cur[c]
        out.append(float(np.count_nonzero(codes < 0)) / codes.shape[0])
        out.append(k.allowed_set_violations(codes, np.arange(kk), mask=codes < 0).count)
    out.append(k.schema_check(dict.fromkeys(NUM, "float64"), {c: cur[c] for c in NUM}).ok)
    out.append(k.uniqueness(cur["id"]).duplicate_rows)
    out.append(k.freshness(cur["ts"], NOW, dt.timedelta(days=40)).ok)
    return out


def clearance_w4(ref: dict[str, Any], cur: dict[str, Any]) -> Any:
    b = k.bootstrap_auc_accuracy_f1(
        cur["label"],
        cur["score"],
        0.5,
        champion_score=cur["champion"],
        n_resamples=RESAMPLES,
        confidence=0.95,
        seed=1,
    )
    d = k.delong_paired(cur["label"], cur["score"], cur["champion"])
    return b.auc, b.accuracy, b.f1, b.auc_diff, d.p_value


# ----------------------------------------------------------------------------- baselines


def _budget(per_item: Callable[[int], None], items: int, budget: float) -> tuple[float, bool]:
    """Run items until the budget is spent; extrapolate the rest from the mean (flagged)."""
    t0 = time.perf_counter()
    done = 0
    for i in range(items):
        per_item(i)
        done += 1
        if time.perf_counter() - t0 > budget and done < items:
            break
    spent = time.perf_counter() - t0
    return spent * items / done, done < items


def base_w1(ref: dict[str, Any], cur: dict[str, Any], budget: float) -> tuple[float, bool]:
    from scipy import stats

    def one(i: int) -> None:
        if i < N_NUM:
            c = NUM[i]
            a, b = ref[c][~np.isnan(ref[c])], cur[c][~np.isnan(cur[c])]
            stats.ks_2samp(a, b)
            edges = np.quantile(a, np.linspace(0, 1, 11)[1:-1])
            ra = np.bincount(np.searchsorted(edges, a), minlength=10) / a.size
            rb = np.bincount(np.searchsorted(edges, b), minlength=10) / b.size
            ra, rb = np.clip(ra, 1e-4, None), np.clip(rb, 1e-4, None)
            float(np.sum((rb - ra) * np.log(rb / ra)))
            stats.wasserstein_distance(a, b)
        else:
            c = CAT[i - N_NUM]
            a, b = ref[c][ref[c] >= 0], cur[c][cur[c] >= 0]
            _, ca = np.unique(a, return_counts=True)
            _, cb = np.unique(b, return_counts=True)
            stats.chi2_contingency(np.array([ca, cb]))

    return _budget(one, N_NUM + N_CAT, budget)


def base_w2(ref: dict[str, Any], cur: dict[str, Any], budget: float) -> tuple[float, bool]:
    from sklearn.metrics import confusion_matrix

    def one(_: int) -> None:
        y, p, g = cur["label"], (cur["score"] >= 0.5).astype(int), cur["group"]
        rates = {}
        for grp in np.unique(g):
            m = g == grp
            tn, fp, fn, tp = confusion_matrix(y[m], p[m], labels=[0, 1]).ravel()
            rates[grp] = ((tp + fp) / m.sum(), tp / (tp + fn), fp / (fp + tn))
        sr = [r[0] for r in rates.values()]
        max(sr) - min(sr), min(sr) / max(sr)

    return _budget(one, 1, budget)


def base_w3(ref: dict[str, Any], cur: dict[str, Any], budget: float) -> tuple[float, bool]:
    import pandas as pd

    def one(_: int) -> None:
        df = pd.DataFrame(cur)
        assert len(df) >= 1000
        df[NUM].isna().mean()
        for c in NUM:
            (~df[c].dropna().between(-50.0, 1e6)).sum()
        for c, kk in zip(CAT, CAT_K, strict=True):
            s = df[c]
            (~s[s >= 0].isin(range(kk))).sum()
        df["id"].duplicated().sum()
        pd.Timestamp(NOW.replace(tzinfo=None)) - df["ts"].max()

    return _budget(one, 1, budget)


def base_w4(ref: dict[str, Any], cur: dict[str, Any], budget: float) -> tuple[float, bool]:
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    y, s, c = cur["label"], cur["score"], cur["champion"]
    rng = np.random.default_rng(1)
    n = y.shape[0]

    def one(_: int) -> None:
        idx = rng.integers(0, n, n)
        yy, ss = y[idx], s[idx]
        roc_auc_score(yy, ss) - roc_auc_score(yy, c[idx])
        accuracy_score(yy, ss >= 0.5)
        f1_score(yy, ss >= 0.5)

    return _budget(one, RESAMPLES, budget)


# ----------------------------------------------------------------------------- peers
#
# Each peer gets the data the way its users hold it (a pandas DataFrame with NaN nulls and
# pandas categoricals), built before the clock starts, and does the same work as clearance's
# workload as far as the library can:
#   W1 Evidently 0.7: one DataDriftPreset per statistic clearance computes (KS, PSI and
#      Wasserstein per numeric column; chi-square and Jensen-Shannon per categorical), and its
#      default preset (Wasserstein + Jensen-Shannon at this N) for reference. Evidently's PSI
#      uses equal-width bins over both samples, not clearance's reference-quantile bins.
#   W2 fairlearn: one MetricFrame (selection rate, TPR, FPR, count by group) and the
#      convenience functions users call (demographic parity difference/ratio, equalized odds,
#      equal opportunity).
#   W3 Great Expectations 1.x: one suite validated once on a pandas batch (row count, nulls,
#      ranges, types, allowed sets, uniqueness of id, freshness of ts).
#   W4 fairlearn: MetricFrame's own bootstrap (n_boot, ci_quantiles) of AUC, accuracy, F1 and
#      the paired AUC difference to the champion (a sample param, so it is resampled with the
#      rows); one constant sensitive feature, the least work for it. It runs k resamples that
#      fit the budget and is extrapolated linearly in the number of resamples to 200.


Peer = tuple[str, str, Any, str]  # (workload, peer, seconds or a note, remark)


def _frame(t: dict[str, Any], extra: tuple[str, ...] = ()) -> Any:
    import pandas as pd

    d: dict[str, Any] = {c: t[c] for c in NUM}
    for c, kk in zip(CAT, CAT_K, strict=True):
        d[c] = pd.Categorical.from_codes(t[c], categories=[f"v{i}" for i in range(kk)])
    for c in extra:
        d[c] = t[c]
    return pd.DataFrame(d)


def peer_evidently(ref: dict[str, Any], cur: dict[str, Any]) -> list[Peer]:
    from evidently import DataDefinition, Dataset, Report  # type: ignore[import-not-found]
    from evidently.presets import DataDriftPreset  # type: ignore[import-not-found]

    dd = DataDefinition(numerical_columns=NUM, categorical_columns=CAT)
    rd = Dataset.from_pandas(_frame(ref), data_definition=dd)
    cd = Dataset.from_pandas(_frame(cur), data_definition=dd)

    def run(**kw: Any) -> float:
        t0 = time.perf_counter()
        Report([DataDriftPreset(columns=NUM + CAT, **kw)]).run(cd, rd)
        return time.perf_counter() - t0

    same = [
        run(num_method="ks", cat_method="chisquare"),
        run(num_method="psi", cat_method="jensenshannon"),
        run(num_method="wasserstein"),
    ]
    return [
        ("W1", "Evidently", sum(same), "KS+chi2, PSI+JS, Wasserstein presets: the same work"),
        ("W1", "Evidently default preset", run(), "Wasserstein + JS only: less work"),
    ]


def peer_fairlearn_w2(cur: dict[str, Any]) -> list[Peer]:
    from fairlearn.metrics import (  # type: ignore[import-untyped]
        MetricFrame,
        count,
        demographic_parity_difference,
        demographic_parity_ratio,
        equal_opportunity_difference,
        equalized_odds_difference,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )

    y, p, g = cur["label"], (cur["score"] >= 0.5).astype(int), cur["group"]
    t0 = time.perf_counter()
    mf = MetricFrame(
        metrics={"sr": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate,
                 "n": count},
        y_true=y,
        y_pred=p,
        sensitive_features=g,
    )  # fmt: skip
    mf.difference(), mf.ratio(), mf.by_group["n"].min()
    demographic_parity_difference(y, p, sensitive_features=g)
    demographic_parity_ratio(y, p, sensitive_features=g)
    equalized_odds_difference(y, p, sensitive_features=g)
    equal_opportunity_difference(y, p, sensitive_features=g)
    return [("W2", "fairlearn", time.perf_counter() - t0, "MetricFrame + 4 disparity functions")]


def peer_gx(cur: dict[str, Any]) -> list[Peer]:
    import great_expectations as gx  # type: ignore[import-not-found]

    df = _frame(cur, ("id", "ts"))
    t0 = time.perf_counter()
    ctx = gx.get_context(mode="ephemeral")
    batch = (
        ctx.data_sources.add_pandas("b")
        .add_dataframe_asset("cur")
        .add_batch_definition_whole_dataframe("all")
        .get_batch(batch_parameters={"dataframe": df})
    )
    e = gx.expectations
    suite = gx.ExpectationSuite(name="w3")
    suite.add_expectation(e.ExpectTableRowCountToBeBetween(min_value=1000))
    for c in NUM:
        suite.add_expectation(e.ExpectColumnValuesToNotBeNull(column=c, mostly=0.95))
        suite.add_expectation(e.ExpectColumnValuesToBeBetween(column=c, min_value=-50.0,
                                                              max_value=1e6))  # fmt: skip
        suite.add_expectation(e.ExpectColumnValuesToBeOfType(column=c, type_="float64"))
    for c, kk in zip(CAT, CAT_K, strict=True):
        suite.add_expectation(e.ExpectColumnValuesToNotBeNull(column=c, mostly=0.95))
        suite.add_expectation(
            e.ExpectColumnValuesToBeInSet(column=c, value_set=[f"v{i}" for i in range(kk)])
        )
    suite.add_expectation(e.ExpectColumnValuesToBeUnique(column="id"))
    oldest = (NOW - dt.timedelta(days=40)).replace(tzinfo=None)
    suite.add_expectation(e.ExpectColumnMaxToBeBetween(column="ts", min_value=oldest))
    result = batch.validate(ctx.suites.add(suite))
    seconds = time.perf_counter() - t0
    if not result.success:
        return [("W3", "Great Expectations", "failed: the suite did not pass", "")]
    return [("W3", "Great Expectations", seconds, "one suite of 73 expectations, validated once")]


def peer_fairlearn_w4(cur: dict[str, Any], budget: float) -> list[Peer]:
    from fairlearn.metrics import MetricFrame
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    def auc(y_true: Any, y_pred: Any) -> float:
        return float(roc_auc_score(y_true, y_pred))

    def acc(y_true: Any, y_pred: Any) -> float:
        return float(accuracy_score(y_true, y_pred >= 0.5))

    def f1(y_true: Any, y_pred: Any) -> float:
        return float(f1_score(y_true, y_pred >= 0.5))

    def auc_diff(y_true: Any, y_pred: Any, champion: Any) -> float:
        return float(roc_auc_score(y_true, y_pred) - roc_auc_score(y_true, champion))

    def frame(n_boot: int | None) -> float:
        boot: dict[str, Any] = {}
        if n_boot:
            boot = {"n_boot": n_boot, "ci_quantiles": [0.025, 0.975], "random_state": 1}
        t0 = time.perf_counter()
        MetricFrame(
            metrics={"auc": auc, "accuracy": acc, "f1": f1, "auc_diff": auc_diff},
            y_true=cur["label"],
            y_pred=cur["score"],
            sensitive_features=np.zeros(cur["label"].shape[0], np.int8),
            sample_params={"auc_diff": {"champion": cur["champion"]}},
            **boot,
        )
        return time.perf_counter() - t0

    base = frame(None)  # the point estimates alone: about the cost of one resample
    k = int(max(2, min(RESAMPLES, budget // max(base, 1e-9))))
    t_k = frame(k)
    per = max(t_k - base, 0.0) / k
    est = t_k + (RESAMPLES - k) * per
    remark = (
        f"MetricFrame n_boot={RESAMPLES}"
        if k == RESAMPLES
        else f"extrapolated: ran n_boot={k} in {t_k:.1f} s ({per:.2f} s per resample), "
        f"linear in resamples to {RESAMPLES}"
    )
    return [("W4", "fairlearn bootstrap", est, remark)]


def peers(ref: dict[str, Any], cur: dict[str, Any], budget: float) -> list[Peer]:
    """(workload, peer, seconds or a note, remark). Each peer optional; a failure is a note."""
    runs: list[tuple[str, str, Callable[[], list[Peer]]]] = [
        ("W1", "evidently", lambda: peer_evidently(ref, cur)),
        ("W2", "fairlearn", lambda: peer_fairlearn_w2(cur)),
        ("W3", "great_expectations", lambda: peer_gx(cur)),
        ("W4", "fairlearn", lambda: peer_fairlearn_w4(cur, budget)),
    ]
    out: list[Peer] = []
    if importlib.util.find_spec("pandas") is None:
        return [("all", "peers", "skipped: pandas not installed", "")]
    for w, module, fn in runs:
        if importlib.util.find_spec(module) is None:
            out.append((w, module, "skipped: not installed", ""))
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out += fn()
        except Exception as exc:  # a peer's failure is a note, not a crash
            out.append((w, module, f"failed: {type(exc).__name__}: {exc}", ""))
        gc.collect()
    return out


# ----------------------------------------------------------------------------- gates


def gates_policy() -> str:
    import yaml

    gates = [
        {
            "id": "w1_drift",
            "type": "drift",
            "reference": "reference",
            "current": "current",
            "features": NUM + CAT,
            "ks_pvalue_min": 0.01,
            "psi_max": 0.2,
            "chi2_pvalue_min": 0.01,
            "max_drifted_share": 1.0,
        },
        {
            "id": "w2_fairness",
            "type": "fairness",
            "dataset": "current",
            "metric": "demographic_parity_ratio",
            "sensitive_feature": "group",
            "min": 0.0,
        },
        {
            "id": "w3_quality",
            "type": "data_quality",
            "dataset": "current",
            "min_rows": 1000,
            "max_null_fraction": dict.fromkeys(NUM + CAT, 0.05),
            "ranges": {c: {"min": -50.0, "max": 1e6} for c in NUM},
            "allowed_values": {
                c: [f"v{i}" for i in range(kk)] for c, kk in zip(CAT, CAT_K, strict=True)
            },
            "unique": ["id"],
            "freshness": {"column": "ts", "max_age": "40d"},
        },
        {
            "id": "w4_auc",
            "type": "performance",
            "dataset": "current",
            "metric": "roc_auc",
            "min": 0.5,
            "confidence": 0.95,
        },
        {
            "id": "w4_acc",
            "type": "performance",
            "dataset": "current",
            "metric": "accuracy",
            "min": 0.0,
            "confidence": 0.95,
            "n_resamples": RESAMPLES,
        },
        {
            "id": "w4_vs",
            "type": "champion_comparison",
            "dataset": "current",
            "metric": "auc",
            "max_degradation": 0.5,
            "confidence": 0.95,
        },
    ]
    doc = {
        "apiVersion": "clearance/v1",
        "kind": "Policy",
        "metadata": {"name": "bench", "version": "1.0.0", "owner": "bench@example.com"},
        "workflow": {
            "stages": ["staging", "production"],
            "transitions": [
                {"from": "staging", "to": "production", "gates": [g["id"] for g in gates]}
            ],
        },
        "gates": gates,
    }
    return yaml.safe_dump(doc, sort_keys=False)


def run_gates(paths: dict[str, Path]) -> dict[str, float]:
    """W1-W4 as gates through the engine, reading the Parquet files (only needed columns)."""
    loaded = parse_policy([("bench.yaml", gates_policy())])
    transition = resolve_transition(loaded, "staging", "production")
    items = {
        name: EvidenceItem(
            name=name,
            kind="dataset",
            uri=str(p),
            sha256=file_sha256(p),
            columns={"label": "label", "score": "score", "champion_score": "champion"},
        )
        for name, p in paths.items()
    }
    version = ModelVersion.model_validate(
        {"model": {"name": "bench"}, "version": "1", "evidence": items}
    )
    times: dict[str, float] = {}
    last = [time.perf_counter(), ""]

    def tick(done: int, total: int, gid: str) -> None:
        now = time.perf_counter()
        if last[1]:
            times[str(last[1])] = now - float(last[0])
        last[0], last[1] = now, gid

    d = evaluate(
        Evaluation(loaded, transition, version, FileEvidence(dict(paths), None), NOW),
        progress=tick,
    )
    bad = [g.gate_id for g in d.gates if g.status.value == "error"]
    if bad:
        raise RuntimeError(f"gate errors: {[(g.gate_id, g.message) for g in d.gates]}")
    return times


def pandas_load(paths: dict[str, Path]) -> float:
    """Seconds for the baselines' users to load both files: ``pandas.read_parquet`` each."""
    import pandas as pd

    t0 = time.perf_counter()
    for path in paths.values():
        pd.read_parquet(path)
    return time.perf_counter() - t0


# ----------------------------------------------------------------------------- floor


def floor(paths: dict[str, Path], ref: dict[str, Any], cur: dict[str, Any]) -> dict[str, float]:
    t0 = time.perf_counter()
    pq.read_table(paths["reference"], columns=NUM + CAT)  # pyarrow reads on all CPUs
    pq.read_table(
        paths["current"], columns=[*NUM, *CAT, "label", "score", "champion", "group", "id", "ts"]
    )
    load = time.perf_counter() - t0
    t0 = time.perf_counter()
    for t in (ref, cur):
        for c in NUM:
            np.isnan(t[c]).sum()
        for c in CAT:
            (t[c] < 0).sum()
    one_pass = time.perf_counter() - t0
    t0 = time.perf_counter()
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:  # np.sort releases the GIL
        list(pool.map(np.sort, [t[c] for t in (ref, cur) for c in NUM]))
    sort = time.perf_counter() - t0
    k.sort_column(ref[NUM[0]][:5000])  # load the compiled sort first (not timed)
    t0 = time.perf_counter()
    for t in (ref, cur):
        for c in NUM:
            k.sort_column(t[c])  # clearance's parallel radix sort, on all CPUs
    radix = time.perf_counter() - t0
    return {"load": load, "pass": one_pass, "sort": sort, "radix": radix}


# ----------------------------------------------------------------------------- driver


def load() -> str:
    """The load averages over 1, 5 and 15 minutes (as `uptime` prints them) and the CPUs."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPUs"


def timed(fn: Callable[[], Any]) -> tuple[float, float]:
    """(seconds, peak MiB): timed bare, then once more under tracemalloc for the peak."""
    gc.collect()
    t0 = time.perf_counter()
    fn()
    seconds = time.perf_counter() - t0
    gc.collect()
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return seconds, peak


def fmt_s(x: float, extrapolated: bool = False) -> str:
    s = f"{x:.3f} s" if x < 10 else f"{x:.1f} s"
    return s + (" (extrapolated)" if extrapolated else "")


def run_n(n: int, budget: float, with_peers: bool, lines: list[str]) -> None:
    say = lines.append
    say(f"\n## N = {n:,}")
    say(f"machine load at the start: {load()}")
    t0 = time.perf_counter()
    ref_t, cur_t = make_tables(n)
    say(f"data generated in {time.perf_counter() - t0:.1f} s")
    with tempfile.TemporaryDirectory(prefix="clearance-bench-") as tmp:
        paths = {
            "reference": Path(tmp) / "reference.parquet",
            "current": Path(tmp) / "current.parquet",
        }
        pq.write_table(ref_t, paths["reference"])
        pq.write_table(cur_t, paths["current"])
        small_paths = {name: Path(tmp) / f"small-{p.name}" for name, p in paths.items()}
        pq.write_table(ref_t.slice(0, 5000), small_paths["reference"])
        pq.write_table(cur_t.slice(0, 5000), small_paths["current"])
        ref, cur = arrays(ref_t, cur_t)
        del ref_t, cur_t
        needed = {
            "W1": sum(v.nbytes for c, v in ref.items()) + sum(cur[c].nbytes for c in NUM + CAT),
            "W2": sum(cur[c].nbytes for c in ("label", "score", "group")),
            "W3": sum(cur[c].nbytes for c in [*NUM, *CAT, "id", "ts"]),
            "W4": sum(cur[c].nbytes for c in ("label", "score", "champion")),
        }
        fl = floor(paths, ref, cur)
        say(
            f"hardware floor: Parquet load of both tables {fmt_s(fl['load'])}; one pass over "
            f"the columns {fmt_s(fl['pass'])}; np.sort of the {2 * N_NUM} numeric columns on "
            f"{os.cpu_count()} threads {fmt_s(fl['sort'])} (with clearance's radix sort: "
            f"{fmt_s(fl['radix'])})"
        )
        work = {"W1": clearance_w1, "W2": clearance_w2, "W3": clearance_w3, "W4": clearance_w4}
        base = {"W1": base_w1, "W2": base_w2, "W3": base_w3, "W4": base_w4}
        ours: dict[str, float] = {}
        total_base = 0.0
        small_ref = {c: v[:5000] for c, v in ref.items()}
        small_cur = {c: v[:5000] for c, v in cur.items()}
        t0 = time.perf_counter()
        for fn in work.values():  # warm-up: JIT compilation and first-call costs, not timed
            fn(small_ref, small_cur)
        run_gates(small_paths)  # the gates' own first calls (columns read from files are
        # read-only arrays: numba loads those kernels' variants from its cache on first use)
        say(
            f"warm-up (first calls, any JIT compilation) on 5,000 rows, kernels and gates: "
            f"{fmt_s(time.perf_counter() - t0)}, not counted"
        )
        say("")
        say(
            "| workload | clearance kernels | peak memory (needed columns) | scipy + sklearn "
            "as usually written | ratio |"
        )
        say("| --- | --- | --- | --- | --- |")
        for w, fn in work.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                s, peak = timed(lambda fn=fn: fn(ref, cur))  # type: ignore[misc]
                b, extrap = base[w](ref, cur, budget)
            ours[w] = s
            total_base += b
            say(
                f"| {w} | {fmt_s(s)} | {peak:.0f} MiB ({needed[w] / 2**20:.0f} MiB) | "
                f"{fmt_s(b, extrap)} | {b / s:.0f}x |"
            )
        total = sum(ours.values())
        say(f"| W1-W4 | {fmt_s(total)} | | {fmt_s(total_base)} | {total_base / total:.0f}x |")
        w13 = ours["W1"] + ours["W2"] + ours["W3"]
        fl_c = fl["pass"] + fl["sort"]
        fl_r = fl["pass"] + fl["radix"]
        say("")
        say(
            f"W1-W3 compute {fmt_s(w13)} vs floor (one pass + np.sorts) {fmt_s(fl_c)}: "
            f"{w13 / fl_c:.2f}x the floor; with the load, {w13 + fl['load']:.3f} s vs "
            f"{fl_c + fl['load']:.3f} s: {(w13 + fl['load']) / (fl_c + fl['load']):.2f}x; "
            f"vs the stricter floor with clearance's radix sort ({fmt_s(fl_r)}): {w13 / fl_r:.2f}x"
        )
        say(
            f"W4 (AUC + accuracy + F1, {RESAMPLES} Poisson resamples, paired AUC difference, "
            f"DeLong): {fmt_s(ours['W4'])}"
        )
        say(f"machine load after clearance and the baselines: {load()}")
        t0 = time.perf_counter()
        per_gate = run_gates(paths)
        e2e = time.perf_counter() - t0
        users_load = pandas_load(paths)
        say(
            f"as gates through the engine, reading the Parquet files: {fmt_s(e2e)} in all ("
            + ", ".join(f"{g} {fmt_s(v)}" for g, v in per_gate.items())
            + ")"
        )
        say(
            f"end to end from Parquet: W1-W4 as gates {fmt_s(e2e)} vs pandas.read_parquet of "
            f"both files ({fmt_s(users_load)}) + scipy + sklearn ({fmt_s(total_base)}): "
            f"{(users_load + total_base) / e2e:.0f}x"
        )
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        say(f"process peak RSS so far (data, baselines and all): {rss:.0f} MiB")
        if with_peers:
            say("")
            say(f"machine load before the peers: {load()}")
            results = peers(ref, cur, budget)
            same: dict[str, float] = {}
            for w, peer, result, remark in results:
                note = f" ({remark})" if remark else ""
                if isinstance(result, float):
                    ratio = result / ours[w]
                    say(f"peer {peer} ({w}): {fmt_s(result)}: {ratio:.0f}x clearance{note}")
                    if "less work" not in remark:
                        same.setdefault(w, result)
                else:
                    say(f"peer {peer} ({w}): {result}{note}")
            if len(same) == 4:
                peer_total = sum(same.values())
                say(
                    f"peers doing W1-W4 (Evidently + fairlearn + Great Expectations + fairlearn's "
                    f"bootstrap): {fmt_s(peer_total)} vs clearance {fmt_s(total)}: "
                    f"{peer_total / total:.0f}x"
                )
            say(f"machine load after the peers: {load()}")
        else:
            say("peers: not run (--no-peers)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument(
        "--budget", type=float, default=30.0, help="seconds per slow baseline before extrapolating"
    )
    ap.add_argument("--no-peers", action="store_true", help="skip Evidently/fairlearn/GX")
    ap.add_argument("--record", action="store_true", help="append the output to RESULTS.md")
    args = ap.parse_args(argv)
    cmd = "python bench/gates.py " + " ".join(sys.argv[1:] if argv is None else argv)
    lines = [
        f"# {cmd.strip()}",
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC · {platform.machine()} · "
        f"Python {platform.python_version()} · numpy {np.__version__} · "
        f"pyarrow {pa.__version__}",
    ]
    print("\n".join(lines), flush=True)
    for n in args.n:
        part: list[str] = []
        run_n(n, args.budget, not args.no_peers, part)
        print("\n".join(part), flush=True)
        lines += part
    if args.record:
        with (Path(__file__).parent / "RESULTS.md").open("a", encoding="utf-8") as f:
            f.write("\n```text\n" + "\n".join(lines) + "\n```\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
