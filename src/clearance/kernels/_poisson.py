"""Poisson(1) bootstrap weights keyed by (seed, row, resample), and the compiled AUC loop.

The weights, defined once here and computed identically by :func:`weights` (numpy) and by the
compiled loop :func:`auc_lanes` (numba):

* ``H`` is *lowbias32* (Wellons 2018): ``x ^= x >> 16; x *= 0x7feb352d; x ^= x >> 15;
  x *= 0x846ca68b; x ^= x >> 16`` modulo 2³², a bijection of 32-bit integers with H(0) = 0;
* a seed gives a stream of 32-bit words (the two halves of each SplitMix64 output, Steele, Lea &
  Flood 2014): the first is the ``salt``, the next distinct ones are the resamples' ``keys``
  k_0 .. k_{R-1} (a repeated word is skipped, so no two resamples share a key);
* row r (its original row number, lo and hi its 32-bit halves) hashes to
  ``h(r) = H(lo ^ salt ^ H(hi))`` (a bijection of the rows below 2³²), and its uniform in
  resample j is ``u = H(h(r) ^ k_j)``;
* its weight is ``w = #{k = 1..12 : u ≥ E_k}`` with ``E_k = 2³² - round(2³²·P(Poisson(1) ≥ k))``
  (inverse-CDF lookup by comparison). So P(w ≥ k) is P(Poisson(1) ≥ k) rounded to a multiple
  of 2⁻³² (within 1.2e-10 of it; P(Poisson(1) ≥ 13) < 2⁻³³ rounds to 0), P(w = k) is within
  2.3e-10 of the Poisson(1) probability, and mean and variance are 1 to within 2e-9.

A weight depends on (seed, row, resample) only: it can be generated in any row order (directly
in each model's sorted order, so there is no n x R matrix, no per-resample sort and no gather)
and the results do not depend on block sizes or on the number of threads.

The compiled loop spends per row and resample one 32-bit hash and six comparisons (the other
six only when some resample of the row draws w ≥ 7, about 1.7% of rows at R = 200), all in
SIMD lanes over the resamples; the accumulators are int32 inside blocks of 4,096 rows (exact:
a block's X ≤ (6·4096)² < 2³¹) and int64 across blocks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from clearance.kernels._numba import njit

U8 = NDArray[np.uint8]
U32 = NDArray[np.uint32]
I64 = NDArray[np.int64]

#: E_k, k = 1..12: u ≥ E_k iff the weight is at least k (see the module docstring)
EDGES = (
    1580030169, 3160060337, 3950075422, 4213413783, 4279248374, 4292415292,
    4294609778, 4294923276, 4294962463, 4294966817, 4294967253, 4294967292,
)  # fmt: skip

_GAMMA = 0x9E3779B97F4A7C15
_C1 = 0xBF58476D1CE4E5B9
_C2 = 0x94D049BB133111EB
_MASK = (1 << 64) - 1
_H1 = 0x7FEB352D
_H2 = 0x846CA68B


def _mix64(z: int) -> int:
    z = ((z ^ (z >> 30)) * _C1) & _MASK
    z = ((z ^ (z >> 27)) * _C2) & _MASK
    return z ^ (z >> 31)


def stream(seed: int, n_resamples: int) -> tuple[int, U32]:
    """(salt, keys): the 32-bit salt and the ``n_resamples`` distinct resample keys of ``seed``."""
    state = _mix64((seed * _GAMMA) & _MASK)
    words: list[int] = []
    seen: set[int] = set()
    salt = -1
    t = 0
    while len(words) < n_resamples:
        t += 1
        z = _mix64((state + t * _GAMMA) & _MASK)
        for word in (z & 0xFFFFFFFF, z >> 32):
            if salt < 0:
                salt = word
            elif word not in seen and len(words) < n_resamples:
                seen.add(word)
                words.append(word)
    return salt, np.array(words, dtype=np.uint32)


def _h32_np(x: U32) -> U32:
    x = x ^ (x >> np.uint32(16))
    x = x * np.uint32(_H1)
    x = x ^ (x >> np.uint32(15))
    x = x * np.uint32(_H2)
    out: U32 = x ^ (x >> np.uint32(16))
    return out


def weights(rows: ArrayLike, keys: U32, salt: int) -> U8:
    """The weights of ``rows`` (original row numbers) in the resamples of ``keys``: (len, R)."""
    r = np.asarray(rows, dtype=np.uint64).ravel()
    lo = (r & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    hi = (r >> np.uint64(32)).astype(np.uint32)
    h = _h32_np(lo ^ np.uint32(salt) ^ _h32_np(hi))
    u = _h32_np(h[:, None] ^ keys[None, :])
    out = np.zeros(u.shape, np.uint8)
    flag = np.empty(u.shape, np.bool_)
    for edge in EDGES:
        np.greater_equal(u, np.uint32(edge), out=flag)
        out += flag
    return out


# --------------------------------------------------------------------------- compiled loop

_jit: Any = njit(nogil=True, error_model="numpy")

_S15 = np.uint32(15)
_S16 = np.uint32(16)
_M1 = np.uint32(_H1)
_M2 = np.uint32(_H2)
_E1, _E2, _E3, _E4, _E5, _E6, _E7, _E8, _E9, _E10, _E11, _E12 = (np.uint32(e) for e in EDGES)
_BLOCK = 4096  # rows per block of int32 accumulators (exact while (6·rows)² < 2³¹)


def _h32_py(x: np.uint32) -> np.uint32:
    x = np.uint32(x ^ (x >> _S16))
    x = np.uint32(x * _M1)
    x = np.uint32(x ^ (x >> _S15))
    x = np.uint32(x * _M2)
    return np.uint32(x ^ (x >> _S16))


_h32: Any = _jit(_h32_py)


def _row_weights_py(r: np.int64, salt: np.uint32, keys: U32, u: U32, w: Any) -> None:
    """Weights of row ``r`` in every resample of ``keys`` into ``w`` (int32); ``u`` is scratch."""
    lo = np.uint32(r & 0xFFFFFFFF)
    hi = np.uint32(r >> 32)
    h = _h32(np.uint32(lo ^ salt ^ _h32(hi)))
    big = np.uint32(0)
    for k in range(keys.shape[0]):
        x = _h32(np.uint32(h ^ keys[k]))
        u[k] = x
        big = max(big, x)
        w[k] = (
            np.int32(x >= _E1) + np.int32(x >= _E2) + np.int32(x >= _E3)
            + np.int32(x >= _E4) + np.int32(x >= _E5) + np.int32(x >= _E6)
        )  # fmt: skip
    if big >= _E7:  # rare: some resample draws 7 or more
        for k in range(keys.shape[0]):
            x = u[k]
            w[k] += (
                np.int32(x >= _E7) + np.int32(x >= _E8) + np.int32(x >= _E9)
                + np.int32(x >= _E10) + np.int32(x >= _E11) + np.int32(x >= _E12)
            )  # fmt: skip


_row_weights: Any = _jit(_row_weights_py)


def _auc_lanes_py(
    order: NDArray[np.integer[Any]], pos: U8, tie: U8, keys: U32, salt: np.uint32, split: int,
    out: I64,
) -> None:  # fmt: skip
    """Per-resample integer totals of one model over all rows in sorted order, into ``out``
    (6 x len(keys)): P (positive weight), N (negative weight), X = Σ_{pos i} w_i·(negative
    weight before i), T = Σ over mixed tie groups of P_g·N_g, and P and N of the rows before
    position ``split``. ``tie[i]`` is 0 outside mixed tie groups, 1 at a group's first row,
    2 inside (negatives come first inside a group).
    """
    n = order.shape[0]
    lanes = keys.shape[0]
    p_tot = np.zeros(lanes, np.int64)
    n_tot = np.zeros(lanes, np.int64)
    x_tot = np.zeros(lanes, np.int64)
    t_tot = np.zeros(lanes, np.int64)
    p_split = np.zeros(lanes, np.int64)
    n_split = np.zeros(lanes, np.int64)
    group_start = np.zeros(lanes, np.int64)
    pb = np.zeros(lanes, np.int32)
    nb = np.zeros(lanes, np.int32)
    xb = np.zeros(lanes, np.int32)
    w = np.zeros(lanes, np.int32)
    u = np.zeros(lanes, np.uint32)
    start = 0
    while start < n:
        stop = min(start + _BLOCK, n)
        if start < split < stop:
            stop = split
        for i in range(start, stop):
            _row_weights(np.int64(order[i]), salt, keys, u, w)
            flag = tie[i]
            if flag == 1:
                for k in range(lanes):
                    group_start[k] = n_tot[k] + nb[k]
            if pos[i]:
                for k in range(lanes):
                    pb[k] += w[k]
                    xb[k] += w[k] * nb[k]
                if flag:
                    for k in range(lanes):
                        t_tot[k] += w[k] * (n_tot[k] + nb[k] - group_start[k])
            else:
                for k in range(lanes):
                    nb[k] += w[k]
        for k in range(lanes):
            x_tot[k] += xb[k] + np.int64(pb[k]) * n_tot[k]
            p_tot[k] += pb[k]
            n_tot[k] += nb[k]
            pb[k] = 0
            nb[k] = 0
            xb[k] = 0
        if stop == split:
            p_split[:] = p_tot
            n_split[:] = n_tot
        start = stop
    out[0] = p_tot
    out[1] = n_tot
    out[2] = x_tot
    out[3] = t_tot
    out[4] = p_split
    out[5] = n_split


_auc_lanes: Any = _jit(_auc_lanes_py)


def auc_lanes(
    order: NDArray[np.integer[Any]], pos: U8, tie: U8, keys: U32, salt: int, split: int,
    out: I64,
) -> None:  # fmt: skip
    """Typed entry to the compiled :func:`_auc_lanes_py` (releases the GIL)."""
    _auc_lanes(order, pos, tie, keys, np.uint32(salt), split, out)
