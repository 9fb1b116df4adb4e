"""Pausing Python's cyclic garbage collector around a bulk walk.

Verifying the audit chain, backtesting a policy and computing analytics each allocate
hundreds of thousands of short-lived, acyclic objects beside long-lived state; the cyclic
collector would rescan that state again and again (a quarter to a third of the time) while
finding no garbage. Reference counting still frees everything as usual.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic collector off for the block, then as it was."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
