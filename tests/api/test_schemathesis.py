"""Property-based tests of the whole API from its own /openapi.json (schemathesis).

A live server on SQLite, seeded with the credit-risk example (policy, two versions, one open
request, an emergency change with its review, a waiver-free audit trail with a checkpoint),
answers generated requests for every operation, authenticated as an admin. Each response
must not be a 5xx, must match the status codes, content types and schemas the operation
declares. Run time is kept to well under a minute with a few examples per operation.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import hypothesis
import hypothesis.errors
import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis.strategies import SearchStrategy
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.test_routes_support import (
    CANARY,
    MODEL,
    Api,
    apply_policy,
    approve,
    canary_running,
    production_request,
    promote,
    register,
    staged,
    team,
)
from api_server import running_server, token_for
from clearance.workspace import init_workspace

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def seeded(tmp_path: Path) -> Iterator[Api]:
    ws = init_workspace(tmp_path / "ws", db_url=f"sqlite:///{tmp_path / 'clearance.db'}")
    with running_server(ws) as url:
        api = team(url, ws)
        assert apply_policy(api).status_code == 201
        staged(api, "7")
        emergency = production_request(api, "7", change_type="emergency")
        assert approve(api, emergency, "frank").json()["executed"]
        review = {"summary": "hotfix", "actions": ["add a canary"]}
        r = api.call("carol", "POST", f"/v1/requests/{emergency}/review", json=review)
        assert r.status_code == 201, r.text
        assert register(api, "8").status_code == 201
        assert promote(api, "8", "staging").status_code == 201  # stays open
        assert canary_running(api).status_code == 201
        waiver = {
            "model": CANARY,
            "gate": "latency_p95",
            "expires_in": "7d",
            "justification": "p95 measured on the old hardware",
            "controls": ["latency alert at 150 ms"],
        }
        assert api.call("rita", "POST", "/v1/waivers", json=waiver).status_code == 201
        assert api.call("adam", "POST", "/v1/audit/checkpoints").status_code == 201
        yield api


KNOWN = {"model": MODEL, "version": "7", "request_id": 1, "key": "1", "name": "alice"}
KNOWN_ROLLOUT = {**KNOWN, "model": CANARY}


def test_api_conforms_to_its_schema(seeded: Api) -> None:
    """Every operation, with positive and negative data, and with the seeded ids."""
    # schemathesis' pytest integration (from_fixture / parametrize) reads a node attribute
    # pytest 9 no longer has, so this drives its Hypothesis strategies directly.
    schema = schemathesis.openapi.from_url(f"{seeded.url}/openapi.json")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        # A fresh admin token per operation: a generated DELETE /v1/tokens/{id} may revoke one.
        headers = {"Authorization": f"Bearer {token_for(seeded.ws, 'fuzzer', ['admin'])}"}
        values = KNOWN_ROLLOUT if "/rollouts" in operation.path else KNOWN
        known = {p: values[p] for p in _path_params(operation.path) if p in values}
        strategies = [
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        ]
        if known:
            strategies.append(operation.as_strategy(path_parameters=known))
        for strategy in strategies:
            problem = _fuzz(strategy, seeded.url, headers)
            if problem is not None:
                failures.append(f"{operation.label}: {problem}")
    assert operations >= 40
    assert not failures, "\n\n".join(failures)


SETTINGS = hypothesis.settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
    derandomize=True,
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
)


def _fuzz(
    strategy: SearchStrategy[schemathesis.Case], base_url: str, headers: dict[str, str]
) -> str | None:
    """Run the generated cases of one strategy; what failed, or None."""

    @hypothesis.given(case=strategy)
    @SETTINGS
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS)

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        return None  # no invalid input exists for an operation without parameters
    except (Exception, BaseExceptionGroup) as exc:  # one report for the whole API
        return str(exc)
    return None


def _path_params(path: str) -> list[str]:
    return re.findall(r"{([^}]+)}", path)
