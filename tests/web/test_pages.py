"""The approval story in a real browser: sign in, find the request, read the failing gate's
remediation, approve as the permitted user and see the model in production; refusals (no
role, forged POST, CSRF, expired session); a screenshot and an axe-core check of each page."""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Any

import pytest

from clearance.web.sessions import COOKIE, SessionKeeper
from web.conftest import AXE, Site

pytestmark = pytest.mark.browser
AXE_SOURCE = AXE.read_text()


def sign_in(page: Any, site: Site, user: str) -> None:
    page.context.clear_cookies()
    page.goto(site.url + "/queue")
    assert "/signin" in page.url
    page.get_by_label("API token").fill(site.story.tokens[user])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(site.url + "/queue")
    assert f"Signed in as {user}" in page.inner_text("header")


def check_page(page: Any, site: Site, name: str) -> None:
    """Keep a screenshot, and fail on any serious or critical axe-core violation, a title
    holding markup, or a time shown other than as the one display rule gives it."""
    assert page.title().endswith(" · clearance") and "<" not in page.title(), page.title()
    for shown in page.locator("time").all():
        exact = shown.get_attribute("datetime") or ""
        assert dt.datetime.fromisoformat(exact.replace("Z", "+00:00")).tzinfo is not None
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", shown.inner_text()), exact
    page.screenshot(path=str(site.shots / f"{name}.png"), full_page=True)
    page.evaluate(AXE_SOURCE)
    found = page.evaluate(
        """async () => (await axe.run(document)).violations
            .filter(v => v.impact === 'serious' || v.impact === 'critical')
            .map(v => v.id + ': ' + v.help + ' (' + v.nodes.length + ')')"""
    )
    assert found == [], f"{name}: {found}"


def test_the_approval_story_in_the_browser(browser_context: Any, site: Site) -> None:
    page = browser_context.new_page()
    story = site.story
    # not signed in: the sign-in page, with no "expired" message on a first visit
    response = page.goto(site.url + "/")
    assert page.url.startswith(site.url + "/signin") and "expired" not in page.url
    assert "default-src 'self'" in response.headers["content-security-policy"]
    check_page(page, site, "signin")

    # the risk officer finds the blocked request in her queue and reads the failing gate
    sign_in(page, site, "rita")
    queue = page.get_by_role("table")
    assert "credit-default 7: staging → production (blocked)" in queue.inner_text()
    check_page(page, site, "queue")
    page.get_by_role("link", name=f"Request {story.blocked}").click()
    gate = page.locator("tr", has=page.get_by_role("rowheader", name=re.compile("auc_vs_champion")))
    assert "error" in gate.inner_text()
    assert "retrain, or justify with a waiver signed by the risk officer" in gate.inner_text()
    assert page.get_by_role("button", name="Approve").count() == 1  # risk_officer is due
    check_page(page, site, "request")

    # the inventory lists both models; the model page renders the model card safely
    page.get_by_role("link", name="Inventory").click()
    table = page.get_by_role("table").inner_text()
    assert "credit-default" in table and "credit-limit" in table
    check_page(page, site, "inventory")
    page.get_by_role("link", name="credit-limit").click()
    assert page.locator("#production").inner_text() == "none"
    assert page.locator(".markdown h5", has_text="Model card").count() == 1  # under the h4
    assert page.locator(".markdown script").count() == 0

    # the on-call engineer approves the emergency change: the model moves to production
    sign_in(page, site, "frank")
    page.get_by_role("link", name=f"Request {story.emergency}").click()
    page.get_by_label("Reason").fill("scores drifted; rolling forward")
    page.get_by_label("Ticket").fill("INC-7")
    page.get_by_role("button", name="Approve").click()
    page.wait_for_url(re.compile(r"/requests/\d+\?done=approved"))
    assert page.get_by_role("status").first.inner_text() == "Your approval is recorded."
    assert page.locator("#status").inner_text() == "executed"
    assert "frank (mlops_oncall): approve" in page.inner_text("main")
    page.get_by_role("button", name=re.compile("Replay decision")).click()
    assert "identical" in page.locator("#replay").inner_text()
    page.get_by_role("link", name="credit-limit").first.click()
    assert page.locator("#production").inner_text() == "7"
    digest = page.locator("details.digest").first  # the artifact digest: short, whole on demand
    assert re.fullmatch(r"[0-9a-f]{12}…", digest.locator("summary").inner_text())
    digest.locator("summary").press("Enter")
    assert re.fullmatch(r"[0-9a-f]{64}", digest.locator("code").nth(1).inner_text())
    check_page(page, site, "model")

    # the audit view: verify the chain, filter by model
    page.get_by_role("link", name="Audit").click()
    page.get_by_role("link", name="Verify the chain now").click()
    assert page.locator("#verify").inner_text().startswith("Verified:")
    page.get_by_label("Model").fill("credit-limit")
    page.get_by_role("button", name="Filter").click()
    subjects = page.locator("tbody tr td:nth-child(5)").all_inner_texts()
    assert "model:credit-limit" in subjects and "model:credit-default" not in subjects
    check_page(page, site, "audit")
    page.get_by_role("link", name="Analytics").click()
    assert "Which gate blocks most" in page.inner_text("main")
    assert page.locator("svg[role=img]").count() >= 2
    check_page(page, site, "analytics")
    assert {p.name for p in site.shots.iterdir()} >= {
        f"{n}.png" for n in ("signin", "queue", "request", "inventory", "model", "audit")
    }


