"""One score column in ascending order, with its labels: the first step of the bootstrap and of
DeLong's placements.

:func:`rank_scores` returns the rows in ascending score order with negatives before positives
inside each group of tied scores, the labels and tie flags in that order, and the unit-weight
pair counts of the AUC. How:

1. each score becomes one 64-bit word: the order-preserving bits of the float (sign flipped,
   or all bits flipped for negatives; -0.0 taken as 0.0) in the high ``63 - b`` bits, then
   the label, then the row number in the low ``b = bit_length(n - 1)`` bits;
2. an LSD radix sort (:mod:`clearance.kernels._radix`) sorts the words by their high bits and
   label only: starting from row order, equal ones stay in row order;
3. one sequential pass reads the row numbers and labels back, sorts each run of words with
   equal high bits by the full score (runs are short: values that agree in their top 63 - b
   bits), puts negatives first inside each group of equal scores and counts the pairs. Only
   the rows of such runs are looked up in the score column; nothing else is gathered.

The result equals a stable sort by (score, label), ``np.lexsort((y, s))``. On 10M scores it
takes about a third of ``np.argsort``'s time on one thread (0.4 s against 1.6 s here) and
needs 16 bytes per row while it runs (two word arrays), then 6 (order as int32, labels, tie
flags).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from clearance.kernels._numba import njit
from clearance.kernels._radix import parts_of, radix_sort, run

U8 = NDArray[np.uint8]
U64 = NDArray[np.uint64]
I64 = NDArray[np.int64]
F64 = NDArray[np.float64]

_jit: Any = njit(nogil=True, error_model="numpy")

_SIGN = np.uint64(1 << 63)
_INSERTION = 32  # runs up to this length are insertion-sorted, longer ones merge-sorted


def _words_py(bits: U64, y: NDArray[np.bool_], out: U64, lo: int, hi: int, b: int) -> None:
    """out[i] = key(bits[i]) >> (b+1) << (b+1) | y[i] << b | i for lo ≤ i < hi, with key the
    order-preserving form of the float with those bits."""
    sh = np.uint64(b + 1)
    for i in range(lo, hi):
        x = bits[i]
        if x == _SIGN:  # -0.0 sorts with 0.0
            x = np.uint64(0)
        x = ~x if x & _SIGN else x | _SIGN
        out[i] = ((x >> sh) << sh) | (np.uint64(y[i]) << np.uint64(b)) | np.uint64(i)


def _finish_py(
    words: U64, s: F64, y: NDArray[np.bool_], b: int, order: NDArray[np.integer[Any]], pos: U8,
    tie: U8,
) -> tuple[int, int]:  # fmt: skip
    """Step 3 of the module docstring; returns (pairs, tie_pairs) with unit weights:
    pairs = Σ_{pos i} #negatives at or before i, tie_pairs = Σ_g P_g·N_g over tie groups."""
    n = words.shape[0]
    sh = np.uint64(b + 1)
    label = np.uint64(1 << b)
    mask = np.uint64((1 << b) - 1)
    rows = np.empty(64, np.int64)
    vals = np.empty(64, np.float64)
    grp = np.empty(64, np.int64)
    pairs = 0
    tie_pairs = 0
    negs = 0
    i = 0
    while i < n:
        top = words[i] >> sh
        e = i + 1
        while e < n and (words[e] >> sh) == top:
            e += 1
        m = e - i
        if m == 1:
            order[i] = np.int64(words[i] & mask)
            tie[i] = 0
            if words[i] & label:
                pos[i] = 1
                pairs += negs
            else:
                pos[i] = 0
                negs += 1
            i = e
            continue
        if rows.shape[0] < m:
            rows = np.empty(2 * m, np.int64)
            vals = np.empty(2 * m, np.float64)
            grp = np.empty(2 * m, np.int64)
        for k in range(m):
            r = np.int64(words[i + k] & mask)
            rows[k] = r
            vals[k] = s[r]
        if m <= _INSERTION:
            for k in range(1, m):
                rk, vk = rows[k], vals[k]
                j = k - 1
                while j >= 0 and vals[j] > vk:
                    rows[j + 1] = rows[j]
                    vals[j + 1] = vals[j]
                    j -= 1
                rows[j + 1] = rk
                vals[j + 1] = vk
        else:
            perm = np.argsort(vals[:m], kind="mergesort")
            for k in range(m):
                grp[k] = rows[perm[k]]
            for k in range(m):
                rows[k] = grp[k]
                vals[k] = s[rows[k]]
        a = 0
        while a < m:
            g = a + 1
            while g < m and vals[g] == vals[a]:
                g += 1
            g_neg = 0
            for k in range(a, g):
                if not y[rows[k]]:
                    g_neg += 1
            g_pos = (g - a) - g_neg
            mixed = g_neg > 0 and g_pos > 0
            c_neg = i + a
            c_pos = i + a + g_neg
            for k in range(a, g):
                r = rows[k]
                if y[r]:
                    order[c_pos] = r
                    pos[c_pos] = 1
                    tie[c_pos] = 2 if mixed else 0
                    c_pos += 1
                else:
                    order[c_neg] = r
                    pos[c_neg] = 0
                    tie[c_neg] = 2 if mixed else 0
                    c_neg += 1
            if mixed:
                tie[i + a] = 1
            pairs += g_pos * (negs + g_neg)
            tie_pairs += g_pos * g_neg
            negs += g_neg
            a = g
        i = e
    return pairs, tie_pairs


