"""``vulnerabilities``: known vulnerabilities of the environment, within limits per severity.

Input, one evidence item: **pip-audit JSON** (``pip-audit -f json``: ``{"dependencies":
[{"name", "version", "vulns": [{"id", "fix_versions", "aliases"?}]}], "fixes": [...]}``, or
the older bare list) or a **CycloneDX JSON SBOM** (``components`` with package URLs, and any
``vulnerabilities`` it carries). With ``advisories:``, an OSV file read offline
(:mod:`clearance.core.osv`), every package is also checked against it, and severities come
from it; a vulnerability the file does not describe has ``unknown_severity``.

``ignore`` entries need an id, a reason and an expiry date; one applies while the
evaluation's clock (``GateContext.now``: ``--now`` or the decision's time) is on or before
its expiry, then the vulnerability counts again, and the result lists the expired entry.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from clearance.core.gates._evidence_json import in_report, named, read_json
from clearance.core.gates.base import (
    GateContext,
    GateParams,
    GateProblem,
    Measurement,
    reports_problems,
)
from clearance.core.osv import (
    SEVERITIES,
    Advisory,
    AdvisoryError,
    Severity,
    matches,
    normalize,
    purl_package,
    read_advisories,
)
from clearance.core.reports import cyclonedx, pip_audit
from clearance.core.results import GateStatus

MiB = 1 << 20


def _text(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


Text = Annotated[str, AfterValidator(_text)]


class Ignore(BaseModel):
    """A reviewed exception: this vulnerability does not count until ``expires``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: Text = Field(description="Advisory id or alias (GHSA-..., PYSEC-..., CVE-...).")
    reason: Text = Field(description="Why it does not apply, for the reviewer and the audit.")
    expires: dt.date = Field(description="Last day the ignore applies.")
    package: str | None = Field(default=None, description="Only for this package.")


def _default_limits() -> dict[Severity, int]:
    return {"critical": 0, "high": 0}


class VulnerabilitiesParams(GateParams):
    report: str = Field(description="Evidence: pip-audit JSON or a CycloneDX JSON SBOM.")
    advisories: str | None = Field(
        default=None, description="Evidence: an OSV advisory file (JSON) to check packages against."
    )
    max_findings: dict[Severity, Annotated[int, Field(ge=0)]] = Field(
        default_factory=_default_limits,
        description="Most vulnerabilities allowed per severity; severities not listed: no limit.",
    )
    unknown_severity: Severity = Field(
        default="high", description="Severity of a vulnerability no advisory rates."
    )
    ignore: list[Ignore] = Field(default_factory=list)
    max_bytes: int = Field(default=64 * MiB, ge=1, le=4096 * MiB)

    @model_validator(mode="after")
    def _limits(self) -> VulnerabilitiesParams:
        if not self.max_findings:
            raise ValueError("max_findings needs at least one severity (e.g. {high: 0})")
        return self


@dataclass
class Package:
    ecosystem: str
    name: str
    version: str | None
    ref: str = ""


@dataclass
class Finding:
    id: str
    aliases: set[str]
    package: str
    version: str
    severity: Severity | None = None
    fixed: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def names(self) -> set[str]:
        return {self.id.upper(), *(a.upper() for a in self.aliases)}


class Vulnerabilities:
    name: ClassVar[str] = "vulnerabilities"
    summary: ClassVar[str] = "Known vulnerabilities per severity within limits; ignores expire."
    Params: ClassVar[type[GateParams]] = VulnerabilitiesParams

    @reports_problems
    def evaluate(self, params: VulnerabilitiesParams, ctx: GateContext) -> Measurement:
        report, report_sha = read_json(
            ctx, params.report, params.max_bytes, "a pip-audit or CycloneDX report"
        )
        evidence = {params.report: report_sha}
        packages, reported, kind = _read_report(ctx, report, params.report)
        advisories: list[Advisory] = []
        if params.advisories is not None:
            data, sha = read_json(ctx, params.advisories, params.max_bytes, "an OSV advisory file")
            evidence[params.advisories] = sha
            try:
                advisories = read_advisories(data)
            except AdvisoryError as exc:
                raise GateProblem(f"evidence '{params.advisories}': {exc}") from None
        elif kind == "CycloneDX" and not reported:
            raise GateProblem(
                f"evidence '{params.report}' is an SBOM without vulnerabilities: name an OSV "
                "advisory file in advisories: to check its packages against",
                ["advisories"],
            )
        findings = _findings(packages, reported, advisories, params.unknown_severity)
        label = named(ctx, params.report)
        return _judge(findings, packages, params, ctx.now.date(), kind, evidence, label)


