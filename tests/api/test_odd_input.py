"""Odd input over HTTP is a 422 naming the field, never a 500, and changes nothing: NaN and
infinity, durations past ten years, names with newlines or 500 characters, explicit YAML
tags. A live server on SQLite and on PostgreSQL."""

from __future__ import annotations

import math
from typing import Any

import yaml

from api.test_routes_support import (
    CANARY,
    MODEL,
    V7,
    Api,
    apply_policy,
    canary_running,
    fields,
    policy_files,
    problem,
    team,
    v7_upload,
)
from clearance.workspace import Workspace


def _upload(api: Api, edit: dict[str, Any] | None = None, extra: str = "") -> Any:
    parts, data = v7_upload(manifest_edit=edit)
    name, text, kind = parts[0][1]
    parts[0] = ("manifest", (name, text + extra.encode(), kind))
    return api.call("alice", "POST", "/v1/versions", files=parts, data=data)


def test_odd_manifests_and_policies_get_422_naming_the_place(
    server: str, server_ws: Workspace
) -> None:
    api = team(server, server_ws)
    assert apply_policy(api).status_code == 201
    before = server_ws.auditing.verify().events
    model = yaml.safe_load((V7 / "manifest.yaml").read_text())["model"]
    cases: list[tuple[dict[str, Any] | None, str, str]] = [
        ({"params": {"opt": {"lr": math.nan}}}, "", "params.opt.lr"),
        ({"champion": {"version": "6", "metrics": {"auc": math.nan}}}, "", "champion.metrics.auc"),
        ({"metrics": {"auc": math.inf}}, "", "metrics.auc"),
        ({"model": {**model, "name": "credit\ndefault"}}, "", "model.name"),
        ({"model": {**model, "name": "c" * 501}}, "", "model.name"),
        ({"version": "7\x1b]8;;http://x\x1b\\"}, "", "version"),
        (None, "params: {a: !!int ''}\n", "params.a"),
        (None, "params: {a: !!timestamp foo}\n", "params.a"),
    ]
    for edit, extra, where in cases:
        r = _upload(api, edit, extra)
        body = problem(r, 422)
        assert any(f.endswith(f" {where}") for f in fields(r)), (where, body)

    odd_gate = b"apiVersion: clearance/v1\nkind: Policy\ngates: [{id: odd, type: metric_threshold, "
    for value in (b"!!bool foo", b".nan", b"!!float ''"):
        files = [*policy_files(), ("odd.yaml", odd_gate + b"metric: auc, min: " + value + b"}]")]
        r = apply_policy(api, files=files)
        problem(r, 422)
        assert [f.split(" ")[-1].split(".")[-1] for f in fields(r)] == ["min"], r.text

    assert server_ws.auditing.verify().events == before  # nothing registered or applied
    assert api.call("alice", "GET", f"/v1/models/{MODEL}").status_code == 404


def test_odd_durations_names_and_readings_get_422(server: str, server_ws: Workspace) -> None:
    api = team(server, server_ws)
    assert canary_running(api).status_code == 201
    before = server_ws.auditing.verify().events
    waiver = {
        "model": CANARY,
        "gate": "latency_p95",
        "expires_in": "99999w",
        "justification": "p95 measured on the old hardware",
        "controls": ["latency alert at 150 ms"],
    }
    for user, path, body, where in [
        ("rita", "/v1/waivers", waiver, "body.expires_in"),
        ("adam", "/v1/tokens", {"user": "alice", "expires_in": "99999w"}, "body.expires_in"),
        ("adam", "/v1/users", {"name": "team/eve", "roles": []}, "body.name"),
        ("adam", "/v1/users", {"name": "e" * 501, "roles": []}, "body.name"),
    ]:
        r = api.call(user, "POST", path, json=body)
        detail = problem(r, 422)["detail"]
        assert where in fields(r), detail
    assert "longer than the longest allowed, 10 years" in str(
        api.call("rita", "POST", "/v1/waivers", json=waiver).json()
    )

    observe = f"/v1/models/{CANARY}/rollouts/observe"
    for reading in ("NaN", "Infinity", "1e400", "-1e400"):
        content = '{"readings": {"error_rate": {"canary": 0.001, "control": ' + reading + "}}}"
        r = api.call(
            "frank", "POST", observe, content=content, headers={"content-type": "application/json"}
        )
        problem(r, 422)
        assert fields(r) == ["body.readings.error_rate.control"], r.text
    assert server_ws.auditing.verify().events == before
