"""Datasets as evidence: Parquet, CSV and Arrow IPC files read column by column (pyarrow).

The ``EvidenceReader.read_columns`` port is implemented here once, for a local path or for
bytes in memory, and used by every reader (manifest files, the blob store, test fakes).

* **Format** by magic bytes first (``PAR1`` Parquet; ``ARROW1`` Arrow IPC file; an IPC
  stream's ``0xFFFFFFFF`` continuation marker), then by suffix (``.parquet``/``.pq``,
  ``.arrow``/``.feather``/``.ipc``, ``.csv``/``.tsv``/``.txt``); anything else is read as CSV.
* **Only the needed columns are read**: ``pyarrow.parquet.read_table(columns=...)`` decodes
  only those column chunks; ``pyarrow.csv.read_csv(convert_options=ConvertOptions(
  include_columns=...))`` parses every line but converts and keeps only those columns; an
  Arrow IPC file is memory-mapped and only the selected columns' buffers are touched.
* **Larger than memory**: a gate holds only its columns in memory (e.g. three numeric columns
  of a 200-column table). The statistics that are sums over rows are additionally computed
  batch by batch (:meth:`DatasetReader.read_batches`: Parquet row groups / ``iter_batches``,
  CSV blocks, IPC record batches), so their memory is one batch: the ``data_quality`` gate
  (row count, nulls, ranges, allowed sets, freshness; *not* ``unique``, which needs the
  whole key column) and the ``fairness`` gate (group confusion counts). ``drift`` (exact KS
  sorts each column), ``performance`` and ``champion_comparison`` (AUC ranks all scores) and
  ``latency`` read their columns whole; ADR 0009 describes pushing those down to an engine.
* **Conversion** (see :mod:`clearance.core.columns`): floats keep NaN for null; other
  primitive columns get a null mask; strings and dictionaries become ``int64`` codes (``-1``
  null) into a sorted category list; timestamps become ``datetime64`` (UTC).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.ipc as paipc
import pyarrow.parquet as pq
from numpy.typing import NDArray

from clearance.core.columns import Columns

Source = Path | bytes

_SUFFIXES = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".arrow": "ipc",
    ".feather": "ipc",
    ".ipc": "ipc",
    ".arrows": "ipc_stream",
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
}


def detect_format(head: bytes, hint: str = "") -> str:
    """``parquet``, ``ipc``, ``ipc_stream`` or ``csv`` from the first bytes and a name."""
    if head[:4] == b"PAR1":
        return "parquet"
    if head[:6] == b"ARROW1":
        return "ipc"
    if head[:4] == b"\xff\xff\xff\xff":
        return "ipc_stream"
    return _SUFFIXES.get(Path(hint).suffix.lower(), "csv")


def _head(source: Source) -> bytes:
    if isinstance(source, bytes):
        return source[:8]
    with source.open("rb") as f:
        return f.read(8)


def _input(source: Source) -> Any:
    """A fresh pyarrow input for ``source`` (a memory map for files: zero-copy for IPC)."""
    if isinstance(source, bytes):
        return pa.BufferReader(pa.py_buffer(source))
    return pa.memory_map(str(source), "r")


def _csv_options(source: Source) -> pacsv.ParseOptions:
    hint = "" if isinstance(source, bytes) else source.suffix.lower()
    return pacsv.ParseOptions(delimiter="\t" if hint == ".tsv" else ",")


def arrow_type_name(t: pa.DataType) -> str:
    """The kernels' schema type name (``clearance.kernels.quality``) of an Arrow type."""
    if pa.types.is_dictionary(t):
        return arrow_type_name(t.value_type)
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        return str(t.to_pandas_dtype().__name__)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "datetime"
    if pa.types.is_duration(t):
        return "timedelta"
    return str(t)


