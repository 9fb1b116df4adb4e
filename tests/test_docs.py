"""The reference docs cover what the code defines: gate types, policy and manifest fields,
lint codes, API routes, notification channels and their fields, alert events. Adding one
without documenting it fails here."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from clearance.adapters.clock import SystemClock
from clearance.api.app import create_app
from clearance.core.gates.registry import default_registry
from clearance.core.policy import Policy
from clearance.manifest import Manifest
from clearance.notify.config import NotificationConfig
from clearance.notify.events import EVENT_TYPES
from clearance.workspace import Workspace

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


def _all_docs() -> str:
    """Every page under docs/ (not the ADRs, which record decisions, not the reference)."""
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(DOCS.glob("*.md")))


def _routes() -> list[tuple[str, str]]:
    """(METHOD, path) of every operation the API serves, from its OpenAPI document: every
    route but FastAPI's own pages (/docs, /redoc, /openapi.json)."""
    app = create_app(Workspace(ROOT / "no-workspace-needed", SystemClock()))
    paths: dict[str, dict[str, Any]] = app.openapi()["paths"]
    return sorted((method.upper(), path) for path, ops in paths.items() for method in ops)


def _route_pattern(method: str, path: str) -> str:
    """`METHOD /path` as the docs write it: ``/v1`` may be left out (api.md says every path
    starts with it), and a path parameter may have another name (``{id}``)."""
    relative = path.removeprefix("/v1")
    parts = re.split(r"\{[^}]+\}", relative)
    body = r"\{[^}]+\}".join(re.escape(part) for part in parts)
    prefix = "(?:/v1)?" if path.startswith("/v1/") else ""
    return rf"`{method} {prefix}{body}`"


ROUTES = _routes()


def test_routes_are_found() -> None:
    """Guards the walk below: the API's routes, under their real paths."""
    assert ("GET", "/healthz") in ROUTES
    assert ("POST", "/v1/requests/{request_id}/approvals") in ROUTES
    assert len(ROUTES) >= 40


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_every_api_route_is_documented(method: str, path: str) -> None:
    assert re.search(_route_pattern(method, path), _all_docs()), (
        f"no page under docs/ documents `{method} {path}`; add it to the table in docs/api.md"
    )


def _channel_fields() -> dict[str, list[str]]:
    """Channel type → the fields its entry in notifications.yaml takes."""
    schema = NotificationConfig.model_json_schema()
    mapping = schema["properties"]["channels"]["items"]["discriminator"]["mapping"]
    defs = schema["$defs"]
    return {
        kind: [field for field in defs[ref.rsplit("/", 1)[1]]["properties"] if field != "type"]
        for kind, ref in mapping.items()
    }


CHANNELS = _channel_fields()
CHANNEL_FIELDS = sorted({(kind, field) for kind, fields in CHANNELS.items() for field in fields})


def test_channel_types_are_found() -> None:
    assert {"webhook", "slack", "smtp"} <= set(CHANNELS)
    assert "secret_env" in CHANNELS["webhook"]


@pytest.mark.parametrize("kind", sorted(CHANNELS))
def test_every_channel_type_is_documented(kind: str) -> None:
    text = _read("governance.md")
    assert re.search(rf"\btype: {re.escape(kind)}\b", text), (
        f"docs/governance.md shows no channel with `type: {kind}` in notifications.yaml"
    )
    assert f"`{kind}`" in text, f"docs/governance.md does not describe the `{kind}` channel"


@pytest.mark.parametrize(
    ("kind", "field"), CHANNEL_FIELDS, ids=[f"{k}.{f}" for k, f in CHANNEL_FIELDS]
)
def test_every_channel_field_is_documented(kind: str, field: str) -> None:
    assert _mentioned(_read("governance.md"), field), (
        f"docs/governance.md does not document `{field}` of {kind} channels"
    )


@pytest.mark.parametrize("event", EVENT_TYPES)
def test_every_alert_event_is_documented(event: str) -> None:
    assert f"`{event}`" in _read("governance.md"), f"docs/governance.md does not list `{event}`"
