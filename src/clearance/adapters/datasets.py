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
  CSV blocks, IPC record batches) when the dataset is longer than one batch, so their memory
  is one batch: the ``data_quality`` gate (row count, nulls, ranges, allowed sets, freshness;
  *not* ``unique``, which needs the whole key column) and the ``fairness`` gate (group
  confusion counts). ``drift`` (exact KS
  sorts each column), ``performance`` and ``champion_comparison`` (AUC ranks all scores) and
  ``latency`` read their columns whole; ADR 0009 describes pushing those down to an engine.
* **Size limits** (:class:`DatasetLimits`): a dataset over ``CLEARANCE_MAX_DATASET_ROWS``
  rows (default 50,000,000) or whose needed columns decode to more than
  ``CLEARANCE_MAX_DATASET_BYTES`` (default 2 GiB) is refused with :class:`DatasetTooLarge`
  before any column is read, from the Parquet footer or the IPC file's batches (a 384 KB
  Parquet file of 20M repeated values once took 2.4 GB). CSV files and IPC streams have no
  row count up front: their size is checked first and their rows are counted as they stream.
  Fixed-width and dictionary columns are decoded a million rows at a time (their size is
  known from the footer), text and other variable-width ones 65,536 rows at a time.
* **Decoded once per evaluation** (:class:`ColumnCache`): a reader keeps the columns it has
  decoded, so the gates of one evaluation that read the same dataset (drift, data quality,
  fairness, performance on one evaluation table) decode each column once. Record batches
  slice the columns the cache holds and decode only the others; a dataset that fits in one
  batch is read whole through the cache. The cache holds at most the per-dataset byte limit
  in all, the least recently used out first.
* **Conversion** (see :mod:`clearance.core.columns`): floats keep NaN for null; other
  primitive columns get a null mask; strings and dictionaries become ``int64`` codes (``-1``
  null) into a sorted category list; timestamps become ``datetime64`` (UTC).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
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


ROWS_ENV, BYTES_ENV = "CLEARANCE_MAX_DATASET_ROWS", "CLEARANCE_MAX_DATASET_BYTES"


class DatasetTooLarge(ValueError):
    """A dataset over a size limit; the message names it, the figure, the limit and the knob."""


@dataclass(frozen=True)
class DatasetLimits:
    """Most rows and decoded bytes (of the columns a gate reads) per dataset."""

    max_rows: int = 50_000_000
    max_bytes: int = 2 << 30

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DatasetLimits:
        env = os.environ if env is None else env
        return cls(
            max_rows=_positive(env, ROWS_ENV, cls.max_rows),
            max_bytes=_positive(env, BYTES_ENV, cls.max_bytes),
        )

    def check_rows(self, rows: int, name: str) -> None:
        if rows > self.max_rows:
            raise DatasetTooLarge(
                f"dataset '{name}' has {rows:,} rows, over the limit of {self.max_rows:,} rows "
                f"per dataset; attach a sample, or raise {ROWS_ENV}"
            )

    def check_bytes(self, size: int, name: str, what: str) -> None:
        if size > self.max_bytes:
            raise DatasetTooLarge(
                f"dataset '{name}' {what} {_gib(size)}, over the limit of {_gib(self.max_bytes)} "
                f"per dataset; read fewer columns or a sample, or raise {BYTES_ENV} (bytes)"
            )


def _positive(env: Mapping[str, str], key: str, default: int) -> int:
    raw = env.get(key, "").strip().replace("_", "")
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{key} must be a positive whole number, not {env[key]!r}")
    return int(raw)


def _gib(n: int) -> str:
    return f"{n / (1 << 30):.2f} GiB" if n >= 1 << 30 else f"{n / (1 << 20):.1f} MiB"


