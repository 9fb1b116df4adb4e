"""Backtest: the stored decisions decided again under a proposed policy, from their inputs."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

import pytest
import yaml

from clearance.core.approvals import Approval
from clearance.core.engine import Evaluation, evaluate, resolve_transition
from clearance.core.loading import parse_policy
from clearance.core.version import ModelVersion
from clearance.errors import InputError, NotFound, PolicyError
from clearance.local import LocalClearance
from clearance.service import backtest as backtest_module
from clearance.service.backtest import BacktestOut, Backtests, PolicyDocument
from clearance.service.ports import ScannedDecision
from clearance.service.records import DecisionRecord

if TYPE_CHECKING:
    from conftest import Env


def files(doc: dict[str, Any]) -> list[PolicyDocument]:
    return [PolicyDocument(name="credit.yaml", text=yaml.safe_dump(doc, sort_keys=False))]


@pytest.fixture
def decided(env: Env) -> Env:
    """Version 1 in production (auc 0.80), 2 in staging (0.72), 3 refused staging (0.60);
    a day later, 4 refused staging too (0.65)."""
    env.to_production("1", auc=0.80)
    env.to_staging("2", auc=0.72)
    env.register("3", auc=0.60)
    env.ws.promotions.promote(env.model, "3", "staging", actor="alice")
    env.clock.advance(days=1)
    env.register("4", auc=0.65)
    env.ws.promotions.promote(env.model, "4", "staging", actor="alice")
    return env


def stored(env: Env) -> list[DecisionRecord]:
    with env.ws.store.reading() as tx:
        return [d for r in tx.list_requests() for d in tx.decisions_for(r.id)]


def backtest(env: Env, doc: dict[str, Any], **kw: Any) -> BacktestOut:
    return env.ws.replays.backtest(files(doc), **kw)


@pytest.mark.backends("memory", "sqlite")
def test_a_tightened_floor_blocks_the_production_version(decided: Env) -> None:
    report = backtest(decided, decided.policy(version="1.1.0", auc_min=0.85))
    decisions = stored(decided)
    assert report.examined == len(decisions) == 7
    # every decision of versions 1 and 2 now fails the floor; 3 and 4 were denied already
    moved = {(c.version, c.before, c.after) for c in report.changed}
    assert moved == {
        ("1", "allow", "deny"),  # to staging, and into production
        ("1", "needs_approval", "deny"),  # the first approval's re-decision
        ("2", "allow", "deny"),
    }
    assert report.newly_blocked == len(report.changed) == 5
    assert (report.same, report.newly_allowed, report.approvals_changed) == (2, 0, 0)
    assert report.evaluated == 7  # the floor is on both transitions: measured for each
    assert report.unreplayable == 0
    assert report.gate_changes == {"auc_floor": 5}
    floor = report.changed[0].gates[0]
    assert (floor.gate_id, floor.before, floor.after) == ("auc_floor", "pass", "fail")
    assert floor.threshold_before == 0.70 and floor.threshold_after == 0.85
    assert floor.observed_before == floor.observed_after
    [risk] = report.production_at_risk
    assert (risk.model, risk.version, risk.before, risk.after) == (
        decided.model,
        "1",
        "allow",
        "deny",
    )
    assert risk.gates == ["auc_floor"]
    assert report.exit_code == 1
    assert any("auc_floor" in note for note in report.policy_changes)
    assert report.changed == sorted(report.changed, key=lambda c: -c.decision)  # newest first


def test_a_loosened_floor_lets_the_refused_versions_through(decided: Env) -> None:
    report = backtest(decided, decided.policy(version="1.1.0", auc_min=0.55))
    assert {(c.version, c.before, c.after) for c in report.changed} == {
        ("3", "deny", "allow"),
        ("4", "deny", "allow"),
    }
    assert (report.newly_allowed, report.newly_blocked, report.same) == (2, 0, 5)
    assert report.production_at_risk == [] and report.exit_code == 0


def test_an_extra_sign_off_holds_the_production_version_for_approval(decided: Env) -> None:
    approvals = [{"role": "model_owner"}, {"role": "risk_officer"}, {"role": "compliance_officer"}]
    report = backtest(decided, decided.policy(version="1.1.0", prod_approvals=approvals))
    [change] = [c for c in report.changed if c.before == "allow"]
    assert (change.version, change.to_stage, change.after) == ("1", "production", "needs_approval")
    assert change.gates == []
    assert change.approvals == "complete -> pending compliance_officer (0/1)"
    assert report.approvals_changed == 1
    # only the production decisions' sign-offs are counted again; no gate is measured
    assert report.evaluated == 3 and report.gate_changes == {}
    [risk] = report.production_at_risk
    assert (risk.version, risk.after, risk.gates) == ("1", "needs_approval", [])


def test_since_keeps_the_later_decisions_only(decided: Env) -> None:
    day = (decided.clock.now()).date()
    report = backtest(decided, decided.policy(version="1.1.0", auc_min=0.55), since=day)
    assert report.examined == 1
    assert [(c.version, c.after) for c in report.changed] == [("4", "allow")]
    later = backtest(
        decided, decided.policy(version="1.1.0", auc_min=0.55), since=day + dt.timedelta(days=1)
    )
    assert (later.examined, later.changed) == (0, [])


def test_limit_keeps_the_newest_and_says_more_matched(decided: Env) -> None:
    report = backtest(decided, decided.policy(version="1.1.0", auc_min=0.55), limit=2)
    newest = sorted(d.id for d in stored(decided))[-2:]
    assert (report.examined, report.more) == (2, True)
    assert [c.decision for c in report.changed] == newest[::-1]  # versions 4 and 3 refused


def test_evidence_gone_from_the_blob_store_is_unreplayable(decided: Env) -> None:
    doc = decided.policy(version="1.1.0")
    doc["gates"][2]["documents"][0]["sections"] = ["Intended use"]  # model_card is measured
    for sha in _card_blobs(decided):
        decided.ws.blobs.remove(sha)
    report = backtest(decided, doc)
    production = [d for d in stored(decided) if d.inputs["to"] == "production"]
    assert report.unreplayable == len(production) == 3
    assert {u.version for u in report.unreplayable_decisions} == {"1"}
    assert all("model_card" in u.reason for u in report.unreplayable_decisions)
    # the gates to staging never read the card: those decisions stand, evidence or not
    assert report.same == report.examined - 3


def test_a_gate_that_stands_is_not_measured_again(decided: Env) -> None:
    """Only the changed floor is measured: with the card gone, production decisions still
    replay, since the card gate's recorded result stands."""
    for item in _card_blobs(decided):
        decided.ws.blobs.remove(item)
    report = backtest(decided, decided.policy(version="1.1.0", auc_min=0.85))
    assert report.unreplayable == 0 and report.newly_blocked == 5


