"""The server's own background work: the scheduled ``tick`` under the leader lease, and alerts
pushed as soon as a change commits.

Two daemon threads per server process (docs/server.md, "Scheduled work"; ADR 19):

* the **scheduler** wakes every ``every`` seconds (at once when it starts) and takes or
  renews the ``scheduler`` lease; the one process holding it runs ``Scheduler.tick`` as the
  operator, renewing the lease while the tick runs longer than a beat. The others stand by
  and take over once the holder's lease lapses (it died) or is released (it stopped).
* the **pusher** routes and sends the outbox when poked (``poke``: the app does after each
  request that may have written), coalescing a burst of pokes into one run. What fails stays
  in the outbox, which retries it with backoff at the next push or tick.

A tick or push that raises is logged and counted (``/metrics``), never fatal: the threads go
on. Within a process the two take turns on the outbox (one lock), so neither sends a delivery
the other is sending.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from clearance.api.logs import log
from clearance.api.metrics import Metrics
from clearance.service.leader import Leadership

LEASE = "scheduler"
BEATS_PER_LEASE = 3  # a lease lasts three beats: a holder that misses two is taken over


def holder_name() -> str:
    """This process, as the lease names it: host, process id and a random part (a restarted
    process with a reused pid is a new holder)."""
    return f"{socket.gethostname()[:120]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Background:
    """``leadership`` None: no scheduler (``--no-scheduler``); ``push`` None: no pusher."""

    def __init__(
        self,
        *,
        tick: Callable[[], Any],
        leadership: Leadership | None,
        every: float,
        push: Callable[[], None] | None,
        metrics: Metrics | None = None,
    ) -> None:
        self.tick, self.leadership, self.every, self.push = tick, leadership, every, push
        self.metrics = metrics
        self._stop = threading.Event()
        self._poked = threading.Event()
        self._outbox = threading.Lock()  # the tick's sending and the pusher's take turns
        self._threads: list[threading.Thread] = []
        self.leading = False

    def start(self) -> None:
        if self.leadership is not None:
            self._spawn("clearance-scheduler", self._schedule)
        if self.push is not None:
            self._spawn("clearance-pusher", self._pushing)

    def poke(self) -> None:
        """Something may have been written: route and send the outbox soon (never blocks)."""
        self._poked.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop both threads; release the lease unless a tick is still running (then it
        lapses, as a crashed holder's does)."""
        self._stop.set()
        self._poked.set()
        for thread in self._threads:
            thread.join(timeout)
        running = any(t.is_alive() for t in self._threads)
        if self.leadership is not None and self.leading and not running:
            try:
                self.leadership.release()
            except Exception:
                log(logging.WARNING, "could not release the scheduler lease", exc_info=True)
            else:
                log(logging.INFO, "released the scheduler lease", holder=self.leadership.holder)
            self.leading = False
            if self.metrics is not None:
                self.metrics.scheduler_leader.set(0)

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    # --- the scheduler ---------------------------------------------------------------------

    def _schedule(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self.every)

    def run_once(self) -> bool:
        """One beat: run the tick if this process holds the lease; True if it ran and passed."""
        assert self.leadership is not None
        try:
            lease = self.leadership.hold()
        except Exception:  # the database is down, say: the next beat asks again
            self._count("ticks", "lease_error")
            log(logging.WARNING, "could not ask for the scheduler lease", exc_info=True)
            self._lead(False)
            return False
        self._lead(lease is not None)
        if lease is None:
            return False
        with self._outbox, self._renewing():
            try:
                summary = self.tick()
            except Exception:
                self._count("ticks", "failed")
                log(logging.ERROR, "scheduled tick failed", exc_info=True, epoch=lease.epoch)
                return False
        self._count("ticks", "ok")
        log(logging.INFO, "scheduled tick", epoch=lease.epoch, **_fields(summary))
        return True

    @contextmanager
    def _renewing(self) -> Iterator[None]:
        """Renew the lease every beat while the block (a tick) runs."""
        assert self.leadership is not None
        leadership, done = self.leadership, threading.Event()

        def renew() -> None:
            while not done.wait(self.every):
                try:
                    kept = leadership.renew()
                except Exception:
                    log(logging.WARNING, "could not renew the scheduler lease", exc_info=True)
                    continue
                if not kept:
                    log(logging.WARNING, "lost the scheduler lease while a tick ran")
                    return

        thread = threading.Thread(target=renew, name="clearance-lease-renewal", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()

    def _lead(self, leading: bool) -> None:
        if leading != self.leading:
            holder = self.leadership.holder if self.leadership else None
            message = "leading the scheduler" if leading else "standing by for the scheduler"
            log(logging.INFO, message, holder=holder)
        self.leading = leading
        if self.metrics is not None:
            self.metrics.scheduler_leader.set(1 if leading else 0)

    # --- the pusher ------------------------------------------------------------------------

    def _pushing(self) -> None:
        assert self.push is not None
        while True:
            self._poked.wait()
            if self._stop.is_set():
                return
            self._poked.clear()  # pokes from here on ask for another run
            with self._outbox:
                try:
                    self.push()
                except Exception:  # left in the outbox: the next push or tick retries it
                    self._count("pushes", "failed")
                    log(logging.WARNING, "pushing alerts failed", exc_info=True)
                    continue
            self._count("pushes", "ok")

    def _count(self, what: str, outcome: str) -> None:
        if self.metrics is not None:
            counter = self.metrics.scheduler_ticks if what == "ticks" else self.metrics.pushes
            counter.labels(outcome).inc()


def _fields(summary: Any) -> dict[str, Any]:
    """The tick's summary as log fields (what ``clearance tick`` prints)."""
    names = ("routed", "delivered", "retrying", "failed")
    fields = {n: getattr(summary, n) for n in names if hasattr(summary, n)}
    actions = getattr(summary, "actions", None)
    if actions is not None:
        fields["actions"] = len(actions)
    return fields
