"""Fixtures for the MLflow tests (builders in ``mlflow_env``).

The use-case tests run on ``InMemoryMlflow`` and the ``InMemoryStore`` unless marked with
other backends (``tests/contract/backends.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow_env import MODEL, MlflowEnv, model_files, require_mlflow, setup_workspace, training_run

from clearance.adapters.clock import FixedClock
from clearance.testing.mlflow import InMemoryMlflow
from clearance.workspace import Workspace
from contract import backends
from receivers import http_receiver, http_receivers  # noqa: F401  (a webhook channel)

pytest_configure = backends.pytest_configure
pytest_generate_tests = backends.pytest_generate_tests
workspace = backends.workspace
db_url = backends.db_url


@pytest.fixture
def fake() -> InMemoryMlflow:
    """An MLflow registry with model ``credit``: versions 1 and 2 from runs r1 and r2."""
    m = InMemoryMlflow()
    for n, auc in (("1", 0.83), ("2", 0.85)):
        run = training_run(f"r{n}", auc=auc)
        m.add_run(run, model_files(f"weights-v{n}".encode()))
        m.add_version(MODEL, run.run_id, model_files(f"weights-v{n}".encode()), {"team": "risk"})
    return m


@pytest.fixture
def menv(
    workspace: Workspace, clock: FixedClock, tmp_path: Path, fake: InMemoryMlflow
) -> MlflowEnv:
    setup_workspace(workspace, tmp_path)
    return MlflowEnv(workspace, clock, tmp_path, fake)


@pytest.fixture(scope="session")
def mlflow_db_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty MLflow SQLite store, migrated once per test process (MLflow's migrations
    take seconds): each real-MLflow test module copies it. Its Default experiment keeps
    artifacts under the temporary folder, not under the current one."""
    require_mlflow()
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    folder = tmp_path_factory.mktemp("mlflow-template")
    SqlAlchemyStore(f"sqlite:///{folder / 'mlflow.db'}", str(folder / "artifacts"))
    return folder / "mlflow.db"
