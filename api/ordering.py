"""Creating and cancelling a work order, shared by ``POST /orders`` and the TMF641
interface (:mod:`api.routes.tmf641`): the same validation, idempotency and workflow
start whichever door the order comes in by.

Errors are :class:`api.errors.ProblemError`; each interface renders them its own way.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass

from sqlalchemy import Connection
from temporalio.client import Client
from temporalio.service import RPCError

from api.booking import check_bookable_now, slot_at
from api.errors import ProblemError
from api.workflows import start_order_workflow, update_workflow
from models.api import OrderCreateRequest
from models.enums import OrderStatus
from models.payloads import CancelOrder
from models.tables import WorkOrder
from workflows import WorkOrderWorkflow, workflow_id_for
from workorders.appointments import Calendar
from workorders.reference import LEGACY_COUNTRY, Catalog, NoProfile, Regions, UnknownRegion
from workorders.store.appointments import book_slot
from workorders.store.errors import SlotTaken
from workorders.store.orders import OrderStore

log = logging.getLogger("workorders.api")


_FIRST_ADDRESS_FIELDS = {"street", "house_number", "unit", "postcode", "city"}
"""The fields addresses had before they had a country."""


def fingerprint(request: OrderCreateRequest) -> str:
    """A digest of the request body, to tell a repeated order from a different one.

    An address of the format taken before addresses had a country digests as it did
    then (without its country and the later fields it leaves empty), so an order sent
    again after that change is still the same order.
    """
    body = request.model_dump(mode="json")
    if body["appointment"] is None:  # as orders digested before they could book one
        del body["appointment"]
    address = body["address"]
    if address["country"] == LEGACY_COUNTRY:
        body["address"] = {
            k: v for k, v in address.items() if k in _FIRST_ADDRESS_FIELDS or v is not None
        }
        del body["address"]["country"]
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Created:
    """The order, and whether this request created it (``False``: a repeat)."""

    order: WorkOrder
    created: bool


async def create_order(
    request: OrderCreateRequest,
    *,
    actor: str,
    idempotency_key: str | None,
    orders: OrderStore,
    temporal: Client,
    task_queue: str,
    regions: Regions,
    catalog: Catalog,
    calendar: Calendar,
) -> Created:
    """Store the order and start its workflow, or return the order this request repeats.

    Raises:
        ProblemError: 422 for an address or bandwidth the operator cannot serve, 409 for
            an Idempotency-Key or external reference used with different details.
    """
    address = request.address
    try:
        assert address.postcode is not None  # every address format requires it
        region = regions.for_address(
            address.country,
            address.postcode,
            province=address.province,
            city=address.city,
            district=address.district,
        )
        profile = catalog.profile_for(
            request.demand.service_type, request.demand.download_mbps, request.demand.upload_mbps
        )
    except UnknownRegion as e:
        raise ProblemError(
            422, "Order cannot be served", str(e), code="ADDRESS_NOT_COVERED"
        ) from None
    except NoProfile as e:
        raise ProblemError(
            422, "Order cannot be served", str(e), code="BANDWIDTH_NOT_OFFERED"
        ) from None

    order_id = str(uuid.uuid4())
    then = None
    if request.appointment is not None:
        slot = slot_at(calendar, request.appointment.start)
        skill = catalog.skill_for(request.demand.service_type)

        def then(connection: Connection) -> object:
            # only for a new order: a repeat of one booked when the slot was far enough
            # ahead is answered with that order, however near the slot is now
            check_bookable_now(calendar, slot)
            return book_slot(connection, order_id, region.code, skill, slot, actor)

    window = request.demand.installation_window
    try:
        order, created = await orders.create_order(
            WorkOrder(
                id=order_id,
                external_reference=request.external_reference,
                channel=request.channel,
                request_fingerprint=fingerprint(request),
                idempotency_key=idempotency_key,
                customer_name=request.customer.name,
                customer_phone=request.customer.phone,
                customer_email=request.customer.email,
                **address.model_dump(),
                service_type=request.demand.service_type,
                download_mbps=request.demand.download_mbps,
                upload_mbps=request.demand.upload_mbps,
                profile=profile.name,
                window_start=window.start if window else None,
                window_end=window.end if window else None,
                region=region.code,
                workflow_id=workflow_id_for(order_id),
            ),
            actor=actor,
            then=then,
        )
    except SlotTaken as e:
        raise ProblemError(409, "Slot taken", str(e), code="SLOT_TAKEN") from None
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
            await start_order_workflow(temporal, task_queue, order)
        except RPCError:
            # The order is stored as received; the API starts its workflow once
            # Temporal answers again (see keep_resuming).
            log.warning("could not start the workflow of order %s yet", order.id, exc_info=True)
    return Created(order, created)


async def cancel_order(
    order: WorkOrder,
    *,
    reason: str,
    actor: str,
    orders: OrderStore,
    temporal: Client,
    task_queue: str,
) -> tuple[WorkOrder, bool]:
    """Cancel ``order`` through its workflow; returns the order as it is now, and
    whether it was cancelled already (nothing was done).

    Raises:
        ProblemError: 409 if the order has ended (completed or failed).
    """
    if order.status is OrderStatus.CANCELLED:
        return order, True
    if order.status in (OrderStatus.COMPLETED, OrderStatus.FAILED):
        raise ProblemError(
            409,
            "Order has ended",
            f"order {order.id} is {order.status.value}; it takes no more changes",
            code="ORDER_CLOSED",
        )
    if order.status is OrderStatus.RECEIVED:
        await start_order_workflow(temporal, task_queue, order)
    await update_workflow(
        temporal, order, WorkOrderWorkflow.cancel_order, CancelOrder(reason=reason, actor=actor)
    )
    return await orders.get_order(order.id), False
