"""The compiled kernels are cached on disk, and a cold cache is announced once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from clearance.kernels import compilation
from clearance.kernels._numba import cache_dir

NOTICE = "compiling statistics kernels, once"
SCRIPT = """
from clearance.adapters.numba_cache import announce_compilation
announce_compilation()
import numpy as np
from clearance.kernels import column_drift, sort_column
x = np.random.default_rng(0).normal(size=3000)
print(column_drift(sort_column(x), sort_column(x + 0.1)).ks.pvalue)
"""


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True
    )


def test_a_cold_cache_is_announced_once_and_then_reused(tmp_path: Path) -> None:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    first = _run(env)
    assert first.stderr.count(NOTICE) == 1, first.stderr
    assert any((tmp_path / "numba").rglob("*.nbi")), "nothing was cached"
    second = _run(env)
    assert NOTICE not in second.stderr, second.stderr
    assert first.stdout == second.stdout


def test_a_read_only_package_caches_under_the_user_cache_dir(tmp_path: Path) -> None:
    missing = tmp_path / "site-packages" / "clearance" / "kernels"  # not writable: absent
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    assert cache_dir(env, missing) == tmp_path / "cache" / "clearance" / "numba"
    assert cache_dir({**env, "NUMBA_CACHE_DIR": "/elsewhere"}, missing) is None
    assert cache_dir(env, tmp_path) is None  # writable: numba's __pycache__ beside the code


def test_the_hook_runs_each_callback_once() -> None:
    heard: list[int] = []
    saved = (list(compilation._callbacks), compilation._fired)
    try:
        compilation._callbacks.clear()
        compilation._fired = False
        compilation.on_first_compile(heard.append)
        compilation.on_first_compile(heard.append)
        compilation.compiling()
        compilation.compiling()
        assert heard == [compilation.COLD_COMPILE_SECONDS]
    finally:
        compilation._callbacks[:] = saved[0]
        compilation._fired = saved[1]
