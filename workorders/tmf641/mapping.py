"""Pure mapping between TMF641 service orders and this system's work orders (see
docs/tmf641.md): no I/O, so every rule is unit-tested on its own."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from models.api import Address, BroadbandDemand, Customer, InstallationWindow, OrderCreateRequest
from models.enums import Channel, JobState, OrderStatus, SlaState, SubTaskKind, SubTaskStatus
from models.tables import OrderEvent, SubTask, WorkOrder
from workorders.tmf641.models import Place, ServiceOrderCreate

SPECIFICATION_ID = "broadband-access"
"""The one ``serviceSpecification.id`` we sell: broadband access (FTTH or VDSL)."""
SPECIFICATION_NAME = "Broadband access"

STATE: dict[OrderStatus, str] = {
    OrderStatus.RECEIVED: "acknowledged",
    OrderStatus.IN_PROGRESS: "inProgress",
    OrderStatus.WAITING_FOR_OPERATIONS: "held",
    OrderStatus.COMPLETED: "completed",
    OrderStatus.FAILED: "failed",
    OrderStatus.CANCELLED: "cancelled",
}
"""Our status as the ServiceOrder ``state``; every :class:`OrderStatus` has one.
:func:`state_of` refines it with what the status alone does not say."""

CANCELLATION_REQUESTED = "order.cancellation_requested"
"""The timeline line of a cancellation accepted (``workorders.store.base`` writes it)."""


def state_of(status: OrderStatus, *, cancelling: bool, waiting: bool, partly_done: bool) -> str:
    """The ServiceOrder ``state`` of an order (docs/tmf641.md, "States").

    Args:
        status: the order's status.
        cancelling: its cancellation was accepted (``pendingCancellation`` until the
            order is cancelled).
        waiting: its installation waits, with nothing wrong, for a technician of the
            region with room or for the customer (:func:`construction_waits`):
            ``pending`` while it is otherwise in progress.
        partly_done: a sub-task succeeded: a failed order is ``partial``.
    """
    if cancelling and not status.is_final:
        return "pendingCancellation"
    if status is OrderStatus.FAILED and partly_done:
        return "partial"
    if status is OrderStatus.IN_PROGRESS and waiting:
        return "pending"
    return STATE[status]


STATES = frozenset(
    state_of(s, cancelling=c, waiting=w, partly_done=p)
    for s in OrderStatus
    for c in (False, True)
    for w in (False, True)
    for p in (False, True)
)
"""Every ``state`` an order of ours can be in."""


def construction_waits(task: SubTask) -> bool:
    """Whether the installation job waits for someone outside the order's own work:
    queued for a technician of the region with room, or rescheduled after the
    customer was absent or denied access (a visit after the first, assigned to its
    technician, who has not accepted it yet: the visit is to be agreed with the
    customer). ``workorders.store.outbox`` asks the same in SQL."""
    return (
        task.kind is SubTaskKind.CONSTRUCTION
        and task.status is SubTaskStatus.IN_PROGRESS
        and (task.queued_at is not None or (task.job_state is JobState.ASSIGNED and task.visit > 1))
    )


def service_order_state(
    order: WorkOrder, sub_tasks: Sequence[SubTask], events: Sequence[OrderEvent]
) -> str:
    """The ServiceOrder ``state`` of a work order, from its sub-tasks and timeline."""
    return state_of(
        order.status,
        cancelling=any(e.kind == CANCELLATION_REQUESTED for e in events),
        waiting=any(construction_waits(t) for t in sub_tasks),
        partly_done=any(t.status is SubTaskStatus.SUCCEEDED for t in sub_tasks),
    )


CHARACTERISTICS = ("serviceType", "downloadMbps", "uploadMbps", "customerPhone", "customerEmail")


SUB_UNIT_TYPES = ("unit", "room")
"""The ``subUnitType`` values of a ``geographicSubAddress``: our address's unit and room."""


