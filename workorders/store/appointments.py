"""Booked appointments: the installation slots free for a region, booking one with a
technician (with the order, or later), moving it, and what a missed visit or the job's
end does to it.

A slot is never booked twice: a technician's booked slots, and an order's booking, are
each unique in the database (partial unique indexes), and a booking inserts with
``ON CONFLICT DO NOTHING``, so that of two bookings racing for one technician's slot
one inserts and the other tries the next technician, in the same transaction.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Insert, Text, bindparam, cast, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from models.enums import AppointmentStatus, JobState
from models.payloads import ConstructionJobState
from models.tables import Appointment, SubTask, WorkOrder, utcnow
from workorders.appointments import Bookable, Grid, Slot, first_free, free_slots, week_of
from workorders.store.base import (
    SUB_TASK,
    SUB_TASKS,
    SYSTEM,
    TECHNICIAN,
    Store,
    add_event,
    epoch_of,
    load,
    order_of,
)
from workorders.store.errors import NotBookable, SlotTaken
from workorders.store.jobs import (
    APPOINTMENT,
    APPOINTMENTS,
    CONSTRUCTION_OF_ORDER,
    END_BOOKING,
    NOT_YET_ON_SITE,
    booked_of,
    construction_job_state,
    construction_of,
    end_booking,
    set_order_technician,
    take,
    unbook,
)

_MOVE_JOB = (
    update(SUB_TASKS)
    .where(*CONSTRUCTION_OF_ORDER)
    .values(
        technician_id=bindparam("technician", type_=SUB_TASK.technician_id.type),
        job_state=JobState.ASSIGNED,
        version=SUB_TASK.version + 1,
        updated_at=bindparam("at", type_=SUB_TASK.updated_at.type),
        # the API signals the workflow; until it got the signal, the resumer sends it
        report_unsignalled_since=bindparam("at", type_=SUB_TASK.updated_at.type),
    )
)
_NEW_VERSION = (
    update(SUB_TASKS)
    .where(*CONSTRUCTION_OF_ORDER)
    .values(
        version=SUB_TASK.version + 1,
        updated_at=bindparam("at", type_=SUB_TASK.updated_at.type),
        # the API signals the workflow; until it got the signal, the resumer sends it
        report_unsignalled_since=bindparam("at", type_=SUB_TASK.updated_at.type),
    )
)

BOOKABLE_JOB_STATES = (None, *NOT_YET_ON_SITE)
"""A booking can be made or moved while no technician is on site yet."""


def _insert_unless_taken(connection: Connection, values: dict[str, Any]) -> bool:
    """Insert the booking unless a unique index refuses it; whether it was inserted."""
    statement: Insert
    if connection.dialect.name == "postgresql":
        statement = postgresql.insert(APPOINTMENTS).on_conflict_do_nothing()
    else:
        statement = sqlite.insert(APPOINTMENTS).on_conflict_do_nothing()
    # the inserted row's id: the drivers' rowcounts differ for a skipped insert
    return connection.execute(statement.returning(APPOINTMENT.id), values).first() is not None


def _bookable(
    connection: Connection, region: str, skill: str, first: datetime, last: datetime
) -> list[Bookable]:
    """The region's active technicians with the skill, with their bookings between
    ``first`` and ``last``."""
    technicians = [
        t for t in connection.execute(_TECHNICIANS) if region in t.regions and skill in t.skills
    ]
    booked: dict[str, frozenset[int]] = dict.fromkeys((t.id for t in technicians), frozenset())
    if technicians:
        rows = connection.execute(
            _BOOKED, {"technicians": list(booked), "first": first, "last": last}
        )
        for technician_id, starts in rows:
            booked[technician_id] = frozenset(map(int, starts.split(",")))
    return [
        Bookable(t.id, week_of(t.working_hours), booked[t.id])
        for t in sorted(technicians, key=lambda t: t.id)
    ]


_TECHNICIANS = select(
    TECHNICIAN.id,
    TECHNICIAN.regions,
    TECHNICIAN.skills,
    # as the JSON text: the key of the parsed weeks' cache
    cast(TECHNICIAN.working_hours, Text).label("working_hours"),
).where(TECHNICIAN.active)
_BOOKED = (
    # per technician, their booked starts in seconds, as one text: a fortnight of a
    # region's bookings is thousands of rows, each a row object the search would make
    # (and the garbage collector then walk) only to read one number
    select(
        APPOINTMENT.technician_id,
        func.aggregate_strings(cast(epoch_of(APPOINTMENT.start), Text), ","),
    )
    .where(
        APPOINTMENT.status == AppointmentStatus.BOOKED,
        APPOINTMENT.technician_id.in_(bindparam("technicians", expanding=True)),
        APPOINTMENT.start >= bindparam("first", type_=APPOINTMENT.start.type),
        APPOINTMENT.start <= bindparam("last", type_=APPOINTMENT.start.type),
    )
    .group_by(APPOINTMENT.technician_id)
)


def book_slot(
    connection: Connection,
    order_id: str,
    region: str,
    skill: str,
    slot: Slot,
    actor: str,
    *,
    prefer: str | None = None,
    at: datetime | None = None,
) -> Appointment:
    """Book ``slot`` for the order with a technician free in it (``prefer`` first,
    then the least booked), replacing the order's booking; on the timeline.

    Raises:
        SlotTaken: nobody of the region with the skill is free in that slot any more.
    """
    now = at or utcnow()
    previous = booked_of(connection, order_id)
    if previous is not None:
        if previous.start == slot.start:
            return previous  # booked already: the same request again
        connection.execute(
            END_BOOKING,
            {"order": order_id, "new_status": AppointmentStatus.RESCHEDULED, "at": now},
        )
    candidates = _bookable(connection, region, skill, slot.start, slot.start)
    free = [t.id for t in candidates if t.free(slot)]
    free.sort(key=lambda t: (t != prefer, t != (previous and previous.technician_id)))
    for technician_id in free:
        values = {
            "order_id": order_id,
            "technician_id": technician_id,
            "start": slot.start,
            "end": slot.end,
            "status": AppointmentStatus.BOOKED,
            "booked_by": actor,
            "booked_at": now,
        }
        if _insert_unless_taken(connection, values):
            add_event(
                connection,
                order_id,
                actor,
                "appointment.rescheduled" if previous else "appointment.booked",
                now,
                technician_id=technician_id,
                start=slot.start.isoformat(),
                end=slot.end.isoformat(),
                **(
                    {"previous_start": previous.start.astimezone(slot.start.tzinfo).isoformat()}
                    if previous
                    else {}
                ),
            )
            booked = booked_of(connection, order_id)
            assert booked is not None  # inserted just now, in this transaction
            return booked
    raise SlotTaken(
        f"no {skill} technician of region {region} is free from {slot.start.isoformat()}"
        " any more; search the free slots again"
    )


def _follow_booking(
    connection: Connection, order_id: str, booked: Appointment, actor: str, now: datetime
) -> None:
    """The construction job follows its booking: to the booked technician if another
    has it (and is not on site yet), and at a new version, so that the workflow reads
    it again (the new appointment moves the job's time limit)."""
    task = construction_of(connection, order_id)
    if task is None:
        return  # not dispatched yet: the assignment will honour the booking
    if task.technician_id is not None and task.technician_id != booked.technician_id:
        unbook(connection, task.technician_id)
        take(connection, booked.technician_id)
        connection.execute(
            _MOVE_JOB, {"order": order_id, "technician": booked.technician_id, "at": now}
        )
        set_order_technician(connection, order_id, booked.technician_id)
        add_event(
            connection,
            order_id,
            actor,
            "construction.reassigned",
            now,
            technician_id=booked.technician_id,
            previous_technician_id=task.technician_id,
            reason="the booked slot is with another technician",
        )
    else:
        connection.execute(_NEW_VERSION, {"order": order_id, "at": now})


class AppointmentStore(Store):
    """The installation calendar: free slots, bookings, and their history."""

    async def free_slots(
        self,
        region: str,
        skill: str,
        grid: Grid,
        first_day: date,
        days: int,
        *,
        after: datetime,
    ) -> list[tuple[Slot, list[str]]]:
        """The slots from ``first_day`` on for ``days`` days, starting after ``after``,
        that a technician of the region with the skill can take; each with who can."""
        first = datetime.combine(first_day, grid.first, grid.zone)
        last = datetime.combine(first_day + timedelta(days=days), grid.first, grid.zone)

        def work(connection: Connection) -> list[Bookable]:
            return _bookable(connection, region, skill, first, last)

        technicians = await self.db.run_on_connection(work)
        return free_slots(grid, technicians, first_day, days, after=after)

    async def book(
        self,
        order_id: str,
        slot: Slot,
        skill: str,
        actor: str,
    ) -> tuple[Appointment, ConstructionJobState | None]:
        """Book (or move) the order's appointment; the booking and, when the order's
        construction job changed with it, the job as it stands after.

        Raises:
            OrderNotFound: no such order.
            NotBookable: the order is closed, or a technician is on site already.
            SlotTaken: nobody is free in that slot any more.
        """

        def work(connection: Connection) -> tuple[Appointment, ConstructionJobState | None]:
            order = order_of(connection, order_id)
            task = construction_of(connection, order_id)
            _check_bookable(order, task)
            now = utcnow()
            previous = booked_of(connection, order_id)
            booked = book_slot(
                connection,
                order_id,
                order.region,
                skill,
                slot,
                actor,
                prefer=task.technician_id if task else None,
                at=now,
            )
            if previous is not None and previous.id == booked.id:
                return booked, None
            _follow_booking(connection, order_id, booked, actor, now)
            return booked, construction_job_state(connection, order_id) if task else None

        return await self.db.transaction(work)

    async def cancel(self, order_id: str, actor: str) -> ConstructionJobState | None:
        """Withdraw the order's booking (the order then waits for no slot); the job as
        it stands after, if dispatched.

        Raises:
            OrderNotFound: no such order.
            NotBookable: it has no booking, or a technician is on site already.
        """

        def work(connection: Connection) -> ConstructionJobState | None:
            order = order_of(connection, order_id)
            task = construction_of(connection, order_id)
            _check_bookable(order, task)
            now = utcnow()
            if end_booking(connection, order_id, AppointmentStatus.CANCELLED, now, actor) is None:
                raise NotBookable(f"order {order_id} has no booked appointment")
            if task is None:
                return None
            connection.execute(_NEW_VERSION, {"order": order_id, "at": now})
            return construction_job_state(connection, order_id)

        return await self.db.transaction(work)

    async def appointments(self, order_id: str) -> list[Appointment]:
        """Every booking the order had, oldest first."""

        def work(connection: Connection) -> list[Appointment]:
            order_of(connection, order_id)
            rows = connection.execute(
                select(APPOINTMENTS)
                .where(APPOINTMENT.order_id == order_id)
                .order_by(APPOINTMENT.id)
            )
            return [load(Appointment, r) for r in rows]

        return await self.db.run_on_connection(work)

    async def rebook_missed(
        self,
        order_id: str,
        skill: str,
        grid: Grid,
        horizon_days: int,
        *,
        missed: datetime,
        after: datetime,
    ) -> ConstructionJobState:
        """The visit booked from ``missed`` failed (the customer was absent): that
        booking is missed, and the technician's first free slot after ``after`` within
        the horizon is booked instead, if they have one. Idempotent: once the booking
        is another (made by an earlier run, or by the front desk), it stays.

        Returns:
            The job as it stands after (its appointment the new one, or none).
        """

        def work(connection: Connection) -> ConstructionJobState:
            order = order_of(connection, order_id)
            state = construction_job_state(connection, order_id)
            booked = booked_of(connection, order_id)
            job = state.job
            if booked is None or job is None or booked.start != missed:
                return state  # booked again already, or withdrawn
            now = utcnow()
            end_booking(connection, order_id, AppointmentStatus.MISSED, now, SYSTEM)
            horizon = after + timedelta(days=horizon_days + 1)
            technician = next(
                (
                    t
                    for t in _bookable(connection, order.region, skill, after, horizon)
                    if t.id == job.technician_id
                ),
                None,
            )
            slot = first_free(grid, technician, after, horizon_days) if technician else None
            if technician is not None and slot is not None:
                book_slot(
                    connection,
                    order_id,
                    order.region,
                    skill,
                    slot,
                    SYSTEM,
                    prefer=technician.id,
                    at=now,
                )
            connection.execute(_NEW_VERSION, {"order": order_id, "at": now})
            return construction_job_state(connection, order_id)

        return await self.db.transaction(work)


def _check_bookable(order: WorkOrder, task: SubTask | None) -> None:
    """Refuse a booking the order can no longer take.

    Raises:
        NotBookable: the order is final, or its technician is on site (or done).
    """
    if order.status.is_final:
        raise NotBookable(f"order {order.id} is {order.status.value}")
    if task is not None and task.job_state not in BOOKABLE_JOB_STATES:
        state = task.job_state.value if task.job_state else "closed"
        raise NotBookable(
            f"the installation job is {state}: a visit can be booked or moved only before"
            " the technician is on site"
        )
