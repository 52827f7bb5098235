"""One durable workflow per work order.

Dispatch: the order is opened, then its three sub-tasks start at the same time and
each owns its failures, so one failing never loses another's result. Activation and
the quality check are retried with data revised from the order's history (the
activities plan each attempt's data from the database); construction waits for the
technician's reports, which arrive as validated updates. The order's status follows
from the three outcomes by :func:`models.status.decide_order_status`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import timedelta
from typing import TypedDict

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.activation import ActivationActivities
    from activities.construction import ConstructionActivities
    from activities.errors import NON_RETRYABLE
    from activities.orders import OrderActivities
    from activities.quality import QualityCheckActivities
    from models.enums import JobState, OrderStatus, SubTaskKind, SubTaskStatus
    from models.payloads import (
        ActivationInput,
        ConstructionAssignment,
        ConstructionInput,
        ConstructionJob,
        ConstructionReport,
        OrderPlan,
        QualityCheckInput,
        RecordConstructionReportInput,
        RecordOrderStatusInput,
        SubTaskOutcome,
        SubTaskStarted,
        WorkOrderInput,
        WorkOrderResult,
        WorkOrderState,
    )
    from models.status import ReportRejected, apply_report, check_report, decide_order_status

MAX_ACTIVATION_ATTEMPTS = 6
"""Activation attempts, each with data revised from the history, before giving up."""
MAX_QUALITY_CHECK_ATTEMPTS = 6
TECHNICIAN_WAIT = timedelta(seconds=15)
"""How often a job that no technician has room for asks again."""


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
ready, for up to an hour; then the sub-task fails."""

FINAL_JOB_STATES = (JobState.COMPLETED, JobState.CANNOT_COMPLETE)


def workflow_id_for(order_id: str) -> str:
    """The id of the workflow of a work order."""
    return f"work-order-{order_id}"


def _reason(error: BaseException) -> str:
    cause = error.cause if isinstance(error, ActivityError) and error.cause else error
    return str(cause) or type(cause).__name__


