"""W4 timing: AUC + accuracy + F1 with a 200-resample bootstrap and the paired AUC difference.

    .venv/bin/python bench/kernels_w4.py [N] [--no-baseline]   # default N = 1_000_000

Compares clearance.kernels.bootstrap_auc_accuracy_f1 (with champion) against the usual
scikit-learn loop (resample rows with replacement, call roc_auc_score / accuracy_score /
f1_score for both models). The baseline runs only a few resamples and is extrapolated to 200.
Also times DeLong's paired test (part of W4 in bench/gates.py) and prints the machine load.
Not a test: numbers depend on the machine and its load.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

from clearance.kernels import bootstrap_auc_accuracy_f1, delong_paired

BASELINE_RESAMPLES = 5
R = 200


def make_data(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20240611)
    y = rng.random(n) < 0.3
    latent = rng.normal(size=n)
    score = 1 / (1 + np.exp(-(1.2 * y + 0.8 * latent + 0.6 * rng.normal(size=n) - 0.8)))
    champion = 1 / (1 + np.exp(-(1.1 * y + 0.8 * latent + 0.7 * rng.normal(size=n) - 0.8)))
    return y, score, champion


def baseline(y: np.ndarray, score: np.ndarray, champion: np.ndarray, k: int) -> float:
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    rng = np.random.default_rng(0)
    n = y.shape[0]
    t0 = time.perf_counter()
    for _ in range(k):
        idx = rng.integers(0, n, n)
        yy, ss, cc = y[idx], score[idx], champion[idx]
        pred = ss >= 0.5
        roc_auc_score(yy, ss)
        roc_auc_score(yy, cc)
        accuracy_score(yy, pred)
        f1_score(yy, pred)
    return time.perf_counter() - t0


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0].replace("_", "")) if args else 1_000_000
    # first call on a tiny input: JIT compilation (or loading numba's on-disk cache)
    yw, sw, cw = make_data(1000)
    t0 = time.perf_counter()
    bootstrap_auc_accuracy_f1(yw, sw, 0.5, champion_score=cw, n_resamples=R, seed=1)
    t_first = time.perf_counter() - t0
    y, score, champion = make_data(n)
    print("load average (1, 5, 15 min): {:.2f}, {:.2f}, {:.2f}".format(*os.getloadavg()))
    t0, c0 = time.perf_counter(), time.process_time()
    res = bootstrap_auc_accuracy_f1(y, score, 0.5, champion_score=champion, n_resamples=R, seed=1)
    t_cl, c_cl = time.perf_counter() - t0, time.process_time() - c0
    print(f"N = {n:,}")
    print(f"first call on 1,000 rows (JIT compile or cache load): {t_first:.2f} s")
    print(f"AUC {res.auc}\nacc {res.accuracy}\nF1 {res.f1}\ndiff {res.auc_diff}")
    print(f"clearance W4 ({R} resamples, paired champion): {t_cl:.2f} s (CPU {c_cl:.2f} s)")
    t0, c0 = time.perf_counter(), time.process_time()
    dl = delong_paired(y, score, champion)
    t_dl, c_dl = time.perf_counter() - t0, time.process_time() - c0
    print(f"DeLong paired (diff {dl.diff:.6f}, z {dl.z:.2f}): {t_dl:.2f} s (CPU {c_dl:.2f} s)")
    print("load average (1, 5, 15 min): {:.2f}, {:.2f}, {:.2f}".format(*os.getloadavg()))
    if n <= 2_000_000 and "--no-baseline" not in sys.argv:
        tb = baseline(y, score, champion, BASELINE_RESAMPLES)
        est = tb / BASELINE_RESAMPLES * R
        print(
            f"sklearn loop: {tb:.2f} s for {BASELINE_RESAMPLES} resamples, "
            f"extrapolated to {R}: {est:.1f} s  -> speed-up {est / t_cl:.0f}x"
        )


if __name__ == "__main__":
    main()
