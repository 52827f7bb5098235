"""One durable workflow per work order.

Dispatch: the order is opened, then its three sub-tasks start at the same time and
each owns its failures, so one failing never loses another's result. Activation and
the quality check are retried with data revised from the order's history (the
activities plan each attempt's data from the database). Construction goes to a
technician of the region (or waits its turn in the region's queue), follows their
reports (the API records them in the database, then signals the workflow),
reassigns or reschedules the job when they cannot complete it, keeps the region's
time limit (jeopardy, then escalation) and hands the job to operations when nothing
else can help. The order's status follows from the three outcomes by
:func:`models.status.decide_order_status`.

Cancellation (the ``cancel_order`` update, or a cancellation requested in Temporal) is
recorded in the order's timeline, then each sub-task stops at its next step: the
construction job is withdrawn from its technician (or the queue, or operations);
activation starts no new attempt, but an attempt in flight runs to its end, since the
NMS may be activating it; a quality check in flight is abandoned. Then what activation
attempts sent is deactivated in the NMS, the inventory given back, and the order ends
``cancelled`` (:func:`models.status.decide_cancelled_status`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypedDict, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from activities.activation import ActivationActivities
    from activities.construction import ConstructionActivities
    from activities.errors import NON_RETRYABLE
    from activities.orders import OrderActivities
    from activities.quality import QualityCheckActivities
    from models.enums import FollowUp, JobState, OrderStatus, SlaState, SubTaskKind, SubTaskStatus
    from models.payloads import (
        ActivationData,
        ActivationInput,
        ActivationResult,
        AssignTechnicianInput,
        CancellationInput,
        CancelOrder,
        ConstructionInput,
        ConstructionJob,
        ConstructionJobInput,
        ConstructionJobState,
        ConstructionOperation,
        ConstructionView,
        DeactivateResourcesInput,
        DeactivateResourcesResult,
        HandOffInput,
        NetworkOperation,
        OrderDecision,
        OrderPlan,
        PrepareAttemptInput,
        QualityCheckData,
        QualityCheckInput,
        QualityCheckResult,
        RecordOrderStatusInput,
        ReleaseConstructionInput,
        RescheduleConstructionInput,
        SlaInput,
        SubTaskOutcome,
        WithdrawConstructionInput,
        WorkOrderInput,
        WorkOrderResult,
        WorkOrderState,
    )
    from models.status import decide_cancelled_status, decide_order_status, follow_up
    from workflows import search_attributes as search

MAX_ACTIVATION_ATTEMPTS = 6
"""Activation attempts in a row, each with data revised from the history, before the
activation is handed to operations."""
MAX_QUALITY_CHECK_ATTEMPTS = 6
QUEUE_POLL = timedelta(hours=1)
"""How often a queued job asks again, besides being woken: when a technician frees up
(their job ended, or moved) or gains room (added, activated, given a higher job
limit), the longest waiting jobs they could take are woken. The poll is only for a
wake-up that was lost (a signal to a worker that crashed before it was handled), so it
can be rare: with 10,000 jobs queued, each asking every 5 minutes kept a CPU busy."""

_Arg = TypeVar("_Arg")
_Ret = TypeVar("_Ret")


class _Options(TypedDict, total=False):
    start_to_close_timeout: timedelta
    schedule_to_close_timeout: timedelta
    retry_policy: RetryPolicy


DATABASE: _Options = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=1),
        maximum_interval=timedelta(seconds=30),
        non_retryable_error_types=NON_RETRYABLE,
    ),
}
"""Database writes: retried until the database is back."""

NMS: _Options = {
    "start_to_close_timeout": timedelta(minutes=2),
    "schedule_to_close_timeout": timedelta(hours=1),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=2),
        maximum_interval=timedelta(minutes=1),
        non_retryable_error_types=NON_RETRYABLE,
    ),
}
"""NMS calls: the same data is retried while the NMS is unreachable or the line not
ready, for up to an hour; then operations decide."""

DEACTIVATION: _Options = {
    "start_to_close_timeout": timedelta(minutes=2),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=2),
        maximum_interval=timedelta(minutes=1),
        non_retryable_error_types=NON_RETRYABLE,
    ),
}
"""A cancelled order's deactivation: retried until the NMS answers, however long that
takes (nobody else would deactivate the service)."""

CANCELLED_IN_TEMPORAL = CancelOrder(actor="temporal", reason="cancellation requested in Temporal")
"""Who cancelled, and why, when the cancellation was requested in Temporal (the UI's
"Request cancellation", ``temporal workflow cancel``) rather than through the API."""

NOT_STARTED_ON_SITE = (JobState.ASSIGNED, JobState.ACCEPTED, JobState.EN_ROUTE)


def workflow_id_for(order_id: str) -> str:
    """The id of the workflow of a work order."""
    return f"work-order-{order_id}"


ACTIVITY_FAILED = (ActivityError, ApplicationError)
"""How an activity's failure reaches the workflow: an ``ActivityError`` with the
activity's error as its cause or, from a local activity, that error itself."""


