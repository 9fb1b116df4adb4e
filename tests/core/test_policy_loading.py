"""Loading policies: every fault is reported at its file, line, column and field path."""

from __future__ import annotations

from pathlib import Path

import pytest

from clearance.core.gates.documentation import DocumentationParams
from clearance.core.gates.metric_threshold import MetricThresholdParams
from clearance.core.loading import check_policy, load_policy, parse_policy, read_policy_files
from clearance.core.yamlsource import format_path
from clearance.errors import PolicyError, Problem

# Line numbers matter below: the cases assert them.
BASE = """\
apiVersion: clearance/v1
kind: Policy
metadata:
  name: demo
  version: 1.0.0
  owner: risk@example.com
workflow:
  stages: [draft, staging, production]
  transitions:
    - from: draft
      to: staging
      gates: [auc_floor]
    - from: staging
      to: production
      gates: [auc_floor, card]
      approvals: [{role: model_owner}]
gates:
  - id: auc_floor
    type: metric_threshold
    metric: auc
    min: 0.7
  - id: card
    type: documentation
    params:
      documents: [model_card]
"""

KNOWN_TYPES = (
    "artifact_integrity, champion_comparison, data_quality, documentation, drift, expression, "
    "fairness, latency, licenses, metric_threshold, performance, pii, reproducibility, secrets, "
    "unsafe_serialization, vulnerabilities"
)


def problems_of(text: str, name: str = "policy.yaml") -> list[Problem]:
    with pytest.raises(PolicyError) as info:
        parse_policy([(name, text)])
    assert info.value.problems, "a PolicyError always carries its problems"
    return info.value.problems


def edit(old: str, new: str) -> str:
    assert BASE.count(old) == 1, old
    return BASE.replace(old, new)


def test_base_policy_loads() -> None:
    loaded = parse_policy([("policy.yaml", BASE)])
    assert loaded.name == "demo"
    assert loaded.version == "1.0.0"
    assert loaded.sources == ("policy.yaml",)
    assert isinstance(loaded.params["auc_floor"], MetricThresholdParams)
    assert loaded.params["auc_floor"].min == 0.7
    assert isinstance(loaded.params["card"], DocumentationParams)
    assert len(loaded.content_hash) == 64


