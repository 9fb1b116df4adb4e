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


def test_threads_naming_a_type_while_it_loads_all_get_it() -> None:
    """The server's threads share one registry; one of them loading a type hides it from none."""
    import threading
    import time

    from clearance.core.gates.metric_threshold import MetricThreshold

    loads = 0

    def slow_load() -> type[MetricThreshold]:
        nonlocal loads
        loads += 1
        time.sleep(0.05)  # an import that releases the GIL, as a module's first import does
        return MetricThreshold

    registry = GateRegistry()
    registry._pending["metric_threshold"] = ("clearance.core.gates.metric_threshold", slow_load)
    found: list[str] = []
    failed: list[BaseException] = []

    def name_it() -> None:
        try:
            found.append(registry.get("metric_threshold").name)
        except BaseException as exc:  # collected: a thread's failure fails the test
            failed.append(exc)

    threads = [threading.Thread(target=name_it) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failed == []
    assert found == ["metric_threshold"] * 8
    assert loads == 1
