"""Construction: the installation, by a technician of the order's region.

The job goes to a technician (or waits its turn in the region's queue); the workflow
follows their reports (the API records them in the database, then signals the
workflow), reassigns or reschedules the job when they cannot complete it, keeps the
region's time limit (jeopardy, then escalation) and hands the job to operations when
nothing else can help.

The database's record of the job is its one truth: the workflow holds a copy at a
version (:class:`workflows.state.HeldJob`), adopted from what its activities answer,
and reads the job again when the API tells it of a newer version.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.construction import ConstructionActivities
    from activities.errors import JOB_CHANGED
    from models.enums import FollowUp, JobState, SlaState, SubTaskKind, SubTaskStatus
    from models.payloads import (
        AssignTechnicianInput,
        BookedVisit,
        CancelOrder,
        ConstructionChanged,
        ConstructionInput,
        ConstructionJob,
        ConstructionJobInput,
        ConstructionJobState,
        ConstructionOperation,
        ConstructionView,
        OrderPlan,
        RebookInput,
        ReleaseConstructionInput,
        RescheduleConstructionInput,
        SlaInput,
        SubTaskOutcome,
        WithdrawConstructionInput,
    )
    from models.status import follow_up

from workflows.branch import Branch
from workflows.options import ACTIVITY_FAILED, QUEUE_POLL, call_database, refusal_of
from workflows.state import ConstructionState
from workflows.visibility import publish, publish_waiting

NOT_STARTED_ON_SITE = (JobState.ASSIGNED, JobState.ACCEPTED, JobState.EN_ROUTE)
ASSIGN_BY_HAND_TRIES = 3
"""How often an operator's assignment is decided again on a job that changed meanwhile."""


