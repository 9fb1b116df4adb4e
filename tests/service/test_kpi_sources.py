"""``PrometheusSource`` against real HTTP servers: the recorded Prometheus, one that never
answers, and one that is not Prometheus; and ``prometheus.yaml`` as a user writes it."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from clearance.adapters.prometheus import PrometheusSource
from clearance.service.kpi_sources import (
    KpiSourceError,
    PrometheusSettings,
    PrometheusSettingsError,
    load_prometheus_settings,
)
from clearance.testing.prometheus import RecordedPrometheus

T0 = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
Q = 'sum(rate(errors_total{track="canary"}[5m]))'


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def source(url: str, **settings: Any) -> PrometheusSource:
    return PrometheusSource(PrometheusSettings(url=url, **settings), environ={"TOKEN": "s3cret"})


@pytest.fixture
def prom() -> Iterator[RecordedPrometheus]:
    with RecordedPrometheus() as server:
        yield server


def test_a_range_is_evaluated_at_each_step_with_prometheus_lookback(
    prom: RecordedPrometheus,
) -> None:
    prom.record(Q, [(at(0), 0.001), (at(2), 0.002), (at(3), float("nan")), (at(20), 0.003)])
    got = source(prom.url).series(Q, start=at(0), end=at(10), step=dt.timedelta(minutes=1))
    # from minute 3 on the NaN stands (a ratio over no traffic): no readings, and it stands
    # until minute 20, past the end
    assert got.points == ((at(0), 0.001), (at(1), 0.001), (at(2), 0.002))
    assert got.latest() == (at(2), 0.002)
    asked = prom.requests[-1]
    assert asked.path == "/api/v1/query_range"
    assert asked.params == {
        "query": Q,
        "start": f"{at(0).timestamp():.3f}",
        "end": f"{at(10).timestamp():.3f}",
        "step": "60",
    }
    assert source(prom.url).series("up", start=at(0), end=at(1)).points == ()


def test_an_instant_value_and_nothing_for_a_query_that_matches_nothing(
    prom: RecordedPrometheus,
) -> None:
    prom.record(Q, [(at(0), 0.004)])
    assert source(prom.url).value(Q, at=at(4)) == 0.004
    assert source(prom.url).value(Q, at=at(6)) is None  # older than the 5-minute lookback
    assert source(prom.url).value("absent_metric", at=at(0)) is None


def test_a_bearer_token_is_read_from_the_variable_the_settings_name(
    prom: RecordedPrometheus,
) -> None:
    source(prom.url, bearer_token_env="TOKEN").value(Q, at=at(0))
    assert prom.requests[-1].headers["authorization"] == "Bearer s3cret"
    with pytest.raises(KpiSourceError, match="bearer_token_env MISSING, but that variable"):
        source(prom.url, bearer_token_env="MISSING")


def test_more_than_one_series_is_refused_with_what_to_do(prom: RecordedPrometheus) -> None:
    prom.record(Q, [(at(0), 1.0)], labels={"pod": "a"})
    prom.record(Q, [(at(0), 2.0)], labels={"pod": "b"})
    with pytest.raises(KpiSourceError, match=r"returned 2 series; .* aggregate it, e.g. sum"):
        source(prom.url).value(Q, at=at(0))


def test_an_error_from_prometheus_names_the_server_the_query_and_the_reason(
    prom: RecordedPrometheus,
) -> None:
    prom.fail(Q, 503, "query queue full", "unavailable")
    with pytest.raises(KpiSourceError) as err:
        source(prom.url).series(Q, start=at(0), end=at(5))
    assert str(err.value) == (
        f"Prometheus at {prom.url} refused {Q!r} (HTTP 503): unavailable: query queue full"
    )
    with pytest.raises(
        KpiSourceError, match=r"in steps of 0:01:00 is more than 11000 points; use a longer step"
    ):
        source(prom.url).series(Q, start=at(0), end=at(0) + dt.timedelta(days=30))


def test_an_answer_over_the_size_limit_is_refused(prom: RecordedPrometheus) -> None:
    prom.record(Q, [(at(i), 0.001 * i) for i in range(600)])
    small = source(prom.url, max_response_bytes=4096)
    with pytest.raises(KpiSourceError, match=r"more than max_response_bytes \(4096; at least"):
        small.series(Q, start=at(0), end=at(599))
    assert len(source(prom.url).series(Q, start=at(0), end=at(599)).points) == 600


@pytest.fixture
def silent() -> Iterator[str]:
    """A server that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


