"""``InMemoryLeases``: the ``LeasePort`` in a dict, one lock making each call atomic.

The rules are ``service/leader.py``'s, as ``SqlLeases`` writes them in SQL; the contract
suite (``tests/contract/test_leases.py``) holds both to the same behaviour.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import TYPE_CHECKING

from clearance.service.leader import Lease, checked, released, renewed, taken
from clearance.service.ports import LeasePort
from clearance.testing.tables import utc


class InMemoryLeases:
    def __init__(self) -> None:
        self._leases: dict[str, Lease] = {}
        self._lock = threading.Lock()

    def acquire_lease(
        self, name: str, holder: str, now: dt.datetime, ttl: dt.timedelta
    ) -> Lease | None:
        checked(name, holder, ttl)
        with self._lock:
            lease = taken(self._leases.get(name), name=name, holder=holder, now=utc(now), ttl=ttl)
            return self._keep(name, lease)

    def renew_lease(
        self, name: str, holder: str, epoch: int, now: dt.datetime, ttl: dt.timedelta
    ) -> Lease | None:
        checked(name, holder, ttl)
        with self._lock:
            current = self._leases.get(name)
            lease = renewed(current, holder=holder, epoch=epoch, now=utc(now), ttl=ttl)
            return self._keep(name, lease)

    def release_lease(self, name: str, holder: str, epoch: int, now: dt.datetime) -> bool:
        checked(name, holder)
        with self._lock:
            lease = released(self._leases.get(name), holder=holder, epoch=epoch, now=utc(now))
            return self._keep(name, lease) is not None

    def get_lease(self, name: str) -> Lease | None:
        with self._lock:
            return self._leases.get(name)

    def _keep(self, name: str, lease: Lease | None) -> Lease | None:
        if lease is not None:
            self._leases[name] = lease
        return lease


if TYPE_CHECKING:  # mypy holds the fake to the port
    _port: LeasePort = InMemoryLeases()
