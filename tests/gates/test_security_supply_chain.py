"""``vulnerabilities`` and ``licenses`` on real tool output (tests/gates/data/security, see
its README for where each file came from), and the OSV reading they rest on: PEP 440 order
(checked against ``packaging``), OSV range events, CVSS v3 scores."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.version import Version

from clearance.core.gates.licenses import Licenses
from clearance.core.gates.vulnerabilities import Vulnerabilities
from clearance.core.osv import cvss3_score, matches, pep440_key, read_advisories, semver_key
from clearance.core.results import GateStatus, Outcome
from clearance.errors import PolicyError

from .security_support import DATA, NOW, MemoryEvidence, context, gate, measure, run, version

FILES = {
    "pip_audit": (DATA / "pip-audit.json").read_bytes(),
    "pip_audit_offline": (DATA / "pip-audit-offline.json").read_bytes(),
    "sbom": (DATA / "cyclonedx-py-environment.json").read_bytes(),
    "osv": (DATA / "osv-advisories.json").read_bytes(),
}


def vulns(
    params: dict[str, Any], now: dt.datetime = NOW, files: dict[str, bytes] | None = None
) -> Any:
    files = files or FILES
    ctx = context(version(evidence=files), MemoryEvidence(files), now)
    return measure(Vulnerabilities, params, ctx)


def ids(m: Any) -> list[str]:
    return [f"{f['package']}:{f['id']}:{f['severity']}" for f in m.details["findings"]]


# -- vulnerabilities -------------------------------------------------------------------------


def test_pip_audit_report_with_osv_severities() -> None:
    m = vulns({"report": "pip_audit", "advisories": "osv"})
    assert m.status is GateStatus.FAIL
    assert ids(m) == [
        "idna:PYSEC-2024-60:high",  # CVSS 7.5 from its vector: PYSEC records carry no label
        "setuptools:GHSA-cx63-2mw6-8hw5:high",
        "setuptools:PYSEC-2022-43012:high",  # rated through its alias GHSA-r9hx-vwmv-q579
        "urllib3:GHSA-g4mx-q9vg-27p4:high",  # not in the OSV file: unknown_severity
        "jinja2:GHSA-h5c8-rqwp-cp95:medium",
        "requests:GHSA-9wx4-h78v-vm56:medium",
    ]
    assert m.details["counts"] == {"low": 0, "medium": 2, "high": 4, "critical": 0}
    assert (m.observed, m.threshold, m.operator, m.details["decided_by"]) == (4, 0, "<=", "high")
    assert m.message.startswith("4 high > 0: idna 3.6 PYSEC-2024-60 (high, fixed in 3.7)")
    assert m.details["unaudited"] == ["clearance-example"]
    assert set(m.evidence) == {"pip_audit", "osv"}


def test_sbom_checked_against_the_osv_file_offline() -> None:
    m = vulns({"report": "sbom", "advisories": "osv"})
    assert ids(m) == [
        "idna:PYSEC-2024-60:high",
        "setuptools:GHSA-cx63-2mw6-8hw5:high",
        "setuptools:GHSA-r9hx-vwmv-q579:high",
        "jinja2:GHSA-h5c8-rqwp-cp95:medium",  # PYSEC-2021-66 (< 2.11.3) does not apply to 3.1.2
        "requests:GHSA-9wx4-h78v-vm56:medium",
    ]
    assert m.details["packages"] == 11
    ok = vulns({"report": "sbom", "advisories": "osv", "max_findings": {"critical": 0, "high": 3}})
    assert ok.status is GateStatus.PASS
    assert (ok.observed, ok.threshold, ok.margin) == (3, 3, 0.0)


@pytest.mark.parametrize(
    ("now", "counted"),
    [
        (dt.datetime(2026, 6, 30, 23, 59, tzinfo=dt.UTC), 2),  # the expiry day still applies
        (dt.datetime(2026, 7, 1, 0, 0, tzinfo=dt.UTC), 4),  # the day after, both count again
    ],
)
def test_ignores_apply_until_they_expire_by_the_evaluation_clock(
    now: dt.datetime, counted: int
) -> None:
    ignore = [
        {
            "id": "GHSA-cx63-2mw6-8hw5",
            "reason": "package_index is never called",
            "expires": "2026-06-30",
        },
        {
            "id": "cve-2022-40897",
            "reason": "no untrusted HTML",
            "expires": "2026-06-30",
            "package": "Setuptools",
        },
        {"id": "GHSA-0000-0000-0000", "reason": "stale entry", "expires": "2027-01-01"},
    ]
    m = vulns({"report": "pip_audit", "advisories": "osv", "ignore": ignore}, now)
    assert m.details["counts"]["high"] == counted
    assert m.details["unused_ignores"] == ["GHSA-0000-0000-0000"]
    if counted == 2:
        assert [i["id"] for i in m.details["ignored"]] == [  # in the findings' order
            "PYSEC-2022-43012",
            "GHSA-cx63-2mw6-8hw5",
        ]
    else:
        assert len(m.details["expired_ignores"]) == 2
        assert "2 ignore(s) expired: PYSEC-2022-43012 (2026-06-30), GHSA-cx63" in m.message


def test_cyclonedx_vulnerabilities_are_counted_with_their_ratings() -> None:
    bom = json.loads(FILES["sbom"])
    ref = next(c["bom-ref"] for c in bom["components"] if c["name"] == "urllib3")
    bom["vulnerabilities"] = [  # as CycloneDX 1.6 writes them (pip-audit -f cyclonedx-json)
        {
            "bom-ref": "vuln-1",
            "id": "GHSA-g4mx-q9vg-27p4",
            "source": {"name": "GitHub"},
            "ratings": [{"severity": "critical", "method": "CVSSv31"}],
            "affects": [{"ref": ref}],
        }
    ]
    files = {"sbom": json.dumps(bom).encode()}
    m = vulns({"report": "sbom"}, files=files)
    assert ids(m) == ["urllib3:GHSA-g4mx-q9vg-27p4:critical"]
    assert m.status is GateStatus.FAIL


@pytest.mark.parametrize(
    ("params", "files", "message"),
    [
        ({"report": "sbom"}, FILES, "an SBOM without vulnerabilities: name an OSV advisory file"),
        ({"report": "pip_audit_offline"}, FILES, "report audited no package (9 skipped"),
        ({"report": "osv"}, FILES, "neither pip-audit JSON"),
        (
            {"report": "missing"},
            FILES,
            "needs a pip-audit or CycloneDX report as evidence 'missing'",
        ),
        ({"report": "bad"}, {"bad": b"{not json"}, "is not JSON"),
        ({"report": "deep"}, {"deep": b"[" * 100_000 + b"]" * 100_000}, "nested too deeply"),
        ({"report": "sbom", "max_bytes": 100}, FILES, "over the gate's max_bytes = 100"),
        (
            {"report": "pip_audit", "advisories": "bad"},
            {**FILES, "bad": b"[1]"},
            "not an OSV advisory",
        ),
    ],
)
def test_reports_that_cannot_be_read_are_errors(
    params: dict[str, Any], files: dict[str, bytes], message: str
) -> None:
    m = vulns(params, files=files)
    assert m.status is GateStatus.ERROR
    assert message in m.message


@pytest.mark.parametrize(
    ("ignore", "message"),
    [
        ({"id": "GHSA-x", "expires": "2026-06-30"}, "reason"),
        ({"id": "GHSA-x", "reason": "  ", "expires": "2026-06-30"}, "must not be blank"),
        ({"id": "GHSA-x", "reason": "r"}, "expires"),
        ({"id": "GHSA-x", "reason": "r", "expires": "someday"}, "date"),
    ],
)
def test_an_ignore_needs_a_reason_and_an_expiry(ignore: dict[str, Any], message: str) -> None:
    gates = [{"id": "vulns", "type": "vulnerabilities", "report": "pip_audit", "ignore": [ignore]}]
    with pytest.raises(PolicyError) as caught:
        run(gates, version(), MemoryEvidence())
    problem = caught.value.problems[0]
    assert message in problem.message or message in problem.field
    assert problem.location.line is not None


def test_vulnerable_environment_denies_the_decision() -> None:
    gates = [{"id": "vulns", "type": "vulnerabilities", "report": "sbom", "advisories": "osv"}]
    decision = run(gates, version(evidence=FILES), MemoryEvidence(FILES))
    assert decision.outcome is Outcome.DENY
    assert gate(decision, "vulns").details["remediation"].startswith("upgrade the packages")


# -- licenses --------------------------------------------------------------------------------

ALLOW = ["MIT", "BSD-3-Clause", "Apache-2.0", "BSD-2-Clause"]


def lic(params: dict[str, Any], files: dict[str, bytes] | None = None) -> Any:
    files = files or FILES
    return measure(
        Licenses,
        {"sbom": "sbom", **params},
        context(version(evidence=files), MemoryEvidence(files)),
    )


def rejected(m: Any) -> dict[str, str]:
    return {r["component"]: r["reason"] for r in m.details["rejected"]}


def test_licenses_of_a_real_sbom() -> None:
    m = lic({"allow": ALLOW})
    assert m.status is GateStatus.FAIL
    assert rejected(m) == {
        "certifi": "not allowed: MPL-2.0",
        "idna": "no SPDX license id or expression",  # only a trove classifier name
        "requests": "no SPDX license id or expression",
    }
    assert (m.observed, m.threshold) == (3, 0)
    assert m.details["licenses"]["Apache-2.0"] >= 2  # packaging's OR, prometheus_client's AND


def test_overrides_and_more_allowed_licenses_pass() -> None:
    m = lic(
        {
            "allow": [*ALLOW, "MPL-2.0"],
            "overrides": {"IDNA": "BSD-3-Clause", "requests": "Apache-2.0"},
        }
    )
    assert m.status is GateStatus.PASS, m.message
    assert m.message == "11 components, all under accepted licenses"
    assert lic({"allow": [*ALLOW, "MPL-2.0"], "unidentified": "pass"}).status is GateStatus.PASS


def test_a_denied_license_is_avoided_through_or_but_not_through_and() -> None:
    m = lic({"deny": ["BSD-2-Clause"], "unidentified": "pass"})
    assert rejected(m) == {
        "prometheus_client": "denied: BSD-2-Clause"
    }  # Apache-2.0 AND BSD-2-Clause
    assert "packaging" not in rejected(m)  # Apache-2.0 OR BSD-2-Clause: Apache-2.0 is taken


def test_unparsable_sbom_expression_is_rejected_with_its_reason() -> None:
    bom = json.loads(FILES["sbom"])
    bom["components"][0]["licenses"] = [{"expression": "MIT OR"}]
    m = lic({"allow": ALLOW, "unidentified": "pass"}, {"sbom": json.dumps(bom).encode()})
    assert "does not parse: expression ends early" in rejected(m)["Jinja2"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"allow": ["MIT OR Apache-2.0"]}, "is an expression"),
        ({"allow": ["MIT/Apache"]}, "unexpected character"),
        ({"allow": ["MIT"], "overrides": {"idna": "BSD-3-Clause AND"}}, "ends early"),
        ({}, "give allow, deny or both"),
    ],
)
def test_license_parameters_are_located_errors(params: dict[str, Any], message: str) -> None:
    gates = [{"id": "licenses", "type": "licenses", "sbom": "sbom", **params}]
    with pytest.raises(PolicyError) as caught:
        run(gates, version(), MemoryEvidence())
    assert message in caught.value.problems[0].message
    assert caught.value.problems[0].location.line is not None


def test_license_evidence_missing_or_not_an_sbom_is_an_error() -> None:
    assert lic({"allow": ALLOW}, {"other": b"{}"}).status is GateStatus.ERROR
    m = lic({"allow": ALLOW}, {"sbom": FILES["pip_audit"]})
    assert m.status is GateStatus.ERROR and "not a CycloneDX JSON SBOM" in m.message


# -- OSV reading -----------------------------------------------------------------------------

segment = st.integers(0, 30)
versions = st.builds(
    lambda epoch, release, pre, post, dev, local: (
        (f"{epoch}!" if epoch else "")
        + ".".join(map(str, release))
        + (f"{pre[0]}{pre[1]}" if pre else "")
        + (f".post{post}" if post is not None else "")
        + (f".dev{dev}" if dev is not None else "")
        + (f"+{local}" if local else "")
    ),
    st.integers(0, 2),
    st.lists(segment, min_size=1, max_size=4),
    st.none() | st.tuples(st.sampled_from(["a", "b", "rc", "alpha", "c", "pre"]), segment),
    st.none() | segment,
    st.none() | segment,
    st.none() | st.from_regex(r"[a-z0-9]{1,3}(\.[a-z0-9]{1,3}){0,2}", fullmatch=True),
)


@settings(max_examples=500, deadline=None)
@given(a=versions, b=versions)
def test_pep440_order_agrees_with_packaging(a: str, b: str) -> None:
    ka, kb = pep440_key(a), pep440_key(b)
    assert ka is not None and kb is not None
    va, vb = Version(a), Version(b)
    assert (ka < kb) == (va < vb)
    assert (ka == kb) == (va == vb)


@pytest.mark.parametrize(
    ("vector", "score"),
    [
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:L/I:L/A:N", 5.4),
        ("CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:H/I:H/A:N", 5.6),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1),
        ("CVSS:3.0/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H", 9.9),
        ("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:N/I:N/A:N", 0.0),
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", None),
        ("CVSS:3.1/AV:N", None),
    ],
)
def test_cvss3_base_scores(vector: str, score: float | None) -> None:
    assert cvss3_score(vector) == score


def test_range_events_and_ecosystems() -> None:
    advisories = read_advisories(
        {
            "vulns": [
                {
                    "id": "X-1",
                    "affected": [
                        {
                            "package": {"ecosystem": "PyPI", "name": "Some_Pkg"},
                            "ranges": [
                                {
                                    "type": "ECOSYSTEM",
                                    "events": [{"introduced": "1.0"}, {"last_affected": "1.4"}],
                                }
                            ],
                        },
                        {
                            "package": {"ecosystem": "npm", "name": "left-pad"},
                            "ranges": [
                                {
                                    "type": "ECOSYSTEM",
                                    "events": [{"introduced": "0"}, {"fixed": "1.3.0"}],
                                }
                            ],
                        },
                        {
                            "package": {"ecosystem": "Go", "name": "example.com/m"},
                            "ranges": [
                                {
                                    "type": "SEMVER",
                                    "events": [{"introduced": "0"}, {"fixed": "1.2.0-rc.1"}],
                                }
                            ],
                        },
                    ],
                },
                {"id": "X-2", "withdrawn": "2024-01-01T00:00:00Z", "affected": []},
            ]
        }
    )
    assert [a.id for a in advisories] == ["X-1"]

    def hit(eco: str, name: str, v: str) -> list[str]:
        return [m.note or "affected" for m in matches(advisories, eco, name, v)]

    assert hit("PyPI", "some.pkg", "1.4") == ["affected"]
    assert hit("PyPI", "some-pkg", "1.4.post1") == []
    assert hit("PyPI", "some-pkg", "0.9") == []
    assert hit("Go", "example.com/m", "v1.2.0-beta") == ["affected"]
    assert hit("Go", "example.com/m", "1.2.0") == []
    assert hit("npm", "left-pad", "1.1.0") == ["ECOSYSTEM range not comparable with version 1.1.0"]
    assert semver_key("1.0.0-alpha") < semver_key("1.0.0-alpha.1") < semver_key("1.0.0")  # type: ignore[operator]
