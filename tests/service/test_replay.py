"""Replay on a real store: a stored decision recomputes exactly from its recorded inputs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from sqlalchemy import text

from clearance.errors import NotFound

if TYPE_CHECKING:
    from conftest import Env

BAD_CARD = "# Model card\n\n## Intended use\nScoring.\n"


@pytest.fixture
def decided(env: Env) -> Env:
    """Allowed, blocked, pending (with a partial approval) and rejected decisions."""
    env.register("0", auc=0.60)
    env.ws.promotions.promote(env.model, "0", "staging", actor="alice")  # blocked: auc_floor
    env.to_production("1")  # allows, and approvals on the way
    env.to_staging("2", card=BAD_CARD)
    env.ws.promotions.promote(env.model, "2", "production", actor="alice")  # blocked: card
    env.to_staging("3")
    request = env.ws.promotions.promote(env.model, "3", "production", actor="alice").request
    env.ws.promotions.approve(request.id, actor="carol")  # pending, one approval recorded
    return env


def _decisions(env: Env) -> list[tuple[int, str, str]]:
    with env.ws.engine.connect() as conn:
        rows = conn.execute(text("SELECT id, outcome, digest FROM decisions ORDER BY id"))
        return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]


@pytest.mark.backends("sqlite")  # reads the decisions table in SQL
def test_every_stored_decision_replays_identically(decided: Env) -> None:
    decisions = _decisions(decided)
    assert {outcome for _, outcome, _ in decisions} == {"allow", "deny", "needs_approval"}
    for number, outcome, digest in decisions:
        report = decided.ws.replays.replay(str(number))
        assert report.identical, (number, report.differences)
        assert (report.decision, report.decision_id) == (number, digest)
        assert report.recorded_outcome == report.replayed_outcome == outcome
        assert report.current_policy is None  # the policy that decided still governs


@pytest.mark.backends("sqlite")  # reads the decisions table in SQL
def test_a_new_policy_version_keeps_replay_identical_and_shows_todays_answer(
    decided: Env,
) -> None:
    allowed_to_staging = next(n for n, outcome, _ in _decisions(decided) if outcome == "allow")
    decided.apply(decided.policy(version="1.1.0", auc_min=0.85))

    report = decided.ws.replays.replay(str(allowed_to_staging))
    assert report.identical, report.differences
    assert report.replayed_outcome == "allow"
    assert report.current_policy == "credit 1.1.0"
    assert report.current_outcome == "deny"
    assert any("auc_floor" in d and "status" in d for d in report.current_differences)


@pytest.mark.backends("sqlite")  # reads the decisions table in SQL
def test_a_tampered_blob_makes_replay_differ_instead_of_passing(decided: Env) -> None:
    with decided.ws.store.reading() as tx:
        record = next(
            d
            for n, outcome, _ in _decisions(decided)
            for d in tx.get_decision(str(n))
            if outcome == "allow" and d.inputs["to"] == "production"
        )
    sha = record.inputs["version"]["evidence"]["model_card"]["sha256"]
    blob = decided.ws.blobs.root / sha[:2] / sha[2:]
    assert blob.is_file()
    blob.write_text("# Model card\n\n## Intended use\nAnything.\n## Limitations\nNone.\n")

    report = decided.ws.replays.replay(str(record.id))
    assert not report.identical
    assert report.replayed_outcome != "allow"
    assert any("model_card" in d for d in report.differences)

    blob.unlink()  # a missing blob is a difference too, never a silent pass
    report = decided.ws.replays.replay(str(record.id))
    assert not report.identical
    assert any("model_card" in d for d in report.differences)


@pytest.mark.backends("sqlite")  # reads the decisions table in SQL
def test_decisions_are_found_by_number_or_digest_prefix(decided: Env) -> None:
    number, _, digest = _decisions(decided)[-1]
    assert decided.ws.replays.replay(digest[:12]).decision == number
    assert decided.ws.replays.replay(digest.upper()[:16]).decision == number
    with pytest.raises(NotFound, match="no decision '9999'"):
        decided.ws.replays.replay("9999")
    with pytest.raises(NotFound, match="no decision"):
        decided.ws.replays.replay("zzzzzz")


@pytest.mark.backends("sqlite")  # edits rows behind the store
def test_a_digest_prefix_of_only_decimal_digits_is_still_found(decided: Env) -> None:
    """Hex digests often start with digits; such a prefix must not be read as a number."""
    number, _, digest = _decisions(decided)[-1]
    forged = "1234567890" + digest[10:]
    with decided.ws.engine.begin() as conn:
        conn.execute(
            text("UPDATE decisions SET digest = :d WHERE id = :n"), {"d": forged, "n": number}
        )
    assert decided.ws.replays.replay("12345678").decision == number
    assert decided.ws.replays.replay(str(number)).decision == number


def test_replay_survives_a_current_policy_without_the_recorded_transition(env: Env) -> None:
    """Today's policy may drop a change type or transition; the recorded decision still
    replays identically, and the report says why today's answer differs."""
    env.to_production("1")
    env.to_staging("2")
    emergency = env.ws.promotions.promote(
        env.model, "2", "production", actor="alice", change_type="emergency"
    )
    doc = env.policy(version="2.0.0")
    del doc["change_types"]
    env.apply(doc)

    report = env.ws.replays.replay(str(emergency.decision_number))
    assert report.identical, report.differences
    assert report.current_policy == "credit 2.0.0"
    assert report.current_outcome != report.recorded_outcome
    assert any("emergency" in d for d in report.current_differences)


