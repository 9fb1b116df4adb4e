"""Dependencies point inward, and only the adapters and a few interfaces read the clock.

DESIGN.md, Layers: kernels import nothing of clearance; core imports no adapter or interface
and has no database, network or wall clock of its own; adapters implement the ports the
service declares; the interfaces (CLI, API, SDK, demo) sit outside. Every module of the
package is placed in ``LAYERS`` and may import only its own layer and the ones listed before
it -- at any depth (imports inside functions count) and in every spelling (``import
clearance.x``, ``from clearance import x``, ``from clearance.x import y``, relative ones).
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "clearance"

LAYERS: list[tuple[str, set[str]]] = [  # inner first: (layer, top-level modules of clearance)
    ("kernels", {"kernels"}),  # numeric kernels: nothing of clearance
    ("errors", {"errors", "problem_types", "extras"}),  # errors every layer raises
    ("core", {"core"}),  # pure: policies, gates, engine, lifecycle rules, audit hashing
    ("formats", {"manifest", "notify", "dataset_sources"}),  # manifests, sources, notifications
    ("service", {"service"}),  # use cases and the ports they declare
    ("adapters", {"adapters"}),  # store, blobs, clock, evidence readers, senders
    ("contract", {"contract"}),  # each use case declared once for every transport
    ("wiring", {"workspace", "testing"}),  # use cases wired to adapters (or to fakes)
    ("presentation", {"terminal", "reporters"}),  # text for terminals and CI reports
    ("local", {"local"}),  # the in-process transport
    ("client", {"client"}),  # the SDK (HTTP transport)
    ("serving", {"serving"}),  # governed loading and the inference guard: either transport
    ("web", {"web"}),  # the web pages: use cases through LocalClearance
    ("api", {"api"}),
    ("demo", {"demo"}),  # drives a workspace itself: never the CLI
    ("cli", {"cli"}),
]
RANK = {module: i for i, (_, modules) in enumerate(LAYERS) for module in modules}
FACADE = ""  # clearance/__init__.py: the public surface, it re-exports from any layer

# Third-party and standard modules of I/O that the inner layers never touch.
NETWORK = {
    "sqlalchemy",
    "alembic",
    "psycopg",
    "fastapi",
    "starlette",
    "uvicorn",
    "httpx",
    "requests",
    "http",
    "urllib.request",
    "urllib.error",
    "socket",
    "ssl",
    "smtplib",
    "subprocess",
}
NO_IO = {
    "core": NETWORK | {"urllib", "typer", "click", "rich", "mlflow", "pandas"},
    "formats": NETWORK | {"typer", "click", "rich"},
    "service": NETWORK | {"typer", "click", "rich"},
}

CLOCK_READS = {
    "datetime.datetime.now",
    "datetime.datetime.utcnow",
    "datetime.datetime.today",
    "datetime.date.today",
    "time.time",
    "time.time_ns",
    "time.monotonic",
    "time.monotonic_ns",
    "time.perf_counter",
    "time.perf_counter_ns",
    "time.process_time",
    "time.process_time_ns",
}
# Everything else takes a ``Clock`` (``adapters.clock``), so a test or a replay can set it.
CLOCK_EXEMPTIONS: dict[tuple[str, str], str] = {
    ("clearance.adapters.clock", "datetime.datetime.now"): "SystemClock: the one wall clock",
    ("clearance.adapters.prometheus", "time.monotonic"): (
        "a Prometheus answer's total deadline, so a server trickling bytes cannot stall a tick"
    ),
    ("clearance.adapters.latency", "time.perf_counter_ns"): (
        "the latency gate's stopwatch, timing the artifact's predictions"
    ),
    ("clearance.kernels.sandbox", "time.monotonic"): (
        "the deadline that stops a runaway CEL worker; it bounds the wait, no result reads it"
    ),
    ("clearance.api.app", "time.perf_counter"): (
        "a request's duration, for the access log and the latency metric"
    ),
    ("clearance.serving.middleware", "time.perf_counter"): (
        "the inference guard's check duration, for its latency metric"
    ),
    ("clearance.cli.access", "datetime.datetime.now"): (
        "a token's state (expired or not) as the operator reads it now"
    ),
    ("clearance.cli.policy", "datetime.datetime.now"): (
        "`policy lint` checks gate expiry dates against today unless --today is given"
    ),
}


@dataclass(frozen=True)
class Module:
    name: str  # clearance.service.promotion
    path: Path
    tree: ast.Module

    @property
    def top(self) -> str:
        """The top-level module of clearance it belongs to ("" for the package root)."""
        parts = self.name.split(".")
        return parts[1] if len(parts) > 1 else FACADE

    @property
    def package(self) -> str:
        return self.name if self.path.name == "__init__.py" else self.name.rpartition(".")[0]


def _modules() -> Iterator[Module]:
    for path in sorted(SRC.rglob("*.py")):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        yield Module(".".join(parts), path, ast.parse(path.read_text(), str(path)))


def _is_module(dotted: str) -> bool:
    path = SRC.parent.joinpath(*dotted.split("."))
    return path.is_dir() or path.with_suffix(".py").is_file()


def _imports(module: Module) -> Iterator[tuple[int, str, list[str]]]:
    """(line, module imported, names taken from it) for every import, however deep."""
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.package.split(".")
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            names = [a.name for a in node.names]
            submodules = [n for n in names if _is_module(f"{base}.{n}")]
            for name in submodules:  # `from clearance import kernels`: the module kernels
                yield node.lineno, f"{base}.{name}", []
            rest = [n for n in names if n not in submodules]
            if rest:
                yield node.lineno, base, rest


def _top(dotted: str) -> str | None:
    """The top-level module of clearance that ``dotted`` names, None outside clearance."""
    parts = dotted.split(".")
    if parts[0] != "clearance":
        return None
    return parts[1] if len(parts) > 1 else FACADE


def test_every_module_has_a_layer() -> None:
    unplaced = {m.top for m in _modules() if m.top != FACADE and m.top not in RANK}
    assert not unplaced, f"place {sorted(unplaced)} in LAYERS (tests/test_layers.py)"


def test_imports_point_inward() -> None:
    wrong = []
    for module in _modules():
        if module.top == FACADE or module.top not in RANK:
            continue
        for line, target, names in _imports(module):
            top = _top(target)
            if top is None or top == module.top:
                continue
            where = f"{module.path.relative_to(SRC.parent)}:{line}"
            if top == FACADE:
                if set(names) - {"__version__"}:
                    wrong.append(f"{where} takes {names} from the package root; import the module")
            elif top not in RANK or RANK[top] > RANK[module.top]:
                wrong.append(f"{where} ({module.top}) imports {target}")
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_inner_layers_do_no_io() -> None:
    layer_of = {module: layer for layer, modules in LAYERS for module in modules}
    wrong = []
    for module in _modules():
        forbidden = NO_IO.get(layer_of.get(module.top, ""), set())
        for line, target, _ in _imports(module):
            prefixes = {".".join(target.split(".")[:n]) for n in (1, 2)}
            if prefixes & forbidden:
                wrong.append(f"{module.path.relative_to(SRC.parent)}:{line} imports {target}")
    assert not wrong, "I/O in an inner layer:\n" + "\n".join(wrong)


def _clock_reads(module: Module) -> Iterator[tuple[int, str]]:
    """(line, what) for each call that reads the time, through whatever names it was imported."""
    aliases: dict[str, str] = {}
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    aliases[a.asname] = a.name
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    for node in ast.walk(module.tree):
        if not isinstance(node, ast.Call):
            continue
        try:
            dotted = ast.unparse(node.func)
        except Exception:  # pragma: no cover - every call in the source unparses
            continue
        head, _, tail = dotted.partition(".")
        resolved = aliases.get(head, head) + (f".{tail}" if tail else "")
        for read in CLOCK_READS:
            if resolved == read or resolved.endswith(f".{read}"):
                yield node.lineno, read


def test_only_the_clock_adapter_and_named_interfaces_read_the_time() -> None:
    found = {(m.name, read): line for m in _modules() for line, read in _clock_reads(m)}
    unexpected = [
        f"{name}:{line} calls {read}"
        for (name, read), line in found.items()
        if (name, read) not in CLOCK_EXEMPTIONS
    ]
    assert not unexpected, "take a Clock instead (adapters.clock):\n" + "\n".join(unexpected)
    stale = sorted(set(CLOCK_EXEMPTIONS) - set(found))
    assert not stale, f"exemptions no longer needed, remove them: {stale}"


def test_the_checks_see_every_spelling() -> None:
    """The detectors themselves: function-level, package-level and aliased forms."""
    source = (
        "import datetime as d\n"
        "from time import perf_counter as pc\n"
        "def f():\n"
        "    from clearance import adapters\n"
        "    import clearance.cli.app\n"
        "    from clearance import __version__\n"
        "    return d.datetime.now(), pc(), d.time(23, 59), d.date.today()\n"
    )
    module = Module("clearance.core.example", SRC / "core" / "example.py", ast.parse(source))
    imported = {target for _, target, _ in _imports(module)}
    assert {"clearance.adapters", "clearance.cli.app", "clearance"} <= imported
    reads = sorted(read for _, read in _clock_reads(module))
    assert reads == ["datetime.date.today", "datetime.datetime.now", "time.perf_counter"]


# What only the extras install (pyproject.toml): the base install has none of them.
EXTRA_LIBRARIES = [
    *("numpy", "scipy", "numba", "llvmlite", "pyarrow", "sklearn", "pandas"),
    *("fastapi", "starlette", "uvicorn", "multipart", "python_multipart", "prometheus_client"),
    *("psycopg", "psycopg_binary", "mlflow"),
]
EXAMPLES = SRC.parent.parent / "examples"
NOW = "2026-11-22T12:00:00"

# Runs in a fresh interpreter: every library of an extra fails to import, as in a venv that
# has only `pip install clearance`; then the commands run through the console script's own
# entry point (tests/cli_runner.py) and their exit codes and output come back as JSON.
_WITHOUT_EXTRAS = """
import importlib.abc, json, sys
blocked = set(sys.argv[1].split())

