"""Installed size and install time of clearance and of each extra, each in a clean venv.

Builds the wheel from this checkout, then for every target (the base install, each extra,
and ``mlflow-skinny`` alone for comparison) creates a fresh venv, installs the target with
the lock as constraints (the versions CI tests) and measures:

* size: the growth of the venv's site-packages on disk (``du``: allocated blocks, hard
  links once), so the pip and setuptools every venv starts with are not counted;
* time: the wall time of the ``pip install`` alone (with pip's cache as it is: run it twice
  for warm numbers, the second run reuses the downloads).

    .venv/bin/python scripts/install_sizes.py [--only base,data] [--json]

Prints a Markdown table (docs/install.md and bench/RESULTS.md carry its numbers) and, per
target, its heaviest distributions, which is where to look when the base grows.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "lock.txt"
MIB = 1024 * 1024
# name -> extras of clearance ("" for the base install); None installs COMPARE instead.
TARGETS: dict[str, str | None] = {
    "base": "",
    "data": "data",
    "server": "server",
    "postgres": "postgres",
    "mlflow": "mlflow",
    "demo": "demo",
    "duckdb": "duckdb",
    "spark": "spark",
    "all": "all",
    "mlflow-skinny alone": None,
}
COMPARE = "mlflow-skinny"
BASE_BUDGET_MIB = 120  # issue 13: the base install stays under this, and below mlflow-skinny


@dataclass
class Row:
    target: str
    requirement: str
    mib: float
    seconds: float
    distributions: int
    heaviest: list[tuple[str, float]]


def run(cmd: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if result.returncode != 0:
        sys.exit(f"failed ({result.returncode}): {' '.join(cmd)}\n{result.stdout}{result.stderr}")
    return result


def disk_bytes(path: Path) -> int:
    """What ``du`` reports for ``path``: allocated blocks, each hard-linked file once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            st = (Path(folder) / name).lstat()
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            total += st.st_blocks * 512
    return total


def build_wheel(out: Path) -> Path:
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(ROOT)])
    wheels = sorted(out.glob("clearance-*.whl"))
    if len(wheels) != 1:
        sys.exit(f"expected one clearance wheel in {out}, found {[w.name for w in wheels]}")
    return wheels[0]


def heaviest(site: Path, skip: set[str], count: int = 5) -> list[tuple[str, float]]:
    """The ``count`` largest distributions in ``site`` (except ``skip``), by their RECORD."""
    sizes: list[tuple[str, float]] = []
    for record in site.glob("*.dist-info/RECORD"):
        if record.parent.name in skip:
            continue
        name = record.parent.name.removesuffix(".dist-info").rsplit("-", 1)[0]
        total = 0
        for line in record.read_text().splitlines():
            file = site / line.split(",", 1)[0]
            if file.is_file():
                total += file.stat().st_blocks * 512
        sizes.append((name, round(total / MIB, 1)))
    return sorted(sizes, key=lambda s: -s[1])[:count]


def measure(target: str, requirement: str, work: Path) -> Row:
    venv = work / target.replace(" ", "-")
    run([sys.executable, "-m", "venv", str(venv)])
    python = venv / "bin" / "python"
    site = Path(
        run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
        ).stdout.strip()
    )
    before = disk_bytes(site)
    seeded = {d.name for d in site.glob("*.dist-info")}  # pip (and setuptools) of the venv
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    start = time.perf_counter()
    run(
        [str(python), "-m", "pip", "install", "--quiet", "-c", str(LOCK), requirement],
        env=env,
    )
    seconds = time.perf_counter() - start
    return Row(
        target,
        requirement,
        round((disk_bytes(site) - before) / MIB, 1),
        round(seconds, 1),
        len(list(site.glob("*.dist-info"))) - len(seeded),
        heaviest(site, seeded),
    )


def table(rows: list[Row]) -> str:
    base = next((r.mib for r in rows if r.target == "base"), None)
    lines = [
        "| install | size (MiB) | over base (MiB) | install time (s) | distributions |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        label = (
            f"`pip install {r.requirement}`"
            if r.target == "mlflow-skinny alone"
            else ("`clearance`" if r.target == "base" else f"`clearance[{r.target}]`")
        )
        over = (
            ""
            if base is None or r.target in ("base", "mlflow-skinny alone")
            else (f"{r.mib - base:+.1f}")
        )
        lines.append(f"| {label} | {r.mib:.1f} | {over} | {r.seconds:.1f} | {r.distributions} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help=f"comma-separated targets of: {', '.join(TARGETS)}")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args()
    chosen = [t.strip() for t in args.only.split(",")] if args.only else list(TARGETS)
    if unknown := [t for t in chosen if t not in TARGETS]:
        sys.exit(f"unknown target(s) {unknown}; known: {', '.join(TARGETS)}")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="clearance-sizes-") as tmp:
        work = Path(tmp)
        wheel = build_wheel(work / "dist")
        for target in chosen:
            extras = TARGETS[target]
            if extras is None:
                requirement = COMPARE
            else:
                requirement = f"clearance{f'[{extras}]' if extras else ''} @ {wheel.as_uri()}"
            print(f"installing {target} ...", file=sys.stderr, flush=True)
            rows.append(measure(target, requirement, work))
    if args.json:
        print(json.dumps([asdict(r) for r in rows], indent=2))
        return
    print(table(rows))
    print()
    for r in rows:
        heavy = ", ".join(f"{name} {mib:.1f}" for name, mib in r.heaviest)
        print(f"- {r.target}: heaviest (MiB): {heavy}")
    base = next((r for r in rows if r.target == "base"), None)
    skinny = next((r for r in rows if r.target == "mlflow-skinny alone"), None)
    if base is not None:
        verdict = "within" if base.mib < BASE_BUDGET_MIB else "OVER"
        print(f"\nbase: {base.mib:.1f} MiB, {verdict} the {BASE_BUDGET_MIB} MiB budget", end="")
        if skinny is not None:
            relation = "smaller" if base.mib < skinny.mib else "NOT smaller"
            print(f"; {relation} than {COMPARE} ({skinny.mib:.1f} MiB)", end="")
        print()


if __name__ == "__main__":
    main()
