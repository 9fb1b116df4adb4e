"""``unsafe_serialization`` on real pickles built here: malicious ones (``__reduce__`` calling
``os.system``, nested, hidden behind the memo, the py2 names, joblib object arrays, PyTorch
zips) are blocked, benign ones (scikit-learn, numpy, joblib in every compression, safetensors,
ONNX) pass, and nothing is ever loaded: the payload would create a canary file."""

from __future__ import annotations

import io
import os
import pickle
import struct
import subprocess
import sys
import types
import zipfile
import zlib
from collections import OrderedDict
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from clearance.core.gates.unsafe_serialization import UnsafeSerialization
from clearance.core.pickle_rules import ImportRules
from clearance.core.pickle_scan import Import
from clearance.core.results import GateStatus, Outcome
from clearance.errors import PolicyError

from .security_support import MemoryEvidence, context, gate, measure, run, version


class Payload:
    """Unpickling this runs ``touch <canary>``: what an attacker plants in a model file."""

    def __init__(self, canary: Path) -> None:
        self.canary = canary

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.canary}",))


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    return tmp_path / "CANARY"


@pytest.fixture(scope="module")
def model() -> Any:
    rng = np.random.default_rng(3)
    x = rng.random((80, 3))
    y = (x[:, 0] > 0.5).astype(int)
    return {
        "forest": RandomForestClassifier(n_estimators=3, random_state=0).fit(x, y),
        "pipeline": make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y),
    }


def check(artifact: bytes, **params: Any) -> Any:
    reader = MemoryEvidence(artifact=artifact)
    m = measure(UnsafeSerialization, params, context(version(artifact=artifact), reader))
    assert reader.reads == 1
    return m


def blocked(m: Any) -> list[str]:
    return sorted({b["import"] for b in m.details["blocked"]})


# -- the payload is real, and the gate never runs it -----------------------------------------


def test_the_payload_is_live_when_loaded(canary: Path) -> None:
    """The canary works: unpickling the payload (in a child process) creates the file."""
    data = pickle.dumps(Payload(canary), protocol=2)
    subprocess.run(
        [sys.executable, "-c", "import pickle, sys; pickle.loads(sys.stdin.buffer.read())"],
        input=data,
        check=True,
        timeout=60,
    )
    assert canary.exists()


@pytest.mark.parametrize("protocol", range(6))
def test_os_system_payload_is_blocked_in_every_protocol(protocol: int, canary: Path) -> None:
    m = check(pickle.dumps(Payload(canary), protocol=protocol))
    assert m.status is GateStatus.FAIL
    assert blocked(m) == [f"{'nt' if os.name == 'nt' else 'posix'}:system"]
    assert m.observed == 1 and m.threshold == 0
    assert "never allowed" in m.message and "remediation" in m.details
    assert not canary.exists()


def test_payload_nested_deep_in_a_benign_model_is_found(model: Any, canary: Path) -> None:
    data = pickle.dumps({"model": model["forest"], "meta": [{"x": (1, Payload(canary))}]}, 4)
    m = check(data)
    assert m.status is GateStatus.FAIL
    assert blocked(m) == ["posix:system"]
    allowed = {i["import"] for i in m.details["imports"] if i["allowed"]}
    assert "sklearn.ensemble._forest:RandomForestClassifier" in allowed
    assert not canary.exists()


def test_through_the_engine_the_decision_is_denied(canary: Path) -> None:
    data = pickle.dumps(Payload(canary), protocol=4)
    decision = run(
        [{"id": "no_code", "type": "unsafe_serialization"}],
        version(artifact=data),
        MemoryEvidence(artifact=data),
    )
    assert decision.outcome is Outcome.DENY
    g = gate(decision, "no_code")
    assert g.status is GateStatus.FAIL and g.evidence["artifact"]
    assert not canary.exists()


# -- operands the walker must resolve (or refuse to) -----------------------------------------


def _u(text: str) -> bytes:
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw  # SHORT_BINUNICODE


