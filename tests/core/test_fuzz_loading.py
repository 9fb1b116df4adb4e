"""Fuzzing the two loaders people feed by hand: a policy and a manifest.

Documents are valid examples with values (and keys) swapped for what a careless or hostile
author writes: explicit tags (``!!binary``, ``!!bool foo``, ``!!int ""``, ``!!set``,
``!!python/object``...), anchors and aliases, NaN / infinity / huge numbers, empty and
control-character text, deep nesting. Whatever comes in, the loaders may only answer with
located problems (``PolicyError`` / ``ManifestError``), never another exception.

The quick run takes a few seconds; the slow run (CI) tries 10,000 documents, half of each.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearance.adapters.evidence import load_manifest
from clearance.core.hashing import digest
from clearance.core.loading import parse_policy
from clearance.errors import ManifestError, PolicyError

SLOW_DOCUMENTS = 10_000
QUICK_DOCUMENTS = 300
BATCH = 5

POLICY: dict[str, Any] = {
    "apiVersion": "clearance/v1",
    "kind": "Policy",
    "metadata": {"name": "fuzz", "version": "1.0.0", "owner": "risk@bank.example"},
    "selector": {"risk_tier": ["high"], "tags": {"domain": "credit"}},
    "workflow": {
        "transitions": [
            {
                "from": "draft",
                "to": "staging",
                "gates": ["auc_floor", "champ"],
                "approvals": [{"role": "tech_lead"}],
                "approval_sla": "48h",
                "rollout": {
                    "steps": [{"traffic": 0.1, "min_duration": "1h"}, {"traffic": 1.0}],
                    "kpis": [{"name": "error_rate", "max": 0.01}],
                },
            }
        ]
    },
    "gates": [
        {"id": "auc_floor", "type": "metric_threshold", "metric": "auc", "min": 0.7},
        {
            "id": "champ",
            "type": "champion_comparison",
            "metric": "auc",
            "max_relative_degradation": 0.01,
            "expires": "2030-01-01",
        },
    ],
    "change_types": {
        "emergency": {
            "bypass": ["champ"],
            "approvals": [{"role": "oncall"}],
            "expires_after": "72h",
            "post_incident_review_within": "5d",
        }
    },
    "waivers": {"grantors": ["risk_officer"], "max_duration": "30d"},
}

MANIFEST: dict[str, Any] = {
    "apiVersion": "clearance/v1",
    "kind": "ModelManifest",
    "model": {"name": "credit-default", "risk_tier": "high", "tags": {"domain": "credit"}},
    "version": "7",
    "stage": "staging",
    "artifact": {"path": "model.bin"},
    "lineage": {"code_commit": "3f9c2a1e", "seed": 42},
    "metrics": {"auc": 0.81, "latency_p95_ms": 84},
    "params": {"lr": 0.1, "layers": [64, 32], "opt": {"name": "adam", "beta": 0.9}},
    "features": ["income", "age_band"],
    "champion": {"version": "6", "metrics": {"auc": 0.8}},
    "evidence": {
        "model_card": {"kind": "document", "path": "model_card.md"},
        "eval": {"kind": "dataset", "uri": "s3://bucket/eval.parquet", "columns": {"label": "y"}},
    },
}


class Raw(str):
    """YAML text written as is (a tagged scalar, an alias, a flow collection ...)."""


# Scalars as people mistype them, with every explicit tag PyYAML knows and some it does not.
ODD_SCALARS = [
    *(f"!!binary {v}" for v in ("aGVsbG8=", '"!!!"', '""', "/etc/passwd")),
    *(f"!!bool {v}" for v in ("foo", '""', "yes", "2")),
    *(f"!!timestamp {v}" for v in ("foo", '""', "2024-13-45", "2024-01-01", "2024-01-01T25:00")),
    *(f"!!int {v}" for v in ('""', "foo", "0x", "0b2", "1_000", "0x" + "f" * 40, "9" * 5000)),
    *(f"!!float {v}" for v in ('""', "foo", ".nan", ".inf", "1e400", "-.inf")),
    *(f"!!str {v}" for v in ("12", '""', "~")),
    *(f"!!null {v}" for v in ("x", '""')),
    *(f"!!{t} x" for t in ("set", "omap", "pairs", "map", "seq", "merge", "value", "yaml")),
    "!!python/object:os.system x",
    "!!python/object/apply:os.system [ls]",
    "!!python/name:os.system ''",
    "!!python/tuple [1, 2]",
    "!!python/bytes aGk=",
    "!custom x",
    "!<tag:example.com,2000:app/foo> x",
    ".nan",
    ".NaN",
    ".inf",
    "-.inf",
    "1e400",
    "1.0e+400",
    "-1.0e+400",
    "123456789012345678901234567890",
    "0x7fffffffffffffffffff",
    "0o777",
    "1_000",
    "0b1010",
    "190:20:30",
    "~",
    "null",
    "''",
    '""',
    "yes",
    "No",
    "2024-01-01",
    "2024-01-01 10:00:00 +01:00",
    '"\\0"',
    '"a\\0b"',
    '"\\x07\\x1b[31m"',
    '"\\u202e"',
    '"\\n"',
    '"\\ud800"',
    "99999w",
    "0m",
    "-1",
    "0",
    "-0.0",
    "1.7976931348623157e+308",
    "5e-324",
]
ODD_COLLECTIONS = [
    "!!set {a, b}",
    "!!omap [{a: 1}, {b: 2}]",
    "!!pairs [{a: 1}]",
    "!!python/dict {a: 1}",
    "{<<: {a: 1}}",
    "{? [a, b] : c}",
    "{? {a: 1} : c}",
    "{1: a}",
    "{null: a}",
    "{a: 1, a: 2}",
    "[]",
    "{}",
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]"
    "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
    "&a [*a]",
    "*undefined",
]


def emit(value: Any) -> str:
    """Flow-style YAML for plain data, with ``Raw`` pieces written as they are."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{emit(k)}: {emit(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(emit(v) for v in value) + "]"
    return json.dumps(value)  # JSON scalars are YAML scalars


