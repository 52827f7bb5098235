"""Booked appointments: the free installation slots for an address or an order
(shaped after TMF646 searchTimeSlot), and booking, moving or withdrawing an order's
visit. The order's workflow hears of each booking: its technician and time limit follow
it."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from api import booking
from api.deps import (
    AppointmentsDep,
    CalendarDep,
    CatalogDep,
    OrdersDep,
    RegionsDep,
    ReportsDep,
    TemporalDep,
)
from api.errors import ProblemError
from api.openapi import refusals
from api.security import FrontDeskOrOperations
from models.api import (
    AppointmentRequest,
    AppointmentResponse,
    AvailableTimeSlot,
    SearchTimeSlotResponse,
    TimePeriod,
)
from models.enums import ServiceType
from models.tables import Appointment
from workorders.reference import LEGACY_COUNTRY, UnknownRegion
from workorders.store import OrderNotFound

router = APIRouter(tags=["appointments"])


def _response(booked: Appointment) -> AppointmentResponse:
    return AppointmentResponse.model_validate(booked, from_attributes=True)


def _not_found(e: OrderNotFound) -> ProblemError:
    return ProblemError(404, "Order not found", str(e))


@router.get(
    "/appointments/slots",
    response_model=SearchTimeSlotResponse,
    responses={
        404: {"description": "No such order."},
        422: {
            "description": "No region covers the address, none is named, or the search is"
            " out of range.",
            **refusals("ADDRESS_NOT_COVERED", "ADDRESS_NEEDED", "SEARCH_TOO_FAR"),
        },
    },
)
async def search_slots(
    principal: FrontDeskOrOperations,
    appointments: AppointmentsDep,
    orders: OrdersDep,
    regions: RegionsDep,
    catalog: CatalogDep,
    calendar: CalendarDep,
    order_id: Annotated[
        str | None,
        Query(max_length=36, description="Slots for this order's address and service."),
    ] = None,
    country: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$")] = None,
    province: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    city: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    district: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=100,
            description="With the province and city where the country's addresses have them"
            " (a district's name is unique only within its city).",
        ),
    ] = None,
    postcode: Annotated[str | None, Query(min_length=1, max_length=10)] = None,
    service_type: ServiceType = ServiceType.FTTH,
    first_day: Annotated[
        date | None, Query(alias="from", description="The first day (default: today).")
    ] = None,
    days: Annotated[int, Query(ge=1, le=booking.MAX_SEARCH_DAYS)] = 7,
) -> SearchTimeSlotResponse:
    """The installation slots free for an order, or for an address (its district or
    postcode), from ``from`` for ``days`` days: each slot with how many technicians of
    the region with the service's skill are free in it. Book one with the order
    (``appointment.start`` of ``POST /orders``) or later
    (``PUT /orders/{order_id}/appointment``)."""
    if order_id is not None:
        try:
            order = await orders.get_order(order_id)
        except OrderNotFound as e:
            raise _not_found(e) from None
        region, service_type = order.region, order.service_type
    else:
        if district is None and postcode is None:
            raise ProblemError(
                422,
                "Address needed",
                "give order_id, or the address's district or postcode",
                code="ADDRESS_NEEDED",
            )
        try:
            region = regions.for_address(
                country or LEGACY_COUNTRY,
                postcode or "",
                province=province,
                city=city,
                district=district,
            ).code
        except UnknownRegion as e:
            raise ProblemError(
                422, "Address not served", str(e), code="ADDRESS_NOT_COVERED"
            ) from None
    search = await booking.free_slots(
        appointments, calendar, region, catalog.skill_for(service_type), first_day, days
    )
    first, days, grid = search.first, search.days, calendar.grid
    start = datetime.combine(first, grid.first, grid.zone)
    return SearchTimeSlotResponse(
        region=region,
        time_zone=grid.zone.key,
        requestedTimeSlot=TimePeriod(
            startDateTime=start,
            endDateTime=datetime.combine(first + timedelta(days=days), grid.first, grid.zone),
        ),
        availableTimeSlot=[
            AvailableTimeSlot(
                id=slot.start.isoformat(),
                validFor=TimePeriod(startDateTime=slot.start, endDateTime=slot.end),
                capacity=len(free),
            )
            for slot, free in search.found
        ],
    )


@router.put(
    "/orders/{order_id}/appointment",
    response_model=AppointmentResponse,
    responses={
        404: {"description": "No such order."},
        409: {
            "description": "The slot is taken, the order has ended, or its technician is"
            " on site already."
        },
        422: {
            "description": "No slot starts then, or it is too soon or too far ahead.",
            **refusals("NO_SUCH_SLOT", "SLOT_TOO_SOON", "SLOT_TOO_FAR"),
        },
    },
)
async def book_appointment(
    order_id: str,
    request: AppointmentRequest,
    principal: FrontDeskOrOperations,
    appointments: AppointmentsDep,
    orders: OrdersDep,
    reports: ReportsDep,
    catalog: CatalogDep,
    calendar: CalendarDep,
    temporal: TemporalDep,
) -> AppointmentResponse:
    """Book the order's installation visit in a free slot, or move it to another (the
    customer asks, or a visit failed). The technician free in the slot gets the job
    (the one who has it, if they are free), and the job's time limit follows the slot."""
    booked = await booking.book_visit(
        order_id,
        request.start,
        principal.actor,
        appointments=appointments,
        orders=orders,
        reports=reports,
        catalog=catalog,
        calendar=calendar,
        temporal=temporal,
    )
    return _response(booked)


@router.delete(
    "/orders/{order_id}/appointment",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={
        404: {"description": "No such order."},
        409: {"description": "No visit is booked, or the technician is on site already."},
    },
)
async def withdraw_appointment(
    order_id: str,
    principal: FrontDeskOrOperations,
    appointments: AppointmentsDep,
    reports: ReportsDep,
    temporal: TemporalDep,
) -> Response:
    """Withdraw the order's booked visit: the order then waits for no slot, and the
    region's time limit runs again from now."""
    await booking.withdraw_visit(
        order_id, principal.actor, appointments=appointments, reports=reports, temporal=temporal
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/orders/{order_id}/appointments",
    response_model=list[AppointmentResponse],
    responses={404: {"description": "No such order."}},
)
async def list_appointments(
    order_id: str, principal: FrontDeskOrOperations, appointments: AppointmentsDep
) -> list[AppointmentResponse]:
    """Every visit booked for the order, oldest first, with how each ended."""
    try:
        return [_response(a) for a in await appointments.appointments(order_id)]
    except OrderNotFound as e:
        raise _not_found(e) from None
