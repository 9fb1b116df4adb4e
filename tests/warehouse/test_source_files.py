"""The files a ``source:`` names: refused by their text when confined, listed in bounded work,
and read by the engines exactly as digested (nothing outside the list)."""

from __future__ import annotations

import glob
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import clearance.dataset_sources as ds
from clearance.adapters.warehouse import TableSource, open_table
from clearance.dataset_sources import source_digest, source_files


def parquet(path: Path, values: list[float]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"x": np.asarray(values, np.float64)}), path)
    return path


@pytest.fixture
def listed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The folders source_files lists (os.scandir, spied on, still real)."""
    calls: list[str] = []
    real = os.scandir

    def spy(path: Any) -> Any:
        calls.append(str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", spy)  # the module source_files lists with
    return calls


@pytest.mark.parametrize(
    "raw",
    ["../../../../**", "a/../../**/*.parquet", "/etc/*", "/", "~/data/*.parquet", "~root/x",
     "..\\..\\**", "C:/Windows/*"],
)  # fmt: skip
def test_a_confined_source_is_refused_by_its_text_before_any_listing(
    tmp_path: Path, listed: list[str], raw: str
) -> None:
    inner = tmp_path / "m"
    parquet(inner / "a.parquet", [1.0])
    listed.clear()
    with pytest.raises(ValueError, match=r"inside the manifest's folder|'~' is not expanded"):
        source_files(TableSource("duckdb", path=raw), inner, inner.resolve())
    assert listed == []


def test_listing_stops_past_the_file_bound(
    tmp_path: Path, listed: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ds, "MAX_FILES", 5)
    for i in range(40):
        parquet(tmp_path / f"d{i:02d}" / "p.parquet", [float(i)])
    listed.clear()
    with pytest.raises(ValueError, match="over 5 files"):
        source_files(TableSource("duckdb", path="**/*.parquet"), tmp_path, tmp_path.resolve())
    assert len(listed) <= 7  # the root and the folders of the first six matches, not all 40


def test_listing_stops_past_the_entry_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ds, "MAX_ENTRIES", 50)
    for i in range(60):
        (tmp_path / f"n{i}.txt").write_text("x")
    parquet(tmp_path / "a.parquet", [1.0])
    with pytest.raises(ValueError, match="walks over 50 entries"):
        source_files(TableSource("duckdb", path="*.parquet"), tmp_path, None)


def test_a_folder_leaves_out_hidden_and_temporary_files_and_folders(tmp_path: Path) -> None:
    keep = [parquet(tmp_path / "a.parquet", [1.0]), parquet(tmp_path / "s" / "b.parquet", [2.0])]
    parquet(tmp_path / "_tmp.parquet", [9.0])
    parquet(tmp_path / ".hidden.parquet", [9.0])
    parquet(tmp_path / "_temporary" / "c.parquet", [9.0])
    parquet(tmp_path / ".git" / "d.parquet", [9.0])
    got = source_files(TableSource("duckdb", path="."), tmp_path, tmp_path.resolve())
    assert got == sorted(p.resolve() for p in keep)
    got = source_files(TableSource("duckdb", path="*.parquet"), tmp_path, None)
    assert got == [keep[0].resolve()]
    literal = source_files(TableSource("duckdb", path="_tmp.parquet"), tmp_path, None)
    assert literal == [(tmp_path / "_tmp.parquet").resolve()]  # named exactly: itself


def test_a_database_is_one_file_never_a_pattern(tmp_path: Path) -> None:
    (tmp_path / "w.duckdb").write_bytes(b"x")
    with pytest.raises(ValueError, match="no file matches"):
        source_files(TableSource("duckdb", database="*.duckdb", table="t"), tmp_path, None)


def test_a_file_name_an_engine_would_read_as_a_pattern_is_refused(tmp_path: Path) -> None:
    parquet(tmp_path / "d" / "a[1].parquet", [1.0])
    with pytest.raises(ValueError, match="read as a pattern"):
        source_files(TableSource("duckdb", path="d"), tmp_path, None)


def test_a_symlink_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    outside = parquet(tmp_path / "outside.parquet", [1.0])
    inner = tmp_path / "m"
    inner.mkdir()
    (inner / "a.parquet").symlink_to(outside)
    with pytest.raises(ValueError, match="inside the manifest's folder"):
        source_files(TableSource("duckdb", path="*.parquet"), inner, inner.resolve())


NAMES = st.sampled_from(["a", "b", "ab", "x.parquet", ".h", "b.csv"])
PATTERN_PARTS = st.sampled_from(["*", "**", "a*", "?b", "a", "*.parquet", ".h", "[ab]"])


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.lists(NAMES, min_size=1, max_size=4), min_size=1, max_size=12),
    st.lists(PATTERN_PARTS, min_size=1, max_size=4),
)
def test_patterns_match_what_glob_matches(tree: list[list[str]], parts: list[str]) -> None:
    """With no ``_`` names, a pattern lists the files ``glob.glob(recursive=True)`` lists (a
    folder named without a wildcard: the files below it, ``folder/**``)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for segments in tree:
            target = root.joinpath(*segments)
            if any(p.is_file() for p in [target, *target.parents]) or target.is_dir():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("x")
        pattern = "/".join(parts)
        folder = not any(c in pattern for c in "*?[") and (root / pattern).is_dir()
        listed = glob.glob(str(root / pattern) + ("/**" if folder else ""), recursive=True)  # noqa: PTH207
        # (glob's ``file/**`` also yields ``file/``, which no engine can open: left out)
        expected = sorted({Path(p).resolve() for p in listed if Path(p).is_file() and p[-1] != "/"})
        try:
            got = source_files(TableSource("duckdb", path=pattern), root, root.resolve())
        except ValueError as exc:
            assert "no file matches" in str(exc)
            got = []
        assert got == expected


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    """``a.parquet`` (two rows) digested; ``_tmp.parquet`` beside it is not."""
    parquet(tmp_path / "d" / "a.parquet", [1.0, 2.0])
    parquet(tmp_path / "d" / "_tmp.parquet", [100.0, 200.0, 300.0])
    yield tmp_path


def test_duckdb_reads_exactly_the_digested_files(folder: Path) -> None:
    pytest.importorskip("duckdb")
    import duckdb

    source = TableSource("duckdb", path="d")
    files = source_files(source, folder, None)
    assert [f.name for f in files] == ["a.parquet"]
    table = open_table(source, "d", folder)
    try:
        assert table.rows() == 2 and table.profile("x").maximum == 2.0
        with pytest.raises(duckdb.Error, match="disabled by configuration"):
            table._con.execute("SELECT * FROM read_parquet(?)", [str(folder / "d/_tmp.parquet")])
        with pytest.raises(duckdb.Error):
            table._con.execute("SET enable_external_access = true")
    finally:
        table.close()
    # a list taken with the digest is what is read, even when the folder gained a file since
    parquet(folder / "d" / "b.parquet", [5.0])
    listed = open_table(TableSource("duckdb", path="d", files=tuple(files)), "d", folder)
    try:
        assert listed.rows() == 2
    finally:
        listed.close()
    assert open_table(source, "d", folder).rows() == 3
    assert (
        source_digest(source_files(source, folder, None), folder)[0]
        != source_digest(files, folder)[0]
    )


@pytest.mark.slow  # a local Spark session: about 15 s, run in CI (.ci/run)
def test_spark_reads_exactly_the_digested_files(folder: Path, spark: Any) -> None:
    source = TableSource("spark", path="d")
    table = open_table(source, "d", folder)
    expected = [f.as_uri() for f in source_files(source, folder, None)]
    assert sorted(table._df.inputFiles()) == expected
    assert table.rows() == 2


def test_a_database_view_cannot_read_a_file_outside(tmp_path: Path) -> None:
    pytest.importorskip("duckdb")
    import duckdb

    secret = tmp_path / "secret.txt"
    secret.write_text("s3cr3t-value")
    db = tmp_path / "db" / "w.duckdb"
    db.parent.mkdir()
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE scored AS SELECT range::DOUBLE AS x FROM range(5)")
        con.execute(f"CREATE VIEW leak AS SELECT content FROM read_text('{secret}')")
    with duckdb.connect(str(db), read_only=True) as con:  # the view does read it, unconfined
        assert con.execute("SELECT * FROM leak").fetchall() == [("s3cr3t-value",)]
    own = open_table(
        TableSource("duckdb", database="w.duckdb", table="main.scored"), "s", db.parent
    )
    try:
        assert own.rows() == 5 and own.profile("x").maximum == 4.0
    finally:
        own.close()
    with pytest.raises(duckdb.Error, match="disabled by configuration") as caught:
        open_table(TableSource("duckdb", database="w.duckdb", table="main.leak"), "l", db.parent)
    assert "s3cr3t" not in str(caught.value)


def test_duckdb_reads_a_list_of_csv_files(tmp_path: Path) -> None:
    pytest.importorskip("duckdb")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "a.csv").write_text("x\n1\n2\n")
    (tmp_path / "c" / "b.csv").write_text("x\n3\n")
    (tmp_path / "c" / "_partial.csv").write_text("x\n1000\n")
    table = open_table(TableSource("duckdb", path="c", format="csv"), "c", tmp_path)
    try:
        assert table.rows() == 3 and table.profile("x").maximum == 3.0
    finally:
        table.close()
