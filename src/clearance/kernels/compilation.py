"""A hook for the first compilation of the compiled kernels in a process.

The kernels never print: the layer that owns the terminal registers a callback with
:func:`on_first_compile` (cheap: this module imports neither numba nor numpy), and
:mod:`clearance.kernels._numba` calls it once, when numba starts compiling a kernel because
its on-disk cache has no usable entry (a cold cache, a new numba or a changed kernel).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

#: Seconds a cold compilation of every kernel takes on a 2-core server: the first calls of
#: the W1-W4 kernels cost 10.5 s of CPU with an empty cache and 2.1 s with a warm one.
COLD_COMPILE_SECONDS = 10

_callbacks: list[Callable[[int], None]] = []
_lock = threading.Lock()
_fired = False


def on_first_compile(callback: Callable[[int], None]) -> None:
    """Call ``callback(estimated_seconds)`` once, when the first kernel compilation starts."""
    with _lock:
        if callback not in _callbacks:
            _callbacks.append(callback)


def compiling() -> None:
    """Called by the numba listener for every kernel compilation; runs the callbacks once."""
    global _fired
    with _lock:
        if _fired:
            return
        _fired = True
        callbacks = list(_callbacks)
    for callback in callbacks:
        callback(COLD_COMPILE_SECONDS)
