"""One score column in ascending order, with its labels: the first step of the bootstrap and of
DeLong's placements.

:func:`rank_scores` returns the rows in ascending score order with negatives before positives
inside each group of tied scores, the labels and tie flags in that order, and the unit-weight
pair counts of the AUC. How:

1. each score becomes one 64-bit word: the order-preserving bits of the float (sign flipped,
   or all bits flipped for negatives; -0.0 taken as 0.0) in the high ``64 - b`` bits and the
   row number in the low ``b = bit_length(n - 1)`` bits;
2. an LSD radix sort (digits of up to 11 bits, stable, one histogram and one scatter pass per
   digit, each split over the threads) sorts the words by their high bits only: starting from
   row order, rows with equal high bits stay in row order. Digits on which all words agree are
   skipped;
3. one sequential pass reads the row numbers back, sorts each run of words with equal high
   bits by the full score (runs are short: values that agree in their top 64 - b bits), puts
   negatives first inside each group of equal scores and counts the pairs.

The result equals a stable argsort by (score, label). On 10M scores it costs about a tenth of
``np.argsort`` and needs 16 bytes per row while it runs (two word arrays), then 6 (order as
int32, labels, tie flags).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
from numpy.typing import NDArray

U8 = NDArray[np.uint8]
U64 = NDArray[np.uint64]
I64 = NDArray[np.int64]
F64 = NDArray[np.float64]

_jit: Any = numba.njit(cache=True, nogil=True, error_model="numpy")

_DIGIT = 11
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


def _hist_py(a: U64, lo: int, hi: int, shift: int, mask: int, h: I64) -> None:
    h[:] = 0
    sh = np.uint64(shift)
    m = np.uint64(mask)
    for i in range(lo, hi):
        h[(a[i] >> sh) & m] += 1


def _scatter_py(a: U64, dst: U64, lo: int, hi: int, shift: int, mask: int, off: I64) -> None:
    sh = np.uint64(shift)
    m = np.uint64(mask)
    for i in range(lo, hi):
        v = a[i]
        d = (v >> sh) & m
        dst[off[d]] = v
        off[d] += 1


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
_hist: Any = _jit(_hist_py)
_scatter: Any = _jit(_scatter_py)
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


def _run(pool: ThreadPoolExecutor | None, fn: Any, parts: int) -> None:
    """fn(t) for t in range(parts), on the pool when there is one."""
    if pool is None or parts == 1:
        for t in range(parts):
            fn(t)
    else:
        list(pool.map(fn, range(parts)))


def _radix(words: U64, tmp: U64, b: int, pool: ThreadPoolExecutor | None, cuts: list[int]) -> U64:
    """Stable LSD radix sort of ``words`` by bits b..63 (chunk t of every pass is
    [cuts[t], cuts[t+1])); returns whichever of the two buffers holds the result."""
    n = words.shape[0]
    parts = len(cuts) - 1
    span = 64 - b
    width = -(-span // -(-span // _DIGIT))  # equal digits of at most _DIGIT bits
    hist = np.empty((parts, 1 << width), np.int64)
    src, dst = words, tmp
    for shift in range(b, 64, width):
        mask = (1 << min(width, 64 - shift)) - 1
        h = hist[:, : mask + 1]

        def count(t: int, a: U64 = src, sh: int = shift, m: int = mask, hh: I64 = h) -> None:
            _hist(a, cuts[t], cuts[t + 1], sh, m, hh[t])

        _run(pool, count, parts)
        total = h.sum(axis=0)
        if int(total.max()) == n:
            continue
        offsets = (np.cumsum(total) - total)[None, :] + np.cumsum(h, axis=0) - h

        def move(
            t: int, a: U64 = src, d: U64 = dst, sh: int = shift, m: int = mask, o: I64 = offsets
        ) -> None:
            _scatter(a, d, cuts[t], cuts[t + 1], sh, m, o[t])

        _run(pool, move, parts)
        src, dst = dst, src
    return src


def rank_scores(
    y: NDArray[np.bool_], s: F64, pool: ThreadPoolExecutor | None = None, threads: int = 1
) -> Ranked:
    """``s`` (finite floats) in ascending order with the labels ``y`` (module docstring)."""
    s = np.ascontiguousarray(s, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.bool_)
    n = s.shape[0]
    b = max(1, (n - 1).bit_length())
    parts = max(1, threads) if pool is not None and n >= 1 << 16 else 1
    cuts = [n * t // parts for t in range(parts + 1)]
    bits = s.view(np.uint64)
    words = np.empty(n, np.uint64)

    def build(t: int, out: U64 = words) -> None:
        _words(bits, y, out, cuts[t], cuts[t + 1], b)

    _run(pool, build, parts)
    # the sort ping-pongs between two buffers; rebinding ``words`` frees the other one
    words = _radix(words, np.empty(n, np.uint64), b, pool, cuts)
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