class _Opened:
    """A dataset source with its format and schema, opened lazily."""

    def __init__(self, source: Source, hint: str) -> None:
        self.source = source
        self.format = detect_format(_head(source), hint)

    def schema(self) -> pa.Schema:
        if self.format == "parquet":
            return pq.read_schema(_input(self.source))
        if self.format == "ipc":
            return paipc.open_file(_input(self.source)).schema
        if self.format == "ipc_stream":
            return paipc.open_stream(_input(self.source)).schema
        reader = pacsv.open_csv(_input(self.source), parse_options=_csv_options(self.source))
        return reader.schema

    def check(self, columns: Sequence[str], name: str) -> pa.Schema:
        schema = self.schema()
        missing = [c for c in columns if c not in schema.names]
        if missing:
            raise ValueError(
                f"dataset '{name}' has no column {', '.join(repr(c) for c in missing)} "
                f"(it has: {', '.join(schema.names)})"
            )
        return schema

    def table(self, columns: Sequence[str]) -> pa.Table:
        cols = list(dict.fromkeys(columns))
        if self.format == "parquet":
            return pq.read_table(_input(self.source), columns=cols)
        if self.format == "ipc":
            return paipc.open_file(_input(self.source)).read_all().select(cols)
        if self.format == "ipc_stream":
            return paipc.open_stream(_input(self.source)).read_all().select(cols)
        return pacsv.read_csv(
            _input(self.source),
            parse_options=_csv_options(self.source),
            convert_options=pacsv.ConvertOptions(include_columns=cols, strings_can_be_null=True),
        )

    def batches(self, columns: Sequence[str], batch_rows: int) -> Iterator[pa.RecordBatch]:
        cols = list(dict.fromkeys(columns))
        if self.format == "parquet":
            yield from pq.ParquetFile(_input(self.source)).iter_batches(
                batch_size=batch_rows, columns=cols
            )
        elif self.format == "ipc":
            reader = paipc.open_file(_input(self.source))
            for i in range(reader.num_record_batches):
                yield from _slices(reader.get_batch(i).select(cols), batch_rows)
        elif self.format == "ipc_stream":
            for batch in paipc.open_stream(_input(self.source)):
                yield from _slices(batch.select(cols), batch_rows)
        else:
            reader = pacsv.open_csv(
                _input(self.source),
                parse_options=_csv_options(self.source),
                convert_options=pacsv.ConvertOptions(
                    include_columns=cols, strings_can_be_null=True
                ),
                read_options=pacsv.ReadOptions(block_size=max(1 << 16, batch_rows * 64)),
            )
            for batch in reader:
                yield from _slices(batch, batch_rows)

    def num_rows(self) -> int | None:
        if self.format == "parquet":
            rows: int = pq.ParquetFile(_input(self.source)).metadata.num_rows
            return int(rows)
        if self.format == "ipc":
            reader = paipc.open_file(_input(self.source))
            return int(sum(reader.get_batch(i).num_rows for i in range(reader.num_record_batches)))
        return None  # CSV and IPC streams: unknown without a pass


def _slices(batch: pa.RecordBatch, rows: int) -> Iterator[pa.RecordBatch]:
    for start in range(0, batch.num_rows, rows):
        yield batch.slice(start, rows)


