"""The approval queue, the models' compliance field and an evidence document's text over
HTTP and through the SDK: the contract's declarations, answered as the service answers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest

from clearance.api.app import warm_analytics
from clearance.client import Client
from clearance.errors import InputError, NotFound
from clearance.service.analytics import _memo_for
from clearance.workspace import Workspace, init_workspace
from cli_runner import run_cli
from web.story import build

EVIDENCE = "/v1/models/credit-default/versions/7/evidence/{}/content"


def test_queue_compliance_and_evidence_text(
    server: str, server_ws: Workspace, tmp_path: Path
) -> None:
    story = build(server_ws, tmp_path)
    tokens = story.tokens

    def get(path: str, user: str) -> httpx.Response:
        return httpx.get(server + path, headers={"Authorization": f"Bearer {tokens[user]}"})

    assert httpx.get(server + "/v1/queue").status_code == 401
    page = get("/v1/queue", "rita").json()
    assert [(i["request"]["id"], i["roles"]) for i in page["items"]] == [
        (story.blocked, ["risk_officer"])
    ]
    assert page["next"] is None and page["items"][0]["request"]["from"] == "staging"
    assert get("/v1/queue", "alice").json()["items"] == []  # her own requests
    with Client(server, tokens["frank"]) as frank:
        (item,) = frank.approval_queue()
        assert item.request.id == story.emergency and item.roles == ["mlops_oncall"]
        assert [item] == server_ws.views.approval_queue(actor="frank").items
        frank.approve(story.emergency, reason="drift", ticket="INC-7")
        assert frank.approval_queue() == []
        models = {m.model: m for m in frank.models()}
    assert models["credit-limit"].compliance == "emergency review due"
    assert models["credit-default"].compliance == "compliant"
    listed = get("/v1/models", "aude").json()["items"]
    assert {m["model"]: m["latest_stage"] for m in listed} == {
        "credit-default": "staging",
        "credit-limit": "production",
    }

    card = get(EVIDENCE.format("model_card"), "aude")
    assert card.status_code == 200 and card.json()["format"] == "markdown"
    assert card.json()["text"].startswith("# Model card")
    assert get(EVIDENCE.format("sbom"), "aude").status_code == 422  # a report, not text
    missing = get(EVIDENCE.format("modelcard"), "aude")
    assert missing.status_code == 404 and "model_card" in missing.json()["detail"]
    with Client(server, tokens["aude"]) as auditor:
        text = auditor.evidence_content("credit-default", "7", "model_card")
        assert text == server_ws.registry.evidence_content("credit-default", "7", "model_card")
        with pytest.raises(NotFound):
            auditor.evidence_content("credit-default", "7", "modelcard")
        with pytest.raises(InputError):
            auditor.evidence_content("credit-default", "7", "sbom")


def test_serve_warms_the_analytics_memo_in_a_daemon_thread(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "ws")
    build(ws, tmp_path)
    assert _memo_for(ws.store).decisions == []  # nothing read yet
    thread = warm_analytics(ws)
    assert thread.daemon
    thread.join(timeout=60)
    kept = len(_memo_for(ws.store).decisions)
    assert kept > 0 and kept == ws.analytics.warm()  # the requests' store: nothing new to read


def test_clearance_queue_lists_what_waits_for_the_user(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "ws")
    story = build(ws, tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("CLEARANCE_URL", "CLEARANCE_DB_URL")}
    env |= {"CLEARANCE_WORKSPACE": str(ws.root), "COLUMNS": "200"}
    listed = run_cli("queue", "--as", "frank", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    (item,) = json.loads(listed.stdout)
    assert (item["request"]["id"], item["roles"]) == (story.emergency, ["mlops_oncall"])
    table = run_cli("queue", "--as", "rita", env=env)
    assert table.returncode == 0 and "credit-default" in table.stdout
    assert "risk_officer" in table.stdout and "credit-limit" not in table.stdout
    empty = run_cli("queue", "--as", "alice", env=env)
    assert (empty.returncode, empty.stdout.strip()) == (0, "nothing waits for your sign-off")
    assert run_cli("queue", "--as", "nobody", env=env).returncode == 2
