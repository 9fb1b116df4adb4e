"""The core stays pure: it imports no store, web, CLI, registry client or dataframe library.

Invariant: core has no database, network or wall clock of its own (DESIGN.md, Layers).
"""

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parent.parent / "src" / "clearance" / "core"
FORBIDDEN_MODULES = {
    "sqlalchemy",
    "alembic",
    "psycopg",
    "fastapi",
    "starlette",
    "uvicorn",
    "typer",
    "click",
    "rich",
    "mlflow",
    "pandas",
    "requests",
    "httpx",
    "urllib",
    "socket",
    "http",
    "smtplib",
    "subprocess",
    "clearance.cli",
    "clearance.reporters",
    "clearance.manifest",
    "clearance.adapters",
    "clearance.service",
}
CLOCK_CALLS = {"now", "utcnow", "today", "time", "monotonic"}


def _imports(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_core_imports_no_io_layers() -> None:
    for path in sorted(CORE.rglob("*.py")):
        for name in _imports(ast.parse(path.read_text())):
            top = {name, name.split(".")[0], ".".join(name.split(".")[:2])}
            assert not top & FORBIDDEN_MODULES, f"{path.name} imports {name}"


def test_core_reads_no_clock() -> None:
    for path in sorted(CORE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                owner = ast.unparse(node.func.value)
                if node.func.attr in CLOCK_CALLS and owner.split(".")[-1] in {
                    "datetime",
                    "date",
                    "time",
                    "dt",
                }:
                    raise AssertionError(f"{path.name}: {ast.unparse(node)} reads the clock")
