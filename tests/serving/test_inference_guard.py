"""The ASGI inference guard in front of a real FastAPI app served by uvicorn: 200 with the
body intact, 422 naming row and field, 403 for forbidden fields, 413 for a body too large
(declared or streamed in chunks), and the Prometheus metrics counting each outcome."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from prometheus_client import CollectorRegistry

from api_server import free_port
from clearance.core.inference import InferenceSpec
from clearance.serving import InferenceGuard
from serving_setup import INFERENCE

GOOD = {"age": 40, "income": 1200.0, "country": "FR"}


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def client(registry: CollectorRegistry) -> Iterator[httpx.Client]:
    app = FastAPI()

    @app.post("/predict")
    async def predict(request: Request) -> dict[str, Any]:
        body = await request.json()
        rows = body if isinstance(body, list) else body.get("instances", [body])
        return {"scores": [row["income"] * 0.001 for row in rows]}

    @app.post("/feedback")
    async def feedback(request: Request) -> dict[str, Any]:
        return {"bytes": len(await request.body())}

    @app.get("/predict")
    async def info() -> dict[str, str]:
        return {"model": "scorer"}

    spec = InferenceSpec.model_validate(INFERENCE)
    app.add_middleware(InferenceGuard, rules=spec, paths=["/predict"], registry=registry)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as made:
            yield made
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def count(registry: CollectorRegistry, outcome: str) -> float:
    value = registry.get_sample_value("clearance_inference_requests_total", {"outcome": outcome})
    return value or 0.0


def test_valid_requests_reach_the_app_unchanged(
    client: httpx.Client, registry: CollectorRegistry
) -> None:
    one = client.post("/predict", json=GOOD)
    assert one.status_code == 200 and one.json() == {"scores": [1.2]}
    batch = client.post("/predict", json={"instances": [GOOD, {**GOOD, "income": 0}]})
    assert batch.json() == {"scores": [1.2, 0.0]}
    assert client.get("/predict").json() == {"model": "scorer"}  # GET is not guarded
    assert client.post("/feedback", content=b"not json").json() == {"bytes": 8}  # nor others
    assert count(registry, "ok") == 2
    rows = registry.get_sample_value("clearance_inference_rows_total", {"outcome": "ok"})
    assert rows == 3
    assert registry.get_sample_value("clearance_inference_check_seconds_count") == 2


def test_invalid_input_is_422_with_the_fields(
    client: httpx.Client, registry: CollectorRegistry
) -> None:
    answer = client.post("/predict", json=[GOOD, {**GOOD, "age": 12, "country": "US"}])
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    doc = answer.json()
    assert doc["fields"] == ["age", "country"]
    assert doc["errors"] == [
        {"row": 1, "field": "age", "message": "12 is below the minimum 18"},
        {"row": 1, "field": "country", "message": "not one of the allowed values"},
    ]
    missing = client.post("/predict", json={"age": 30})
    assert missing.status_code == 422 and missing.json()["fields"] == ["country", "income"]
    broken = client.post("/predict", content=b"{nope", headers={"content-type": "application/json"})
    assert broken.status_code == 422 and "not JSON" in broken.json()["detail"]
    too_many = client.post("/predict", json=[GOOD] * 101)
    assert too_many.status_code == 422 and "at most 100" in too_many.json()["errors"][0]["message"]
    assert count(registry, "invalid") == 3 and count(registry, "malformed") == 1


def test_forbidden_fields_are_403(client: httpx.Client, registry: CollectorRegistry) -> None:
    answer = client.post("/predict", json={**GOOD, "email": "a@b.c", "age": 3})
    assert answer.status_code == 403
    doc = answer.json()
    assert doc["fields"] == ["email"] and "forbidden field(s): email" in doc["detail"]
    assert "a@b.c" not in answer.text  # the value is never echoed
    assert count(registry, "forbidden") == 1


def test_a_body_too_large_is_413_declared_or_streamed(
    client: httpx.Client, registry: CollectorRegistry
) -> None:
    big = json.dumps([{**GOOD, "note": "x" * 40}] * 2000).encode()
    assert len(big) > 65536
    declared = client.post("/predict", content=big, headers={"content-type": "application/json"})
    assert declared.status_code == 413

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(big), 4096):
            yield big[start : start + 4096]

    streamed = client.post("/predict", content=chunks())
    assert streamed.status_code == 413
    assert count(registry, "too_large") == 2


def test_forbidden_fields_beside_the_rows_or_nested_are_403(
    client: httpx.Client, registry: CollectorRegistry
) -> None:
    envelope = client.post("/predict", json={"instances": [{"income": 1}], "ssn": "123-45"})
    assert envelope.status_code == 403
    assert envelope.json()["errors"] == [
        {"row": None, "field": "ssn", "message": "forbidden field"}
    ]
    nested = client.post(
        "/predict",
        json={"instances": [GOOD] * 9 + [{**GOOD, "user": {"contacts": [{"email": "a@b.c"}]}}]},
    )
    assert nested.status_code == 403
    doc = nested.json()
    assert doc["fields"] == ["user.contacts[0].email"] and doc["errors"][0]["row"] == 9
    assert "user.contacts[0].email" in doc["detail"] and "a@b.c" not in nested.text
    params = client.post("/predict", json={"instances": [GOOD], "parameters": {"email": "x"}})
    assert params.status_code == 403 and params.json()["fields"] == ["parameters.email"]
    assert count(registry, "forbidden") == 3 and count(registry, "ok") == 0


@pytest.mark.parametrize("rows", [1, 10])
def test_a_huge_integer_is_422_naming_row_and_field(client: httpx.Client, rows: int) -> None:
    body = json.dumps([GOOD] * (rows - 1) + [{**GOOD, "income": 10**400}])
    answer = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 422
    assert answer.json()["errors"] == [
        {"row": rows - 1, "field": "income", "message": "must be a finite number"}
    ]
