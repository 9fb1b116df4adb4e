"""The worker process of :mod:`clearance.kernels.sandbox`: evaluates CEL programs on request.

Run by path with ``python -I`` (no current folder, no PYTHONPATH) and its address-space cap as
argument. It serves requests until its stdin closes: each is an 8-byte big-endian length and
a pickled ``(source, variables)``; each answer is one line: ``T`` or ``F`` for true or false,
else JSON ``[kind, payload]``: ``ok`` with a short description of another value, ``missing``
with a key, ``failed`` with CEL's message. CEL has no side effects, so one evaluation cannot
affect the next. Only the compiled ``cel`` extension is loaded (the ``cel`` package's
``__init__`` also imports its CLI, which costs a third of a second).
"""

import contextlib
import importlib.machinery
import importlib.util
import json
import pickle
import sys
from pathlib import Path
from typing import Any


def load_cel() -> Any:
    """The compiled ``cel`` extension alone, without the package's ``__init__`` (and its CLI):
    what both this worker and the expression gate's compile step use. Registered as
    ``cel.cel``, the name the package gives it, so that importing the package later reuses it
    (a PyO3 extension initialises once per process)."""
    loaded = sys.modules.get("cel.cel")
    if loaded is not None:
        return loaded
    spec = importlib.util.find_spec("cel")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the cel package is not installed")
    folder = spec.submodule_search_locations[0]
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = Path(folder) / ("cel" + suffix)
        found = importlib.util.spec_from_file_location("cel.cel", path)
        if path.exists() and found is not None and found.loader is not None:
            module = importlib.util.module_from_spec(found)
            found.loader.exec_module(module)
            sys.modules["cel.cel"] = module
            return module
    raise ImportError(f"no compiled cel extension in {folder}")


def _cap_memory(limit: int) -> None:
    try:
        import resource
    except ImportError:  # Windows: no rlimits
        return
    # a platform that refuses the cap still gets the deadline
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _describe(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 200 else text[:200] + '...'}"


def _answer(cel: Any, source: str, variables: dict[str, Any]) -> list[Any]:
    try:
        return ["ok", _describe(_compiled(cel, source).execute(variables))]
    except KeyError as exc:
        return ["missing", str(exc.args[0]) if exc.args else "?"]
    except Exception as exc:  # CEL reports its faults as plain exceptions
        return ["failed", str(exc) or type(exc).__name__]


_programs: dict[str, Any] = {}


def _compiled(cel: Any, source: str) -> Any:
    if source not in _programs:
        if len(_programs) > 256:
            _programs.clear()
        _programs[source] = cel.compile(source)
    return _programs[source]


def _encode(answer: list[Any]) -> bytes:
    """One line: ``T`` or ``F`` for a boolean answer (almost every one), else the JSON."""
    if answer[0] == "ok" and isinstance(answer[1], bool):
        return b"T\n" if answer[1] else b"F\n"
    return json.dumps(answer).encode() + b"\n"


def main() -> None:
    cel = load_cel()
    _cap_memory(int(sys.argv[1]))
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while header := stdin.read(8):
        source, variables = pickle.loads(stdin.read(int.from_bytes(header, "big")))
        stdout.write(_encode(_answer(cel, source, variables)))
        stdout.flush()


if __name__ == "__main__":
    main()
