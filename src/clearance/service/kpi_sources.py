"""Where KPI readings are pulled from: the ``KpiSource`` port and the workspace's settings.

A canary's KPIs arrive two ways: pushed (``clearance rollout observe``, the API) or pulled
by ``tick`` from a metrics system, today Prometheus (``adapters.prometheus``). Monitors pull
through the same port. A source answers a query with one ``KpiSeries`` (time-ordered points)
or raises ``KpiSourceError`` with a message that says what to fix.

The workspace's Prometheus is ``.clearance/prometheus.yaml``; its presence turns pulling on::

    url: http://prometheus.internal:9090   # the server (or a Thanos / Mimir query frontend)
    timeout_s: 10                          # per request, connecting included
    max_response_bytes: 8388608            # a bigger answer is refused, not read
    step: 1m                               # resolution of range queries
    bearer_token_env: PROMETHEUS_TOKEN     # optional: the variable holding a bearer token

Secrets never live in the file: a token is read from the variable it names.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Protocol
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from clearance.core.durations import Duration, parse_duration
from clearance.core.loading import pydantic_problems
from clearance.core.yamlsource import Positions, YamlProblems, parse_yaml
from clearance.errors import ClearanceError, InputError, Location, Problem

FILE_NAME = "prometheus.yaml"
MAX_FILE_BYTES = 64 * 1024
MAX_POINTS = 11_000  # what Prometheus itself answers at most per series of a range query


@dataclass(frozen=True)
class KpiSeries:
    """What a query returned: (time, value) points in time order; empty when nothing matched."""

    query: str
    points: tuple[tuple[dt.datetime, float], ...]

    def latest(self) -> tuple[dt.datetime, float] | None:
        return self.points[-1] if self.points else None


class KpiSourceError(ClearanceError):
    """A KPI source could not answer: unreachable, too slow, too large an answer, an error
    from the server, or an answer that is not one series of numbers."""


class KpiSource(Protocol):
    """A metrics system that answers KPI queries."""

    @property
    def resolution(self) -> dt.timedelta:
        """The step of range queries when the caller names none."""
        ...

    def series(
        self, query: str, *, start: dt.datetime, end: dt.datetime, step: dt.timedelta | None = None
    ) -> KpiSeries:
        """The query evaluated at ``start``, ``start + step``, ... up to ``end``."""
        ...

    def value(self, query: str, *, at: dt.datetime) -> float | None:
        """The query evaluated at ``at``; None when it matched nothing."""
        ...


class PrometheusSettingsError(InputError):
    """``prometheus.yaml`` is invalid; carries located problems."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class PrometheusSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(description="Base URL of the Prometheus HTTP API, e.g. http://prom:9090.")
    timeout_s: Annotated[float, Field(gt=0, le=300)] = 10.0
    max_response_bytes: Annotated[int, Field(ge=1024, le=1024**3)] = 8 * 1024 * 1024
    step: Duration = "1m"
    bearer_token_env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] | None = None

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL like http://prometheus:9090")
        if parts.password is not None:
            raise ValueError("holds a password: name a variable in bearer_token_env instead")
        return value.rstrip("/")

    @field_validator("step")
    @classmethod
    def _positive(cls, value: str) -> str:
        if parse_duration(value) <= dt.timedelta():
            raise ValueError("the step of range queries must be longer than 0")
        return value

    @property
    def resolution(self) -> dt.timedelta:
        return parse_duration(self.step)


def parse_prometheus_settings(
    data: Any, *, positions: Positions | None = None
) -> PrometheusSettings:
    positions = positions or Positions(f"<{FILE_NAME}>")
    try:
        return PrometheusSettings.model_validate({} if data is None else data)
    except ValidationError as exc:
        raise PrometheusSettingsError(pydantic_problems(exc, positions)) from None


def load_prometheus_settings(path: Path | str) -> PrometheusSettings | None:
    """The settings in ``path``; None when there is no such file (nothing is pulled)."""
    file = Path(path)
    try:
        with file.open("rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        problem = Problem(Location(str(file)), "", f"cannot read: {exc}")
        raise PrometheusSettingsError([problem]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise PrometheusSettingsError(
            [Problem(Location(str(file)), "", f"larger than {MAX_FILE_BYTES} bytes")]
        )
    try:
        data, positions = parse_yaml(raw.decode("utf-8"), str(file))
    except UnicodeDecodeError as exc:
        raise PrometheusSettingsError(
            [Problem(Location(str(file)), "", f"not UTF-8: {exc.reason}")]
        ) from None
    except YamlProblems as exc:
        raise PrometheusSettingsError(exc.problems) from None
    return parse_prometheus_settings(data, positions=positions)
