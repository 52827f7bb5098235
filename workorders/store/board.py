"""What the dispatch / operations board of a region shows, read in one unit of work:
the jobs waiting for a technician, each technician's jobs and load, the installations
in jeopardy or past their time limit, and the sub-tasks waiting for operations.

A read model over the orders, their sub-tasks and the technicians; it writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from models.enums import JobState, OrderStatus, SlaState, SubTaskKind, SubTaskStatus
from models.tables import Technician
from workorders.store.base import (
    EVENT,
    EVENTS,
    ORDER,
    ORDERS,
    SUB_TASK,
    SUB_TASKS,
    TECHNICIANS,
    Store,
    load,
)

_OPEN = (OrderStatus.RECEIVED, OrderStatus.IN_PROGRESS, OrderStatus.WAITING_FOR_OPERATIONS)


@dataclass(frozen=True)
class BoardTask:
    """One sub-task of an open order of the region, with what the board says of it."""

    order_id: str
    external_reference: str
    customer_name: str
    district: str | None
    street: str
    house_number: str
    window_start: datetime | None
    kind: SubTaskKind
    status: SubTaskStatus
    attempts: int
    """How many times it has run: a new wait for operations follows a new attempt."""
    technician_id: str | None
    job_state: JobState | None
    visit: int
    queued_at: datetime | None
    due_at: datetime | None
    sla_state: SlaState | None
    detail: str | None
    data: dict[str, Any] | None

    @property
    def late(self) -> bool:
        """In jeopardy or past the region's time limit."""
        return self.sla_state in (SlaState.JEOPARDY, SlaState.BREACHED)


@dataclass(frozen=True)
class TechnicianLoad:
    technician: Technician
    jobs: list[BoardTask] = field(default_factory=list)


@dataclass(frozen=True)
class Board:
    region: str
    queue: list[BoardTask]
    """Construction jobs waiting for a technician with room, longest waiting first."""
    technicians: list[TechnicianLoad]
    """The region's technicians with their open jobs here, by id."""
    late: list[BoardTask]
    """Installations in jeopardy or past the time limit, soonest due first."""
    waiting: list[BoardTask]
    """Sub-tasks waiting for operations' decision, oldest order first."""


_TASKS = (
    select(
        ORDER.id.label("order_id"),
        ORDER.external_reference,
        ORDER.customer_name,
        ORDER.district,
        ORDER.street,
        ORDER.house_number,
        ORDER.window_start,
        SUB_TASK.kind,
        SUB_TASK.status,
        SUB_TASK.attempts,
        SUB_TASK.technician_id,
        SUB_TASK.job_state,
        SUB_TASK.visit,
        SUB_TASK.queued_at,
        SUB_TASK.due_at,
        SUB_TASK.sla_state,
        SUB_TASK.detail,
        SUB_TASK.data,
    )
    .join_from(ORDERS, SUB_TASKS, SUB_TASK.order_id == ORDER.id)
    .where(ORDER.status.in_(_OPEN))
    .order_by(ORDER.created_at, SUB_TASK.kind)
)
_LAST_EVENT = select(func.coalesce(func.max(EVENT.id), 0)).select_from(EVENTS)


class BoardStore(Store):
    """The boards of the dispatchers and operations."""

    async def board(self, region: str) -> Board:
        def work(connection: Connection) -> Board:
            tasks = [
                BoardTask(**row._mapping)
                for row in connection.execute(_TASKS.where(ORDER.region == region))
            ]
            technicians = [
                load(Technician, row)
                for row in connection.execute(select(TECHNICIANS).order_by(TECHNICIANS.c.id))
            ]
            return _board(region, tasks, technicians)

        return await self.db.transaction(work)

    async def last_event_id(self) -> int:
        """The newest timeline line's id, of any order: a board has moved if it grew."""
        return await self.db.transaction(
            lambda connection: int(connection.execute(_LAST_EVENT).scalar_one())
        )


def _board(region: str, tasks: list[BoardTask], technicians: list[Technician]) -> Board:
    construction = [t for t in tasks if t.kind is SubTaskKind.CONSTRUCTION]
    loads = {t.id: TechnicianLoad(t) for t in technicians if region in t.regions}
    for task in construction:
        if task.technician_id and task.job_state is not JobState.COMPLETED:
            if task.technician_id not in loads:  # moved to another region since
                continue
            loads[task.technician_id].jobs.append(task)
    never = datetime.max
    return Board(
        region=region,
        queue=sorted(
            (t for t in construction if t.technician_id is None and t.queued_at is not None),
            key=lambda t: t.queued_at or never,
        ),
        technicians=list(loads.values()),
        late=sorted(
            (t for t in construction if t.late and t.job_state is not JobState.COMPLETED),
            key=lambda t: (t.due_at or never).replace(tzinfo=None),
        ),
        waiting=[t for t in tasks if t.status is SubTaskStatus.WAITING_FOR_OPERATIONS],
    )
