"""The FastAPI application; its lifespan owns the database, the Temporal client and
what is built on them, once per app (the API's composition root, as ``worker.py`` is
the worker's).

Its metrics are served at ``/metrics`` (:mod:`api.metrics`), in a registry of the app's
own.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from api import console, errors, openapi
from api.metrics import ApiMetrics, MeteredOrders, RequestMetrics, name_the_order
from api.metrics import router as metrics_router
from api.middleware import BodyLimit, Cors, RefuseNul, RequireToken, SecurityHeaders
from api.routes import (
    appointments,
    codec,
    construction,
    health,
    imports,
    inventory,
    network_tasks,
    orders,
    technicians,
    tmf641,
    tmf641_hub,
)
from api.workflows import keep_resuming
from workorders.codec import EncryptionCodec
from workorders.config import Settings, get_settings
from workorders.reference import load_catalog
from workorders.startup import connect, open_database
from workorders.store import Stores
from workorders.wake import waker

DESCRIPTION = """
Create a customer's broadband order; its construction, resource activation and quality
check run in parallel, each by its own party. Technicians report on their installation
jobs here; operations follow every order and its history.

**Authentication.** Every route but `/healthz` and `/metrics` needs a bearer token:
`Authorization: Bearer <token>`. Tokens are JWTs signed by this system and name a
role: `front_desk` (create, follow and cancel orders), `technician` (their own jobs
only) or `operations` (everything). Issue one with `workorders token ROLE NAME`;
development mode prints some at start. No token: 401. A role that may not do
something, or another technician's job: 403.

**Errors** are RFC 9457 problem documents (`application/problem+json`), with the
fields at fault for 422.
"""


def create_app(settings: Settings | None = None, metrics: ApiMetrics | None = None) -> FastAPI:
    """The API, with its lifespan, routes, error handlers and metrics.

    Args:
        settings: the process's settings by default.
        metrics: where to count; a new registry of the app's own by default.
    """
    settings = settings or get_settings()
    metrics = metrics or ApiMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # A database that `workorders migrate` has not brought up refuses the start.
        db = await open_database(settings)
        stores = Stores.of(db, orders=MeteredOrders(db, metrics))
        try:
            client = await connect(settings)
        except BaseException:
            await db.dispose()
            raise
        app.state.settings = settings
        app.state.stores = stores
        app.state.temporal = client
        app.state.wake = waker(client)
        app.state.payload_codec = EncryptionCodec.from_settings(settings)
        app.state.regions = stores.regions
        app.state.catalog = load_catalog()
        resumer = asyncio.create_task(
            keep_resuming(
                stores.orders,
                stores.reports,
                client,
                settings.task_queue,
                settings.resume_interval_s,
            )
        )
        try:
            yield
        finally:
            resumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await resumer
            await app.state.order_feed.close()
            await db.dispose()

    app = FastAPI(
        title="Work orders",
        summary="Broadband work orders worked by several parties at once.",
        description=DESCRIPTION,
        version="0.1.0",
        lifespan=lifespan,
        dependencies=[Depends(name_the_order)],
    )
    app.state.metrics = metrics
    # Innermost first: a request meets SecurityHeaders, CORS, RequestMetrics, BodyLimit,
    # RequireToken (a 413 before a 401, both before a body is parsed), then RefuseNul.
    app.add_middleware(RefuseNul)
    app.add_middleware(RequireToken, settings=settings)
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_body_bytes)
    app.add_middleware(RequestMetrics, metrics=metrics)
    app.add_middleware(Cors, settings=settings)
    app.add_middleware(SecurityHeaders)
    errors.install(app)
    console.install(app, settings)
    app.include_router(orders.router)
    app.include_router(tmf641.router)
    app.include_router(tmf641_hub.router)
    app.include_router(construction.router)
    app.include_router(appointments.router)
    app.include_router(network_tasks.router)
    app.include_router(technicians.router)
    app.include_router(inventory.router)
    app.include_router(imports.router)
    app.include_router(codec.router)
    app.include_router(codec.console_router)
    app.include_router(health.router)
    app.include_router(metrics_router)
    openapi.install(app)
    return app