def _card_blobs(env: Env) -> set[str]:
    with env.ws.store.reading() as tx:
        model = tx.get_model(env.model)
        assert model is not None
        return {
            e.item.sha256
            for v in tx.list_versions(model.id)
            for e in tx.evidence_for(v.id)
            if e.item.sha256
        }


@pytest.mark.parametrize(
    "change",
    [
        {"auc_min": 0.85},
        {"auc_min": 0.55},
        {"prod_approvals": [{"role": "model_owner"}]},
        {"prod_approvals": [{"role": "model_owner"}, {"role": "compliance_officer"}]},
    ],
)
def test_the_answers_are_those_of_a_full_evaluation(decided: Env, change: dict[str, Any]) -> None:
    """Reusing recorded gate results (and approval status) gives what evaluating every gate
    under the new policy gives, decision by decision."""
    doc = decided.policy(version="1.1.0", **change)
    report = backtest(decided, doc)
    new = parse_policy([(d.name, d.text) for d in files(doc)])
    after = {c.decision: c.after for c in report.changed}
    for record in stored(decided):
        i = record.inputs
        version = ModelVersion.model_validate(i["version"])
        full = evaluate(
            Evaluation(
                new,
                resolve_transition(new, i["from"], i["to"]),
                version,
                decided.ws.evidence.open(version, i["artifact_blob"]),
                dt.datetime.fromisoformat(i["now"]),
                approvals=[Approval.model_validate(a) for a in i["approvals"]],
                change_type=i["change_type"],
                requester=i["requester"],
            )
        )
        assert after.get(record.id, record.outcome) == full.outcome.value, record.id