def _read_report(
    ctx: GateContext, data: Any, name: str
) -> tuple[list[Package], list[Finding], str]:
    if cyclonedx.looks_like(data):
        return _cyclonedx(in_report(ctx, name, cyclonedx.read, data))
    if pip_audit.looks_like(data):
        return _pip_audit(in_report(ctx, name, pip_audit.read, data))
    raise GateProblem(
        f"{named(ctx, name)} is neither pip-audit JSON (pip-audit -f json) nor a CycloneDX "
        "JSON SBOM (bomFormat: CycloneDX)"
    )


def _pip_audit(audit: pip_audit.Audit) -> tuple[list[Package], list[Finding], str]:
    packages, found = [], []
    for dep in audit.dependencies:
        packages.append(Package("PyPI", dep.name, dep.version))
        if dep.version is None:  # skipped: listed as unaudited, never as clean
            continue
        for vuln in dep.vulns:
            found.append(
                Finding(
                    vuln.id,
                    set(vuln.aliases),
                    normalize("PyPI", dep.name),
                    dep.version,
                    fixed=list(vuln.fix_versions),
                )
            )
    return packages, found, "pip-audit"


_RATINGS: dict[str, Severity | None] = {
    "critical": "critical",
    "high": "high",
    "medium": "medium",
    "low": "low",
    "info": "low",
    "none": None,
    "unknown": None,
}


def _cyclonedx(bom: cyclonedx.Bom) -> tuple[list[Package], list[Finding], str]:
    packages: list[Package] = []
    by_ref: dict[str, Package] = {}
    for comp in bom.components:
        parsed = purl_package(comp.purl)
        if parsed is None:
            continue
        ecosystem, name, version = parsed
        pkg = Package(ecosystem, name, version or comp.version, comp.bom_ref)
        packages.append(pkg)
        by_ref[pkg.ref] = pkg
    found: list[Finding] = []
    for vuln in bom.vulnerabilities or ():
        rated = [_RATINGS.get(r) for r in vuln.severities]
        severity = max((r for r in rated if r), key=SEVERITIES.index, default=None)
        for ref in vuln.affects:
            hit = by_ref.get(ref)
            if hit is not None and hit.version is not None:
                found.append(
                    Finding(
                        vuln.id,
                        set(vuln.references),
                        normalize(hit.ecosystem, hit.name),
                        hit.version,
                        severity,
                    )
                )
    return packages, found, "CycloneDX"


def _findings(
    packages: list[Package], reported: list[Finding], advisories: list[Advisory], unknown: Severity
) -> list[Finding]:
    """The report's own findings, then the advisory file's matches not already among them;
    severities from the advisory file where the report has none."""
    found = list(reported)
    by_name = {n: a for a in advisories for n in a.names}
    for f in found:
        advisory = next((by_name[n] for n in f.names if n in by_name), None)
        if advisory is not None:
            f.aliases |= set(advisory.aliases) | {advisory.id}
            if f.severity is None:
                f.severity = next(
                    (a.severity for a in advisory.affected if a.name == f.package and a.severity),
                    None,
                ) or next((a.severity for a in advisory.affected if a.severity), None)
    for pkg in packages:
        if pkg.version is None:
            continue
        key = normalize(pkg.ecosystem, pkg.name)
        for m in matches(advisories, pkg.ecosystem, pkg.name, pkg.version):
            known = [f for f in found if f.package == key and f.names & m.advisory.names]
            if known:
                continue
            found.append(
                Finding(
                    m.advisory.id,
                    set(m.advisory.aliases),
                    key,
                    pkg.version,
                    m.severity,
                    m.fixed,
                    m.note,
                )
            )
    for f in found:
        if f.severity is None:
            f.severity = unknown
            f.note = f.note or "severity unknown: rated as unknown_severity"
    return found


