"""The inference guard against plain Pydantic validation of the same rules.

Two workloads, each timed for both, alternating in rounds within one run (so the machine's
load hits both alike):

- **per request**: one JSON row POSTed through an ASGI middleware to a trivial app, called
  in-process (no sockets): ``InferenceGuard`` with the compiled rules, against a middleware
  of the same shape that validates the body with a Pydantic model of the same rules
  (``model_validate_json``, forbidden fields refused by a ``model_validator``). p50 and p99
  per request, microseconds.
- **batch**: one body of ``--rows`` rows (``{"instances": [...]}``): the guard's parse
  (pydantic-core's ``from_json``) + ``check_body``, against Pydantic's
  ``TypeAdapter(...).validate_json``. Rows per second.

    .venv/bin/python bench/inference.py [--requests 20000] [--rows 10000] [--rounds 5]

The rules: 8 fields (integers and numbers with ranges, strings with allowed sets and a
length limit, a boolean, an optional nullable field) and 3 forbidden PII fields.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import statistics
import time
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator
from pydantic_core import from_json

from clearance.core.inference import InferenceSpec, compile_rules
from clearance.serving.middleware import InferenceGuard

RULES = {
    "max_rows": 100_000,
    "max_body_bytes": 1 << 26,
    "forbidden": ["ssn", "email", "phone"],
    "fields": {
        "age": {"type": "integer", "min": 18, "max": 120},
        "income": {"type": "number", "min": 0, "max": 10_000_000},
        "debt_ratio": {"type": "number", "min": 0, "max": 1},
        "country": {"type": "string", "allowed": ["DE", "FR", "NL", "BE", "AT"]},
        "channel": {"type": "string", "allowed": ["web", "app", "branch"]},
        "employer": {"type": "string", "max_length": 64},
        "has_collateral": {"type": "boolean"},
        "segment": {"type": "string", "required": False, "nullable": True, "max_length": 16},
    },
}
FORBIDDEN = frozenset(RULES["forbidden"])  # type: ignore[arg-type]


class Row(BaseModel):
    """The same rules as a Pydantic model, written as one usually would."""

    model_config = ConfigDict(strict=True, extra="allow")

    age: Annotated[int, Field(ge=18, le=120)]
    income: Annotated[float, Field(ge=0, le=10_000_000, allow_inf_nan=False)]
    debt_ratio: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
    country: Literal["DE", "FR", "NL", "BE", "AT"]
    channel: Literal["web", "app", "branch"]
    employer: Annotated[str, Field(max_length=64)]
    has_collateral: bool
    segment: Annotated[str | None, Field(max_length=16)] = None

    @model_validator(mode="before")
    @classmethod
    def _no_pii(cls, data: Any) -> Any:
        if isinstance(data, dict) and not FORBIDDEN.isdisjoint(data):
            raise ValueError(f"forbidden fields: {sorted(FORBIDDEN.intersection(data))}")
        return data


class Batch(BaseModel):
    instances: list[Row]


def row(rng: random.Random) -> dict[str, Any]:
    return {
        "age": rng.randint(18, 90),
        "income": round(rng.uniform(0, 200_000), 2),
        "debt_ratio": round(rng.random(), 4),
        "country": rng.choice(["DE", "FR", "NL", "BE", "AT"]),
        "channel": rng.choice(["web", "app", "branch"]),
        "employer": rng.choice(["acme", "globex", "initech", "umbrella"]),
        "has_collateral": rng.random() < 0.3,
        "segment": rng.choice([None, "retail", "sme"]),
    }


async def _app(scope: Any, receive: Any, send: Any) -> None:
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


class PydanticGuard:
    """The same middleware shape, validating with the Pydantic model."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        body = message.get("body", b"")
        try:
            Row.model_validate_json(body)
        except ValidationError as exc:
            out = json.dumps({"errors": exc.errors(include_url=False)}, default=str).encode()
            await send({"type": "http.response.start", "status": 422, "headers": []})
            await send({"type": "http.response.body", "body": out})
            return

        async def again() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, again, send)


def _scope(size: int) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "path": "/predict",
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(size).encode()),
        ],
    }


async def _per_request(app: Any, bodies: list[bytes]) -> list[float]:
    times: list[float] = []
    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    for body in bodies:
        scope = _scope(len(body))

        async def receive(body: bytes = body) -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        start = time.perf_counter_ns()
        await app(scope, receive, send)
        times.append((time.perf_counter_ns() - start) / 1000)
    assert set(statuses) == {200}, set(statuses)
    return times


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _timed(run: Callable[[], Any]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    rng = random.Random(7)
    spec = InferenceSpec.model_validate(RULES)
    rules = compile_rules(spec)
    guard = InferenceGuard(_app, rules, metrics=True, registry=_registry())
    bare = InferenceGuard(_app, rules, metrics=False)
    plain = PydanticGuard(_app)
    bodies = [json.dumps(row(rng)).encode() for _ in range(args.requests)]
    batch = json.dumps({"instances": [row(rng) for _ in range(args.rows)]}).encode()
    adapter = TypeAdapter(Batch)
    # both accept every row, and both refuse the same broken ones
    assert rules.check_body(json.loads(batch)).outcome == "ok"
    adapter.validate_json(batch)
    for broken in ({"age": 17}, {"country": "US"}, {"ssn": "x"}, {"debt_ratio": 1.5}):
        doc = {**row(rng), **broken}
        assert rules.check_body(doc).outcome != "ok"
        try:
            Row.model_validate(doc)
        except ValidationError:
            pass
        else:
            raise AssertionError(f"pydantic accepted {doc}")

    loop = asyncio.new_event_loop()
    per: dict[str, list[float]] = {"clearance guard": [], "  without metrics": [], "pydantic": []}
    rows_per_s: dict[str, list[float]] = {"clearance guard": [], "pydantic": []}
    for i in range(args.rounds):
        order = [("clearance guard", guard), ("  without metrics", bare), ("pydantic", plain)]
        for name, app in order if i % 2 == 0 else reversed(order):  # type: ignore[attr-defined]
            per[name] += loop.run_until_complete(_per_request(app, bodies))
        batch_runs = [
            ("clearance guard", lambda: rules.check_body(from_json(batch))),
            ("pydantic", lambda: adapter.validate_json(batch)),
        ]
        for name, run in batch_runs if i % 2 == 0 else reversed(batch_runs):
            rows_per_s[name].append(args.rows / _timed(run))
    loop.close()

    print(f"python {platform.python_version()}, pydantic {_version('pydantic')}, "
          f"{args.rounds} alternating rounds")  # fmt: skip
    print(f"per request ({args.requests} single-row requests per round, in-process ASGI):")
    print(f"  {'':18} {'p50 µs':>8} {'p99 µs':>8}")
    for name, values in per.items():
        print(f"  {name:18} {_pct(values, 0.50):8.1f} {_pct(values, 0.99):8.1f}")
    print(f"batch ({args.rows} rows in one body, parse + check; median of rounds):")
    for name, values in rows_per_s.items():
        print(f"  {name:18} {statistics.median(values):12,.0f} rows/s")


def _registry() -> Any:
    from prometheus_client import CollectorRegistry

    return CollectorRegistry()


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


if __name__ == "__main__":
    main()