def _width(t: pa.DataType) -> int:
    """Bytes per row once decoded: fixed-width types their width (a bool a numpy byte), text
    and anything variable an int64 code or offset (their payload is counted separately)."""
    try:
        return max(1, int(t.bit_width) // 8)
    except ValueError:
        return 8


def _fixed_width(t: pa.DataType) -> bool:
    """Whether a column's decoded size is its rows times a width (a dictionary: its codes)."""
    if pa.types.is_dictionary(t):
        return True
    try:
        return int(t.bit_width) > 0
    except ValueError:
        return False


def detect_format(head: bytes, hint: str = "") -> str:
    """``parquet``, ``ipc``, ``ipc_stream`` or ``csv`` from the first bytes and a name."""
    if head[:4] == b"PAR1":
        return "parquet"
    if head[:6] == b"ARROW1":
        return "ipc"
    if head[:4] == b"\xff\xff\xff\xff":
        return "ipc_stream"
    return _SUFFIXES.get(Path(hint).suffix.lower(), "csv")


def head_bytes(source: Source) -> bytes:
    """The first bytes ``detect_format`` reads."""
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
        self.format = detect_format(head_bytes(source), hint)
        self._parquet: pq.ParquetFile | None = None
        self.rows: int | None = None  # after :meth:`limit`: the rows (CSV: at least them)

    def schema(self) -> pa.Schema:
        if self.format == "parquet":
            return self.parquet().schema_arrow
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

    def limit(self, columns: Sequence[str], limits: DatasetLimits, name: str) -> int | None:
        """Refuse a dataset over ``limits`` from metadata alone, before any column is read;
        returns the estimated decoded size of ``columns`` (None for an IPC stream) and keeps
        the row count in ``rows``."""
        size = len(self.source) if isinstance(self.source, bytes) else self.source.stat().st_size
        rows = self.num_rows()
        if self.format == "csv":
            rows = _line_breaks(self.source)  # at least the rows: the header, quoted newlines
        self.rows = rows
        if rows is None:  # an IPC stream: its rows are counted as it is read
            limits.check_bytes(size, name, "is")
            return None
        limits.check_rows(rows, name)
        schema, cols = self.schema(), list(dict.fromkeys(columns))
        decoded = rows * sum(_width(schema.field(c).type) for c in cols)
        if self.format == "parquet":
            meta = self.parquet().metadata
            wanted = [i for i in range(meta.num_columns) if meta.schema.column(i).name in cols]
            decoded = max(
                decoded,
                sum(
                    meta.row_group(g).column(i).total_uncompressed_size
                    for g in range(meta.num_row_groups)
                    for i in wanted
                ),
            )
        elif self.format == "csv":
            decoded = max(decoded, size)
        limits.check_bytes(decoded, name, "decodes to about")
        return int(decoded)

    def parquet(self) -> pq.ParquetFile:
        """The Parquet file, its footer read once."""
        if self._parquet is None:
            self._parquet = pq.ParquetFile(_input(self.source))
        return self._parquet

    def table(self, columns: Sequence[str], limits: DatasetLimits, name: str) -> pa.Table:
        """The columns, decoded a batch at a time and refused as soon as what has been decoded
        passes the limits: metadata can understate it (a dictionary-encoded string column
        of one repeated value is a few KB in the file and gigabytes decoded)."""
        cols = list(dict.fromkeys(columns))
        if self.format == "parquet":
            parquet = self.parquet()
            schema = parquet.schema_arrow
            fixed = all(_fixed_width(schema.field(c).type) for c in cols)
            batches = parquet.iter_batches(
                batch_size=_DECODE_FIXED_ROWS if fixed else _DECODE_ROWS, columns=cols
            )
        elif self.format == "ipc":
            reader = paipc.open_file(_input(self.source))
            batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
            schema = reader.schema
        elif self.format == "ipc_stream":
            stream = paipc.open_stream(_input(self.source))
            batches, schema = iter(stream), stream.schema
        else:
            batches = None
        if batches is not None:
            selected = (b.select(cols) for b in batches)
            return pa.Table.from_batches(
                list(_counted(selected, limits, name)),
                schema=pa.schema(schema.field(c) for c in cols),
            )
        return pacsv.read_csv(
            _input(self.source),
            parse_options=_csv_options(self.source),
            convert_options=pacsv.ConvertOptions(include_columns=cols, strings_can_be_null=True),
        )

    def batches(self, columns: Sequence[str], batch_rows: int) -> Iterator[pa.RecordBatch]:
        cols = list(dict.fromkeys(columns))
        if self.format == "parquet":
            yield from self.parquet().iter_batches(batch_size=batch_rows, columns=cols)
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
            rows: int = self.parquet().metadata.num_rows
            return int(rows)
        if self.format == "ipc":
            reader = paipc.open_file(_input(self.source))
            return int(sum(reader.get_batch(i).num_rows for i in range(reader.num_record_batches)))
        return None  # CSV and IPC streams: unknown without a pass


def _line_breaks(source: Source) -> int:
    if isinstance(source, bytes):
        return source.count(b"\n")
    count = 0
    with source.open("rb") as f:
        while chunk := f.read(1 << 24):
            count += chunk.count(b"\n")
    return count


_DECODE_ROWS = 1 << 16  # rows decoded at a time when reading a whole text column
_DECODE_FIXED_ROWS = 1 << 20  # ... and fixed-width ones: their decoded size is in the footer


def _counted(
    batches: Iterator[pa.RecordBatch], limits: DatasetLimits, name: str
) -> Iterator[pa.RecordBatch]:
    """``batches``, refused as soon as their rows or decoded bytes pass the limits."""
    rows = size = 0
    for batch in batches:
        rows += batch.num_rows
        size += batch.nbytes
        limits.check_rows(rows, name)
        limits.check_bytes(size, name, "decodes to more than")
        yield batch


def _slices(batch: pa.RecordBatch, rows: int) -> Iterator[pa.RecordBatch]:
    for start in range(0, batch.num_rows, rows):
        yield batch.slice(start, rows)


def _is_text(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t))


