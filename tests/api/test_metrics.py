"""/metrics over a live server: request counters by route template, gate outcomes, and the
gauges read from the database at scrape time (pending approvals, time in stage)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from api_server import running_server, token_for
from clearance import Client
from clearance.workspace import Workspace, init_workspace

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "credit-risk"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, str]]:
    ws = init_workspace(tmp_path_factory.mktemp("metrics"))
    with running_server(ws) as url:
        yield ws, url


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    return [
        (s.labels, s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    ]


def test_metrics_report_requests_gates_and_pending_approvals(live: tuple[Workspace, str]) -> None:
    ws, url = live
    Client(url, token_for(ws, "paula", ["policy_admin"])).apply_policy(EXAMPLE / "policy")
    alice = Client(url, token_for(ws, "alice", ["ml_engineer"]))
    alice.register(EXAMPLE / "v7-pass" / "manifest.yaml")
    result = alice.promote("credit-default", "7", "staging")
    assert result.request.status == "pending"  # the tech lead has not signed yet

    alice.request(result.request.id)
    admin = token_for(ws, "adam", ["admin"])
    assert httpx.get(f"{url}/metrics").status_code == 401
    scrape = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {admin}"})
    assert scrape.status_code == 200
    text = scrape.text

    requests = samples(text, "clearance_http_requests_total")
    assert ({"method": "POST", "route": "/v1/requests", "status": "201"}, 1.0) in requests
    # the route template, never the raw path, so ids do not explode the label set
    template = {"method": "GET", "route": "/v1/requests/{request_id}", "status": "200"}
    assert (template, 1.0) in requests
    segments = {part for labels, _ in requests for part in labels["route"].split("/")}
    assert str(result.request.id) not in segments and "credit-default" not in segments
    assert samples(text, "clearance_http_request_duration_seconds_count")

    policy = f"{result.decision.policy}@{result.decision.policy_version}"
    gates = {
        (labels["gate"], labels["status"])
        for labels, value in samples(text, "clearance_gate_outcomes_total")
        if labels["policy"] == policy and value >= 1
    }
    assert gates == {(g.gate_id, str(g.status)) for g in result.decision.gates}
    assert (
        {"policy": policy, "outcome": str(result.decision.outcome)},
        1.0,
    ) in samples(text, "clearance_decisions_total")

    assert ({"model": "credit-default", "to_stage": "staging"}, 1.0) in samples(
        text, "clearance_pending_approvals"
    )
    # version 7 is still in draft, which the time-in-stage gauge leaves out
    assert not [
        labels
        for labels, _ in samples(text, "clearance_time_in_stage_seconds")
        if labels["stage"] == "draft"
    ]
