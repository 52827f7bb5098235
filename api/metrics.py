"""The API's Prometheus metrics, served at ``/metrics``, and each request's log context.

:class:`RequestMetrics` counts and times every request by its route's template (say
``/orders/{order_id}``, so an order id never becomes a label). :func:`name_the_order`
names the route's order in the logs written while answering, and
:class:`MeteredOrders` counts the orders created (and names each new one).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from sqlalchemy import Connection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from models.enums import Channel
from models.tables import WorkOrder
from workorders.db import Database
from workorders.logs import bind_order_id, order_context
from workorders.metrics import new_registry
from workorders.store import OrderStore

__all__ = ["ApiMetrics", "MeteredOrders", "RequestMetrics", "name_the_order", "router"]

UNMATCHED = "unmatched"
"""The route label of a request that no route answered (a 404 for any path)."""

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

router = APIRouter(tags=["operations"])


class ApiMetrics:
    """The API's series, in a registry it owns.

    Args:
        registry: where to register them; a new one (:func:`new_registry`) by default.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else new_registry()
        self.requests = Counter(
            "workorders_http_requests",
            "HTTP requests answered, by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.request_duration = Histogram(
            "workorders_http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.orders_created = Counter(
            "workorders_orders_created",
            "Work orders created (a repeated external reference creates none), by channel.",
            ["channel"],
            registry=self.registry,
        )
        for channel in Channel:
            self.orders_created.labels(channel=channel.value)


class MeteredOrders(OrderStore):
    """The order store that counts the orders it creates and names each new
    order in the request's logs."""

    def __init__(self, db: Database, metrics: ApiMetrics) -> None:
        super().__init__(db)
        self._metrics = metrics

    async def create_order(
        self,
        order: WorkOrder,
        actor: str | None = None,
        *,
        then: Callable[[Connection], object] | None = None,
    ) -> tuple[WorkOrder, bool]:
        stored, created = await super().create_order(order, actor, then=then)
        bind_order_id(stored.id)
        if created:
            self._metrics.orders_created.labels(channel=stored.channel.value).inc()
        return stored, created


def _template(scope: Scope) -> str:
    """The template of the route that answered, as the router left it in ``scope``."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) else UNMATCHED


async def name_the_order(request: Request) -> None:
    """A dependency of every route: the order in the path (``order_id``) is named in
    the logs written while answering."""
    order_id = request.path_params.get("order_id")
    if order_id is not None:
        bind_order_id(str(order_id))


class RequestMetrics:
    """ASGI middleware: counts and times each request by method, route template and
    status code; what the request named in its logs is forgotten when it ends."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # unless the app answers otherwise

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.perf_counter()
        try:
            with order_context(None):
                await self.app(scope, receive, send_status)
        finally:
            method = scope["method"] if scope["method"] in METHODS else "other"
            labels = {"method": method, "route": _template(scope), "status": str(status)}
            self.metrics.requests.labels(**labels).inc()
            self.metrics.request_duration.labels(**labels).observe(time.perf_counter() - started)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """The API's metrics in Prometheus's text format."""
    registry: CollectorRegistry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
