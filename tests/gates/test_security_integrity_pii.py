"""``artifact_integrity`` (the artifact re-hashed when the decision is made) and ``pii``
(feature names, and a bounded sample of dataset values reported as counts, never values)."""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clearance.adapters.evidence import FileEvidence
from clearance.core.gates.artifact_integrity import ArtifactIntegrity, artifact_fault
from clearance.core.gates.pii import Pii, luhn
from clearance.core.gates.reproducibility import Reproducibility
from clearance.core.hashing import sha256_bytes
from clearance.core.results import GateStatus, Outcome
from clearance.errors import PolicyError

from .security_support import MemoryEvidence, context, measure, run, version

ARTIFACT = pickle.dumps({"weights": [0.1, 0.2]}, 4)

# -- artifact_integrity ----------------------------------------------------------------------


def test_the_registered_bytes_pass() -> None:
    m = measure(
        ArtifactIntegrity,
        {},
        context(version(artifact=ARTIFACT), MemoryEvidence(artifact=ARTIFACT)),
    )
    assert m.status is GateStatus.PASS
    assert m.observed == m.threshold == sha256_bytes(ARTIFACT)
    assert m.operator == "=="
    assert m.evidence == {"artifact": sha256_bytes(ARTIFACT)}


def test_changed_bytes_block_whatever_else_passed() -> None:
    tampered = ARTIFACT + b"\x00"
    gates = [
        {"id": "integrity", "type": "artifact_integrity"},
        {"id": "no_code", "type": "unsafe_serialization"},
    ]
    decision = run(gates, version(artifact=ARTIFACT), MemoryEvidence(artifact=tampered))
    by_id = {g.gate_id: g for g in decision.gates}
    assert by_id["no_code"].status is GateStatus.PASS
    assert by_id["integrity"].status is GateStatus.FAIL
    assert decision.outcome is Outcome.DENY
    recorded, actual = sha256_bytes(ARTIFACT), sha256_bytes(tampered)
    assert by_id["integrity"].message == (
        f"artifact sha256 mismatch: recorded {recorded[:12]}…, file {actual[:12]}…"
    )
    assert by_id["integrity"].details["remediation"].startswith("do not promote these bytes")


def test_unrecorded_digest_fails_and_unreadable_artifact_is_an_error() -> None:
    v = version(artifact=ARTIFACT, recorded=None)
    m = measure(ArtifactIntegrity, {}, context(v, MemoryEvidence(artifact=ARTIFACT)))
    assert m.status is GateStatus.FAIL and m.message.startswith("artifact.sha256 not recorded")
    m = measure(ArtifactIntegrity, {}, context(version(), MemoryEvidence()))
    assert m.status is GateStatus.ERROR and m.details == {"missing": ["artifact"]}
    m = measure(ArtifactIntegrity, {}, context(version(artifact=ARTIFACT), MemoryEvidence()))
    assert m.status is GateStatus.ERROR
    assert "register the version with its artifact file" in m.message


def test_one_rule_with_reproducibility() -> None:
    """The shared rule says what the reproducibility gate says about the same artifact."""
    ctx = context(version(artifact=ARTIFACT), MemoryEvidence(artifact=ARTIFACT + b"!"))
    fault = artifact_fault(ctx, {})
    repro = measure(Reproducibility, {"require": []}, ctx)
    assert isinstance(fault, str) and repro.message == fault
    assert repro.status is GateStatus.FAIL


# -- pii: feature names ----------------------------------------------------------------------


def test_feature_names_that_look_personal_are_flagged() -> None:
    v = version(features=["age", "email_domain", "zip_code", "income", "customer_name"])
    m = measure(Pii, {}, context(v, MemoryEvidence()))
    assert m.status is GateStatus.FAIL
    assert [n["feature"] for n in m.details["feature_names"]] == [
        "email_domain",
        "zip_code",
        "customer_name",
    ]
    assert (m.observed, m.threshold) == (3, 0)
    reviewed = measure(
        Pii,
        {"allow_features": ["zip_code", "customer_name", "email_domain"]},
        context(v, MemoryEvidence()),
    )
    assert reviewed.status is GateStatus.PASS


def test_patterns_are_configurable_and_checked_when_the_policy_loads() -> None:
    v = version(features=["age", "postcode_region"])
    assert (
        measure(Pii, {"feature_patterns": ["(?i)region"]}, context(v, MemoryEvidence())).observed
        == 1
    )
    with pytest.raises(PolicyError) as caught:
        run([{"id": "pii", "type": "pii", "feature_patterns": ["(unclosed"]}], v, MemoryEvidence())
    problem = caught.value.problems[0]
    assert "not a regular expression" in problem.message
    assert problem.location.line is not None and "feature_patterns" in problem.field


