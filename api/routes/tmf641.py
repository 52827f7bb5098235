"""TMF641 Service Ordering v4 beside the work-order API: serviceOrder (create, get,
list) and cancelServiceOrder (create, get). Orders are created and cancelled through
:mod:`api.ordering`, as ``POST /orders`` does; errors are TMF ``Error`` bodies
(:func:`api.errors.tmf_error`). The mapping is :mod:`workorders.tmf641`."""

from __future__ import annotations

import json
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from api import ordering
from api.access import order_or_404
from api.deps import CalendarDep, CatalogDep, OrdersDep, RegionsDep, SettingsDep, TemporalDep
from api.errors import TMF641_BASE, ProblemError, tmf_error
from api.openapi import tmf_body
from api.security import FrontDeskOrOperations
from models.enums import OrderStatus
from models.tables import WorkOrder
from workorders.store.orders import OrderStore
from workorders.store.outbox import in_state
from workorders.tmf641 import (
    STATES,
    CancelServiceOrderCreate,
    Refused,
    ServiceOrderCreate,
    select_fields,
    to_create_request,
    to_service_order,
)
from workorders.tmf641.mapping import CANCELLATION_REQUESTED

M = TypeVar("M", bound=BaseModel)

router = APIRouter(prefix=TMF641_BASE, tags=["TMF641 service ordering"])


async def read_body(request: Request, model: type[M]) -> M:
    """The JSON body as ``model``; anything else is a 400 (never a 422 problem)."""
    try:
        raw = json.loads(await request.body())
    except ValueError:
        raise ProblemError(
            400, "Invalid JSON", "the body is not JSON", code="INVALID_BODY"
        ) from None
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        errors = e.errors()
        where = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in errors)
        # a text the database cannot hold has its own code, as every body refuses it
        nul = all(err["type"] == "nul_character" for err in errors)
        code = "NUL_CHARACTER" if nul else "INVALID_BODY"
        raise ProblemError(400, "Invalid request", where, code=code) from None


def _href(request: Request, resource: str, order_id: str) -> str:
    """The absolute address of a resource (the spec's hrefs are URIs)."""
    return f"{str(request.base_url).rstrip('/')}{TMF641_BASE}/{resource}/{order_id}"


async def _service_order(request: Request, orders: OrderStore, order: WorkOrder) -> dict[str, Any]:
    return to_service_order(
        order,
        await orders.get_sub_tasks(order.id),
        await orders.timeline(order.id),
        _href(request, "serviceOrder", order.id),
    )


@router.post(
    "/serviceOrder",
    status_code=status.HTTP_201_CREATED,
    openapi_extra=tmf_body(ServiceOrderCreate),
    responses={
        200: {"description": "An order with this externalId exists; it is returned."},
        409: {"description": "The externalId was used for an order with other details."},
        422: {"description": "An address or bandwidth the operator cannot serve."},
    },
)
async def create_service_order(
    request: Request,
    principal: FrontDeskOrOperations,
    orders: OrdersDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    regions: RegionsDep,
    catalog: CatalogDep,
    calendar: CalendarDep,
) -> JSONResponse:
    """Create a ServiceOrder (front desk, operations): one ``add`` item of the broadband
    specification, with the installation visit booked if the item names a free slot
    (``appointment.id``: a slot's ``id`` from ``GET /appointments/slots``). The same
    ``externalId`` again returns the first order (200)."""
    body = await read_body(request, ServiceOrderCreate)
    try:
        create = to_create_request(body)
    except Refused as e:
        return tmf_error(400, e.code, e.reason, e.message)
    result = await ordering.create_order(
        create,
        actor=principal.actor,
        idempotency_key=None,
        orders=orders,
        temporal=temporal,
        task_queue=settings.task_queue,
        regions=regions,
        catalog=catalog,
        calendar=calendar,
    )
    return JSONResponse(
        await _service_order(request, orders, result.order),
        status_code=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        headers={"Location": _href(request, "serviceOrder", result.order.id)},
    )


