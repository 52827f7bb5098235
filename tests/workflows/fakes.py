"""Stand-in activities for workflow tests: real ``@activity.defn`` functions with the
production names, whose behaviour each test scripts, and the construction jobs as the
database would hold them, where :meth:`FakeActivities.report` records a technician's
report and signals the workflow, as the API does."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from api.workflows import initial_search_attributes
from models.enums import JobState, ServiceType
from models.payloads import (
    ActivationData,
    ActivationInput,
    ActivationResult,
    AssignTechnicianInput,
    BookedVisit,
    CancellationInput,
    ConstructionAssignment,
    ConstructionChanged,
    ConstructionInput,
    ConstructionJob,
    ConstructionJobInput,
    ConstructionJobState,
    ConstructionReport,
    DeactivateResourcesInput,
    DeactivateResourcesResult,
    HandOffInput,
    OrderPlan,
    PrepareAttemptInput,
    QualityCheckInput,
    QualityCheckResult,
    RebookInput,
    RecordOrderStatusInput,
    ReleaseConstructionInput,
    RescheduleConstructionInput,
    SlaInput,
    SlotDeactivation,
    WithdrawConstructionInput,
    WorkOrderInput,
    WorkOrderResult,
    WorkOrderState,
)
from models.status import apply_report, check_report
from workflows import WorkOrderWorkflow

NOT_YET_ON_SITE = (JobState.ASSIGNED, JobState.ACCEPTED, JobState.EN_ROUTE)
FIRST_ACTIVITIES = ("dispatch_construction", "activate_resources")
FIRST_WRITES = ("dispatch_construction",)
"""The first activities that are database writes, run as local activities: an activity
the workflow schedules in the same workflow task starts only once they have ended.
(The quality check is opened by ``start_order``.)"""

ActivationScript = Callable[[ActivationInput], ActivationResult]
QualityScript = Callable[[QualityCheckInput], QualityCheckResult]


def activation_ok(input: ActivationInput) -> ActivationResult:
    data = ActivationData(
        olt_id="olt-1",
        pon_port=1,
        ont_id=input.attempt,
        vlan=100,
        profile="FTTH_300_100",
        nms_profile_name="FTTH-300M-G2",
    )
    return ActivationResult(
        order_id=input.order_id, attempt=input.attempt, succeeded=True, data=data
    )


def activation_fails(code: str, *, revisable: bool) -> ActivationScript:
    def script(input: ActivationInput) -> ActivationResult:
        return ActivationResult(
            order_id=input.order_id,
            attempt=input.attempt,
            succeeded=False,
            error_code=code,
            message=f"{code} (scripted)",
            revisable=revisable,
        )

    return script


def quality_ok(input: QualityCheckInput) -> QualityCheckResult:
    return QualityCheckResult(order_id=input.order_id, attempt=input.attempt, succeeded=True)


def quality_fails(code: str, *, revisable: bool) -> QualityScript:
    def script(input: QualityCheckInput) -> QualityCheckResult:
        return QualityCheckResult(
            order_id=input.order_id,
            attempt=input.attempt,
            succeeded=False,
            error_code=code,
            message=code,
            revisable=revisable,
        )

    return script


def by_attempt(*scripts: Callable[[ActivationInput], ActivationResult]) -> ActivationScript:
    """Attempt n follows the n-th script (the last one repeats)."""

    def script(input: ActivationInput) -> ActivationResult:
        return scripts[min(input.attempt, len(scripts)) - 1](input)

    return script


def qc_by_attempt(*scripts: QualityScript) -> QualityScript:
    def script(input: QualityCheckInput) -> QualityCheckResult:
        return scripts[min(input.attempt, len(scripts)) - 1](input)

    return script


@dataclass
class FakeActivities:
    """Scripted activities that record what the workflow asked of them."""

    technicians: list[str] = field(default_factory=lambda: ["tech-north-1", "tech-north-2"])
    """The region's technicians, assigned in this order (but those excluded)."""
    fully_booked: int = 0
    """How many dispatches find every technician of the region fully booked."""
    unavailable: set[str] = field(default_factory=set)
    """Technicians that operations cannot assign by hand."""
    taken_onts: set[int] = field(default_factory=set)
    """ONT ids that other orders hold, for data operations give."""
    installation_limit: timedelta = timedelta(hours=48)
    jeopardy_after: timedelta = timedelta(hours=36)
    activation: ActivationScript = activation_ok
    quality: QualityScript = quality_ok
    activation_errors: list[Exception] = field(default_factory=list)
    """Raised, in order, by the first calls of ``activate_resources``."""
    wait_for_parallel_start: bool = False
    """The first activity of each sub-task waits until the first database writes of
    construction and the quality check have both started: started one after another,
    the first of them (or the activation, if it went first) would time out."""
    gates: dict[str, asyncio.Event] = field(default_factory=dict)
    """Activities (by name) that wait for their event before they answer: in flight
    until the test sets it."""
    deactivation_refusal: str | None = None
    """The NMS's error code for every slot ``deactivate_resources`` deactivates."""
    jobs: dict[str, ConstructionJobState] = field(default_factory=dict)
    """Each order's construction job as the database holds it."""
    slots: list[BookedVisit] = field(default_factory=list)
    """The visits the customer books, in turn: the first with the order, each next one
    when a booked visit is missed (``rebook_missed_visit``)."""
    booked: dict[str, BookedVisit] = field(default_factory=dict)
    """Each order's booked visit."""
    signalled: int = 0
    """How many reports were signalled to the workflow."""
    calls: list[tuple[str, object]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    _started: set[str] = field(default_factory=set)
    _all_started: asyncio.Event = field(default_factory=asyncio.Event)

    async def _enter(self, name: str, arg: object) -> None:
        self.calls.append((name, arg))
        self.events.append(f"start:{name}")
        if name in FIRST_ACTIVITIES:
            self._started.add(name)
            if self._started >= set(FIRST_WRITES):
                self._all_started.set()
            if self.wait_for_parallel_start:
                await asyncio.wait_for(self._all_started.wait(), timeout=10)
        if name in self.gates:
            await asyncio.wait_for(self.gates[name].wait(), timeout=30)

    def _leave(self, name: str) -> None:
        self.events.append(f"end:{name}")

    def called(self, name: str) -> list[object]:
        return [arg for n, arg in self.calls if n == name]

    def job(self, order_id: str) -> ConstructionJobState:
        return self.jobs.get(order_id, ConstructionJobState())

    def _hold(self, order_id: str, job: ConstructionJob | None) -> ConstructionJobState:
        """The job changes in the database: one version more."""
        self.jobs[order_id] = ConstructionJobState(
            job=job,
            version=self.job(order_id).version + 1,
            appointment=self.booked.get(order_id),
        )
        return self.jobs[order_id]

    async def report(
        self,
        handle: WorkflowHandle[WorkOrderWorkflow, WorkOrderResult],
        report: ConstructionReport,
        *,
        signal: bool = True,
    ) -> ConstructionJobState:
        """Record a technician's report if the job can take it (else raise
        ``ReportRejected``), then signal the workflow: what the API does (``signal``
        false: the signal did not get through)."""
        order_id = handle.id.removeprefix("work-order-")
        held = self.job(order_id)
        check_report(held.job, report)
        assert held.job is not None
        after = ConstructionJobState(
            job=apply_report(held.job, report),
            version=held.version + 1,
            appointment=self.booked.get(order_id),
        )
        self.jobs[order_id] = after
        if signal:
            self.signalled += 1
            await handle.signal(
                WorkOrderWorkflow.construction_reported, ConstructionChanged(version=after.version)
            )
        return after

    async def started(self, name: str) -> None:
        """Wait until the activity ``name`` has started."""
        await self._seen(f"start:{name}")

    async def ended(self, name: str) -> None:
        """Wait until the activity ``name`` has ended."""
        await self._seen(f"end:{name}")

    async def _seen(self, event: str) -> None:
        for _ in range(200):
            if event in self.events:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"never {event}: {self.events}")

    def activities(self) -> Sequence[Callable[..., object]]:
        @activity.defn(name="start_order")
        async def start_order(input: WorkOrderInput) -> OrderPlan:
            await self._enter("start_order", input)
            self._leave("start_order")
            return OrderPlan(
                order_id=input.order_id,
                region="north",
                service_type=ServiceType.FTTH,
                profile="FTTH_300_100",
                installation_limit=self.installation_limit,
                jeopardy_after=self.jeopardy_after,
            )

        @activity.defn(name="record_order_status")
        async def record_order_status(input: RecordOrderStatusInput) -> None:
            await self._enter("record_order_status", input)
            self._leave("record_order_status")

        @activity.defn(name="hand_to_operations")
        async def hand_to_operations(input: HandOffInput) -> None:
            await self._enter("hand_to_operations", input)
            self._leave("hand_to_operations")

        @activity.defn(name="prepare_attempt")
        async def prepare_attempt(input: PrepareAttemptInput) -> None:
            await self._enter("prepare_attempt", input)
            self._leave("prepare_attempt")
            if input.data.get("ont_id") in self.taken_onts:
                raise ApplicationError(
                    "another order holds that slot (scripted)",
                    type="INVALID_DATA",
                    non_retryable=True,
                )

        @activity.defn(name="dispatch_construction")
        async def dispatch_construction(input: ConstructionInput) -> ConstructionAssignment:
            if self.fully_booked > 0:
                self.fully_booked -= 1
                assignment = ConstructionAssignment(
                    order_id=input.order_id,
                    region="north",
                    reason="fully booked",
                    can_wait=not input.escalated,
                )
            else:
                if self.slots and input.order_id not in self.booked:
                    self.booked[input.order_id] = self.slots.pop(0)
                visit = self.booked.get(input.order_id)
                free = [visit.technician_id] if visit else []
                free += [t for t in self.technicians if t not in input.excluded]
                assignment = ConstructionAssignment(
                    order_id=input.order_id,
                    region="north",
                    technician_id=free[0] if free else None,
                    reason=None if free else "no technician (scripted)",
                )
                if free:  # in the database before the workflow has the answer
                    assignment.state = self._hold(
                        input.order_id, ConstructionJob(technician_id=free[0])
                    )
            await self._enter("dispatch_construction", input)
            self._leave("dispatch_construction")
            return assignment

        @activity.defn(name="assign_technician_by_hand")
        async def assign_technician_by_hand(input: AssignTechnicianInput) -> ConstructionJobState:
            await self._enter("assign_technician_by_hand", input)
            self._leave("assign_technician_by_hand")
            if input.technician_id in self.unavailable:
                raise ApplicationError(
                    f"{input.technician_id} is fully booked (scripted)",
                    type="TECHNICIAN_UNAVAILABLE",
                    non_retryable=True,
                )
            now = self.job(input.order_id)
            if now.job is not None and now.job.technician_id == input.technician_id:
                return now
            if now.version != input.version:  # as the store's conditional update
                raise ApplicationError(
                    f"the job is at version {now.version}, not {input.version} (scripted)",
                    type="JOB_CHANGED",
                    non_retryable=True,
                )
            return self._hold(input.order_id, ConstructionJob(technician_id=input.technician_id))

        @activity.defn(name="release_construction")
        async def release_construction(input: ReleaseConstructionInput) -> ConstructionJobState:
            await self._enter("release_construction", input)
            self._leave("release_construction")
            held = self.job(input.order_id).job
            if input.before_on_site and held is not None and held.state not in NOT_YET_ON_SITE:
                return self.job(input.order_id)
            return self._hold(input.order_id, None)

        @activity.defn(name="read_construction_job")
        async def read_construction_job(input: ConstructionJobInput) -> ConstructionJobState:
            await self._enter("read_construction_job", input)
            self._leave("read_construction_job")
            return self.job(input.order_id)

        @activity.defn(name="reschedule_construction")
        async def reschedule_construction(
            input: RescheduleConstructionInput,
        ) -> ConstructionJobState:
            await self._enter("reschedule_construction", input)
            self._leave("reschedule_construction")
            held = self.job(input.order_id).job
            assert held is not None
            return self._hold(
                input.order_id,
                ConstructionJob(technician_id=held.technician_id, visit=input.visit),
            )

        @activity.defn(name="rebook_missed_visit")
        async def rebook_missed_visit(input: RebookInput) -> ConstructionJobState:
            await self._enter("rebook_missed_visit", input)
            self._leave("rebook_missed_visit")
            held = self.job(input.order_id).job
            self.booked.pop(input.order_id, None)
            if self.slots:
                self.booked[input.order_id] = self.slots.pop(0)
            return self._hold(input.order_id, held)

        @activity.defn(name="mark_construction_sla")
        async def mark_construction_sla(input: SlaInput) -> None:
            await self._enter("mark_construction_sla", input)
            self._leave("mark_construction_sla")

        @activity.defn(name="activate_resources")
        async def activate_resources(input: ActivationInput) -> ActivationResult:
            await self._enter("activate_resources", input)
            try:
                if self.activation_errors:
                    raise self.activation_errors.pop(0)
                return self.activation(input)
            finally:
                self._leave("activate_resources")

        @activity.defn(name="record_cancellation")
        async def record_cancellation(input: CancellationInput) -> None:
            await self._enter("record_cancellation", input)
            self._leave("record_cancellation")

        @activity.defn(name="withdraw_construction")
        async def withdraw_construction(input: WithdrawConstructionInput) -> ConstructionJobState:
            await self._enter("withdraw_construction", input)
            self._leave("withdraw_construction")
            held = self.job(input.order_id)
            if held.job is not None and held.job.state is JobState.COMPLETED:
                return held  # installed before the cancellation: it stands
            if held.job is None:
                return held
            return self._hold(input.order_id, None)

        @activity.defn(name="deactivate_resources")
        async def deactivate_resources(
            input: DeactivateResourcesInput,
        ) -> DeactivateResourcesResult:
            await self._enter("deactivate_resources", input)
            self._leave("deactivate_resources")
            refusal = self.deactivation_refusal
            return DeactivateResourcesResult(
                order_id=input.order_id,
                slots=[
                    SlotDeactivation(
                        olt_id="olt-1",
                        pon_port=1,
                        ont_id=attempt,
                        attempts=[attempt],
                        succeeded=refusal is None,
                        error_code=refusal,
                        message=f"{refusal} (scripted)" if refusal else None,
                    )
                    for attempt in input.attempts
                ],
                released=1,
            )

        @activity.defn(name="run_quality_check")
        async def run_quality_check(input: QualityCheckInput) -> QualityCheckResult:
            await self._enter("run_quality_check", input)
            self._leave("run_quality_check")
            return self.quality(input)

        return [
            start_order,
            record_order_status,
            hand_to_operations,
            prepare_attempt,
            dispatch_construction,
            assign_technician_by_hand,
            release_construction,
            reschedule_construction,
            rebook_missed_visit,
            mark_construction_sla,
            read_construction_job,
            activate_resources,
            run_quality_check,
            record_cancellation,
            withdraw_construction,
            deactivate_resources,
        ]

    def worker(self, client: Client, task_queue: str) -> Worker:
        return Worker(
            client,
            task_queue=task_queue,
            workflows=[WorkOrderWorkflow],
            activities=self.activities(),
        )


