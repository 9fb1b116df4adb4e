"""The terminal's notice of a kernel compilation: "compiling statistics kernels, once".

The first data gate run on a machine compiles the numba kernels (seconds of silence
otherwise); later runs load them from the on-disk cache (:mod:`clearance.kernels._numba`
says where). The kernels never print, so the layer that owns the terminal (the command line)
calls :func:`announce_compilation` once at start-up: it costs no numba or numpy import.
"""

from __future__ import annotations

import sys

from clearance.kernels.compilation import on_first_compile

NOTICE = "compiling statistics kernels, once (about {seconds} s)"


def _say(seconds: int) -> None:
    print(f"clearance: {NOTICE.format(seconds=seconds)}", file=sys.stderr, flush=True)


def announce_compilation() -> None:
    """Print the notice on stderr when a kernel is first compiled in this process (idempotent)."""
    on_first_compile(_say)
