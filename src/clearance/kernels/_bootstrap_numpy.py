"""The vectorized numpy reference of the bootstrap's per-resample totals.

It computes the same integers as the compiled engine (:func:`clearance.kernels._poisson.auc_lanes`
over the order of :func:`clearance.kernels._ranks.rank_scores`) by independent means: numpy's
argsort for the order, the weights of :func:`clearance.kernels._poisson.weights` for blocks of
rows x all resamples, and a pairwise tree inside each block. The tests check that both engines
give identical results; it is also the engine to read to understand the computation.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from clearance.kernels import _poisson

U8 = NDArray[np.uint8]
U32 = NDArray[np.uint32]
I64 = NDArray[np.int64]


def _tree(p: U8, n: U8) -> tuple[I64, I64, I64]:
    """Per-lane (P, N, X) of a block of 2^k sorted rows (k ≥ 1).

    P and N are the positive and negative weight totals; X = Σ_{j<i} N_j·P_i is the weight of
    (negative below positive) pairs inside the block. A pairwise tree: each merge adds
    P_right·N_left. Exact integers (w ≤ 12): uint8 for the first merge, uint16 while nodes hold
    ≤ 32 rows (X ≤ (6·32)²), int32 up to 4,096 rows (X ≤ (6·4096)² < 2³¹), int64 above.
    """
    x: NDArray[np.integer] = np.multiply(p[1::2], n[0::2])
    pa: NDArray[np.integer] = np.add(p[0::2], p[1::2], dtype=np.uint16)
    na: NDArray[np.integer] = np.add(n[0::2], n[1::2], dtype=np.uint16)
    xa: NDArray[np.integer] = x.astype(np.uint16)
    size = 2
    while pa.shape[0] > 1:
        if size in (32, 4096):
            wide = np.int32 if size == 32 else np.int64
            pa, na, xa = pa.astype(wide), na.astype(wide), xa.astype(wide)
        cross = pa[1::2] * na[0::2]
        cross += xa[0::2]
        cross += xa[1::2]
        xa = cross
        pa = pa[0::2] + pa[1::2]
        na = na[0::2] + na[1::2]
        size *= 2
    return pa[0].astype(np.int64), na[0].astype(np.int64), xa[0].astype(np.int64)


@dataclass
class SortedModel:
    """One model's scores prepared by argsort: order (ties: negatives first), labels in that
    order, the rows of tie groups holding both classes and their group numbers."""

    order: NDArray[np.integer]
    pos: U8
    tie_rows: NDArray[np.integer]
    tie_pos: U8
    tie_group: I64

    def unit_auc(self, n_pos: int, n_neg: int) -> float:
        """Point AUC with unit weights (ties: ½ per tied pair)."""
        neg_before = np.cumsum(1 - self.pos.astype(np.int64))
        pairs = int(neg_before[self.pos.astype(bool)].sum())
        if self.tie_rows.shape[0]:
            size = np.bincount(self.tie_group)
            npos = np.bincount(self.tie_group, weights=self.tie_pos.astype(np.int64))
            pairs_f = pairs - 0.5 * float((npos * (size - npos)).sum())
        else:
            pairs_f = float(pairs)
        return pairs_f / (n_pos * n_neg)


def prepare(yt: NDArray[np.bool_], s: NDArray[np.float64]) -> SortedModel:
    order: NDArray[np.integer] = np.argsort(s)
    ss = s[order]
    tie = ss[1:] == ss[:-1]
    tie_rows: NDArray[np.integer] = np.empty(0, np.int64)
    tie_group: I64 = np.empty(0, np.int64)
    if tie.any():
        grp = np.concatenate(([0], np.cumsum(~tie)))
        order = order[np.argsort(grp * 2 + yt[order], kind="stable")]
        size = np.bincount(grp)
        npos = np.bincount(grp, weights=yt[order])
        mixed = (npos > 0) & (npos < size)
        sel = mixed[grp]
        tie_rows, tie_group = order[sel], grp[sel]
    return SortedModel(order, yt[order].astype(np.uint8), tie_rows, yt[tie_rows].astype(np.uint8),
                       tie_group)  # fmt: skip


def _blocks(n: int, split: int, m: int) -> list[tuple[int, int]]:
    """Row ranges of at most m rows covering [0, n), never straddling ``split``."""
    out = []
    for a, b in ((0, split), (split, n)):
        out += [(i, min(i + m, b)) for i in range(a, b, m)]
    return out


def _run_blocks(
    model: SortedModel, keys: U32, salt: int, blocks: list[tuple[int, int]], threads: int
) -> tuple[I64, I64, I64]:
    """(P, N, X) per block (rows: blocks, columns: resamples) on ``threads`` threads."""
    nb, r = len(blocks), keys.shape[0]
    pc = np.empty((nb, r), np.int64)
    nc = np.empty((nb, r), np.int64)
    xc = np.empty((nb, r), np.int64)
    m = max(b - a for a, b in blocks)
    m = 1 << max(1, (m - 1).bit_length())  # the tree wants 2^k rows: pad with zero weights

    def work(first: int, step: int) -> None:
        for b in range(first, nb, step):
            lo, hi = blocks[b]
            w = _poisson.weights(model.order[lo:hi], keys, salt)
            pos = model.pos[lo:hi, None]
            p = np.zeros((m, r), np.uint8)
            q = np.zeros((m, r), np.uint8)
            p[: hi - lo] = w * pos
            q[: hi - lo] = w * (1 - pos)
            pc[b], nc[b], xc[b] = _tree(p, q)

    if threads == 1 or nb < 2:
        work(0, 1)
    else:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(lambda t: work(t, threads), range(threads)))
    return pc, nc, xc


def _tie_pairs(model: SortedModel, keys: U32, salt: int) -> I64:
    """Σ_g P_g·N_g over the tie groups holding both classes, per resample."""
    if model.tie_rows.shape[0] == 0:
        return np.zeros(keys.shape[0], np.int64)
    w = _poisson.weights(model.tie_rows, keys, salt).astype(np.int64)
    grp = model.tie_group
    starts = np.flatnonzero(np.concatenate(([True], grp[1:] != grp[:-1])))
    gp = np.add.reduceat(w * model.tie_pos[:, None], starts, axis=0)
    gn = np.add.reduceat(w, starts, axis=0) - gp
    out: I64 = (gp * gn).sum(axis=0)
    return out


def totals(
    model: SortedModel, keys: U32, salt: int, split: int, block_rows: int, threads: int
) -> I64:
    """Per-resample totals (6 x R): P, N, X, T and P, N of the first ``split`` sorted rows —
    the same layout as :func:`clearance.kernels._poisson.auc_lanes`."""
    n = model.order.shape[0]
    blocks = _blocks(n, split, min(block_rows, 1 << max(1, (n - 1).bit_length())))
    pc, nc, xc = _run_blocks(model, keys, salt, blocks, threads)
    n_before = np.cumsum(nc, axis=0) - nc
    below = np.array([b <= split for _, b in blocks])
    out = np.empty((6, keys.shape[0]), np.int64)
    out[0] = pc.sum(axis=0)
    out[1] = nc.sum(axis=0)
    out[2] = xc.sum(axis=0) + (pc * n_before).sum(axis=0)
    out[3] = _tie_pairs(model, keys, salt)
    out[4] = pc[below].sum(axis=0)
    out[5] = nc[below].sum(axis=0)
    return out
