"""The construction job's technician: assigned from the region's queue or by hand,
taken back, and sent again.

Jobs wait their turn, and a technician is never overbooked: a technician's job count
only grows by an update that checks it against the maximum in the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Connection, bindparam, select, update

from models.enums import AppointmentStatus, JobState, ServiceType, SubTaskKind, SubTaskStatus
from models.payloads import BookedVisit, ConstructionJobState
from models.tables import Technician, UtcDateTime, can_take, utcnow
from workorders.store.base import (
    ORDER,
    ORDERS,
    SUB_TASK,
    SUB_TASKS,
    SYSTEM,
    TECHNICIAN,
    TECHNICIANS,
    Store,
    add_event,
    load,
    no_sub_task,
    the_sub_task,
)
from workorders.store.errors import JobChanged, TechnicianUnavailable
from workorders.store.jobs import (
    CONSTRUCTION_OF_ORDER,
    NOT_YET_ON_SITE,
    book,
    booked_visit,
    construction_job_state,
    end_booking,
    job_state_of,
    set_order_technician,
    take,
    unbook,
)


@dataclass(frozen=True)
class Release:
    """What taking a job back from its technician did."""

    technician_id: str | None
    """Who was released, if anyone."""
    state: ConstructionJobState
    """The job after it."""


_CONSTRUCTION_ASSIGNMENT = select(SUB_TASK.technician_id, SUB_TASK.queued_at).where(
    *CONSTRUCTION_OF_ORDER
)
_ACTIVE_TECHNICIANS = select(
    TECHNICIAN.id,
    TECHNICIAN.name,
    TECHNICIAN.active,
    TECHNICIAN.regions,
    TECHNICIAN.skills,
    TECHNICIAN.open_jobs,
    TECHNICIAN.max_open_jobs,
).where(TECHNICIAN.active)
_TECHNICIAN = select(TECHNICIANS).where(TECHNICIAN.id == bindparam("technician"))
_ASSIGN = (
    update(SUB_TASKS)
    .where(*CONSTRUCTION_OF_ORDER)
    .values(
        technician_id=bindparam("technician", type_=SUB_TASK.technician_id.type),
        job_state=JobState.ASSIGNED,
        status=SubTaskStatus.IN_PROGRESS,
        queued_at=None,
        visit=1,  # the technician's first visit
        detail=bindparam("new_detail", type_=SUB_TASK.detail.type),
        version=SUB_TASK.version + 1,
        updated_at=bindparam("at", type_=UtcDateTime),
    )
)
_ASSIGN_AT_VERSION = _ASSIGN.where(SUB_TASK.version == bindparam("expected"))
"""An assignment only if the job is still at the version it was decided on."""
_ASSIGN_EXCLUDING = _ASSIGN.values(excluded=bindparam("new_excluded", type_=JSON))
_QUEUE = (
    update(SUB_TASKS)
    .where(*CONSTRUCTION_OF_ORDER)
    .values(
        queued_at=bindparam("at", type_=UtcDateTime),
        status=SubTaskStatus.IN_PROGRESS,
        detail=bindparam("new_detail", type_=SUB_TASK.detail.type),
        excluded=bindparam("new_excluded", type_=JSON),
        updated_at=bindparam("at", type_=UtcDateTime),
    )
)
"""The statements of a construction job's assignment, built once (every order's)."""


class AssignmentStore(Store):
    """Who installs each order's line, and who waits for a technician."""

    async def assign_technician(
        self,
        order_id: str,
        region: str,
        skill: str,
        service_types: Sequence[ServiceType],
        *,
        excluded: Sequence[str] = (),
    ) -> ConstructionJobState | None:
        """Assign the order's construction job to the least-loaded active technician of
        the region who has the skill and room for another job; keep an earlier
        assignment. While an order of the same region and skill has waited longer,
        this one is not assigned.

        Args:
            service_types: the services needing ``skill``, to find who waits before.
            excluded: technicians who gave this job back.

        Returns:
            The job as it stands after the assignment, or ``None``: the job is queued
            (since ``queued_at``).
        """

        def work(connection: Connection) -> ConstructionJobState | None:
            task = connection.execute(_CONSTRUCTION_ASSIGNMENT, {"order": order_id}).first()
            if task is None:
                raise no_sub_task(order_id, SubTaskKind.CONSTRUCTION)
            if task.technician_id is not None:
                return construction_job_state(connection, order_id)
            if (booked := booked_visit(connection, order_id)) is not None and _assign_booked(
                connection, order_id, booked, region, skill, excluded
            ):
                return construction_job_state(connection, order_id)
            candidates = sorted(
                (
                    t
                    for t in connection.execute(_ACTIVE_TECHNICIANS)
                    if can_take(t, region, skill) and t.id not in excluded
                ),
                key=lambda t: (t.open_jobs, t.id),
            )
            # Who waits before this job matters only when someone has room (reading
            # them costs as much as the region's queue is long).
            ahead = (
                _queued_before(connection, order_id, region, service_types, task.queued_at)
                if candidates
                else []
            )
            now = utcnow()
            chosen = next(
                (
                    t
                    for t in candidates
                    # else an order that waited longer can take this technician
                    if all(t.id in (earlier or []) for earlier in ahead) and book(connection, t.id)
                ),
                None,
            )
            if chosen is None:
                if task.queued_at is None:
                    connection.execute(
                        _QUEUE,
                        {
                            "order": order_id,
                            "at": now,
                            "new_detail": f"queued for a free {skill} technician"
                            f" in region {region}",
                            "new_excluded": list(excluded) or None,
                        },
                    )
                    add_event(
                        connection, order_id, SYSTEM, "construction.queued", now, region=region
                    )
                return None
            _assign(connection, order_id, chosen.id, chosen.name, excluded)
            add_event(
                connection,
                order_id,
                SYSTEM,
                "construction.assigned",
                now,
                technician_id=chosen.id,
                region=region,
            )
            return construction_job_state(connection, order_id)

        return await self.db.transaction(work)

    async def assign_technician_by_hand(
        self,
        order_id: str,
        technician_id: str,
        region: str,
        skill: str,
        operator: str,
        *,
        version: int | None = None,
    ) -> ConstructionJobState:
        """Operations give the job to a technician, taking it back from anyone else.

        Args:
            version: the job's version the decision was made on; ``None``: whatever
                it is now.

        Returns:
            The job as it stands after.

        Raises:
            JobChanged: the job is at another version than ``version`` (a report or
                a release came first): nothing changed.
            TechnicianUnavailable: the technician is unknown, inactive, not of the
                region, without the skill, or has no room for another job.
        """

        def work(connection: Connection) -> ConstructionJobState:
            task = the_sub_task(connection, order_id, SubTaskKind.CONSTRUCTION)
            if task.technician_id == technician_id:
                return job_state_of(connection, task)  # assigned already (the activity ran again)
            if version is not None and task.version != version:
                raise JobChanged(order_id, version, task.version)
            row = connection.execute(_TECHNICIAN, {"technician": technician_id}).first()
            technician = None if row is None else load(Technician, row)
            if technician is None or not technician.can_take(region, skill):
                raise TechnicianUnavailable(_why_not(technician, technician_id, region, skill))
            if not book(connection, technician_id):
                raise TechnicianUnavailable(f"technician {technician_id} has no room for a job")
            previous = task.technician_id
            if previous is not None and task.job_state is not JobState.COMPLETED:
                unbook(connection, previous)
            booked = booked_visit(connection, order_id)
            if booked is not None and booked.technician_id != technician_id:
                end_booking(connection, order_id, AppointmentStatus.CANCELLED, utcnow(), operator)
            if not _assign(connection, order_id, technician_id, technician.name, at=task.version):
                connection.rollback()  # the technician's booking too
                raise JobChanged(order_id, task.version, task.version + 1)
            add_event(
                connection,
                order_id,
                operator,
                "construction.assigned_by_hand",
                utcnow(),
                technician_id=technician_id,
                previous=previous,
            )
            return construction_job_state(connection, order_id)

        return await self.db.transaction(work)

    async def release_technician(
        self, order_id: str, reason: str, *, before_on_site: bool = False
    ) -> Release:
        """Take the job back from its technician, who then has room for another.

        Args:
            before_on_site: only while the technician is not yet on site; a report
                that they are, recorded meanwhile, keeps the job theirs.

        Returns:
            The technician who was released (``None`` if the job had none, or kept
            it), and the job as it stands after.
        """

        def work(connection: Connection) -> Release:
            for _ in range(3):  # a report landed between the look and the release
                task = the_sub_task(connection, order_id, SubTaskKind.CONSTRUCTION)
                technician_id = task.technician_id
                if technician_id is None:
                    if task.queued_at is not None:  # leaves the queue too
                        connection.execute(
                            update(SUB_TASKS).where(SUB_TASK.id == task.id).values(queued_at=None)
                        )
                        task.queued_at = None
                    return Release(None, job_state_of(connection, task))
                if before_on_site and task.job_state not in NOT_YET_ON_SITE:
                    return Release(None, job_state_of(connection, task))
                now = utcnow()
                released = connection.execute(
                    update(SUB_TASKS)
                    .where(
                        SUB_TASK.id == task.id,
                        SUB_TASK.technician_id == technician_id,
                        SUB_TASK.version == task.version,
                        SUB_TASK.visit == task.visit,
                    )
                    .values(
                        technician_id=None,
                        job_state=None,
                        detail=reason,
                        version=SUB_TASK.version + 1,
                        updated_at=now,
                    )
                )
                if released.rowcount != 1:
                    connection.rollback()
                    continue
                if task.job_state is not JobState.COMPLETED:
                    unbook(connection, technician_id)
                set_order_technician(connection, order_id, None)
                add_event(
                    connection,
                    order_id,
                    SYSTEM,
                    "construction.released",
                    now,
                    technician_id=technician_id,
                    reason=reason,
                )
                end_booking(connection, order_id, AppointmentStatus.CANCELLED, now, SYSTEM)
                return Release(technician_id, ConstructionJobState(version=task.version + 1))
            raise RuntimeError(f"the construction job of {order_id} kept changing; try again")

        return await self.db.transaction(work)

    async def reschedule_visit(self, order_id: str, visit: int) -> ConstructionJobState:
        """The same technician visits again: the job is theirs, assigned anew.

        Returns:
            The job as it stands after.
        """

        def work(connection: Connection) -> ConstructionJobState:
            task = the_sub_task(connection, order_id, SubTaskKind.CONSTRUCTION)
            if task.job_state is not JobState.CANNOT_COMPLETE:
                return job_state_of(connection, task)  # rescheduled already (ran again)
            now = utcnow()
            connection.execute(
                update(SUB_TASKS)
                .where(SUB_TASK.id == task.id)
                .values(
                    visit=visit,
                    job_state=JobState.ASSIGNED,
                    detail=f"visit {visit} to be arranged by {task.technician_id}",
                    version=SUB_TASK.version + 1,
                    updated_at=now,
                )
            )
            add_event(
                connection,
                order_id,
                SYSTEM,
                "construction.rescheduled",
                now,
                technician_id=task.technician_id,
                visit=visit,
            )
            return construction_job_state(connection, order_id)

        return await self.db.transaction(work)


