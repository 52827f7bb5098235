"""Work orders: create, follow, and the technician's reports on the construction job."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Response, status
from pydantic import BaseModel
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.deps import CatalogDep, RegionsDep, SettingsDep, StoreDep, TemporalDep
from api.errors import ProblemError
from api.pagination import decode_cursor, encode_cursor
from api.security import (
    CurrentPrincipal,
    Forbidden,
    FrontDeskOrOperations,
    Operations,
    require_roles,
)
from api.workflows import SIGNAL_NOW, signal_report, start_order_workflow
from models.api import (
    Address,
    AttemptResponse,
    BroadbandDemand,
    ConstructionJobResponse,
    ConstructionOperationRequest,
    ConstructionReportRequest,
    ConstructionStateResponse,
    Customer,
    EventResponse,
    InstallationWindow,
    NetworkOperationRequest,
    NetworkOperationResponse,
    OrderCancelRequest,
    OrderCreateRequest,
    OrderHistoryResponse,
    OrderPage,
    OrderResponse,
    OrderSummary,
    SubTaskResponse,
)
from models.enums import OrderStatus, SubTaskKind
from models.payloads import (
    CancelOrder,
    ConstructionOperation,
    ConstructionReport,
    ConstructionView,
    NetworkOperation,
    WorkOrderState,
)
from models.status import ReportRejected
from models.tables import SubTask, WorkOrder
from workflows import WorkOrderWorkflow, workflow_id_for
from workorders.auth import Principal, Role
from workorders.reference import NoProfile, UnknownRegion
from workorders.store import OrderNotFound, WorkOrderStore
from workorders.wake import offer_room, waker

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


def fingerprint(request: OrderCreateRequest) -> str:
    """A digest of the request body, to tell a repeated order from a different one."""
    canonical = json.dumps(request.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


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


def address_of(order: WorkOrder) -> Address:
    return Address(
        street=order.street,
        house_number=order.house_number,
        unit=order.unit,
        postcode=order.postcode,
        city=order.city,
    )


async def _order_or_404(store: WorkOrderStore, order_id: str) -> WorkOrder:
    try:
        return await store.get_order(order_id)
    except OrderNotFound:
        raise ProblemError(404, "Order not found", f"no work order {order_id}") from None


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
            " order with different details."
        },
        422: {
            "description": "Invalid order, or an address or bandwidth the operator cannot serve."
        },
    },
)
async def create_order(
    request: Annotated[OrderCreateRequest, Body(openapi_examples=CREATE_EXAMPLES)],
    response: Response,
    principal: FrontDeskOrOperations,
    store: StoreDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    regions: RegionsDep,
    catalog: CatalogDep,
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

    The customer's postcode decides the region, the demand the profile. Sending the
    same Idempotency-Key or external reference again returns the same order and starts
    nothing new.
    """
    try:
        region = regions.for_postcode(request.address.postcode)
        profile = catalog.profile_for(
            request.demand.service_type, request.demand.download_mbps, request.demand.upload_mbps
        )
    except (UnknownRegion, NoProfile) as e:
        raise ProblemError(422, "Order cannot be served", str(e)) from None

    order_id = str(uuid.uuid4())
    window = request.demand.installation_window
    order, created = await store.create_order(
        WorkOrder(
            id=order_id,
            external_reference=request.external_reference,
            channel=request.channel,
            request_fingerprint=fingerprint(request),
            idempotency_key=idempotency_key,
            customer_name=request.customer.name,
            customer_phone=request.customer.phone,
            customer_email=request.customer.email,
            street=request.address.street,
            house_number=request.address.house_number,
            unit=request.address.unit,
            postcode=request.address.postcode,
            city=request.address.city,
            service_type=request.demand.service_type,
            download_mbps=request.demand.download_mbps,
            upload_mbps=request.demand.upload_mbps,
            profile=profile.name,
            window_start=window.start if window else None,
            window_end=window.end if window else None,
            region=region.code,
            workflow_id=workflow_id_for(order_id),
        ),
        actor=principal.actor,
    )
    if not created and order.request_fingerprint != fingerprint(request):
        if idempotency_key is not None and order.idempotency_key == idempotency_key:
            raise ProblemError(
                409,
                "Idempotency-Key already used",
                f"order {order.id} was created with this Idempotency-Key and different details",
                code="IDEMPOTENCY_KEY_CONFLICT",
            )
        raise ProblemError(
            409,
            "External reference already used",
            f"order {order.id} has external reference {order.external_reference!r}"
            " with different details",
            code="EXTERNAL_REFERENCE_CONFLICT",
        )
    if order.status is OrderStatus.RECEIVED:
        try:
            await start_order_workflow(temporal, settings.task_queue, order)
        except RPCError:
            # The order is stored as received; the API starts its workflow once
            # Temporal answers again (see keep_resuming).
            log.warning("could not start the workflow of order %s yet", order.id, exc_info=True)
    if not created:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"/orders/{order.id}"
    return to_response(order, await store.get_sub_tasks(order.id))