FAULTS = [
    pytest.param(
        edit("stages: [draft, staging, production]", "stages: 5"),
        "policy.yaml:8:11: error: workflow.stages: Input should be a valid list (got 5)",
        id="wrong-type",
    ),
    pytest.param(
        edit("    min: 0.7", "    min: high"),
        "policy.yaml:21:10: error: gates[0].min: Input should be a valid number",
        id="wrong-type-inline-param",
    ),
    pytest.param(
        edit("  owner: risk@example.com\n", "  owner: risk@example.com\n  colour:\n    - blue\n"),
        "policy.yaml:7:3: error: metadata.colour: unknown field; check its spelling",
        id="unknown-field-points-at-key",
    ),
    pytest.param(
        edit("gates:\n  - id: auc_floor", "gate:\n  - id: auc_floor"),
        "policy.yaml:17:1: error: gate: unknown field",
        id="unknown-top-level-field",
    ),
    pytest.param(
        edit("  owner: risk@example.com\n", ""),
        "policy.yaml:4:3: error: metadata.owner: required field is missing",
        id="missing-field",
    ),
    pytest.param(
        edit("    metric: auc\n", ""),
        "policy.yaml:18:5: error: gates[0].metric: required field is missing",
        id="missing-inline-param",
    ),
    pytest.param(
        edit("version: 1.0.0", "version: 1.0.x"),
        "policy.yaml:5:12: error: metadata.version: '1.0.x' is not a semantic version like 1.2.0",
        id="bad-semver",
    ),
    pytest.param(
        edit("version: 1.0.0", "version: 1.2"),
        "policy.yaml:5:12: error: metadata.version: '1.2' is not a semantic version like 1.2.0",
        id="bad-semver-read-as-number",
    ),
    pytest.param(
        edit("type: metric_threshold", "type: metric_treshold"),
        "policy.yaml:19:11: error: gates[0].type: unknown gate type 'metric_treshold'; "
        f"known types: {KNOWN_TYPES}",
        id="unknown-gate-type",
    ),
    pytest.param(
        edit("documents: [model_card]", "documents: []"),
        "policy.yaml:25:18: error: gates[1].params.documents: List should have at least 1 item",
        id="bad-param-under-params",
    ),
    pytest.param(
        edit("documents: [model_card]", "documents: [model_card]\n      colour: blue"),
        "policy.yaml:26:7: error: gates[1].params.colour: unknown field",
        id="unknown-param-under-params",
    ),
    pytest.param(
        edit("    min: 0.7", "    min: 0.7\n    colour: blue"),
        "policy.yaml:22:5: error: gates[0].colour: unknown field",
        id="unknown-param-inline",
    ),
    pytest.param(
        edit("    min: 0.7", "    min: 0.7\n    params: {min: 0.8}"),
        "policy.yaml:18:5: error: gates[0]: min given both inline and under params",
        id="param-inline-and-under-params",
    ),
    pytest.param(
        edit("    min: 0.7", "    min: .nan"),
        "policy.yaml:21:10: error: gates[0].min: Input should be a finite number",
        id="nan-threshold",
    ),
    pytest.param(
        edit("    min: 0.7", "    max: 0.5\n    min: 0.7"),
        "policy.yaml:18:5: error: gates[0]: min 0.7 is greater than max 0.5",
        id="min-above-max",
    ),
    pytest.param(
        edit("    min: 0.7", "    min: 0.7\n    min: 0.8"),
        "policy.yaml:22:5: error: gates[0].min: duplicate key; each key may appear once",
        id="duplicate-key",
    ),
    pytest.param(
        edit("stages: [draft, staging, production]", "stages: [draft, staging, production"),
        "policy.yaml:9:14: error: YAML syntax: did not find expected ',' or ']'",
        id="yaml-syntax",
    ),
    pytest.param(
        edit("  name: demo", "\tname: demo"),
        "policy.yaml:4:1: error: YAML syntax: found character that cannot start any token",
        id="tab-indent",
    ),
    pytest.param(
        edit("  name: demo", "  name: demo\x07"),
        "policy.yaml:4:13: error: YAML: control characters are not allowed (#x0007)",
        id="control-character",
    ),
    pytest.param(
        edit("kind: Policy", "kind: Policy\n1: one"),
        "policy.yaml:3:1: error: keys must be strings, found int",
        id="non-string-key",
    ),
    pytest.param(
        edit("  owner: risk@example.com", "  <<: {owner: risk@example.com}"),
        "policy.yaml:6:3: error: metadata: YAML merge keys (<<) are not supported",
        id="merge-key",
    ),
    pytest.param(
        "- apiVersion: clearance/v1\n- kind: Policy\n",
        "policy.yaml:1:1: error: a policy file holds a mapping; this is a list",
        id="list-document",
    ),
    pytest.param(
        "just some words\n",
        "policy.yaml:1:1: error: a policy file holds a mapping; this is a str",
        id="scalar-document",
    ),
    pytest.param(
        "# nothing but a comment\n",
        "policy.yaml:1:1: error: a policy file holds a mapping; this is empty",
        id="empty-document",
    ),
    pytest.param(
        edit(
            "    type: metric_threshold\n    metric: auc\n    min: 0.7",
            "    type: expression\n    expr: 'version.metrics.auc >'",
        ),
        "policy.yaml:20:11: error: gates[0].expr: CEL syntax error at 1:22",
        id="cel-syntax-error",
    ),
    pytest.param(
        edit("kind: Policy", "kind: Polcy"),
        "policy.yaml:2:7: error: kind: Input should be 'Policy'",
        id="wrong-kind",
    ),
    pytest.param(
        edit("  - id: card", "  - id: Card!"),
        "policy.yaml:22:9: error: gates[1].id: String should match pattern",
        id="bad-gate-id",
    ),
]


@pytest.mark.parametrize(("text", "expected"), FAULTS)
def test_each_fault_is_located(text: str, expected: str) -> None:
    problems = problems_of(text)
    assert any(str(p).startswith(expected) for p in problems), "\n".join(map(str, problems))


