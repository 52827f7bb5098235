"""The FastAPI application; its lifespan owns the database and the Temporal client."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import errors
from api.routes import health, inventory, orders, technicians
from api.workflows import keep_resuming
from worker import connect
from workorders.config import Settings, get_settings
from workorders.db import Database
from workorders.reference import load_catalog, load_regions
from workorders.store import WorkOrderStore


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database.from_url(settings.effective_database_url, echo=settings.database_echo)
        await db.create_schema()
        regions = load_regions()
        await db.seed(regions)
        store = WorkOrderStore(db)
        client = await connect(settings)
        app.state.settings = settings
        app.state.store = store
        app.state.temporal = client
        app.state.regions = regions
        app.state.catalog = load_catalog()
        resumer = asyncio.create_task(
            keep_resuming(store, client, settings.task_queue, settings.resume_interval_s)
        )
        try:
            yield
        finally:
            resumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await resumer
            await db.dispose()

    app = FastAPI(
        title="Work orders",
        summary="Broadband work orders worked by several parties at once.",
        description=(
            "Create a customer's broadband order; its construction, resource activation "
            "and quality check run in parallel, each by its own party. Technicians report "
            "on their installation jobs here; operations follow every order and its history."
        ),
        version="0.1.0",
        lifespan=lifespan,
    )
    errors.install(app)
    app.include_router(orders.router)
    app.include_router(technicians.router)
    app.include_router(inventory.router)
    app.include_router(health.router)
    return app
