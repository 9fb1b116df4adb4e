"""Start-up cost of the ``clearance`` command, in CPU seconds of the child process.

Each command runs ``--rounds`` times, the commands alternating round by round so that the
machine's load falls on all of them alike; the median CPU time (user + system, from
``getrusage(RUSAGE_CHILDREN)``) is printed beside the floor every Python CLI pays: the bare
interpreter, and the interpreter importing Typer (the CLI's framework). Targets of issue 12:
``--help`` and ``version`` < 0.3 s, a read on a small workspace < 0.5 s, ``check`` on the
credit-risk example < 0.6 s.

    .venv/bin/python bench/startup.py [--rounds 15] [--record]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXE = str(Path(sys.executable).parent / "clearance")
EXAMPLE = ROOT / "examples" / "credit-risk"
TARGETS = {"--help": 0.3, "version": 0.3, "status": 0.5, "request list": 0.5, "check": 0.6}


def cpu_of(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{argv} exited {done.returncode}: {done.stderr.decode()[-500:]}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def workspace(root: Path, env: dict[str, str]) -> None:
    """A small workspace: the credit-risk policy, one version in staging."""

    def run(*args: str) -> None:
        subprocess.run([EXE, *args], cwd=root, env=env, check=True, capture_output=True)

    run("init")
    run("user", "add", "alice", "--role", "ml_engineer", "--as", "admin")
    run("user", "add", "paula", "--role", "policy_admin", "--as", "admin")
    run("policy", "apply", str(EXAMPLE / "policy"), "--as", "paula")
    run("register", str(EXAMPLE / "v7-pass" / "manifest.yaml"), "--as", "alice")
    run("promote", "credit-default", "7", "--to", "staging", "--as", "alice")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="clearance-startup-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLEARANCE_")}
    try:
        workspace(root, env)
        commands: dict[str, list[str]] = {
            "python -c pass (floor)": [sys.executable, "-c", "pass"],
            "python -c 'import typer' (floor)": [sys.executable, "-c", "import typer"],
            "--help": [EXE, "--help"],
            "version": [EXE, "version"],
            "status": [EXE, "status"],
            "request list": [EXE, "request", "list"],
            "check": [
                EXE, "check", "-p", str(EXAMPLE / "policy"),
                "-m", str(EXAMPLE / "v7-pass" / "manifest.yaml"),
                "--to", "production", "--now", "2026-11-22T12:00:00",
            ],
        }  # fmt: skip
        for argv in commands.values():  # warm the file cache and bytecode once
            cpu_of(argv, root, env)
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.rounds):
            for name, argv in commands.items():
                samples[name].append(cpu_of(argv, root, env))
    finally:
        shutil.rmtree(root, ignore_errors=True)

    floor = statistics.median(samples["python -c pass (floor)"])
    load = os.getloadavg()
    lines = [
        f"### `bench/startup.py --rounds {args.rounds}` · {dt.date.today()} · "
        f"load {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}",
        "",
        "| command | median CPU s | x bare interpreter | target | met |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, values in samples.items():
        median = statistics.median(values)
        target = TARGETS.get(name)
        met = "" if target is None else ("yes" if median < target else "no")
        shown = "" if target is None else f"< {target}"
        lines.append(f"| `{name}` | {median:.3f} | {median / floor:.1f} | {shown} | {met} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.record:
        with (ROOT / "bench" / "RESULTS.md").open("a", encoding="utf-8") as out:
            out.write("\n" + text)


if __name__ == "__main__":
    main()