def test_a_server_that_does_not_answer_in_time_or_cannot_be_reached(silent: str) -> None:
    with pytest.raises(KpiSourceError, match=r"did not answer 'up' within 0.2 s"):
        source(silent, timeout_s=0.2).value("up", at=at(0))
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    with pytest.raises(KpiSourceError, match=f"cannot reach Prometheus at http://127.0.0.1:{port}"):
        source(f"http://127.0.0.1:{port}").value("up", at=at(0))


class _Html(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))  # see _Odd
        body = b"<html>login</html>"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_a_server_that_is_not_prometheus_is_named() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Html)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with pytest.raises(KpiSourceError, match="not JSON \\(is the URL the Prometheus API\\?\\)"):
            source(url).value("up", at=at(0))
    finally:
        server.shutdown()
        server.server_close()


def test_prometheus_yaml_is_checked_with_lines_and_fields(tmp_path: Path) -> None:
    file = tmp_path / "prometheus.yaml"
    assert load_prometheus_settings(file) is None
    file.write_text("url: http://prom:9090/\nstep: 30s\ntimeout: 5\n")
    with pytest.raises(PrometheusSettingsError) as err:
        load_prometheus_settings(file)
    assert [str(p) for p in err.value.problems] == [
        f"{file}:2:7: error: step: String should match pattern '^[0-9]+[mhdw]$' (got '30s')",
        f"{file}:3:1: error: timeout: unknown field; check its spelling against "
        "`clearance policy schema`",
    ]
    file.write_text("url: https://user:pw@prom:9090\n")
    with pytest.raises(PrometheusSettingsError, match="holds a password"):
        load_prometheus_settings(file)
    file.write_text("url: http://prom:9090/\nstep: 0m\n")
    with pytest.raises(PrometheusSettingsError, match="longer than 0"):
        load_prometheus_settings(file)
    file.write_text("url: http://prom:9090/\nmax_response_bytes: 65536\n")
    settings = load_prometheus_settings(file)
    assert settings is not None
    assert (settings.url, settings.resolution, settings.max_response_bytes) == (
        "http://prom:9090",
        dt.timedelta(minutes=1),
        65536,
    )


def test_the_recorded_server_answers_get_and_refuses_what_prometheus_refuses(
    prom: RecordedPrometheus,
) -> None:
    prom.record("up", [(at(0), 1.0)], labels={"job": "api"})
    got = httpx.get(
        f"{prom.url}/api/v1/query_range",
        params={"query": " up ", "start": "2026-06-01T12:00:00Z", "end": at(1).timestamp(),
                "step": "30s"},
    )  # fmt: skip
    assert got.status_code == 200
    assert got.json()["data"] == {
        "resultType": "matrix",
        "result": [
            {
                "metric": {"job": "api"},
                "values": [
                    [at(0).timestamp(), "1.0"],
                    [at(0.5).timestamp(), "1.0"],
                    [at(1).timestamp(), "1.0"],
                ],
            }
        ],
    }
    refused = {
        "/api/v1/query_range?query=up&start=0&end=60": 400,  # no step
        "/api/v1/query_range?query=up&start=60&end=0&step=1": 400,
        "/api/v1/query?query=up": 400,  # no time, and the server has no clock
        "/api/v1/query?time=0": 400,  # no query
        "/api/v1/series?match[]=up": 404,
    }
    for path, status in refused.items():
        answer = httpx.get(prom.url + path)
        assert (answer.status_code, answer.json()["status"]) == (status, "error"), path
    prom.clear()
    assert httpx.get(f"{prom.url}/api/v1/query?query=up&time=0").json()["data"]["result"] == []


class _Odd(BaseHTTPRequestHandler):
    """JSON nested past Python's stack, or (``NESTED["on"]`` false) one byte every 50 ms."""

    def do_POST(self) -> None:
        # read the query first: closing with it unread would reset the connection
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if NESTED["on"]:
            body = b"[" * 200_000
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        for _ in range(1000):
            self.wfile.write(b" ")
            self.wfile.flush()
            time.sleep(0.05)

    def log_message(self, *args: Any) -> None:
        pass


NESTED = {"on": True}


def test_a_hostile_answer_is_a_source_error_never_another_exception() -> None:
    """JSON nested past the stack (a RecursionError in the parser) and a server that trickles
    its answer a byte at a time (each read within the timeout, the whole past it) are both
    KpiSourceErrors, which the tick reports per model and carries on after."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Odd)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        NESTED["on"] = True
        with pytest.raises(KpiSourceError, match="not JSON"):
            source(url).value("up", at=at(0))
        NESTED["on"] = False
        started = time.monotonic()
        with pytest.raises(KpiSourceError, match=r"did not answer 'up' within 0.3 s"):
            source(url, timeout_s=0.3).value("up", at=at(0))
        assert time.monotonic() - started < 3
    finally:
        server.shutdown()
        server.server_close()