@pytest.mark.parametrize(("text", "expected"), FAULTS)
def test_every_problem_is_one_located_line(text: str, expected: str) -> None:
    for p in problems_of(text):
        assert p.location.file == "policy.yaml"
        assert p.location.line is not None and p.location.line >= 1
        assert p.location.column is not None and p.location.column >= 1
        assert "\n" not in str(p)
        assert p.severity == "error"


def test_structure_errors_come_before_gate_param_errors() -> None:
    # Gate params are validated once the document's structure is valid (a known limitation:
    # the module promises "all at once"; a second run reports the gate param).
    text = edit("version: 1.0.0", "version: one").replace("min: 0.7", "min: high")
    assert [p.field for p in problems_of(text)] == ["metadata.version"]
    fixed = text.replace("version: one", "version: 1.0.0")
    assert [p.field for p in problems_of(fixed)] == ["gates[0].min"]


def test_several_structural_errors_are_reported_together() -> None:
    text = edit("version: 1.0.0", "version: one").replace("stages: [draft", "stages: 5 #")
    fields = {p.field for p in problems_of(text)}
    assert {"metadata.version", "workflow.stages"} <= fields


def test_params_mixed_inline_and_under_params_point_at_each() -> None:
    text = edit("    min: 0.7", "    min: low\n    params:\n      max: high")
    found = {str(p).split(": error")[0] + " " + p.field for p in problems_of(text)}
    assert found == {"policy.yaml:21:10 gates[0].min", "policy.yaml:23:12 gates[0].params.max"}


def test_semantic_errors_block_loading() -> None:
    problems = problems_of(edit("gates: [auc_floor]", "gates: [auc_flor]"))
    assert [str(p) for p in problems] == [
        "policy.yaml:12:15: error: workflow.transitions[0].gates[0]: gate 'auc_flor' is not "
        "defined under gates; did you mean 'auc_floor'?"
    ]


def test_warnings_do_not_block_loading() -> None:
    text = BASE + "  - id: spare\n    type: metric_threshold\n    metric: ks\n    min: 0.3\n"
    loaded, problems = check_policy([("policy.yaml", text)])
    assert loaded is not None
    assert [(p.severity, p.code) for p in problems] == [("warning", "unused-gate")]
    parse_policy([("policy.yaml", text)])  # does not raise


def test_no_documents_is_an_error() -> None:
    with pytest.raises(PolicyError, match="no policy given"):
        parse_policy([])


# --- content hash ---------------------------------------------------------------------------


def test_content_hash_ignores_formatting_and_comments() -> None:
    a = parse_policy([("a.yaml", BASE)])
    reformatted = "# a comment\n" + BASE.replace("min: 0.7", "min: 0.70   # floor")
    b = parse_policy([("b.yaml", reformatted)])
    assert a.content_hash == b.content_hash


def test_content_hash_changes_with_any_threshold() -> None:
    a = parse_policy([("a.yaml", BASE)])
    b = parse_policy([("a.yaml", BASE.replace("min: 0.7", "min: 0.71"))])
    assert a.content_hash != b.content_hash


def test_inline_and_nested_params_are_the_same_policy() -> None:
    nested = edit("    metric: auc\n    min: 0.7", "    params: {metric: auc, min: 0.7}")
    assert parse_policy([("a", BASE)]).content_hash == parse_policy([("a", nested)]).content_hash


# --- several files ----------------------------------------------------------------------------

HEAD = "apiVersion: clearance/v1\nkind: Policy\n"
WORKFLOW_PART = BASE[: BASE.index("gates:\n  - id: auc_floor")]
GATES_PART = HEAD + BASE[BASE.index("gates:\n  - id: auc_floor") :]


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_directory_split_equals_single_file(tmp_path: Path) -> None:
    folder = write(tmp_path, {"a-workflow.yaml": WORKFLOW_PART, "b-gates.yml": GATES_PART})
    split = load_policy(folder)
    assert split.sources == (str(folder / "a-workflow.yaml"), str(folder / "b-gates.yml"))
    assert split.content_hash == parse_policy([("one.yaml", BASE)]).content_hash


