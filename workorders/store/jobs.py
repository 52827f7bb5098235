"""The construction job as several stores see it: whose it is, where it stands, the
technicians' job counts it changes, and the order's copy of its technician."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, bindparam, select, update

from models.enums import AppointmentStatus, JobState, SubTaskKind, SubTaskStatus
from models.payloads import BookedVisit, ConstructionJob, ConstructionJobState
from models.tables import Appointment, SubTask
from workorders.store.base import (
    ORDER,
    ORDERS,
    SUB_TASK,
    TABLES,
    TECHNICIAN,
    TECHNICIANS,
    add_event,
    load,
    no_sub_task,
    sub_task_of,
)

CLOSED_CONSTRUCTION = (SubTaskStatus.CANCELLED, SubTaskStatus.FAILED)
"""A construction sub-task in these takes no more reports."""
NOT_YET_ON_SITE = (JobState.ASSIGNED, JobState.ACCEPTED, JobState.EN_ROUTE)

CONSTRUCTION_OF_ORDER = (
    SUB_TASK.order_id == bindparam("order"),
    SUB_TASK.kind == SubTaskKind.CONSTRUCTION,
)
"""The order's (parameter ``order``) construction sub-task, in a statement's where."""

APPOINTMENTS = TABLES["appointment"]
APPOINTMENT = APPOINTMENTS.c
_BOOKED_VISIT = select(APPOINTMENT.technician_id, APPOINTMENT.start, APPOINTMENT.end).where(
    APPOINTMENT.order_id == bindparam("order"),
    APPOINTMENT.status == AppointmentStatus.BOOKED,
)

_BOOKED_OF_ORDER = select(APPOINTMENTS).where(
    APPOINTMENT.order_id == bindparam("order"),
    APPOINTMENT.status == AppointmentStatus.BOOKED,
)
END_BOOKING = (
    update(APPOINTMENTS)
    .where(
        APPOINTMENT.order_id == bindparam("order"),
        APPOINTMENT.status == AppointmentStatus.BOOKED,
    )
    .values(
        status=bindparam("new_status", type_=APPOINTMENT.status.type),
        ended_at=bindparam("at", type_=APPOINTMENT.ended_at.type),
    )
)
_UNBOOK = (
    update(TECHNICIANS)
    .where(TECHNICIAN.id == bindparam("technician"), TECHNICIAN.open_jobs > 0)
    .values(open_jobs=TECHNICIAN.open_jobs - 1)
)
"""One job less for a technician (built once: the hot path of a completion report)."""
_BOOK = (
    update(TECHNICIANS)
    .where(
        TECHNICIAN.id == bindparam("technician"),
        TECHNICIAN.active,
        TECHNICIAN.open_jobs < TECHNICIAN.max_open_jobs,
    )
    .values(open_jobs=TECHNICIAN.open_jobs + 1)
)
_TAKE = (
    update(TECHNICIANS)
    .where(TECHNICIAN.id == bindparam("technician"))
    .values(open_jobs=TECHNICIAN.open_jobs + 1)
)
_ORDER_TECHNICIAN = (
    update(ORDERS)
    .where(ORDER.id == bindparam("order"))
    .values(technician_id=bindparam("technician", type_=SUB_TASK.technician_id.type))
)


def book(connection: Connection, technician_id: str) -> bool:
    """Count one more job for the technician, if they have room: atomic."""
    return bool(connection.execute(_BOOK, {"technician": technician_id}).rowcount == 1)


def unbook(connection: Connection, technician_id: str) -> None:
    """Count one job less for the technician."""
    connection.execute(_UNBOOK, {"technician": technician_id})


def take(connection: Connection, technician_id: str) -> None:
    """Count one more job for the technician, above their maximum if need be (a job
    booked in a slot with them)."""
    connection.execute(_TAKE, {"technician": technician_id})


def booked_of(connection: Connection, order_id: str) -> Appointment | None:
    """The order's booked appointment, if it has one."""
    row = connection.execute(_BOOKED_OF_ORDER, {"order": order_id}).first()
    return None if row is None else load(Appointment, row)


def end_booking(
    connection: Connection, order_id: str, status: AppointmentStatus, at: datetime, actor: str
) -> Appointment | None:
    """End the order's booking (kept, missed, cancelled...), on its timeline; the
    booking it ended, if there was one."""
    booked = booked_of(connection, order_id)
    if booked is None:
        return None
    connection.execute(END_BOOKING, {"order": order_id, "new_status": status, "at": at})
    add_event(
        connection,
        order_id,
        actor,
        f"appointment.{status.value}",
        at,
        technician_id=booked.technician_id,
        start=booked.start.isoformat(),
        end=booked.end.isoformat(),
    )
    return booked


def set_order_technician(connection: Connection, order_id: str, technician_id: str | None) -> None:
    """Keep the order's copy of its installation's technician (the list filters by it)."""
    connection.execute(_ORDER_TECHNICIAN, {"order": order_id, "technician": technician_id})


def construction_of(connection: Connection, order_id: str) -> SubTask | None:
    return sub_task_of(connection, order_id, SubTaskKind.CONSTRUCTION)


def job_of(task: SubTask | None) -> ConstructionJob | None:
    """The construction job of a sub-task row, if a technician has it."""
    if task is None or task.technician_id is None or task.job_state is None:
        return None
    result = task.result or {}
    return ConstructionJob(
        technician_id=task.technician_id,
        state=task.job_state,
        ont_serial=result.get("ont_serial") if task.job_state is JobState.COMPLETED else None,
        reason_code=(
            result.get("reason_code") if task.job_state is JobState.CANNOT_COMPLETE else None
        ),
        visit=task.visit,
    )


def booked_visit(connection: Connection, order_id: str) -> BookedVisit | None:
    """The visit booked for the order, if one is."""
    row = connection.execute(_BOOKED_VISIT, {"order": order_id}).first()
    return None if row is None else BookedVisit(technician_id=row[0], start=row[1], end=row[2])


def job_state_of(connection: Connection, task: SubTask) -> ConstructionJobState:
    return ConstructionJobState(
        job=job_of(task),
        version=task.version,
        appointment=booked_visit(connection, task.order_id),
    )


def construction_job_state(connection: Connection, order_id: str) -> ConstructionJobState:
    """The order's construction job as it stands now, at its version.

    Raises:
        OrderNotFound: no such order, or its sub-tasks are not created yet.
    """
    task = construction_of(connection, order_id)
    if task is None:
        raise no_sub_task(order_id, SubTaskKind.CONSTRUCTION)
    return job_state_of(connection, task)