def _judge(
    findings: list[Finding],
    packages: list[Package],
    params: VulnerabilitiesParams,
    today: dt.date,
    kind: str,
    evidence: dict[str, str],
    label: str,
) -> Measurement:
    counted, ignored, expired = [], [], []
    used: set[int] = set()
    for f in findings:
        rule = next(
            (
                (i, ig)
                for i, ig in enumerate(params.ignore)
                if ig.id.upper() in f.names
                and (ig.package is None or normalize("PyPI", ig.package) == f.package)
            ),
            None,
        )
        if rule is None:
            counted.append(f)
            continue
        used.add(rule[0])
        entry = {
            "id": f.id,
            "package": f.package,
            "reason": rule[1].reason,
            "expires": rule[1].expires.isoformat(),
        }
        if today <= rule[1].expires:
            ignored.append(entry)
        else:
            expired.append(entry)
            counted.append(f)
    counts = {s: sum(1 for f in counted if f.severity == s) for s in SEVERITIES}
    limits = params.max_findings
    breaches = [s for s in reversed(SEVERITIES) if s in limits and counts[s] > limits[s]]
    decided = (  # the worst breach, else the severity nearest its limit (most findings on a tie)
        breaches[0]
        if breaches
        else min(limits, key=lambda s: (limits[s] - counts[s], -counts[s], -SEVERITIES.index(s)))
    )
    unaudited = [p.name for p in packages if p.version is None]
    details: dict[str, Any] = {
        "report": kind,
        "packages": len(packages),
        "counts": counts,
        "limits": dict(limits),
        "decided_by": decided,
        "findings": [_finding(f) for f in sorted(counted, key=_order)][:1000],
        "ignored": ignored,
        "expired_ignores": expired,
        "unused_ignores": [ig.id for i, ig in enumerate(params.ignore) if i not in used],
        "unaudited": unaudited,
    }
    common: dict[str, Any] = {
        "observed": counts[decided],
        "threshold": limits[decided],
        "operator": "<=",
        "margin": float(limits[decided] - counts[decided]),
        "details": details,
        "evidence": evidence,
    }
    if packages and len(unaudited) == len(packages):
        return Measurement.error(
            f"{label}: the {kind} report audited no package ({len(packages)} skipped: "
            f"{'; '.join(unaudited[:3])}...); run it where the vulnerability service is "
            "reachable, or give an SBOM and an OSV advisory file",
            **common,
        )
    summary = ", ".join(f"{counts[s]} {s}" for s in reversed(SEVERITIES) if counts[s])
    summary = summary or "no vulnerability"
    if expired:
        summary += f"; {len(expired)} ignore(s) expired: " + ", ".join(
            f"{e['id']} ({e['expires']})" for e in expired[:3]
        )
    if breaches:
        worst = [f for f in sorted(counted, key=_order) if f.severity in breaches]
        named = "; ".join(_line(f) for f in worst[:5])
        details["remediation"] = (
            "upgrade the packages to a fixed version, or, if a vulnerability does not apply, "
            "add an ignore entry with its id, a reason and an expiry date"
        )
        over = ", ".join(f"{counts[s]} {s} > {limits[s]}" for s in breaches)
        return Measurement(GateStatus.FAIL, f"{over}: {named} ({summary})", **common)
    return Measurement(
        GateStatus.PASS, f"{summary} in {len(packages)} packages, within limits", **common
    )


def _order(f: Finding) -> tuple[int, str, str]:
    return (-SEVERITIES.index(f.severity or "low"), f.package, f.id)


def _line(f: Finding) -> str:
    fix = f"fixed in {', '.join(f.fixed[:3])}" if f.fixed else "no fix listed"
    return f"{f.package} {f.version} {f.id} ({f.severity}, {fix})"


def _finding(f: Finding) -> dict[str, Any]:
    return {
        "id": f.id,
        "aliases": sorted(f.aliases - {f.id}),
        "package": f.package,
        "version": f.version,
        "severity": f.severity,
        "fixed": f.fixed,
        "note": f.note,
    }