@workflow.defn
class WorkOrderWorkflow:
    @workflow.init
    def __init__(self, input: WorkOrderInput) -> None:
        self._order_id = input.order_id
        self._status = OrderStatus.RECEIVED
        self._job: ConstructionJob | None = None
        self._outcomes: dict[SubTaskKind, SubTaskOutcome] = {}
        self._report_lock = asyncio.Lock()

    @workflow.run
    async def run(self, input: WorkOrderInput) -> WorkOrderResult:
        plan = await workflow.execute_activity_method(
            OrderActivities.start_order, input, **DATABASE
        )
        self._status = OrderStatus.IN_PROGRESS
        outcomes = await asyncio.gather(
            self._branch(SubTaskKind.CONSTRUCTION, self._construction(plan)),
            self._branch(SubTaskKind.ACTIVATION, self._activation(plan)),
            self._branch(SubTaskKind.QUALITY_CHECK, self._quality_check(plan)),
        )
        decision = decide_order_status(outcomes)
        await workflow.execute_activity_method(
            OrderActivities.record_order_status,
            RecordOrderStatusInput(order_id=plan.order_id, decision=decision, outcomes=outcomes),
            **DATABASE,
        )
        self._status = decision.status
        await workflow.wait_condition(workflow.all_handlers_finished)
        return WorkOrderResult(
            order_id=plan.order_id,
            status=decision.status,
            reason=decision.reason,
            outcomes=list(outcomes),
        )

    async def _branch(self, kind: SubTaskKind, work: Awaitable[SubTaskOutcome]) -> SubTaskOutcome:
        """Run one sub-task to its outcome; an activity that gave up fails only it."""
        try:
            outcome = await work
        except ActivityError as e:
            outcome = SubTaskOutcome(kind=kind, status=SubTaskStatus.FAILED, reason=_reason(e))
        self._outcomes[kind] = outcome
        return outcome

    # Construction ----------------------------------------------------------------

    async def _construction(self, plan: OrderPlan) -> SubTaskOutcome:
        assignment = await self._assign(plan.order_id)
        if assignment.technician_id is None:
            return SubTaskOutcome(
                kind=SubTaskKind.CONSTRUCTION,
                status=SubTaskStatus.FAILED,
                reason=assignment.reason,
            )
        self._job = ConstructionJob(technician_id=assignment.technician_id)
        await workflow.wait_condition(
            lambda: self._job is not None and self._job.state in FINAL_JOB_STATES
        )
        assert self._job is not None
        if self._job.state is JobState.COMPLETED:
            return SubTaskOutcome(
                kind=SubTaskKind.CONSTRUCTION, status=SubTaskStatus.SUCCEEDED, attempts=1
            )
        reason = self._job.reason_code.value if self._job.reason_code else "unknown"
        return SubTaskOutcome(
            kind=SubTaskKind.CONSTRUCTION,
            status=SubTaskStatus.FAILED,
            reason=f"technician cannot complete: {reason}",
            attempts=1,
        )

    async def _assign(self, order_id: str) -> ConstructionAssignment:
        """Dispatch the job; while every technician who could do it is fully booked,
        the job waits its turn and asks again."""
        while True:
            assignment = await workflow.execute_activity_method(
                ConstructionActivities.dispatch_construction,
                ConstructionInput(order_id=order_id),
                **DATABASE,
            )
            if assignment.technician_id is not None or not assignment.can_wait:
                return assignment
            await workflow.sleep(TECHNICIAN_WAIT)

    @workflow.update
    async def report_construction(self, report: ConstructionReport) -> ConstructionJob:
        """A technician reports progress, completion, or why the job cannot be done."""
        async with self._report_lock:
            self._check(report)  # again: another report may have landed meanwhile
            await workflow.execute_activity_method(
                ConstructionActivities.record_construction_report,
                RecordConstructionReportInput(order_id=self._order_id, report=report),
                **DATABASE,
            )
            assert self._job is not None
            self._job = apply_report(self._job, report)
            return self._job

    @report_construction.validator
    def _validate_report(self, report: ConstructionReport) -> None:
        self._check(report)

    def _check(self, report: ConstructionReport) -> None:
        try:
            check_report(self._job, report)
        except ReportRejected as e:
            raise ApplicationError(str(e), type=e.code, non_retryable=True) from None

    # Activation ------------------------------------------------------------------

    async def _activation(self, plan: OrderPlan) -> SubTaskOutcome:
        reason = None
        for attempt in range(1, MAX_ACTIVATION_ATTEMPTS + 1):
            result = await workflow.execute_activity_method(
                ActivationActivities.activate_resources,
                ActivationInput(order_id=plan.order_id, attempt=attempt),
                **NMS,
            )
            if result.succeeded:
                return SubTaskOutcome(
                    kind=SubTaskKind.ACTIVATION, status=SubTaskStatus.SUCCEEDED, attempts=attempt
                )
            reason = f"{result.error_code}: {result.message}"
            if not result.revisable:
                return SubTaskOutcome(
                    kind=SubTaskKind.ACTIVATION,
                    status=SubTaskStatus.FAILED,
                    reason=reason,
                    attempts=attempt,
                )
        return SubTaskOutcome(
            kind=SubTaskKind.ACTIVATION,
            status=SubTaskStatus.FAILED,
            reason=f"gave up after {MAX_ACTIVATION_ATTEMPTS} attempts; last: {reason}",
            attempts=MAX_ACTIVATION_ATTEMPTS,
        )

    # Quality check ---------------------------------------------------------------

    async def _quality_check(self, plan: OrderPlan) -> SubTaskOutcome:
        await workflow.execute_activity_method(
            QualityCheckActivities.schedule_quality_check,
            SubTaskStarted(
                order_id=plan.order_id,
                kind=SubTaskKind.QUALITY_CHECK,
                detail="scheduled: waiting for the installation and the activation",
            ),
            **DATABASE,
        )
        needed = (SubTaskKind.CONSTRUCTION, SubTaskKind.ACTIVATION)
        await workflow.wait_condition(lambda: all(k in self._outcomes for k in needed))
        blocked = [
            k.value for k in needed if self._outcomes[k].status is not SubTaskStatus.SUCCEEDED
        ]
        if blocked:
            return SubTaskOutcome(
                kind=SubTaskKind.QUALITY_CHECK,
                status=SubTaskStatus.SKIPPED,
                reason=f"the line was not ready: {' and '.join(blocked)} did not succeed",
            )
        reason = None
        for attempt in range(1, MAX_QUALITY_CHECK_ATTEMPTS + 1):
            result = await workflow.execute_activity_method(
                QualityCheckActivities.run_quality_check,
                QualityCheckInput(order_id=plan.order_id, attempt=attempt),
                **NMS,
            )
            if result.succeeded:
                return SubTaskOutcome(
                    kind=SubTaskKind.QUALITY_CHECK,
                    status=SubTaskStatus.SUCCEEDED,
                    attempts=attempt,
                )
            reason = f"{result.error_code}: {result.message}"
            if not result.revisable:
                return SubTaskOutcome(
                    kind=SubTaskKind.QUALITY_CHECK,
                    status=SubTaskStatus.FAILED,
                    reason=reason,
                    attempts=attempt,
                )
        return SubTaskOutcome(
            kind=SubTaskKind.QUALITY_CHECK,
            status=SubTaskStatus.FAILED,
            reason=f"gave up after {MAX_QUALITY_CHECK_ATTEMPTS} attempts; last: {reason}",
            attempts=MAX_QUALITY_CHECK_ATTEMPTS,
        )

    @workflow.query
    def state(self) -> WorkOrderState:
        return WorkOrderState(
            order_id=self._order_id,
            status=self._status,
            construction=self._job,
            outcomes=list(self._outcomes.values()),
        )
