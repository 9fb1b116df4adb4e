"""From policy text (one file or several) to a validated ``LoadedPolicy``, or located errors.

A policy may be split over files: every file is a ``clearance/v1`` Policy fragment; ``gates``
lists are concatenated, ``change_types`` merged, and every other section (metadata,
selector, workflow, ...) must be written exactly once. Every problem is reported with its
file, line, column and field path. Checking runs in stages (YAML, fields, gate parameters
and cross-references); each stage reports all of its problems at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from clearance.core.gates.base import GateParams
from clearance.core.gates.registry import GateRegistry, default_registry
from clearance.core.hashing import digest
from clearance.core.lint import review_problems, semantic_problems
from clearance.core.policy import Policy, Selector
from clearance.core.yamlsource import Positions, YamlProblems, format_path, parse_yaml
from clearance.errors import Location, PolicyError, Problem

_REPEATABLE = {"apiVersion", "kind"}
_LISTS = {"gates"}
_MAPPINGS = {"change_types"}


@dataclass(frozen=True)
class LoadedPolicy:
    """A policy ready to evaluate: the model, its content hash and typed gate params."""

    policy: Policy
    content_hash: str
    sources: tuple[str, ...]
    params: Mapping[str, GateParams]
    positions: Positions = field(repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.policy.metadata.name

    @property
    def version(self) -> str:
        return self.policy.metadata.version


POLICY_TEST_SUFFIXES = (".test.yaml", ".test.yml")


def is_policy_test_file(path: Path) -> bool:
    """``*.test.yaml`` beside a policy holds its unit tests (``clearance policy test``), not
    a fragment of the policy."""
    return _is_test_name(path.name)


def _is_test_name(name: str) -> bool:
    """The same rule for documents that arrive by name (an upload to the server)."""
    return name.endswith(POLICY_TEST_SUFFIXES)


def read_policy_files(path: Path) -> list[tuple[str, str]]:
    """(display name, text) for a policy file, or every ``*.yaml``/``*.yml`` under a folder."""
    if path.is_dir():
        files = sorted(
            p
            for p in path.rglob("*")
            if p.suffix in (".yaml", ".yml") and p.is_file() and not is_policy_test_file(p)
        )
        if not files:
            raise PolicyError([Problem(Location(str(path)), "", "no *.yaml or *.yml files here")])
    elif path.is_file():
        files = [path]
    else:
        raise PolicyError([Problem(Location(str(path)), "", "no such file or directory")])
    out = []
    for f in files:
        try:
            out.append((str(f), f.read_bytes().decode("utf-8")))
        except UnicodeDecodeError as exc:
            raise PolicyError(
                [Problem(Location(str(f)), "", f"not UTF-8 text (byte {exc.start})")]
            ) from None
        except OSError as exc:
            raise PolicyError([Problem(Location(str(f)), "", exc.strerror or str(exc))]) from None
    return out


def load_policy(path: Path | str, registry: GateRegistry | None = None) -> LoadedPolicy:
    return parse_policy(read_policy_files(Path(path)), registry)


def parse_policy(
    documents: Sequence[tuple[str, str]], registry: GateRegistry | None = None
) -> LoadedPolicy:
    """Validate policy fragments; raise ``PolicyError`` listing every located problem."""
    loaded, problems = check_policy(documents, registry)
    errors = [p for p in problems if p.severity == "error"]
    if errors or loaded is None:
        raise PolicyError(errors)
    return loaded


def check_policy(
    documents: Sequence[tuple[str, str]],
    registry: GateRegistry | None = None,
    *,
    today: dt.date | None = None,
) -> tuple[LoadedPolicy | None, list[Problem]]:
    """Like ``parse_policy`` but returns problems (errors and warnings) instead of raising.

    With ``today``, gates whose ``expires`` date has passed are reported as warnings.
    """
    registry = registry or default_registry()
    data, positions, problems = _merge(documents)
    if problems:
        return None, problems
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        return None, pydantic_problems(exc, positions)
    params, problems = _gate_params(policy, positions, registry)
    problems += semantic_problems(policy, positions)
    if today is not None:
        problems += review_problems(policy, positions, today)
    if any(p.severity == "error" for p in problems):
        return None, problems
    content_hash = policy_hash(policy, params)
    sources = tuple(name for name, _ in documents)
    return LoadedPolicy(policy, content_hash, sources, params, positions), problems


def parse_selector(documents: Sequence[tuple[str, str]]) -> Selector:
    """Which models a policy governs, read without the rest of it.

    Choosing among applied policies needs only their selectors, and checking the whole of
    each would import every gate type they name, with its libraries (a CEL runtime, numpy).
    Problems raise ``PolicyError`` as ``parse_policy`` reports them.
    """
    data, positions, problems = _merge(documents)
    if errors := [p for p in problems if p.severity == "error"]:
        raise PolicyError(errors)
    try:
        return Selector.model_validate(data.get("selector", {}))
    except ValidationError as exc:
        raise PolicyError(pydantic_problems(exc, positions, ("selector",))) from None


def policy_hash(policy: Policy, params: Mapping[str, GateParams]) -> str:
    """sha256 of the policy's meaning: what it sets, normalised, whatever its formatting.

    Values equal to their defaults are left out (``severity: block`` written or not, the
    same hash), so a later clearance that adds an optional section with a default does
    not change the hash of every applied policy and every recorded decision.
    """
    data = policy.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    for gate in data.get("gates", []):
        gate["params"] = params[gate["id"]].model_dump(mode="json", exclude_defaults=True)
    return digest(data)


def pydantic_problems(
    exc: ValidationError, positions: Positions, prefix: tuple[str | int, ...] = ()
) -> list[Problem]:
    """Translate Pydantic errors into located, one-line problems."""
    return _error_problems(exc.errors(include_url=False), positions, prefix)


def _error_problems(
    errors: Sequence[ErrorDetails], positions: Positions, prefix: tuple[str | int, ...]
) -> list[Problem]:
    out = []
    for err in errors:
        path = prefix + tuple(err["loc"]) + tuple(err.get("ctx", {}).get("at", ()))
        kind = err["type"]
        if kind == "extra_forbidden":
            message = "unknown field; check its spelling against `clearance policy schema`"
            loc = positions.locate(path, key=True)
        elif kind == "missing":
            message = "required field is missing"
            loc = positions.locate(path[:-1])
        else:
            message = err["msg"].removeprefix("Value error, ")
            if kind not in ("value_error", "assertion_error") and not isinstance(
                err.get("input"), dict | list
            ):
                got = repr(err.get("input"))
                message += f" (got {got if len(got) <= 80 else got[:60] + '…' + got[-10:]})"
            loc = positions.locate(path)
        out.append(Problem(loc, format_path(path), message))
    return out


def _gate_params(
    policy: Policy, positions: Positions, registry: GateRegistry
) -> tuple[dict[str, GateParams], list[Problem]]:
    params: dict[str, GateParams] = {}
    problems: list[Problem] = []
    for i, spec in enumerate(policy.gates):
        if spec.type not in registry:
            problems.append(
                Problem(
                    positions.locate(("gates", i, "type")),
                    format_path(("gates", i, "type")),
                    f"unknown gate type '{spec.type}'; known types: {', '.join(registry.names())}",
                    code="unknown-gate-type",
                )
            )
            continue
        model = registry.get(spec.type).Params
        try:
            params[spec.id] = model.model_validate(spec.params)
        except ValidationError as exc:
            problems += _param_problems(exc, positions, i)
    return params, problems


def _param_problems(exc: ValidationError, positions: Positions, index: int) -> list[Problem]:
    """Params may be inline (beside ``type``) or under ``params:``; point at where they are."""
    out: list[Problem] = []
    for err in exc.errors(include_url=False):
        name = err["loc"][0] if err["loc"] else None
        if ("gates", index, name) in positions.keys:
            inline = True
        elif ("gates", index, "params", name) in positions.keys:
            inline = False
        else:  # missing, or a check across params: under params if the gate has that block
            inline = ("gates", index, "params") not in positions.keys
        prefix: tuple[str | int, ...] = ("gates", index) if inline else ("gates", index, "params")
        out += _error_problems([err], positions, prefix)
    return out


def _merge(documents: Sequence[tuple[str, str]]) -> tuple[Any, Positions, list[Problem]]:
    documents = [(name, text) for name, text in documents if not _is_test_name(name)]
    if not documents:
        return None, Positions("<none>"), [Problem(Location("<none>"), "", "no policy given")]
    merged: dict[str, Any] = {}
    positions = Positions(documents[0][0])
    problems: list[Problem] = []
    first_seen: dict[str, Location] = {}
    for name, text in documents:
        try:
            data, pos = parse_yaml(text, name)
        except YamlProblems as exc:
            problems += exc.problems
            continue
        if not isinstance(data, dict):
            found = "empty" if data is None else f"a {type(data).__name__}"
            problems.append(
                Problem(Location(name, 1, 1), "", f"a policy file holds a mapping; this is {found}")
            )
            continue
        for key, value in data.items():
            where = pos.locate((key,), key=True)
            if key in _LISTS and isinstance(value, list) and isinstance(merged.get(key, []), list):
                start = len(merged.setdefault(key, []))
                merged[key].extend(value)
                for j in range(len(value)):
                    positions.update(pos, prefix=(key, start + j), shift=(key, j))
                positions.keys.setdefault((key,), where)
                positions.values.setdefault((key,), pos.locate((key,)))
            elif key in _MAPPINGS and isinstance(value, dict) and key in merged:
                if isinstance(merged[key], dict):
                    for sub, subvalue in value.items():
                        if sub in merged[key]:
                            problems.append(_twice(pos, (key, sub), positions))
                        merged[key][sub] = subvalue
                        positions.update(pos, prefix=(key, sub), shift=(key, sub))
            elif key in merged and key not in _REPEATABLE:
                problems.append(_twice(pos, (key,), positions))
            elif key in _REPEATABLE and key in merged and merged[key] != value:
                problems.append(
                    Problem(
                        where, key, f"'{value}' differs from '{merged[key]}' at {first_seen[key]}"
                    )
                )
            else:
                merged[key] = value
                first_seen.setdefault(key, where)
                positions.update(pos, prefix=(key,), shift=(key,))
    return merged, positions, problems


def _twice(pos: Positions, path: tuple[str | int, ...], positions: Positions) -> Problem:
    return Problem(
        pos.locate(path, key=True),
        format_path(path),
        f"already defined at {positions.locate(path, key=True)}; define it in one file only",
    )
