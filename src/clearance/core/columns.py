"""Columns read from a dataset, and the column mapping that names their roles.

A dataset (evaluation, reference or champion-prediction table) is evidence like any other; a
gate never opens it, it asks the ``EvidenceReader`` for the columns it needs
(``read_columns(name, columns)``) and gets plain numpy arrays back:

* floating-point columns: ``float64``/``float32`` with **NaN for nulls**;
* integer, boolean, temporal columns: their numpy dtype, plus a boolean **null mask** in
  ``Columns.nulls[name]`` (True = null) when the column has nulls (null slots hold 0 / NaT);
* string and dictionary (categorical) columns: ``int64`` **codes** (``-1`` = null) into the
  sorted category list ``Columns.categories[name]``.

Readers return a :class:`Columns` (a ``dict`` with that metadata); the port's type is just
``Mapping[str, ndarray]`` so that a test fake may return a plain dict.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray


class Columns(dict[str, "NDArray[Any]"]):
    """name -> 1-D array, with null masks, category lists, the file's schema and row count."""

    def __init__(
        self,
        data: Mapping[str, NDArray[Any]] | None = None,
        *,
        nulls: Mapping[str, NDArray[np.bool_]] | None = None,
        categories: Mapping[str, list[Any]] | None = None,
        schema: Mapping[str, str] | None = None,
        num_rows: int | None = None,
    ) -> None:
        super().__init__(data or {})
        self.nulls: dict[str, NDArray[np.bool_]] = dict(nulls or {})
        self.categories: dict[str, list[Any]] = dict(categories or {})
        self.schema: dict[str, str] = dict(schema or {})
        first = next(iter(self.values()), None)
        self.num_rows: int = (
            num_rows if num_rows is not None else (0 if first is None else int(first.shape[0]))
        )


def null_mask_of(columns: Mapping[str, NDArray[Any]], name: str) -> NDArray[np.bool_] | None:
    """The reader's null mask of ``name`` (None for a plain mapping or a column without one)."""
    return columns.nulls.get(name) if isinstance(columns, Columns) else None


def categories_of(columns: Mapping[str, NDArray[Any]], name: str) -> list[Any] | None:
    """The category list of ``name`` when the reader returned it as codes, else None."""
    return columns.categories.get(name) if isinstance(columns, Columns) else None


def schema_of(columns: Mapping[str, NDArray[Any]]) -> dict[str, str]:
    return dict(columns.schema) if isinstance(columns, Columns) else {}


def decoded(columns: Mapping[str, NDArray[Any]], name: str) -> NDArray[Any]:
    """Column ``name`` as values: categorical codes mapped back to labels (None for null)."""
    values = columns[name]
    cats = categories_of(columns, name)
    if cats is None:
        return values
    import numpy as np  # a reader that returned codes has numpy

    table = np.array([*cats, None], dtype=object)
    out: NDArray[Any] = table[np.where(values < 0, len(cats), values)]
    return out


@runtime_checkable
class BatchReader(Protocol):
    """Optional reader capability: stream a dataset's columns in record batches.

    Gates whose statistics are sums over rows (data quality, fairness) use it when present,
    so that a file larger than memory is read batch by batch.
    """

    def read_batches(
        self, name: str, columns: Sequence[str], batch_rows: int
    ) -> Iterator[Mapping[str, NDArray[Any]]]: ...

    def dataset_rows(self, name: str) -> int | None: ...


@runtime_checkable
class ArtifactReader(Protocol):
    """Optional reader capability: the artifact's bytes (the ``latency`` gate's measure mode)."""

    def read_artifact(self) -> bytes: ...
