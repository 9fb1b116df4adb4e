"""``PrometheusSource``: KPI series from Prometheus' HTTP API (``/api/v1/query_range`` and
``/api/v1/query``), or anything that speaks it (Thanos, Mimir, VictoriaMetrics).

Queries go as form-encoded POSTs (long PromQL does not fit every URL). Every request has a
timeout; an answer larger than ``max_response_bytes`` is refused while it streams in, never
read whole. A KPI is one number per instant, so a query must return at most one series
(aggregate it: ``sum(...)``, ``max(...)``); points that are not finite numbers (``NaN``
from a ratio over no traffic) are left out, as no reading. Every failure is a
``KpiSourceError`` that names the server and the query.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import time
from collections.abc import Mapping
from typing import Any

import httpx

from clearance.service.kpi_sources import MAX_POINTS, KpiSeries, KpiSourceError, PrometheusSettings

_SHOWN = 120  # characters of a query quoted in a message


def _quoted(query: str) -> str:
    return repr(query if len(query) <= _SHOWN else query[:_SHOWN] + "…")


def _time(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


class PrometheusSource:
    """A ``KpiSource`` over one Prometheus server, as ``prometheus.yaml`` describes it."""

    def __init__(
        self,
        settings: PrometheusSettings,
        *,
        environ: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings
        env = os.environ if environ is None else environ
        self._headers = {"Accept": "application/json"}
        if settings.bearer_token_env is not None:
            token = env.get(settings.bearer_token_env)
            if not token:
                raise KpiSourceError(
                    f"prometheus.yaml names bearer_token_env {settings.bearer_token_env}, "
                    "but that variable is not set"
                )
            self._headers["Authorization"] = f"Bearer {token}"
        self._transport = transport

    @property
    def resolution(self) -> dt.timedelta:
        return self.settings.resolution

    def series(
        self, query: str, *, start: dt.datetime, end: dt.datetime, step: dt.timedelta | None = None
    ) -> KpiSeries:
        step = step or self.resolution
        if step <= dt.timedelta() or end < start:
            raise KpiSourceError(f"cannot ask for {start} to {end} in steps of {step}")
        if (end - start) / step > MAX_POINTS:
            raise KpiSourceError(
                f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} in steps of {step} is more "
                f"than {MAX_POINTS} points; use a longer step in prometheus.yaml"
            )
        data = self._ask(
            "/api/v1/query_range",
            query,
            {
                "start": f"{start.timestamp():.3f}",
                "end": f"{end.timestamp():.3f}",
                "step": f"{step.total_seconds():g}",
            },
        )
        if data.get("resultType") != "matrix":
            raise self._odd(query, f"a {data.get('resultType')!r} result, not a range of values")
        one = self._one_series(query, data.get("result"))
        values = [] if one is None else one.get("values")
        if not isinstance(values, list):
            raise self._odd(query, "a series without values")
        return KpiSeries(query, tuple(p for v in values if (p := self._point(query, v))))

    def value(self, query: str, *, at: dt.datetime) -> float | None:
        data = self._ask("/api/v1/query", query, {"time": f"{at.timestamp():.3f}"})
        kind = data.get("resultType")
        if kind == "scalar":
            point = self._point(query, data.get("result"))
        elif kind == "vector":
            one = self._one_series(query, data.get("result"))
            point = None if one is None else self._point(query, one.get("value"))
        else:
            raise self._odd(query, f"a {kind!r} result, not a single value")
        return None if point is None else point[1]

    # the HTTP exchange --------------------------------------------------------------------
    def _ask(self, path: str, query: str, params: dict[str, str]) -> dict[str, Any]:
        url = self.settings.url + path
        where = f"Prometheus at {self.settings.url}"
        try:
            with (
                httpx.Client(timeout=self.settings.timeout_s, transport=self._transport) as client,
                client.stream(
                    "POST", url, data={"query": query, **params}, headers=self._headers
                ) as response,
            ):
                body = self._bounded(response)
                status = response.status_code
        except httpx.TimeoutException:
            raise KpiSourceError(
                f"{where} did not answer {_quoted(query)} within {self.settings.timeout_s:g} s"
            ) from None
        except httpx.HTTPError as exc:
            raise KpiSourceError(f"cannot reach {where}: {exc}") from None
        try:
            answer = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):  # [[[[... nests past the stack
            raise KpiSourceError(
                f"{where} answered HTTP {status} with a body that is not JSON"
                + (" (is the URL the Prometheus API?)" if status < 400 else "")
            ) from None
        if not isinstance(answer, dict):
            raise self._odd(query, "JSON that is not an object")
        if answer.get("status") != "success":
            kind = answer.get("errorType", "error")
            error = str(answer.get("error", "no reason given"))[:500]
            raise KpiSourceError(
                f"{where} refused {_quoted(query)} (HTTP {status}): {kind}: {error}"
            )
        data = answer.get("data")
        if not isinstance(data, dict):
            raise self._odd(query, "an answer without data")
        return data

    def _bounded(self, response: httpx.Response) -> bytes:
        limit = self.settings.max_response_bytes
        declared = response.headers.get("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise self._too_large(int(declared))
        chunks, size = [], 0
        # the timeout bounds each read; a server trickling bytes is held to it in all
        deadline = time.monotonic() + self.settings.timeout_s
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limit:
                raise self._too_large(size)
            if time.monotonic() > deadline:
                raise httpx.ReadTimeout(
                    f"the answer took longer than {self.settings.timeout_s:g} s"
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, size: int) -> KpiSourceError:
        return KpiSourceError(
            f"Prometheus at {self.settings.url} answered more than "
            f"max_response_bytes ({self.settings.max_response_bytes}; at least {size}): "
            "aggregate the query or shorten the window"
        )

    # reading the answer ------------------------------------------------------------------
    def _odd(self, query: str, what: str) -> KpiSourceError:
        return KpiSourceError(
            f"Prometheus at {self.settings.url} answered {_quoted(query)} with {what}"
        )

    def _one_series(self, query: str, result: Any) -> dict[str, Any] | None:
        if not isinstance(result, list):
            raise self._odd(query, "a result that is not a list")
        if len(result) > 1:
            raise KpiSourceError(
                f"{_quoted(query)} returned {len(result)} series; a KPI needs one number per "
                "instant: aggregate it, e.g. sum(...) or max(...)"
            )
        if not result:
            return None
        if not isinstance(result[0], dict):
            raise self._odd(query, "a series that is not an object")
        return result[0]

    def _point(self, query: str, pair: Any) -> tuple[dt.datetime, float] | None:
        if not (isinstance(pair, list) and len(pair) == 2):
            raise self._odd(query, f"a point that is not [time, value]: {str(pair)[:80]}")
        try:
            at, value = float(pair[0]), float(pair[1])
        except (TypeError, ValueError):
            raise self._odd(query, f"a point that is not numbers: {str(pair)[:80]}") from None
        if not math.isfinite(value):
            return None
        try:
            return _time(at), value
        except (OverflowError, OSError, ValueError):
            raise self._odd(query, f"a point at an impossible time: {str(pair)[:80]}") from None