def _placements_py(
    order: NDArray[np.integer[Any]], pos: U8, tie: U8, n_pos: int, n_neg: int, out: F64
) -> None:
    """DeLong's placement of every row, by row number: for a positive, the share of negatives
    below it (ties count ½); for a negative, the share of positives above it (ties count ½)."""
    n = order.shape[0]
    negs = 0
    poss = 0
    i = 0
    while i < n:
        if tie[i] == 1:
            e = i + 1
            while e < n and tie[e] == 2:
                e += 1
            g_neg = 0
            for k in range(i, e):
                if not pos[k]:
                    g_neg += 1
            g_pos = (e - i) - g_neg
            v_pos = (negs + 0.5 * g_neg) / n_neg
            v_neg = (n_pos - poss - 0.5 * g_pos) / n_pos
            for k in range(i, e):
                out[order[k]] = v_pos if pos[k] else v_neg
            negs += g_neg
            poss += g_pos
            i = e
        else:
            if pos[i]:
                out[order[i]] = negs / n_neg
                poss += 1
            else:
                out[order[i]] = (n_pos - poss) / n_pos
                negs += 1
            i += 1


_words: Any = _jit(_words_py)
_finish: Any = _jit(_finish_py)
_placements: Any = _jit(_placements_py)


@dataclass
class Ranked:
    """One score column prepared: rows in ascending order (negatives first inside tie groups),
    labels and tie flags in that order (see :func:`_finish_py`), unit-weight pair counts."""

    order: NDArray[np.integer[Any]]
    pos: U8
    tie: U8
    pairs: int
    tie_pairs: int

    def unit_auc(self, n_pos: int, n_neg: int) -> float:
        pairs = self.pairs - 0.5 * float(self.tie_pairs) if self.tie_pairs else float(self.pairs)
        return pairs / (n_pos * n_neg)


def rank_scores(
    y: NDArray[np.bool_], s: F64, pool: ThreadPoolExecutor | None = None, threads: int = 1
) -> Ranked:
    """``s`` (finite floats) in ascending order with the labels ``y`` (module docstring)."""
    s = np.ascontiguousarray(s, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.bool_)
    n = s.shape[0]
    b = max(1, (n - 1).bit_length())
    cuts = parts_of(n, pool, threads)
    parts = len(cuts) - 1
    bits = s.view(np.uint64)
    words = np.empty(n, np.uint64)

    def build(t: int, out: U64 = words) -> None:
        _words(bits, y, out, cuts[t], cuts[t + 1], b)

    run(pool, build, parts)
    # the sort ping-pongs between two buffers; rebinding ``words`` frees the other one
    words = radix_sort(words, np.empty(n, np.uint64), b, pool, cuts)
    order: NDArray[np.integer[Any]] = np.empty(n, np.int32) if n < 2**31 else np.empty(n, np.int64)
    pos = np.empty(n, np.uint8)
    tie = np.empty(n, np.uint8)
    pairs, tie_pairs = _finish(words, s, y, b, order, pos, tie)
    return Ranked(order, pos, tie, int(pairs), int(tie_pairs))


def placements(ranked: Ranked, n_pos: int, n_neg: int) -> F64:
    """DeLong's placements of every row, indexed by row number (see :func:`_placements_py`)."""
    out = np.empty(ranked.order.shape[0])
    _placements(ranked.order, ranked.pos, ranked.tie, n_pos, n_neg, out)
    return out