class Refused(ValueError):
    """A service order we cannot honour: answered 400 with a TMF ``Error``."""

    def __init__(self, code: str, reason: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message


def to_create_request(order: ServiceOrderCreate) -> OrderCreateRequest:
    """Our create request for a TMF641 ``ServiceOrder_Create``.

    Raises:
        Refused: several items, an action other than ``add``, another specification,
            unknown characteristics, or a customer, address or demand missing or invalid.
    """
    if not order.external_id:
        raise Refused(
            "MISSING_EXTERNAL_ID",
            "externalId is required",
            "send externalId: it is the order's reference and makes the request safe to repeat",
        )
    if len(order.service_order_item) != 1:
        raise Refused(
            "ONE_ITEM_ONLY",
            "Exactly one serviceOrderItem is supported",
            f"got {len(order.service_order_item)} items; order one broadband service per order",
        )
    item = order.service_order_item[0]
    if item.action != "add":
        raise Refused(
            "ACTION_NOT_SUPPORTED",
            f"Action {item.action!r} is not supported",
            "only action 'add' is supported; cancel an order with cancelServiceOrder",
        )
    if item.quantity not in (None, 1):
        raise Refused("QUANTITY_NOT_SUPPORTED", "quantity must be 1", f"got {item.quantity}")
    service = item.service
    spec = service.service_specification
    if spec is None or spec.id != SPECIFICATION_ID:
        raise Refused(
            "UNKNOWN_SPECIFICATION",
            "Unknown serviceSpecification",
            f"service.serviceSpecification.id must be {SPECIFICATION_ID!r}",
        )
    values: dict[str, Any] = {}
    for c in service.service_characteristic:
        if c.name not in CHARACTERISTICS:
            raise Refused(
                "UNKNOWN_CHARACTERISTIC",
                f"Unknown serviceCharacteristic {c.name!r}",
                f"known: {', '.join(CHARACTERISTICS)}",
            )
        if c.name in values:
            raise Refused("DUPLICATE_CHARACTERISTIC", f"{c.name!r} given twice", c.name)
        values[c.name] = c.value
    customers = [p for p in order.related_party if p.role == "customer"]
    if len(customers) != 1 or len(order.related_party) != 1:
        raise Refused(
            "CUSTOMER_REQUIRED",
            "Exactly one relatedParty with role customer is required",
            "name the customer in one relatedParty with role 'customer' and no other party",
        )
    places = service.place
    if len(places) != 1 or places[0].role != "installationAddress":
        raise Refused(
            "ADDRESS_REQUIRED",
            "Exactly one service.place with role installationAddress is required",
            "give the installation address as the service's one place",
        )
    place = places[0]
    window = None
    start, end = order.requested_start_date, order.requested_completion_date
    if (start is None) != (end is None):
        raise Refused(
            "INCOMPLETE_WINDOW",
            "requestedStartDate and requestedCompletionDate go together",
            "give both, as the installation window, or neither",
        )
    try:
        if start is not None and end is not None:
            window = InstallationWindow(start=start, end=end)
        return OrderCreateRequest(
            external_reference=order.external_id,
            channel=Channel.CRM,
            customer=Customer(
                name=customers[0].name or "",
                phone=values.get("customerPhone"),
                email=values.get("customerEmail"),
            ),
            address=address_of(place),
            demand=BroadbandDemand(
                service_type=values.get("serviceType"),
                download_mbps=values.get("downloadMbps"),
                upload_mbps=values.get("uploadMbps"),
                installation_window=window,
            ),
            appointment={"start": item.appointment.id} if item.appointment else None,
        )
    except ValidationError as e:
        where = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or err.get('input')}: {err['msg']}"
            for err in e.errors()
        )
        raise Refused("INVALID_VALUE", f"Invalid {e.title} in the service order", where) from None


def _appointment(events: Sequence[OrderEvent]) -> dict[str, Any] | None:
    """The order's installation visit as its timeline has it (booked, moved, and not
    missed or withdrawn since), as an ``AppointmentRef``: its ``id`` is the slot's
    start, as the free-slot search names slots."""
    visit: dict[str, Any] | None = None
    for e in events:
        if e.kind in ("appointment.booked", "appointment.rescheduled") and e.detail:
            visit = e.detail
        elif e.kind in ("appointment.missed", "appointment.cancelled"):
            visit = None
    if visit is None:
        return None
    return {
        "id": visit["start"],
        "description": f"installation visit {visit['start']} to {visit['end']}",
        "@type": "AppointmentRef",
    }