def leaf_paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place a value sits, containers included (a whole section can be replaced)."""
    out = [path] if path else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += leaf_paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += leaf_paths(v, (*path, i))
    return out


def replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {k: replaced(v, rest, new) if k == head else v for k, v in value.items()}
    return [replaced(v, rest, new) if i == head else v for i, v in enumerate(value)]


def renamed_key(value: Any, path: tuple[Any, ...], key: str) -> Any:
    """The mapping at ``path`` with its first key written as ``key`` (a tagged or odd key)."""
    if not path:
        if isinstance(value, dict) and value:
            first = next(iter(value))
            return {(Raw(key) if k == first else k): v for k, v in value.items()}
        return value
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {k: renamed_key(v, rest, key) if k == head else v for k, v in value.items()}
    if isinstance(value, list):
        return [renamed_key(v, rest, key) if i == head else v for i, v in enumerate(value)]
    return value


texts = st.text(max_size=12).map(lambda s: Raw(json.dumps(s)))
numbers = st.one_of(
    st.floats().map(lambda f: Raw(repr(f).replace("inf", ".inf").replace("nan", ".nan"))),
    st.integers(min_value=-(2**80), max_value=2**80).map(lambda i: Raw(str(i))),
)
scalars = st.one_of(st.sampled_from(ODD_SCALARS).map(Raw), texts, numbers)


def anchored(node: st.SearchStrategy[Raw]) -> st.SearchStrategy[Raw]:
    """A node behind an anchor, used once or several times through aliases."""
    return st.tuples(node, st.integers(1, 4)).map(
        lambda t: Raw("[&x " + t[0] + "".join(", *x" for _ in range(t[1] - 1)) + "]")
    )


nodes = st.recursive(
    st.one_of(scalars, st.sampled_from(ODD_COLLECTIONS).map(Raw)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda xs: Raw("[" + ", ".join(xs) + "]")),
        st.dictionaries(st.sampled_from(["a", "min", "name", "id"]), inner, max_size=3).map(
            lambda d: Raw("{" + ", ".join(f"{k}: {v}" for k, v in d.items()) + "}")
        ),
        anchored(inner),
        st.tuples(st.integers(20, 90), inner).map(lambda t: Raw("[" * t[0] + t[1] + "]" * t[0])),
    ),
    max_leaves=3,
)
ODD_KEYS = ["!!binary aGk=", "!!int 1", "!!bool yes", "!!null ''", "!!str 12", "<<", "[a]", "? x"]
odd_keys = st.sampled_from([*ODD_KEYS, '"a\\0"', '"\\n"', '"' + "k" * 600 + '"'])


def documents(base: dict[str, Any]) -> st.SearchStrategy[str]:
    """``base`` with up to three values (or keys) swapped for odd ones, as YAML text."""
    paths = leaf_paths(base)

    @st.composite
    def build(draw: st.DrawFn) -> str:
        doc: Any = base
        for _ in range(draw(st.integers(1, 3))):
            path = draw(st.sampled_from(paths))
            if draw(st.integers(0, 5)) == 0:
                doc = renamed_key(doc, path[:-1], draw(odd_keys))
            else:
                doc = replaced(doc, path, draw(nodes))
        text = emit(doc)
        if draw(st.integers(0, 20)) == 0:  # a whole document with an odd tag or value
            text = draw(st.one_of(nodes, st.sampled_from(["", "---\n...\n", "a: b\n---\nc: d"])))
        return str(text)  # a plain str, as callers pass (not Raw)

    return build()


def check_policy(text: str) -> None:
    try:
        parse_policy([("fuzz.yaml", text)])
    except PolicyError as exc:
        assert exc.problems, "a PolicyError names its problems"


def check_manifest(folder: Path, text: str) -> None:
    file = folder / "manifest.yaml"
    file.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        version, _ = load_manifest(file)
    except ManifestError as exc:
        assert exc.problems, "a ManifestError names its problems"
    else:
        digest(version)  # what registering and deciding record: must not fail either


def fuzz(count: int, check: Callable[[str], None], base: dict[str, Any]) -> None:
    """Try ``count`` documents, a batch per example (Hypothesis's own cost is per example)."""
    tried = 0

    @settings(
        max_examples=count // BATCH,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(documents(base), min_size=BATCH, max_size=BATCH))
    def run(texts: list[str]) -> None:
        nonlocal tried
        for text in texts:
            check(text)
            tried += 1

    run()
    assert tried >= count


def test_the_examples_load(tmp_path: Path) -> None:
    """The bases are valid: the odd values, not the bases, make the documents fail."""
    (tmp_path / "model.bin").write_bytes(b"m")
    (tmp_path / "model_card.md").write_text("# card\n")
    parse_policy([("fuzz.yaml", emit(POLICY))])
    load_manifest(_write(tmp_path, emit(MANIFEST)))


def _write(folder: Path, text: str) -> Path:
    (folder / "manifest.yaml").write_text(text)
    return folder / "manifest.yaml"


def _manifest_check(folder: Path) -> Callable[[str], None]:
    (folder / "model.bin").write_bytes(b"m")
    (folder / "model_card.md").write_text("# card\n")
    return lambda text: check_manifest(folder, text)


def test_odd_documents_give_located_problems_only(tmp_path: Path) -> None:
    fuzz(QUICK_DOCUMENTS // 2, check_policy, POLICY)
    fuzz(QUICK_DOCUMENTS // 2, _manifest_check(tmp_path), MANIFEST)


@pytest.mark.slow
def test_ten_thousand_odd_documents_give_located_problems_only(tmp_path: Path) -> None:
    fuzz(SLOW_DOCUMENTS // 2, check_policy, POLICY)
    fuzz(SLOW_DOCUMENTS // 2, _manifest_check(tmp_path), MANIFEST)