def _cause(error: BaseException) -> BaseException:
    return error.cause if isinstance(error, ActivityError) and error.cause else error


def _reason(error: BaseException) -> str:
    cause = _cause(error)
    return str(cause) or type(cause).__name__


@workflow.defn
class WorkOrderWorkflow:
    @workflow.init
    def __init__(self, input: WorkOrderInput) -> None:
        self._order_id = input.order_id
        self._status = OrderStatus.RECEIVED
        self._outcomes: dict[SubTaskKind, SubTaskOutcome] = {}
        self._construction = ConstructionView()
        self._construction_lock = asyncio.Lock()
        """Held while the construction job changes: by the workflow, its time limit,
        a technician's report or an operator's decision."""
        self._construction_changes = 0
        self._report_seq = 0
        """How many of the technicians' reports the construction job has taken."""
        self._stale = False
        """A report was signalled that could not be taken as it came: the job is to be
        read again from the database."""
        self._woken = False
        self._failed_by_operations: str | None = None
        self._published: dict[str, object] = {}
        """The search attributes as the server has them: those the order started with
        (the API gives its status, region and service), then what was upserted."""
        started = workflow.info().typed_search_attributes
        if all(started.get(key) is not None for key in search.INITIAL):
            self._published = {
                "status": started.get(search.ORDER_STATUS),
                "waiting": [],
                "technician": None,
            }
        self._customer: list[str] = []
        """Whom and where, for the current details (encrypted like every payload)."""
        self._next_attempt: dict[SubTaskKind, int] = {}
        self._waiting: dict[SubTaskKind, str] = {}
        """Activation or quality check waiting for operations, and why."""
        self._decisions: dict[SubTaskKind, NetworkOperation] = {}
        self._cancel: CancelOrder | None = None
        """The order's cancellation, once requested: every sub-task stops."""
        self._cancel_recorded = False
        """The cancellation request is in the order's timeline (or could not be put)."""
        self._from_temporal: asyncio.Task[None] | None = None
        self._decision: OrderDecision | None = None
        """The order's outcome, once decided: it takes no cancellation after that."""
        self._branches: dict[SubTaskKind, asyncio.Task[SubTaskOutcome]] = {}
        self._attempting: set[SubTaskKind] = set()
        """Sub-tasks whose NMS attempt is in flight."""
        self._sent: list[int] = []
        """Activation attempts sent to the NMS: deactivated if the order is cancelled."""

    @workflow.run
    async def run(self, input: WorkOrderInput) -> WorkOrderResult:
        """Work the order to its end.

        The work runs in a task of its own: a cancellation requested in Temporal
        cancels this coroutine (and what it awaits), never the work, and becomes the
        order's cancellation; the workflow then ends normally, its order cancelled.
        """
        work = asyncio.create_task(self._work(input))
        while True:
            try:
                await workflow.wait_condition(work.done)
            except asyncio.CancelledError:
                self._cancelled_in_temporal()
                continue
            return work.result()

    async def _work(self, input: WorkOrderInput) -> WorkOrderResult:
        plan = await self._write(OrderActivities.start_order, input)
        self._status = OrderStatus.IN_PROGRESS
        self._publish(plan)
        self._branches = {
            kind: asyncio.create_task(self._branch(kind, work))
            for kind, work in (
                (SubTaskKind.CONSTRUCTION, self._run_construction(plan)),
                (SubTaskKind.ACTIVATION, self._activation(plan)),
                (SubTaskKind.QUALITY_CHECK, self._quality_check(plan)),
            )
        }
        outcomes = await asyncio.gather(*self._branches.values())
        if self._cancel is None:
            decision = decide_order_status(outcomes)
        else:
            decision, outcomes = await self._clean_up(self._cancel, outcomes)
        self._decision = decision
        outcome = RecordOrderStatusInput(
            order_id=plan.order_id, decision=decision, outcomes=outcomes
        )
        # Written before the workflow task that closes the workflow reaches Temporal.
        # Should a cancellation arrive meanwhile, the server refuses to close the
        # workflow, and the task is tried again with the cancellation in it: it comes
        # after the end of the last sub-task (_after_this_step), so the decision, and
        # the write, are the same again.
        await self._write(OrderActivities.record_order_status, outcome)
        self._status = decision.status
        self._publish(plan)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return WorkOrderResult(
            order_id=plan.order_id,
            status=decision.status,
            reason=decision.reason,
            outcomes=list(outcomes),
        )

    async def _write(self, activity: Callable[[Any, _Arg], Awaitable[_Ret]], arg: _Arg) -> _Ret:
        """Run a database write (or read) of the order (an activity with the
        :data:`DATABASE` options): a local activity, unless an update handler asks
        for it.

        An update is durable only once the workflow task that accepts it completes; a
        Temporal server that restarts before that forgets it, and its caller gets an
        error. A local activity's write would already be in the database, where the
        technician sees it, while the workflow never learned of it (a report landed
        in the database only: found by ``bench.faults``, Temporal restarted). An
        activity is scheduled by that same workflow task, so both happen or neither.
        """
        if workflow.current_update_info() is None:
            return await workflow.execute_local_activity_method(activity, arg, **DATABASE)
        return await workflow.execute_activity_method(activity, arg, **DATABASE)

    async def _branch(self, kind: SubTaskKind, work: Awaitable[SubTaskOutcome]) -> SubTaskOutcome:
        """Run one sub-task to its outcome; an activity that gave up fails only it."""
        try:
            outcome = await work
        except ACTIVITY_FAILED as e:
            if self._cancel is not None and is_cancelled_exception(e):
                outcome = self._cancelled(kind)  # abandoned
            else:
                outcome = SubTaskOutcome(kind=kind, status=SubTaskStatus.FAILED, reason=_reason(e))
        except asyncio.CancelledError:
            if self._cancel is None:
                raise
            outcome = self._cancelled(kind)  # abandoned
        self._outcomes[kind] = outcome
        return outcome

    async def _to_operations(self, kind: SubTaskKind, reason: str | None) -> None:
        """Say that a sub-task waits for operations, or (no reason) that it resumed."""
        await self._write(
            OrderActivities.hand_to_operations,
            HandOffInput(order_id=self._order_id, kind=kind, reason=reason),
        )
        waiting = self._waiting or self._construction.waiting_for_operations
        self._status = OrderStatus.WAITING_FOR_OPERATIONS if waiting else OrderStatus.IN_PROGRESS
        self._publish()

    def _publish(self, plan: OrderPlan | None = None) -> None:
        """Keep the search attributes and the current details that operations see in
        the Temporal UI up to date; only what changed is sent."""
        waiting = sorted(k.value for k in self._waiting)
        if self._construction.waiting_for_operations:
            waiting = sorted([*waiting, SubTaskKind.CONSTRUCTION.value])
        job = self._construction.job
        updates: list[SearchAttributeUpdate[Any]] = []
        if plan is not None and self._published == {}:  # none given at the start
            updates += [
                search.REGION.value_set(plan.region),
                search.SERVICE_TYPE.value_set(plan.service_type.value),
            ]
        values: dict[str, object] = {
            "status": self._status.value,
            "waiting": waiting,
            "technician": job.technician_id if job else None,
        }
        if values["status"] != self._published.get("status"):
            updates.append(search.ORDER_STATUS.value_set(self._status.value))
        if values["waiting"] != self._published.get("waiting", []):
            updates.append(search.WAITING_FOR.value_set(waiting))
        if values["technician"] != self._published.get("technician"):
            updates.append(
                search.TECHNICIAN.value_set(job.technician_id)
                if job
                else search.TECHNICIAN.value_unset()
            )
        if updates:
            workflow.upsert_search_attributes(updates)
            self._published = values
        if plan is not None and plan.customer_name:
            self._customer = [
                f"customer: {plan.customer_name}, {plan.customer_phone}",
                f"address: {plan.address}",
            ]
        details = [f"**{self._status.value}**", *self._customer]
        if job:
            details.append(f"construction: {job.technician_id}, {job.state.value}")
        elif self._construction.queued:
            details.append("construction: queued for a technician")
        details += [f"waiting for operations: {k}" for k in waiting]
        workflow.set_current_details("\n".join(details))

    # Construction ----------------------------------------------------------------

    async def _run_construction(self, plan: OrderPlan) -> SubTaskOutcome:
        sla = asyncio.create_task(self._keep_time_limit(plan))
        try:
            while True:
                async with self._construction_lock:
                    if self._stale:
                        await self._refresh()
                    outcome = await self._next_construction_step()
                    seen = self._construction_changes
                    self._publish()
                if outcome is not None:
                    return outcome
                if self._construction.queued:
                    with contextlib.suppress(TimeoutError):  # then ask again
                        await workflow.wait_condition(
                            self._woken_or_changed(seen), timeout=self._queue_poll()
                        )
                else:
                    await workflow.wait_condition(self._woken_or_changed(seen))
        finally:
            sla.cancel()

    def _queue_poll(self) -> timedelta:
        # Spread out, so that jobs queued together do not all ask at once.
        return QUEUE_POLL * workflow.random().uniform(0.8, 1.2)

    def _woken_or_changed(self, seen: int) -> Callable[[], bool]:
        # A wake-up counts only while queued: one arriving late (two technicians freed
        # up at once) must not wake a loop that has nothing to do.
        return lambda: (
            (self._woken and self._construction.queued)
            or self._construction_changes != seen
            or self._stale
            or self._cancel is not None
        )

    def _changed(self) -> None:
        self._construction_changes += 1
        self._publish()

    def _construction_outcome(
        self, status: SubTaskStatus, reason: str | None = None
    ) -> SubTaskOutcome:
        job = self._construction.job
        return SubTaskOutcome(
            kind=SubTaskKind.CONSTRUCTION,
            status=status,
            reason=reason,
            attempts=job.visit if job else 0,
        )

    async def _next_construction_step(self) -> SubTaskOutcome | None:
        """Take the construction job one step on; its outcome once it has one."""
        view = self._construction
        if self._failed_by_operations is not None:
            return self._construction_outcome(
                SubTaskStatus.FAILED, f"failed by operations: {self._failed_by_operations}"
            )
        job = view.job
        if job is not None and job.state is JobState.COMPLETED:
            return self._construction_outcome(SubTaskStatus.SUCCEEDED)
        if self._cancel is not None:
            return await self._withdraw(self._cancel)
        if job is not None and job.state is JobState.CANNOT_COMPLETE:
            reason = job.reason_code.value if job.reason_code else "unknown"
            action = follow_up(job.reason_code, job.visit)
            if action is FollowUp.RESCHEDULE:
                await self._write(
                    ConstructionActivities.reschedule_construction,
                    RescheduleConstructionInput(order_id=self._order_id, visit=job.visit + 1),
                )
                view.job = ConstructionJob(technician_id=job.technician_id, visit=job.visit + 1)
                return None
            await self._release(f"technician could not complete: {reason}")
            if action is FollowUp.FAIL:
                outcome = self._construction_outcome(
                    SubTaskStatus.FAILED, f"technician cannot complete: {reason}"
                )
                view.job = None
                return outcome
            view.job = None
            if action is FollowUp.REASSIGN:
                view.excluded.append(job.technician_id)
            else:
                await self._construction_to_operations(
                    f"technician could not complete: {reason} (visit {job.visit})"
                )
                return None
        if view.job is None and view.waiting_for_operations is None:
            await self._assign()
        return None

    async def _assign(self) -> None:
        view = self._construction
        self._woken = False
        assignment = await self._write(
            ConstructionActivities.dispatch_construction,
            ConstructionInput(
                order_id=self._order_id,
                excluded=view.excluded,
                escalated=view.sla is SlaState.BREACHED,
            ),
        )
        if assignment.technician_id is not None:
            view.job = ConstructionJob(technician_id=assignment.technician_id)
            view.queued = False
        elif assignment.can_wait:
            view.queued = True
        else:
            await self._construction_to_operations(assignment.reason or "no technician")

    async def _release(self, reason: str, *, before_on_site: bool = False) -> ConstructionJobState:
        """Take the job back from its technician; the job after."""
        after: ConstructionJobState = await self._write(
            ConstructionActivities.release_construction,
            ReleaseConstructionInput(
                order_id=self._order_id, reason=reason, before_on_site=before_on_site
            ),
        )
        self._report_seq = max(self._report_seq, after.report_seq)
        return after

    async def _refresh(self) -> None:
        """Read the job from the database, where the API records the reports."""
        self._stale = False
        self._take(
            await self._write(
                ConstructionActivities.read_construction_job,
                ConstructionJobInput(order_id=self._order_id),
            )
        )

    def _take(self, state: ConstructionJobState) -> None:
        """The job as the database has it, after ``state.report_seq`` reports."""
        self._construction.job = state.job
        self._report_seq = max(self._report_seq, state.report_seq)

    async def _withdraw(self, request: CancelOrder) -> SubTaskOutcome:
        """The order is cancelled: take the job back from its technician, out of the
        queue, or away from operations."""
        await workflow.wait_condition(lambda: self._cancel_recorded)  # the request first
        view = self._construction
        outcome = self._construction_outcome(
            SubTaskStatus.CANCELLED, "withdrawn: the order was cancelled"
        )
        await self._write(
            ConstructionActivities.withdraw_construction,
            WithdrawConstructionInput(
                order_id=self._order_id,
                actor=request.actor,
                reason=f"cancelled by {request.actor}: {request.reason}",
            ),
        )
        view.job = None
        view.queued = False
        view.waiting_for_operations = None
        self._stopped_waiting()
        return outcome

    async def _construction_to_operations(self, reason: str) -> None:
        self._construction.queued = False
        self._construction.waiting_for_operations = reason
        await self._to_operations(SubTaskKind.CONSTRUCTION, reason)

    async def _keep_time_limit(self, plan: OrderPlan) -> None:
        """Mark the job in jeopardy, then escalate it at the region's time limit: a
        technician not yet on site loses it to another, or to operations."""
        await workflow.sleep(plan.jeopardy_after)
        async with self._construction_lock:
            await self._mark_sla(SlaState.JEOPARDY)
        await workflow.sleep(plan.installation_limit - plan.jeopardy_after)
        async with self._construction_lock:
            await self._mark_sla(SlaState.BREACHED)
            if self._stale:
                await self._refresh()
            job = self._construction.job
            if job is not None and job.state in NOT_STARTED_ON_SITE:
                after = await self._release(
                    "time limit passed before the technician was on site", before_on_site=True
                )
                if after.job is None:
                    self._construction.excluded.append(job.technician_id)
                    self._construction.job = None
                else:  # on site after all: a report the workflow had not heard of yet
                    self._take(after)
            self._changed()

    async def _mark_sla(self, state: SlaState) -> None:
        self._construction.sla = state
        await self._write(
            ConstructionActivities.mark_construction_sla,
            SlaInput(order_id=self._order_id, state=state),
        )

    @workflow.signal
    def construction_reported(self, reported: ConstructionJobState) -> None:
        """The API recorded a technician's report: the job as it stands after it.

        Taken as it comes when nothing else changes the job meanwhile; otherwise (the
        workflow is assigning, releasing or marking the job, or the report is for a
        job the workflow does not hold yet) the job is read again from the database
        once that is done, so the database's order of events wins. A report sent
        again, or one the workflow knows from the database already, changes nothing.
        """
        if (
            reported.report_seq <= self._report_seq
            or self._cancel is not None
            or SubTaskKind.CONSTRUCTION in self._outcomes
        ):
            return
        held, came = self._construction.job, reported.job
        same_job = (held is None and came is None) or (
            held is not None
            and came is not None
            and (held.technician_id, held.visit) == (came.technician_id, came.visit)
        )
        if same_job and not self._construction_lock.locked():
            self._take(reported)
        else:
            self._stale = True
        self._changed()

    @workflow.signal
    def technician_available(self) -> None:
        """A technician who could take this order's job has room again."""
        self._woken = True

    @workflow.update
    async def operate_construction(self, operation: ConstructionOperation) -> ConstructionView:
        """Operations assign the job to a technician of their choice, or give it up."""
        async with self._construction_lock:
            self._check_operation(operation)
            view = self._construction
            if operation.action == "assign":
                assert operation.technician_id is not None
                try:
                    await self._write(
                        ConstructionActivities.assign_technician_by_hand,
                        AssignTechnicianInput(
                            order_id=self._order_id,
                            technician_id=operation.technician_id,
                            operator=operation.operator,
                        ),
                    )
                except ACTIVITY_FAILED as e:
                    cause = _cause(e)
                    if isinstance(cause, ApplicationError):
                        raise ApplicationError(cause.message, type=cause.type) from None
                    raise
                view.job = ConstructionJob(technician_id=operation.technician_id)
                view.queued = False
                if view.waiting_for_operations is not None:
                    view.waiting_for_operations = None
                    await self._to_operations(SubTaskKind.CONSTRUCTION, None)
            else:
                await self._release(f"failed by operations: {operation.reason}")
                view.job = None
                view.queued = False
                self._failed_by_operations = operation.reason
            self._changed()
            return view

    @operate_construction.validator
    def _validate_operation(self, operation: ConstructionOperation) -> None:
        self._check_operation(operation)

    def _check_operation(self, operation: ConstructionOperation) -> None:
        self._refuse_when_cancelled("CONSTRUCTION_CLOSED", "its construction takes no decisions")
        if SubTaskKind.CONSTRUCTION in self._outcomes or self._failed_by_operations:
            raise ApplicationError(
                "construction has ended; it takes no more decisions",
                type="CONSTRUCTION_CLOSED",
                non_retryable=True,
            )
        job = self._construction.job
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

    # Activation ------------------------------------------------------------------

    async def _activation(self, plan: OrderPlan) -> SubTaskOutcome:
        async def attempt(number: int) -> ActivationResult:
            return await workflow.execute_activity_method(
                ActivationActivities.activate_resources,
                ActivationInput(order_id=plan.order_id, attempt=number),
                **NMS,
            )

        return await self._network_task(SubTaskKind.ACTIVATION, attempt, MAX_ACTIVATION_ATTEMPTS)

    # Quality check ---------------------------------------------------------------

    async def _quality_check(self, plan: OrderPlan) -> SubTaskOutcome:
        if self._cancel is not None:
            return self._cancelled(SubTaskKind.QUALITY_CHECK)
        needed = (SubTaskKind.CONSTRUCTION, SubTaskKind.ACTIVATION)
        await workflow.wait_condition(
            lambda: all(k in self._outcomes for k in needed) or self._cancel is not None
        )
        if self._cancel is not None:
            return self._cancelled(SubTaskKind.QUALITY_CHECK)
        blocked = [
            k.value for k in needed if self._outcomes[k].status is not SubTaskStatus.SUCCEEDED
        ]
        if blocked:
            return SubTaskOutcome(
                kind=SubTaskKind.QUALITY_CHECK,
                status=SubTaskStatus.SKIPPED,
                reason=f"the line was not ready: {' and '.join(blocked)} did not succeed",
            )

        async def attempt(number: int) -> QualityCheckResult:
            return await workflow.execute_activity_method(
                QualityCheckActivities.run_quality_check,
                QualityCheckInput(order_id=plan.order_id, attempt=number),
                **NMS,
            )

        return await self._network_task(
            SubTaskKind.QUALITY_CHECK, attempt, MAX_QUALITY_CHECK_ATTEMPTS
        )

    # Activation and quality check: attempts, revisions, operations ---------------

    async def _network_task(
        self,
        kind: SubTaskKind,
        attempt: Callable[[int], Awaitable[ActivationResult | QualityCheckResult]],
        revisions: int,
    ) -> SubTaskOutcome:
        """Attempts of one NMS sub-task until it succeeds.

        A revisable failure is tried again (the activity revises the data from the
        history) up to ``revisions`` attempts in a row; a permanent failure, the last
        revision failing, or the NMS unreachable for too long hands the sub-task to
        operations, who retry it (with data they edited, or planned anew) or abort it.
        """
        number, last_revision, unanswered = 0, revisions, False
        while True:
            if self._cancel is not None:  # no new attempt
                return self._cancelled(kind, number)
            if not unanswered:
                number += 1
            unanswered = False
            if kind is SubTaskKind.ACTIVATION:
                self._sent.append(number)
            self._attempting.add(kind)
            try:
                result = await attempt(number)
            except ActivityError as e:
                # No answer (the NMS unreachable for too long): a retry repeats this
                # attempt, its data and its idempotency key, so that an activation the
                # NMS did after all is not done twice.
                reason, revisable, unanswered = _reason(e), False, True
            else:
                if self._cancel is not None:  # it ended after the order was cancelled
                    return self._cancelled(kind, number)
                if result.succeeded:
                    return SubTaskOutcome(
                        kind=kind, status=SubTaskStatus.SUCCEEDED, attempts=number
                    )
                reason, revisable = f"{result.error_code}: {result.message}", result.revisable
            finally:
                self._attempting.discard(kind)
            if self._cancel is not None:
                return self._cancelled(kind, number)
            if revisable and number < last_revision:
                continue
            if revisable:
                reason = f"revised {revisions} times in a row; last: {reason}"
            self._next_attempt[kind] = number + 1  # where an operator's data goes
            decision = await self._wait_for_operations(kind, reason)
            if decision is None:
                return self._cancelled(kind, number)
            unanswered = unanswered and decision.data is None
            if decision.action == "abort":
                return SubTaskOutcome(
                    kind=kind,
                    status=SubTaskStatus.FAILED,
                    reason=f"aborted by operations: {decision.reason}; last: {reason}",
                    attempts=number,
                )
            last_revision = number + revisions

    async def _wait_for_operations(self, kind: SubTaskKind, reason: str) -> NetworkOperation | None:
        """Operations' decision, or ``None`` when the order was cancelled meanwhile."""
        self._waiting[kind] = reason
        await self._to_operations(kind, reason)
        await workflow.wait_condition(lambda: kind in self._decisions or self._cancel is not None)
        if self._cancel is not None:
            self._stopped_waiting(kind)
            return None
        decision = self._decisions.pop(kind)
        await self._to_operations(kind, None)
        return decision

    @workflow.update
    async def operate_network_task(self, operation: NetworkOperation) -> WorkOrderState:
        """Operations decide on an activation or quality check waiting for them."""
        self._check_network_operation(operation)
        reason = self._waiting.pop(operation.kind)  # at once: one decision per hand-off
        if operation.action == "retry" and operation.data is not None:
            try:
                await self._write(
                    OrderActivities.prepare_attempt,
                    PrepareAttemptInput(
                        order_id=self._order_id,
                        kind=operation.kind,
                        attempt=self._next_attempt[operation.kind],
                        data=operation.data,
                        operator=operation.operator,
                    ),
                )
            except ACTIVITY_FAILED as e:
                self._waiting[operation.kind] = reason
                cause = _cause(e)
                if isinstance(cause, ApplicationError):
                    raise ApplicationError(cause.message, type=cause.type) from None
                raise
        self._decisions[operation.kind] = operation
        return self.state()

    @operate_network_task.validator
    def _validate_network_operation(self, operation: NetworkOperation) -> None:
        self._check_network_operation(operation)

    def _check_network_operation(self, operation: NetworkOperation) -> None:
        self._refuse_when_cancelled(
            "NOT_WAITING", f"{operation.kind.value} is not waiting for operations"
        )
        if operation.kind not in self._waiting:
            raise ApplicationError(
                f"{operation.kind.value} is not waiting for operations",
                type="NOT_WAITING",
                non_retryable=True,
            )
        if operation.data is not None:
            model = ActivationData if operation.kind is SubTaskKind.ACTIVATION else QualityCheckData
            unknown = set(operation.data) - set(model.model_fields)
            try:
                if unknown:
                    raise ValueError(f"unknown fields: {', '.join(sorted(unknown))}")
                model.model_validate(operation.data)
            except ValueError as e:
                raise ApplicationError(
                    f"invalid {operation.kind.value} data: {e}",
                    type="INVALID_DATA",
                    non_retryable=True,
                ) from None

    # Cancellation ----------------------------------------------------------------

    @workflow.update
    async def cancel_order(self, request: CancelOrder) -> WorkOrderState:
        """Cancel the order: the job is withdrawn from the technician, what was
        activated is deactivated in the NMS, and the order ends cancelled.

        Returns once the request is recorded in the order's timeline; the cleanup
        goes on after (a deactivation may wait for the NMS). Cancelling an order that
        is being cancelled returns its state again.
        """
        await self._after_this_step()
        if self._cancel is None:
            await self._request_cancellation(request)
        else:
            await workflow.wait_condition(lambda: self._cancel_recorded)
        return self.state()

    @cancel_order.validator
    def _validate_cancel(self, request: CancelOrder) -> None:
        self._check_open()

    def _check_open(self) -> None:
        if self._decision is not None:
            raise ApplicationError(
                f"the order is {self._decision.status.value}; it cannot be cancelled",
                type="ORDER_CLOSED",
                non_retryable=True,
            )

    async def _request_cancellation(self, request: CancelOrder) -> None:
        """Stop every sub-task and record who cancelled the order, and why."""
        self._check_open()
        self._cancel = request
        if SubTaskKind.QUALITY_CHECK in self._attempting:  # abandon its NMS attempt
            self._branches[SubTaskKind.QUALITY_CHECK].cancel()
        try:
            await self._write(
                OrderActivities.record_cancellation,
                CancellationInput(
                    order_id=self._order_id, actor=request.actor, reason=request.reason
                ),
            )
        finally:
            self._cancel_recorded = True

    def _cancelled_in_temporal(self) -> None:
        """A cancellation requested in Temporal: the order is cancelled as through the
        API, unless it has ended or is being cancelled already."""
        if self._decision is not None or self._cancel is not None:
            return

        async def cancel() -> None:
            await self._after_this_step()
            if self._decision is not None or self._cancel is not None:
                return
            with contextlib.suppress(*ACTIVITY_FAILED):  # not recorded: cancelled all the same
                await self._request_cancellation(CANCELLED_IN_TEMPORAL)

        self._from_temporal = asyncio.create_task(cancel())

    async def _after_this_step(self) -> None:
        """Return once the workflow has taken in everything of the current workflow
        task: a cancellation arriving with the end of the last sub-task finds the order
        decided, and ended."""
        await workflow.wait_condition(lambda: True)

    def _cancelled(self, kind: SubTaskKind, attempts: int = 0) -> SubTaskOutcome:
        return SubTaskOutcome(
            kind=kind,
            status=SubTaskStatus.CANCELLED,
            reason="stopped: the order was cancelled",
            attempts=attempts,
        )

    def _refuse_when_cancelled(self, code: str, what: str) -> None:
        if self._cancel is not None:
            raise ApplicationError(f"the order is cancelled; {what}", type=code, non_retryable=True)

    async def _clean_up(
        self, request: CancelOrder, outcomes: list[SubTaskOutcome]
    ) -> tuple[OrderDecision, list[SubTaskOutcome]]:
        """Once every sub-task has stopped (an activation attempt in flight has ended):
        deactivate in the NMS what activation sent and give the inventory back. An
        activation that had succeeded is cancelled too once its service is deactivated.
        """
        await workflow.wait_condition(lambda: self._cancel_recorded)
        if not self._sent:
            return decide_cancelled_status(request), outcomes  # inventory: given back at the end
        try:
            deactivation: DeactivateResourcesResult = await workflow.execute_activity_method(
                ActivationActivities.deactivate_resources,
                DeactivateResourcesInput(order_id=self._order_id, attempts=sorted(set(self._sent))),
                **DEACTIVATION,
            )
        except ActivityError as e:
            return decide_cancelled_status(request, deactivation_error=_reason(e)), outcomes
        activation = self._outcomes.get(SubTaskKind.ACTIVATION)
        if (
            activation is not None
            and activation.status is SubTaskStatus.SUCCEEDED
            and deactivation.slots
            and not deactivation.refused
        ):
            self._outcomes[SubTaskKind.ACTIVATION] = activation.model_copy(
                update={
                    "status": SubTaskStatus.CANCELLED,
                    "reason": "deactivated: the order was cancelled",
                }
            )
            outcomes = [self._outcomes.get(o.kind, o) for o in outcomes]
        return decide_cancelled_status(request, deactivation), outcomes

    def _stopped_waiting(self, kind: SubTaskKind | None = None) -> None:
        """A sub-task waits for operations no more: the order is cancelled."""
        if kind is not None:
            self._waiting.pop(kind, None)
            self._decisions.pop(kind, None)
        waiting = self._waiting or self._construction.waiting_for_operations
        self._status = OrderStatus.WAITING_FOR_OPERATIONS if waiting else OrderStatus.IN_PROGRESS
        self._publish()

    @workflow.query
    def state(self) -> WorkOrderState:
        return WorkOrderState(
            order_id=self._order_id,
            status=self._status,
            construction=self._construction,
            waiting_for_operations=dict(self._waiting),
            outcomes=list(self._outcomes.values()),
            cancelling=self._cancel is not None and not self._status.is_final,
            cancellation=self._cancel,
        )
