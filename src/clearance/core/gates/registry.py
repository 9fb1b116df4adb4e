"""Gate types by name, discovered through the ``clearance.gates`` entry-point group.

Built-in gates are registered exactly like third-party ones (in ``pyproject.toml``), so the
plugin path is the path every gate takes and is tested by every test. A type's module is
imported when a policy first names it: a command that reads one policy does not pay for the
statistics stack of gates the policy does not use.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any

from clearance.core.gates.base import GateType
from clearance.errors import NotFound

ENTRY_POINT_GROUP = "clearance.gates"


class GateRegistry:
    def __init__(self, types: dict[str, GateType] | None = None) -> None:
        self._types: dict[str, GateType] = dict(types or {})
        self._pending: dict[str, tuple[str, Callable[[], Any]]] = {}  # name -> (target, load)
        # The server's threads share one registry: a type stays pending until it is
        # registered, and one thread loads it while the others wait for it.
        self._loading = threading.Lock()

    @classmethod
    def from_entry_points(cls) -> GateRegistry:
        registry = cls()
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            known = registry._pending.get(ep.name)
            if known is not None and known[0] != ep.value:
                raise ValueError(f"gate type '{ep.name}' is registered twice")
            registry._pending[ep.name] = (ep.value, ep.load)
        return registry

    def register(self, gate_type: Any, *, name: str | None = None) -> None:
        """Add a gate type (a class or an instance); its ``name`` is the policy's ``type``."""
        instance = gate_type() if isinstance(gate_type, type) else gate_type
        key = name or instance.name
        if key in self._types and type(self._types[key]) is not type(instance):
            raise ValueError(f"gate type '{key}' is registered twice")
        self._types[key] = instance

    def get(self, name: str) -> GateType:
        if name not in self._types and name in self._pending:
            with self._loading:
                pending = self._pending.get(name)
                if pending is not None:
                    self.register(pending[1](), name=name)
                    del self._pending[name]
        try:
            return self._types[name]
        except KeyError:
            raise NotFound(
                f"unknown gate type '{name}'; known types: {', '.join(self.names())}"
            ) from None

    def names(self) -> list[str]:
        return sorted({*self._types, *self._pending})

    def __contains__(self, name: object) -> bool:
        return name in self._types or name in self._pending

    def __iter__(self) -> Iterator[tuple[str, GateType]]:
        return iter([(name, self.get(name)) for name in self.names()])

    def copy(self) -> GateRegistry:
        copied = GateRegistry(self._types)
        copied._pending = dict(self._pending)
        return copied


@lru_cache(maxsize=1)
def default_registry() -> GateRegistry:
    """The installed gate types (cached: entry points are read once per process)."""
    return GateRegistry.from_entry_points()