@router.get(
    "",
    response_model=OrderPage,
    responses={400: {"description": "A cursor that is not one this API gave."}},
)
async def list_orders(
    store: StoreDep,
    _: FrontDeskOrOperations,
    status_: Annotated[OrderStatus | None, Query(alias="status")] = None,
    region: Annotated[str | None, Query(max_length=50, examples=["north"])] = None,
    technician: Annotated[
        str | None,
        Query(max_length=50, description="Orders whose installation job is this technician's."),
    ] = None,
    created_from: Annotated[
        datetime | None, Query(description="Created at or after (ISO 8601).")
    ] = None,
    created_to: Annotated[datetime | None, Query(description="Created before (ISO 8601).")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=200, description="`next_cursor` of the page before.")
    ] = None,
) -> OrderPage:
    """Work orders, newest first, a page at a time (front desk, operations)."""
    for instant in (created_from, created_to):
        if instant is not None and instant.tzinfo is None:
            raise ProblemError(
                422, "Invalid request", "give created_from and created_to with a time zone"
            )
    orders, total = await store.list_orders(
        status=status_,
        region=region,
        technician_id=technician,
        created_from=created_from,
        created_to=created_to,
        after=decode_cursor(cursor) if cursor else None,
        limit=limit,
    )
    next_cursor = None
    if len(orders) == limit:
        last = orders[-1]
        next_cursor = encode_cursor(last.created_at, last.id)
    return OrderPage(
        items=[to_summary(o) for o in orders], total=total, limit=limit, next_cursor=next_cursor
    )


async def _technicians_own(store: WorkOrderStore, principal: Principal, order_id: str) -> None:
    """A technician may touch only the orders whose installation job is theirs (an
    order that does not exist is not theirs either: 403, so ids cannot be probed)."""
    if principal.role is not Role.TECHNICIAN:
        return
    for task in await store.get_sub_tasks(order_id):
        if task.kind is SubTaskKind.CONSTRUCTION and task.technician_id == principal.subject:
            return
    raise Forbidden(f"order {order_id} is not one of {principal.subject}'s jobs")


@router.get(
    "/{order_id}",
    response_model=OrderResponse,
    responses={403: {"description": "A technician asking for another's job."}},
)
async def get_order(order_id: str, store: StoreDep, principal: CurrentPrincipal) -> OrderResponse:
    """One work order with its three sub-tasks, their latest data and results (front
    desk, operations, and the technician whose job it is)."""
    await _technicians_own(store, principal, order_id)
    order = await _order_or_404(store, order_id)
    return to_response(order, await store.get_sub_tasks(order.id))