def transient(message: str = "NMS simulator: 503 (scripted)") -> ApplicationError:
    return ApplicationError(message, type="NmsUnavailable")


async def start(
    client: Client, task_queue: str, order_id: str
) -> WorkflowHandle[WorkOrderWorkflow, WorkOrderResult]:
    return await client.start_workflow(
        WorkOrderWorkflow.run,
        WorkOrderInput(order_id=order_id),
        id=f"work-order-{order_id}",
        task_queue=task_queue,
        search_attributes=initial_search_attributes("north", ServiceType.FTTH),  # as the API
        # A local activity a test holds keeps its workflow task open; the worker
        # heartbeats it at 80 % of this, and only then do updates and queries get in.
        task_timeout=timedelta(seconds=2),
    )


async def wait_for_job(
    handle: WorkflowHandle[WorkOrderWorkflow, WorkOrderResult],
    technician: str | None = None,
    state: JobState | None = None,
) -> ConstructionJob:
    """Wait until the workflow holds the construction job (of ``technician``, in
    ``state``): a report is the workflow's once it has read the job again."""
    for _ in range(200):
        now: WorkOrderState = await handle.query(WorkOrderWorkflow.state)
        job = now.construction.job
        if (
            job is not None
            and technician in (None, job.technician_id)
            and state in (None, job.state)
        ):
            return job
        await asyncio.sleep(0.05)
    raise AssertionError("the construction job was never assigned")