PROTO4 = b"\x80\x04"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # module and name memoized, then fetched back for a second STACK_GLOBAL
        (
            _u("collections")
            + b"\x94"
            + _u("OrderedDict")
            + b"\x94\x93\x94\x30"
            + _u("os")
            + b"\x94"
            + b"0"
            + b"h\x03"
            + _u("system")
            + b"\x93"
            + b"N\x85R.",
            ["os:system"],
        ),
        # DUP: the module string is duplicated, the first copy popped
        (_u("subprocess") + b"2" + b"0" + _u("Popen") + b"\x93N\x85R.", ["subprocess:Popen"]),
        # the module name is computed by a call (str('os')): it cannot be resolved
        (
            _u("builtins") + _u("str") + b"\x93" + _u("os") + b"\x85R" + _u("system") + b"\x93.",
            ["<unresolved STACK_GLOBAL at byte 32>"],
        ),
        # an extension-registry code names a callable the pickle does not spell out
        (b"\x82\x01N\x85R.", ["<unresolved EXT1 code 1 at byte 2>"]),
        # attribute traversal from an allowed module to os.system
        (
            _u("sklearn.base") + _u("platform.os.system") + b"\x93.",
            ["sklearn.base:platform.os.system"],
        ),
        # a side-effecting class re-exported by an allowed package
        (
            _u("sklearn.datasets._base") + _u("GzipFile") + b"\x93.",
            ["sklearn.datasets._base:GzipFile"],
        ),
    ],
)
def test_stack_global_operands(body: bytes, expected: list[str]) -> None:
    m = check(PROTO4 + body)
    assert m.status is GateStatus.FAIL, m.message
    assert blocked(m) == expected


def test_builtins_allowed_but_their_dangerous_names_never() -> None:
    m = check(pickle.dumps({1, 2}, 2) + pickle.dumps(eval, 4))
    assert blocked(m) == ["builtins:eval"]
    assert m.details["formats"] == [{"file": "artifact", "format": "pickle (2 streams)"}]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"c__builtin__\neval\n(S'1'\ntR.", "builtins:eval"),  # py2 spelling of builtins
        (b"ccommands\ngetoutput\n(S'id'\ntR.", "subprocess:getoutput"),  # py2 module renamed
        (b"(icopy_reg\n_reconstructor\n.", "copyreg:_reconstructor"),  # INST, mapped and allowed
    ],
)
def test_protocol_0_names_are_mapped_as_the_unpickler_maps_them(body: bytes, expected: str) -> None:
    m = check(body)
    names = {i["import"] for i in m.details["imports"]}
    assert expected in names
    assert (m.status is GateStatus.PASS) == (expected == "copyreg:_reconstructor")


# -- benign artifacts pass -------------------------------------------------------------------


@pytest.mark.parametrize("protocol", range(6))
def test_scikit_learn_models_pass_in_every_protocol(model: Any, protocol: int) -> None:
    m = check(pickle.dumps(model, protocol=protocol))
    assert m.status is GateStatus.PASS, m.message
    assert m.observed == 0
    assert "all allowed" in m.message


@pytest.mark.parametrize("compress", [0, 3, ("gzip", 3), ("bz2", 3), ("xz", 3), ("lzma", 3)])
def test_joblib_files_pass_with_their_inline_arrays(model: Any, compress: Any) -> None:
    buffer = io.BytesIO()
    joblib.dump({**model, "labels": np.array(["a", 1], dtype=object)}, buffer, compress=compress)
    m = check(buffer.getvalue())
    assert m.status is GateStatus.PASS, m.message
    last = m.details["formats"][-1]["format"]
    assert "joblib arrays" in last


def test_joblib_object_array_carrying_a_payload_is_blocked(model: Any, canary: Path) -> None:
    """joblib writes an object array as a nested pickle after the wrapper: walked too."""
    buffer = io.BytesIO()
    joblib.dump({"m": model["forest"], "x": np.array([Payload(canary)], dtype=object)}, buffer)
    m = check(buffer.getvalue())
    assert m.status is GateStatus.FAIL
    assert blocked(m) == ["posix:system"]
    assert not canary.exists()


def test_a_reviewed_import_can_be_allowed(model: Any) -> None:
    data = pickle.dumps(FunctionTransformer(np.log1p), 4)
    assert blocked(check(data)) == ["numpy:log1p"]
    assert check(data, allow=["numpy:log1p"]).status is GateStatus.PASS
    denied = check(pickle.dumps(model["forest"], 4), deny=["sklearn.ensemble.*:*"])
    assert blocked(denied) == ["sklearn.ensemble._forest:RandomForestClassifier"]
    bare = check(pickle.dumps(OrderedDict(a=1), 4), default_allowlist=False)
    assert blocked(bare) == ["collections:OrderedDict"]


