"""Models, versions, evidence and policies through the live server (SQLite and PostgreSQL):
uploads with digest checks and size limits, idempotent registration, errors that name the
uploaded file and line (never the server's staging folder), pagination and filters."""

from __future__ import annotations

import hashlib
import json

import httpx

from api.test_routes_support import (
    MODEL,
    PROBLEM,
    Api,
    apply_policy,
    fields,
    policy_files,
    problem,
    register,
    team,
    v7_upload,
)
from api_server import running_server
from clearance.client import Client
from clearance.workspace import Workspace


def test_policy_apply_roles_errors_and_listing(server: str, server_ws: Workspace) -> None:
    api = team(server, server_ws)
    # an ML engineer may not change policies: 403, and nothing is applied
    body = problem(apply_policy(api, "alice"), 403)
    assert body["type"] == "urn:clearance:problem:not-permitted"
    assert "policy_admin" in body["detail"]
    # a policy admin may; the same content again is "already applied" (200)
    r = apply_policy(api, "paula")
    assert r.status_code == 201, r.text
    assert (r.json()["name"], r.json()["version"]) == ("credit-risk", "1.4.0")
    again = apply_policy(api, "adam")
    assert again.status_code == 200
    assert again.json()["id"] == r.json()["id"]
    # a broken gate: the error names the uploaded file and its line, not the staging folder
    files = dict(policy_files())
    broken = files["gates.yaml"].replace(b"type: metric_threshold", b"type: no_such_gate", 1)
    bad = apply_policy(
        api, "paula", [("gates.yaml", broken), ("workflow.yaml", files["workflow.yaml"])]
    )
    body = problem(bad, 422)
    assert body["type"] == "urn:clearance:problem:invalid-policy"
    line = broken.decode().splitlines().index("    type: no_such_gate") + 1
    assert any(f.startswith(f"gates.yaml:{line}") for f in fields(bad)), body
    assert "clearance-upload-" not in bad.text
    # malformed YAML in a single file: file and line again
    bad = apply_policy(api, "paula", [("one.yaml", b"apiVersion: clearance/v1\nkind: [Policy\n")])
    body = problem(bad, 422)
    assert fields(bad) and fields(bad)[0].startswith("one.yaml:"), body
    assert "clearance-upload-" not in bad.text
    # a file name that climbs out of the upload folder is refused
    bad = apply_policy(api, "paula", [("../escape.yaml", files["workflow.yaml"])])
    assert "relative path" in problem(bad, 422)["detail"]
    # listing, filtered by name, paginated
    listed = api.call("alice", "GET", "/v1/policies", params={"name": "credit-risk"}).json()
    assert listed["total"] == 1 and listed["items"][0]["content_hash"] == r.json()["content_hash"]
    assert api.call("alice", "GET", "/v1/policies", params={"name": "x"}).json()["total"] == 0
    r = api.call("alice", "GET", "/v1/policies", params={"limit": 0})
    assert "query.limit" in fields(r)
    assert problem(api.call(None, "POST", "/v1/policies"), 401)["type"].endswith("unauthenticated")


def test_one_policy_version_through_the_api_and_the_sdk(server: str, server_ws: Workspace) -> None:
    api = team(server, server_ws)
    applied = apply_policy(api, "paula").json()
    shown = api.call("alice", "GET", "/v1/policies/credit-risk/1.4.0")
    assert shown.status_code == 200 and shown.json() == applied
    missing = problem(api.call("alice", "GET", "/v1/policies/credit-risk/9.9.9"), 404)
    assert "versions of policy credit-risk: 1.4.0" in missing["detail"]
    with Client(server, api.token("alice")) as sdk:
        record = sdk.policy("credit-risk", "1.4.0")
    assert record == server_ws.views.policy("credit-risk", "1.4.0")


