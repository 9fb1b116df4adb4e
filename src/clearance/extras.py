"""Optional dependencies: which extra brings which library, and the one message for a missing one.

``pip install clearance`` is the CLI, ``check``, the SQLite registry and the SDK. The
statistical gates, the HTTP server, PostgreSQL and MLflow each come with an extra
(``clearance[data]``, ``[server]``, ``[postgres]``, ``[mlflow]``). Code that needs one imports
its libraries through :func:`require` or :func:`lazy`, or turns an ``ImportError`` into
:class:`MissingExtra` with :func:`missing_extra`, so every such failure names the command
that fixes it in the same words.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from clearance.errors import InputError

EXTRA_OF: dict[str, str] = {
    # top-level module -> the extra that installs it
    "numpy": "data",
    "scipy": "data",
    "numba": "data",
    "llvmlite": "data",
    "pyarrow": "data",
    "fastapi": "server",
    "starlette": "server",
    "uvicorn": "server",
    "multipart": "server",
    "python_multipart": "server",
    "prometheus_client": "server",
    "psycopg": "postgres",
    "psycopg_binary": "postgres",
    "mlflow": "mlflow",
    "sklearn": "demo",
    "duckdb": "duckdb",  # datasets read where they live (clearance.adapters.warehouse)
    "pyspark": "spark",
    "py4j": "spark",
}


class MissingExtra(InputError):
    """A feature needs a library that an extra installs, and it is not installed."""

    def __init__(self, feature: str, module: str, extra: str) -> None:
        self.feature, self.module, self.extra = feature, module, extra
        super().__init__(
            f"{feature} needs {module}, which is not installed: pip install 'clearance[{extra}]'"
        )


def missing_extra(exc: ImportError | MissingExtra, feature: str) -> MissingExtra | None:
    """The :class:`MissingExtra` an ``ImportError`` means, or None if no extra brings it.

    An error inside an installed library (a broken build, a version clash) names a module no
    extra brings, or none at all, and stays what it is: reinstalling would not fix it.
    """
    if isinstance(exc, MissingExtra):  # said again for this caller's feature
        return MissingExtra(feature, exc.module, exc.extra)
    name = exc.name or ""
    top = name.partition(".")[0]
    extra = EXTRA_OF.get(top)
    return None if extra is None else MissingExtra(feature, top, extra)


def require(module: str, feature: str) -> ModuleType:
    """Import ``module``; if an extra's library is missing, raise :class:`MissingExtra`."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing = missing_extra(exc, feature)
        if missing is None:
            raise
        raise missing from None


class _Lazy(ModuleType):
    """A module imported on first attribute use; until then nothing of it is loaded."""

    def __init__(self, module: str, feature: str) -> None:
        super().__init__(module)
        self._clearance_feature = feature

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") or attr == "_clearance_feature":
            raise AttributeError(attr)
        value = getattr(require(self.__name__, self._clearance_feature), attr)
        setattr(self, attr, value)  # later uses are plain attribute reads
        return value


def lazy(module: str, feature: str) -> Any:
    """``module``, imported when an attribute of it is first read (see :func:`require`).

    For modules that only some calls need (numpy in the gates that also run on reported
    metrics alone): ``import`` of the caller stays cheap and works without the extra.
    Declare the real import under ``TYPE_CHECKING`` so the type checker sees the module.
    """
    return _Lazy(module, feature)
