"""Shared typing aliases and input checks for the kernels.

Every kernel takes plain one-dimensional numpy columns. These helpers convert and
validate them once, with error messages that name the argument and what is wrong.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

__all__ = [
    "BoolArray",
    "FloatArray",
    "IntArray",
    "as_binary",
    "as_float",
    "as_weights",
    "check_same_length",
]


def as_float(x: ArrayLike, name: str = "x", *, allow_nan: bool = False) -> FloatArray:
    """``x`` as a 1-D float64 array; ValueError if it is not 1-D or (unless allowed) has NaN."""
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    out = np.asarray(arr, dtype=np.float64)
    if not allow_nan and out.size and not np.isfinite(out).all():
        bad = int(np.count_nonzero(~np.isfinite(out)))
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s)")
    return out


def as_binary(y: ArrayLike, name: str = "y") -> BoolArray:
    """``y`` as a 1-D boolean array (True = positive class).

    Accepts booleans or numbers whose values are all 0 or 1. Raises ValueError for a wrong
    shape, NaN labels or any other label value.
    """
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {arr.shape}")
    if arr.dtype == np.bool_:
        return arr
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"{name} must hold binary labels 0/1 or booleans, got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        bad = int(np.count_nonzero(np.isnan(arr)))
        raise ValueError(f"{name} contains {bad} NaN label(s); labels must be 0 or 1")
    pos: BoolArray = np.asarray(arr == 1, dtype=np.bool_)
    if not np.all(pos | (arr == 0)):
        others = np.unique(arr[~(pos | (arr == 0))])[:5].tolist()
        raise ValueError(f"{name} must be binary (0/1); found other values such as {others}")
    return pos


def as_weights(sample_weight: ArrayLike | None, n: int) -> FloatArray | None:
    """Validated sample weights (1-D, length ``n``, finite, non-negative) or None."""
    if sample_weight is None:
        return None
    w = as_float(sample_weight, "sample_weight")
    if w.shape[0] != n:
        raise ValueError(f"sample_weight has length {w.shape[0]}, expected {n}")
    if (w < 0).any():
        raise ValueError("sample_weight must be non-negative")
    return w


def check_same_length(**columns: NDArray[np.generic]) -> int:
    """The common length of the named columns; ValueError naming them when they differ."""
    lengths = {name: int(col.shape[0]) for name, col in columns.items()}
    if len(set(lengths.values())) > 1:
        desc = ", ".join(f"{k}={v}" for k, v in lengths.items())
        raise ValueError(f"columns must have the same length, got {desc}")
    n = next(iter(lengths.values()), 0)
    if n == 0:
        raise ValueError(f"columns {', '.join(lengths)} are empty")
    return n