class Construction(Branch):
    kind = SubTaskKind.CONSTRUCTION

    @property
    def construction(self) -> ConstructionState:
        return self.state.construction

    async def _run(self, plan: OrderPlan) -> SubTaskOutcome:
        """Take the job a step on at a time, each under the job's lock, until it has an
        outcome; between steps, wait for a report, a decision or a wake-up."""
        construction = self.construction
        self._time_limit = asyncio.create_task(self._keep_time_limit(plan))
        self._clock_of: BookedVisit | None = None
        try:
            while True:
                async with construction.lock:
                    if construction.held.outdated:
                        await self._read_job_again()
                    outcome = await self._next_step()
                    seen = construction.changes
                    if outcome is None:
                        self._follow_appointment(plan)
                    publish(self.state)
                if outcome is not None:
                    return outcome
                if construction.queued:
                    with contextlib.suppress(TimeoutError):  # then ask again
                        await workflow.wait_condition(
                            self._woken_or_changed(seen), timeout=self._queue_poll()
                        )
                else:
                    await workflow.wait_condition(self._woken_or_changed(seen))
        finally:
            self._time_limit.cancel()

    def _follow_appointment(self, plan: OrderPlan) -> None:
        """The time limit follows the booked visit: when one is booked, moved or
        withdrawn, the job's clock starts again from it (or, withdrawn, from now)."""
        booked = self.construction.held.appointment
        if booked == self._clock_of:
            return
        self._clock_of = booked
        self._time_limit.cancel()
        self._time_limit = asyncio.create_task(
            self._keep_time_limit(plan) if booked is None else self._keep_visit_limit(plan, booked)
        )

    def _queue_poll(self) -> timedelta:
        # Spread out, so that jobs queued together do not all ask at once.
        return QUEUE_POLL * workflow.random().uniform(0.8, 1.2)

    def _woken_or_changed(self, seen: int) -> Callable[[], bool]:
        # A wake-up counts only while queued: one arriving late (two technicians freed
        # up at once) must not wake a loop that has nothing to do.
        construction, cancellation = self.construction, self.state.cancellation
        return lambda: (
            (construction.technician_available and construction.queued)
            or construction.changes != seen
            or construction.held.outdated
            or cancellation.requested
        )

    def _changed(self) -> None:
        self.construction.changes += 1
        publish(self.state)

    def _outcome(self, status: SubTaskStatus, reason: str | None = None) -> SubTaskOutcome:
        job = self.construction.held.job
        return SubTaskOutcome(
            kind=self.kind, status=status, reason=reason, attempts=job.visit if job else 0
        )

    async def _next_step(self) -> SubTaskOutcome | None:
        """Take the job one step on; its outcome once it has one."""
        construction = self.construction
        if construction.failed_by_operations is not None:
            return self._outcome(
                SubTaskStatus.FAILED, f"failed by operations: {construction.failed_by_operations}"
            )
        job = construction.held.job
        if job is not None and job.state is JobState.COMPLETED:
            return self._outcome(SubTaskStatus.SUCCEEDED)
        if self.state.cancellation.request is not None:
            return await self._withdraw(self.state.cancellation.request)
        if job is not None and job.state is JobState.CANNOT_COMPLETE:
            outcome = await self._follow_up(job)
            if outcome is not None:
                return outcome
        if construction.held.job is None and construction.waiting_for_operations is None:
            await self._assign()
        return None

    async def _follow_up(self, job: ConstructionJob) -> SubTaskOutcome | None:
        """The technician could not complete: visit again, or take the job back and
        give it to another technician, to operations, or up (the outcome)."""
        construction = self.construction
        reason = job.reason_code.value if job.reason_code else "unknown"
        action = follow_up(job.reason_code, job.visit)
        if action is FollowUp.RESCHEDULE:
            booked = construction.held.appointment
            construction.held.adopt(
                await call_database(
                    ConstructionActivities.reschedule_construction,
                    RescheduleConstructionInput(order_id=self.state.order_id, visit=job.visit + 1),
                )
            )
            if booked is not None:  # the booked visit failed: book the next free slot
                construction.held.adopt(
                    await call_database(
                        ConstructionActivities.rebook_missed_visit,
                        RebookInput(order_id=self.state.order_id, missed=booked.start),
                    )
                )
            return None
        failed = self._outcome(SubTaskStatus.FAILED, f"technician cannot complete: {reason}")
        await self._release(f"technician could not complete: {reason}")
        if action is FollowUp.FAIL:
            return failed
        if action is FollowUp.REASSIGN:
            construction.excluded.append(job.technician_id)
        else:
            await self._to_operations(
                f"technician could not complete: {reason} (visit {job.visit})"
            )
        return None

    async def _assign(self) -> None:
        """Give the job to a free technician of the region, or queue it, or (nobody
        could ever take it) hand it to operations."""
        construction = self.construction
        construction.technician_available = False
        assignment = await call_database(
            ConstructionActivities.dispatch_construction,
            ConstructionInput(
                order_id=self.state.order_id,
                excluded=construction.excluded,
                escalated=construction.sla is SlaState.BREACHED,
            ),
        )
        if assignment.state is not None:
            construction.held.adopt(assignment.state)
            construction.queued = False
        elif assignment.can_wait:
            construction.queued = True
        else:
            await self._to_operations(assignment.reason or "no technician")

    async def _release(self, reason: str, *, before_on_site: bool = False) -> ConstructionJobState:
        """Take the job back from its technician (with ``before_on_site``, only if they
        are not on site yet); the job as the database has it after."""
        after: ConstructionJobState = await call_database(
            ConstructionActivities.release_construction,
            ReleaseConstructionInput(
                order_id=self.state.order_id, reason=reason, before_on_site=before_on_site
            ),
        )
        self.construction.held.adopt(after)
        return after

    async def _read_job_again(self) -> None:
        """Read the job from the database, where the API records the reports."""
        held = self.construction.held
        asked, had = held.announced, held.version
        snapshot = await call_database(
            ConstructionActivities.read_construction_job,
            ConstructionJobInput(order_id=self.state.order_id),
        )
        held.read(snapshot, asked=asked)
        if held.version != had:  # wakes construction's loop, if another step read it
            self.construction.changes += 1

    async def _withdraw(self, request: CancelOrder) -> SubTaskOutcome:
        """The order is cancelled: take the job back from its technician, out of the
        queue, or away from operations."""
        cancellation = self.state.cancellation
        await workflow.wait_condition(lambda: cancellation.recorded)  # the request first
        construction = self.construction
        outcome = self._outcome(SubTaskStatus.CANCELLED, "withdrawn: the order was cancelled")
        after = await call_database(
            ConstructionActivities.withdraw_construction,
            WithdrawConstructionInput(
                order_id=self.state.order_id,
                actor=request.actor,
                reason=f"cancelled by {request.actor}: {request.reason}",
            ),
        )
        construction.held.read(after, asked=construction.held.announced)
        construction.queued = False
        construction.waiting_for_operations = None
        publish_waiting(self.state)
        job = construction.held.job
        if job is not None and job.state is JobState.COMPLETED:
            # The database took the completion before the cancellation: it stands.
            return self._outcome(SubTaskStatus.SUCCEEDED, "installed before the cancellation")
        return outcome

    async def _to_operations(self, reason: str) -> None:
        self.construction.queued = False
        self.construction.waiting_for_operations = reason
        await self._hand_to_operations(reason)

    async def _keep_time_limit(self, plan: OrderPlan) -> None:
        """Mark the job in jeopardy, then escalate it at the region's time limit: a
        technician not yet on site loses it to another, or to operations."""
        construction = self.construction
        await workflow.sleep(plan.jeopardy_after)
        async with construction.lock:
            await self._mark_sla(SlaState.JEOPARDY)
        await workflow.sleep(plan.installation_limit - plan.jeopardy_after)
        async with construction.lock:
            await self._mark_sla(SlaState.BREACHED)
            if construction.held.outdated:
                await self._read_job_again()
            job = construction.held.job
            if job is not None and job.state in NOT_STARTED_ON_SITE:
                after = await self._release(
                    "time limit passed before the technician was on site", before_on_site=True
                )
                if after.job is None:  # else on site after all: a report not heard of yet
                    construction.excluded.append(job.technician_id)
            self._changed()

    async def _keep_visit_limit(self, plan: OrderPlan, booked: BookedVisit) -> None:
        """With a booked visit, the job is on time until the slot ends, in jeopardy
        after, and past its time limit when the region's grace after jeopardy has
        passed too; the technician keeps the job (the customer booked them)."""
        construction = self.construction
        grace = plan.installation_limit - plan.jeopardy_after
        async with construction.lock:
            await self._mark_sla(SlaState.ON_TIME, due_at=booked.end + grace)
        if (until_end := booked.end - workflow.now()) > timedelta(0):
            await workflow.sleep(until_end)
        async with construction.lock:
            await self._mark_sla(SlaState.JEOPARDY)
        await workflow.sleep(grace)
        async with construction.lock:
            await self._mark_sla(SlaState.BREACHED)
            self._changed()

    async def _mark_sla(self, sla: SlaState, due_at: datetime | None = None) -> None:
        self.construction.sla = sla
        await call_database(
            ConstructionActivities.mark_construction_sla,
            SlaInput(order_id=self.state.order_id, state=sla, due_at=due_at),
        )

    # Entry points of the workflow's handlers --------------------------------------

    def job_changed(self, changed: ConstructionChanged) -> None:
        """The API changed the job in the database (it recorded a technician's report):
        the job is read again before construction's next step. A version the workflow
        holds already changes nothing, nor does one once the order is being cancelled
        (the database takes no reports then) or construction has its outcome."""
        held = self.construction.held
        if (
            changed.version <= max(held.version, held.announced)
            or self.state.cancellation.requested
            or self.kind in self.state.outcomes
        ):
            return
        held.announce(changed.version)
        self._changed()

    def wake(self) -> None:
        """A technician who could take the job has room again."""
        self.construction.technician_available = True

    async def operate(self, operation: ConstructionOperation) -> ConstructionView:
        """Operations assign the job to a technician of their choice, or give it up."""
        construction = self.construction
        async with construction.lock:
            self.ensure_operation_allowed(operation)
            if operation.action == "assign":
                assert operation.technician_id is not None
                await self._assign_by_hand(operation.technician_id, operation)
                construction.queued = False
                if construction.waiting_for_operations is not None:
                    construction.waiting_for_operations = None
                    await self._hand_to_operations(None)
            else:
                await self._release(f"failed by operations: {operation.reason}")
                construction.queued = False
                construction.failed_by_operations = operation.reason
            self._changed()
            return construction.view()

    async def _assign_by_hand(self, technician_id: str, operation: ConstructionOperation) -> None:
        """Give the job to the operator's technician, if the job as the database has
        it still allows that: decided on the version held, and decided again (read
        anew) when the database's job has moved on meanwhile."""
        held = self.construction.held
        for _ in range(ASSIGN_BY_HAND_TRIES):
            if held.outdated:
                await self._read_job_again()
                self.ensure_operation_allowed(operation)
            try:
                after = await call_database(
                    ConstructionActivities.assign_technician_by_hand,
                    AssignTechnicianInput(
                        order_id=self.state.order_id,
                        technician_id=technician_id,
                        operator=operation.operator,
                        version=held.version,
                    ),
                )
            except ACTIVITY_FAILED as e:
                refused = refusal_of(e)
                if refused is None:
                    raise
                if refused.type == JOB_CHANGED:
                    held.announce(held.version + 1)
                    continue
                raise refused from None
            held.adopt(after)
            return
        raise ApplicationError(
            "the construction job kept changing; decide again on the job as it stands",
            type=JOB_CHANGED,
            non_retryable=True,
        )

    def ensure_operation_allowed(self, operation: ConstructionOperation) -> None:
        """Refuse a decision once construction has ended, or an assignment to the
        technician who has the job."""
        self._refuse_when_cancelled("CONSTRUCTION_CLOSED", "its construction takes no decisions")
        if self.kind in self.state.outcomes or self.construction.failed_by_operations:
            raise ApplicationError(
                "construction has ended; it takes no more decisions",
                type="CONSTRUCTION_CLOSED",
                non_retryable=True,
            )
        job = self.construction.held.job
        if job is not None and job.state is JobState.COMPLETED:
            raise ApplicationError(
                "the installation is completed; it takes no more decisions",
                type="CONSTRUCTION_CLOSED",
                non_retryable=True,
            )
        if (
            operation.action == "assign"
            and job is not None
            and (job.technician_id == operation.technician_id)
        ):
            raise ApplicationError(
                f"the job is assigned to {operation.technician_id} already",
                type="ALREADY_ASSIGNED",
                non_retryable=True,
            )
