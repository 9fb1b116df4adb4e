"""Each built-in gate type: pass, fail, error on missing evidence, margins and thresholds."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from clearance.core.gates.base import GateContext, Measurement
from clearance.core.gates.documentation import headings
from clearance.core.gates.registry import GateRegistry, default_registry
from clearance.core.hashing import sha256_bytes
from clearance.core.results import GateStatus
from clearance.core.version import ModelVersion, NoEvidence
from clearance.errors import NotFound

PASS, FAIL, ERROR, SKIPPED = GateStatus.PASS, GateStatus.FAIL, GateStatus.ERROR, GateStatus.SKIPPED
Run = Callable[..., Measurement]


@pytest.fixture(scope="module")
def run(make_version: Callable[..., ModelVersion], fake_evidence: type, now: dt.datetime) -> Run:
    """Evaluate one gate type with validated params against a version and its evidence."""

    def go(
        gate_type: str,
        params: dict[str, Any],
        version: ModelVersion | None = None,
        evidence: Any = None,
        *,
        to_stage: str = "production",
        at: dt.datetime = now,
    ) -> Measurement:
        evaluator = default_registry().get(gate_type)
        typed = evaluator.Params.model_validate(params)
        ctx = GateContext(
            version=version or make_version(),
            evidence=evidence if evidence is not None else fake_evidence(),
            now=at,
            from_stage="staging",
            to_stage=to_stage,
        )
        return evaluator.evaluate(typed, ctx)

    return go


# --- metric_threshold -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "status", "op", "threshold", "margin", "message"),
    [
        ({"min": 0.7}, PASS, ">=", 0.7, 0.112, "auc = 0.812 meets >= 0.7"),
        ({"min": 0.9}, FAIL, ">=", 0.9, -0.088, "auc = 0.812 violates >= 0.9"),
        ({"min": 0.812}, PASS, ">=", 0.812, 0.0, "auc = 0.812 meets >= 0.812"),
        ({"max": 0.9}, PASS, "<=", 0.9, 0.088, "auc = 0.812 meets <= 0.9"),
        ({"max": 0.8}, FAIL, "<=", 0.8, -0.012, "auc = 0.812 violates <= 0.8"),
        # with both bounds the tighter side decides the margin and the operator
        ({"min": 0.5, "max": 0.9}, PASS, "<=", 0.9, 0.088, "auc = 0.812 meets <= 0.9"),
        ({"min": 0.8, "max": 1.0}, PASS, ">=", 0.8, 0.012, "auc = 0.812 meets >= 0.8"),
        ({"min": 0.5, "max": 0.8}, FAIL, "<=", 0.8, -0.012, "auc = 0.812 violates <= 0.8"),
    ],
)
def test_metric_threshold(
    run: Run,
    params: dict[str, float],
    status: GateStatus,
    op: str,
    threshold: float,
    margin: float,
    message: str,
) -> None:
    m = run("metric_threshold", {"metric": "auc", **params})
    assert m.status is status
    assert (m.operator, m.threshold, m.observed) == (op, threshold, 0.812)
    assert m.margin == pytest.approx(margin)
    assert m.scale == pytest.approx(abs(threshold))
    assert m.message == message


def test_metric_threshold_missing_metric_is_an_error_naming_it(run: Run) -> None:
    m = run("metric_threshold", {"metric": "ks", "min": 0.3})
    assert m.status is ERROR
    assert m.message == "needs metric 'ks' in the version's metrics (recorded: auc, latency_p95_ms)"
    assert m.details == {"missing": ["metrics.ks"]}


def test_metric_threshold_with_no_metrics_at_all(run: Run, make_version: Any) -> None:
    m = run("metric_threshold", {"metric": "auc", "min": 0.7}, make_version(metrics={}))
    assert m.status is ERROR
    assert m.message.endswith("(recorded: none)")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"metric": "auc"}, "give min, max or both"),
        ({"metric": "auc", "min": 0.9, "max": 0.1}, "min 0.9 is greater than max 0.1"),
        ({"metric": "auc", "min": float("nan")}, "finite number"),
        ({"min": 0.1}, "metric"),
        ({"metric": "auc", "min": 0.1, "mni": 0.2}, "Extra inputs are not permitted"),
    ],
)
def test_metric_threshold_params_are_validated(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        default_registry().get("metric_threshold").Params.model_validate(params)


# --- champion_comparison ----------------------------------------------------------------------

AUC = {"metric": "auc"}


@pytest.mark.parametrize(
    ("candidate", "limit", "status", "change", "threshold"),
    [
        (0.812, {"max_degradation": 0.01}, PASS, 0.007, -0.01),
        (0.796, {"max_degradation": 0.01}, PASS, -0.009, -0.01),
        (0.790, {"max_degradation": 0.01}, FAIL, -0.015, -0.01),
        (0.800, {"max_relative_degradation": 0.01}, PASS, -0.005 / 0.805, -0.01),
        (0.790, {"max_relative_degradation": 0.01}, FAIL, -0.015 / 0.805, -0.01),
        (0.812, {"min_improvement": 0.005}, PASS, 0.007, 0.005),
        (0.812, {"min_improvement": 0.01}, FAIL, 0.007, 0.01),
        (0.812, {"min_relative_improvement": 0.005}, PASS, 0.007 / 0.805, 0.005),
        (0.812, {"min_relative_improvement": 0.01}, FAIL, 0.007 / 0.805, 0.01),
        (0.805, {"max_degradation": 0.0}, PASS, 0.0, 0.0),
    ],
)
def test_champion_comparison_higher_is_better(
    run: Run,
    make_version: Any,
    candidate: float,
    limit: dict[str, float],
    status: GateStatus,
    change: float,
    threshold: float,
) -> None:
    version = make_version(metrics={"auc": candidate})
    m = run("champion_comparison", {**AUC, **limit}, version)
    assert m.status is status
    assert m.observed == pytest.approx(change)
    assert m.threshold == pytest.approx(threshold)
    assert m.margin == pytest.approx(change - threshold)
    assert m.operator == ">="
    assert m.details["champion"] == 0.805
    assert m.details["champion_version"] == "6"
    assert m.details["relative"] is ("relative" in next(iter(limit)))


@pytest.mark.parametrize(
    ("candidate", "status", "change"),
    [(84.0, PASS, 6.0), (94.0, PASS, -4.0), (96.0, FAIL, -6.0)],
)
def test_champion_comparison_lower_is_better(
    run: Run, make_version: Any, candidate: float, status: GateStatus, change: float
) -> None:
    version = make_version(metrics={"latency_p95_ms": candidate})
    params = {"metric": "latency_p95_ms", "higher_is_better": False, "max_degradation": 5}
    m = run("champion_comparison", params, version)
    assert m.status is status
    assert m.observed == pytest.approx(change)  # positive: the candidate is faster
    assert m.margin == pytest.approx(change + 5)


@pytest.mark.parametrize(("when", "status"), [("error", ERROR), ("skip", SKIPPED), ("pass", PASS)])
@pytest.mark.parametrize("champion", [None, {"version": "6", "metrics": {"ks": 0.4}}])
def test_champion_comparison_without_a_champion(
    run: Run, make_version: Any, when: str, status: GateStatus, champion: Any
) -> None:
    params = {**AUC, "max_degradation": 0.01, "when_no_champion": when}
    m = run("champion_comparison", params, make_version(champion=champion))
    assert m.status is status
    if status is ERROR:
        assert "needs the champion's 'auc' (champion.metrics.auc)" in m.message
        assert m.details == {"missing": ["champion.metrics.auc"]}
    else:
        assert m.message == "no champion for production: nothing to compare with"


def test_champion_comparison_candidate_metric_missing(run: Run, make_version: Any) -> None:
    m = run("champion_comparison", {**AUC, "max_degradation": 0.01}, make_version(metrics={}))
    assert m.status is ERROR
    assert m.message == "needs metric 'auc' in the version's metrics"


def test_champion_comparison_relative_to_zero_is_an_error(run: Run, make_version: Any) -> None:
    version = make_version(champion={"metrics": {"auc": 0.0}})
    m = run("champion_comparison", {**AUC, "max_relative_degradation": 0.1}, version)
    assert m.status is ERROR
    assert "relative change is undefined" in m.message
    m = run("champion_comparison", {**AUC, "max_degradation": 0.1}, version)
    assert m.status is PASS


@pytest.mark.parametrize(
    "params",
    [
        {"metric": "auc"},
        {"metric": "auc", "max_degradation": 0.01, "min_improvement": 0.01},
        {"metric": "auc", "max_degradation": -0.01},
        {"metric": "auc", "max_degradation": 0.01, "when_no_champion": "ignore"},
    ],
)
def test_champion_comparison_params_are_validated(params: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        default_registry().get("champion_comparison").Params.model_validate(params)


# --- documentation ----------------------------------------------------------------------------

CARD = b"""# Model card: credit-default