def test_refusals(browser_context: Any, site: Site) -> None:
    page = browser_context.new_page()
    blocked = f"{site.url}/requests/{site.story.blocked}"
    # an auditor holds none of the required roles: no button, and a forged POST is refused
    sign_in(page, site, "aude")
    page.goto(blocked)
    assert page.get_by_role("button", name="Approve").count() == 0
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    forged = page.request.post(blocked + "/approve", form={"csrf": csrf, "reason": "x"})
    assert forged.status == 403, forged.text()
    # the requester: no button on her own request, and the use case refuses the POST
    sign_in(page, site, "alice")
    page.goto(blocked)
    assert page.get_by_role("button", name="Approve").count() == 0
    assert "your own request" in page.inner_text("main")
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    assert page.request.post(blocked + "/approve", form={"csrf": csrf}).status == 403
    # a permitted user without the form's CSRF token, or with a wrong one: refused
    sign_in(page, site, "rita")
    page.goto(blocked)
    missing = page.request.post(blocked + "/reject", form={"reason": "no"})
    wrong = page.request.post(blocked + "/reject", form={"reason": "no", "csrf": "0" * 64})
    assert (missing.status, wrong.status) == (403, 403)
    assert "CSRF" in wrong.text()
    page.goto(blocked)
    assert page.locator("#status").inner_text() == "blocked"
    # the session cookie is HttpOnly and SameSite=Strict (not Secure over plain HTTP)
    cookie = next(c for c in page.context.cookies() if c["name"] == COOKIE)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and not cookie["secure"]
    # an expired session (issued 9 hours ago, past the 8-hour limit): back to sign-in
    old = SessionKeeper(site.ws.home).issue(
        site.story.tokens["rita"], at=int(time.time()) - 9 * 3600
    )
    page.context.clear_cookies()
    page.context.add_cookies([{"name": COOKIE, "value": old, "url": site.url}])
    page.goto(site.url + "/queue")
    assert page.url.startswith(site.url + "/signin") and "next=%2Fqueue" in page.url
    assert "expired" in page.inner_text("main")
    # a tampered cookie is no session either; a wrong token does not sign in
    page.context.add_cookies([{"name": COOKIE, "value": old[:-4] + "AAAA", "url": site.url}])
    page.goto(site.url + "/")
    assert "/signin" in page.url
    page.get_by_label("API token").fill("clr_not-a-real-token")
    page.get_by_role("button", name="Sign in").click()
    assert "Sign-in refused" in page.inner_text("main")
    # the sign-in form itself needs its double-submit token
    page.context.clear_cookies()
    r = page.request.post(site.url + "/signin", form={"token": site.story.tokens["rita"]})
    assert r.status == 403
