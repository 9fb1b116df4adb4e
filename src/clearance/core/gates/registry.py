"""Gate types by name, discovered through the ``clearance.gates`` entry-point group.

Built-in gates are registered exactly like third-party ones (in ``pyproject.toml``), so the
plugin path is the path every gate takes and is tested by every test.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any

from clearance.core.gates.base import GateType
from clearance.errors import NotFound

ENTRY_POINT_GROUP = "clearance.gates"


class GateRegistry:
    def __init__(self, types: dict[str, GateType] | None = None) -> None:
        self._types: dict[str, GateType] = dict(types or {})

    @classmethod
    def from_entry_points(cls) -> GateRegistry:
        registry = cls()
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            registry.register(ep.load(), name=ep.name)
        return registry

    def register(self, gate_type: Any, *, name: str | None = None) -> None:
        """Add a gate type (a class or an instance); its ``name`` is the policy's ``type``."""
        instance = gate_type() if isinstance(gate_type, type) else gate_type
        key = name or instance.name
        if key in self._types and type(self._types[key]) is not type(instance):
            raise ValueError(f"gate type '{key}' is registered twice")
        self._types[key] = instance

    def get(self, name: str) -> GateType:
        try:
            return self._types[name]
        except KeyError:
            raise NotFound(
                f"unknown gate type '{name}'; known types: {', '.join(self.names())}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._types)

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def __iter__(self) -> Iterator[tuple[str, GateType]]:
        return iter(sorted(self._types.items()))

    def copy(self) -> GateRegistry:
        return GateRegistry(self._types)


@lru_cache(maxsize=1)
def default_registry() -> GateRegistry:
    """The installed gate types (cached: entry points are read once per process)."""
    return GateRegistry.from_entry_points()