@router.get("/serviceOrder")
async def list_service_orders(
    request: Request,
    response: Response,
    orders: OrdersDep,
    _: FrontDeskOrOperations,
    fields: Annotated[str | None, Query(max_length=500)] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    state: Annotated[str | None, Query(max_length=50)] = None,
    external_id: Annotated[str | None, Query(alias="externalId", max_length=100)] = None,
) -> list[dict[str, Any]]:
    """ServiceOrders, newest first (front desk, operations); ``X-Total-Count`` is how
    many match, ``X-Result-Count`` how many this page has."""
    if state is not None and state not in STATES:
        raise ProblemError(
            400,
            "Unknown state",
            f"state must be one of {', '.join(sorted(STATES))}",
            code="INVALID_FILTER",
        )
    page, total = await orders.list_orders(
        matching=None if state is None else in_state(state),
        external_reference=external_id,
        offset=offset,
        limit=limit,
    )
    response.headers["X-Total-Count"] = str(total)
    response.headers["X-Result-Count"] = str(len(page))
    return [select_fields(await _service_order(request, orders, o), fields) for o in page]


@router.get("/serviceOrder/{order_id}")
async def get_service_order(
    request: Request,
    order_id: str,
    orders: OrdersDep,
    _: FrontDeskOrOperations,
    fields: Annotated[str | None, Query(max_length=500)] = None,
) -> dict[str, Any]:
    """One ServiceOrder (front desk, operations)."""
    order = await order_or_404(orders, order_id)
    return select_fields(await _service_order(request, orders, order), fields)


def _cancel_body(request: Request, order: WorkOrder, reason: str) -> dict[str, Any]:
    """The CancelServiceOrder of an order: its id is the order's (one cancellation per
    order), its state the order's progress towards ``cancelled``."""
    done = order.status is OrderStatus.CANCELLED
    body: dict[str, Any] = {
        "id": order.id,
        "href": _href(request, "cancelServiceOrder", order.id),
        "@type": "CancelServiceOrder",
        "state": "done" if done else "inProgress",
        "cancellationReason": reason,
        "serviceOrder": {
            "id": order.id,
            "href": _href(request, "serviceOrder", order.id),
            "@referredType": "ServiceOrder",
        },
    }
    if done:
        body["effectiveCancellationDate"] = order.updated_at.isoformat()
    return body


@router.post(
    "/cancelServiceOrder",
    status_code=status.HTTP_201_CREATED,
    openapi_extra=tmf_body(CancelServiceOrderCreate),
    responses={
        200: {"description": "The order was cancelled already."},
        404: {"description": "No such service order."},
        409: {"description": "The order has ended (completed or failed)."},
    },
)
async def create_cancel_service_order(
    request: Request,
    principal: FrontDeskOrOperations,
    orders: OrdersDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> JSONResponse:
    """Cancel a ServiceOrder (front desk, operations), through the same path as
    ``POST /orders/{id}/cancel``."""
    body = await read_body(request, CancelServiceOrderCreate)
    if body.requested_cancellation_date is not None:
        return tmf_error(
            400,
            "NOT_SUPPORTED",
            "requestedCancellationDate is not supported",
            "orders are cancelled at once; leave requestedCancellationDate out",
        )
    reason = body.cancellation_reason or "cancelled through TMF641"
    order, already = await ordering.cancel_order(
        await order_or_404(orders, body.service_order.id),
        reason=reason,
        actor=principal.actor,
        orders=orders,
        temporal=temporal,
        task_queue=settings.task_queue,
    )
    return JSONResponse(
        _cancel_body(request, order, (order.status_reason or reason) if already else reason),
        status_code=status.HTTP_200_OK if already else status.HTTP_201_CREATED,
    )


@router.get("/cancelServiceOrder/{order_id}")
async def get_cancel_service_order(
    request: Request, order_id: str, orders: OrdersDep, _: FrontDeskOrOperations
) -> dict[str, Any]:
    """The cancellation of a ServiceOrder; 404 unless the order was cancelled or is
    being cancelled."""
    order = await order_or_404(orders, order_id)
    events = [e for e in await orders.timeline(order.id) if e.kind == CANCELLATION_REQUESTED]
    if order.status is not OrderStatus.CANCELLED and not events:
        raise ProblemError(404, "Not found", f"order {order_id} has no cancellation")
    return _cancel_body(request, order, order.status_reason or "")