def _assign_booked(
    connection: Connection,
    order_id: str,
    booked: BookedVisit,
    region: str,
    skill: str,
    excluded: Sequence[str],
) -> bool:
    """Give the job to the technician it is booked with: their calendar is their
    limit, so they take it above their maximum of open jobs if need be. One who can no
    longer take it (inactive, moved to another region, or who gave the job back) loses
    the booking, and the job is assigned as if none had been made. Whether it was
    given."""
    row = connection.execute(_TECHNICIAN, {"technician": booked.technician_id}).first()
    now = utcnow()
    if (
        row is None
        or not row.active
        or region not in row.regions
        or skill not in row.skills
        or row.id in excluded
    ):
        end_booking(connection, order_id, AppointmentStatus.CANCELLED, now, SYSTEM)
        return False
    take(connection, row.id)
    _assign(connection, order_id, row.id, row.name, excluded or None)
    add_event(
        connection,
        order_id,
        SYSTEM,
        "construction.assigned",
        now,
        technician_id=row.id,
        region=region,
        appointment=booked.start.isoformat(),
    )
    return True


def _queued_before(
    connection: Connection,
    order_id: str,
    region: str,
    service_types: Sequence[ServiceType],
    queued_at: datetime | None,
) -> list[list[str] | None]:
    """Whom each construction job of the region and skill that has waited longer
    (than since ``queued_at``, if it waits) excludes."""
    query = (
        select(SUB_TASK.excluded)
        .join_from(SUB_TASKS, ORDERS, SUB_TASK.order_id == ORDER.id)
        .where(
            SUB_TASK.kind == SubTaskKind.CONSTRUCTION,
            SUB_TASK.queued_at.is_not(None),
            SUB_TASK.order_id != order_id,
            ORDER.region == region,
            ORDER.service_type.in_(list(service_types)),
        )
    )
    if queued_at is not None:
        query = query.where(SUB_TASK.queued_at < queued_at)
    return list(connection.execute(query).scalars())


