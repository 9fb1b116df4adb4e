"""The CI integrations run as CI runs them: the GitHub Action's steps and the GitLab
component's job script, on the credit-risk example, with the environment those systems set;
the pre-commit hooks and the published JSON Schemas load and hold."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from test_sarif import valid

ROOT = Path(__file__).resolve().parents[2]
ACTION = ROOT / "action.yml"
SCRIPT = ROOT / "ci" / "clearance-ci.sh"
TEMPLATE = ROOT / "templates" / "clearance.yml"
EXAMPLE = ROOT / "examples" / "credit-risk"
BIN = str(Path(sys.executable).parent)
NOW = "2026-11-22T12:00:00"
EXPR = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")
INTERPOLATION = re.compile(r"\$\[\[\s*inputs\.([a-z-]+)\s*\]\]")


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("ci_files", ROOT / "scripts" / "ci_files.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ci_files = _generator()


def action() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(ACTION.read_text(encoding="utf-8"))
    return data


def step(name: str) -> dict[str, Any]:
    (found,) = [s for s in action()["runs"]["steps"] if s.get("name") == name]
    return found


def base_env(tmp: Path) -> dict[str, str]:
    """A runner's environment: the venv's clearance on PATH, the files GitHub provides."""
    for name in ("summary.md", "output"):
        (tmp / name).touch()
    return {
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp),
        "GITHUB_STEP_SUMMARY": str(tmp / "summary.md"),
        "GITHUB_OUTPUT": str(tmp / "output"),
        "GITHUB_ACTION_PATH": str(ROOT),
        "GITHUB_WORKSPACE": str(ROOT),
    }


def run_action(tmp: Path, inputs: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The action's run step as the runner runs it: ``${{ inputs.x }}`` in its ``env``
    evaluated from the inputs (or their defaults), then its ``run`` in bash."""
    declared = action()["inputs"]
    assert set(inputs) <= set(declared), set(inputs) - set(declared)
    values = {
        name: inputs.get(name, str(spec.get("default", ""))) for name, spec in declared.items()
    }
    context = {f"inputs.{k}": v for k, v in values.items()} | {"github.action_path": str(ROOT)}
    run = step("Run clearance")
    env = base_env(tmp)
    for key, text in run["env"].items():
        env[key] = EXPR.sub(lambda m: context[m.group(1)], str(text))
    return subprocess.run(
        ["bash", "-e", "-c", run["run"]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def outputs(tmp: Path) -> dict[str, str]:
    lines = (tmp / "output").read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines)


def check_inputs(tmp: Path, example: str, **more: str) -> dict[str, str]:
    return {
        "policy": "examples/credit-risk/policy",
        "manifest": f"examples/credit-risk/{example}/manifest.yaml",
        "to": "production",
        "reports-dir": str(tmp / "reports"),
        "args": f"--now {NOW}",
    } | more


def test_the_action_is_composite_and_runs_the_shared_script() -> None:
    data = action()
    assert data["runs"]["using"] == "composite"
    assert step("Run clearance")["run"] == 'bash "$GITHUB_ACTION_PATH/ci/clearance-ci.sh"'
    install = step("Install clearance")
    assert install["env"]["CLEARANCE_CI_SOURCE"] == "${{ github.action_path }}"
    assert "$CLEARANCE_CI_SOURCE" in install["run"]
    for s in data["runs"]["steps"]:
        # inputs reach shell only through env: no expression in a script's text
        assert "${{" not in s.get("run", ""), s
        if "run" in s:
            assert s["shell"] == "bash"
    used = {m for s in data["runs"]["steps"] for m in EXPR.findall(yaml.safe_dump(s))}
    assert {f"inputs.{name}" for name in data["inputs"]} == {
        u for u in used if u.startswith("inputs.")
    }
    assert data["inputs"]["to"]["required"] is True


def test_every_variable_the_script_reads_is_set_by_the_action_and_the_component() -> None:
    read = set(re.findall(r"\$\{?(CLEARANCE_CI_[A-Z_]+)", SCRIPT.read_text(encoding="utf-8")))
    read -= {"CLEARANCE_CI_BIN"}  # for tests and local runs only
    action_env = set(step("Run clearance")["env"])
    assert read == {k for k in action_env if k.startswith("CLEARANCE_CI_")}
    job = gitlab_job()
    optional = {
        "CLEARANCE_CI_MARKDOWN",
        "CLEARANCE_CI_JUNIT",
        "CLEARANCE_CI_SARIF",
        "CLEARANCE_CI_SERVER_URL",
        "CLEARANCE_CI_TOKEN",
    }
    assert read - optional <= set(job["variables"])


def test_an_allowed_move_passes_and_writes_every_report(tmp_path: Path) -> None:
    ran = run_action(tmp_path, check_inputs(tmp_path, "v7-pass"))
    assert ran.returncode == 0, ran.stderr
    out = outputs(tmp_path)
    assert out["exit-code"] == "0"
    summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert summary == Path(out["markdown"]).read_text(encoding="utf-8")
    assert "credit-default 7 staging → production" in summary
    suite = ET.parse(out["junit"]).getroot()
    assert suite.tag == "testsuite" and suite.get("failures") == "0"
    log = valid(Path(out["sarif"]).read_text(encoding="utf-8"))
    assert not [r for r in log["runs"][0]["results"] if r["level"] == "error"]


def test_a_blocked_move_fails_the_job_after_writing_the_summary(tmp_path: Path) -> None:
    ran = run_action(tmp_path, check_inputs(tmp_path, "v8-blocked"))
    assert ran.returncode == 1, ran.stderr
    out = outputs(tmp_path)
    assert out["exit-code"] == "1"
    summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert "**deny**" in summary and "### Remediation" in summary
    assert int(ET.parse(out["junit"]).getroot().get("failures", "0")) > 0
    log = valid(Path(out["sarif"]).read_text(encoding="utf-8"))
    errors = [r for r in log["runs"][0]["results"] if r["level"] == "error"]
    assert errors
    for r in errors:  # run from the checkout root: repository-relative paths
        assert r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].startswith(
            "examples/credit-risk/policy/"
        )