## Intended Use
Scoring applications.

Training data
=============
Loans 2019-2025.

Evaluation   ##
-------------
AUC 0.81.

###   LIMITATIONS   ###
Thin files.
"""


def test_headings_atx_and_setext_case_insensitive() -> None:
    assert headings(CARD.decode()) == {
        "model card: credit-default",
        "intended use",
        "training data",
        "evaluation ##",
        "limitations",
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("#NoSpace\n", set()),  # not a heading in CommonMark
        ("    # indented code\n", set()),
        ("\n---\n", set()),  # a rule, not an underline
        ("Title\n---\n", {"title"}),
        ("## Closed ##\n", {"closed"}),
        ("   ### Three   Spaces\n", {"three spaces"}),
        ("#\n", set()),
    ],
)
def test_headings_edge_cases(text: str, expected: set[str]) -> None:
    assert headings(text) == expected


def doc_gate(*sections: str, name: str = "model_card") -> dict[str, Any]:
    return {"documents": [{"name": name, "sections": list(sections)}]}


def test_documentation_pass(run: Run, make_version: Any, fake_evidence: type) -> None:
    version = make_version(documents={"model_card": CARD})
    params = doc_gate("intended use", "TRAINING DATA", "Limitations")
    m = run("documentation", params, version, fake_evidence({"model_card": CARD}))
    assert m.status is PASS
    assert m.message == "1/1 documents complete"
    assert m.evidence == {"model_card": sha256_bytes(CARD)}
    assert (m.observed, m.threshold) == (1, 1)


def test_documentation_missing_section(run: Run, make_version: Any, fake_evidence: type) -> None:
    version = make_version(documents={"model_card": CARD})
    params = doc_gate("Intended use", "Fairness", "Monitoring")
    m = run("documentation", params, version, fake_evidence({"model_card": CARD}))
    assert m.status is FAIL
    assert m.message == "model_card: lacks section(s) 'Fairness', 'Monitoring'"
    assert (m.observed, m.threshold) == (0, 1)


@pytest.mark.parametrize("content", [b"", b"   \n\t\n"])
def test_documentation_empty_document_fails(
    run: Run, make_version: Any, fake_evidence: type, content: bytes
) -> None:
    version = make_version(documents={"rollback_plan": content})
    m = run(
        "documentation",
        {"documents": ["rollback_plan"]},
        version,
        fake_evidence({"rollback_plan": content}),
    )
    assert m.status is FAIL
    assert m.message == "rollback_plan: is empty"


@pytest.mark.parametrize(
    ("recorded", "files", "unreadable", "message"),
    [
        (
            {},
            {},
            (),
            "needs evidence model_card: missing (attach it as evidence named 'model_card')",
        ),
        (
            {"model_card": CARD},
            {},
            (),
            "needs evidence model_card: missing (evidence 'model_card' has no readable content)",
        ),
        (
            {"model_card": CARD},
            {"model_card": CARD},
            ("model_card",),
            "needs evidence model_card: missing (cannot read: Permission denied)",
        ),
    ],
)
def test_documentation_missing_evidence_is_an_error_naming_it(
    run: Run,
    make_version: Any,
    fake_evidence: type,
    recorded: dict[str, bytes],
    files: dict[str, bytes],
    unreadable: tuple[str, ...],
    message: str,
) -> None:
    version = make_version(documents=recorded)
    m = run(
        "documentation",
        doc_gate("Intended use"),
        version,
        fake_evidence(files, unreadable=unreadable),
    )
    assert m.status is ERROR
    assert m.message == message
    assert m.details["missing"] == [message.removeprefix("needs evidence ")]


def test_documentation_several_documents(run: Run, make_version: Any, fake_evidence: type) -> None:
    files = {"sbom": b"{}", "model_card": CARD, "empty": b""}
    version = make_version(documents=files)
    evidence = fake_evidence(files)
    m = run("documentation", {"documents": ["sbom", "model_card"]}, version, evidence)
    assert (m.status, m.message) == (PASS, "2/2 documents complete")
    assert set(m.evidence) == {"sbom", "model_card"}
    m = run("documentation", {"documents": ["sbom", "empty", "absent"]}, version, evidence)
    assert m.status is ERROR  # a missing document is an error even beside an incomplete one
    assert m.details == {
        "missing": ["absent: missing (attach it as evidence named 'absent')"],
        "incomplete": ["empty: is empty"],
    }


def test_documentation_needs_a_document() -> None:
    with pytest.raises(ValidationError):
        default_registry().get("documentation").Params.model_validate({"documents": []})


# --- reproducibility --------------------------------------------------------------------------


def test_reproducibility_pass(run: Run, artifact_sha: str) -> None:
    m = run("reproducibility", {})
    assert m.status is PASS
    assert m.message == (
        "recorded: code_commit, data_snapshot, config_digest, seed and artifact sha256"
    )
    assert m.evidence == {"artifact": artifact_sha}
    assert (m.observed, m.threshold) == (5, 5)


def test_reproducibility_digest_mismatch(run: Run, fake_evidence: type, artifact_sha: str) -> None:
    other = sha256_bytes(b"tampered")
    m = run("reproducibility", {}, evidence=fake_evidence(artifact_sha=other))
    assert m.status is FAIL
    assert m.message == (
        f"artifact sha256 mismatch: recorded {artifact_sha[:12]}…, file {other[:12]}…"
    )
    assert m.evidence == {"artifact": other}
    assert (m.observed, m.threshold) == (4, 5)


@pytest.mark.parametrize(
    ("lineage", "require", "faults"),
    [
        ({"seed": None}, None, ["lineage.seed not recorded"]),
        ({"data_snapshot": ""}, None, ["lineage.data_snapshot not recorded"]),
        (
            {"code_commit": None, "config_digest": None},
            None,
            ["lineage.code_commit not recorded", "lineage.config_digest not recorded"],
        ),
        ({"code_commit": "main"}, None, ["lineage.code_commit 'main' is not a commit hash"]),
        ({}, ["environment_lock_digest"], ["lineage.environment_lock_digest not recorded"]),
        ({"seed": None}, ["code_commit"], []),
    ],
)
def test_reproducibility_lineage(
    run: Run,
    make_version: Any,
    lineage: dict[str, Any],
    require: list[str] | None,
    faults: list[str],
) -> None:
    base = make_version().lineage.model_dump()
    version = make_version(lineage={**base, **lineage})
    params = {} if require is None else {"require": require}
    m = run("reproducibility", params, version)
    if faults:
        assert m.status is FAIL
        assert m.details == {"faults": faults}
        assert m.message == "; ".join(faults)
    else:
        assert m.status is PASS


def test_reproducibility_unreadable_artifact_is_an_error(run: Run, fake_evidence: type) -> None:
    m = run("reproducibility", {}, evidence=fake_evidence(artifact_sha=None))
    assert m.status is ERROR
    assert m.message.startswith("cannot read the artifact at mem://model.bin to verify its sha256")
    assert m.details == {"missing": ["artifact"]}
    # without artifact verification the same version passes
    m = run(
        "reproducibility", {"verify_artifact": False}, evidence=fake_evidence(artifact_sha=None)
    )
    assert m.status is PASS


def test_reproducibility_without_artifact(run: Run, make_version: Any) -> None:
    m = run("reproducibility", {}, make_version(artifact=None))
    assert m.status is ERROR
    assert m.message.startswith("needs the artifact (artifact.uri and artifact.sha256)")


def test_reproducibility_artifact_digest_not_recorded(run: Run, make_version: Any) -> None:
    m = run("reproducibility", {}, make_version(artifact={"uri": "mem://model.bin"}))
    assert m.status is FAIL
    assert m.message.startswith("artifact.sha256 not recorded (actual ")


def test_reproducibility_with_no_evidence_reader(run: Run) -> None:
    assert run("reproducibility", {}, evidence=NoEvidence()).status is ERROR


# --- expression -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "status", "message"),
    [
        ("version.metrics.auc >= 0.8", PASS, "true: version.metrics.auc >= 0.8"),
        ("version.metrics.auc >= 0.9", FAIL, "false: version.metrics.auc >= 0.9"),
        (
            '!version.features.exists(f, f.matches("(?i)email|ssn"))',
            PASS,
            'true: !version.features.exists(f, f.matches("(?i)email|ssn"))',
        ),
        ('version.name == "credit-default" && version.risk_tier == "high"', PASS, None),
        ('model.tags.domain == "credit"', PASS, None),
        ("champion.metrics.auc < version.metrics.auc", PASS, None),
        ('transition.to == "production" && transition.change_type == "standard"', PASS, None),
        ('"model_card" in evidence', FAIL, None),
        ("version.lineage.seed == 42", PASS, None),
        ("1 + 2", ERROR, "expression returned int 3; it must return true/false"),
        ('"yes"', ERROR, "expression returned str 'yes'; it must return true/false"),
        (
            "version.metrics.ks > 0.3",
            ERROR,
            "expression needs 'ks', which this version does not have",
        ),
        ('version.metrics.auc + "x" > 1', ERROR, None),
    ],
)
def test_expression(run: Run, expr: str, status: GateStatus, message: str | None) -> None:
    m = run("expression", {"expr": expr})
    assert m.status is status, m.message
    if message is not None:
        assert m.message == message
    if status is ERROR and message is None:
        assert m.message.startswith("expression failed: ")


def test_expression_missing_key_names_it(run: Run) -> None:
    m = run("expression", {"expr": "version.metrics.ks > 0.3"})
    assert m.details == {"missing": ["ks"]}


def test_expression_custom_message_on_false(run: Run) -> None:
    params = {"expr": "version.features.size() > 10", "message": "too few features"}
    m = run("expression", params)
    assert (m.status, m.message, m.observed, m.threshold) == (FAIL, "too few features", False, True)


@pytest.mark.parametrize(
    ("at", "status"),
    [
        (dt.datetime(2026, 6, 29, 23, 59, tzinfo=dt.UTC), PASS),
        (dt.datetime(2026, 6, 30, 0, 0, tzinfo=dt.UTC), FAIL),
        (dt.datetime(2027, 1, 1, tzinfo=dt.UTC), FAIL),
    ],
)
def test_expression_compares_with_the_injected_clock(
    run: Run, at: dt.datetime, status: GateStatus
) -> None:
    m = run("expression", {"expr": 'now < timestamp("2026-06-30T00:00:00Z")'}, at=at)
    assert m.status is status


def test_expression_sees_null_champion(run: Run, make_version: Any) -> None:
    m = run("expression", {"expr": "champion == null"}, make_version(champion=None))
    assert m.status is PASS


@pytest.mark.parametrize("expr", ["version.metrics.auc >", "1 +", "(", "a ? b"])
def test_expression_syntax_errors_are_rejected_with_a_column(expr: str) -> None:
    with pytest.raises(ValidationError, match=r"CEL syntax error at 1:\d+"):
        default_registry().get("expression").Params.model_validate({"expr": expr})


# --- registry ---------------------------------------------------------------------------------


def test_registry_has_the_built_in_types_through_entry_points() -> None:
    registry = GateRegistry.from_entry_points()
    assert registry.names() == [
        "artifact_integrity",
        "champion_comparison",
        "data_quality",
        "documentation",
        "drift",
        "expression",
        "fairness",
        "latency",
        "licenses",
        "metric_threshold",
        "performance",
        "pii",
        "reproducibility",
        "secrets",
        "unsafe_serialization",
        "vulnerabilities",
    ]
    for name, gate_type in registry:
        assert gate_type.name == name
        assert gate_type.summary


def test_registry_unknown_type_lists_the_known_ones() -> None:
    known = "unknown gate type 'nope'; known types: artifact_integrity, champion_comp"
    with pytest.raises(NotFound, match=known):
        default_registry().get("nope")


def test_registry_register_and_copy() -> None:
    class Always:
        name = "always"
        summary = "Always passes."
        Params = default_registry().get("expression").Params

        def evaluate(self, params: Any, ctx: GateContext) -> Measurement:
            return Measurement(PASS, "ok")

    registry = default_registry().copy()
    registry.register(Always)
    registry.register(Always)  # the same type again is harmless
    assert "always" in registry and "always" not in default_registry()
    with pytest.raises(ValueError, match="registered twice"):
        registry.register(default_registry().get("expression"), name="always")
