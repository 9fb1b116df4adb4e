"""The release artifacts install and run, and the container files agree with the package.

``python -m build`` makes an sdist and, from it, a wheel; that wheel goes into a clean venv
without any extra (``pip install clearance``), with the lock as constraints, and the console
script, ``check``, a SQLite workspace and the SDK work there, with none of the extras'
libraries installed. That case is slow (a build and an install from the index, ~60 s): CI
runs it (``CLEARANCE_TEST_SLOW=1``). No Docker here: the Dockerfile and compose.yaml are
read, not built (non-root user, health check on a route the server has, the documented
extras, PostgreSQL with a health check the server waits for).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "lock.txt"
EXAMPLE = ROOT / "examples" / "credit-risk"
# Libraries that only the extras bring (pyproject.toml): the base install must not have them.
EXTRAS_ONLY = ("numpy", "scipy", "numba", "pyarrow", "fastapi", "uvicorn", "psycopg")


def _run(*cmd: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(c) for c in cmd],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"{cmd}: exit {done.returncode}\n{done.stdout}{done.stderr}"
    return done.stdout


@pytest.mark.slow
def test_the_sdist_and_wheel_install_in_a_clean_venv(tmp_path: Path) -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    dist = tmp_path / "dist"
    # sdist first, then the wheel built from the unpacked sdist: a file missing from the
    # sdist breaks the wheel, and so this test
    _run(sys.executable, "-m", "build", "--outdir", dist, ROOT)
    sdists = list(dist.glob("clearance-*.tar.gz"))
    wheels = list(dist.glob("clearance-*.whl"))
    assert [p.name for p in sdists] == [f"clearance-{version}.tar.gz"]
    assert [p.name for p in wheels] == [f"clearance-{version}-py3-none-any.whl"]

    with zipfile.ZipFile(wheels[0]) as whl:
        names = set(whl.namelist())
        metadata = whl.read(f"clearance-{version}.dist-info/METADATA").decode()
        entry_points = whl.read(f"clearance-{version}.dist-info/entry_points.txt").decode()
    for needed in (
        "clearance/py.typed",
        "clearance/adapters/store/migrations/env.py",
        "clearance/adapters/store/migrations/versions/0001_initial.py",
        "clearance/api/static/swagger-ui/swagger-ui-bundle.js",
    ):
        assert needed in names, f"the wheel lacks {needed}"
    assert "clearance = clearance.cli.app:main" in entry_points
    assert "metric_threshold = clearance.core.gates.metric_threshold:MetricThreshold" in (
        entry_points
    )
    base = [
        line.removeprefix("Requires-Dist: ")
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist: ") and "extra ==" not in line
    ]
    heavy = [r for r in base if re.split(r"[\[<>=!~ ;]", r, maxsplit=1)[0] in EXTRAS_ONLY]
    assert not heavy, f"the base install requires {heavy}: move them to an extra"
    provided = {
        line.split(": ", 1)[1] for line in metadata.splitlines() if "Provides-Extra" in line
    }
    assert {"data", "server", "postgres", "mlflow", "demo", "all", "test"} <= provided
    with tarfile.open(sdists[0]) as sdist:
        members = {m.name.split("/", 1)[1] for m in sdist.getmembers() if "/" in m.name}
    assert {"pyproject.toml", "README.md", "src/clearance/cli/app.py"} <= members

    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv)
    bin_ = venv / "bin"
    _run(bin_ / "python", "-m", "pip", "install", "--quiet", "-c", LOCK, wheels[0])

    absent = _run(
        bin_ / "python",
        "-c",
        "import importlib.util as u; "
        f"print(' '.join(m for m in {EXTRAS_ONLY!r} if u.find_spec(m) is not None))",
    )
    assert absent.strip() == "", f"the base install brought {absent.strip()}"

    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLEARANCE_")}
    env.pop("PYTHONPATH", None)  # only the installed wheel, never this checkout's src/
    clearance = bin_ / "clearance"
    assert _run(clearance, "--version", cwd=work, env=env).strip().endswith(version)
    assert "policy-as-code" in _run(clearance, "--help", cwd=work, env=env)
    assert "workspace ready" in _run(clearance, "init", cwd=work, env=env)
    checked = _run(
        clearance,
        *("check", "-p", EXAMPLE / "policy", "-m", EXAMPLE / "v7-pass" / "manifest.yaml"),
        *("--to", "production", "--now", "2026-11-22T12:00:00"),
        cwd=work,
        env=env,
    )
    assert "NEEDS_APPROVAL" in checked
    sdk = _run(
        bin_ / "python",
        "-c",
        "import clearance, sys; c = clearance.Client('http://127.0.0.1:9', 't'); "
        "print(repr(c), clearance.__file__)",
        cwd=work,
        env=env,
    )
    assert sdk.startswith("Client('http://127.0.0.1:9') ")
    assert str(venv) in sdk, "the SDK came from this checkout, not the installed wheel"


def _instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", dockerfile)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_the_container_image_runs_the_server_as_a_user_with_a_health_check() -> None:
    steps = _instructions((ROOT / "Dockerfile").read_text())
    final = steps[max(i for i, (word, _) in enumerate(steps) if word == "FROM") :]
    users = [arg for word, arg in final if word == "USER"]
    assert users, "the image must not run as root: add USER"
    assert users[-1].split(":")[0] not in ("root", "0")

    healthchecks = [arg for word, arg in final if word == "HEALTHCHECK"]
    assert len(healthchecks) == 1
    route = re.search(r"127\.0\.0\.1:8000(/\w+)", healthchecks[0])
    assert route, healthchecks[0]
    assert f'"{route.group(1)}"' in (ROOT / "src/clearance/api/app.py").read_text(), (
        f"the health check calls {route.group(1)}, which the server does not serve"
    )
    command = " ".join(arg for word, arg in final if word in ("ENTRYPOINT", "CMD"))
    assert re.search(r'"serve", "--host", "0.0.0.0", "--port", "8000"', command), command

    installs = " ".join(arg for word, arg in final if word == "RUN")
    extras = re.search(r"clearance\[([a-z,]+)\]", installs)
    assert extras, installs
    image_extras = set(extras.group(1).split(","))
    assert image_extras == {"server", "postgres", "data"}
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert image_extras <= set(declared["optional-dependencies"])
    assert "-c /tmp/lock.txt" in installs, "the image installs the versions CI tests"
    assert "clearance[server,postgres,data]" in (ROOT / "docs" / "install.md").read_text()

    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    for word, arg in steps:
        if word == "COPY" and not arg.startswith("--from"):
            for source in arg.split()[:-1]:
                assert f"!{source.rstrip('/')}" in {i.rstrip("/") for i in ignored}, (
                    f".dockerignore leaves out {source}, which the Dockerfile copies"
                )


def test_compose_runs_the_server_on_postgresql_once_it_is_healthy() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    postgres, init, server = services["postgres"], services["init"], services["server"]
    assert postgres["image"] == "postgres:16"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    user = postgres["environment"]["POSTGRES_USER"]
    database = postgres["environment"]["POSTGRES_DB"]
    for service in (init, server):
        url = service["environment"]["CLEARANCE_DB_URL"]
        assert url.startswith(f"postgresql://{user}:")
        assert url.endswith(f"@postgres:5432/{database}")
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert service["build"] == "."
        assert "workspace:/workspace" in service["volumes"]
    assert init["command"] == ["init", "/workspace"]  # the schema, before the server starts
    assert server["depends_on"]["init"]["condition"] == "service_completed_successfully"
    assert server["command"][:3] == ["serve", "--host", "0.0.0.0"]
    assert set(compose["volumes"]) == {"pgdata", "workspace"}