@pytest.mark.backends("sqlite")  # edits rows behind the store
@pytest.mark.parametrize(
    ("statement", "says"),
    [
        (
            "UPDATE decisions SET outcome = 'allow' WHERE id = :n",
            "stored outcome: 'allow' → 'deny'",
        ),
        ("UPDATE decisions SET digest = :d WHERE id = :n", "stored digest: "),
        (
            'UPDATE decisions SET result = REPLACE(result, \'"outcome":"deny"\', '
            '\'"outcome":"allow"\') WHERE id = :n',
            "outcome: 'allow' → 'deny'",
        ),
    ],
    ids=["outcome column", "digest column", "stored result"],
)
def test_an_edited_stored_decision_replays_as_different(
    decided: Env, statement: str, says: str
) -> None:
    """Every stored field is compared with the replay, not only the stored result."""
    number = next(n for n, outcome, _ in _decisions(decided) if outcome == "deny")
    assert decided.ws.replays.replay(str(number)).identical
    with decided.ws.engine.begin() as conn:
        conn.execute(text(statement), {"n": number, "d": "ab" * 32})
    report = decided.ws.replays.replay(str(number))
    assert not report.identical and report.exit_code == 1
    assert any(d.startswith(says) for d in report.differences), report.differences


@pytest.mark.backends("sqlite")  # edits rows behind the store
def test_a_row_rewritten_consistently_still_differs_from_its_audit_event(decided: Env) -> None:
    """Inputs edited, and the digest columns set to what the edited inputs replay to: the
    row agrees with itself, but the decision's audit event (under the hash chain) does not."""
    number = next(n for n, outcome, _ in _decisions(decided) if outcome == "deny")
    with decided.ws.engine.begin() as conn:
        conn.execute(
            text(
                'UPDATE decisions SET inputs = REPLACE(inputs, \'"requester":"alice"\', '
                '\'"requester":"mallory"\') WHERE id = :n'
            ),
            {"n": number},
        )
    report = decided.ws.replays.replay(str(number))
    [column] = [d for d in report.differences if d.startswith("stored digest: ")]
    replayed = column.split(" → ")[1].strip("'")
    with decided.ws.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE decisions SET digest = :d, result = REPLACE(result, digest, :e) "
                "WHERE id = :n"
            ),
            {"n": number, "d": replayed, "e": replayed},
        )
    report = decided.ws.replays.replay(str(number))
    assert not report.identical
    assert [d.split(":")[0] for d in report.differences] == [
        d.split(":")[0] for d in report.differences if d.startswith("audit event seq ")
    ], report.differences
    assert any("decision_id" in d for d in report.differences)
