"""``RecordedPrometheus``: a Prometheus-compatible HTTP server that answers from recorded series.

A real server on ``127.0.0.1`` (an ephemeral port), for tests of anything that pulls KPIs
over Prometheus' HTTP API. It does not parse PromQL: a query is looked up by its text
(whitespace-normalized), and answers with the series recorded for it::

    with RecordedPrometheus() as prom:
        prom.record('sum(rate(errors[5m]))', [(t0, 0.004), (t0 + 1 min, 0.006)])
        prom.record('up', [(t0, 1.0)], labels={"job": "api"})   # a second series is another call
        url = prom.url                                          # http://127.0.0.1:PORT
        ...
        prom.requests                                           # what was asked, in order

Answers follow Prometheus' evaluation rules, so a client written against it works against
the real one: ``/api/v1/query_range`` evaluates every series at ``start``, ``start + step``,
... up to ``end``, each point the latest sample at or before that instant and no older than
``lookback`` (Prometheus' default: 5 minutes); ``/api/v1/query`` does the same at ``time``
(default: ``now`` given to the constructor; with neither, a 400, as the recorded server has
no clock of its own). Both accept GET and form-encoded POST, and RFC 3339 or Unix
times. A query nobody recorded has an empty result, as a selector matching nothing does.
``fail(query, status, message)`` makes a query answer with an error, as a bad query or an
overloaded server does.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

LOOKBACK = dt.timedelta(minutes=5)
MAX_POINTS = 11_000  # Prometheus refuses a range query with more points per series


@dataclass(frozen=True)
class Series:
    """One recorded series: its labels and its samples (time, value), in time order."""

    labels: Mapping[str, str]
    samples: tuple[tuple[float, float], ...]

    def at(self, t: float, lookback: float) -> float | None:
        """The latest sample at or before ``t``, unless older than ``lookback`` seconds."""
        found = None
        for when, value in self.samples:
            if when > t:
                break
            found = (when, value)
        if found is None or t - found[0] > lookback:
            return None
        return found[1]


@dataclass(frozen=True)
class Failure:
    status: int
    error_type: str
    message: str


@dataclass(frozen=True)
class Asked:
    """One request the server received: the path, its parameters (last value of each) and
    its headers (names in lower case)."""

    path: str
    params: Mapping[str, str]
    headers: Mapping[str, str] = field(default_factory=dict)


def normalize(query: str) -> str:
    return re.sub(r"\s+", " ", query).strip()


def _seconds(when: dt.datetime | float) -> float:
    if isinstance(when, dt.datetime):
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        return when.timestamp()
    return float(when)


def _parse_time(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return _seconds(dt.datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        raise ValueError(f"cannot parse {text!r} to a valid timestamp") from None


def _parse_step(text: str) -> float:
    match = re.fullmatch(r"([0-9.]+)(ms|s|m|h|d)?", text)
    if match is None:
        raise ValueError(f"cannot parse {text!r} to a valid duration")
    unit = {"ms": 0.001, "s": 1, None: 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
    return float(match.group(1)) * unit


def _text(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


@dataclass
class _Recordings:
    series: dict[str, list[Series]] = field(default_factory=dict)
    failures: dict[str, Failure] = field(default_factory=dict)
    requests: list[Asked] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class RecordedPrometheus:
    """Start with ``with`` (or ``start()`` / ``close()``); ``url`` is its base address."""

    def __init__(
        self,
        *,
        lookback: dt.timedelta = LOOKBACK,
        now: dt.datetime | None = None,
    ) -> None:
        self.lookback = lookback
        self.now = now  # what an instant query without ``time`` evaluates at
        self._rec = _Recordings()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # recording ------------------------------------------------------------------------------
    def record(
        self,
        query: str,
        samples: Iterable[tuple[dt.datetime | float, float]],
        *,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        """Add one series to what ``query`` answers (times: datetimes, naive ones UTC, or
        Unix seconds)."""
        points = tuple(sorted((_seconds(t), float(v)) for t, v in samples))
        with self._rec.lock:
            self._rec.series.setdefault(normalize(query), []).append(
                Series(dict(labels or {}), points)
            )

    def clear(self, query: str | None = None) -> None:
        """Forget what ``query`` (or every query) answers, failures included."""
        with self._rec.lock:
            if query is None:
                self._rec.series.clear()
                self._rec.failures.clear()
            else:
                self._rec.series.pop(normalize(query), None)
                self._rec.failures.pop(normalize(query), None)

    def fail(
        self,
        query: str,
        status: int = 400,
        message: str = "bad query",
        error_type: str = "bad_data",
    ) -> None:
        """Make ``query`` answer with Prometheus' error body and ``status``."""
        with self._rec.lock:
            self._rec.failures[normalize(query)] = Failure(status, error_type, message)

    @property
    def requests(self) -> list[Asked]:
        with self._rec.lock:
            return list(self._rec.requests)

    # serving --------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the server is not started: use `with RecordedPrometheus()`")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> RecordedPrometheus:
        handler = type("Handler", (_Handler,), {"owner": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> RecordedPrometheus:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # answering ------------------------------------------------------------------------------
    def answer(
        self, path: str, params: Mapping[str, str], headers: Mapping[str, str] | None = None
    ) -> tuple[int, dict[str, Any]]:
        """The status and JSON body for one request (what the HTTP handler sends)."""
        with self._rec.lock:
            self._rec.requests.append(Asked(path, dict(params), dict(headers or {})))
            query = normalize(params.get("query", ""))
            failure = self._rec.failures.get(query)
            series = list(self._rec.series.get(query, []))
        if path not in ("/api/v1/query", "/api/v1/query_range"):
            return 404, _error("not_found", f"no endpoint {path}")
        if not query:
            return 400, _error("bad_data", 'invalid parameter "query": no query given')
        if failure is not None:
            return failure.status, _error(failure.error_type, failure.message)
        try:
            if path == "/api/v1/query":
                return 200, self._instant(series, params)
            return 200, self._range(series, params)
        except ValueError as exc:
            return 400, _error("bad_data", str(exc))

    def _instant(self, series: list[Series], params: Mapping[str, str]) -> dict[str, Any]:
        if "time" in params:
            t = _parse_time(params["time"])
        elif self.now is not None:
            t = _seconds(self.now)
        else:
            raise ValueError(
                'invalid parameter "time": a recorded server has no clock of its own; '
                "give time= or RecordedPrometheus(now=...)"
            )
        lookback = self.lookback.total_seconds()
        result = [
            {"metric": dict(s.labels), "value": [t, _text(v)]}
            for s in series
            if (v := s.at(t, lookback)) is not None
        ]
        return {"status": "success", "data": {"resultType": "vector", "result": result}}

    def _range(self, series: list[Series], params: Mapping[str, str]) -> dict[str, Any]:
        for name in ("start", "end", "step"):
            if name not in params:
                raise ValueError(f'invalid parameter "{name}": missing')
        start, end = _parse_time(params["start"]), _parse_time(params["end"])
        step = _parse_step(params["step"])
        if end < start:
            raise ValueError('invalid parameter "end": end timestamp must not be before start')
        if step <= 0:
            raise ValueError(
                'invalid parameter "step": zero or negative query resolution step widths are '
                "not accepted. Try a positive integer"
            )
        if (end - start) / step > MAX_POINTS:
            raise ValueError(
                "exceeded maximum resolution of 11,000 points per timeseries. "
                "Try decreasing the query resolution (?step=XX)"
            )
        count = int((end - start) // step) + 1
        instants = [start + i * step for i in range(count)]
        lookback = self.lookback.total_seconds()
        result = []
        for s in series:
            values = [[t, _text(v)] for t in instants if (v := s.at(t, lookback)) is not None]
            if values:
                result.append({"metric": dict(s.labels), "values": values})
        return {"status": "success", "data": {"resultType": "matrix", "result": result}}


def _error(error_type: str, message: str) -> dict[str, Any]:
    return {"status": "error", "errorType": error_type, "error": message}


class _Handler(BaseHTTPRequestHandler):
    owner: RecordedPrometheus

    def do_GET(self) -> None:
        split = urlsplit(self.path)
        self._reply(split.path, parse_qs(split.query))

    def do_POST(self) -> None:
        split = urlsplit(self.path)
        length = min(int(self.headers.get("Content-Length") or 0), 1_000_000)
        body = self.rfile.read(length).decode("utf-8", "replace")
        params = parse_qs(split.query)
        params.update(parse_qs(body))
        self._reply(split.path, params)

    def _reply(self, path: str, raw: Mapping[str, list[str]]) -> None:
        params = {k: v[-1] for k, v in raw.items()}
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, body = self.owner.answer(path, params, headers)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read ``requests`` instead."""
