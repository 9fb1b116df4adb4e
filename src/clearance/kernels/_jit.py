"""Compiled (numba) inner loops of the kernels, with typed wrappers.

Every function here has a pure-numpy reference implementation in the module that uses it
(``uncertainty`` or ``drift``); the tests check that both give identical results. The loops are
compiled with ``cache=True`` (the JIT cost, ~1-3 s, is paid once per machine and then loaded
from numba's on-disk cache) and ``nogil=True`` (the callers run blocks on several threads).

numba has no type stubs: the decorated functions are plain, annotated Python functions wrapped
with ``numba.njit(...)`` (not decorator syntax), and the callers go through the typed wrappers
at the end of this module so that typed code stays typed.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from numpy.typing import NDArray

_jit: Any = numba.njit(cache=True, nogil=True)

# SplitMix64 constants (Steele, Lea & Flood 2014), as uint64 so numba keeps uint64 arithmetic
_C1 = np.uint64(0xBF58476D1CE4E5B9)
_C2 = np.uint64(0x94D049BB133111EB)
_S16 = np.uint64(16)
_S27 = np.uint64(27)
_S30 = np.uint64(30)
_S31 = np.uint64(31)
_M16 = np.uint64(0xFFFF)


# --------------------------------------------------------------------------- bootstrap


def _fill_weights_py(
    row: np.uint64, row_mult: np.uint64, lane: NDArray[np.uint64], table: NDArray[np.uint8],
    w: NDArray[np.int64],
) -> None:  # fmt: skip
    """Poisson(1) weights of one row for all 4*len(lane) resamples (see uncertainty.py)."""
    base = row * row_mult
    for j in range(lane.shape[0]):
        z = base + lane[j]
        z = (z ^ (z >> _S30)) * _C1
        z = (z ^ (z >> _S27)) * _C2
        z = z ^ (z >> _S31)
        k = 4 * j
        w[k] = table[z & _M16]
        w[k + 1] = table[(z >> _S16) & _M16]
        w[k + 2] = table[(z >> np.uint64(32)) & _M16]
        w[k + 3] = table[z >> np.uint64(48)]


def _auc_blocks_py(
    order: NDArray[np.integer[Any]], pos: NDArray[np.uint8], tie: NDArray[np.uint8],
    starts: NDArray[np.int64], stops: NDArray[np.int64], first: int, step: int,
    row_mult: np.uint64, lane: NDArray[np.uint64], table: NDArray[np.uint8],
    out_p: NDArray[np.int64], out_n: NDArray[np.int64], out_x: NDArray[np.int64],
    out_t: NDArray[np.int64],
) -> None:  # fmt: skip
    """Per-block, per-resample integer totals over rows in sorted order.

    For blocks ``first, first + step, ...``: P (positive weight), N (negative weight),
    X = Σ_{pos i} w_i·(negative weight before i in the block) and T = Σ over mixed tie groups
    of P_g·N_g. ``tie[i]`` is 0 outside mixed tie groups, 1 at a group's first row, 2 inside
    (groups never straddle blocks; negatives come first inside a group).
    """
    r4 = 4 * lane.shape[0]
    w = np.empty(r4, np.int64)
    p = np.empty(r4, np.int64)
    n = np.empty(r4, np.int64)
    x = np.empty(r4, np.int64)
    t = np.empty(r4, np.int64)
    n_start = np.empty(r4, np.int64)
    for b in range(first, starts.shape[0], step):
        p[:] = 0
        n[:] = 0
        x[:] = 0
        t[:] = 0
        for i in range(starts[b], stops[b]):
            _fill_weights(np.uint64(order[i]), row_mult, lane, table, w)
            flag = tie[i]
            if flag == 1:
                n_start[:] = n
            if pos[i]:
                if flag:
                    for k in range(r4):
                        wk = w[k]
                        p[k] += wk
                        x[k] += wk * n[k]
                        t[k] += wk * (n[k] - n_start[k])
                else:
                    for k in range(r4):
                        wk = w[k]
                        p[k] += wk
                        x[k] += wk * n[k]
            else:
                for k in range(r4):
                    n[k] += w[k]
        out_p[b] = p
        out_n[b] = n
        out_x[b] = x
        out_t[b] = t


def _tie_order_py(
    order: NDArray[np.integer[Any]], ss: NDArray[np.float64], y: NDArray[np.bool_],
    pos: NDArray[np.uint8], tie: NDArray[np.uint8],
) -> tuple[int, int]:  # fmt: skip
    """In place: put negatives before positives (stably) inside each tie group of the sorted
    scores ``ss``; fill ``pos`` (labels in that order) and ``tie`` (see _auc_blocks_py).

    Returns (pairs, tie_pairs) with unit weights: pairs = Σ_{pos i} #negatives before i,
    tie_pairs = Σ_g P_g·N_g (the point AUC is (pairs - tie_pairs/2) / (n_pos·n_neg)).
    """
    n = order.shape[0]
    buf = np.empty(0, np.int32)
    pairs = 0
    tie_pairs = 0
    negs = 0
    i = 0
    while i < n:
        e = i + 1
        while e < n and ss[e] == ss[i]:
            e += 1
        if e - i == 1:
            pi = y[order[i]]
            pos[i] = pi
            tie[i] = 0
            if pi:
                pairs += negs
            else:
                negs += 1
        else:
            if buf.shape[0] < e - i:
                buf = np.empty(2 * (e - i), np.int32)
            g_neg = 0
            for k in range(i, e):
                if not y[order[k]]:
                    g_neg += 1
            g_pos = (e - i) - g_neg
            a, c = 0, g_neg
            for k in range(i, e):
                r = order[k]
                if y[r]:
                    buf[c] = r
                    c += 1
                else:
                    buf[a] = r
                    a += 1
            mixed = g_neg > 0 and g_pos > 0
            for k in range(e - i):
                order[i + k] = buf[k]
                is_pos = k >= g_neg
                pos[i + k] = is_pos
                tie[i + k] = (1 if k == 0 else 2) if mixed else 0
            pairs += g_pos * (negs + g_neg)
            tie_pairs += g_pos * g_neg
            negs += g_neg
        i = e
    return pairs, tie_pairs


# --------------------------------------------------------------------------- drift


_KS_STRIDE = 64  # coarse-grid stride of the reference KS search (a power of two)


def _ks_wasserstein_py(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """One merge walk over two sorted, NaN-free, non-empty samples.

    With g(x) = F1(x) - F2(x) evaluated at every distinct value x (as i/n1 - j/n2), returns
    ``[kp, lkp, ap, lap, bp, lbp, km, lkm, am, lam, bm, lbm, w]``: the largest g (``*p``) and
    the smallest g (``*m``) with the first (smallest) x attaining it, over the "knots" (values
    of a[::64], a[-1], b[::64], b[-1]), over the values of ``a`` and over the values of ``b``;
    and ``w`` = Σ |i·n2 - j·n1|·(x_next - x) (summed in blocks of 1024 terms), i.e. n1·n2
    times the Wasserstein-1 distance. Branch-light: one element per step, g only evaluated
    where the next value differs.
    """
    n1 = a.shape[0]
    n2 = b.shape[0]
    inf = np.inf
    mask = _KS_STRIDE - 1
    kp, ap, bp = -inf, -inf, -inf
    km, am, bm = inf, inf, inf
    lkp, lap, lbp, lkm, lam, lbm = 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
    w_total = 0.0
    w_block = 0.0
    n_block = 0
    i = 0
    j = 0
    i0 = 0
    j0 = 0
    va = a[0]
    vb = b[0]
    x = min(va, vb)
    while i < n1 or j < n2:
        take_a = va <= vb
        if take_a:
            i += 1
            va = a[i] if i < n1 else inf
        else:
            j += 1
            vb = b[j] if j < n2 else inf
        nxt = min(va, vb)
        if nxt != x:
            g = i / n1 - j / n2
            in_a = i > i0
            in_b = j > j0
            knot = (in_a and (((i0 + mask) & ~mask) < i or i == n1)) or (
                in_b and (((j0 + mask) & ~mask) < j or j == n2)
            )
            if knot:
                if g > kp:
                    kp, lkp = g, x
                if g < km:
                    km, lkm = g, x
            if in_a:
                if g > ap:
                    ap, lap = g, x
                if g < am:
                    am, lam = g, x
            if in_b:
                if g > bp:
                    bp, lbp = g, x
                if g < bm:
                    bm, lbm = g, x
            if nxt != inf:
                w_block += float(abs(i * n2 - j * n1)) * (nxt - x)
                n_block += 1
                if n_block == 1024:
                    w_total += w_block
                    w_block = 0.0
                    n_block = 0
            i0 = i
            j0 = j
            x = nxt
    out = np.empty(13)
    out[0], out[1], out[2], out[3], out[4], out[5] = kp, lkp, ap, lap, bp, lbp
    out[6], out[7], out[8], out[9], out[10], out[11] = km, lkm, am, lam, bm, lbm
    out[12] = w_total + w_block
    return out


_fill_weights: Any = _jit(_fill_weights_py)
_auc_blocks: Any = _jit(_auc_blocks_py)
_tie_order: Any = _jit(_tie_order_py)
_ks_wasserstein: Any = _jit(_ks_wasserstein_py)


# --------------------------------------------------------------------------- typed wrappers


def auc_blocks(
    order: NDArray[np.integer[Any]], pos: NDArray[np.uint8], tie: NDArray[np.uint8],
    starts: NDArray[np.int64], stops: NDArray[np.int64], first: int, step: int,
    row_mult: np.uint64, lane: NDArray[np.uint64], table: NDArray[np.uint8],
    out: tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]],
) -> None:  # fmt: skip
    """Typed entry to the compiled :func:`_auc_blocks_py` (releases the GIL)."""
    _auc_blocks(order, pos, tie, starts, stops, first, step, row_mult, lane, table, *out)


def tie_order(
    order: NDArray[np.integer[Any]], ss: NDArray[np.float64], y: NDArray[np.bool_],
    pos: NDArray[np.uint8], tie: NDArray[np.uint8],
) -> tuple[int, int]:  # fmt: skip
    """Typed entry to the compiled :func:`_tie_order_py`."""
    pairs, tie_pairs = _tie_order(order, ss, y, pos, tie)
    return int(pairs), int(tie_pairs)


def ks_wasserstein(a: NDArray[np.float64], b: NDArray[np.float64]) -> list[float]:
    """Typed entry to the compiled :func:`_ks_wasserstein_py`."""
    out: NDArray[np.float64] = _ks_wasserstein(a, b)
    return [float(v) for v in out]
