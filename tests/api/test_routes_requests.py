"""Promotion requests through the live server: the credit-risk story from draft to
production with its sign-offs, the two-person rule, idempotent promotion, filters, rollback,
post-incident reviews of emergency changes, and the errors of each."""

from __future__ import annotations

from api.test_routes_support import (
    MODEL,
    apply_policy,
    approve,
    approved_by_all,
    fields,
    problem,
    production_request,
    promote,
    register,
    staged,
    team,
)
from clearance.workspace import Workspace


def test_promotion_sign_offs_and_idempotency(server: str, server_ws: Workspace) -> None:
    api = team(server, server_ws)
    assert apply_policy(api).status_code == 201
    assert register(api, "7").status_code == 201
    # the wrong role may not request; a body field that is wrong is named
    assert problem(promote(api, "7", "staging", user="rita"), 403)["type"].endswith("not-permitted")
    r = api.call("alice", "POST", "/v1/requests", json={"model": MODEL, "version": "7"})
    assert "body.to" in fields(r)
    r = api.call(
        "alice",
        "POST",
        "/v1/requests",
        json={"model": MODEL, "version": "7", "to": "x", "colour": 1},
    )
    assert "body.colour" in fields(r)
    # a stage the policy does not know (404), a move it does not allow (409)
    assert "moon" in problem(promote(api, "7", "moon"), 404)["detail"]
    problem(promote(api, "7", "production"), 409)
    # CI retries the same promotion with the same key: one request, the stored response
    key = {"Idempotency-Key": "pipeline-7-staging"}
    first = api.call(
        "alice",
        "POST",
        "/v1/requests",
        headers=key,
        json={"model": MODEL, "version": "7", "to": "staging"},
    )
    assert first.status_code == 201, first.text
    again = api.call(
        "alice",
        "POST",
        "/v1/requests",
        headers=key,
        json={"model": MODEL, "version": "7", "to": "staging"},
    )
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == first.json()
    changed = api.call(
        "alice",
        "POST",
        "/v1/requests",
        headers=key,
        json={"model": MODEL, "version": "7", "to": "staging", "reason": "other"},
    )
    assert "different request" in problem(changed, 422)["detail"]
    rid = first.json()["request"]["id"]
    assert first.json()["request"]["status"] == "pending"
    assert first.json()["exit_code"] == 0
    # list: open requests of the model, one page
    listed = api.call("tess", "GET", "/v1/requests", params={"model": MODEL, "status": "open"})
    assert [r["id"] for r in listed.json()["items"]] == [rid]
    assert problem(api.call("tess", "GET", "/v1/requests", params={"model": "nope"}), 404)
    assert "query.status" in fields(api.call("tess", "GET", "/v1/requests", params={"status": "x"}))
    # the requester may not approve their own request; a risk officer is not a tech lead
    assert problem(approve(api, rid, "alice"), 403)["type"].endswith(
        ("approval-refused", "not-permitted")
    )
    problem(approve(api, rid, "rita"), 403)
    done = approve(api, rid, "tess")
    assert done.status_code == 201 and done.json()["executed"]
    # approving a finished request is refused
    assert "executed" in problem(approve(api, rid, "tess"), 422)["detail"]
    one = api.call("alice", "GET", f"/v1/requests/{rid}").json()
    assert one["status"] == "executed" and [a["approver"] for a in one["approvals"]] == ["tess"]
    missing = api.call("alice", "GET", "/v1/requests/999")
    assert "999" in problem(missing, 404)["detail"]
    assert "path.request_id" in fields(api.call("alice", "GET", "/v1/requests/0"))

    # to production: no champion to compare with yet, so auc_vs_champion blocks (exit code 1)
    pid = production_request(api, "7")
    blocked = api.call("carol", "GET", f"/v1/requests/{pid}").json()
    assert blocked["status"] == "blocked" and "auc_vs_champion" in blocked["summary"]
    rejected = api.call(
        "rita", "POST", f"/v1/requests/{pid}/rejections", json={"reason": "no", "extra": 1}
    )
    assert "body.extra" in fields(rejected)
    rejected = api.call(
        "rita", "POST", f"/v1/requests/{pid}/rejections", json={"reason": "no champion yet"}
    )
    assert rejected.status_code == 201 and rejected.json()["request"]["status"] == "rejected"


def test_rollback_and_post_incident_review(server: str, server_ws: Workspace) -> None:
    api = team(server, server_ws)
    assert apply_policy(api).status_code == 201
    staged(api, "7")
    # an emergency change: it bypasses auc_vs_champion (there is no champion yet), and the
    # on-call engineer's approval replaces the usual three
    rid = production_request(api, "7", change_type="emergency", ticket="INC-1")
    r = approve(api, rid, "frank")
    assert r.json()["executed"], r.json()["decision"]["summary"]
    # the review: the wrong role, a missing summary, then the owner records it once
    review = {"summary": "scores drifted after the bureau feed changed", "actions": ["alert"]}
    problem(api.call("alice", "POST", f"/v1/requests/{rid}/review", json=review), 403)
    r = api.call("carol", "POST", f"/v1/requests/{rid}/review", json={"actions": []})
    assert "body.summary" in fields(r)
    r = api.call("carol", "POST", f"/v1/requests/{rid}/review", json=review)
    assert r.status_code == 201, r.text
    assert (r.json()["request_id"], r.json()["recorded_by"]) == (rid, "carol")
    assert (
        "already"
        in problem(api.call("carol", "POST", f"/v1/requests/{rid}/review", json=review), 422)[
            "detail"
        ]
    )
    # a standard request owes no review; an unknown one is 404
    assert (
        "emergency"
        in problem(api.call("carol", "POST", "/v1/requests/1/review", json=review), 422)["detail"]
    )
    problem(api.call("carol", "POST", "/v1/requests/999/review", json=review), 404)
    # 8 replaces 7 the standard way: three sign-offs from three different people
    staged(api, "8")
    last = approved_by_all(api, production_request(api, "8"))
    assert last.json()["executed"], last.json()["decision"]["summary"]
    # rollback: the wrong role, then the on-call engineer restores 7
    body = {"reason": "latency regression"}
    problem(api.call("alice", "POST", f"/v1/models/{MODEL}/rollback", json=body), 403)
    r = api.call("frank", "POST", f"/v1/models/{MODEL}/rollback", json=body)
    assert r.status_code == 200, r.text
    assert (r.json()["rolled_back"]["version"], r.json()["restored"]["version"]) == ("8", "7")
    assert "body.reason" in fields(
        api.call("frank", "POST", f"/v1/models/{MODEL}/rollback", json={})
    )
