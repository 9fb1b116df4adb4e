"""CycloneDX JSON SBOMs and ML-BOMs: components, their licenses, vulnerabilities, model cards.

CycloneDX 1.4-1.6 JSON (``bomFormat: "CycloneDX"``): ``components`` (nested ones too, depth
first, at most :data:`MAX_DEPTH` deep) with ``name``, ``version``, ``purl``, ``bom-ref`` and
``licenses`` (each ``{"license": {"id" | "name"}}`` or ``{"expression"}``); the optional
``vulnerabilities`` (``id``, ``ratings[].severity``, ``references[].id``, ``affects[].ref``);
and, for ML-BOMs (1.5+), the ``modelCard`` of the model component (``metadata.component`` or
a component of type ``machine-learning-model``): ``modelParameters``,
``quantitativeAnalysis.performanceMetrics`` and ``considerations``. The XML form is not read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clearance.core.reports._common import (
    MAX_ITEMS,
    MAX_LISTED,
    ReportError,
    items,
    mapping,
    number,
    text,
)

MAX_DEPTH = 32
MAX_CARDS = 10  # model cards kept: the subject's (metadata.component) first
_CONSIDERATIONS = {  # CycloneDX field -> normalized name; each a list of text
    "users": "users",
    "useCases": "use_cases",
    "technicalLimitations": "technical_limitations",
    "performanceTradeoffs": "performance_tradeoffs",
}


@dataclass(frozen=True)
class License:
    """One ``licenses`` entry: an SPDX ``expression``, a license ``id``, or a free-text ``name``."""

    expression: str | None = None
    id: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class Component:
    type: str
    name: str
    version: str | None
    purl: str
    bom_ref: str
    licenses: tuple[License, ...]


@dataclass(frozen=True)
class Vulnerability:
    id: str
    severities: tuple[str, ...]  # ratings[].severity as written, lower case
    references: tuple[str, ...]  # ids of references (aliases: CVE-..., GHSA-...)
    affects: tuple[str, ...]  # bom-refs of affected components


@dataclass(frozen=True)
class Bom:
    spec_version: str
    components: tuple[Component, ...]
    vulnerabilities: tuple[Vulnerability, ...] | None  # None: the SBOM carries no section
    model_cards: tuple[dict[str, Any], ...]  # normalized, the subject's first

    def metrics(self) -> dict[str, float]:
        out = {
            "components": float(len(self.components)),
            "components_without_license": float(
                sum(
                    1
                    for c in self.components
                    if not any(lic.expression or lic.id for lic in c.licenses)
                )
            ),
            "vulnerabilities": float(len(self.vulnerabilities or ())),
            "model_cards": float(len(self.model_cards)),
        }
        if self.model_cards:
            card = self.model_cards[0]
            for metric in card["performance_metrics"]:
                value = number(metric["value"])
                if value is not None and metric["type"]:
                    key = f"performance.{metric['type']}"
                    out.setdefault(key + (f".{metric['slice']}" if metric["slice"] else ""), value)
            for name, count in card["counts"].items():
                out[f"considerations.{name}"] = float(count)
        return out

    def notes(self) -> tuple[str, ...]:
        """The vulnerabilities the SBOM carries: ``id (severity): affected refs``."""
        return tuple(
            f"{v.id} ({', '.join(v.severities) or 'unrated'}): {', '.join(v.affects[:3])}"
            for v in (self.vulnerabilities or ())[:MAX_LISTED]
        )

    def data(self) -> dict[str, Any]:
        return {
            "spec_version": self.spec_version,
            "components": len(self.components),
            "without_license": [
                {"name": c.name, "version": c.version}
                for c in self.components
                if not any(lic.expression or lic.id for lic in c.licenses)
            ][:MAX_LISTED],
            "vulnerabilities": [
                {"id": v.id, "severities": list(v.severities), "affects": list(v.affects)}
                for v in (self.vulnerabilities or ())[:MAX_LISTED]
            ],
            "model_cards": list(self.model_cards),
        }


def looks_like(doc: Any) -> bool:
    return isinstance(doc, dict) and doc.get("bomFormat") == "CycloneDX"


def read(doc: Any) -> Bom:
    """The SBOM in parsed CycloneDX JSON; ``ReportError`` when it is not one."""
    if not looks_like(doc):
        raise ReportError('not a CycloneDX JSON SBOM (no "bomFormat": "CycloneDX")')
    components = _components(doc.get("components"))
    vulnerabilities = None
    if doc.get("vulnerabilities") is not None:
        vulnerabilities = tuple(
            _vulnerability(v, i)
            for i, v in enumerate(items(doc["vulnerabilities"], "'vulnerabilities'"))
        )
    subject = mapping(mapping(doc.get("metadata")).get("component"))
    holders = [(subject, "metadata.component")] if subject else []
    holders += [
        (raw, f"component {c.name!r}")
        for raw, c in components
        if c.type == "machine-learning-model"
    ]
    cards = tuple(
        _model_card(holder, where)
        for holder, where in holders
        if isinstance(holder.get("modelCard"), dict)
    )[:MAX_CARDS]
    return Bom(
        text(doc.get("specVersion")),
        tuple(c for _, c in components),
        vulnerabilities,
        cards,
    )


def _components(top: Any) -> list[tuple[dict[str, Any], Component]]:
    """Components and their nested ones, depth first, iteratively (bounded depth and count)."""
    out: list[tuple[dict[str, Any], Component]] = []
    stack = [iter(items(top, "'components'"))]
    while stack:
        raw = next(stack[-1], None)
        if raw is None:
            stack.pop()
            continue
        if not isinstance(raw, dict):
            raise ReportError(f"component {len(out)} is not an object")
        if len(out) >= MAX_ITEMS:
            raise ReportError(f"more than {MAX_ITEMS:,} components")
        out.append((raw, _component(raw, len(out))))
        nested = raw.get("components")
        if nested is not None:
            if len(stack) >= MAX_DEPTH:
                raise ReportError(f"components nested more than {MAX_DEPTH} deep")
            stack.append(iter(items(nested, f"components of {text(raw.get('name'))!r}")))
    return out


def _component(raw: dict[str, Any], index: int) -> Component:
    name = raw.get("name")
    if not isinstance(name, str):
        raise ReportError(f"component {index} has no 'name'")
    version = raw.get("version")
    licenses = []
    for entry in items(raw.get("licenses"), f"licenses of component {text(name)!r}"):
        if not isinstance(entry, dict):
            continue
        if isinstance(entry.get("expression"), str):  # whole: the SPDX parser bounds it
            licenses.append(License(expression=entry["expression"]))
            continue
        lic = mapping(entry.get("license"))
        ident, label = lic.get("id"), lic.get("name")
        licenses.append(
            License(
                id=ident if isinstance(ident, str) else None,
                name=text(label) if isinstance(label, str) else None,
            )
        )
    return Component(
        text(raw.get("type")),
        text(name),
        None if version is None else text(version),
        text(raw.get("purl")),
        text(raw.get("bom-ref")),
        tuple(licenses),
    )


def _vulnerability(raw: Any, index: int) -> Vulnerability:
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
        raise ReportError(f"vulnerabilities[{index}] has no 'id'")
    where = f"vulnerabilities[{index}]"
    return Vulnerability(
        text(raw["id"]),
        tuple(
            text(r.get("severity")).lower()
            for r in items(raw.get("ratings"), f"{where}.ratings")
            if isinstance(r, dict) and r.get("severity") is not None
        ),
        tuple(
            text(r.get("id"))
            for r in items(raw.get("references"), f"{where}.references")
            if isinstance(r, dict) and r.get("id") is not None
        ),
        tuple(
            text(a.get("ref"))
            for a in items(raw.get("affects"), f"{where}.affects")
            if isinstance(a, dict) and a.get("ref") is not None
        ),
    )


def _model_card(holder: dict[str, Any], where: str) -> dict[str, Any]:
    """The CycloneDX ``modelCard`` of ``holder``, normalized (snake_case, text bounded)."""
    card = mapping(holder.get("modelCard"))
    params = mapping(card.get("modelParameters"))
    analysis = mapping(card.get("quantitativeAnalysis"))
    considerations = mapping(card.get("considerations"))
    metrics = []
    for i, m in enumerate(items(analysis.get("performanceMetrics"), f"{where} performanceMetrics")):
        if not isinstance(m, dict):
            raise ReportError(f"{where}: performanceMetrics[{i}] is not an object")
        interval = mapping(m.get("confidenceInterval"))
        metrics.append(
            {
                "type": text(m.get("type")),
                "value": text(m.get("value")),
                "slice": text(m.get("slice")),
                "confidence_interval": {
                    "lower": text(interval.get("lowerBound")) or None,
                    "upper": text(interval.get("upperBound")) or None,
                }
                if interval
                else None,
            }
        )
    listed: dict[str, list[Any]] = {
        out: [text(v) for v in items(considerations.get(key), f"{where} considerations.{key}")]
        for key, out in _CONSIDERATIONS.items()
    }
    listed["ethical_considerations"] = [
        {"name": text(e.get("name")), "mitigation_strategy": text(e.get("mitigationStrategy"))}
        for e in items(
            considerations.get("ethicalConsiderations"), f"{where} ethicalConsiderations"
        )
        if isinstance(e, dict)
    ]
    listed["fairness_assessments"] = [
        {
            "group_at_risk": text(e.get("groupAtRisk")),
            "benefits": text(e.get("benefits")),
            "harms": text(e.get("harms")),
            "mitigation_strategy": text(e.get("mitigationStrategy")),
        }
        for e in items(considerations.get("fairnessAssessments"), f"{where} fairnessAssessments")
        if isinstance(e, dict)
    ]
    return {
        "component": text(holder.get("name")),
        "counts": {name: len(entries) for name, entries in listed.items()},
        "version": text(holder.get("version")) or None,
        "model_parameters": {
            "approach": text(mapping(params.get("approach")).get("type")) or None,
            "task": text(params.get("task")) or None,
            "architecture_family": text(params.get("architectureFamily")) or None,
            "model_architecture": text(params.get("modelArchitecture")) or None,
            "datasets": [_dataset(d) for d in items(params.get("datasets"), f"{where} datasets")],
            "inputs": [
                text(mapping(f).get("format"))
                for f in items(params.get("inputs"), f"{where} inputs")
            ],
            "outputs": [
                text(mapping(f).get("format"))
                for f in items(params.get("outputs"), f"{where} outputs")
            ],
        },
        "performance_metrics": metrics[:MAX_LISTED],
        "considerations": {name: entries[:MAX_LISTED] for name, entries in listed.items()},
    }


def _dataset(entry: Any) -> str:
    """A dataset of the model card: its name, or the ``ref`` it points to."""
    entry = mapping(entry)
    return text(entry.get("name")) or text(entry.get("ref")) or text(entry.get("type"))
