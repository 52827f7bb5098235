"""The order page's visit card: the front desk (or operations) sees the booked
installation visit and the free slots of the coming week, and books, moves or withdraws
the visit. Booking goes through :mod:`api.booking`, the API's own code path.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from api import booking
from api.console.session import SignedIn
from api.console.web import render, require
from api.deps import AppointmentsDep, CalendarDep, CatalogDep, RegionsDep
from api.errors import ProblemError
from models.enums import AppointmentStatus, ServiceType, SubTaskKind
from models.tables import Appointment, SubTask, WorkOrder
from workorders.appointments import Calendar, Slot
from workorders.auth import Principal, Role
from workorders.reference import LEGACY_COUNTRY, Catalog, UnknownRegion
from workorders.store.appointments import BOOKABLE_JOB_STATES, AppointmentStore

router = APIRouter(prefix="/console", include_in_schema=False)

SEARCH_DAYS = 7
"""How far ahead the card offers slots (the API's search goes up to 14 days)."""

REFUSALS = {
    "SLOT_TAKEN": "visit.slot_taken",
    "NOT_BOOKABLE": "visit.not_bookable",
    "NO_SUCH_SLOT": "visit.no_such_slot",
    "SLOT_TOO_SOON": "visit.slot_too_soon",
    "SLOT_TOO_FAR": "visit.no_such_slot",
}
"""The console's words for the booking's refusals, by the API's code."""


@dataclass(frozen=True)
class VisitCard:
    booked: Appointment | None
    days: list[tuple[date, list[tuple[Slot, int]]]]
    """The free slots by day (in the operator's zone), each with how many technicians
    are free in it."""


@dataclass(frozen=True)
class Visits:
    """What the card reads: the calendar, the bookings, the skill a service needs."""

    appointments: AppointmentStore
    catalog: Catalog
    calendar: Calendar

    async def card(
        self, principal: Principal, order: WorkOrder, tasks: list[SubTask]
    ) -> VisitCard | None:
        """The card, for the front desk and operations while a visit can be booked (the
        order open, nobody on site yet); ``None`` otherwise."""
        if principal.role not in (Role.FRONT_DESK, Role.OPERATIONS) or order.status.is_final:
            return None
        construction = next((t for t in tasks if t.kind is SubTaskKind.CONSTRUCTION), None)
        if construction is not None and construction.job_state not in BOOKABLE_JOB_STATES:
            return None
        history = await self.appointments.appointments(order.id)
        booked = next((a for a in history if a.status is AppointmentStatus.BOOKED), None)
        return VisitCard(booked, await self.free_days(order.region, order.service_type))

    async def free_days(
        self, region: str, service_type: ServiceType
    ) -> list[tuple[date, list[tuple[Slot, int]]]]:
        """The coming week's free slots of the region for the service, by day."""
        search = await booking.free_slots(
            self.appointments,
            self.calendar,
            region,
            self.catalog.skill_for(service_type),
            None,
            SEARCH_DAYS,
        )
        days: dict[date, list[tuple[Slot, int]]] = {}
        for slot, free in search.found:
            days.setdefault(slot.start.date(), []).append((slot, len(free)))
        return list(days.items())


def get_visits(appointments: AppointmentsDep, catalog: CatalogDep, calendar: CalendarDep) -> Visits:
    return Visits(appointments, catalog, calendar)


VisitsDep = Annotated[Visits, Depends(get_visits)]


def refusal_key(e: ProblemError) -> str | None:
    """The console's word for a booking refusal (``None``: show the API's detail)."""
    return REFUSALS.get(e.code or "")


@router.get("/slots", response_class=HTMLResponse)
async def slot_options(
    request: Request,
    principal: SignedIn,
    visits: VisitsDep,
    regions: RegionsDep,
    country: Annotated[str, Query(alias="address.country", max_length=2)] = "",
    province: Annotated[str, Query(alias="address.province", max_length=100)] = "",
    city: Annotated[str, Query(alias="address.city", max_length=100)] = "",
    district: Annotated[str, Query(alias="address.district", max_length=100)] = "",
    postcode: Annotated[str, Query(alias="address.postcode", max_length=10)] = "",
    service_type: Annotated[ServiceType, Query(alias="demand.service_type")] = ServiceType.FTTH,
    selected: Annotated[str, Query(max_length=40)] = "",
) -> HTMLResponse:
    """The new-order form's slot choices for the address typed so far (htmx swaps them
    in as the district or postcode changes): none until a region covers the address."""
    require(principal, Role.FRONT_DESK, Role.OPERATIONS)
    try:
        region = regions.for_address(
            country.strip().upper() or LEGACY_COUNTRY,
            postcode.strip(),
            province=province.strip() or None,
            city=city.strip() or None,
            district=district.strip() or None,
        ).code
    except UnknownRegion:
        days = None
    else:
        days = await visits.free_days(region, service_type)
    return render(
        request, "_slot_options.html", principal, days=days, selected=selected, optional=True
    )