def test_register_idempotency_digests_and_reads(server: str, server_ws: Workspace) -> None:
    api = team(server, server_ws)
    assert apply_policy(api).status_code == 201
    # a risk officer may not register (ml_engineer, model_owner may): 403
    assert problem(register(api, "7", user="rita"), 403)["type"].endswith("not-permitted")
    key = {"Idempotency-Key": "ci-run-42"}
    first = register(api, "7", headers=key)
    assert first.status_code == 201, first.text
    assert "Idempotent-Replayed" not in first.headers
    # a CI retry with the same key and request: the first response again, nothing new
    retry = register(api, "7", headers=key)
    assert retry.status_code == 201
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    # the same key for another request is refused
    other = register(api, "8", headers=key)
    assert "already used for a different request" in problem(other, 422)["detail"]
    # without the key, registering the same version again is refused: versions are immutable
    assert "immutable" in problem(register(api, "7"), 422)["detail"]
    # a file that changed on the way: 422 naming it
    parts, data = v7_upload("9")
    sums = json.loads(data["digests"])
    sums["model_card.md"] = hashlib.sha256(b"something else").hexdigest()
    r = api.call("alice", "POST", "/v1/versions", files=parts, data={"digests": json.dumps(sums)})
    assert "model_card.md" in problem(r, 422)["detail"]
    # a manifest naming a file that was not uploaded
    parts = [p for p in v7_upload("9")[0] if p[1][0] != "sbom.json"]
    r = api.call("alice", "POST", "/v1/versions", files=parts)
    assert "sbom.json" in problem(r, 422)["detail"]
    # an invalid manifest: the error names manifest.yaml and the line
    parts, _ = v7_upload("9", manifest_edit={"metrics": "not a mapping"})
    r = api.call("alice", "POST", "/v1/versions", files=parts)
    body = problem(r, 422)
    assert body["type"] == "urn:clearance:problem:invalid-manifest"
    assert any(f.startswith("manifest.yaml:") for f in fields(r)), body
    assert "clearance-upload-" not in r.text

    # reads: models (filtered), versions (paginated, filtered), one version, 404s with fields
    assert register(api, "8").status_code == 201
    models = api.call("alice", "GET", "/v1/models", params={"risk_tier": "high"}).json()
    assert [m["model"] for m in models["items"]] == [MODEL]
    assert api.call("alice", "GET", "/v1/models", params={"risk_tier": "low"}).json()["total"] == 0
    page = api.call("alice", "GET", f"/v1/models/{MODEL}/versions", params={"limit": 1}).json()
    assert (page["total"], len(page["items"]), page["items"][0]["version"]) == (2, 1, "7")
    page = api.call(
        "alice", "GET", f"/v1/models/{MODEL}/versions", params={"limit": 1, "offset": 1}
    ).json()
    assert page["items"][0]["version"] == "8"
    drafts = api.call("alice", "GET", f"/v1/models/{MODEL}/versions", params={"stage": "draft"})
    assert drafts.json()["total"] == 2
    one = api.call("alice", "GET", f"/v1/models/{MODEL}/versions/7").json()
    assert one["record"]["lineage"]["data_snapshot"] == "loans-2025-06-30"
    missing = api.call("alice", "GET", f"/v1/models/{MODEL}/versions/99")
    assert "no version '99'" in problem(missing, 404)["detail"]
    assert problem(api.call("alice", "GET", "/v1/models/nope"), 404)["type"].endswith("not-found")
    history = api.call("alice", "GET", f"/v1/models/{MODEL}/history").json()
    assert [e["action"] for e in history["items"]][:2] == ["model.registered", "version.registered"]