class WithoutExtras(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, WithoutExtras())
sys.path.insert(0, sys.argv[2])
from cli_runner import run_cli
import clearance

with clearance.Client("http://127.0.0.1:9", "token", retries=0) as client:
    sdk = repr(client)
ran = [run_cli(*args).__dict__ for args in json.loads(sys.argv[3])]
loaded = sorted(m for m in sys.modules if m.partition(".")[0] in blocked)
print(json.dumps({"sdk": sdk, "ran": ran, "loaded": loaded}))
"""


def test_the_base_install_runs_without_the_extras(tmp_path: Path) -> None:
    """`pip install clearance` (no extra): the CLI, check, the SQLite registry and the SDK work;
    what needs an extra says which one to install."""
    credit = EXAMPLES / "credit-risk"
    data = EXAMPLES / "credit-risk-data"
    commands = [
        ["--help"],
        ["init", tmp_path],
        ["user", "add", "ann", "--role", "admin", "--role", "ml_engineer"],
        ["policy", "apply", credit / "policy"],
        ["register", credit / "v7-pass" / "manifest.yaml"],
        ["promote", "credit-default", "7", "--to", "staging"],
        ["status"],
        ["audit", "verify"],
        ["check", "-p", credit / "policy", "-m", credit / "v7-pass" / "manifest.yaml",
         "--to", "production", "--now", NOW],
        ["check", "-p", credit / "policy", "-m", credit / "v8-blocked" / "manifest.yaml",
         "--to", "production", "--now", NOW, "--json"],
        ["check", "-p", data / "policy", "-m", data / "v3-blocked" / "manifest.yaml",
         "--to", "production", "--now", NOW, "--json"],
        ["serve"],
        ["init", tmp_path / "pg", "--db", "postgresql://clearance@127.0.0.1:9/clearance"],
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLEARANCE_")}
    env["CLEARANCE_USER"] = "ann"
    env["COLUMNS"] = "200"  # the status table names the model in full
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _WITHOUT_EXTRAS,
            " ".join(EXTRA_LIBRARIES),
            str(Path(__file__).parent),
            json.dumps([[str(a) for a in c] for c in commands]),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.splitlines()[-1])
    assert out["loaded"] == []
    assert out["sdk"] == "Client('http://127.0.0.1:9')"
    ran = {" ".join(r["args"][:2]): r for r in out["ran"]}
    codes = [(" ".join(r["args"][:2]), r["returncode"]) for r in out["ran"]]
    assert [c for _, c in codes] == [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 2], (
        codes,
        [r["stderr"][-500:] for r in out["ran"] if r["returncode"] not in (0, 1)],
    )
    assert "credit-default" in ran["status"]["stdout"]
    assert "audit chain OK" in ran["audit verify"]["stdout"]
    checks = [r for r in out["ran"] if r["args"][0] == "check"]
    assert "NEEDS_APPROVAL" in checks[0]["stdout"]
    blocked = {g["gate_id"]: g for g in json.loads(checks[1]["stdout"])["gates"]}
    assert blocked["auc_vs_champion"]["status"] == "fail"  # measured on reported metrics
    data_gates = {g["gate_id"]: g for g in json.loads(checks[2]["stdout"])["gates"]}
    for gate in ("auc_floor", "auc_vs_champion", "approval_rate_parity", "feature_drift"):
        assert data_gates[gate]["status"] == "error"
        assert data_gates[gate]["message"].endswith(
            "needs numpy, which is not installed: pip install 'clearance[data]'"
        ), data_gates[gate]["message"]
    assert "pip install 'clearance[server]'" in ran["serve"]["stderr"]
    pg = out["ran"][-1]
    assert "pip install 'clearance[postgres]'" in pg["stderr"], pg["stderr"]


def test_only_a_library_of_an_extra_is_reported_as_a_missing_extra() -> None:
    from clearance.errors import InputError
    from clearance.extras import MissingExtra, lazy, missing_extra, require

    found = missing_extra(
        ModuleNotFoundError("No module named 'scipy.stats'", name="scipy.stats"), "x"
    )
    assert isinstance(found, MissingExtra) and isinstance(found, InputError)
    assert str(found) == "x needs scipy, which is not installed: pip install 'clearance[data]'"
    again = missing_extra(found, "gate type 'drift'")
    assert again is not None and str(again).startswith("gate type 'drift' needs scipy")
    # a fault inside an installed library, or one no extra brings: reinstalling would not help
    assert missing_extra(ImportError("cannot import name 'x' from 'numpy'"), "x") is None
    assert missing_extra(ModuleNotFoundError("nope", name="not_a_library_of_ours"), "x") is None
    assert require("json", "x").dumps([1]) == "[1]"
    proxy = lazy("json", "x")
    assert proxy.dumps({}) == "{}" and proxy.dumps is __import__("json").dumps
    absent = lazy("clearance_no_such_module", "x")
    with pytest.raises(ModuleNotFoundError) as raised:  # no extra's: the import error itself
        getattr(absent, "anything")  # noqa: B009
    assert raised.value.name == "clearance_no_such_module"
