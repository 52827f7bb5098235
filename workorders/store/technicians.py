"""The technicians: who works where with which skills, their jobs, and the queued jobs
each could take."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Select, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from models.enums import AppointmentStatus, JobState, ServiceType, SubTaskKind, SubTaskStatus
from models.tables import Technician
from workorders.store.base import (
    ORDER,
    ORDERS,
    SUB_TASK,
    SUB_TASKS,
    TECHNICIAN,
    TECHNICIANS,
    Store,
    load,
)
from workorders.store.errors import TechnicianExists
from workorders.store.jobs import APPOINTMENT, APPOINTMENTS


@dataclass(frozen=True)
class TechnicianJob:
    """One installation job in a technician's queue, with its customer and place."""

    order_id: str
    external_reference: str
    job_state: JobState | None
    status: SubTaskStatus
    visit: int
    due_at: datetime | None
    assigned_at: datetime
    customer_name: str
    customer_phone: str
    country: str
    province: str | None
    city: str
    district: str | None
    street: str
    house_number: str
    building: str | None
    unit: str | None
    room: str | None
    postcode: str
    service_type: ServiceType
    profile: str
    window_start: datetime | None
    window_end: datetime | None
    appointment_start: datetime | None
    """The visit booked with the customer, if one is."""
    appointment_end: datetime | None

    def in_turn(self) -> tuple[datetime, datetime]:
        """Where the job stands in the technician's day: by its booked visit, else its
        window; those with neither after, by assignment."""
        return (self.appointment_start or self.window_start or _NEVER, self.assigned_at)


_NEVER = datetime.max.replace(tzinfo=UTC)


def _technician_jobs(*, open_only: bool) -> Select[Any]:
    query = (
        select(
            ORDER.id.label("order_id"),
            ORDER.external_reference,
            SUB_TASK.job_state,
            SUB_TASK.status,
            SUB_TASK.visit,
            SUB_TASK.due_at,
            SUB_TASK.updated_at.label("assigned_at"),
            ORDER.customer_name,
            ORDER.customer_phone,
            ORDER.country,
            ORDER.province,
            ORDER.city,
            ORDER.district,
            ORDER.street,
            ORDER.house_number,
            ORDER.building,
            ORDER.unit,
            ORDER.room,
            ORDER.postcode,
            ORDER.service_type,
            ORDER.profile,
            ORDER.window_start,
            ORDER.window_end,
            APPOINTMENT.start.label("appointment_start"),
            APPOINTMENT.end.label("appointment_end"),
        )
        .join_from(ORDERS, SUB_TASKS, SUB_TASK.order_id == ORDER.id)
        .outerjoin(
            APPOINTMENTS,
            (APPOINTMENT.order_id == ORDER.id) & (APPOINTMENT.status == AppointmentStatus.BOOKED),
        )
        .where(
            SUB_TASK.kind == SubTaskKind.CONSTRUCTION,
            SUB_TASK.technician_id == bindparam("technician"),
        )
        .order_by(ORDER.created_at)
    )
    return query.where(SUB_TASK.job_state != JobState.COMPLETED) if open_only else query


_TECHNICIAN_JOBS = _technician_jobs(open_only=False)
_TECHNICIAN_JOBS_OPEN = _technician_jobs(open_only=True)
_TECHNICIAN = select(TECHNICIANS).where(TECHNICIAN.id == bindparam("technician"))
_ACTIVE = select(TECHNICIAN.id, TECHNICIAN.regions, TECHNICIAN.skills).where(TECHNICIAN.active)