def test_a_policy_of_another_name_says_which_it_replaces(decided: Env) -> None:
    doc = decided.policy(name="credit-next", version="1.0.0", auc_min=0.85)
    with pytest.raises(NotFound, match=r"no applied policy named .credit-next.*--replaces NAME"):
        backtest(decided, doc)
    report = backtest(decided, doc, replaces="credit")
    assert report.replaces == "credit" and report.newly_blocked == 5


def test_a_removed_transition_is_unreplayable_with_the_reason(decided: Env) -> None:
    doc = decided.policy(version="1.1.0")
    doc["workflow"]["transitions"] = [
        t for t in doc["workflow"]["transitions"] if t["to"] != "staging"
    ]
    report = backtest(decided, doc)
    assert report.unreplayable == 4
    assert all("allows no transition" in u.reason for u in report.unreplayable_decisions)


def test_bad_input_is_refused_precisely(decided: Env) -> None:
    bad = [PolicyDocument(name="p.yaml", text="metadata: [unclosed\n")]
    with pytest.raises(PolicyError) as caught:
        decided.ws.replays.backtest(bad)
    assert "p.yaml" in str(caught.value)
    with pytest.raises(InputError, match="limit"):
        backtest(decided, decided.policy(version="1.1.0"), limit=0)
    with pytest.raises(InputError, match="files"):
        decided.ws.replays.backtest([])
    with pytest.raises(InputError, match="files"):
        decided.ws.replays.backtest([{"name": "x.yaml", "text": "a" * (1 << 20 + 1)}])


def test_the_contract_operation_reaches_it(decided: Env) -> None:
    """Through the declared operation (what the API route and the SDK call)."""
    report = LocalClearance(decided.ws).backtest_policy(
        files(decided.policy(version="1.1.0", auc_min=0.85)), limit=3
    )
    assert report.examined == 3 and report.more
    assert BacktestOut.model_validate(report.model_dump(mode="json")) == report


class _Scanning:
    """The store, its reads noted (``pages``: the limit of each ``decisions_under`` call) or
    changed by the transaction class given."""

    def __init__(self, inner: Any, tx_class: type[_ScanTx] | None = None) -> None:
        self.inner = inner
        self.tx_class = tx_class or _ScanTx
        self.pages: list[int] = []

    def transaction(self) -> Any:
        return self.inner.transaction()

    @contextmanager
    def reading(self) -> Iterator[Any]:
        with self.inner.reading() as tx:
            yield self.tx_class(tx, self.pages)


class _ScanTx:
    def __init__(self, tx: Any, pages: list[int]) -> None:
        self._tx = tx
        self.pages = pages

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tx, name)

    def decisions_under(self, policy_ids: Any, **kw: Any) -> list[ScannedDecision]:
        self.pages.append(kw["limit"])
        found: list[ScannedDecision] = self._tx.decisions_under(policy_ids, **kw)
        return found


@pytest.mark.backends("memory", "sqlite")
@pytest.mark.parametrize("page", [1, 2, 3, 2000])
@pytest.mark.parametrize("limit", [1, 2, 6, 7, 8, 100])
def test_paged_reads_answer_as_one_read(
    decided: Env, monkeypatch: pytest.MonkeyPatch, page: int, limit: int
) -> None:
    doc = decided.policy(version="1.1.0", auc_min=0.85)
    whole = Backtests(decided.ws.store, decided.ws.evidence).run(files(doc), limit=limit)
    monkeypatch.setattr(backtest_module, "PAGE", page)
    store = _Scanning(decided.ws.store)
    paged = Backtests(store, decided.ws.evidence).run(files(doc), limit=limit)
    assert paged == whole
    assert (paged.examined, paged.more) == (min(limit, 7), limit < 7)
    assert len(store.pages) == min(limit, 7) // page + 1 and max(store.pages) <= page


def _plan(old: dict[str, Any], new: dict[str, Any]) -> tuple[str, ...]:
    loaded = [parse_policy([(d.name, d.text) for d in files(doc)]) for doc in (old, new)]
    plan = backtest_module._make_plan(*loaded, "staging", "production", "standard", None)
    return plan.measure


