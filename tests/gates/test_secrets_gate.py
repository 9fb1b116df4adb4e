"""``secrets``: credentials in the artifact and evidence files, by detect-secrets' detectors,
reported as file, line and type; the secret itself never leaves the scan."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import json
import pickle
import tarfile
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from clearance.cli.app import app
from clearance.core.gates.secrets import Secrets, SecretsParams
from clearance.core.loading import parse_policy
from clearance.core.policy_diff import diff_policies
from clearance.core.results import GateStatus, Outcome
from clearance.core.secret_scan import (
    DEFAULT_PLUGINS,
    PLUGIN_TYPES,
    LineScanner,
    ScanConfig,
    allowlisted,
    plugin_classes,
)
from clearance.errors import PolicyError

from .conftest import policy_text
from .security_support import MemoryEvidence, context, measure, run, version

# Built from parts so this file is not itself a leak to scanners of this repository.
AWS = "AKIA" + "Q3EGRXPZ7TN4WB2K"
GITHUB = "ghp_" + "x7Kp2Lm9Qr4Tv8Wz1Bn5Cd3Fg6Hj0Ys2Ua4E"
SLACK = "https://hooks.slack.com/services/" + "T0A1B2C3D/B4E5F6G7H/" + "q9W8e7R6t5Y4u3I2o1P0aSdF"
KEY_BODY = "MIIEowIBAAKCAQEAx3n" + "Vq8zR2pL5kT9wY1mB4cN7dF0gH3jK6lP"
PRIVATE_KEY = f"-----BEGIN RSA PRIVATE {'KEY'}-----\n{KEY_BODY}\n-----END RSA PRIVATE KEY-----"
SECRETS = (AWS, GITHUB, SLACK, KEY_BODY, SLACK.rsplit("/", 1)[1])
LEAKY = (
    "# service configuration\n"
    "region: eu-west-1\n"
    f"aws_access_key_id: {AWS}\n"
    f'github = "{GITHUB}"\n'
    f"alerts_webhook: {SLACK}\n"
    f"{PRIVATE_KEY}\n"
).encode()
EXPECTED = ["3: AWS Access Key", "4: GitHub Token", "5: Slack Token", "6: Private Key"]
CLEAN = b"# service configuration\nregion: eu-west-1\nreplicas: 3\npassword: ${DB_PASSWORD}\n"


def scan(artifact: bytes | None = None, **params: Any) -> Any:
    evidence = params.pop("files", {})
    ctx = context(
        version(artifact=artifact, evidence=evidence, kinds=params.pop("kinds", None)),
        MemoryEvidence(evidence, artifact),
    )
    return measure(Secrets, params, ctx)


def found(m: Any) -> list[str]:
    return [f["finding"] for f in m.details["findings"]]


def zip_of(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def tar_gz_of(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return gzip.compress(buf.getvalue())


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text
        for digest in (hashlib.sha256, hashlib.sha1):  # detect-secrets' hashed_secret is sha1
            assert digest(secret.encode()).hexdigest() not in text


# -- what is found, and where ----------------------------------------------------------------


def test_each_kind_of_secret_in_a_text_artifact_is_found_by_line() -> None:
    m = scan(LEAKY)
    assert m.status is GateStatus.FAIL
    assert found(m) == [f"artifact:{e}" for e in EXPECTED]
    assert m.observed == 4 and m.threshold == 0 and m.operator == "<=" and m.margin == -4.0
    assert m.details["counts"] == {
        "AWS Access Key": 1,
        "GitHub Token": 1,
        "Private Key": 1,
        "Slack Token": 1,
    }
    assert m.details["files_scanned"] == 1 and m.details["lines_scanned"] == 8
    assert m.message.startswith("4 secret(s) found, over 0: artifact:3: AWS Access Key;")
    assert "rotate" in m.details["remediation"]
    assert m.evidence == {"artifact": hashlib.sha256(LEAKY).hexdigest()}


def test_secrets_in_archive_members_are_found_by_member_and_line() -> None:
    inner = zip_of({"config/app.yaml": LEAKY, "weights.bin": bytes(range(256)) * 4})
    m = scan(zip_of({"model/data.pkl": pickle.dumps([1, 2]), "bundle.zip": inner}))
    assert found(m) == [f"artifact!bundle.zip!config/app.yaml:{e}" for e in EXPECTED]
    assert m.details["binary_skipped"] == 2  # the pickle and the weights
    assert m.details["archives"] == ["artifact", "artifact!bundle.zip"]
    m = scan(tar_gz_of({"src/settings.py": LEAKY}))
    assert found(m) == [f"artifact!gzip!src/settings.py:{e}" for e in EXPECTED]


def test_evidence_files_are_scanned_and_datasets_left_out_by_default() -> None:
    files = {"notes": LEAKY, "card": CLEAN, "evaluation": LEAKY}
    kinds = {"notes": "document", "card": "document", "evaluation": "dataset"}
    m = scan(None, check_artifact=False, files=files, kinds=kinds)
    assert found(m) == [f"notes:{e}" for e in EXPECTED]
    assert m.details["scanned"] == ["card", "notes"]
    assert set(m.evidence) == {"card", "notes"}
    m = scan(None, check_artifact=False, evidence=["evaluation"], files=files, kinds=kinds)
    assert found(m) == [f"evaluation:{e}" for e in EXPECTED]


def test_a_clean_file_passes() -> None:
    m = scan(CLEAN, files={"card": b"Model card\n\nNo credentials here.\n"})
    assert m.status is GateStatus.PASS
    assert m.observed == 0 and m.margin == 0.0
    assert m.message == "no secret in 2 text file(s), 7 line(s)"
    assert "remediation" not in m.details


def test_a_secret_past_the_first_window_of_a_long_line_is_found() -> None:
    line = ("x" * 9000 + f" token={AWS} " + "y" * 9000).encode()
    m = scan(line + b"\n" + LEAKY, max_line_chars=4096)
    assert found(m)[0] == "artifact:1: AWS Access Key"
    assert found(m)[1:] == [f"artifact:{int(e[0]) + 1}{e[1:]}" for e in EXPECTED]


def test_max_findings_allows_a_number_of_findings() -> None:
    m = scan(LEAKY, max_findings=4)
    assert m.status is GateStatus.PASS and m.observed == 4 and m.margin == 0.0
    assert m.message.startswith("4 secret(s), within 4 in 1 text file(s)")


def test_every_finding_is_counted_and_the_first_are_listed() -> None:
    keys = "".join(f"key_{i} = AKIA{i:016d}\n".replace("0", "Q") for i in range(2000))
    m = scan(keys.encode(), max_reported=3)
    assert m.observed == 2000 and m.details["counts"] == {"AWS Access Key": 2000}
    assert found(m) == [f"artifact:{n}: AWS Access Key" for n in (1, 2, 3)]
    assert m.message.endswith(
        "artifact:3: AWS Access Key and 1997 more (1 text file(s), 2,000 line(s))"
    )


def test_binary_files_are_skipped_and_counted() -> None:
    m = scan(pickle.dumps({"w": [0.5] * 10, "note": AWS}, 4))
    assert m.status is GateStatus.PASS
    assert m.details["binary_skipped"] == 1 and m.details["files_scanned"] == 0
    assert m.message == "no secret in 0 text file(s), 0 line(s); 1 binary file(s) skipped"
    m = scan(b"\xff\xfe not utf-8 " + AWS.encode())
    assert m.details["skipped"] == ["artifact"]


def test_entropy_detectors_are_off_by_default_and_enabled_by_their_limit() -> None:
    blob = b'digest = "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWprbG1ub3A="\n'
    assert scan(blob).status is GateStatus.PASS
    m = scan(blob, base64_entropy_limit=4.5)
    assert found(m) == ["artifact:1: Base64 High Entropy String"]
    assert "Base64HighEntropyString" in m.details["plugins"]
    assert scan(blob, base64_entropy_limit=7.9).status is GateStatus.PASS


def test_the_plugins_list_chooses_the_detectors() -> None:
    m = scan(LEAKY, plugins=["AWSKeyDetector"])
    assert found(m) == ["artifact:3: AWS Access Key"]


# -- what is not reported --------------------------------------------------------------------


def test_pragma_comments_allowlist_a_line_as_detect_secrets_does() -> None:
    text = (
        f"aws_key: {AWS}  # pragma: allowlist secret\n"
        "# pragma: allowlist nextline secret\n"
        f"token: {GITHUB}\n"
        f"other: {GITHUB}\n"
    ).encode()
    assert found(scan(text)) == ["artifact:4: GitHub Token"]


@pytest.mark.parametrize(
    ("line", "previous", "name", "expected"),
    [
        ("key = 1  # pragma: allowlist secret", "", "main.py", True),
        ("key = 1  // pragma: whitelist secret", "", "main.go", True),
        ("key = 1  /* pragma: allowlist secret */", "", "main.c", True),
        ("key = 1  /* pragma: allowlist secret", "", "main.c", False),  # not closed
        ("<b>1</b> <!-- pragma: allowlist secret -->", "", "page.html", True),
        ("key: 1  // pragma: allowlist secret", "", "values.yaml", False),  # YAML: # only
        ("key = 1", "# pragma: allowlist nextline secret", "main.py", True),
        ("key = 1", "x = 2  # pragma: allowlist nextline secret", "main.py", False),
        ("key = 1", "", "main.py", False),
    ],
)
def test_pragma_comments(line: str, previous: str, name: str, expected: bool) -> None:
    from detect_secrets.filters.allowlist import is_line_allowlisted
    from detect_secrets.util.code_snippet import get_code_snippet

    assert allowlisted(line, previous, name) is expected
    assert is_line_allowlisted(name, line, get_code_snippet([previous, line], 2)) is expected


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "#",
                "//",
                "/*",
                "*/",
                "'",
                "--",
                "<!--",
                "-->",
                " ",
                "\t",
                "pragma:",
                "pragma: ",
                "allowlist",
                "whitelist",
                " secret",
                "-secret",
                "nextline",
                " nextline",
                "x",
                "=",
            ]
        ),
        max_size=10,
    ).map("".join),
    st.lists(
        st.sampled_from(["#", "//", " ", "\t", "pragma: ", "allowlist", " nextline", " secret"]),
        max_size=6,
    ).map("".join),
    st.sampled_from(["notes.txt", "values.yaml", "main.py"]),
)
@example("#\tpragma: allowlist secret", "", "notes.txt")  # a tab after the mark: not allowed
@example("x", "  # pragma: allowlist nextline secret", "main.py")  # blanks before: allowed
def test_the_pragma_check_agrees_with_detect_secrets(line: str, prev: str, name: str) -> None:
    from detect_secrets.filters.allowlist import is_line_allowlisted
    from detect_secrets.util.code_snippet import get_code_snippet

    expected = is_line_allowlisted(name, line, get_code_snippet([prev, line], 2))
    assert allowlisted(line, prev, name) is expected


def test_an_allowance_applies_until_it_expires() -> None:
    allow = [
        {
            "file": "artifact",
            "line": 3,
            "type": "AWS Access Key",
            "reason": "AWS's documented example key",
            "expires": "2026-03-31",
        },
        {"file": "artifact", "type": "GitHub Token", "reason": "revoked", "expires": "2026-01-31"},
        {"file": "other", "type": "Private Key", "reason": "fixture", "expires": "2027-01-01"},
    ]
    m = scan(LEAKY, allow=allow)  # the clock is 2026-03-01
    assert found(m) == [f"artifact:{e}" for e in EXPECTED[1:]]
    assert m.details["allowed"] == [
        {
            "finding": "artifact:3: AWS Access Key",
            "reason": "AWS's documented example key",
            "expires": "2026-03-31",
        }
    ]
    assert m.details["expired_allowances"][0]["finding"] == "artifact:4: GitHub Token"
    assert m.details["unused_allowances"] == ["other:*: Private Key"]
    assert "1 allowance(s) expired: artifact:4: GitHub Token (2026-01-31)" in m.message
    later = context(version(artifact=LEAKY), MemoryEvidence(artifact=LEAKY), now=_at(2026, 4, 1))
    m = measure(Secrets, {"allow": allow}, later)
    assert found(m) == [f"artifact:{e}" for e in EXPECTED]  # every allowance expired now


def _at(year: int, month: int, day: int) -> dt.datetime:
    return dt.datetime(year, month, day, tzinfo=dt.UTC)


def test_only_an_allowed_finding_is_covered() -> None:
    allow = [{"file": "artifact", "line": 2, "type": "AWS Access Key", "reason": "r",
              "expires": "2027-01-01"}]  # fmt: skip
    m = scan(LEAKY, allow=allow)
    assert "artifact:3: AWS Access Key" in found(m)
    assert m.details["unused_allowances"] == ["artifact:2: AWS Access Key"]


# -- errors ----------------------------------------------------------------------------------


def test_missing_evidence_is_an_error_naming_it() -> None:
    m = scan(None)
    assert m.status is GateStatus.ERROR and m.details == {"missing": ["artifact"]}
    m = scan(CLEAN, evidence=["model_card"], files={"notes": CLEAN})
    assert m.status is GateStatus.ERROR and m.details == {"missing": ["evidence.model_card"]}
    assert "attached evidence: notes" in m.message
    m = scan(None, check_artifact=False)
    assert m.status is GateStatus.ERROR and m.message.startswith("nothing to scan")
    v = version(artifact=CLEAN, evidence={"notes": CLEAN})
    m = measure(Secrets, {}, context(v, MemoryEvidence({}, CLEAN)))  # referenced by URI only
    assert m.status is GateStatus.ERROR and m.details == {"missing": ["evidence.notes"]}
    m = measure(Secrets, {}, context(version(artifact=CLEAN), MemoryEvidence(artifact=None)))
    assert m.status is GateStatus.ERROR and "cannot read the artifact at model.pkl" in m.message
    unreadable = MemoryEvidence(artifact=CLEAN, unreadable=True)
    m = measure(Secrets, {}, context(version(artifact=CLEAN), unreadable))
    assert m.status is GateStatus.ERROR and "Permission denied" in m.message


def test_what_cannot_be_scanned_is_an_error() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("ok.txt", CLEAN)
    damaged = buf.getvalue().replace(b"PK\x01\x02", b"PK\x09\x09")
    m = scan(damaged)
    assert m.status is GateStatus.ERROR and "damaged zip archive" in m.message
    m = scan(b"\x1f\x8b\x08" + b"\x00" * 20)
    assert m.status is GateStatus.ERROR and "damaged gzip stream" in m.message


@pytest.mark.parametrize(
    ("artifact", "params", "limit"),
    [
        (LEAKY, {"max_bytes": 100}, "max_bytes"),
        (LEAKY * 10, {"max_text_bytes": 1000}, "max_text_bytes"),
        (zip_of({f"f{i}.txt": CLEAN for i in range(20)}), {"max_members": 10}, "max_members"),
        (zip_of({"a.zip": zip_of({"b.txt": LEAKY})}), {"max_depth": 1}, "max_depth"),
        (gzip.compress(b"\n" * 5_000_000), {"max_total_bytes": 1_000_000}, "max_total_bytes"),
        (zip_of({"bomb.txt": b"\n" * 5_000_000}), {"max_bytes": 1_000_000}, "max_bytes"),
    ],
)
def test_past_a_bound_is_an_error_naming_the_parameter(
    artifact: bytes, params: dict[str, Any], limit: str
) -> None:
    m = scan(artifact, **params)
    assert m.status is GateStatus.ERROR
    assert m.details["limit"] == limit and f"raise the gate's {limit}" in m.message


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"plugins": ["NoSuchDetector"]}, "unknown detect-secrets plugin 'NoSuchDetector'"),
        ({"plugins": ["HexHighEntropyString"]}, "enable HexHighEntropyString with hex_entropy"),
        ({"plugins": []}, "at least 1 item"),
        ({"base64_entropy_limit": 9}, "less than or equal to 8"),
        (
            {"allow": [{"file": "a", "type": "AWS", "reason": "r", "expires": "2026-01-01"}]},
            "unknown secret type 'AWS'",
        ),
        (
            {
                "allow": [
                    {"file": "a", "type": "Private Key", "reason": " ", "expires": "2026-01-01"}
                ]
            },
            "must not be blank",
        ),
        ({"allow": [{"file": "a", "type": "Private Key", "reason": "r"}]}, "required field"),
        ({"max_depth": 99}, "less than or equal to 16"),
    ],
)
def test_bad_parameters_are_located_errors(params: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        run([{"id": "no_secrets", "type": "secrets", **params}], version(), MemoryEvidence())
    problem = caught.value.problems[0]
    assert message in problem.message
    assert problem.location.line is not None and problem.location.line > 1


# -- hostile input and bounded work ----------------------------------------------------------


def test_a_five_megabyte_single_line_is_scanned_in_bounded_time() -> None:
    big = b"x" * (5 << 20) + b" key=" + AWS.encode()
    start = time.perf_counter()
    m = scan(big, max_text_bytes=8 << 20)
    assert time.perf_counter() - start < 60  # ~1 MB/s; unbounded regexes would take hours
    assert found(m) == ["artifact:1: AWS Access Key"]


def test_input_that_makes_detector_regexes_backtrack_stays_bounded() -> None:
    # One JWT-shaped run: without windows the JWT regex is quadratic in the line's length.
    line = b"eyJ" * 200_000 + b"\n" + b"#" + b" " * 300_000 + b"pragma: allowlist\n"
    start = time.perf_counter()
    m = scan(line)
    assert time.perf_counter() - start < 60
    assert m.status is GateStatus.PASS and m.details["lines_scanned"] == 2


def test_carriage_returns_number_lines_as_an_editor_does() -> None:
    m = scan(LEAKY.replace(b"\n", b"\r\n"))
    assert found(m) == [f"artifact:{e}" for e in EXPECTED]
    m = scan(LEAKY.replace(b"\n", b"\r"))
    assert found(m) == [f"artifact:{e}" for e in EXPECTED]


# -- the secret never leaves the scan --------------------------------------------------------


def test_the_secret_is_nowhere_in_the_decision() -> None:
    files = {"notes": LEAKY}
    archive = zip_of({"config/app.yaml": LEAKY})
    decision = run(
        [{"id": "no_secrets", "type": "secrets"}],
        version(artifact=archive, evidence=files),
        MemoryEvidence(files, archive),
    )
    assert decision.outcome is Outcome.DENY
    assert_no_secret(decision.model_dump_json())
    assert_no_secret(json.dumps(decision.model_dump(mode="json")))


def test_the_secret_is_nowhere_in_the_cli_output(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    (tmp_path / "model.txt").write_bytes(LEAKY)
    (tmp_path / "notes.md").write_bytes(LEAKY)
    manifest = {
        "apiVersion": "clearance/v1",
        "kind": "ModelManifest",
        "model": {"name": "credit", "risk_tier": "high"},
        "version": "7",
        "stage": "staging",
        "artifact": {"path": "model.txt"},
        "evidence": {"notes": {"kind": "document", "path": "notes.md"}},
    }
    (tmp_path / "manifest.yaml").write_text(yaml.safe_dump(manifest))
    (tmp_path / "policy.yaml").write_text(policy_text([{"id": "no_secrets", "type": "secrets"}]))
    args = ["check", "-p", str(tmp_path / "policy.yaml"), "-m", str(tmp_path / "manifest.yaml")]
    args += ["--from", "staging", "--to", "production", "--now", "2026-03-01T00:00:00Z"]
    reports = [f"--{k}={tmp_path / ('report.' + k)}" for k in ("junit", "markdown", "sarif")]
    for extra in ([], ["--json"], reports):
        result = CliRunner().invoke(app, [*args, *extra])
        assert result.exit_code == 1, result.output
        assert_no_secret(result.output)
        assert "AWS Access Key" in result.output
    for kind in ("junit", "markdown", "sarif"):
        report = (tmp_path / f"report.{kind}").read_text()
        assert "AWS Access Key" in report
        assert_no_secret(report)
    decision = json.loads(CliRunner().invoke(app, [*args, "--json"]).output)
    gate = next(g for g in decision["gates"] if g["gate_id"] == "no_secrets")
    assert [f["finding"] for f in gate["details"]["findings"]][:4] == [
        f"artifact:{e}" for e in EXPECTED
    ]


# -- detect-secrets is used as a library, never as a process-wide scanner ----------------------


def test_the_plugin_table_is_the_installed_detect_secrets() -> None:
    classes = plugin_classes()
    assert {name: str(cls.secret_type) for name, cls in classes.items()} == PLUGIN_TYPES
    assert "IPPublicDetector" not in DEFAULT_PLUGINS
    assert SecretsParams().plugins == list(DEFAULT_PLUGINS)


def test_no_network_and_no_global_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    import requests
    from detect_secrets.settings import get_settings

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the scan reached the network")

    monkeypatch.setattr(requests.Session, "request", refuse)
    before = get_settings().json()
    # a verification filter in the process-wide settings does not make the gate verify
    get_settings().filters[
        "detect_secrets.filters.common.is_ignored_due_to_verification_policies"
    ] = {"min_level": 2}
    try:
        m = scan(LEAKY)
    finally:
        get_settings().filters.pop(
            "detect_secrets.filters.common.is_ignored_due_to_verification_policies"
        )
    assert found(m) == [f"artifact:{e}" for e in EXPECTED]
    assert get_settings().json() == before


def test_concurrent_scans_with_different_plugins_do_not_interfere() -> None:
    results: dict[int, list[str]] = {}

    def work(i: int) -> None:
        plugins = ["AWSKeyDetector"] if i % 2 else ["GitHubTokenDetector"]
        for _ in range(5):
            found_now = found(scan(LEAKY * 3, plugins=plugins))
            assert results.setdefault(i, found_now) == found_now

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(len(r) == 3 for r in results.values()) and len(results) == 6
    assert all(("AWS" in r[0]) == bool(i % 2) for i, r in results.items())


def test_scanner_counts_distinct_secrets_on_a_line() -> None:
    other = "AKIA" + "Z7TN4WB2KQ3EGRXP"
    hits = list(LineScanner(ScanConfig(DEFAULT_PLUGINS)).scan(f"{AWS} {other} {AWS}\n", "f"))
    assert [(str(h), h.count) for h in hits] == [("f:1: AWS Access Key", 2)]


# -- policy diff -----------------------------------------------------------------------------


def test_policy_diff_flags_a_loosened_secrets_gate() -> None:
    def loaded(**params: Any) -> Any:
        return parse_policy([("p.yaml", policy_text([{"id": "s", "type": "secrets", **params}]))])

    old = loaded(base64_entropy_limit=4.5, max_bytes=1 << 20)
    new = loaded(base64_entropy_limit=5.0, max_bytes=1 << 30, max_findings=2)
    changes = {c.path: c for c in diff_policies(old, new).changes}
    assert changes["gates.s.base64_entropy_limit"].loosens
    assert changes["gates.s.max_findings"].loosens
    assert not changes["gates.s.max_bytes"].loosens
    off = {c.path: c for c in diff_policies(old, loaded(check_artifact=False)).changes}
    assert off["gates.s.check_artifact"].loosens


# -- properties ------------------------------------------------------------------------------

MAGIC = [
    b"",
    b"PK\x03\x04",
    b"PK\x05\x06",
    b"\x1f\x8b\x08",
    b"BZh9",
    b"\xfd7zXZ\x00",
    b"\xef\xbb\xbf",
]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(MAGIC), st.binary(max_size=2000), st.sampled_from([0, 257]))
def test_any_bytes_give_a_result_never_an_exception(magic: bytes, body: bytes, at: int) -> None:
    data = magic + body
    if at:  # a tar header's magic where tar puts it
        data = data.ljust(at, b" ")[:at] + b"ustar\x0000" + data[at:]
    m = scan(data, max_bytes=100_000, max_total_bytes=200_000, max_members=50)
    assert m.status in (GateStatus.PASS, GateStatus.FAIL, GateStatus.ERROR)
    assert m.message


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 1500), min_size=1, max_size=8),
    st.data(),
)
def test_a_token_is_found_on_its_line_wherever_it_is_in_the_line(
    lengths: list[int], data: st.DataObject
) -> None:
    row = data.draw(st.integers(0, len(lengths) - 1))
    lines = ["y" * n for n in lengths]
    column = data.draw(st.integers(0, len(lines[row])))
    lines[row] = f"{lines[row][:column]} {AWS} {lines[row][column:]}"
    m = scan("\n".join(lines).encode(), max_line_chars=256)
    assert found(m) == [f"artifact:{row + 1}: AWS Access Key"]
