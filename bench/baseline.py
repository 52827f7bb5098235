"""Workflows of the lead-time benchmark (``bench.lead_time``).

- :class:`SequentialWorkOrderWorkflow`: the baseline, the same activities as
  :class:`workflows.WorkOrderWorkflow` one after another: construction (dispatch,
  then the technician's reports to completion), then activation (revised attempts),
  then the quality check;
- :class:`TechnicianWorkflow`: a technician who reports on a job after given delays,
  so that construction takes its time in workflow time, like the other sub-tasks.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.activation import ActivationActivities
    from activities.construction import ConstructionActivities
    from activities.orders import OrderActivities
    from activities.quality import QualityCheckActivities
    from bench.visits import ReportInput, TechnicianScript
    from models.enums import FollowUp, JobState, SubTaskKind, SubTaskStatus
    from models.payloads import (
        ActivationInput,
        ActivationResult,
        ConstructionChanged,
        ConstructionInput,
        ConstructionJob,
        ConstructionJobInput,
        QualityCheckInput,
        QualityCheckResult,
        RecordOrderStatusInput,
        RescheduleConstructionInput,
        SubTaskOutcome,
        WorkOrderInput,
        WorkOrderResult,
    )
    from models.status import decide_order_status
    from models.status import follow_up as follow_up_for
    from workflows.options import (
        DATABASE,
        MAX_ACTIVATION_ATTEMPTS,
        MAX_QUALITY_CHECK_ATTEMPTS,
        NMS,
    )


@workflow.defn
class SequentialWorkOrderWorkflow:
    """One sub-task after the other; no operations (a sub-task that gives up fails)."""

    def __init__(self) -> None:
        self._order_id = ""
        self._job: ConstructionJob | None = None
        self._version = 0
        self._announced = 0

    @workflow.run
    async def run(self, input: WorkOrderInput) -> WorkOrderResult:
        self._order_id = input.order_id
        await workflow.execute_activity_method(OrderActivities.start_order, input, **DATABASE)
        outcomes = [await self._construction()]
        outcomes.append(await self._attempts(SubTaskKind.ACTIVATION, MAX_ACTIVATION_ATTEMPTS))
        outcomes.append(await self._attempts(SubTaskKind.QUALITY_CHECK, MAX_QUALITY_CHECK_ATTEMPTS))
        decision = decide_order_status(outcomes)
        await workflow.execute_activity_method(
            OrderActivities.record_order_status,
            RecordOrderStatusInput(order_id=input.order_id, decision=decision, outcomes=outcomes),
            **DATABASE,
        )
        await workflow.wait_condition(workflow.all_handlers_finished)
        return WorkOrderResult(
            order_id=input.order_id,
            status=decision.status,
            reason=decision.reason,
            outcomes=outcomes,
        )

    async def _construction(self) -> SubTaskOutcome:
        assignment = await workflow.execute_activity_method(
            ConstructionActivities.dispatch_construction,
            ConstructionInput(order_id=self._order_id),
            **DATABASE,
        )
        if assignment.technician_id is None:
            return self._outcome(SubTaskStatus.FAILED, "no technician")
        self._job = ConstructionJob(technician_id=assignment.technician_id)
        while True:
            await workflow.wait_condition(lambda: self._announced > self._version)
            snapshot = await workflow.execute_activity_method(
                ConstructionActivities.read_construction_job,
                ConstructionJobInput(order_id=self._order_id),
                **DATABASE,
            )
            self._job, self._version = snapshot.job, max(self._version, snapshot.version)
            job = self._job
            if job is None:
                continue
            if job.state is JobState.COMPLETED:
                return self._outcome(SubTaskStatus.SUCCEEDED)
            if job.state is not JobState.CANNOT_COMPLETE:
                continue
            if follow_up_for(job.reason_code, job.visit) is not FollowUp.RESCHEDULE:
                return self._outcome(SubTaskStatus.FAILED, "cannot complete")
            after = await workflow.execute_activity_method(
                ConstructionActivities.reschedule_construction,
                RescheduleConstructionInput(order_id=self._order_id, visit=job.visit + 1),
                **DATABASE,
            )
            self._job, self._version = after.job, after.version

    def _outcome(self, status: SubTaskStatus, reason: str | None = None) -> SubTaskOutcome:
        visits = self._job.visit if self._job else 0
        return SubTaskOutcome(
            kind=SubTaskKind.CONSTRUCTION, status=status, reason=reason, attempts=visits
        )

    async def _attempts(self, kind: SubTaskKind, revisions: int) -> SubTaskOutcome:
        """Revised attempts until one succeeds or ``revisions`` have failed."""
        for number in range(1, revisions + 1):
            result: ActivationResult | QualityCheckResult
            try:
                if kind is SubTaskKind.ACTIVATION:
                    result = await workflow.execute_activity_method(
                        ActivationActivities.activate_resources,
                        ActivationInput(order_id=self._order_id, attempt=number),
                        **NMS,
                    )
                else:
                    result = await workflow.execute_activity_method(
                        QualityCheckActivities.run_quality_check,
                        QualityCheckInput(order_id=self._order_id, attempt=number),
                        **NMS,
                    )
            except ActivityError as e:
                return SubTaskOutcome(kind=kind, status=SubTaskStatus.FAILED, reason=str(e))
            if result.succeeded:
                return SubTaskOutcome(kind=kind, status=SubTaskStatus.SUCCEEDED, attempts=number)
            if not result.revisable:
                break
        return SubTaskOutcome(kind=kind, status=SubTaskStatus.FAILED, reason="gave up")

    @workflow.signal
    def construction_reported(self, changed: ConstructionChanged) -> None:
        """The technician's report, recorded: the job's version after it, as
        :class:`workflows.WorkOrderWorkflow` takes it (the job is read again)."""
        self._announced = max(self._announced, changed.version)


REPORT_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=1.0)
"""A report the job cannot take yet (the next visit is not arranged) is sent again a
second later."""


@workflow.defn
class TechnicianWorkflow:
    """Sends each step's report after its delay, in workflow time."""

    @workflow.run
    async def run(self, script: TechnicianScript) -> None:
        for step in script.steps:
            await workflow.sleep(timedelta(seconds=step.delay_s))
            await workflow.execute_activity(
                "report_to_order",
                ReportInput(
                    workflow_id=script.workflow_id, technician_id=script.technician_id, step=step
                ),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=REPORT_RETRY,
            )