def _dictionary_codes(arr: pa.ChunkedArray | pa.Array) -> tuple[NDArray[np.int64], list[Any]]:
    """A dictionary column's codes into its sorted distinct used values, from the file's own
    encoding: the (small) dictionary is sorted and the indices remapped in one numpy gather,
    so no string is materialised per row (decoding and re-encoding cost 3-8x as much)."""
    chunks = arr.unify_dictionaries().chunks if isinstance(arr, pa.ChunkedArray) else [arr]
    if not chunks:
        return np.empty(0, np.int64), []
    values = chunks[0].dictionary.to_pylist()
    indices = pa.chunked_array([c.indices for c in chunks]).combine_chunks().fill_null(-1)
    shifted = np.add(indices.to_numpy(zero_copy_only=False), 1, dtype=np.int64)  # 0: null
    used = np.bincount(shifted, minlength=len(values) + 1)[1:] > 0
    cats = sorted({v for v, u in zip(values, used, strict=True) if u and v is not None})
    rank = {v: i for i, v in enumerate(cats)}
    table = np.array([-1] + [-1 if v is None else rank.get(v, -1) for v in values], np.int64)
    return table[shifted], cats


def _convert(
    arr: pa.ChunkedArray | pa.Array,
) -> tuple[NDArray[Any], NDArray[np.bool_] | None, list[Any] | None]:
    """One Arrow column as (values, null mask or None, categories or None)."""
    t = arr.type
    if pa.types.is_dictionary(t):
        if _is_text(t.value_type):
            try:
                codes, cats = _dictionary_codes(arr)
                return codes, None, cats
            except pa.ArrowInvalid:  # "cannot yet unify dictionaries with nulls": decode
                pass
        arr = arr.cast(t.value_type)
        t = arr.type
    if _is_text(t):
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
    converted = {name: _convert(data.column(name)) for name in data.column_names}
    return _columns(converted, schema if schema is not None else data.schema, data.num_rows)


Converted = tuple[NDArray[Any], NDArray[np.bool_] | None, list[Any] | None]


def _columns(converted: Mapping[str, Converted], schema: pa.Schema, rows: int) -> Columns:
    return Columns(
        {c: v for c, (v, _, _) in converted.items()},
        nulls={c: m for c, (_, m, _) in converted.items() if m is not None},
        categories={c: cats for c, (_, _, cats) in converted.items() if cats is not None},
        schema={f.name: arrow_type_name(f.type) for f in schema},
        num_rows=rows,
    )