class TechnicianStore(Store):
    """The field technicians and the jobs they have or could take."""

    async def list_technicians(
        self, region: str | None = None, *, active: bool | None = None
    ) -> list[Technician]:
        """The technicians (of a region; active or not), by id."""
        query = select(TECHNICIANS).order_by(TECHNICIAN.id)
        if active is not None:
            query = query.where(TECHNICIAN.active == active)

        def work(connection: Connection) -> list[Technician]:
            technicians = [load(Technician, row) for row in connection.execute(query)]
            return [t for t in technicians if region is None or region in t.regions]

        return await self.db.transaction(work)

    async def get_technician(self, technician_id: str) -> Technician | None:
        def work(connection: Connection) -> Technician | None:
            row = connection.execute(_TECHNICIAN, {"technician": technician_id}).first()
            return None if row is None else load(Technician, row)

        return await self.db.transaction(work)

    async def add_technician(self, technician: Technician) -> Technician:
        """Store a new technician.

        Raises:
            TechnicianExists: the id is taken.
        """
        values = {column.name: getattr(technician, column.name) for column in TECHNICIANS.columns}

        def work(connection: Connection) -> Technician:
            try:
                connection.execute(insert(TECHNICIANS), values)
            except IntegrityError:
                raise TechnicianExists(technician.id) from None
            return load(
                Technician, connection.execute(_TECHNICIAN, {"technician": technician.id}).one()
            )

        return await self.db.transaction(work)

    async def change_technician(self, technician_id: str, **changes: Any) -> Technician:
        """Change a technician's name, regions, skills, availability or job limit.

        Raises:
            LookupError: no such technician.
        """

        def work(connection: Connection) -> Technician:
            this = {"technician": technician_id}
            if changes:
                connection.execute(
                    update(TECHNICIANS)
                    .where(TECHNICIAN.id == bindparam("technician"))
                    .values(changes),
                    this,
                )
            row = connection.execute(_TECHNICIAN, this).first()
            if row is None:
                raise LookupError(technician_id)
            return load(Technician, row)

        return await self.db.transaction(work)

    async def technician_jobs(
        self, technician_id: str, *, open_only: bool = True
    ) -> list[TechnicianJob]:
        """A technician's construction jobs with their orders, oldest first (the
        columns a job list shows, as plain rows: the technicians' apps ask often)."""
        query = _TECHNICIAN_JOBS_OPEN if open_only else _TECHNICIAN_JOBS
        return await self.db.transaction(
            lambda connection: [
                TechnicianJob(**row._mapping)
                for row in connection.execute(query, {"technician": technician_id})
            ]
        )

    async def has_technicians(self, region: str, skill: str, excluded: Sequence[str] = ()) -> bool:
        """Whether the region has any active technician with the skill (but those
        excluded), busy or not."""
        return await self.db.transaction(
            lambda connection: any(
                region in t.regions and skill in t.skills and t.id not in excluded
                for t in connection.execute(_ACTIVE)
            )
        )

    async def next_in_queue(
        self,
        technician_id: str,
        service_types_by_skill: dict[str, list[ServiceType]],
        count: int = 1,
    ) -> list[str]:
        """The workflow ids of the ``count`` orders that have waited longest for a job
        this technician could take (none when they are inactive)."""
        if count < 1:
            return []

        def work(connection: Connection) -> list[str]:
            row = connection.execute(_TECHNICIAN, {"technician": technician_id}).first()
            if row is None or not row.active:
                return []
            types = [t for s in row.skills for t in service_types_by_skill.get(s, [])]
            query = (
                select(ORDER.workflow_id, SUB_TASK.excluded)
                .join_from(SUB_TASKS, ORDERS, SUB_TASK.order_id == ORDER.id)
                .where(
                    SUB_TASK.kind == SubTaskKind.CONSTRUCTION,
                    SUB_TASK.queued_at.is_not(None),
                    ORDER.region.in_(row.regions),
                    ORDER.service_type.in_(types),
                )
                .order_by(SUB_TASK.queued_at)
                .execution_options(yield_per=max(count, 50))
            )
            found: list[str] = []
            queued = connection.execute(query)
            try:
                for workflow_id, excluded in queued:
                    if technician_id not in (excluded or []):
                        found.append(workflow_id)
                        if len(found) == count:
                            break
            finally:
                queued.close()
            return found

        return await self.db.transaction(work)
