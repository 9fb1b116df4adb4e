"""The gate registry imports a gate type's module only when a policy names the type."""

from __future__ import annotations

import json
import subprocess
import sys

from clearance.core.gates.registry import GateRegistry

PROBE = """
import json, sys
from clearance.core.gates.registry import GateRegistry
registry = GateRegistry.from_entry_points()
names = registry.names()
registry.get("metric_threshold")
loaded = sorted(m for m in sys.modules if m.startswith("clearance.core.gates."))
print(json.dumps({"names": names, "loaded": loaded}))
"""


def test_naming_one_type_imports_that_type_only() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    found = json.loads(done.stdout)
    assert {"metric_threshold", "drift", "fairness", "latency"} <= set(found["names"])
    assert "clearance.core.gates.metric_threshold" in found["loaded"]
    for heavy in ("drift", "fairness", "latency", "data_quality"):
        assert f"clearance.core.gates.{heavy}" not in found["loaded"]


def test_every_installed_type_loads_and_iterates_in_name_order() -> None:
    registry = GateRegistry.from_entry_points()
    listed = list(registry)
    assert [name for name, _ in listed] == registry.names()
    assert all(gate.name == name for name, gate in listed)
    assert "drift" in registry and "no_such_gate" not in registry


def test_a_copy_keeps_the_types_not_yet_loaded() -> None:
    registry = GateRegistry.from_entry_points()
    copied = registry.copy()
    assert copied.names() == registry.names()
    assert copied.get("drift").name == "drift"