def test_evidence_attach_upload_uri_and_errors(server: str, server_ws: Workspace) -> None:
    api = team(server, server_ws)
    assert apply_policy(api).status_code == 201
    assert register(api, "7").status_code == 201
    url = f"/v1/models/{MODEL}/versions/7/evidence"
    card = b"# Model card v7, corrected\n\n## Intended use\nScoring.\n"
    digest = hashlib.sha256(card).hexdigest()
    r = api.call(
        "alice",
        "POST",
        url,
        data={"name": "model_card", "sha256": digest},
        files={"file": ("card.md", card, "text/markdown")},
    )
    assert r.status_code == 201, r.text
    assert (r.json()["sha256"], r.json()["uri"]) == (digest, "card.md")
    # a digest that does not match the upload: 422 naming the uploaded file
    r = api.call(
        "alice",
        "POST",
        url,
        data={"name": "model_card", "sha256": "0" * 64},
        files={"file": ("card.md", card, "text/markdown")},
    )
    body = problem(r, 422)
    assert "card.md" in body["detail"] and "clearance-upload-" not in r.text
    # by reference: a URI with its sha256
    r = api.call(
        "alice", "POST", url, data={"name": "eval", "uri": "s3://b/eval.parquet", "sha256": digest}
    )
    assert r.status_code == 201, r.text
    # both a file and a URI: refused; an unknown kind: the form field is named
    r = api.call(
        "alice",
        "POST",
        url,
        data={"name": "x", "uri": "s3://b/x"},
        files={"file": ("x.md", b"x", "text/markdown")},
    )
    problem(r, 422)
    r = api.call("alice", "POST", url, data={"name": "x", "kind": "poem", "uri": "s3://x"})
    problem(r, 422)
    assert "body.kind" in fields(r)
    # the wrong role, an unknown version
    r = api.call("rita", "POST", url, data={"name": "x", "uri": "s3://b", "sha256": digest})
    problem(r, 403)
    r = api.call(
        "alice",
        "POST",
        f"/v1/models/{MODEL}/versions/99/evidence",
        data={"name": "x", "uri": "s3://b", "sha256": digest},
    )
    problem(r, 404)
    listed = api.call("alice", "GET", url).json()
    names = [e["item"]["name"] for e in listed]
    assert names.count("model_card") == 2 and "eval" in names


def test_upload_over_the_size_limit_is_413(server_ws: Workspace) -> None:
    with running_server(server_ws, env={"CLEARANCE_MAX_UPLOAD_BYTES": "1000"}) as url:
        api = team(url, server_ws)
        r = register(api, "7")  # sbom.json is 12 KiB (model.pkl is under 1,000 bytes)
        body = problem(r, 413)
        assert body["type"] == "urn:clearance:problem:too-large"
        assert "sbom.json" in body["detail"] and "1,000" in body["detail"]
        r = api.call(
            "alice",
            "POST",
            f"/v1/models/{MODEL}/versions/7/evidence",
            data={"name": "big"},
            files={"file": ("big.bin", b"x" * 1001, "application/octet-stream")},
        )
        assert r.status_code == 413 and r.headers["content-type"] == PROBLEM
        with server_ws.store.reading() as tx:
            assert tx.get_model(MODEL) is None  # nothing was registered


def test_authentication_is_required_and_checked(server: str, server_ws: Workspace) -> None:
    api: Api = team(server, server_ws)
    for token in (None, "not-a-token", "clr_unknown"):
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        r = httpx.get(f"{server}/v1/models", headers=headers)
        body = problem(r, 401)
        assert r.headers["www-authenticate"] == "Bearer"
        assert body["request_id"] == r.headers["x-request-id"]
    assert api.call("alice", "GET", "/v1/models").status_code == 200


def test_nul_characters_are_refused_before_the_database(server: str, server_ws: Workspace) -> None:
    """PostgreSQL stores no NUL in text (it would fail, not answer): 422 wherever one comes."""
    api = team(server, server_ws)
    problem(api.call("alice", "GET", "/v1/models/bad%00name"), 422)
    problem(api.call("alice", "GET", "/v1/requests", params={"model": "a\x00b"}), 422)
    r = api.call(
        "alice", "POST", "/v1/requests", json={"model": "a\x00b", "version": "1", "to": "staging"}
    )
    assert "NUL" in problem(r, 422)["detail"]
    r = api.call("adam", "POST", "/v1/users", json={"name": "eve", "roles": ["a\x00"]})
    problem(r, 422)
    with server_ws.store.reading() as tx:
        assert tx.get_user("eve") is None