def _assign(
    connection: Connection,
    order_id: str,
    technician_id: str,
    name: str,
    excluded: Sequence[str] | None = None,
    *,
    at: int | None = None,
) -> bool:
    """Give the order's construction job to the technician (``excluded``: whom it is
    never given to again, if that changed; ``at``: only if the job is at this version).
    Whether it was given."""
    params: dict[str, Any] = {
        "order": order_id,
        "technician": technician_id,
        "new_detail": f"assigned to {name} ({technician_id})",
        "at": utcnow(),
    }
    if at is not None:
        assigned = connection.execute(_ASSIGN_AT_VERSION, {**params, "expected": at})
    elif excluded is None:
        assigned = connection.execute(_ASSIGN, params)
    else:
        assigned = connection.execute(
            _ASSIGN_EXCLUDING, {**params, "new_excluded": list(excluded) or None}
        )
    if assigned.rowcount != 1:
        return False
    set_order_technician(connection, order_id, technician_id)
    return True


def _why_not(technician: Technician | None, technician_id: str, region: str, skill: str) -> str:
    if technician is None:
        return f"no technician {technician_id}"
    if not technician.active:
        return f"technician {technician_id} is not active"
    if region not in technician.regions:
        return f"technician {technician_id} does not work in region {region}"
    if skill not in technician.skills:
        return f"technician {technician_id} lacks the {skill} skill"
    return f"technician {technician_id} has no room for another job"
