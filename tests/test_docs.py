"""The reference docs cover what the code defines: gate types, policy and manifest fields,
lint codes. Adding one without documenting it fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from clearance.core.gates.registry import default_registry
from clearance.core.policy import Policy
from clearance.manifest import Manifest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SRC = ROOT / "src" / "clearance"
LINT_SOURCES = [SRC / "core" / "lint.py", SRC / "core" / "loading.py"]


def _read(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def _aliases(model: type) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def _mentioned(text: str, word: str) -> bool:
    """``word`` appears as code (`word`, `word:`) somewhere in the Markdown."""
    return re.search(rf"`{re.escape(word)}[`:]", text) is not None


def _lint_codes() -> list[str]:
    codes: set[str] = set()
    for path in LINT_SOURCES:
        codes.update(re.findall(r'code="([a-z-]+)"', path.read_text(encoding="utf-8")))
    return sorted(codes)


@pytest.mark.parametrize("name", default_registry().names())
def test_every_gate_type_has_a_section(name: str) -> None:
    headings = re.findall(r"^## (\S+)\s*$", _read("gates.md"), flags=re.MULTILINE)
    assert name in headings, f"docs/gates.md has no '## {name}' section"


@pytest.mark.parametrize("field", _aliases(Policy))
def test_every_policy_field_is_documented(field: str) -> None:
    assert _mentioned(_read("policies.md"), field), f"docs/policies.md does not mention `{field}`"


@pytest.mark.parametrize("field", _aliases(Manifest))
def test_every_manifest_field_is_documented(field: str) -> None:
    assert _mentioned(_read("manifest.md"), field), f"docs/manifest.md does not mention `{field}`"


def test_lint_codes_are_found() -> None:
    """Guards the regex below: if the source changes shape, the next test must not pass empty."""
    assert {"undefined-gate", "unknown-gate-type", "expired-gate"} <= set(_lint_codes())


@pytest.mark.parametrize("code", _lint_codes())
def test_every_lint_code_is_documented(code: str) -> None:
    assert f"`{code}`" in _read("policies.md"), f"docs/policies.md does not document `{code}`"