def test_the_summary_is_appended_to_what_earlier_steps_wrote(tmp_path: Path) -> None:
    (tmp_path / "summary.md").write_text("## earlier step\n", encoding="utf-8")
    assert run_action(tmp_path, check_inputs(tmp_path, "v7-pass")).returncode == 0
    summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert summary.startswith("## earlier step\n## ✅ clearance") or summary.startswith(
        "## earlier step\n## ⏳ clearance"
    )


def test_bad_input_exits_2_and_says_so_in_the_summary(tmp_path: Path) -> None:
    ran = run_action(tmp_path, check_inputs(tmp_path, "v7-pass", manifest="no/such.yaml"))
    assert ran.returncode == 2
    assert "no/such.yaml" in ran.stderr
    assert "no decision (exit 2)" in (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert outputs(tmp_path) == {"exit-code": "2"}


def test_stale_reports_from_an_earlier_run_are_removed(tmp_path: Path) -> None:
    run_action(tmp_path, check_inputs(tmp_path, "v8-blocked"))
    assert (tmp_path / "reports" / "clearance.sarif").exists()
    run_action(tmp_path, check_inputs(tmp_path, "v7-pass", to="nowhere"))
    assert not (tmp_path / "reports" / "clearance.sarif").exists()


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"mode": "deploy", "to": "production"}, "mode must be 'check' or 'promote'"),
        ({"to": "production"}, "input 'policy' is required with mode 'check'"),
        (
            {"mode": "promote", "to": "production", "model": "m", "version": "1"},
            "input 'server-url' is required with mode 'promote'",
        ),
        (
            {
                "mode": "promote",
                "to": "production",
                "model": "m",
                "version": "1",
                "server-url": "http://127.0.0.1:9",
            },
            "input 'token' is required with mode 'promote'",
        ),
    ],
)
def test_missing_or_wrong_inputs_are_input_errors(
    tmp_path: Path, inputs: dict[str, str], message: str
) -> None:
    ran = run_action(tmp_path, inputs)
    assert ran.returncode == 2
    assert message in ran.stderr


