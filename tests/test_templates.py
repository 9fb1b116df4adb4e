"""The evidence templates in docs/templates carry every heading the example policies require,
and every docs path a policy's remediation names exists: a user who follows a remediation
text lands on a file that would pass the gate once filled in."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from clearance.core.gates.documentation import headings

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "docs" / "templates"
POLICIES = sorted((ROOT / "examples").glob("*/policy.yaml"))
POLICIES += sorted((ROOT / "examples").glob("*/policy/*.yaml"))
FOR_DOCUMENT = {  # evidence name in the examples -> its template
    "model_card": "model-card.md",
    "clinical_validation": "evaluation-report.md",
    "monitoring_plan": "monitoring-plan.md",
    "rollback_plan": "rollback-plan.md",
    "human_oversight": "human-oversight.md",
}


def _gates(path: Path) -> list[dict[str, Any]]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return list(doc.get("gates") or [])


def _required_sections() -> list[tuple[str, str, str]]:
    """(policy file, document name, section) for every documentation gate's heading."""
    found = []
    for path in POLICIES:
        for gate in _gates(path):
            if gate.get("type") != "documentation":
                continue
            for document in gate.get("documents", []):
                if isinstance(document, dict):
                    for section in document.get("sections", []):
                        found.append((path.relative_to(ROOT).as_posix(), document["name"], section))
    return found


REQUIRED = _required_sections()


def test_the_examples_require_sections() -> None:
    assert len(REQUIRED) >= 20 and {name for _, name, _ in REQUIRED} <= set(FOR_DOCUMENT)


@pytest.mark.parametrize(("policy", "document", "section"), REQUIRED)
def test_each_required_heading_is_in_its_template(policy: str, document: str, section: str) -> None:
    template = (TEMPLATES / FOR_DOCUMENT[document]).read_text(encoding="utf-8")
    assert headings(f"# {section}") <= headings(template), (
        f"{policy}: {document} needs '{section}', missing from {FOR_DOCUMENT[document]}"
    )


def test_every_docs_path_in_a_policy_exists() -> None:
    named = {
        m.group(0)
        for path in POLICIES
        for m in re.finditer(r"docs/[\w./-]+\.md", path.read_text(encoding="utf-8"))
    }
    assert named, "the examples' remediations name no docs"
    assert sorted(p for p in named if not (ROOT / p).is_file()) == []


def test_the_template_index_lists_every_template() -> None:
    index = (TEMPLATES / "README.md").read_text(encoding="utf-8")
    for template in sorted(TEMPLATES.glob("*.md")):
        if template.name != "README.md":
            assert f"]({template.name})" in index
