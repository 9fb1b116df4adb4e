"""Great Expectations validation results (GX Core 1.x; the 0.x field names are read too).

Two shapes: one validation result (``ExpectationSuiteValidationResult.to_json_dict()``:
``success``, ``statistics`` and ``results``, each with ``success`` and an
``expectation_config`` whose ``type`` (0.x: ``expectation_type``) and ``kwargs`` say what was
expected), and a checkpoint result (``CheckpointResult.describe_dict()``: its
``validation_results``, each with ``statistics`` and ``expectations``). Counts come from each
validation's ``statistics`` when stated, else from its results; a checkpoint's are summed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clearance.core.reports._common import (
    MAX_LISTED,
    ReportError,
    items,
    mapping,
    number,
    text,
)

_STATS = ("evaluated_expectations", "successful_expectations", "unsuccessful_expectations")


@dataclass(frozen=True)
class Validation:
    success: bool
    evaluated: int
    successful: int
    unsuccessful: int
    failed: tuple[dict[str, str], ...]  # {"type", "column"} of failed expectations (bounded)
    failed_types: tuple[str, ...]  # every failed expectation type, sorted, once each
    suites: tuple[str, ...]

    def metrics(self) -> dict[str, float]:
        out = {
            "success": 1.0 if self.success else 0.0,
            "evaluated_expectations": float(self.evaluated),
            "successful_expectations": float(self.successful),
            "unsuccessful_expectations": float(self.unsuccessful),
        }
        if self.evaluated:
            out["success_percent"] = 100.0 * self.successful / self.evaluated
        return out

    def notes(self) -> tuple[str, ...]:
        """The failed expectations: ``expect_... (column)``."""
        return tuple(
            f"{f['type']}" + (f" ({f['column']})" if f["column"] else "") for f in self.failed
        )

    def data(self) -> dict[str, Any]:
        return {
            "success": self.success,
            "suites": list(self.suites),
            "statistics": {k: v for k, v in self.metrics().items() if k != "success"},
            "failed_expectation_types": list(self.failed_types),
            "failed_expectations": [dict(f) for f in self.failed],
        }


def looks_like(doc: Any) -> bool:
    if not isinstance(doc, dict) or not isinstance(doc.get("success"), bool):
        return False
    return isinstance(doc.get("results"), list) or isinstance(doc.get("validation_results"), list)


def read(doc: Any) -> Validation:
    """The validation in a parsed GX result; ``ReportError`` when it is not one."""
    if not looks_like(doc):
        raise ReportError(
            "not a Great Expectations validation result (an object with 'success' and "
            "'results', or a checkpoint result with 'validation_results')"
        )
    if isinstance(doc.get("validation_results"), list):
        runs = [
            (mapping(v), f"validation_results[{i}]", "expectations")
            for i, v in enumerate(items(doc["validation_results"], "'validation_results'"))
        ]
    else:
        runs = [(doc, "", "results")]
    totals = dict.fromkeys(_STATS, 0)
    failed: list[dict[str, str]] = []
    types: set[str] = set()
    suites: list[str] = []
    for run, where, key in runs:
        results = items(run.get(key), f"{where or 'the result'}.{key}")
        counts = _counts(run, results, where)
        for stat in _STATS:
            totals[stat] += counts[stat]
        suite = run.get("suite_name") or mapping(run.get("meta")).get("expectation_suite_name")
        if isinstance(suite, str):
            suites.append(text(suite))
        for i, result in enumerate(results):
            if not isinstance(result, dict) or not isinstance(result.get("success"), bool):
                raise ReportError(f"{where}.{key}[{i}] has no boolean 'success'".lstrip("."))
            if result["success"]:
                continue
            config = mapping(result.get("expectation_config")) or result
            kind = text(config.get("type") or config.get("expectation_type"), "?")
            types.add(kind)
            if len(failed) < MAX_LISTED:
                failed.append(
                    {"type": kind, "column": text(mapping(config.get("kwargs")).get("column"))}
                )
    return Validation(
        bool(doc["success"]),
        totals["evaluated_expectations"],
        totals["successful_expectations"],
        totals["unsuccessful_expectations"],
        tuple(failed),
        tuple(sorted(types)),
        tuple(suites),
    )


def _counts(run: dict[str, Any], results: list[Any], where: str) -> dict[str, int]:
    stats = run.get("statistics")
    if not isinstance(stats, dict):
        ok = sum(1 for r in results if isinstance(r, dict) and r.get("success") is True)
        return {
            "evaluated_expectations": len(results),
            "successful_expectations": ok,
            "unsuccessful_expectations": len(results) - ok,
        }
    out = {}
    for stat in _STATS:
        value = number(stats.get(stat))
        if value is None or value < 0 or value != int(value) or value > 1 << 40:
            raise ReportError(f"{where + '.' if where else ''}statistics.{stat} is not a count")
        out[stat] = int(value)
    if (
        out["successful_expectations"] + out["unsuccessful_expectations"]
        != out["evaluated_expectations"]
    ):
        raise ReportError(
            f"{where + '.' if where else ''}statistics: successful + unsuccessful expectations "
            "differ from evaluated_expectations"
        )
    return out
