"""``licenses``: every component of the SBOM is under licenses the policy accepts.

Reads a CycloneDX JSON SBOM (``cyclonedx-py environment``, ``pip-audit -f cyclonedx-json``,
...): each component's ``licenses`` entries, either ``{"license": {"id": ...}}`` or
``{"expression": ...}``; several entries must all be met (``AND``). A ``license.name``
alone (free text such as a trove classifier) identifies nothing: the component is
*unidentified*, which fails unless ``unidentified: pass``, or unless ``overrides`` states its
license after a review. Expressions are SPDX ones (:mod:`clearance.core.spdx`).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, Field, model_validator

from clearance.core.gates._evidence_json import in_report, named, read_json
from clearance.core.gates.base import (
    GateContext,
    GateParams,
    GateProblem,
    Measurement,
    reports_problems,
)
from clearance.core.reports import cyclonedx
from clearance.core.results import GateStatus
from clearance.core.spdx import (
    Expression,
    LicenseRules,
    SpdxError,
    all_of,
    check_license_entry,
    licenses,
    parse,
)

MiB = 1 << 20
_UNSTATED = {"NOASSERTION", "NONE"}


def _expression(value: str) -> str:
    parse(value)  # SpdxError is a ValueError: reported at the entry's line
    return value


class LicensesParams(GateParams):
    sbom: str = Field(description="Evidence: a CycloneDX JSON SBOM.")
    allow: list[Annotated[str, AfterValidator(check_license_entry)]] = Field(
        default_factory=list,
        description="SPDX ids (or 'X WITH E') accepted; empty: all not denied.",
    )
    deny: list[Annotated[str, AfterValidator(check_license_entry)]] = Field(
        default_factory=list, description="SPDX ids (or 'X WITH E') never accepted."
    )
    overrides: dict[str, Annotated[str, AfterValidator(_expression)]] = Field(
        default_factory=dict, description="Component name -> reviewed SPDX expression."
    )
    unidentified: Literal["fail", "pass"] = "fail"
    max_bytes: int = Field(default=64 * MiB, ge=1, le=4096 * MiB)

    @model_validator(mode="after")
    def _lists(self) -> LicensesParams:
        if not self.allow and not self.deny:
            raise ValueError("give allow, deny or both (SPDX license ids)")
        return self


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


class Licenses:
    name: ClassVar[str] = "licenses"
    summary: ClassVar[str] = "Every SBOM component's SPDX license expression is allowed."
    Params: ClassVar[type[GateParams]] = LicensesParams

    @reports_problems
    def evaluate(self, params: LicensesParams, ctx: GateContext) -> Measurement:
        doc, sha = read_json(ctx, params.sbom, params.max_bytes, "a CycloneDX JSON SBOM")
        if not cyclonedx.looks_like(doc):
            raise GateProblem(f"{named(ctx, params.sbom)} is not a CycloneDX JSON SBOM")
        bom = in_report(ctx, params.sbom, cyclonedx.read, doc)
        rules = LicenseRules.of(params.allow, params.deny)
        overrides = {_key(k): parse(v) for k, v in params.overrides.items()}
        components = bom.components
        rejected: list[dict[str, Any]] = []
        used: dict[str, int] = {}
        for comp in components:
            name, version = comp.name, comp.version or ""
            expression, problem = _license_of(comp, overrides.get(_key(name)))
            if expression is None:
                if problem or params.unidentified == "fail":
                    rejected.append(
                        _row(name, version, None, problem or "no SPDX license id or expression")
                    )
                continue
            text = str(expression)
            taken = rules.choice(expression)
            if taken is None:
                rejected.append(_row(name, version, text, _why(expression, rules)))
            else:
                for lic in taken:
                    used[str(lic)] = used.get(str(lic), 0) + 1
        details: dict[str, Any] = {
            "components": len(components),
            "rejected": rejected[:1000],
            "licenses": dict(sorted(used.items())),
            "allow": list(params.allow),
            "deny": list(params.deny),
        }
        common: dict[str, Any] = {
            "observed": len(rejected),
            "threshold": 0,
            "operator": "<=",
            "details": details,
            "evidence": {params.sbom: sha},
        }
        if not components:
            return Measurement.error(f"SBOM '{params.sbom}' lists no components", **common)
        if rejected:
            details["remediation"] = (
                "replace the components, or, after a legal review, allow their licenses or "
                "state the license of an unidentified component in overrides"
            )
            shown = "; ".join(
                f"{r['component']} {r['version']}: {r['license'] or '?'} ({r['reason']})"
                for r in rejected[:5]
            )
            more = f" and {len(rejected) - 5} more" if len(rejected) > 5 else ""
            return Measurement(
                GateStatus.FAIL,
                f"{len(rejected)} of {len(components)} components not accepted: {shown}{more}",
                **common,
            )
        return Measurement(
            GateStatus.PASS,
            f"{len(components)} components, all under accepted licenses",
            **common,
        )


def _license_of(
    comp: cyclonedx.Component, override: Expression | None
) -> tuple[Expression | None, str]:
    """The component's expression (several entries: all of them), or None and why."""
    if override is not None:
        return override, ""
    terms: list[Expression] = []
    for entry in comp.licenses:
        text = entry.expression if entry.expression is not None else entry.id
        if text is None or text.strip().upper() in _UNSTATED:
            continue
        try:
            terms.append(parse(text))
        except SpdxError as exc:
            return None, f"license expression {text[:80]!r} does not parse: {exc}"
    if not terms:
        return None, ""
    return all_of(terms), ""


def _row(name: str, version: str, license: str | None, reason: str) -> dict[str, Any]:
    return {"component": name, "version": version, "license": license, "reason": reason}


def _why(expression: Expression, rules: LicenseRules) -> str:
    bad = [str(lic) for lic in licenses(expression) if not rules.accepts_license(lic)]
    denied = [b for b in bad if b.upper() in rules.deny or b.upper().rstrip("+") in rules.deny]
    if denied:
        return "denied: " + ", ".join(dict.fromkeys(denied))
    return "not allowed: " + ", ".join(dict.fromkeys(bad))
