"""The API on a real Temporal dev server, with a real worker and the NMS simulator.

``system.http`` sends an operations token (who may do everything); tests of the other
roles send ``system.auth(role, name)`` headers of their own.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api import create_app
from workorders.auth import Role, issue_token
from workorders.config import Settings
from workorders.db import Database
from workorders.nms import NmsSimulator
from workorders.reference import load_catalog
from workorders.startup import migrate, simulator_config
from workorders.store import Stores
from workorders.worker import build_worker


@dataclass
class System:
    http: httpx.AsyncClient
    temporal: Client
    stores: Stores
    nms: NmsSimulator
    settings: Settings
    app: FastAPI

    def auth(self, role: Role, name: str) -> dict[str, str]:
        """The header of a token for ``name`` in ``role``."""
        return {"Authorization": f"Bearer {issue_token(self.settings, role, name)}"}


@pytest.fixture(scope="session")
async def system(
    dev_server_env: WorkflowEnvironment,
    tmp_path_factory: pytest.TempPathFactory,
    new_database_url: Callable[[], str],
) -> AsyncIterator[System]:
    data = tmp_path_factory.mktemp("api")
    settings = Settings(
        _env_file=None,
        data_dir=data,
        database_url=new_database_url(),
        temporal_address=dev_server_env.client.service_client.config.target_host,
        task_queue=f"api-{uuid.uuid4()}",
        nms_latency_min_s=0,
        nms_latency_max_s=0,
        nms_outage_rate=0,
        nms_busy_server_rate=0,
        nms_congested_server_rate=0,
    )
    await migrate(settings)  # as `workorders migrate`: the lifespan refuses an unmigrated one
    db = Database.from_url(settings.effective_database_url)
    stores = Stores.of(db)
    nms = NmsSimulator(simulator_config(settings, load_catalog()))
    app = create_app(settings)
    async with (
        build_worker(dev_server_env.client, settings.task_queue, stores, nms),
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://api",
            headers={"Authorization": f"Bearer {issue_token(settings, Role.OPERATIONS, 'ops')}"},
        ) as http,
    ):
        # Many test orders stay open: give the seeded technicians room for all of them.
        for technician in await stores.technicians.list_technicians():
            await stores.technicians.change_technician(technician.id, max_open_jobs=50)
        yield System(http, dev_server_env.client, stores, nms, settings, app)
    nms.close()
    await db.dispose()


@dataclass
class BareApi:
    """The API on a database only, without its lifespan: no Temporal, no worker, for
    what is answered before (or instead of) a workflow."""

    http: httpx.AsyncClient
    app: FastAPI
    settings: Settings

    def auth(self, role: Role, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(self.settings, role, name)}"}


@asynccontextmanager
async def bare_api(database_url: str, **settings: Any) -> AsyncIterator[BareApi]:
    """A :class:`BareApi` on ``database_url`` (not migrated here)."""
    config = Settings(_env_file=None, database_url=database_url, **settings)
    app = create_app(config)
    db = Database.from_url(database_url)
    app.state.settings = config
    app.state.stores = Stores.of(db)
    app.state.regions = app.state.stores.regions
    app.state.catalog = load_catalog()
    app.state.temporal = app.state.wake = None  # these tests stop short of Temporal
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://api",
        ) as http:
            yield BareApi(http, app, config)
    finally:
        await db.dispose()


@pytest.fixture(scope="session")
async def bare(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BareApi]:
    """A :class:`BareApi` on a migrated SQLite database of its own."""
    url = f"sqlite:///{tmp_path_factory.mktemp('bare') / 'workorders.db'}"
    db = Database.from_url(url)
    await db.migrate()
    await db.dispose()
    async with bare_api(url) as api:
        yield api