@router.get("/{order_id}/history", response_model=OrderHistoryResponse)
async def get_history(
    order_id: str, store: StoreDep, _: FrontDeskOrOperations
) -> OrderHistoryResponse:
    """The order's timeline: every event, in order, with who did what (``actor``:
    ``front_desk:anna``, ``technician:tech-north-1``, ``operations:li``, ``system``), and
    every attempt of every sub-task with its data and result (front desk, operations)."""
    order = await _order_or_404(store, order_id)
    return OrderHistoryResponse(
        order_id=order.id,
        attempts=[
            AttemptResponse.model_validate(a, from_attributes=True)
            for a in await store.attempts(order.id)
        ],
        events=[
            EventResponse.model_validate(e, from_attributes=True)
            for e in await store.timeline(order.id)
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
    store: StoreDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> OrderResponse:
    """Cancel an order (front desk, operations): its installation job is withdrawn from
    the technician, resources activated in the NMS are deactivated, and the order ends
    ``cancelled``. Accepted at once; the order's status turns ``cancelled`` when that
    is done. Cancelling again is harmless."""
    order = await _order_or_404(store, order_id)
    if order.status is OrderStatus.CANCELLED:
        response.status_code = status.HTTP_200_OK
        return to_response(order, await store.get_sub_tasks(order.id))
    if order.status in (OrderStatus.COMPLETED, OrderStatus.FAILED):
        raise _closed(order)
    if order.status is OrderStatus.RECEIVED:
        await start_order_workflow(temporal, settings.task_queue, order)
    await _update_workflow(
        temporal,
        order,
        WorkOrderWorkflow.cancel_order,
        CancelOrder(reason=request.reason, actor=principal.actor),
    )
    response.headers["Location"] = f"/orders/{order.id}"
    order = await store.get_order(order.id)
    return to_response(order, await store.get_sub_tasks(order.id))


def _closed(order: WorkOrder) -> ProblemError:
    return ProblemError(
        409,
        "Order has ended",
        f"order {order.id} is {order.status.value}; it takes no more changes",
        code="ORDER_CLOSED",
    )


UPDATE_ERRORS = {
    "NOT_ASSIGNED": (403, "Not this technician's job"),
    "ORDER_CLOSED": (409, "Order has ended"),
    "INVALID_TRANSITION": (409, "Report does not fit the job's state"),
    "MISSING_EVIDENCE": (422, "Report lacks what it needs"),
    "TECHNICIAN_UNAVAILABLE": (409, "Technician cannot take the job"),
    "ALREADY_ASSIGNED": (409, "Technician has the job already"),
    "CONSTRUCTION_CLOSED": (409, "Construction has ended"),
    "NOT_WAITING": (409, "Not waiting for operations"),
    "INVALID_DATA": (422, "Invalid data for the sub-task"),
}
"""Why the workflow refused an update, as HTTP status and title."""


async def _update_workflow(
    temporal: Client, order: WorkOrder, update: Any, argument: BaseModel
) -> Any:
    """Send an update to the order's workflow; its refusals become problem responses."""
    handle = temporal.get_workflow_handle(order.workflow_id)
    try:
        return await handle.execute_update(update, argument)
    except WorkflowUpdateFailedError as e:
        cause = e.cause
        if isinstance(cause, ApplicationError) and cause.type in UPDATE_ERRORS:
            code, title = UPDATE_ERRORS[cause.type]
            raise ProblemError(code, title, cause.message, code=cause.type) from None
        raise
    except RPCError as e:
        if e.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            raise ProblemError(
                409,
                "Order has ended",
                f"order {order.id}'s workflow is not running; it takes no more changes",
                code="ORDER_CLOSED",
            ) from None
        raise


@router.post(
    "/{order_id}/construction/reports",
    response_model=ConstructionJobResponse,
    responses={
        403: {"description": "Not the technician's job, or a front desk token."},
        404: {"description": "No such order."},
        409: {"description": "A state the job cannot take, or the order has ended."},
        422: {
            "description": "Completion without the terminal's serial, a refusal without a"
            " reason code, or operations reporting without naming the technician."
        },
    },
)
async def report_construction(
    order_id: str,
    report: ConstructionReportRequest,
    principal: Annotated[Principal, Depends(require_roles(Role.TECHNICIAN, Role.OPERATIONS))],
    store: StoreDep,
    temporal: TemporalDep,
    catalog: CatalogDep,
) -> ConstructionJobResponse:
    """A technician reports progress on, completion of, or failure of their own job
    (operations may report on a technician's behalf, naming them).

    The report is recorded at once; the order's workflow hears at once of a completion
    or of why the job cannot be completed, and of progress within half a minute. A job
    that cannot be completed is reassigned (the technician declined), the
    customer visited again (absent, no access; at most three visits), handed to
    operations (no free port, network fault, other) or given up (the customer declined).
    """
    technician_id = report.technician_id
    technician = principal.role is Role.TECHNICIAN
    if technician:
        if technician_id not in (None, principal.subject):
            raise Forbidden(f"{principal.subject} may report only as themself")
        technician_id = principal.subject
    elif technician_id is None:
        raise ProblemError(
            422, "Invalid request", "operations must name the technician: technician_id"
        )
    try:
        recorded = await store.record_report(
            order_id,
            ConstructionReport.model_validate(
                {**report.model_dump(), "technician_id": technician_id}
            ),
        )
    except (OrderNotFound, ReportRejected) as e:
        code = e.code if isinstance(e, ReportRejected) else "NOT_FOUND"
        if technician and code not in ("INVALID_TRANSITION", "MISSING_EVIDENCE"):
            # Said only to the technician whose job it is: others learn nothing.
            await _technicians_own(store, principal, order_id)
        if code == "NOT_FOUND":
            raise ProblemError(404, "Order not found", f"no work order {order_id}") from None
        status_code, title = UPDATE_ERRORS[code]
        raise ProblemError(status_code, title, str(e), code=code) from None
    if report.state in SIGNAL_NOW:
        await signal_report(temporal, store, order_id, recorded.state)
    if recorded.freed:
        await offer_room(store, catalog, waker(temporal), technician_id)
    job = recorded.state.job
    assert job is not None
    return ConstructionJobResponse(order_id=order_id, **job.model_dump(exclude={"visit"}))


@router.post(
    "/{order_id}/construction/operations",
    response_model=ConstructionStateResponse,
    tags=["operations"],
    responses={
        404: {"description": "No such order or technician."},
        409: {
            "description": "The technician cannot take the job (inactive, another region, "
            "no skill, fully booked, has it already), or construction has ended."
        },
    },
)
async def operate_construction(
    order_id: str,
    request: ConstructionOperationRequest,
    principal: Operations,
    store: StoreDep,
    temporal: TemporalDep,
) -> ConstructionStateResponse:
    """Operations assign (or reassign) the construction job to a technician by hand,
    or give the installation up."""
    order = await _order_or_404(store, order_id)
    if request.technician_id and await store.get_technician(request.technician_id) is None:
        raise ProblemError(404, "Technician not found", f"no technician {request.technician_id}")
    view: ConstructionView = await _update_workflow(
        temporal,
        order,
        WorkOrderWorkflow.operate_construction,
        ConstructionOperation(**request.model_dump(), operator=principal.actor),
    )
    job = view.job
    return ConstructionStateResponse(
        order_id=order.id,
        technician_id=job.technician_id if job else None,
        job_state=job.state if job else None,
        visit=job.visit if job else 0,
        queued=view.queued,
        waiting_for_operations=view.waiting_for_operations,
        sla=view.sla,
        excluded=view.excluded,
    )


async def _operate_network_task(
    order_id: str,
    kind: SubTaskKind,
    request: NetworkOperationRequest,
    principal: Principal,
    store: WorkOrderStore,
    temporal: Client,
) -> NetworkOperationResponse:
    order = await _order_or_404(store, order_id)
    state: WorkOrderState = await _update_workflow(
        temporal,
        order,
        WorkOrderWorkflow.operate_network_task,
        NetworkOperation(kind=kind, **request.model_dump(), operator=principal.actor),
    )
    return NetworkOperationResponse(
        order_id=order.id,
        kind=kind,
        action=request.action,
        waiting_for_operations=state.waiting_for_operations,
    )


NETWORK_OPERATION_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such order."},
    409: {"description": "The sub-task is not waiting for operations, or the order has ended."},
    422: {"description": "Data that does not fit the sub-task, or an abort without a reason."},
}


@router.post(
    "/{order_id}/activation/operations",
    response_model=NetworkOperationResponse,
    tags=["operations"],
    responses=NETWORK_OPERATION_ERRORS,
)
async def operate_activation(
    order_id: str,
    request: NetworkOperationRequest,
    principal: Operations,
    store: StoreDep,
    temporal: TemporalDep,
) -> NetworkOperationResponse:
    """Operations retry an activation that waits for them (with edited data, or with
    data planned anew from the history), or abort it."""
    return await _operate_network_task(
        order_id, SubTaskKind.ACTIVATION, request, principal, store, temporal
    )


@router.post(
    "/{order_id}/quality_check/operations",
    response_model=NetworkOperationResponse,
    tags=["operations"],
    responses=NETWORK_OPERATION_ERRORS,
)
async def operate_quality_check(
    order_id: str,
    request: NetworkOperationRequest,
    principal: Operations,
    store: StoreDep,
    temporal: TemporalDep,
) -> NetworkOperationResponse:
    """Operations retry a quality check that waits for them, or abort it."""
    return await _operate_network_task(
        order_id, SubTaskKind.QUALITY_CHECK, request, principal, store, temporal
    )
