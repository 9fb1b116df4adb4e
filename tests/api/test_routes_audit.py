"""Decisions (with replay) and the audit trail through the live server: cursor pagination,
filters, verification, streamed export, signed checkpoints an auditor verifies offline."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

from cryptography.hazmat.primitives.serialization import load_pem_public_key

from api.test_routes_support import (
    MODEL,
    apply_policy,
    fields,
    problem,
    promote,
    staged,
    team,
)
from clearance.core.audit import Checkpoint, verify_checkpoint
from clearance.local import LocalClearance
from clearance.workspace import Workspace


def test_decisions_and_replay(server: str, server_ws: Workspace) -> None:
    api = team(server, server_ws)
    assert apply_policy(api).status_code == 201
    staged(api, "7")
    number = promote(api, "7", "production").json()["decision_number"]
    found = api.call("aude", "GET", f"/v1/decisions/{number}").json()
    assert len(found) == 1 and found[0]["id"] == number
    digest = found[0]["digest"]
    assert found[0]["inputs"]["to"] == "production" and found[0]["outcome"] == "deny"
    # by a digest prefix, too
    assert api.call("aude", "GET", f"/v1/decisions/{digest[:10]}").json()[0]["id"] == number
    # replay: identical, exit code 0, as `clearance replay --json` says
    r = api.call("aude", "POST", f"/v1/decisions/{digest[:10]}/replay")
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["identical"], report["exit_code"], report["differences"]) == (True, 0, [])
    assert report["decision"] == number and report["recorded_outcome"] == "deny"
    # unknown and malformed keys
    assert "no decision" in problem(api.call("aude", "GET", "/v1/decisions/999"), 404)["detail"]
    problem(api.call("aude", "POST", "/v1/decisions/abcdef0123/replay"), 404)
    assert "path.key" in fields(api.call("aude", "GET", "/v1/decisions/not-hex"))
    problem(api.call("aude", "GET", "/v1/decisions/" + "9" * 25), 422)
    problem(api.call(None, "POST", f"/v1/decisions/{number}/replay"), 401)


def test_events_verify_export_checkpoints_key(server: str, server_ws: Workspace) -> None:
    api = team(server, server_ws)
    assert apply_policy(api).status_code == 201
    staged(api, "7")
    # the whole trail, 5 at a time, by the seq cursor
    seen: list[int] = []
    after: int | None = 0
    while after is not None:
        page = api.call("aude", "GET", "/v1/audit/events", params={"after": after, "limit": 5})
        assert page.status_code == 200, page.text
        seen += [e["seq"] for e in page.json()["items"]]
        after = page.json()["next_after"]
        assert len(page.json()["items"]) <= 5
    with server_ws.store.reading() as tx:
        total = tx.event_count()
    assert seen == list(range(1, total + 1))
    # by model: only its events; since: only newer ones
    about = api.call("aude", "GET", "/v1/audit/events", params={"model": MODEL}).json()["items"]
    actions = {e["action"] for e in about}
    assert actions >= {"model.registered", "version.registered", "request.opened"}, actions
    assert not actions & {"user.added", "token.created", "policy.applied"}
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    assert api.call("aude", "GET", "/v1/audit/events", params={"since": later}).json() == {
        "items": [],
        "next_after": None,
    }
    for bad in ({"limit": 0}, {"limit": 1001}, {"after": -1}, {"since": "yesterday"}):
        r = api.call("aude", "GET", "/v1/audit/events", params=bad)
        assert f"query.{next(iter(bad))}" in fields(r), r.text
    problem(api.call("aude", "GET", "/v1/audit/events", params={"model": "nope"}), 404)

    # verify: the chain is intact
    verified = api.call("aude", "GET", "/v1/audit/verify").json()
    assert verified["ok"] and verified["fault"] is None and verified["events"] == total

    # export: JSON Lines and CSV, streamed, the same events
    r = api.call("aude", "GET", "/v1/audit/export")
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert [e["seq"] for e in lines] == list(range(1, total + 1))
    r = api.call("aude", "GET", "/v1/audit/export", params={"format": "csv", "model": MODEL})
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert rows and {row["action"] for row in rows} >= {"version.registered"}
    assert "query.format" in fields(
        api.call("aude", "GET", "/v1/audit/export", params={"format": "xml"})
    )
    problem(api.call("aude", "GET", "/v1/audit/export", params={"model": "nope"}), 404)

    # checkpoints: an auditor or admin signs; an engineer may not
    problem(api.call("alice", "POST", "/v1/audit/checkpoints"), 403)
    r = api.call("aude", "POST", "/v1/audit/checkpoints")
    assert r.status_code == 201, r.text
    cp = r.json()
    assert api.call("alice", "GET", "/v1/audit/checkpoints").json() == [cp]
    # an auditor verifies it offline with the published key (hex and PEM agree)
    key = api.call("aude", "GET", "/v1/audit/public-key").json()
    raw = bytes.fromhex(key["public_key_hex"])
    assert key["key_id"] == cp["key_id"]
    assert load_pem_public_key(key["pem"].encode()).public_bytes_raw() == raw  # type: ignore[union-attr]
    assert verify_checkpoint(Checkpoint.model_validate(cp), raw)
    assert api.call("aude", "GET", "/v1/audit/verify").json()["checkpoints"] == 1


def test_the_api_answers_what_the_workspace_answers(server: str, server_ws: Workspace) -> None:
    """The audit reads are one declaration each: the API serves what the local transport
    returns (``LocalClearance``, what the CLI uses without a server), field for field."""
    api = team(server, server_ws)
    assert apply_policy(api).status_code == 201
    staged(api, "7")
    local = LocalClearance(server_ws, "aude")
    page = api.call("aude", "GET", "/v1/audit/events", params={"after": 2, "limit": 3}).json()
    assert page == local.audit_page(after=2, limit=3).model_dump(mode="json")
    assert [e.seq for e in local.audit_events(after=2, page_size=2)] == list(
        range(3, server_ws.auditing.verify().events + 1)
    )
    key = api.call("aude", "GET", "/v1/audit/public-key").json()
    assert key == local.audit_key().model_dump(mode="json")
    assert bytes.fromhex(key["public_key_hex"]) == local.public_key()
    number = promote(api, "7", "production").json()["decision_number"]
    replayed = api.call("aude", "POST", f"/v1/decisions/{number}/replay").json()
    assert replayed == local.replay(number).model_dump(mode="json")
    assert api.call("aude", "GET", "/v1/me").json() == local.me().model_dump(mode="json")