def _convert(
    arr: pa.ChunkedArray | pa.Array,
) -> tuple[NDArray[Any], NDArray[np.bool_] | None, list[Any] | None]:
    """One Arrow column as (values, null mask or None, categories or None)."""
    t = arr.type
    if pa.types.is_dictionary(t):
        arr = arr.cast(t.value_type)
        t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t):
        encoded = pc.dictionary_encode(arr)
        if isinstance(encoded, pa.ChunkedArray):
            encoded = (
                encoded.combine_chunks()
                if encoded.num_chunks
                else pa.array([], pa.dictionary(pa.int32(), t))
            )
        cats = encoded.dictionary.to_pylist()
        codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        if cats and len(cats) > 1:
            order = np.argsort(np.array(cats, dtype=object))
            rank = np.empty(len(cats), np.int64)
            rank[order] = np.arange(len(cats))
            codes = np.where(codes >= 0, rank[np.maximum(codes, 0)], -1)
            cats = [cats[i] for i in order]
        return codes, None, cats
    if pa.types.is_floating(t):
        return np.asarray(arr.to_numpy(zero_copy_only=False)), None, None
    mask: NDArray[np.bool_] | None = None
    if arr.null_count:
        mask = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        if pa.types.is_integer(t) or pa.types.is_boolean(t):
            arr = arr.fill_null(pa.scalar(0, t) if pa.types.is_integer(t) else False)
    if pa.types.is_timestamp(t) and t.tz is not None:
        arr = arr.cast(pa.timestamp(t.unit))  # values are UTC instants already
    values = arr.to_numpy(zero_copy_only=False)
    if values.dtype.kind == "O" and (pa.types.is_integer(t) or pa.types.is_boolean(t)):
        values = values.astype(np.int64 if pa.types.is_integer(t) else bool)
    return np.asarray(values), mask, None


def to_columns(data: pa.Table | pa.RecordBatch, schema: pa.Schema | None = None) -> Columns:
    """An Arrow table or batch as :class:`Columns`."""
    out: dict[str, NDArray[Any]] = {}
    nulls: dict[str, NDArray[np.bool_]] = {}
    cats: dict[str, list[Any]] = {}
    for name in data.column_names:
        values, mask, categories = _convert(data.column(name))
        out[name] = values
        if mask is not None:
            nulls[name] = mask
        if categories is not None:
            cats[name] = categories
    full = schema if schema is not None else data.schema
    return Columns(
        out,
        nulls=nulls,
        categories=cats,
        schema={f.name: arrow_type_name(f.type) for f in full},
        num_rows=data.num_rows,
    )


def read_columns(source: Source, columns: Sequence[str], *, name: str, hint: str = "") -> Columns:
    """Only ``columns`` of the dataset at ``source`` (a path, or its bytes with a name hint)."""
    opened = _Opened(source, hint or ("" if isinstance(source, bytes) else str(source)))
    schema = opened.check(columns, name)
    return to_columns(opened.table(columns), schema)


def read_batches(
    source: Source, columns: Sequence[str], batch_rows: int, *, name: str, hint: str = ""
) -> Iterator[Columns]:
    """``columns`` of the dataset in record batches of at most ``batch_rows`` rows (CSV: blocks).

    Category codes are per batch: compare categories by label, not by code, across batches.
    """
    opened = _Opened(source, hint or ("" if isinstance(source, bytes) else str(source)))
    schema = opened.check(columns, name)
    for batch in opened.batches(columns, batch_rows):
        yield to_columns(batch, schema)


def dataset_rows(source: Source, hint: str = "") -> int | None:
    """Row count from the file's metadata (Parquet, IPC file), or None when it needs a pass."""
    return _Opened(source, hint or ("" if isinstance(source, bytes) else str(source))).num_rows()


class DatasetReader:
    """Mix-in: ``read_columns``/``read_batches`` for readers that can locate evidence content.

    Subclasses implement ``_dataset_source(name)`` returning a path or bytes (``KeyError`` when
    absent) and a name hint for the format.
    """

    def _dataset_source(self, name: str) -> tuple[Source, str]:
        raise KeyError(name)

    def read_columns(self, name: str, columns: Sequence[str]) -> Mapping[str, NDArray[Any]]:
        source, hint = self._dataset_source(name)
        return read_columns(source, columns, name=name, hint=hint)

    def read_batches(
        self, name: str, columns: Sequence[str], batch_rows: int
    ) -> Iterator[Mapping[str, NDArray[Any]]]:
        source, hint = self._dataset_source(name)
        return read_batches(source, columns, batch_rows, name=name, hint=hint)

    def dataset_rows(self, name: str) -> int | None:
        source, hint = self._dataset_source(name)
        return dataset_rows(source, hint)
