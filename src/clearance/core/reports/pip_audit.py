"""pip-audit JSON (``pip-audit -f json``): the audited packages and their known vulnerabilities.

Current form: ``{"dependencies": [{"name", "version", "vulns": [{"id", "fix_versions",
"aliases", "description"}]}], "fixes": [...]}``; a package pip-audit could not audit has a
``skip_reason`` and no ``version``. Releases before 2.0 wrote the ``dependencies`` list bare.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clearance.core.reports._common import MAX_LISTED, ReportError, items, text


@dataclass(frozen=True)
class Vulnerability:
    id: str
    aliases: tuple[str, ...]
    fix_versions: tuple[str, ...]


@dataclass(frozen=True)
class Dependency:
    name: str
    version: str | None  # None: skipped (skip_reason says why)
    skip_reason: str
    vulns: tuple[Vulnerability, ...]


@dataclass(frozen=True)
class Audit:
    dependencies: tuple[Dependency, ...]

    def metrics(self) -> dict[str, float]:
        return {
            "packages": float(len(self.dependencies)),
            "skipped": float(sum(1 for d in self.dependencies if d.version is None)),
            "vulnerabilities": float(sum(len(d.vulns) for d in self.dependencies)),
            "vulnerable_packages": float(sum(1 for d in self.dependencies if d.vulns)),
        }

    def notes(self) -> tuple[str, ...]:
        """The vulnerable packages: ``name version: id, id``."""
        return tuple(
            f"{d.name} {d.version}: {', '.join(v.id for v in d.vulns[:5])}"
            for d in self.dependencies
            if d.vulns
        )[:MAX_LISTED]

    def data(self) -> dict[str, Any]:
        return {
            "vulnerable": [
                {
                    "name": d.name,
                    "version": d.version,
                    "vulns": [
                        {
                            "id": v.id,
                            "aliases": list(v.aliases),
                            "fix_versions": list(v.fix_versions),
                        }
                        for v in d.vulns
                    ],
                }
                for d in self.dependencies
                if d.vulns
            ][:1000],
            "skipped": [
                {"name": d.name, "skip_reason": d.skip_reason}
                for d in self.dependencies
                if d.version is None
            ][:1000],
        }


def looks_like(doc: Any) -> bool:
    """Whether parsed JSON has pip-audit's shape (for format detection)."""
    if isinstance(doc, dict):
        return isinstance(doc.get("dependencies"), list) and "bomFormat" not in doc
    return (
        isinstance(doc, list)
        and bool(doc)
        and all(isinstance(d, dict) and "name" in d and "vulns" in d for d in doc[:100])
    )


def read(doc: Any) -> Audit:
    """The audit in parsed pip-audit JSON; ``ReportError`` when it is not that."""
    deps = doc.get("dependencies") if isinstance(doc, dict) else doc
    if not isinstance(deps, list):
        raise ReportError("not pip-audit JSON: no 'dependencies' list")
    out = []
    for i, dep in enumerate(items(deps, "'dependencies'")):
        if not isinstance(dep, dict) or not isinstance(dep.get("name"), str):
            raise ReportError(f"dependencies[{i}] is not a package (an object with a 'name')")
        version = dep.get("version")
        vulns = []
        for j, vuln in enumerate(items(dep.get("vulns"), f"dependencies[{i}].vulns")):
            if not isinstance(vuln, dict) or not isinstance(vuln.get("id"), str):
                raise ReportError(f"dependencies[{i}].vulns[{j}] has no 'id'")
            vulns.append(
                Vulnerability(
                    text(vuln["id"]),
                    _texts(vuln.get("aliases"), f"dependencies[{i}].vulns[{j}].aliases"),
                    _texts(vuln.get("fix_versions"), f"dependencies[{i}].vulns[{j}].fix_versions"),
                )
            )
        out.append(
            Dependency(
                text(dep["name"]),
                None if version is None else text(version),
                text(dep.get("skip_reason")),
                tuple(vulns),
            )
        )
    return Audit(tuple(out))


def _texts(value: Any, what: str) -> tuple[str, ...]:
    return tuple(text(v) for v in items(value, what) if v is not None)
