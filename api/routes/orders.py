"""Work orders: create them, list and follow them (with their history), cancel them."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Response, status

from api import ordering
from api.access import order_or_404, technicians_own
from api.deps import (
    AttemptsDep,
    CalendarDep,
    CatalogDep,
    OrdersDep,
    RegionsDep,
    SettingsDep,
    TemporalDep,
)
from api.openapi import refusals
from api.pagination import CURSOR_PATTERN, decode_cursor, encode_cursor
from api.security import (
    CurrentPrincipal,
    FrontDeskOrOperations,
)
from models.api import (
    Address,
    AttemptResponse,
    BroadbandDemand,
    Customer,
    EventResponse,
    InstallationWindow,
    Instant,
    OrderCancelRequest,
    OrderCreateRequest,
    OrderHistoryResponse,
    OrderPage,
    OrderResponse,
    OrderSummary,
    SubTaskResponse,
)
from models.enums import OrderStatus
from models.tables import SubTask, WorkOrder

router = APIRouter(prefix="/orders", tags=["orders"])
log = logging.getLogger("workorders.api")


CREATE_EXAMPLES: dict[str, Any] = {
    "fibre": {
        "summary": "Fibre to the home, from a CRM",
        "value": {
            "external_reference": "CRM-2026-000123",
            "channel": "crm",
            "customer": {
                "name": "Wang Xiaoming",
                "phone": "+86 138 0013 8000",
                "email": "wang@example.com",
            },
            "address": {
                "street": "Jianguo Road",
                "house_number": "88",
                "unit": "Flat 1203",
                "postcode": "10115",
                "city": "Springfield",
            },
            "demand": {"service_type": "FTTH", "download_mbps": 300, "upload_mbps": 100},
        },
    },
    "beijing": {
        "summary": "Fibre to the home in Beijing, from a web shop",
        "value": {
            "external_reference": "WEB-2026-000021",
            "channel": "web_shop",
            "customer": {"name": "张伟", "phone": "+86 138 0013 8000"},
            "address": {
                "country": "CN",
                "province": "北京市",
                "city": "北京市",
                "district": "海淀区",
                "street": "中关村大街",
                "house_number": "27号",
                "unit": "3单元",
                "room": "502室",
                "postcode": "100080",
            },
            "demand": {"service_type": "FTTH", "download_mbps": 300, "upload_mbps": 100},
        },
    },
    "copper_with_window": {
        "summary": "VDSL at the front desk, with an installation window",
        "value": {
            "external_reference": "DESK-0042",
            "channel": "front_desk",
            "customer": {"name": "Li Na", "phone": "+86 139 1234 5678"},
            "address": {
                "street": "Renmin Avenue",
                "house_number": "12",
                "postcode": "20110",
                "city": "Springfield",
            },
            "demand": {
                "service_type": "VDSL",
                "download_mbps": 100,
                "upload_mbps": 40,
                "installation_window": {
                    "start": "2026-12-01T08:00:00+08:00",
                    "end": "2026-12-01T12:00:00+08:00",
                },
            },
        },
    },
}
"""Orders as a CRM and the front desk send them, shown in the API docs."""


def to_summary(order: WorkOrder) -> OrderSummary:
    return OrderSummary.model_validate(order, from_attributes=True)


def to_response(order: WorkOrder, sub_tasks: list[SubTask]) -> OrderResponse:
    window = None
    if order.window_start and order.window_end:
        window = InstallationWindow(start=order.window_start, end=order.window_end)
    return OrderResponse(
        **to_summary(order).model_dump(),
        channel=order.channel,
        workflow_id=order.workflow_id,
        customer=Customer(
            name=order.customer_name, phone=order.customer_phone, email=order.customer_email
        ),
        address=address_of(order),
        demand=BroadbandDemand(
            service_type=order.service_type,
            download_mbps=order.download_mbps,
            upload_mbps=order.upload_mbps,
            installation_window=window,
        ),
        sub_tasks=[SubTaskResponse.model_validate(t, from_attributes=True) for t in sub_tasks],
    )


def address_of(order: object) -> Address:
    """The address of a stored order (or of a row with its address columns)."""
    return Address.model_validate(order, from_attributes=True)


@router.post(
    "",
    response_model=OrderResponse,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {
            "description": "An order with this Idempotency-Key or external reference exists"
            " with the same details; it is returned and nothing new starts."
        },
        409: {
            "description": "The Idempotency-Key or the external reference was used for an"
            " order with different details, or the slot to book is taken."
        },
        422: {
            "description": "Invalid order (its address as its country writes them, a"
            " bandwidth the catalog offers).",
            **refusals(
                "ADDRESS_NOT_COVERED",
                "window_order",
                "NO_SUCH_SLOT",
                "SLOT_TOO_SOON",
                "SLOT_TOO_FAR",
            ),
        },
    },
)
async def create_order(
    request: Annotated[OrderCreateRequest, Body(openapi_examples=CREATE_EXAMPLES)],
    response: Response,
    principal: FrontDeskOrOperations,
    orders: OrdersDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    regions: RegionsDep,
    catalog: CatalogDep,
    calendar: CalendarDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=255,
            pattern=r"^[\x21-\x7e]+$",
            description="Makes the request safe to repeat: the same key returns the same"
            " order; the same key with different details is a 409.",
            examples=["8e0f4c1a-5b7d-4f6e-9a55-2f1d3c4b5a69"],
        ),
    ] = None,
) -> OrderResponse:
    """Create a work order and start its workflow (front desk, operations).

    The address decides the region (its administrative district, or else its
    postcode), the demand the profile. Sending the
    same Idempotency-Key or external reference again returns the same order and starts
    nothing new.
    """
    result = await ordering.create_order(
        request,
        actor=principal.actor,
        idempotency_key=idempotency_key,
        orders=orders,
        temporal=temporal,
        task_queue=settings.task_queue,
        regions=regions,
        catalog=catalog,
        calendar=calendar,
    )
    order, created = result.order, result.created
    if not created:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"/orders/{order.id}"
    return to_response(order, await orders.get_sub_tasks(order.id))


@router.get("", response_model=OrderPage)
async def list_orders(
    orders: OrdersDep,
    _: FrontDeskOrOperations,
    status_: Annotated[OrderStatus | None, Query(alias="status")] = None,
    region: Annotated[str | None, Query(max_length=50, examples=["north"])] = None,
    technician: Annotated[
        str | None,
        Query(max_length=50, description="Orders whose installation job is this technician's."),
    ] = None,
    created_from: Annotated[
        Instant | None, Query(description="Created at or after (ISO 8601, with a time zone).")
    ] = None,
    created_to: Annotated[
        Instant | None, Query(description="Created before (ISO 8601, with a time zone).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[
        str | None,
        Query(pattern=CURSOR_PATTERN, description="`next_cursor` of the page before."),
    ] = None,
) -> OrderPage:
    """Work orders, newest first, a page at a time (front desk, operations)."""
    page, total = await orders.list_orders(
        status=status_,
        region=region,
        technician_id=technician,
        created_from=created_from,
        created_to=created_to,
        after=decode_cursor(cursor) if cursor else None,
        limit=limit,
    )
    next_cursor = None
    if len(page) == limit:
        last = page[-1]
        next_cursor = encode_cursor(last.created_at, last.id)
    return OrderPage(
        items=[to_summary(o) for o in page], total=total, limit=limit, next_cursor=next_cursor
    )


@router.get(
    "/{order_id}",
    response_model=OrderResponse,
    responses={403: {"description": "A technician asking for another's job."}},
)
async def get_order(order_id: str, orders: OrdersDep, principal: CurrentPrincipal) -> OrderResponse:
    """One work order with its three sub-tasks, their latest data and results (front
    desk, operations, and the technician whose job it is)."""
    await technicians_own(orders, principal, order_id)
    order = await order_or_404(orders, order_id)
    return to_response(order, await orders.get_sub_tasks(order.id))


@router.get("/{order_id}/history", response_model=OrderHistoryResponse)
async def get_history(
    order_id: str, orders: OrdersDep, attempts: AttemptsDep, _: FrontDeskOrOperations
) -> OrderHistoryResponse:
    """The order's timeline: every event, in order, with who did what (``actor``:
    ``front_desk:anna``, ``technician:tech-north-1``, ``operations:li``, ``system``), and
    every attempt of every sub-task with its data and result (front desk, operations)."""
    order = await order_or_404(orders, order_id)
    return OrderHistoryResponse(
        order_id=order.id,
        attempts=[
            AttemptResponse.model_validate(a, from_attributes=True)
            for a in await attempts.attempts(order.id)
        ],
        events=[
            EventResponse.model_validate(e, from_attributes=True)
            for e in await orders.timeline(order.id)
        ],
    )


@router.post(
    "/{order_id}/cancel",
    response_model=OrderResponse,
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        200: {"description": "The order was cancelled already."},
        404: {"description": "No such order."},
        409: {"description": "The order has ended (completed or failed)."},
        503: {"description": "Temporal does not answer; try again."},
    },
)
async def cancel_order(
    order_id: str,
    request: OrderCancelRequest,
    response: Response,
    principal: FrontDeskOrOperations,
    orders: OrdersDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> OrderResponse:
    """Cancel an order (front desk, operations): its installation job is withdrawn from
    the technician, resources activated in the NMS are deactivated, and the order ends
    ``cancelled``. Accepted at once; the order's status turns ``cancelled`` when that
    is done. Cancelling again is harmless."""
    order, already = await ordering.cancel_order(
        await order_or_404(orders, order_id),
        reason=request.reason,
        actor=principal.actor,
        orders=orders,
        temporal=temporal,
        task_queue=settings.task_queue,
    )
    if already:
        response.status_code = status.HTTP_200_OK
        return to_response(order, await orders.get_sub_tasks(order.id))
    response.headers["Location"] = f"/orders/{order.id}"
    return to_response(order, await orders.get_sub_tasks(order.id))
