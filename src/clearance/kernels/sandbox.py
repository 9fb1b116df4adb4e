"""Run CEL programs in worker processes that a deadline can stop.

The ``cel`` package (Rust, through PyO3) holds the GIL for a whole evaluation and has no cost
limit and no interrupt: a regex over 190,000 strings ran for 26 s and nested comprehensions
for longer, freezing every other thread of the server (health checks included). So programs
run in worker processes (``python -I _cel_worker.py``, under an address-space cap); the
caller waits on the worker's pipe with the GIL free and kills the worker at the deadline. An
idle worker is kept for the next evaluation (starting one costs about 40 ms); a killed one is
replaced.

Exceptions: :class:`ExpressionTimeout` (the deadline passed), :class:`ExpressionCrashed` (the
worker died without an answer, e.g. at the memory cap), :class:`ExpressionFailed` (CEL
raised). A key the expression needs and the input lacks is re-raised as ``KeyError(key)``.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import pickle
import select
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

MEMORY_BYTES = 1 << 30
"""Address-space cap of a worker (Linux, macOS): an expression that builds huge lists stops
there instead of taking the host's memory."""

WORKER = Path(__file__).with_name("_cel_worker.py")
_slots = threading.BoundedSemaphore(max(4, 2 * (os.cpu_count() or 2)))
_idle: list[_Worker] = []
_lock = threading.Lock()


class ExpressionTimeout(Exception):
    """The evaluation ran past its deadline; its worker was killed."""


class ExpressionCrashed(Exception):
    """The worker stopped without an answer (``returncode``: negative for a signal)."""


class ExpressionFailed(Exception):
    """CEL raised while evaluating (no such overload, a bad regex, an overflow ...)."""


class _Worker:
    def __init__(self, memory: int) -> None:
        self.memory, self.pid = memory, os.getpid()
        self.proc = subprocess.Popen(
            [sys.executable, "-I", str(WORKER), str(memory)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            bufsize=0,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.send, self.fd = self.proc.stdin.fileno(), self.proc.stdout.fileno()
        self.poll = select.poll()  # one per worker: an evaluation costs one wait, not a setup
        self.poll.register(self.fd, select.POLLIN)

    def ask(self, payload: bytes, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        request = memoryview(len(payload).to_bytes(8, "big") + payload)
        try:
            while request:
                request = request[os.write(self.send, request) :]
        except OSError:
            raise ExpressionCrashed(self._stopped()) from None
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not self.poll.poll(max(1, math.ceil(left * 1000))):
                raise ExpressionTimeout(f"no answer within {timeout:g} s")
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                raise ExpressionCrashed(self._stopped())
            line += chunk
        if line in _ANSWERS:
            return _ANSWERS[line]
        return json.loads(line)

    def _stopped(self) -> str:
        code = self.proc.wait(5)
        return f"exit code {code}"

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


# the worker's answers true and false, as one byte each (see ``_cel_worker``)
_ANSWERS: dict[bytes, list[Any]] = {b"T\n": ["ok", True], b"F\n": ["ok", False]}


def _take(memory: int) -> _Worker:
    with _lock:
        while _idle:
            worker = _idle.pop()
            if worker.pid == os.getpid() and worker.memory == memory and worker.proc.poll() is None:
                return worker
    return _Worker(memory)


def _give_back(worker: _Worker) -> None:
    with _lock:
        if len(_idle) < 4:
            _idle.append(worker)
            return
    worker.close()


@atexit.register
def _close_idle() -> None:
    with _lock:
        idle = list(_idle)
        _idle.clear()
    for worker in idle:
        worker.close()


def evaluate_bounded(
    source: str, variables: dict[str, Any], *, timeout: float, memory: int = MEMORY_BYTES
) -> bool | str:
    """``True``/``False``, or a short description of any other value the expression returned.

    ``variables`` must be plain data (JSON types and datetimes). Raises as the module says.
    """
    payload = pickle.dumps((source, variables), protocol=pickle.HIGHEST_PROTOCOL)
    with _slots:
        worker = _take(memory)
        try:
            kind, value = worker.ask(payload, timeout)
        except BaseException:
            worker.close()
            raise
        _give_back(worker)
    if kind == "missing":
        raise KeyError(value)
    if kind == "failed":
        raise ExpressionFailed(value)
    result: bool | str = value
    return result
