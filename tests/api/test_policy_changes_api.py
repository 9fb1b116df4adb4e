"""Policy change requests through the live server and the SDK (SQLite and PostgreSQL): a
later version of an applied policy is refused at ``POST /v1/policies`` and goes through
``/v1/policy-changes``, where the author never approves and a loosening needs two others.

These routes come from ``clearance.contract.policy_changes``; they exist once
``PolicyChangeOps`` is part of ``Clearance`` and the workspace has ``policy_changes``."""

from __future__ import annotations

from typing import Any

import yaml

from api.test_routes_support import Api, apply_policy, policy_files, problem, team
from api_server import token_for
from clearance.client import Client
from clearance.workspace import Workspace


def loosened_files(version: str = "1.5.0") -> list[dict[str, str]]:
    """The example policy, bumped, with self-approval allowed (a loosening)."""
    out = []
    for name, data in policy_files():
        text = data.decode()
        if name == "workflow.yaml":
            doc = yaml.safe_load(text)
            doc["metadata"]["version"] = version
            doc["approval_rules"] = {"allow_self_approval": True}
            text = yaml.safe_dump(doc, sort_keys=False)
        out.append({"name": name, "text": text})
    return out


def propose(api: Api, user: str, **body: Any) -> Any:
    payload = {"files": loosened_files(), "rationale": "faster reviews", "ticket": "CHG-7"}
    return api.call(user, "POST", "/v1/policy-changes", json=payload | body)


def test_a_policy_change_is_proposed_signed_and_applied(server: str, server_ws: Workspace) -> None:
    api = team(server, server_ws)
    api.tokens["pia"] = token_for(server_ws, "pia", ["policy_admin"])
    assert apply_policy(api).status_code == 201  # the first version applies directly
    upload = [("files", (f["name"], f["text"].encode(), "application/yaml"))
              for f in loosened_files()]  # fmt: skip
    direct = problem(api.call("paula", "POST", "/v1/policies", files=upload), 403)
    assert "policy propose" in direct["detail"] and "/v1/policy-changes" in direct["detail"]

    assert problem(propose(api, "alice"), 403)["type"] == "urn:clearance:problem:not-permitted"
    assert propose(api, "paula", rationale="").status_code == 422
    r = propose(api, "paula")
    assert r.status_code == 201, r.text
    out = r.json()
    change = out["change"]
    assert (change["status"], change["author"], change["ticket"]) == ("pending", "paula", "CHG-7")
    assert change["loosening"] and out["approval"]["distinct_needed"] == 2
    assert change["backtest"] is not None
    ident = change["id"]

    mine = problem(api.call("paula", "POST", f"/v1/policy-changes/{ident}/approve", json={}), 403)
    assert "never approves it" in mine["detail"]
    first = api.call("adam", "POST", f"/v1/policy-changes/{ident}/approve", json={"reason": "ok"})
    assert first.status_code == 200, first.text
    assert first.json()["change"]["status"] == "pending"
    listed = api.call("aude", "GET", "/v1/policy-changes", params={"open_only": True}).json()
    assert [c["change"]["id"] for c in listed] == [ident]
    shown = api.call("aude", "GET", f"/v1/policy-changes/{ident}").json()
    assert {f["name"] for f in shown["sources"]} == {"gates.yaml", "workflow.yaml"}
    assert shown["approval"]["approvers"] == ["adam"]

    sdk = Client(server, api.token("pia"))
    done = sdk.approve_policy_change(ident)
    assert done.change.status == "applied"
    assert [p.version for p in sdk.policies() if p.name == "credit-risk"][-1] == "1.5.0"
    assert sdk.policy_changes(open_only=True) == []
    assert problem(api.call("aude", "GET", "/v1/policy-changes/999"), 404)


def test_withdrawn_and_rejected_changes_through_the_sdk(server: str, server_ws: Workspace) -> None:
    api = team(server, server_ws)
    assert apply_policy(api).status_code == 201
    paula = Client(server, api.token("paula"))
    change = paula.propose_policy_change(loosened_files(), rationale="r", ticket="T").change
    gone = paula.withdraw_policy_change(change.id, reason="not yet")
    assert gone.change.status == "withdrawn"
    late = api.call("adam", "POST", f"/v1/policy-changes/{change.id}/approve", json={})
    assert "is withdrawn" in problem(late, 403)["detail"]
    again = paula.propose_policy_change(loosened_files("1.6.0"), rationale="r", ticket="T")
    refused = Client(server, api.token("adam")).reject_policy_change(
        again.change.id, reason="no self-approval, ever"
    )
    assert (refused.change.status, refused.change.closed_by) == ("rejected", "adam")
