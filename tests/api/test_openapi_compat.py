"""The API only gains: every operation a client could call before the routes were made from
the contract's declarations (issue 11) is still there, with the same operationId, summary,
parameters (it may gain optional ones, as the lists gained ``cursor``), request body types
and documented statuses.

``data/openapi_operations.json`` is that earlier document's operations. A new operation is
fine; an entry removed from the file is a breaking change and needs a CHANGELOG line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from clearance.api.app import create_app
from clearance.workspace import init_workspace

BEFORE = Path(__file__).parent / "data" / "openapi_operations.json"


def _operations(spec: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            found[method.upper(), path] = {
                "operationId": op["operationId"],
                "summary": op.get("summary", ""),
                "parameters": sorted([p["in"], p["name"]] for p in op.get("parameters", [])),
                "required": sorted(
                    [p["in"], p["name"]] for p in op.get("parameters", []) if p.get("required")
                ),
                "body": sorted(op.get("requestBody", {}).get("content", {})),
                "statuses": set(op["responses"]),
            }
    return found


@pytest.fixture(scope="module")
def now(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], dict[str, Any]]:
    ws = init_workspace(tmp_path_factory.mktemp("ws"))
    return _operations(create_app(ws).openapi())


@pytest.mark.parametrize(
    "before", json.loads(BEFORE.read_text()), ids=lambda op: f"{op['method']} {op['path']}"
)
def test_every_earlier_operation_is_still_served_as_it_was(
    before: dict[str, Any], now: dict[tuple[str, str], dict[str, Any]]
) -> None:
    op = now.get((before["method"], before["path"]))
    assert op is not None, "the operation is gone"
    assert op["operationId"] == before["operationId"]
    assert op["summary"] == before["summary"]
    assert all(p in op["parameters"] for p in before["parameters"]), "a parameter is gone"
    added = [p for p in op["required"] if p not in before["parameters"]]
    assert not added, f"a call made before now lacks {added}"  # new ones must be optional
    assert op["body"] == before["body"]
    assert set(before["statuses"]) <= op["statuses"]
