"""Construction: the region's technicians, their job queue, their reports, the job's
time limit and what follows when a technician cannot complete."""

from __future__ import annotations

import logging

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import JOB_CHANGED, TECHNICIAN_UNAVAILABLE, not_found
from models.enums import SubTaskKind
from models.payloads import (
    AssignTechnicianInput,
    ConstructionAssignment,
    ConstructionInput,
    ConstructionJobInput,
    ConstructionJobState,
    RebookInput,
    ReleaseConstructionInput,
    RescheduleConstructionInput,
    SlaInput,
    WithdrawConstructionInput,
)
from models.tables import SubTask, utcnow
from workorders.appointments import Calendar
from workorders.reference import Catalog
from workorders.store import (
    AppointmentStore,
    AssignmentStore,
    CancellationStore,
    JobChanged,
    OrderNotFound,
    OrderStore,
    ProgressStore,
    ReportStore,
    TechnicianStore,
    TechnicianUnavailable,
)
from workorders.wake import Wake, wake_queued

log = logging.getLogger("workorders.activities")


class ConstructionActivities:
    def __init__(
        self,
        orders: OrderStore,
        assignment: AssignmentStore,
        technicians: TechnicianStore,
        reports: ReportStore,
        progress: ProgressStore,
        cancellation: CancellationStore,
        appointments: AppointmentStore,
        catalog: Catalog,
        calendar: Calendar,
        wake: Wake | None = None,
    ) -> None:
        self._orders = orders
        self._assignment = assignment
        self._technicians = technicians
        self._reports = reports
        self._progress = progress
        self._cancellation = cancellation
        self._appointments = appointments
        self._catalog = catalog
        self._calendar = calendar
        self._wake = wake

    @activity.defn
    async def dispatch_construction(self, input: ConstructionInput) -> ConstructionAssignment:
        """Assign the installation to a technician of the customer's region, or queue it."""
        try:
            order = await self._orders.order_kind(input.order_id)
            skill = self._catalog.skill_for(order.service_type)
            types = self._catalog.service_types_by_skill()[skill]
            state = await self._assignment.assign_technician(
                order.id, order.region, skill, types, excluded=input.excluded
            )
            if state is not None and state.job is not None:
                return ConstructionAssignment(
                    order_id=order.id,
                    region=order.region,
                    technician_id=state.job.technician_id,
                    state=state,
                )
            exists = await self._technicians.has_technicians(order.region, skill, input.excluded)
        except OrderNotFound as e:
            raise not_found(e) from e
        if not exists:
            reason = f"region {order.region} has no other active {skill} technician"
        elif input.escalated:
            reason = f"time limit passed and no other {skill} technician of {order.region} is free"
        else:
            reason = f"waiting for a free {skill} technician in region {order.region}"
        return ConstructionAssignment(
            order_id=order.id,
            region=order.region,
            reason=reason,
            can_wait=exists and not input.escalated,
        )

    @activity.defn
    async def assign_technician_by_hand(self, input: AssignTechnicianInput) -> ConstructionJobState:
        """Operations give the job, at the version they decided on, to a technician of
        their choice; the job as it stands after.

        Raises:
            ApplicationError: ``TECHNICIAN_UNAVAILABLE`` with the reason, or
                ``JOB_CHANGED``: the job is at another version now (neither retryable).
        """
        try:
            order = await self._orders.get_order(input.order_id)
            previous = (await self._construction(order.id)).technician_id
            state = await self._assignment.assign_technician_by_hand(
                order.id,
                input.technician_id,
                order.region,
                self._catalog.skill_for(order.service_type),
                operator=input.operator,
                version=input.version,
            )
        except OrderNotFound as e:
            raise not_found(e) from e
        except TechnicianUnavailable as e:
            raise ApplicationError(str(e), type=TECHNICIAN_UNAVAILABLE, non_retryable=True) from e
        except JobChanged as e:
            raise ApplicationError(str(e), type=JOB_CHANGED, non_retryable=True) from e
        if previous is not None and previous != input.technician_id:
            await self._wake_next(previous)
        return state

    @activity.defn
    async def release_construction(self, input: ReleaseConstructionInput) -> ConstructionJobState:
        """Take the job back from its technician (with ``before_on_site``, only if they
        are not on site yet); the next job in the queue may go to them. Returns the job
        as it stands after: without a technician if released."""
        try:
            release = await self._assignment.release_technician(
                input.order_id, input.reason, before_on_site=input.before_on_site
            )
        except OrderNotFound as e:
            raise not_found(e) from e
        if release.technician_id is not None:
            await self._wake_next(release.technician_id)
        return release.state

    @activity.defn
    async def read_construction_job(self, input: ConstructionJobInput) -> ConstructionJobState:
        """The construction job as the database has it (technicians' reports included)."""
        try:
            return await self._reports.construction_job(input.order_id)
        except OrderNotFound as e:
            raise not_found(e) from e

    @activity.defn
    async def withdraw_construction(self, input: WithdrawConstructionInput) -> ConstructionJobState:
        """The order is cancelled: take the job back from its technician (the next job
        in the queue may go to them), or out of the queue, or away from operations.
        The job as it stands after: still completed if it was installed before."""
        try:
            withdrawal = await self._cancellation.withdraw_construction(
                input.order_id, input.actor, input.reason
            )
        except OrderNotFound as e:
            raise not_found(e) from e
        if withdrawal.freed is not None:
            await self._wake_next(withdrawal.freed)
        return withdrawal.state

    @activity.defn
    async def reschedule_construction(
        self, input: RescheduleConstructionInput
    ) -> ConstructionJobState:
        """The same technician visits the customer again; the job as it stands after."""
        try:
            return await self._assignment.reschedule_visit(input.order_id, input.visit)
        except OrderNotFound as e:
            raise not_found(e) from e

    @activity.defn
    async def rebook_missed_visit(self, input: RebookInput) -> ConstructionJobState:
        """The booked visit failed: book the technician's next free slot (if any within
        the horizon); the job as it stands after."""
        try:
            order = await self._orders.order_kind(input.order_id)
            return await self._appointments.rebook_missed(
                order.id,
                self._catalog.skill_for(order.service_type),
                self._calendar.grid,
                self._calendar.horizon_days,
                missed=input.missed,
                after=self._calendar.earliest(utcnow()),
            )
        except OrderNotFound as e:
            raise not_found(e) from e

    @activity.defn
    async def mark_construction_sla(self, input: SlaInput) -> None:
        """Mark the installation in jeopardy, or past its time limit."""
        try:
            await self._progress.set_sla_state(input.order_id, input.state, input.due_at)
        except OrderNotFound as e:
            raise not_found(e) from e

    async def _construction(self, order_id: str) -> SubTask:
        tasks = await self._orders.get_sub_tasks(order_id)
        return next(t for t in tasks if t.kind is SubTaskKind.CONSTRUCTION)

    async def _wake_next(self, technician_id: str) -> None:
        """Tell the order that has waited longest for this technician's kind of job."""
        if self._wake is not None:
            await wake_queued(self._technicians, self._catalog, self._wake, technician_id)