def test_gate_errors_in_second_file_have_its_line_numbers(tmp_path: Path) -> None:
    bad = GATES_PART.replace("documents: [model_card]", "documents: []")
    folder = write(tmp_path, {"a.yaml": WORKFLOW_PART, "b.yaml": bad})
    with pytest.raises(PolicyError) as info:
        load_policy(folder)
    # In b.yaml, ``documents`` is on line 11 (two header lines, then the gates section).
    assert [str(p).split(": List")[0] for p in info.value.problems] == [
        f"{folder / 'b.yaml'}:11:18: error: gates[1].params.documents"
    ]


def test_gates_from_two_files_are_concatenated_with_their_positions() -> None:
    first = HEAD + "gates:\n  - id: auc_floor\n    type: metric_threshold\n    metric: auc\n"
    first += "    min: 0.7\n"
    second = HEAD + "\n\ngates:\n  - id: card\n    type: documentation\n    documents: 5\n"
    with pytest.raises(PolicyError) as info:
        parse_policy([("w.yaml", WORKFLOW_PART), ("g1.yaml", first), ("g2.yaml", second)])
    assert [str(p) for p in info.value.problems] == [
        "g2.yaml:8:16: error: gates[1].documents: Input should be a valid list (got 5)"
    ]


def test_section_defined_twice_names_both_files(tmp_path: Path) -> None:
    other = HEAD + "metadata:\n  name: other\n  version: 2.0.0\n  owner: x@example.com\n"
    folder = write(tmp_path, {"a.yaml": BASE, "b.yaml": other})
    with pytest.raises(PolicyError) as info:
        load_policy(folder)
    (problem,) = info.value.problems
    assert str(problem) == (
        f"{folder / 'b.yaml'}:3:1: error: metadata: already defined at "
        f"{folder / 'a.yaml'}:3:1; define it in one file only"
    )


def test_change_type_defined_in_two_files_is_an_error() -> None:
    ct = HEAD + "change_types:\n  emergency: {bypass: [auc_floor]}\n"
    with pytest.raises(PolicyError) as info:
        parse_policy([("a.yaml", BASE), ("b.yaml", ct), ("c.yaml", ct)])
    assert [str(p) for p in info.value.problems] == [
        "c.yaml:4:3: error: change_types.emergency: already defined at b.yaml:4:3; "
        "define it in one file only"
    ]


def test_change_types_from_two_files_merge() -> None:
    b = HEAD + "change_types:\n  emergency: {bypass: [auc_floor]}\n"
    c = HEAD + "change_types:\n  experiment: {allowed_stages: [staging]}\n"
    loaded = parse_policy([("a.yaml", BASE), ("b.yaml", b), ("c.yaml", c)])
    assert set(loaded.policy.change_types) == {"emergency", "experiment"}


def test_api_version_must_agree_across_files() -> None:
    other = "apiVersion: clearance/v2\nkind: Policy\n"
    with pytest.raises(PolicyError) as info:
        parse_policy([("a.yaml", BASE), ("b.yaml", other)])
    assert str(info.value.problems[0]).startswith(
        "b.yaml:1:1: error: apiVersion: 'clearance/v2' differs from 'clearance/v1' at a.yaml:1:1"
    )


def test_problems_from_every_file_are_reported() -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy([("a.yaml", "a: [\n"), ("b.yaml", "- 1\n")])
    assert [p.location.file for p in info.value.problems] == ["a.yaml", "b.yaml"]


def test_read_policy_files_faults(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="no such file or directory"):
        read_policy_files(tmp_path / "absent.yaml")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not yaml")
    with pytest.raises(PolicyError, match=r"no \*\.yaml or \*\.yml files here"):
        read_policy_files(tmp_path / "empty")
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes(b"metadata: {owner: \xe9}\n")
    with pytest.raises(PolicyError) as info:
        read_policy_files(latin1)
    assert str(info.value.problems[0]) == f"{latin1}: error: not UTF-8 text (byte 18)"


def test_example_policy_loads(example_policy_path: Path) -> None:
    loaded, problems = check_policy(read_policy_files(example_policy_path))
    assert loaded is not None
    assert [p for p in problems if p.severity == "error"] == []
    assert loaded.name == "credit-risk"
    assert [t.key for t in loaded.policy.workflow.transitions] == [
        "draft -> staging",
        "staging -> production",
        "production -> deprecated",
        "deprecated -> archived",
    ]
    # gates live in gates.yaml, so their positions are in that file
    assert loaded.positions.locate(("gates", 1, "min")).file.endswith("gates.yaml")