def test_an_input_is_never_run_as_shell(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = f"$(touch {marker}); `touch {marker}`"
    ran = run_action(
        tmp_path, check_inputs(tmp_path, "v7-pass", policy=evil, args=f"--now {NOW} {evil}")
    )
    assert ran.returncode == 2
    assert not marker.exists()


def test_promote_goes_through_the_server_named_by_the_inputs(tmp_path: Path) -> None:
    """Nothing listens on the port: clearance must try the server the inputs name (a
    connection error, exit 2) rather than a local workspace."""
    ran = run_action(
        tmp_path,
        {
            "mode": "promote",
            "to": "production",
            "model": "m",
            "version": "1",
            "server-url": "http://127.0.0.1:9",
            "token": "t0ken",
            "reports-dir": str(tmp_path / "reports"),
        },
    )
    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert "127.0.0.1:9" in ran.stderr
    assert "workspace" not in ran.stderr.lower()


# --- GitLab --------------------------------------------------------------------------------


def gitlab() -> tuple[dict[str, Any], dict[str, Any]]:
    spec, jobs = yaml.safe_load_all(TEMPLATE.read_text(encoding="utf-8"))
    return spec, jobs


def gitlab_job() -> dict[str, Any]:
    _, jobs = gitlab()
    (job,) = jobs.values()
    assert isinstance(job, dict)
    return job


def test_the_component_is_generated_from_the_script() -> None:
    assert not ci_files.stale(), "run python scripts/ci_files.py"
    spec, jobs = gitlab()
    assert list(jobs) == ["$[[ inputs.job-name ]]"]
    inputs = spec["spec"]["inputs"]
    assert "default" not in inputs["to"]  # required
    assert inputs["mode"]["options"] == ["check", "promote"]
    text = TEMPLATE.read_text(encoding="utf-8")
    assert set(INTERPOLATION.findall(text)) == set(inputs)
    job = gitlab_job()
    embedded = job["script"][1].split("\n", 1)[1].rsplit(ci_files.HEREDOC, 1)[0]
    assert embedded == SCRIPT.read_text(encoding="utf-8")
    assert job["artifacts"]["when"] == "always"
    assert job["artifacts"]["reports"]["junit"] == "$[[ inputs.reports-dir ]]/clearance.xml"


def run_gitlab(tmp: Path, inputs: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The job's script after the install, in one bash as a runner runs it, with its
    variables interpolated from the inputs."""
    spec, _ = gitlab()
    declared = spec["spec"]["inputs"]
    values = {k: inputs.get(k, str(v.get("default", ""))) for k, v in declared.items()}
    job = gitlab_job()
    env = {"PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "HOME": str(tmp), "TMPDIR": str(tmp)}
    for key, text in job["variables"].items():
        env[key] = INTERPOLATION.sub(lambda m: values[m.group(1)], str(text))
    assert job["script"][0].startswith("python -m pip install")
    script = "\n".join(job["script"][1:])
    return subprocess.run(
        ["bash", "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize(("example", "code"), [("v7-pass", 0), ("v8-blocked", 1)])
def test_the_gitlab_job_runs_the_script(tmp_path: Path, example: str, code: int) -> None:
    reports = tmp_path / "reports"
    ran = run_gitlab(
        tmp_path,
        {
            "policy": "examples/credit-risk/policy",
            "manifest": f"examples/credit-risk/{example}/manifest.yaml",
            "to": "production",
            "reports-dir": str(reports),
            "args": f"--now {NOW}",
        },
    )
    assert ran.returncode == code, ran.stderr
    assert sorted(p.name for p in reports.iterdir()) == [
        "clearance.md",
        "clearance.sarif",
        "clearance.xml",
    ]
    valid((reports / "clearance.sarif").read_text(encoding="utf-8"))


# --- pre-commit ----------------------------------------------------------------------------


def hooks() -> dict[str, dict[str, Any]]:
    from pre_commit.clientlib import load_manifest

    return {h["id"]: h for h in load_manifest(str(ROOT / ".pre-commit-hooks.yaml"))}


def test_the_hooks_manifest_is_valid_for_pre_commit() -> None:
    found = hooks()
    assert set(found) == {"clearance-policy-lint", "clearance-policy-test"}
    lint = found["clearance-policy-lint"]
    assert lint["entry"] == "clearance policy lint" and lint["language"] == "python"
    files, exclude = re.compile(lint["files"]), re.compile(lint["exclude"])

    def selected(name: str) -> bool:
        return bool(files.search(name)) and not exclude.search(name)

    assert selected("policies/credit.yaml") and selected("ml/policy/gates.yml")
    assert not selected("policies/credit.test.yaml")
    assert not selected("src/app.yaml") and not selected("mypolicy/x.yaml")


def _hook(hook_id: str, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """The hook's entry as pre-commit runs it: entry, then args (the files or the folder)."""
    entry = hooks()[hook_id]["entry"].split()
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        [*entry, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def example_policy() -> dict[str, Any]:
    """The example's policy files as one mapping (its gates lists joined), dates as the text
    an editor sees (YAML would read ``expires: 2027-06-30`` as a date)."""
    merged: dict[str, Any] = {}
    for p in sorted((EXAMPLE / "policy").glob("*.yaml")):
        if p.name.endswith(".test.yaml"):
            continue
        for key, value in yaml.safe_load(p.read_text(encoding="utf-8")).items():
            if key == "gates":
                merged.setdefault("gates", []).extend(value)
            else:
                merged[key] = value
    as_text: dict[str, Any] = json.loads(json.dumps(merged, default=str))
    return as_text


def test_the_lint_hook_passes_a_good_policy_and_fails_a_broken_one(tmp_path: Path) -> None:
    assert _hook("clearance-policy-lint", "examples/credit-risk/policy").returncode == 0
    policy = tmp_path / "policies" / "one.yaml"
    policy.parent.mkdir()
    data = example_policy()
    policy.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert _hook("clearance-policy-lint", str(policy)).returncode == 0
    data["workflow"]["transitions"][0]["gates"] = ["no_such_gate"]
    policy.write_text(yaml.safe_dump(data), encoding="utf-8")
    ran = _hook("clearance-policy-lint", str(policy))
    assert ran.returncode == 1
    assert "no_such_gate" in ran.stdout


def test_the_policy_test_hook_runs_the_examples_tests() -> None:
    ran = _hook("clearance-policy-test", "examples/credit-risk/policy")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "case(s) passed" in ran.stdout


# --- JSON Schemas for editors --------------------------------------------------------------


def schema(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / "schemas" / name).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(data)
    return data


@pytest.mark.parametrize("example", ["v7-pass", "v8-blocked"])
def test_the_manifest_schema_accepts_the_examples(example: str) -> None:
    validator = jsonschema.Draft202012Validator(schema("manifest.schema.json"))
    manifest = yaml.safe_load((EXAMPLE / example / "manifest.yaml").read_text(encoding="utf-8"))
    assert not [e.message for e in validator.iter_errors(manifest)]
    manifest["evidnce"] = {}
    assert not validator.is_valid(manifest)


def test_the_policy_schema_accepts_the_example_and_rejects_a_typo() -> None:
    validator = jsonschema.Draft202012Validator(schema("policy.schema.json"))
    merged = example_policy()
    assert not [e.message for e in validator.iter_errors(merged)]
    merged["gates"][0]["severty"] = "warn"
    assert not validator.is_valid(merged)
