"""The order page's visit card: the front desk (or operations) sees the booked
installation visit and the free slots of the coming week, and books, moves or withdraws
the visit. Booking goes through :mod:`api.booking`, the API's own code path.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from temporalio.client import Client

from api import booking
from api.console.session import SignedIn
from api.console.web import render, require
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
from models.enums import AppointmentStatus, ServiceType, SubTaskKind
from models.tables import Appointment, SubTask, WorkOrder
from workorders.appointments import Calendar, Slot
from workorders.auth import Principal, Role
from workorders.reference import LEGACY_COUNTRY, Catalog, UnknownRegion
from workorders.store.appointments import BOOKABLE_JOB_STATES, AppointmentStore
from workorders.store.orders import OrderStore
from workorders.store.reports import ReportStore

router = APIRouter(prefix="/console", include_in_schema=False)

SEARCH_DAYS = 7
"""How far ahead the card offers slots (the API's search goes up to 14 days)."""

BOOKING_REFUSALS = frozenset(
    {"SLOT_TAKEN", "NOT_BOOKABLE", "NO_SUCH_SLOT", "SLOT_TOO_SOON", "SLOT_TOO_FAR"}
)
"""The codes of the booking's refusals (:mod:`api.booking`), which the console says at
the slot; their words are the catalog's ``refusal.<code>``."""


@dataclass(frozen=True)
class VisitCard:
    booked: Appointment | None
    days: list[tuple[date, list[tuple[Slot, int]]]]
    """The free slots by day (in the operator's zone), each with how many technicians
    are free in it."""


@dataclass(frozen=True)
class Visits:
    """The card's reads and actions: the calendar, the bookings, the skill a service
    needs, and booking through :mod:`api.booking` (which tells the workflow)."""

    appointments: AppointmentStore
    orders: OrderStore
    reports: ReportStore
    catalog: Catalog
    calendar: Calendar
    temporal: Client

    async def book(self, order_id: str, start: str, actor: str) -> None:
        """Book the visit in the slot starting at ``start`` (the form's value), or move
        it there.

        Raises:
            ProblemError: as :func:`api.booking.book_visit`; 422 NO_SUCH_SLOT for a
                value that is no instant.
        """
        try:
            instant = datetime.fromisoformat(start)
        except ValueError:
            instant = None
        if instant is None or instant.tzinfo is None:
            raise ProblemError(422, "No such slot", "choose a slot", code="NO_SUCH_SLOT")
        await booking.book_visit(
            order_id,
            instant,
            actor,
            appointments=self.appointments,
            orders=self.orders,
            reports=self.reports,
            catalog=self.catalog,
            calendar=self.calendar,
            temporal=self.temporal,
        )

    async def withdraw(self, order_id: str, actor: str) -> None:
        """Withdraw the booked visit (raises as :func:`api.booking.withdraw_visit`)."""
        await booking.withdraw_visit(
            order_id,
            actor,
            appointments=self.appointments,
            reports=self.reports,
            temporal=self.temporal,
        )

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


def get_visits(
    appointments: AppointmentsDep,
    orders: OrdersDep,
    reports: ReportsDep,
    catalog: CatalogDep,
    calendar: CalendarDep,
    temporal: TemporalDep,
) -> Visits:
    return Visits(appointments, orders, reports, catalog, calendar, temporal)


VisitsDep = Annotated[Visits, Depends(get_visits)]


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
