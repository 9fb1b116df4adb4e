"""Evidently reports and test suites: test statuses and metric values.

Evidently 0.7 (``Snapshot.save_json`` / ``Snapshot.json()`` of a ``Report``): ``metrics``, each
with a ``metric_name`` (``MissingValueCount(column=utilization)``) and a ``value`` (a number,
or an object of numbers such as ``{"count", "share"}``), and ``tests``, each with a ``name``
and a ``status`` (``SUCCESS``, ``FAIL``, ``WARNING``, ``ERROR``). The legacy (0.4-0.6)
``TestSuite`` and ``Report`` JSON is read too: ``tests[].status``, and ``metrics[]`` with
``metric`` and ``result``.

Metric values become numbers named ``<metric_name>`` or ``<metric_name>.<key>`` (one level
of nesting; lists are not read).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clearance.core.reports._common import MAX_LISTED, ReportError, items, number, text

STATUSES = ("SUCCESS", "FAIL", "WARNING", "ERROR", "SKIPPED")
_COUNT = {
    "SUCCESS": "tests_passed",
    "FAIL": "tests_failed",
    "WARNING": "tests_warning",
    "ERROR": "tests_error",
    "SKIPPED": "tests_skipped",
}
MAX_VALUES = 100_000


@dataclass(frozen=True)
class Evidently:
    counts: dict[str, int]  # tests_passed, tests_failed, ... (every status)
    statuses: tuple[dict[str, str], ...]  # {"name", "status"} of each test, bounded
    not_passed: tuple[dict[str, str], ...]  # {"name", "status", "description"}, bounded
    values: dict[str, float]  # metric values by name

    def metrics(self) -> dict[str, float]:
        out = dict(self.values)
        out["tests"] = float(sum(self.counts.values()))
        out.update({k: float(v) for k, v in self.counts.items()})
        return out

    def notes(self) -> tuple[str, ...]:
        """The tests that did not pass: ``FAIL: name``."""
        return tuple(f"{t['status']}: {t['name']}" for t in self.not_passed)

    def data(self) -> dict[str, Any]:
        return {
            "tests": {"total": sum(self.counts.values()), **self.counts},
            "statuses": [dict(t) for t in self.statuses],
            "not_passed": [dict(t) for t in self.not_passed],
            "metrics": len(self.values),
        }


def looks_like(doc: Any) -> bool:
    if not isinstance(doc, dict):
        return False
    tests, metrics = doc.get("tests"), doc.get("metrics")
    if not isinstance(tests, list) and not isinstance(metrics, list):
        return False
    first_test = tests[0] if isinstance(tests, list) and tests else None
    first_metric = metrics[0] if isinstance(metrics, list) and metrics else None
    return (
        (isinstance(first_test, dict) and "status" in first_test)
        or (
            isinstance(first_metric, dict)
            and ("metric_name" in first_metric or "metric" in first_metric)
        )
        or (tests == [] and isinstance(metrics, list))
    )


def read(doc: Any) -> Evidently:
    """Tests and metric values of parsed Evidently JSON; ``ReportError`` when it is not that."""
    if not looks_like(doc):
        raise ReportError("not an Evidently report or test suite ('metrics' and/or 'tests' lists)")
    counts = dict.fromkeys(_COUNT.values(), 0)
    statuses: list[dict[str, str]] = []
    not_passed: list[dict[str, str]] = []
    for i, test in enumerate(items(doc.get("tests"), "'tests'")):
        raw = test.get("status") if isinstance(test, dict) else None
        status = raw.upper() if isinstance(raw, str) else ""
        key = _COUNT.get(status)
        if key is None:
            raise ReportError(
                f"tests[{i}] has no status of {', '.join(STATUSES)} (got {text(raw)[:40]!r})"
            )
        counts[key] += 1
        if len(statuses) < MAX_LISTED:
            statuses.append({"name": text(test.get("name")), "status": status})
        if key != "tests_passed" and len(not_passed) < MAX_LISTED:
            not_passed.append(
                {
                    "name": text(test.get("name")),
                    "status": status,
                    "description": text(test.get("description")),
                }
            )
    values: dict[str, float] = {}
    for i, metric in enumerate(items(doc.get("metrics"), "'metrics'")):
        if not isinstance(metric, dict):
            raise ReportError(f"metrics[{i}] is not an object")
        name = metric.get("metric_name", metric.get("metric"))
        if not isinstance(name, str) or not name:
            raise ReportError(f"metrics[{i}] has no 'metric_name'")
        _values(values, text(name), metric.get("value", metric.get("result")))
    return Evidently(counts, tuple(statuses), tuple(not_passed), values)


def _values(out: dict[str, float], name: str, value: Any) -> None:
    """``name`` -> the value when a number; ``name.key`` for an object's number members."""
    pairs = [(name, value)]
    if isinstance(value, dict):
        pairs = [(f"{name}.{text(k)}", v) for k, v in list(value.items())[:1000]]
    for key, v in pairs:
        x = number(v) if not isinstance(v, str) else None
        if x is not None and key not in out:
            if len(out) >= MAX_VALUES:
                raise ReportError(f"more than {MAX_VALUES:,} metric values")
            out[key] = x
