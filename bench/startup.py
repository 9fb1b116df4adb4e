"""Start-up cost of the ``clearance`` command, in CPU seconds of the child process.

Each command runs ``--rounds`` times, the commands alternating round by round so that the
machine's load falls on all of them alike; the median CPU time (user + system, from
``getrusage(RUSAGE_CHILDREN)``) is printed beside the floor every Python CLI pays: the bare
interpreter, and the interpreter importing Typer (the CLI's framework). Targets of issue 12:
``--help`` and ``version`` < 0.3 s, a read on a small workspace < 0.5 s, ``check`` on the
credit-risk example < 0.6 s.

The children write and reuse bytecode in a cache of their own (an installed package has its
``.pyc`` files; ``PYTHONDONTWRITEBYTECODE``, which development shells often set, would make
every run compile the project's modules again). ``--before SRC`` also runs every command on
another source tree in the same rounds (e.g. ``git archive HEAD | tar -x -C /tmp/before``,
then ``--before /tmp/before/src``), for a before/after measured under the same load.

    .venv/bin/python bench/startup.py [--rounds 15] [--before SRC] [--record]
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
    if done.returncode not in (0, 1) or b"Traceback" in done.stderr:  # 1: check blocked
        raise SystemExit(f"{argv} exited {done.returncode}: {done.stderr.decode()[-500:]}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def workspace(root: Path, env: dict[str, str]) -> Path:
    """A small workspace: the credit-risk policy, one version in staging."""
    root.mkdir(parents=True)

    def run(*args: str) -> None:
        subprocess.run([EXE, *args], cwd=root, env=env, check=True, capture_output=True)

    run("init")
    run("user", "add", "alice", "--role", "ml_engineer", "--as", "admin")
    run("user", "add", "paula", "--role", "policy_admin", "--as", "admin")
    run("policy", "apply", str(EXAMPLE / "policy"), "--as", "paula")
    run("register", str(EXAMPLE / "v7-pass" / "manifest.yaml"), "--as", "alice")
    run("promote", "credit-default", "7", "--to", "staging", "--as", "alice")
    return root


def environment(root: Path, source: Path | None) -> dict[str, str]:
    """The children's environment: no CLEARANCE_ settings, bytecode cached under ``root``
    (by source path, so two trees never share a file), and ``source`` (a tree to measure
    instead of the installed one) first on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLEARANCE_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
    if source is not None:
        env["PYTHONPATH"] = str(source.resolve())
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--before", type=Path, help="another source tree, run alongside")
    parser.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="clearance-startup-"))
    trees = {"": environment(root, None)}
    if args.before is not None:
        trees["before"] = environment(root, args.before)
    try:  # a workspace per tree: the other tree's schema may be older
        folders = {tree: workspace(root / (tree or "after"), env) for tree, env in trees.items()}
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
        runs = [
            (name, tree, argv)
            for name, argv in commands.items()
            for tree in trees
            if tree == "" or argv[0] == EXE
        ]
        for _, tree, argv in runs:  # warm the file cache and write the bytecode once
            cpu_of(argv, folders[tree], trees[tree])
        samples: dict[tuple[str, str], list[float]] = {(n, t): [] for n, t, _ in runs}
        for _ in range(args.rounds):
            for name, tree, argv in runs:
                samples[name, tree].append(cpu_of(argv, folders[tree], trees[tree]))
    finally:
        shutil.rmtree(root, ignore_errors=True)

    print(table(samples, args.rounds, compared=len(trees) > 1))
    if args.record:
        with (ROOT / "bench" / "RESULTS.md").open("a", encoding="utf-8") as out:
            out.write("\n" + table(samples, args.rounds, compared=len(trees) > 1))


def table(samples: dict[tuple[str, str], list[float]], rounds: int, *, compared: bool) -> str:
    median = {key: statistics.median(values) for key, values in samples.items()}
    floor = median["python -c pass (floor)", ""]
    load = os.getloadavg()
    lines = [
        f"### `bench/startup.py --rounds {rounds}` · {dt.date.today()} · "
        f"load {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}",
        "",
        "| command | median CPU s | x bare interpreter |"
        + (" before |" if compared else "")
        + " target | met |",
        "| --- | --- | --- |" + (" --- |" if compared else "") + " --- | --- |",
    ]
    for name, tree in median:
        if tree:
            continue
        target = TARGETS.get(name)
        met = "" if target is None else ("yes" if median[name, ""] < target else "no")
        shown = "" if target is None else f"< {target}"
        before = median.get((name, "before"))
        cells = [f"`{name}`", f"{median[name, '']:.3f}", f"{median[name, ''] / floor:.1f}"]
        if compared:
            cells.append("" if before is None else f"{before:.3f}")
        lines.append("| " + " | ".join([*cells, shown, met]) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
