"""Leader leases: which one of several server processes runs the scheduled work.

A lease is a row named for the work (``scheduler``): who holds it, until when, and an
``epoch`` -- the fencing token, one higher each time the lease changes hands. A process
*takes or renews* it (``LeasePort.acquire_lease``) when it is free (never held, expired, or
released) or already its own; any other holder's unexpired lease refuses it. Each store does
this in one atomic step; ``taken`` below is the rule they all keep, with the time passed in.

``Leadership`` is one process's side of one lease: ``hold`` before each run of the work,
``renew`` while it runs longer than a beat, ``release`` on shutdown. A holder that paused past
its lease (a long GC, a frozen VM) finds out at its next ``hold`` or ``renew`` -- it stops,
and the epoch it held names a reign that is over.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from clearance.errors import InputError

if TYPE_CHECKING:
    from clearance.service.ports import Clock, LeasePort

MAX_NAME = 100  # characters in a lease's name
MAX_HOLDER = 200  # characters in a holder's name
MAX_TTL = dt.timedelta(days=1)


@dataclass(frozen=True)
class Lease:
    """``holder`` may act for ``name`` until ``expires_at``; ``epoch`` counts the reigns."""

    name: str
    holder: str
    epoch: int
    acquired_at: dt.datetime  # when this holder's reign began (a renewal keeps it)
    expires_at: dt.datetime

    def free_at(self, now: dt.datetime) -> bool:
        return self.expires_at <= now


def checked(name: str, holder: str, ttl: dt.timedelta | None = None) -> None:
    """Every store refuses the same bad arguments, before touching anything."""
    if not 0 < len(name) <= MAX_NAME:
        raise InputError(f"lease name: 1 to {MAX_NAME} characters, not {len(name)}")
    if not 0 < len(holder) <= MAX_HOLDER:
        raise InputError(f"lease holder: 1 to {MAX_HOLDER} characters, not {len(holder)}")
    if ttl is not None and not dt.timedelta(0) < ttl <= MAX_TTL:
        raise InputError(f"lease ttl: more than 0 and at most {MAX_TTL}, not {ttl}")


def taken(
    current: Lease | None, *, name: str, holder: str, now: dt.datetime, ttl: dt.timedelta
) -> Lease | None:
    """The lease after ``holder`` asks for it at ``now``: renewed (its reign goes on), taken
    over (a new reign: epoch + 1), first taken (epoch 1), or None: another holds it."""
    expires = now + ttl
    if current is None:
        return Lease(name, holder, 1, now, expires)
    if current.holder == holder:
        return replace(current, expires_at=expires)
    if not current.free_at(now):
        return None
    return Lease(name, holder, current.epoch + 1, now, expires)


def renewed(
    current: Lease | None, *, holder: str, epoch: int, now: dt.datetime, ttl: dt.timedelta
) -> Lease | None:
    """The lease extended to ``now + ttl``, only while it is still the caller's reign and has
    not expired; None: the caller lost it (and must stop acting on it)."""
    if current is None or (current.holder, current.epoch) != (holder, epoch):
        return None
    if current.free_at(now):
        return None
    return replace(current, expires_at=now + ttl)


def released(current: Lease | None, *, holder: str, epoch: int, now: dt.datetime) -> Lease | None:
    """The lease made free at ``now`` (its row and epoch kept, so the next reign counts on),
    or None when it is not the caller's reign any more."""
    if current is None or (current.holder, current.epoch) != (holder, epoch):
        return None
    return replace(current, expires_at=min(current.expires_at, now))


@dataclass
class Leadership:
    """One process's hold on the lease ``name``; ``held`` is its reign, None when it has none."""

    leases: LeasePort
    clock: Clock
    name: str
    holder: str
    ttl: dt.timedelta
    held: Lease | None = None

    def hold(self) -> Lease | None:
        """Take or renew the lease; None when another process holds it."""
        self.held = self.leases.acquire_lease(self.name, self.holder, self.clock.now(), self.ttl)
        return self.held

    def renew(self) -> bool:
        """Extend the reign in progress; False (and no reign) when it was lost meanwhile."""
        if self.held is None:
            return False
        self.held = self.leases.renew_lease(
            self.name, self.holder, self.held.epoch, self.clock.now(), self.ttl
        )
        return self.held is not None

    def release(self) -> bool:
        """Give the lease up (on shutdown), so another process takes over at once."""
        if self.held is None:
            return False
        epoch, self.held = self.held.epoch, None
        return self.leases.release_lease(self.name, self.holder, epoch, self.clock.now())