def test_only_changed_gates_are_measured_and_a_holm_family_as_a_whole(env: Env) -> None:
    base = env.policy()
    assert _plan(base, env.policy(version="1.1.0", auc_min=0.85)) == ("auc_floor",)
    assert _plan(base, env.policy(version="1.1.0")) == ()
    champion = env.policy(version="1.1.0")
    champion["gates"][1]["max_degradation"] = 0.02
    assert _plan(base, champion) == ("auc_vs_champion",)
    # two hypothesis tests (champion comparisons) are Holm-adjusted together: one changed,
    # both are measured again
    pair = env.policy()
    second = {**pair["gates"][1], "id": "auc_vs_champion_2"}
    pair["gates"].append(second)
    pair["workflow"]["transitions"][1]["gates"].append("auc_vs_champion_2")
    changed = copy.deepcopy(pair)
    changed["metadata"]["version"] = "1.1.0"
    changed["gates"][3]["max_degradation"] = 0.02
    assert _plan(pair, changed) == ("auc_vs_champion", "auc_vs_champion_2")
    settings = env.policy(version="1.1.0")
    settings["settings"] = {"near_miss": 0.2}
    assert _plan(base, settings) == ("auc_floor", "auc_vs_champion", "model_card")


class _Twice(_ScanTx):
    """Every decision stored twice (a copy under another number): equal recorded inputs."""

    def decisions_under(self, policy_ids: Any, **kw: Any) -> list[ScannedDecision]:
        before, limit = kw.pop("before"), kw.pop("limit")
        found = super().decisions_under(policy_ids, before=None, limit=1000, **kw)
        both = sorted(
            [*found, *(dataclasses.replace(d, id=d.id + 1000) for d in found)],
            key=lambda d: -d.id,
        )
        return [d for d in both if before is None or d.id < before][:limit]

    def get_decision(self, key: str) -> list[DecisionRecord]:
        found: list[DecisionRecord] = self._tx.get_decision(str(int(key) % 1000))
        return [d.model_copy(update={"id": int(key)}) for d in found]


def test_decisions_with_equal_recorded_inputs_are_evaluated_once(decided: Env) -> None:
    store = _Scanning(decided.ws.store, _Twice)
    doc = decided.policy(version="1.1.0", auc_min=0.85)
    report = Backtests(store, decided.ws.evidence).run(files(doc))
    assert (report.examined, report.evaluated) == (14, 7)
    assert (report.newly_blocked, report.same) == (10, 4)


class _Unlisted(_ScanTx):
    """Results that hold one gate more than any stored policy lists: read whole instead."""

    reads: ClassVar[list[str]] = []

    def decisions_under(self, policy_ids: Any, **kw: Any) -> list[ScannedDecision]:
        found = super().decisions_under(policy_ids, **kw)
        return [dataclasses.replace(d, picked=(*d.picked[:-1], "extra")) for d in found]

    def get_decision(self, key: str) -> list[DecisionRecord]:
        self.reads.append(key)
        found: list[DecisionRecord] = self._tx.get_decision(key)
        return found


@pytest.mark.backends("memory", "sqlite")
def test_a_result_the_picked_values_do_not_cover_is_read_whole(decided: Env) -> None:
    doc = decided.policy(version="1.1.0", auc_min=0.85)
    plain = backtest(decided, doc)
    _Unlisted.reads.clear()
    whole = Backtests(_Scanning(decided.ws.store, _Unlisted), decided.ws.evidence).run(files(doc))
    assert whole == plain
    assert sorted(_Unlisted.reads, key=int) == [str(d.id) for d in stored(decided)]
    # read in part, only the decisions whose gates moved are read again whole: none, as the
    # observed values and thresholds of the gates the change may move are picked too
    _Unlisted.reads.clear()
    picked = Backtests(_Scanning(decided.ws.store, _Listed), decided.ws.evidence).run(files(doc))
    assert picked == plain and _Unlisted.reads == []


class _Listed(_Unlisted):
    def decisions_under(self, policy_ids: Any, **kw: Any) -> list[ScannedDecision]:
        return _ScanTx.decisions_under(self, policy_ids, **kw)


@pytest.mark.backends("memory", "sqlite")
def test_too_many_gates_to_pick_reads_every_result_whole(
    decided: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = decided.policy(version="1.1.0", auc_min=0.85)
    plain = backtest(decided, doc)
    monkeypatch.setattr(backtest_module, "MAX_PICKS", 8)
    _Unlisted.reads.clear()
    whole = Backtests(_Scanning(decided.ws.store, _Listed), decided.ws.evidence).run(files(doc))
    assert whole == plain
    assert sorted(_Unlisted.reads, key=int) == [str(d.id) for d in stored(decided)]
