"""Run the ``clearance`` command as a user does and read its exit code and output.

In this process by default: the console script's own entry point (``clearance.cli.app.main``)
with the given arguments, environment, working directory and standard input, its standard
output and error captured, so a test pays for the command and not for an interpreter start.
``process=True`` runs the installed console script instead, for what only a process shows
(start-up, signals, commands running side by side, a crash).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from typer.testing import CliRunner

EXE = str(Path(sys.executable).parent / "clearance")


@dataclass(frozen=True)
class Ran:
    """What one command did; the same fields as ``subprocess.CompletedProcess``."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str


def run_cli(
    *args: str | Path,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    process: bool = False,
    timeout: float = 300,
) -> Ran:
    """``clearance ARGS``; ``env`` is the whole environment (default: this process's)."""
    argv = [str(a) for a in args]
    environment = dict(os.environ if env is None else env)
    if process:
        done = subprocess.run(
            [EXE, *argv],
            capture_output=True,
            text=True,
            cwd=cwd,
            env=environment,
            input=input,
            timeout=timeout,
            check=False,
        )
        return Ran(argv, done.returncode, done.stdout, done.stderr)
    return _in_process(argv, cwd, environment, input)


def _in_process(argv: list[str], cwd: Path | None, env: dict[str, str], stdin: str | None) -> Ran:
    from clearance.cli.app import main

    overrides: dict[str, str | None] = {k: None for k in os.environ if k not in env}
    overrides.update(env)
    with (
        CliRunner().isolation(input=stdin, env=overrides) as (out, err, _),
        _argv(["clearance", *argv]),
        contextlib.chdir(cwd or Path.cwd()),
    ):
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = _exit_code(exc.code)
        sys.stdout.flush()
        sys.stderr.flush()
        stdout, stderr = out.getvalue().decode(), err.getvalue().decode()
    return Ran(argv, code, stdout, stderr)


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)  # as the interpreter does with sys.exit("message")
    return 1


@contextlib.contextmanager
def _argv(argv: list[str]) -> Iterator[None]:
    saved = sys.argv
    sys.argv = argv
    try:
        yield
    finally:
        sys.argv = saved


@dataclass
class Cli:
    """``clearance`` bound to an environment and a folder, with assertions on its exit code."""

    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    cwd: Path | None = None
    process: bool = False

    def __call__(self, *args: str | Path, input: str | None = None) -> Ran:
        return run_cli(*args, cwd=self.cwd, env=self.env, input=input, process=self.process)

    def ok(self, *args: str | Path, input: str | None = None) -> str:
        ran = self(*args, input=input)
        assert ran.returncode == 0, f"{ran.args}: {ran.stdout}{ran.stderr}"
        return ran.stdout

    def fails(self, code: int, *args: str | Path) -> Ran:
        ran = self(*args)
        assert ran.returncode == code, f"{ran.args}: {ran.stdout}{ran.stderr}"
        return ran