def _date(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def to_service_order(
    order: WorkOrder,
    sub_tasks: Sequence[SubTask],
    events: Sequence[OrderEvent],
    href: str,
) -> dict[str, Any]:
    """The TMF641 ``ServiceOrder`` of a work order, as JSON.

    Args:
        order: the work order.
        sub_tasks: its sub-tasks (construction's SLA state becomes a ``jeopardyAlert``;
            they and the timeline refine the state, :func:`service_order_state`).
        events: its timeline (``construction.*`` events become ``milestone`` entries).
        href: the ServiceOrder's own address.
    """
    characteristics: list[dict[str, Any]] = [
        {"name": "serviceType", "valueType": "string", "value": order.service_type.value},
        {"name": "downloadMbps", "valueType": "integer", "value": order.download_mbps},
        {"name": "uploadMbps", "valueType": "integer", "value": order.upload_mbps},
        {"name": "customerPhone", "valueType": "string", "value": order.customer_phone},
    ]
    if order.customer_email:
        characteristics.append(
            {"name": "customerEmail", "valueType": "string", "value": order.customer_email}
        )
    place = place_of(order)
    state = service_order_state(order, sub_tasks, events)
    body: dict[str, Any] = {
        "id": order.id,
        "href": href,
        "@type": "ServiceOrder",
        "externalId": order.external_reference,
        "category": "broadband",
        "orderDate": _date(order.created_at),
        "state": state,
        "relatedParty": [
            {
                "id": order.external_reference,
                "name": order.customer_name,
                "role": "customer",
                "@type": "RelatedParty",
                "@referredType": "Individual",
            }
        ],
        "serviceOrderItem": [
            {
                "id": "1",
                "action": "add",
                "state": state,
                "@type": "ServiceOrderItem",
                "service": {
                    "@type": "Service",
                    "serviceType": order.service_type.value,
                    "serviceSpecification": {
                        "id": SPECIFICATION_ID,
                        "name": SPECIFICATION_NAME,
                        "@type": "ServiceSpecificationRef",
                    },
                    "serviceCharacteristic": characteristics,
                    "place": [place],
                },
                **({"appointment": visit} if (visit := _appointment(events)) else {}),
            }
        ],
        "milestone": [
            {
                "id": str(e.id),
                "name": e.kind,
                "milestoneDate": _date(e.at),
                "status": "reached",
                "@type": "ServiceOrderMilestone",
            }
            for e in events
            if e.kind.startswith("construction.")
        ],
        "jeopardyAlert": [
            {
                "id": f"{t.kind.value}-sla",
                "name": f"{t.kind.value} {t.sla_state.value}",
                "jeopardyType": t.sla_state.value,
                "alertDate": _date(t.updated_at),
                "message": f"installation due {_date(t.due_at)}",
                "@type": "ServiceOrderJeopardyAlert",
            }
            for t in sub_tasks
            if t.kind is SubTaskKind.CONSTRUCTION
            and t.sla_state in (SlaState.JEOPARDY, SlaState.BREACHED)
        ],
    }
    if order.window_start and order.window_end:
        body["requestedStartDate"] = _date(order.window_start)
        body["requestedCompletionDate"] = _date(order.window_end)
    if order.status is OrderStatus.COMPLETED:
        body["completionDate"] = _date(order.updated_at)
    return body


def select_fields(body: dict[str, Any], fields: str | None) -> dict[str, Any]:
    """``fields`` selection: the named top-level attributes, with ``id`` and ``href``
    always kept; all of them without it."""
    if not fields:
        return body
    wanted = {f.strip() for f in fields.split(",") if f.strip()} | {"id", "href", "@type"}
    return {k: v for k, v in body.items() if k in wanted}


def address_of(place: Place) -> Address:
    """The installation address of a ``GeographicAddress`` place.

    TMF673 names: ``stateOrProvince`` is the province, ``locality`` the district, a
    ``geographicSubAddress`` the building (``buildingName``) and the unit or room
    (``subUnitType`` ``unit`` / ``room`` with its ``subUnitNumber``); a flat
    ``subUnitNumber`` is the unit. ``country`` is the ISO 3166-1 alpha-2 code,
    the operator's default country when left out.
    """
    parts: dict[str, str | None] = {"building": None, "unit": place.sub_unit_number, "room": None}
    for sub in place.geographic_sub_address:
        if sub.building_name is not None:
            if parts["building"] is not None:
                raise Refused("INVALID_ADDRESS", "buildingName given twice", "give one building")
            parts["building"] = sub.building_name
        if sub.sub_unit_number is None and sub.sub_unit_type is None:
            continue
        if sub.sub_unit_type not in SUB_UNIT_TYPES or sub.sub_unit_number is None:
            raise Refused(
                "INVALID_ADDRESS",
                f"Unsupported subUnitType {sub.sub_unit_type!r}",
                f"a geographicSubAddress names a {' or a '.join(SUB_UNIT_TYPES)}"
                " with its subUnitNumber",
            )
        if parts[sub.sub_unit_type] is not None:
            raise Refused(
                "INVALID_ADDRESS",
                f"{sub.sub_unit_type} given twice",
                f"give the {sub.sub_unit_type} once (a flat subUnitNumber is the unit)",
            )
        parts[sub.sub_unit_type] = sub.sub_unit_number
    country = {"country": place.country} if place.country is not None else {}
    return Address(
        **country,
        province=place.state_or_province,
        city=place.city or "",
        district=place.locality,
        street=place.street_name or "",
        house_number=place.street_nr or "",
        postcode=place.postcode or "",
        **parts,
    )


def place_of(order: WorkOrder) -> dict[str, Any]:
    """The order's installation address as a ``GeographicAddress`` place: the unit as
    the flat ``subUnitNumber`` (as it was before addresses had more parts), the
    building and the room as ``geographicSubAddress`` entries."""
    place: dict[str, Any] = {
        "role": "installationAddress",
        "@type": "GeographicAddress",
        "country": order.country,
    }
    for name, value in (
        ("stateOrProvince", order.province),
        ("city", order.city),
        ("locality", order.district),
        ("streetName", order.street),
        ("streetNr", order.house_number),
        ("postcode", order.postcode),
        ("subUnitNumber", order.unit),
    ):
        if value is not None:
            place[name] = value
    subs: list[dict[str, str]] = []
    if order.building is not None:
        subs.append({"buildingName": order.building})
    if order.room is not None:
        subs.append({"subUnitType": "room", "subUnitNumber": order.room})
    if subs:
        place["geographicSubAddress"] = subs
    return place
