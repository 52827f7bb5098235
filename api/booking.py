"""Booking an order's installation visit: the free slots of a region, booking one,
moving it and withdrawing it, for the API's routes and the console alike (one code
path: the same checks, the same timeline, the workflow told the same way).

Each refusal is a :class:`~api.errors.ProblemError` with the code the API documents.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from temporalio.client import Client

from api.errors import ProblemError
from api.workflows import signal_report
from models.tables import Appointment, utcnow
from workorders.appointments import Calendar, Slot
from workorders.reference import Catalog
from workorders.store import NotBookable, OrderNotFound, SlotTaken
from workorders.store.appointments import AppointmentStore
from workorders.store.orders import OrderStore
from workorders.store.reports import ReportStore

MAX_SEARCH_DAYS = 14


@dataclass(frozen=True)
class Search:
    """The slots found: from ``first`` for ``days`` days (cut at the horizon), each
    with the technicians free in it."""

    first: date
    days: int
    found: list[tuple[Slot, list[str]]]


async def free_slots(
    appointments: AppointmentStore,
    calendar: Calendar,
    region: str,
    skill: str,
    first_day: date | None,
    days: int,
) -> Search:
    """The slots a booking made now can take, from ``first_day`` (today if left out or
    gone by) for ``days`` days, up to the horizon.

    Raises:
        ProblemError: 422 SEARCH_TOO_FAR: the first day is past the horizon.
    """
    grid, now = calendar.grid, utcnow()
    today = now.astimezone(grid.zone).date()
    first = max(first_day or today, today)  # a day gone by has no slot to book
    last_bookable = (now + timedelta(days=calendar.horizon_days)).astimezone(grid.zone).date()
    if first > last_bookable:
        raise ProblemError(
            422,
            "Search too far ahead",
            f"slots can be booked up to {calendar.horizon_days} days ahead",
            code="SEARCH_TOO_FAR",
        )
    days = min(days, (last_bookable - first).days + 1)
    found = await appointments.free_slots(
        region, skill, grid, first, days, after=calendar.earliest(now)
    )
    return Search(first, days, found)


async def book_visit(
    order_id: str,
    start: datetime,
    actor: str,
    *,
    appointments: AppointmentStore,
    orders: OrderStore,
    reports: ReportStore,
    catalog: Catalog,
    calendar: Calendar,
    temporal: Client,
) -> Appointment:
    """Book the order's visit in the slot starting at ``start``, or move it there; the
    workflow is told when the job changed with it (its technician, its time limit).

    Raises:
        ProblemError: 404 no such order; 409 SLOT_TAKEN, NOT_BOOKABLE; 422 NO_SUCH_SLOT,
            SLOT_TOO_SOON, SLOT_TOO_FAR.
    """
    slot = bookable_slot(calendar, start)
    try:
        order = await orders.order_kind(order_id)
        skill = catalog.skill_for(order.service_type)
        booked, job = await appointments.book(order_id, slot, skill, actor)
    except OrderNotFound as e:
        raise ProblemError(404, "Order not found", str(e)) from None
    except SlotTaken as e:
        raise ProblemError(409, "Slot taken", str(e), code="SLOT_TAKEN") from None
    except NotBookable as e:
        raise ProblemError(409, "Cannot book", str(e), code="NOT_BOOKABLE") from None
    if job is not None:
        await signal_report(temporal, reports, order_id, job)
    return booked


async def withdraw_visit(
    order_id: str,
    actor: str,
    *,
    appointments: AppointmentStore,
    reports: ReportStore,
    temporal: Client,
) -> None:
    """Withdraw the order's booked visit; the workflow is told if the job is dispatched.

    Raises:
        ProblemError: 404 no such order; 409 NOT_BOOKABLE (nothing booked, or the
            technician is on site).
    """
    try:
        job = await appointments.cancel(order_id, actor)
    except OrderNotFound as e:
        raise ProblemError(404, "Order not found", str(e)) from None
    except NotBookable as e:
        raise ProblemError(409, "Cannot withdraw", str(e), code="NOT_BOOKABLE") from None
    if job is not None:
        await signal_report(temporal, reports, order_id, job)


def bookable_slot(calendar: Calendar, start: datetime) -> Slot:
    """The slot starting at ``start``, if it can be booked now.

    Raises:
        ProblemError: 422: no slot starts then, it starts too soon, or too far ahead.
    """
    slot = slot_at(calendar, start)
    check_bookable_now(calendar, slot)
    return slot


def slot_at(calendar: Calendar, start: datetime) -> Slot:
    """The grid's slot starting at ``start``.

    Raises:
        ProblemError: 422 NO_SUCH_SLOT: no slot starts then.
    """
    slot = calendar.grid.slot_at(start)
    if slot is None:
        raise ProblemError(
            422,
            "No such slot",
            f"no installation slot starts at {start.isoformat()}; search the free slots"
            " (GET /appointments/slots) and book one of their starts",
            code="NO_SUCH_SLOT",
        )
    return slot


def check_bookable_now(calendar: Calendar, slot: Slot) -> None:
    """Refuse a slot that starts too soon, or too far ahead, to be booked now.

    Raises:
        ProblemError: 422 SLOT_TOO_SOON or SLOT_TOO_FAR.
    """
    now = utcnow()
    if slot.start <= calendar.earliest(now):
        raise ProblemError(
            422,
            "Slot too soon",
            f"a slot must start after {calendar.earliest(now).isoformat()}",
            code="SLOT_TOO_SOON",
        )
    if slot.start > now + timedelta(days=calendar.horizon_days):
        raise ProblemError(
            422,
            "Slot too far ahead",
            f"slots can be booked up to {calendar.horizon_days} days ahead",
            code="SLOT_TOO_FAR",
        )