@pytest.mark.parametrize(
    ("path", "text"),
    [
        (("gates", 2, "min"), "gates[2].min"),
        (("workflow", "transitions", 0, "from"), "workflow.transitions[0].from"),
        ((0, "a"), "[0].a"),
        ((), ""),
    ],
)
def test_format_path(path: tuple[str | int, ...], text: str) -> None:
    assert format_path(path) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "metadata: !!binary xx\n",
            "policy.yaml:1:11: error: metadata: cannot read value: failed to decode base64 data",
        ),
        (
            "metadata: !custom 1\n",
            "policy.yaml:1:11: error: metadata: cannot read value: could not determine a "
            "constructor for the tag '!custom'",
        ),
        (
            "metadata: !!python/object:os.system x\n",
            "policy.yaml:1:11: error: metadata: cannot read value: could not determine a "
            "constructor for the tag 'tag:yaml.org,2002:python/object:os.system'",
        ),
        ("expires: 2024-13-45\n", "policy.yaml:1:10: error: expires: cannot read value: month"),
        ("a: &x {b: *x}\n", "policy.yaml:1:4: error: a.b: an alias refers to the value that"),
        ("a: !!bool foo\n", "policy.yaml:1:4: error: a: cannot read value: 'foo' is not a valid"),
        ("a: !!timestamp foo\n", "policy.yaml:1:4: error: a: cannot read value: 'foo' is not a"),
        ('a: !!int ""\n', "policy.yaml:1:4: error: a: cannot read value: '' is not a valid !!int"),
        ("a: !!float ''\n", "policy.yaml:1:4: error: a: cannot read value: '' is not a valid"),
        ("a: !!int 0x\n", "policy.yaml:1:4: error: a: cannot read value: "),
        ("a: !!binary aGk=\n", "policy.yaml:1:4: error: a: cannot read value: !!binary values"),
        ("a: !!set {b: 1}\n", "policy.yaml:1:4: error: a: the tag !!set is not supported"),
        ("a: !!omap [{b: 1}]\n", "policy.yaml:1:4: error: a: the tag !!omap is not supported"),
        ("a: !x [1]\n", "policy.yaml:1:4: error: a: the tag !x is not supported"),
        ("a: 1\n---\nb: 2\n", "policy.yaml:2:1: error: YAML syntax: but found another document"),
        (
            "selector:\n  tags: {'a key': [1]}\n",
            'policy.yaml:2:19: error: selector.tags["a key"]: Input should be a valid string',
        ),
        ('"x\\ny": 1\n', 'policy.yaml:1:1: error: ["x\\ny"]: unknown field'),
    ],
)
def test_yaml_faults_are_one_located_line(text: str, expected: str) -> None:
    problems = problems_of(text)
    assert any(str(p).startswith(expected) for p in problems), "\n".join(map(str, problems))
    assert all("\n" not in str(p) for p in problems)


def test_alias_expansion_is_bounded() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, 8):
        prev = chr(ord("a") + i - 1)
        name = chr(ord("a") + i)
        bomb += f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]\n"
    (problem,) = problems_of(bomb)
    assert problem.message == "document is too large (more than 200,000 values)"
    assert problem.location.line is not None


def test_a_huge_document_is_refused_while_streaming() -> None:
    """Counted on parser events, before a node is built for each value."""
    (problem,) = problems_of("- x\n" * 200_001)
    assert problem.message == "document is too large (more than 200,000 values)"
    assert problem.location.line is not None and problem.location.line > 199_990


@pytest.mark.parametrize(
    "text",
    [
        "[" * 3000 + "]" * 3000,
        "".join(f"{'  ' * i}k{i}:\n" for i in range(3000)) + "  " * 3000 + "x\n",
        "a: " + "{b: " * 3000 + "1" + "}" * 3000 + "\n",
    ],
    ids=["flow-lists", "block-maps", "flow-maps"],
)
def test_deep_nesting_is_one_located_error(text: str) -> None:
    """Whichever refuses it first (PyYAML's scanner or our depth limit), never a traceback."""
    (problem,) = problems_of(text)
    assert problem.location.line is not None and problem.location.column is not None
    assert "nest" in problem.message.lower()
