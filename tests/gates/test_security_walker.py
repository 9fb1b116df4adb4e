"""Properties of the pickle walk: it never crashes on hostile bytes and stays within its
budget, it finds exactly the imports the real unpickler performs, and it skips every array
joblib writes inline, whatever the dtype and shape."""

from __future__ import annotations

import io
import pickle
import time
import zipfile
from collections import OrderedDict
from typing import Any

import joblib
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from clearance.core.artifact_scan import ScanLimits, scan_artifact
from clearance.core.pickle_scan import Budget, ScanLimit, walk_pickle

SMALL = ScanLimits(
    max_bytes=1 << 20, max_total_bytes=1 << 22, max_members=50, max_depth=3, max_opcodes=2_000
)

leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.binary(max_size=20)
    | st.complex_numbers(allow_nan=False)
)
data = st.recursive(
    leaves,
    lambda children: (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.dictionaries(st.text(max_size=5), children, max_size=4)
        | st.frozensets(st.integers(), max_size=3)
        | st.sets(st.text(max_size=3), max_size=3)
        | st.builds(bytearray, st.binary(max_size=8))
        | st.builds(
            lambda d: OrderedDict(d), st.dictionaries(st.text(max_size=3), children, max_size=3)
        )
    ),
    max_leaves=20,
)


class Recording(pickle.Unpickler):
    """The real unpickler, noting every global it resolves (data-only pickles: safe to load)."""

    def __init__(self, file: Any) -> None:
        super().__init__(file)
        self.seen: set[str] = set()

    def find_class(self, module: str, name: str) -> Any:
        found = super().find_class(module, name)
        self.seen.add(f"{found.__module__}:{found.__qualname__}")
        return found


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=data, protocol=st.integers(0, 5))
def test_imports_are_exactly_those_the_unpickler_resolves(value: Any, protocol: int) -> None:
    blob = pickle.dumps(value, protocol=protocol)
    walk = walk_pickle(blob, Budget(100_000))
    assert walk.error is None
    assert walk.end == len(blob)
    reader = Recording(io.BytesIO(blob))
    reader.load()
    assert {i.text for i in walk.imports} == reader.seen


@settings(max_examples=400, deadline=None)
@given(blob=st.binary(max_size=4096))
def test_random_bytes_never_crash_and_stay_bounded(blob: bytes) -> None:
    start = time.perf_counter()
    try:
        scan = scan_artifact(blob, SMALL)
    except ScanLimit as exc:
        assert exc.limit in {
            "max_opcodes",
            "max_depth",
            "max_members",
            "max_bytes",
            "max_total_bytes",
        }
    else:
        assert scan.opcodes <= SMALL.max_opcodes
        assert scan.files or scan.problems
    assert time.perf_counter() - start < 2.0


@settings(max_examples=300, deadline=None)
@given(
    value=data,
    protocol=st.integers(0, 5),
    edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=6),
)
def test_mutated_pickles_never_crash(
    value: Any, protocol: int, edits: list[tuple[int, int]]
) -> None:
    blob = bytearray(pickle.dumps(value, protocol=protocol))
    for at, byte in edits:
        blob[at % len(blob)] = byte
    try:
        scan = scan_artifact(bytes(blob), SMALL)
    except ScanLimit:
        return
    assert scan.opcodes <= SMALL.max_opcodes


dtypes = (
    hnp.integer_dtypes()
    | hnp.unsigned_integer_dtypes()
    | hnp.floating_dtypes()
    | hnp.complex_number_dtypes()
    | hnp.boolean_dtypes()
    | hnp.datetime64_dtypes()
    | hnp.unicode_string_dtypes(max_len=5)
    | hnp.byte_string_dtypes(max_len=5)
    | st.just(np.dtype([("left", "<i8"), ("threshold", "<f8"), ("flag", "u1")]))
    | st.just(np.dtype([("v", "<f4", (2,)), ("n", "<i2")]))
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    arrays=st.lists(
        hnp.arrays(dtypes, hnp.array_shapes(min_dims=0, max_dims=3, max_side=4)), max_size=4
    ),
    objects=st.lists(st.integers() | st.text(max_size=4), max_size=3),
)
def test_joblib_inline_arrays_are_skipped_whatever_their_dtype(
    arrays: list[Any], objects: list[Any]
) -> None:
    buffer = io.BytesIO()
    joblib.dump({"arrays": arrays, "objects": np.array([*objects, None], dtype=object)}, buffer)
    scan = scan_artifact(buffer.getvalue(), ScanLimits(1 << 24, 1 << 24, 10, 2, 1_000_000))
    assert not scan.problems, scan.problems
    assert scan.files[-1][1].endswith(f"with {len(arrays) + 1} joblib arrays")


def _claims_zip_version(version: int) -> bytes:
    """A zip whose central directory says its member needs zip ``version`` (84: 8.4) to
    extract: Python's zipfile refuses to even list it, with NotImplementedError."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("model.pkl", pickle.dumps(1))
    data = bytearray(buf.getvalue())
    data[data.find(b"PK\x01\x02") + 6] = version
    return bytes(data)


def test_a_zip_of_a_version_python_cannot_read_is_a_problem_not_a_crash() -> None:
    scan = scan_artifact(_claims_zip_version(84), SMALL)
    assert any("damaged zip archive" in why for _, why in scan.problems), scan.problems
