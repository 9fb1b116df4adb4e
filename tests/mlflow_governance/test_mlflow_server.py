"""End to end through a real ``mlflow server`` on loopback, with its registry webhooks.

A model is trained and registered in MLflow over HTTP, registered in clearance from there,
promoted to production (``@champion`` moves in MLflow), and then moved by hand in MLflow:
MLflow's webhook reaches clearance's receiver, signed with the shared secret, and clearance
records the ungoverned change, raises the non-compliance alert and moves ``@champion`` back,
within seconds. The receiver is a small HTTP server calling the same ``receive`` use case
the API's route calls.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from mlflow_env import SECRET, MlflowEnv, mlflow_store, require_mlflow, setup_workspace

require_mlflow()
pytestmark = pytest.mark.slow  # a real `mlflow server` takes ~25 s to start: CI runs it

import mlflow  # noqa: E402
import pandas as pd  # noqa: E402
from mlflow import MlflowClient  # noqa: E402

from clearance.adapters.clock import SystemClock  # noqa: E402
from clearance.adapters.mlflow import MlflowRegistry  # noqa: E402
from clearance.errors import ClearanceError  # noqa: E402
from clearance.service.mlflow_settings import MlflowSettings  # noqa: E402
from clearance.workspace import init_workspace  # noqa: E402

NAME = "credit"
EVENTS = [
    "model_version_alias.created",
    "model_version_alias.deleted",
    "model_version_tag.set",
    "model_version_tag.deleted",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(check: Any, what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, mlflow_db_template: Path) -> Iterator[str]:
    """``mlflow server`` on 127.0.0.1, SQLite store, artifacts served; its URL."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    env = {
        **os.environ,
        # the receiver is on loopback and speaks http: MLflow refuses both by default
        "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
        "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
        "MLFLOW_WEBHOOK_CACHE_TTL": "1",
    }
    command = [
        *(sys.executable, "-m", "mlflow", "server"),
        *("--backend-store-uri", mlflow_store(mlflow_db_template, root)),
        *("--artifacts-destination", str(root / "artifacts")),
        *("--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
    ]
    log = (root / "server.log").open("wb")
    process = subprocess.Popen(  # its own process group: its workers stop with it
        command, env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: _healthy(url, process, root / "server.log"), "mlflow server", timeout=120)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def _healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> bool:
    if process.poll() is not None:  # e.g. a server dependency missing: the log names it
        tail = log.read_text(errors="replace").strip().splitlines()[-5:]
        raise AssertionError(f"mlflow server exited with {process.returncode}: " + " | ".join(tail))
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _aliases(client: Any) -> dict[str, str]:
    """Over REST MLflow gives versions as text, from a SQLite store as numbers."""
    return {a: str(v) for a, v in client.get_registered_model(NAME).aliases.items()}


class Receiver:
    """clearance's webhook endpoint: POST body and headers to ``MlflowGovernance.receive``."""

    def __init__(self, menv: MlflowEnv) -> None:
        self.outcomes: list[Any] = []
        self.refused: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                try:
                    receiver.outcomes.append(menv.gov.receive(dict(self.headers), body))
                    status = 200
                except ClearanceError as exc:
                    receiver.refused.append(str(exc))
                    status = 401
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/mlflow/webhook"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


class Scorer(mlflow.pyfunc.PythonModel):
    def predict(self, context: Any, model_input: Any) -> Any:
        return model_input


def train_and_register(url: str, n: int) -> None:
    """What a training job does: log a run and register its model, over HTTP."""
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(url)
    frame = pd.DataFrame({"income": [1.0, 2.0], "utilization": [0.2, 0.4]})
    try:
        mlflow.set_experiment("credit")  # artifacts proxied to the server's destination
        with mlflow.start_run():
            train = mlflow.data.from_pandas(frame, source=f"s3://bank/{n}.parquet", name="loans")
            mlflow.log_input(train, context="training")
            mlflow.log_params({"lr": 0.1, "seed": 7 + n})
            mlflow.log_metric("auc", 0.8 + n / 100)
            mlflow.set_tag("mlflow.source.git.commit", f"{n:x}" * 40)
            mlflow.pyfunc.log_model(
                name="model",
                python_model=Scorer(),
                registered_model_name=NAME,
                pip_requirements=["mlflow"],
            )
    finally:
        mlflow.set_tracking_uri(previous)


def test_a_hand_moved_champion_is_alerted_and_moved_back_within_seconds(
    server: str, tmp_path: Path, record_property: Any
) -> None:
    # SQLite (the receiver's thread and the test share a real store) and the real clock
    # (MLflow signs its deliveries with the real time)
    ws = init_workspace(tmp_path / "ws", clock=SystemClock())
    setup_workspace(ws, tmp_path)
    settings = MlflowSettings(tracking_uri=server, revert=True)
    menv = MlflowEnv(ws, ws.clock, tmp_path, MlflowRegistry(server), settings)
    receiver = Receiver(menv)
    client = MlflowClient(tracking_uri=server)
    try:
        client.create_webhook(name="clearance", url=receiver.url, events=EVENTS, secret=SECRET)
        for n in (1, 2):
            train_and_register(server, n)

        out = menv.register(f"models:/{NAME}/1")
        assert out.sync is not None and out.sync.error is None
        assert client.get_model_version(NAME, "1").tags["clearance.stage"] == "draft"
        menv.promote("1", "staging")
        menv.promote("1", "production")
        menv.gov.after_move(NAME)
        assert _aliases(client) == {"champion": "1"}
        # clearance's own writes come back as deliveries too: signed, and nothing to flag
        _wait(lambda: receiver.outcomes, "the first signed delivery")
        assert receiver.refused == [] and menv.alerts() == []

        moved = time.monotonic()
        client.set_registered_model_alias(NAME, "champion", "2")  # by hand, in MLflow

        alert = _wait(menv.alerts, "the non-compliance alert")[0]
        seconds = time.monotonic() - moved
        record_property("alert_seconds", round(seconds, 2))  # in --junitxml reports
        assert (
            "@champion of MLflow model credit changed without a clearance decision"
            in (alert["summary"])
        )
        _wait(lambda: _aliases(client) == {"champion": "1"}, "@champion moved back")
        (event,) = menv.events("mlflow.ungoverned_change")
        assert (event.payload["found"], event.payload["expected"]) == ("2", "1")
        assert seconds < 30, f"the alert took {seconds:.1f} s"

        forged = httpx.post(receiver.url, content=b"{}", headers={"X-MLflow-Signature": "v1,x"})
        assert forged.status_code == 401
    finally:
        receiver.close()
