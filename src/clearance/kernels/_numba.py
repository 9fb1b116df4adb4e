"""numba for the kernels: where the compiled code is cached, and who hears of a compilation.

Every compiled kernel is built with :func:`njit` (``cache=True``): numba writes the machine
code to disk the first time (seconds per kernel) and later processes load it (milliseconds).
numba's default cache is ``__pycache__`` beside the source; when that is not writable (a
read-only site-packages) and ``NUMBA_CACHE_DIR`` is not set, the cache goes to
``$XDG_CACHE_HOME/clearance/numba`` (``~/.cache/clearance/numba``) instead of numba's own
user-wide directory, so that ``rm -rf ~/.cache/clearance`` clears it. The directory is chosen
here, before any kernel is decorated, because numba picks a function's cache location when
it is decorated.

A listener on numba's ``numba:compile`` event tells :mod:`clearance.kernels.compilation`
when one of these kernels is compiled rather than loaded from the cache.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numba
from numba.core import config as _config
from numba.core import event

_PACKAGE = Path(__file__).resolve().parent


def cache_dir(env: dict[str, str] | None = None, package: Path = _PACKAGE) -> Path | None:
    """The directory to give numba, or None to keep its default (``NUMBA_CACHE_DIR`` set, or
    ``__pycache__`` beside the kernels writable)."""
    env = dict(os.environ) if env is None else env
    if env.get("NUMBA_CACHE_DIR"):
        return None
    pycache = package / "__pycache__"
    if os.access(pycache if pycache.is_dir() else package, os.W_OK):
        return None
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "clearance" / "numba"


class _Announcer(event.Listener):
    """Forwards the start of a kernel's compilation (not a cache load) to the hook."""

    def on_start(self, ev: Any) -> None:
        dispatcher = (ev.data or {}).get("dispatcher")
        module = getattr(getattr(dispatcher, "py_func", None), "__module__", "") or ""
        if module.startswith("clearance.kernels."):
            from clearance.kernels.compilation import compiling

            compiling()

    def on_end(self, ev: Any) -> None:
        return None


config: Any = _config  # numba has no stubs: its settings are module attributes
_dir = cache_dir()
if _dir is not None and not config.CACHE_DIR:
    config.CACHE_DIR = str(_dir)
_register: Any = event.register
_register("numba:compile", _Announcer())


def njit(**options: Any) -> Any:
    """``numba.njit(cache=True, **options)``, typed ``Any`` (numba has no stubs)."""
    return numba.njit(cache=True, **options)
