"""Booked appointments in the work-order database, on SQLite and on PostgreSQL: free
slots follow working hours, days off and bookings; a slot is never booked twice, however
many bookings race for it; the job follows its booking."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import Connection, literal, select

from models.enums import AppointmentStatus, ServiceType
from models.tables import Technician, UtcDateTime, WorkOrder, utcnow
from tests.factories import CALENDAR, new_order
from workorders.appointments import WorkingHours, epoch
from workorders.store import NotBookable, SlotTaken, Stores
from workorders.store.base import epoch_of

GRID = CALENDAR.grid
MORNINGS = {day: ["08:00-12:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
"""Two slots a day (08:00-10:00 and 10:00-12:00 in the default grid)."""


def next_week() -> date:
    return (utcnow() + timedelta(days=7)).astimezone(GRID.zone).date()


async def region_of(stores: Stores, n: int, **hours: object) -> tuple[str, list[str]]:
    region = f"appt-{uuid.uuid4().hex[:8]}"
    ids = []
    for i in range(n):
        technician = await stores.technicians.add_technician(
            Technician(
                id=f"{region}-{i}",
                name=f"技术员{i}",
                regions=[region],
                skills=["fibre"],
                working_hours=WorkingHours.model_validate(hours or MORNINGS).model_dump(
                    mode="json"
                ),
            )
        )
        ids.append(technician.id)
    return region, ids


async def order_in(stores: Stores, region: str) -> WorkOrder:
    order, _ = await stores.orders.create_order(new_order(region=region))
    return order


async def test_free_slots_follow_working_hours_days_off_and_bookings(stores: Stores) -> None:
    day = next_week()
    region, (a, b) = await region_of(stores, 2)
    off = WorkingHours(**MORNINGS, days_off=[day])
    await stores.technicians.change_technician(b, working_hours=off.model_dump(mode="json"))
    found = await stores.appointments.free_slots(region, "fibre", GRID, day, 2, after=utcnow())
    starts = [(s.start.hour, free) for s, free in found]
    # day one: only a works (b is off); day two: both, mornings only
    assert starts == [(8, [a]), (10, [a]), (8, [a, b]), (10, [a, b])]

    order = await order_in(stores, region)
    slot = found[2][0]
    booked, job = await stores.appointments.book(order.id, slot, "fibre", "desk")
    assert (booked.technician_id, booked.start, job) == (a, slot.start, None)  # not dispatched
    again = await stores.appointments.free_slots(region, "fibre", GRID, day, 2, after=utcnow())
    assert [(s.start.hour, free) for s, free in again][2] == (8, [b])
    # the copper skill, or a slot already begun, finds nothing
    assert (
        await stores.appointments.free_slots(region, "copper", GRID, day, 2, after=utcnow()) == []
    )
    late = datetime.combine(day + timedelta(days=2), GRID.first, GRID.zone)
    assert await stores.appointments.free_slots(region, "fibre", GRID, day, 2, after=late) == []


async def test_fifty_concurrent_bookings_book_each_slot_once(stores: Stores) -> None:
    day = next_week()
    region, technicians = await region_of(stores, 3)
    slots = [
        s
        for s, _ in await stores.appointments.free_slots(
            region, "fibre", GRID, day, 1, after=utcnow()
        )
    ]
    assert len(slots) == 2
    orders = [await order_in(stores, region) for _ in range(50)]

    async def book(i: int) -> str | None:
        try:
            booked, _ = await stores.appointments.book(
                orders[i].id, slots[i % 2], "fibre", f"desk-{i}"
            )
        except SlotTaken:
            return None
        return booked.technician_id

    results = await asyncio.gather(*(book(i) for i in range(50)))
    booked = [r for r in results if r is not None]
    assert len(booked) == 6  # three technicians, two slots: each slot of each once
    for start in slots:
        taken = [
            a
            for o in orders
            for a in await stores.appointments.appointments(o.id)
            if a.start == start.start and a.status is AppointmentStatus.BOOKED
        ]
        assert sorted(a.technician_id for a in taken) == sorted(technicians)
    left = await stores.appointments.free_slots(region, "fibre", GRID, day, 1, after=utcnow())
    assert left == []


async def test_moving_a_booking_prefers_the_technician_and_moves_the_job(stores: Stores) -> None:
    day = next_week()
    region, (a, b) = await region_of(stores, 2)
    order = await order_in(stores, region)
    await stores.progress.start_order(order.id)
    slots = [
        s
        for s, _ in await stores.appointments.free_slots(
            region, "fibre", GRID, day, 1, after=utcnow()
        )
    ]
    booked, job = await stores.appointments.book(order.id, slots[0], "fibre", "desk")
    assert booked.technician_id == a and job is not None and job.job is None
    # the assignment honours the booking
    state = await stores.assignment.assign_technician(order.id, region, "fibre", [ServiceType.FTTH])
    assert state is not None and state.job is not None and state.job.technician_id == a
    assert state.appointment is not None and state.appointment.start == slots[0].start

    # a's second slot is taken by another order: moving there goes to b, and so does the job
    other = await order_in(stores, region)
    await stores.appointments.book(other.id, slots[1], "fibre", "desk")
    moved, job = await stores.appointments.book(order.id, slots[1], "fibre", "desk")
    assert moved.technician_id == b
    assert job is not None and job.job is not None and job.job.technician_id == b
    assert job.version > state.version
    history = await stores.appointments.appointments(order.id)
    assert [h.status for h in history] == [AppointmentStatus.RESCHEDULED, AppointmentStatus.BOOKED]
    same, unchanged = await stores.appointments.book(order.id, slots[1], "fibre", "desk")
    assert (same.id, unchanged) == (moved.id, None)  # the same booking again changes nothing

    # withdrawn, it is gone: withdrawing again is refused
    await stores.appointments.cancel(order.id, "desk")
    with pytest.raises(NotBookable):
        await stores.appointments.cancel(order.id, "desk")
    kinds = [e.kind for e in await stores.orders.timeline(order.id)]
    assert "appointment.booked" in kinds and "appointment.rescheduled" in kinds
    assert "appointment.cancelled" in kinds and "construction.reassigned" in kinds


@pytest.mark.parametrize("microsecond", [0, 999_999])
async def test_the_database_reads_a_timestamp_as_the_seconds_python_makes_of_it(
    stores: Stores, microsecond: int
) -> None:
    """How a search compares bookings with the grid's slots (:func:`epoch_of`)."""
    at = datetime(2026, 12, 7, 8, 0, 0, microsecond, tzinfo=GRID.zone)

    def work(connection: Connection) -> int:
        return connection.execute(select(epoch_of(literal(at, UtcDateTime())))).scalar_one()

    assert await stores.db.run_on_connection(work) == epoch(at) == 1796601600
