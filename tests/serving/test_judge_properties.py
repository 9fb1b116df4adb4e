"""``judge`` against a plain statement of its rules, over drawn variations of a real check.

One real serving check (a workspace, a production version, its signed attestation) is
varied by Hypothesis: a problem the server reports, the bytes' digest, the attestation
present or not, the key pinned (right or wrong) or listed, the waivers the decision relied
on with their cover, an emergency bypass with its expiry, and the time of the check. The
oracle below says, in the documented order, which reason must refuse it, or none.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearance.core.audit import generate_key, public_key_raw
from clearance.service.serving_check import (
    Bypass,
    BypassedGate,
    ReliedWaiver,
    ServingCheck,
    ServingProblem,
)
from clearance.serving.verify import ServingRefused, judge
from serving_setup import MODEL, story

NON_TIME = ["not_serving", "not_approved", "artifact_missing", "attestation_invalid"]
HOURS = st.integers(
    min_value=-3, max_value=3
)  # small: equal times (the boundaries) are drawn often


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> tuple[ServingCheck, bytes]:
    s = story(Path(tmp_path_factory.mktemp("judge")))
    s.register("1")
    s.to_production("1")
    check = s.ws.serving.check(MODEL)
    assert check.ok
    return check, public_key_raw(s.ws.key)


@st.composite
def variations(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly sound checks (so the later rules get their turn), with the times close."""
    problems = st.sampled_from([*NON_TIME, "attestation_missing"])
    return {
        "problem": draw(st.sampled_from([None] * 4) | problems),
        "same_bytes": draw(st.sampled_from([True, True, True, False])),
        "attested": draw(st.sampled_from([True, True, False])),
        "require": draw(st.booleans()),
        "key": draw(st.sampled_from(["listed", "pinned", "listed", "pinned", "wrong"])),
        # (covered until, in hours from the check; revoked)
        "waivers": draw(st.lists(st.tuples(st.none() | HOURS, st.booleans()), max_size=2)),
        "bypass": draw(
            st.none() | st.tuples(st.none() | HOURS, st.lists(st.none() | HOURS, max_size=3))
        ),
        "now": draw(HOURS),
    }


def expected(v: dict[str, Any]) -> str | None:
    """The documented order: the server's own findings, the bytes, the attestation, the
    waivers, the bypass; expiries judged at ``now``."""
    if v["problem"] is not None and not (
        v["problem"] == "attestation_missing" and not v["require"]
    ):
        return str(v["problem"])
    if not v["same_bytes"]:
        return "digest_mismatch"
    if not v["attested"]:
        if v["require"]:
            return "attestation_missing"
    elif v["key"] == "wrong":
        return "attestation_invalid"
    for until, revoked in v["waivers"]:
        if until is None or until <= v["now"]:
            return "waiver_revoked" if revoked else "waiver_expired"
    if v["bypass"] is not None:
        expires, covers = v["bypass"]
        lapsed = expires is not None and v["now"] >= expires
        if lapsed and any(c is None or c <= v["now"] for c in covers):
            return "bypass_expired"
    return None


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(v=variations())
def test_judge_refuses_exactly_when_the_rules_say(
    real: tuple[ServingCheck, bytes], v: dict[str, Any]
) -> None:
    check, key = real
    at = check.checked_at

    def hours(n: int | None) -> dt.datetime | None:
        return None if n is None else at + dt.timedelta(hours=n)

    waivers = [
        ReliedWaiver(
            id=f"W-{i}",
            gate="auc_floor",
            expires_at=at,
            revoked_at=at if revoked else None,
            state="revoked" if revoked else "active",
            covered_by=None if until is None else f"W-{i}",
            covered_until=hours(until),
        )
        for i, (until, revoked) in enumerate(v["waivers"], 1)
    ]
    bypass = None
    if v["bypass"] is not None:
        expires, covers = v["bypass"]
        bypass = Bypass(
            change_type="emergency",
            executed_at=at,
            expires_at=hours(expires),
            gates=[
                BypassedGate(gate=f"g{i}", covered_by=None, covered_until=hours(c))
                for i, c in enumerate(covers)
            ],
        )
    problems = [] if v["problem"] is None else [ServingProblem(code=v["problem"], message="x")]
    varied = check.model_copy(
        update={
            "problems": problems,
            "attestation": check.attestation if v["attested"] else None,
            "waivers": waivers,
            "bypass": bypass,
        }
    )
    assert check.artifact is not None and check.artifact.sha256 is not None
    sha = check.artifact.sha256 if v["same_bytes"] else "0" * 64
    pinned = {"listed": None, "pinned": key, "wrong": public_key_raw(generate_key())}[v["key"]]
    want = expected(v)
    now = hours(v["now"])
    assert now is not None
    try:
        verified = judge(
            varied, sha256=sha, now=now, public_key=pinned, require_attestation=v["require"]
        )
    except ServingRefused as exc:
        assert exc.reason == want, (exc, v)
        return
    assert want is None, (want, v)
    assert verified.sha256 == sha and verified.version == "1"
    assert (verified.keyid is None) == (not v["attested"])
