"""Sign-in over plain HTTP (no browser): the session key file, cookie flags behind a TLS
proxy, no open redirect, revocation ending a session, and page headers."""

from __future__ import annotations

import re
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api_server import running_server, token_for
from clearance.errors import InputError
from clearance.web.sessions import COOKIE, KEY_FILE, SessionKeeper
from clearance.workspace import Workspace, init_workspace


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Workspace]]:
    ws = init_workspace(tmp_path / "ws")
    with running_server(ws) as url:
        yield url, ws


def _sign_in(client: httpx.Client, token: str, next_: str = "/", **headers: str) -> httpx.Response:
    form = client.get("/signin").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf is not None
    return client.post(
        "/signin", data={"token": token, "csrf": csrf.group(1), "next": next_}, headers=headers
    )


def test_the_key_file_is_private_and_refused_when_it_is_not(tmp_path: Path) -> None:
    keeper = SessionKeeper(tmp_path)
    path = tmp_path / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert SessionKeeper(tmp_path).key == keeper.key  # made once, read after
    path.chmod(0o644)
    with pytest.raises(InputError, match=r"chmod 600"):
        SessionKeeper(tmp_path)
    path.chmod(0o600)
    path.write_bytes(b"not a key\n")
    with pytest.raises(InputError, match="not a web session key"):
        SessionKeeper(tmp_path)


def test_sign_in_cookie_flags_redirects_and_revocation(served: tuple[str, Workspace]) -> None:
    url, ws = served
    token = token_for(ws, "rita", ["risk_officer"])
    with httpx.Client(base_url=url) as client:
        # behind a TLS proxy the cookie is Secure; over plain HTTP it is not
        r = _sign_in(client, token, "/queue", **{"X-Forwarded-Proto": "https"})
        assert r.status_code == 303 and r.headers["location"] == "/queue"
        cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith(COOKIE))
        assert all(flag in cookie for flag in ("HttpOnly", "SameSite=strict", "Secure"))
    with httpx.Client(base_url=url) as client:
        # an address off this server is never followed after sign-in
        hostile = ("https://evil.example/", "//evil.example/x", "/\\evil.example", "/\t/evil")
        for target in hostile:
            r = _sign_in(client, token, target)
            assert r.headers["location"] == "/", target
        cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith(COOKIE))
        assert "Secure" not in cookie
        page = client.get("/queue")
        assert page.status_code == 200 and "Signed in as" in page.text
        # the page's headers: a strict CSP, and no script anywhere in it
        assert page.headers["content-security-policy"].startswith("default-src 'self'")
        assert page.headers["cache-control"] == "no-store"
        assert "<script" not in page.text
        # revoking the API token ends the session at the next page
        (record,) = ws.tokens.list(actor="operator", operator=True, user="rita")
        ws.tokens.revoke(record.id, actor="operator", operator=True)
        gone = client.get("/queue")
        assert gone.status_code == 303 and gone.headers["location"].startswith("/signin")


def test_an_api_path_still_answers_json(served: tuple[str, Workspace]) -> None:
    url, _ = served
    r = httpx.get(url + "/v1/models")
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"


def test_ids_out_of_range_are_refused_before_any_read(served: tuple[str, Workspace]) -> None:
    url, _ = served
    for path in ("/requests/0", f"/requests/{2**63}", "/models/" + "m" * 201):
        assert httpx.get(url + path).status_code == 422, path
