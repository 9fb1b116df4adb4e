"""Reading policy test files and the manifests they name (``clearance policy test``).

Test files are ``*.test.yaml`` / ``*.test.yml`` beside the policy (in its folder and below, or
next to a one-file policy). Each case's facts come from a manifest, inline ``version`` fields,
inline ``documents``, or a manifest with inline facts over it. Every fault in a test file is a
located problem, as in a policy.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from clearance.adapters.evidence import load_manifest
from clearance.core.hashing import sha256_bytes
from clearance.core.loading import LoadedPolicy, is_policy_test_file, pydantic_problems
from clearance.core.policy_tests import (
    Case,
    CaseResult,
    CaseRun,
    PolicyTestFile,
    TestRun,
    coverage,
    run_case,
)
from clearance.core.version import EvidenceReader, ModelVersion, NoEvidence
from clearance.core.yamlsource import YamlProblems, parse_yaml
from clearance.errors import Location, ManifestError, PolicyError, Problem

MAX_TEST_FILE_BYTES = 4 << 20


def discover(policy: Path) -> list[Path]:
    """The test files of a policy folder (recursively), or beside a one-file policy."""
    folder = policy if policy.is_dir() else policy.parent
    pattern = "**/*" if policy.is_dir() else "*"
    return sorted(p for p in folder.glob(pattern) if p.is_file() and is_policy_test_file(p))


def read_test_file(path: Path) -> PolicyTestFile:
    try:
        if path.stat().st_size > MAX_TEST_FILE_BYTES:
            raise PolicyError([Problem(Location(str(path)), "", "larger than 4 MiB")])
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError([Problem(Location(str(path)), "", f"cannot read: {exc}")]) from None
    try:
        data, positions = parse_yaml(text, str(path))
    except YamlProblems as exc:
        raise PolicyError(exc.problems) from None
    try:
        return PolicyTestFile.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(pydantic_problems(exc, positions)) from None


def run_tests(
    loaded: LoadedPolicy, files: Sequence[Path], now: dt.datetime, *, label: str
) -> TestRun:
    """Every case of ``files`` against ``loaded``; a bad file or manifest raises, naming it."""
    results: list[CaseResult] = []
    for path in files:
        spec = read_test_file(path)
        for run in _runs(path, spec, now):
            results.append(run_case(loaded, run))
    return TestRun(label, tuple(results), coverage(loaded, results))


def _runs(path: Path, spec: PolicyTestFile, now: dt.datetime) -> Iterator[CaseRun]:
    defaults = spec.defaults
    for i, case in enumerate(spec.cases):
        to = case.to or defaults.to
        if to is None:
            raise PolicyError(
                [Problem(Location(str(path)), f"cases[{i}].to", "give `to` here or in defaults")]
            )
        version, evidence = _facts(path, i, case)
        yield CaseRun(
            file=str(path),
            case=case,
            version=version,
            evidence=evidence,
            from_stage=case.from_ or defaults.from_ or version.stage,
            to_stage=to,
            change_type=case.change_type or defaults.change_type,
            now=_utc(case.now or defaults.now or now),
        )


def _facts(path: Path, index: int, case: Case) -> tuple[ModelVersion, EvidenceReader]:
    where = f"cases[{index}]"
    base: dict[str, Any] = {}
    reader: EvidenceReader = NoEvidence()
    if case.manifest is not None:
        try:
            version, files = load_manifest(path.parent / case.manifest)
        except ManifestError as exc:
            note = Problem(Location(str(path)), f"{where}.manifest", "this manifest is invalid")
            raise PolicyError([note, *exc.problems]) from None
        base, reader = version.model_dump(), files
    facts = _merge(base, case.version)
    if case.documents:
        reader = _Documents(case.documents, reader)
        evidence = dict(facts.get("evidence") or {})
        for name, text in case.documents.items():
            data = text.encode("utf-8")
            evidence[name] = {"name": name, "kind": "document", "uri": f"inline:{name}",
                              "sha256": sha256_bytes(data), "size": len(data)}  # fmt: skip
        facts["evidence"] = evidence
    try:
        return ModelVersion.model_validate(facts), reader
    except ValidationError as exc:
        problems = [
            Problem(Location(str(path)), f"{where}.version.{_dotted(e['loc'])}", e["msg"])
            for e in exc.errors(include_url=False)
        ]
        raise PolicyError(problems) from None


def _dotted(loc: Sequence[str | int]) -> str:
    return ".".join(map(str, loc))


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Inline facts over the manifest's: mappings merge one level down (``model``,
    ``metrics``, ``tags``), anything else is replaced."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


class _Documents:
    """Inline documents first, then the manifest's own evidence."""

    def __init__(self, documents: Mapping[str, str], rest: EvidenceReader) -> None:
        self._documents = {k: v.encode("utf-8") for k, v in documents.items()}
        self._rest = rest

    def read_bytes(self, name: str) -> bytes:
        if name in self._documents:
            return self._documents[name]
        return self._rest.read_bytes(name)

    def artifact_sha256(self) -> str | None:
        return self._rest.artifact_sha256()

    def read_columns(self, name: str, columns: Sequence[str]) -> Any:
        return self._rest.read_columns(name, columns)

    def read_artifact(self, max_bytes: int) -> bytes:
        return self._rest.read_artifact(max_bytes)

    def __getattr__(self, name: str) -> Any:  # the other capabilities of the manifest's reader
        return getattr(self._rest, name)


def _utc(when: dt.datetime) -> dt.datetime:
    return when.astimezone(dt.UTC) if when.tzinfo else when.replace(tzinfo=dt.UTC)