def test_nothing_to_check_is_an_error() -> None:
    m = measure(Pii, {}, context(version(), MemoryEvidence()))
    assert m.status is GateStatus.ERROR and m.details["missing"] == ["features"]
    m = measure(
        Pii, {"datasets": ["evaluation"]}, context(version(features=["a"]), MemoryEvidence())
    )
    assert m.status is GateStatus.ERROR and m.details["missing"] == ["evidence.evaluation"]


# -- pii: dataset values ---------------------------------------------------------------------

PLANTED = {
    "contact": ["ana@example.com", "write to bo.li+x@mail.example.org today"],
    "phone": ["+44 20 7946 0958", "(555) 123-4567"],
    "ssn": ["123-45-6789", "AB 12 34 56 C"],
    "card": ["4111 1111 1111 1111", "5500-0055-5555-5559"],
}
CLEAN = {
    "contact": ["no contact", "n/a"],
    "phone": ["2024-01-15", "12.5"],  # a date and a decimal are no phone numbers
    "ssn": ["000-12-3456", "123456789"],  # invalid area, and no dashes
    "card": ["4111 1111 1111 1112", "1234"],  # fails Luhn; too short
}


def _table(rows: int, planted_from: int) -> pa.Table:
    columns: dict[str, Any] = {}
    for name in PLANTED:
        values = [CLEAN[name][i % 2] for i in range(rows)]
        for i in range(planted_from, rows):
            values[i] = PLANTED[name][i % 2] if i % 3 == 0 else values[i]
        columns[name] = values
    card_ints = np.full(rows, 4111111111111112, dtype=np.int64)
    card_ints[planted_from::5] = 4012888888881881  # a Luhn-valid Visa test number, as an integer
    columns["card_int"] = card_ints
    columns["score"] = np.linspace(0, 1, rows)
    return pa.table(columns)


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


@pytest.fixture(params=["memory", "file"])
def sampled(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """Run the pii gate over a dataset read by ``read_columns`` (memory) or in record batches
    by the real file reader (file)."""

    def go(table: pa.Table, **params: Any) -> Any:
        params.setdefault("allow_features", ["phone", "ssn"])  # column names, reviewed
        data = _parquet(table)
        files = {"evaluation": data}
        v = version(features=["score"], evidence=files, kinds={"evaluation": "dataset"})
        if request.param == "memory":
            reader: Any = MemoryEvidence(files)
        else:
            path = tmp_path / "evaluation.parquet"
            path.write_bytes(data)
            reader = FileEvidence({"evaluation": path}, None)
        return measure(Pii, {"datasets": ["evaluation"], **params}, context(v, reader))

    return go


def test_values_are_counted_per_column_and_never_reported(sampled: Any) -> None:
    m = sampled(_table(60, 0), allow_features=[])
    assert m.status is GateStatus.FAIL
    values = m.details["values"]["evaluation"]
    assert values == {
        "contact": {"email": 20},
        "phone": {"phone": 20},
        "ssn": {"national_id": 20},
        "card": {"card_number": 20},
        "card_int": {"card_number": 12},
    }
    assert m.details["sampled_rows"] == {"evaluation": 60}
    names = [n["feature"] for n in m.details["feature_names"]]
    assert names == ["evaluation.phone", "evaluation.ssn"]  # the dataset's column names too
    assert m.observed == 7
    shown = json.dumps(m.details) + m.message
    for planted in [*(v for vs in PLANTED.values() for v in vs), "4012888888881881"]:
        assert planted not in shown
    assert m.evidence["evaluation"]


def test_the_sample_is_bounded_to_the_first_rows(sampled: Any) -> None:
    table = _table(300, planted_from=200)
    quiet = sampled(table, sample_rows=200)
    assert quiet.status is GateStatus.PASS, quiet.message
    assert quiet.details["sampled_rows"] == {"evaluation": 200}
    assert sampled(table, sample_rows=300).status is GateStatus.FAIL


def test_tolerance_checks_and_columns_can_be_chosen(sampled: Any) -> None:
    table = _table(60, 0)
    m = sampled(table, columns=["contact", "score"], checks=["phone"])
    assert m.status is GateStatus.PASS
    m = sampled(table, columns=["card_int"], max_matches=12)
    assert m.status is GateStatus.PASS
    m = sampled(table, columns=["nope"])
    assert m.status is GateStatus.ERROR and "nope" in m.message


@pytest.mark.parametrize(
    ("digits", "valid"),
    [
        ("4111111111111111", True),
        ("4012888888881881", True),
        ("79927398713", True),
        ("4111111111111112", False),
    ],
)
def test_luhn(digits: str, valid: bool) -> None:
    assert luhn(digits) is valid