# -- PyTorch zips, nested archives, formats without code -------------------------------------


def _torch_zip(monkeypatch: pytest.MonkeyPatch, extra: Any = None) -> bytes:
    """A file laid out as ``torch.save`` writes it: ``archive/data.pkl`` (protocol 2, storages
    as persistent ids, tensors rebuilt by ``torch._utils._rebuild_tensor_v2``), raw storages
    under ``archive/data/``, ``archive/version``. torch itself is not needed to write it."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    class FloatStorage:
        pass

    def _rebuild_tensor_v2(*args: Any) -> None:
        return None

    FloatStorage.__module__, FloatStorage.__qualname__ = "torch", "FloatStorage"
    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    torch.FloatStorage = FloatStorage  # type: ignore[attr-defined]
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)

    class Tensor:
        def __init__(self, key: str) -> None:
            self.key = key

        def __reduce__(self) -> tuple[Any, ...]:
            storage = ("storage", FloatStorage, self.key, "cpu", 4)
            return (_rebuild_tensor_v2, (storage, 0, (4,), (1,), False, OrderedDict()))

    class Saver(pickle.Pickler):
        def persistent_id(self, obj: Any) -> Any:
            return obj if isinstance(obj, tuple) and obj and obj[0] == "storage" else None

    state: dict[str, Any] = OrderedDict(weight=Tensor("0"), bias=Tensor("1"))
    if extra is not None:
        state["extra"] = extra
    buffer = io.BytesIO()
    Saver(buffer, protocol=2).dump(state)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("archive/data.pkl", buffer.getvalue())
        z.writestr("archive/byteorder", "little")
        for key in ("0", "1"):
            z.writestr(f"archive/data/{key}", np.arange(4, dtype=np.float32).tobytes())
        z.writestr("archive/version", "3\n")
    return out.getvalue()


def test_pytorch_zip_passes_and_its_storages_are_data(monkeypatch: pytest.MonkeyPatch) -> None:
    m = check(_torch_zip(monkeypatch))
    assert m.status is GateStatus.PASS, m.message
    names = {i["import"] for i in m.details["imports"]}
    assert names == {
        "collections:OrderedDict",
        "torch:FloatStorage",
        "torch._utils:_rebuild_tensor_v2",
    }
    assert m.details["data_members"] == 4


def test_pytorch_zip_with_a_payload_is_blocked(
    monkeypatch: pytest.MonkeyPatch, canary: Path
) -> None:
    m = check(_torch_zip(monkeypatch, extra=Payload(canary)))
    assert m.status is GateStatus.FAIL
    assert m.details["blocked"][0]["file"] == "artifact!archive/data.pkl"
    assert not canary.exists()


def test_payload_in_a_zip_inside_a_zip_is_found(canary: Path) -> None:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("payload.bin", pickle.dumps(Payload(canary), 4))  # found by its PROTO bytes
    outer = io.BytesIO()
    with zipfile.ZipFile(outer, "w") as z:
        z.writestr("model/inner.zip", inner.getvalue())
    m = check(outer.getvalue())
    assert m.status is GateStatus.FAIL
    assert m.details["blocked"][0]["file"] == "artifact!model/inner.zip!payload.bin"


def _safetensors() -> bytes:
    header = b'{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"__metadata__":{"a":"b"}}'
    return struct.pack("<Q", len(header)) + header + np.ones(2, np.float32).tobytes()


ONNX = bytes.fromhex("0808") + b"\x12\x04test" + b"\x3a\x03\x12\x01g" + bytes.fromhex("4202100d")


@pytest.mark.parametrize(("data", "fmt"), [(_safetensors(), "safetensors"), (ONNX, "onnx")])
def test_formats_without_code_pass_by_construction(data: bytes, fmt: str) -> None:
    m = check(data)
    assert m.status is GateStatus.PASS
    assert m.message == f"{fmt}: holds no code by construction"


def test_format_is_read_from_the_bytes_not_the_name(canary: Path) -> None:
    """A pickle called model.safetensors is still a pickle."""
    data = pickle.dumps(Payload(canary), 4)
    v = version(artifact=data, uri="model.safetensors")
    m = measure(UnsafeSerialization, {}, context(v, MemoryEvidence(artifact=data)))
    assert m.status is GateStatus.FAIL


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"tree\nversion=v4\n", "not a format this gate recognises"),  # LightGBM's text model
        (b"\x04\x22\x4d\x18" + b"\0" * 20, "lz4-compressed"),
        (b"\x1f\x8b\x08" + b"\0" * 20, "damaged gzip stream"),
        (b"", "empty file"),
    ],
)
def test_what_cannot_be_inspected_is_an_error(data: bytes, why: str) -> None:
    m = check(data)
    assert m.status is GateStatus.ERROR
    assert why in m.message


# -- bounds ----------------------------------------------------------------------------------


def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as z:
        for name, content in members.items():
            z.writestr(name, content)
    return out.getvalue()


def _nested(depth: int) -> bytes:
    data = pickle.dumps([1], 4)
    for i in range(depth):
        data = _zip({f"level{i}.zip" if i else "data.pkl": data})
    return data


@pytest.mark.parametrize(
    ("data", "params", "limit"),
    [
        (pickle.dumps(list(range(5000)), 4), {"max_opcodes": 100}, "max_opcodes"),
        (pickle.dumps(b"x" * 5000, 4), {"max_bytes": 1000}, "max_bytes"),
        (_zip({f"m{i}.txt": b"x" for i in range(50)}), {"max_members": 10}, "max_members"),
        (_nested(6), {"max_depth": 3}, "max_depth"),
        # a zip bomb: 64 MB of zeros deflate to 64 KB
        (_zip({"data.pkl": b"\0" * (64 << 20)}), {"max_bytes": 1 << 20}, "max_bytes"),
        (
            _zip({f"{i}.pkl": pickle.dumps(b"x" * 4000, 4) for i in range(4)}),
            {"max_total_bytes": 10_000},
            "max_total_bytes",
        ),
    ],
)
def test_work_is_bounded_and_past_a_bound_is_an_error(
    data: bytes, params: dict[str, Any], limit: str
) -> None:
    m = check(data, **params)
    assert m.status is GateStatus.ERROR
    assert m.details["limit"] == limit
    assert f"raise the gate's {limit}" in m.message


def test_zlib_bomb_is_stopped_before_it_expands() -> None:
    bomb = zlib.compress(b"\0" * (64 << 20), 9)
    m = check(bomb, max_bytes=1 << 20)
    assert m.status is GateStatus.ERROR and m.details["limit"] == "max_bytes"


def test_nesting_within_the_bound_is_inspected() -> None:
    assert check(_nested(3), max_depth=3).status is GateStatus.PASS


# -- missing artifact, parameters ------------------------------------------------------------


def test_missing_or_unreadable_artifact_is_an_error() -> None:
    bare = version()
    m = measure(UnsafeSerialization, {}, context(bare, MemoryEvidence()))
    assert m.status is GateStatus.ERROR and m.details["missing"] == ["artifact"]
    v = version(artifact=b"x")
    m = measure(UnsafeSerialization, {}, context(v, MemoryEvidence(artifact=None)))
    assert m.status is GateStatus.ERROR and "cannot read the artifact at model.pkl" in m.message
    m = measure(UnsafeSerialization, {}, context(v, MemoryEvidence(artifact=b"x", unreadable=True)))
    assert m.status is GateStatus.ERROR and "Permission denied" in m.message


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"allow": ["os:system"]}, "never allowed"),
        ({"allow": ["sklearn.base:platform.os.system"]}, "never allowed"),
        ({"allow": ["os.system"]}, "must be module:name"),
        ({"deny": ["subprocess"]}, "must be module:name"),
        ({"max_depth": 99}, "less than or equal to 16"),
    ],
)
def test_bad_parameters_are_located_errors(params: dict[str, Any], message: str) -> None:
    gates = [{"id": "no_code", "type": "unsafe_serialization", **params}]
    with pytest.raises(PolicyError) as caught:
        run(gates, version(), MemoryEvidence())
    problem = caught.value.problems[0]
    assert message in problem.message
    assert problem.location.line is not None and problem.location.line > 1


def test_rules_judge_dotted_names_only_when_spelled_out() -> None:
    rules = ImportRules(allow=("pkg.mod:Outer.Inner",))
    assert rules.judge(Import("pkg.mod", "Outer.Inner", 0, "STACK_GLOBAL")).allowed
    assert not rules.judge(Import("pkg.mod", "Outer.Other", 0, "STACK_GLOBAL")).allowed
    assert not ImportRules(allow=("pkg.*:*",)).judge(Import("pkg.mod", "a.b", 0, "x")).allowed