def _nbytes(c: Converted) -> int:
    return int(c[0].nbytes) + (0 if c[1] is None else int(c[1].nbytes)) + 8 * len(c[2] or ())


class ColumnCache:
    """The columns one reader has decoded, kept for the other gates of its evaluation.

    A reader serves one evaluation, whose gates often read the same dataset (drift, data
    quality, fairness and performance all read the evaluation table): each column is decoded
    and converted once. Keyed by the dataset's identity (:func:`source_key`) and the column;
    at most ``max_bytes`` of arrays in all, the least recently used dropped first. The arrays
    are shared between the gates: a gate must not write into what it reads.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._columns: OrderedDict[tuple[Hashable, str], Converted] = OrderedDict()
        self._rows: dict[Hashable, int] = {}

    def get(self, key: Hashable, column: str) -> Converted | None:
        found = self._columns.get((key, column))
        if found is not None:
            self._columns.move_to_end((key, column))
        return found

    def put(self, key: Hashable, column: str, converted: Converted, rows: int) -> None:
        size = _nbytes(converted)
        if size > self.max_bytes:
            return
        while self.size + size > self.max_bytes:
            _, dropped = self._columns.popitem(last=False)
            self.size -= _nbytes(dropped)
        self._columns[(key, column)] = converted
        self._rows[key] = rows
        self.size += size

    def rows(self, key: Hashable) -> int | None:
        return self._rows.get(key)


def source_key(source: Source, name: str) -> Hashable:
    """A dataset's identity for :class:`ColumnCache`: a file's path, size, modification time
    and inode (a file replaced on disk is read again); bytes by their reader's name for them
    and their length (a reader's names map to fixed content)."""
    if isinstance(source, bytes):
        return ("bytes", name, len(source))
    st = source.stat()
    return (str(source), st.st_size, st.st_mtime_ns, st.st_ino)


def _decode(
    opened: _Opened,
    columns: Sequence[str],
    schema: pa.Schema,
    limits: DatasetLimits,
    name: str,
    cache: ColumnCache | None,
) -> Columns:
    """``columns`` converted, each taken from ``cache`` or decoded (and then kept there)."""
    cols = list(dict.fromkeys(columns))
    if cache is None:
        return to_columns(opened.table(cols, limits, name), schema)
    key = source_key(opened.source, name)
    have = {c: cache.get(key, c) for c in cols}
    missing = [c for c, v in have.items() if v is None]
    rows = cache.rows(key)
    if missing or rows is None:
        table = opened.table(missing, limits, name)
        rows = table.num_rows
        for c in missing:
            have[c] = converted = _convert(table.column(c))
            cache.put(key, c, converted, rows)
    return _columns({c: v for c, v in have.items() if v is not None}, schema, rows)


def _streamed(
    opened: _Opened,
    columns: Sequence[str],
    batch_rows: int,
    schema: pa.Schema,
    limits: DatasetLimits,
    name: str,
    cache: ColumnCache | None,
) -> Iterator[Columns]:
    """Record batches of ``columns``: the columns ``cache`` holds sliced from it, the others
    decoded from the file a batch at a time (the batches' rows give the slices)."""
    cols = list(dict.fromkeys(columns))
    key = None if cache is None else source_key(opened.source, name)
    held = {} if cache is None or key is None else {c: cache.get(key, c) for c in cols}
    kept = {c: v for c, v in held.items() if v is not None}
    rows = None if cache is None or key is None else cache.rows(key)
    if not kept or rows is None:
        for batch in _counted(opened.batches(cols, batch_rows), limits, name):
            yield to_columns(batch, schema)
        return
    missing = [c for c in cols if c not in kept]
    if missing:
        decoded = _counted(opened.batches(missing, batch_rows), limits, name)
        sizes = ((batch, batch.num_rows) for batch in decoded)
    else:
        sizes = ((None, min(batch_rows, rows - s)) for s in range(0, rows, batch_rows))
    start = 0
    for batch, n in sizes:
        cut = slice(start, start + n)
        start += n
        fresh = {} if batch is None else {c: _convert(batch.column(c)) for c in missing}
        part = {c: fresh[c] if c in fresh else _sliced(kept[c], cut) for c in cols}
        yield _columns(part, schema, n)


def _sliced(c: Converted, cut: slice) -> Converted:
    return c[0][cut], None if c[1] is None else c[1][cut], c[2]


def read_columns(
    source: Source,
    columns: Sequence[str],
    *,
    name: str,
    hint: str = "",
    limits: DatasetLimits | None = None,
    cache: ColumnCache | None = None,
) -> Columns:
    """Only ``columns`` of the dataset at ``source`` (a path, or its bytes with a name hint).

    ``limits`` default to the environment's (:meth:`DatasetLimits.from_env`). Columns found
    in ``cache`` are not decoded again; those decoded are kept there.
    """
    limits = limits or DatasetLimits.from_env()
    opened = _Opened(source, hint or ("" if isinstance(source, bytes) else str(source)))
    schema = opened.check(columns, name)
    opened.limit(columns, limits, name)
    return _decode(opened, columns, schema, limits, name, cache)


def read_batches(
    source: Source,
    columns: Sequence[str],
    batch_rows: int,
    *,
    name: str,
    hint: str = "",
    limits: DatasetLimits | None = None,
    cache: ColumnCache | None = None,
) -> Iterator[Columns]:
    """``columns`` of the dataset in record batches of at most ``batch_rows`` rows (CSV: blocks).

    With a ``cache``: when one batch holds the whole dataset, its columns are read whole
    through the cache (the same memory as that one batch); otherwise the columns the cache
    holds are sliced from it and only the others are decoded, a batch at a time, so a reader
    of the first batch only (a sample) decodes no more than that. Category codes may differ
    between batches: compare categories by label, not by code, across batches.
    """
    limits = limits or DatasetLimits.from_env()
    opened = _Opened(source, hint or ("" if isinstance(source, bytes) else str(source)))
    schema = opened.check(columns, name)
    decoded = opened.limit(columns, limits, name)
    whole = opened.rows is not None and opened.rows <= batch_rows
    if cache is not None and whole and decoded is not None and decoded <= cache.max_bytes:
        columns_read = _decode(opened, columns, schema, limits, name, cache)
        if columns_read.num_rows:
            yield columns_read
        return
    yield from _streamed(opened, columns, batch_rows, schema, limits, name, cache)


def dataset_rows(source: Source, hint: str = "") -> int | None:
    """Row count from the file's metadata (Parquet, IPC file), or None when it needs a pass."""
    return _Opened(source, hint or ("" if isinstance(source, bytes) else str(source))).num_rows()


class DatasetReader:
    """Mix-in: ``read_columns``/``read_batches`` for readers that can locate evidence content.

    Subclasses implement ``_dataset_source(name)`` returning a path or bytes (``KeyError`` when
    absent) and a name hint for the format.
    """

    _column_cache: ColumnCache | None = None

    def _dataset_source(self, name: str) -> tuple[Source, str]:
        raise KeyError(name)

    def _cache(self) -> ColumnCache:
        if self._column_cache is None:
            self._column_cache = ColumnCache(DatasetLimits.from_env().max_bytes)
        return self._column_cache

    def read_columns(self, name: str, columns: Sequence[str]) -> Mapping[str, NDArray[Any]]:
        source, hint = self._dataset_source(name)
        return read_columns(source, columns, name=name, hint=hint, cache=self._cache())

    def read_batches(
        self, name: str, columns: Sequence[str], batch_rows: int
    ) -> Iterator[Mapping[str, NDArray[Any]]]:
        source, hint = self._dataset_source(name)
        return read_batches(source, columns, batch_rows, name=name, hint=hint, cache=self._cache())

    def dataset_rows(self, name: str) -> int | None:
        source, hint = self._dataset_source(name)
        return dataset_rows(source, hint)
