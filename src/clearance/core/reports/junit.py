"""JUnit XML test results: pytest ``--junitxml``, Maven Surefire, Gradle, jest-junit, ...

The format has no single standard; every producer writes a ``<testsuites>`` root (or a lone
``<testsuite>``) holding ``<testsuite>`` elements (nested ones too) whose ``<testcase>``
children carry at most one outcome element: ``<failure>``, ``<error>`` or ``<skipped>``
(none: passed). A test case is classified by its worst outcome (error, then failure, then
skipped), so a test that failed and then errored in teardown counts once, as an error.
When a file has suites but no test cases (some tools write totals only), the innermost
suites' ``tests``/``failures``/``errors``/``skipped`` attributes are summed instead.

Read with ``defusedxml`` (no DTD, no entities, no external references), with at most
:data:`MAX_ELEMENTS` elements.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException  # type: ignore[import-untyped]
from defusedxml.ElementTree import fromstring  # type: ignore[import-untyped]

from clearance.core.reports._common import MAX_LISTED, ReportError, check_size, text

MAX_ELEMENTS = 1_000_000
STATUSES = ("passed", "failure", "error", "skipped")


@dataclass(frozen=True)
class TestCase:
    name: str
    classname: str
    status: str  # passed, failure, error, skipped
    message: str


@dataclass(frozen=True)
class JUnit:
    """Counts over every test case, and the cases that did not pass (at most ``MAX_LISTED``)."""

    suites: int
    tests: int
    failures: int
    errors: int
    skipped: int
    time: float | None
    not_passed: tuple[TestCase, ...]

    @property
    def passed(self) -> int:
        return self.tests - self.failures - self.errors - self.skipped

    def metrics(self) -> dict[str, float]:
        ran = self.tests - self.skipped
        out = {
            "tests": float(self.tests),
            "passed": float(self.passed),
            "failures": float(self.failures),
            "errors": float(self.errors),
            "skipped": float(self.skipped),
            "failed": float(self.failures + self.errors),
        }
        if ran > 0:
            out["pass_rate"] = self.passed / ran
        if self.time is not None:
            out["time_seconds"] = self.time
        return out

    def notes(self) -> tuple[str, ...]:
        """The failed and erroring tests: ``classname::name failure: message``."""
        return tuple(
            f"{c.classname + '::' if c.classname else ''}{c.name} {c.status}"
            + (f": {c.message[:200]}" if c.message else "")
            for c in self.not_passed
            if c.status in ("failure", "error")
        )

    def data(self) -> dict[str, Any]:
        return {
            "suites": self.suites,
            "counts": {k: int(v) for k, v in self.metrics().items() if k not in _FLOATS},
            "time_seconds": self.time,
            "not_passed": [
                {"name": c.name, "classname": c.classname, "status": c.status, "message": c.message}
                for c in self.not_passed
            ],
        }


_FLOATS = {"pass_rate", "time_seconds"}


def parse(data: bytes) -> JUnit:
    """A JUnit XML file's results; ``ReportError`` when it is not one."""
    check_size(data)
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise ReportError(f"XML refused: {exc}") from None
    except ParseError as exc:
        raise ReportError(f"not well-formed XML (JUnit XML expected): {exc}") from None
    except ValueError as exc:  # e.g. a declared encoding Python does not know
        raise ReportError(f"not readable XML (JUnit XML expected): {exc}") from None
    for count, _ in enumerate(root.iter(), 1):
        if count > MAX_ELEMENTS:
            raise ReportError(f"more than {MAX_ELEMENTS:,} XML elements")
    tag = _local(root.tag)
    if tag not in ("testsuites", "testsuite"):
        raise ReportError(
            f"the root element is <{tag[:80]}>, not JUnit's <testsuites> or <testsuite>"
        )
    suites = [e for e in root.iter() if _local(e.tag) == "testsuite"]
    cases = [e for e in root.iter() if _local(e.tag) == "testcase"]
    if not cases:
        return _from_attributes(root, suites)
    counts = dict.fromkeys(STATUSES, 0)
    listed: list[TestCase] = []
    for case in cases:
        status, message = _outcome(case)
        counts[status] += 1
        if status != "passed" and len(listed) < MAX_LISTED:
            listed.append(
                TestCase(text(case.get("name")), text(case.get("classname")), status, message)
            )
    return JUnit(
        len(suites),
        len(cases),
        counts["failure"],
        counts["error"],
        counts["skipped"],
        _time(root, suites),
        tuple(listed),
    )


def _local(tag: Any) -> str:
    """An element's name without its namespace (``{uri}testcase`` -> ``testcase``)."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _outcome(case: Element) -> tuple[str, str]:
    found: dict[str, Element] = {}
    for child in case:
        kind = _local(child.tag)
        if kind in ("failure", "error", "skipped") and kind not in found:
            found[kind] = child
    for kind in ("error", "failure", "skipped"):
        if kind in found:
            element = found[kind]
            message = element.get("message") or (element.text or "").strip()
            return kind, text(message.splitlines()[0] if message else "")
    return "passed", ""


def _count(element: Element, attribute: str) -> int:
    raw = element.get(attribute)
    if raw is None or raw.strip() == "":
        return 0
    try:
        value = int(raw.strip())
    except ValueError:
        raise ReportError(
            f"<{_local(element.tag)}> attribute {attribute}={text(raw)[:40]!r} is not a count"
        ) from None
    if not 0 <= value <= 1 << 40:
        raise ReportError(f"<{_local(element.tag)}> attribute {attribute}={value} is not a count")
    return value


def _from_attributes(root: Element, suites: list[Element]) -> JUnit:
    """Totals from the innermost suites' attributes, for files that list no test cases."""
    inner = [s for s in suites if not any(_local(c.tag) == "testsuite" for c in s)]
    holders = inner or [root]
    totals = {
        a: sum(_count(s, a) for s in holders) for a in ("tests", "failures", "errors", "skipped")
    }
    if totals["failures"] + totals["errors"] + totals["skipped"] > totals["tests"]:
        raise ReportError(
            "the suites count more failures, errors and skipped tests than tests "
            f"({totals['failures']} + {totals['errors']} + {totals['skipped']} > {totals['tests']})"
        )
    return JUnit(
        len(suites),
        totals["tests"],
        totals["failures"],
        totals["errors"],
        totals["skipped"],
        _time(root, suites),
        (),
    )


def _time(root: Element, suites: list[Element]) -> float | None:
    """The root's ``time``, else the sum of the outermost suites' (None when not stated)."""
    if root.get("time") is not None:
        return _seconds(root.get("time"))
    outer = [s for s in suites if s is root] or [s for s in root if _local(s.tag) == "testsuite"]
    times = [_seconds(s.get("time")) for s in outer]
    if not times or any(t is None for t in times):
        return None
    return sum(t for t in times if t is not None)


def _seconds(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw.strip().replace(",", ""))
    except ValueError:
        return None
    return value if 0 <= value < 1e12 else None
