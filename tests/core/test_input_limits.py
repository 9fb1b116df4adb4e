"""Odd input is a located error, never a traceback: names, durations, non-finite numbers.

One rule each, in one place (``core.names``, ``core.durations``, ``core.version``), so the
manifest, the policy, the API and the CLI refuse the same things with the same words.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from clearance.adapters.evidence import load_manifest
from clearance.adapters.store.database import make_engine
from clearance.core.durations import LONGEST, parse_duration
from clearance.core.loading import parse_policy
from clearance.core.names import MAX_NAME, check_name, name_problem
from clearance.core.rollout import reading_problem
from clearance.core.version import ModelVersion, odd_value
from clearance.errors import ManifestError, PolicyError, StoreError
from clearance.workspace import init_workspace

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "credit-risk"
EXE = str(Path(sys.executable).parent / "clearance")


# --- names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["credit-default", "v7", "7", "1.2.0+build.5", "cxr-locked-2026-03", "alice@bank.example",
     "auth0|123", "fraud_scorer", "Kreditrisiko-Ü", "x" * MAX_NAME],
)  # fmt: skip
def test_names_people_use_are_valid(name: str) -> None:
    assert name_problem(name) is None


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "empty"),
        ("credit\ndefault", "U+000A"),
        ("credit default", "U+0020"),
        ("a\x1b[31mred", "U+001B"),
        ("a\u202eb", "U+202E"),  # right-to-left override: shows another name
        ("a\u200bb", "U+200B"),  # zero width space: looks like "ab"
        ("\x00", "U+0000"),
        ("team/model", "'/'"),
        ("..", "'..'"),
        ("x" * (MAX_NAME + 1), f"at most {MAX_NAME}"),
    ],
)
def test_odd_names_are_refused_saying_why(name: str, why: str) -> None:
    problem = name_problem(name)
    assert problem is not None and why in problem
    with pytest.raises(ValueError, match=r"^model name "):
        check_name(name, "model name")


# --- durations -----------------------------------------------------------------------------


def test_durations_are_bounded_to_ten_years() -> None:
    assert parse_duration("521w") < LONGEST
    assert parse_duration("3653d") == LONGEST
    for text in ("99999w", "522w", "3654d", "87673h", "9" * 5000 + "m", "0" * 20 + "3654d"):
        with pytest.raises(ValueError, match=r"longer than the longest allowed, 10 years"):
            parse_duration(text)
    assert parse_duration("0" * 20 + "5d").days == 5
    with pytest.raises(ValueError, match="not a duration like 90m"):
        parse_duration("\u0665d")  # an Arabic-Indic digit: not a duration people can read back


def _policy(**edits: object) -> str:
    doc = {
        "apiVersion": "clearance/v1",
        "kind": "Policy",
        "metadata": {"name": "p", "version": "1.0.0", "owner": "o@x"},
        "workflow": {"transitions": [{"from": "draft", "to": "staging", "gates": ["g"]}]},
        "gates": [{"id": "g", "type": "metric_threshold", "metric": "auc", "min": 0.7}],
    }
    doc.update(edits)
    return yaml.safe_dump(doc, sort_keys=False)


def _problems(text: str) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        parse_policy([("p.yaml", text)])
    return [str(p) for p in caught.value.problems]


def test_a_policy_duration_past_ten_years_is_a_located_error() -> None:
    text = _policy(change_types={"emergency": {"expires_after": "99999w"}})
    [problem] = _problems(text)
    assert problem.startswith("p.yaml:")
    assert "change_types.emergency.expires_after: '99999w' is longer than the longest" in problem


# --- non-finite numbers --------------------------------------------------------------------


def test_a_nan_kpi_limit_or_gate_threshold_in_a_policy_is_a_located_error() -> None:
    rollout = {"steps": [{"traffic": 1.0}], "kpis": [{"name": "err", "max": math.nan}]}
    transitions = [{"from": "draft", "to": "staging", "gates": ["g"], "rollout": rollout}]
    [problem] = _problems(_policy(workflow={"transitions": transitions}))
    assert "workflow.transitions[0].rollout.kpis[0].max: Input should be a finite number" in problem
    gates = [{"id": "g", "type": "metric_threshold", "metric": "auc", "min": math.inf}]
    [problem] = _problems(_policy(gates=gates))
    assert "gates[0].min: Input should be a finite number" in problem


def _manifest(tmp_path: Path, **edits: object) -> Path:
    doc = yaml.safe_load((EXAMPLES / "v7-pass" / "manifest.yaml").read_text())
    doc.update(edits)
    doc.pop("artifact")
    doc.pop("evidence")
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=False))
    return path


def _manifest_problems(path: Path) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize(
    ("edits", "where", "what"),
    [
        ({"params": {"opt": {"lr": math.nan}}}, "params.opt.lr", "finite number (got nan)"),
        ({"params": {"layers": [64, -math.inf]}}, "params.layers[1]", "finite number (got -inf)"),
        ({"champion": {"version": "6", "metrics": {"auc": math.nan}}}, "champion.metrics.auc",
         "finite number (got nan)"),
        ({"metrics": {"auc": math.inf}}, "metrics.auc", "finite number (got inf)"),
        ({"params": {"seed": 2**70}}, "params.seed", "integer out of range"),
        ({"lineage": {"seed": -(2**70)}}, "lineage.seed", "integer out of range"),
        ({"tags": {"team": "a\x00b"}}, "tags.team", "U+0000"),
        ({"version": "7\n8"}, "version", "U+000A"),
        ({"model": {"name": "credit\ndefault"}}, "model.name", "U+000A"),
        ({"model": {"name": "x" * 501}}, "model.name", f"at most {MAX_NAME} characters"),
    ],
)  # fmt: skip
def test_odd_manifest_values_are_located_errors(
    tmp_path: Path, edits: dict[str, object], where: str, what: str
) -> None:
    [problem] = _manifest_problems(_manifest(tmp_path, **edits))
    assert problem.startswith(f"{tmp_path / 'manifest.yaml'}:")
    assert f": {where}: " in problem and what in problem, problem


def test_the_line_named_is_the_line_of_the_odd_value(tmp_path: Path) -> None:
    path = _manifest(tmp_path)
    path.write_text(path.read_text() + "params:\n  opt:\n    lr: 1.0e+400\n")
    [problem] = _manifest_problems(path)
    line = path.read_text().splitlines().index("    lr: 1.0e+400") + 1
    assert (
        f"manifest.yaml:{line}:9: error: params.opt.lr: Input should be a finite number (got inf)"
        in problem
    )


def test_a_model_version_built_in_python_refuses_non_finite_numbers() -> None:
    base = {"model": {"name": "m"}, "version": "1"}
    for edits in ({"metrics": {"auc": math.nan}}, {"params": {"a": [{"b": math.inf}]}}):
        with pytest.raises(ValidationError, match="finite number"):
            ModelVersion.model_validate({**base, **edits})
    assert odd_value({"a": [1, 2**80, "x\x00"]}) is None  # only numbers, unless ``plain``
    assert odd_value({"a": [1, 2**80]}, plain=True) == (
        ("a", 1),
        "integer out of range (it must fit in 64 bits)",
    )


def test_a_non_finite_kpi_reading_is_refused() -> None:
    assert reading_problem("err", 0.1, None) is None
    assert "canary reading nan" in str(reading_problem("err", math.nan, None))
    assert "control reading inf" in str(reading_problem("err", 0.1, math.inf))


# --- the database URL ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("postgresql://u:secret@localhost:abc/x", "is not a database URL"),
        ("postgresql://u@[::1/x", "is not a database URL"),
        ("postgresql://u@localhost:99999/x", "port 99999 is not a number from 1 to 65535"),
        ("postgres://u@localhost:0/x", "port 0 is not a number from 1 to 65535"),
    ],
)
def test_a_bad_database_url_is_a_store_error(url: str, why: str) -> None:
    with pytest.raises(StoreError, match=why) as caught:
        make_engine(url)
    assert "secret" not in str(caught.value)


def test_a_bad_port_in_the_environment_exits_2_without_a_traceback(tmp_path: Path) -> None:
    init_workspace(tmp_path / "ws")
    env = {**os.environ, "CLEARANCE_DB_URL": "postgresql://u@localhost:abc/x"}
    env["CLEARANCE_WORKSPACE"] = str(tmp_path / "ws")
    done = subprocess.run([EXE, "status"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "is not a database URL" in done.stderr and "CLEARANCE_DB_URL" in done.stderr
