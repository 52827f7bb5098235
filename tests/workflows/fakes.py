"""Stand-in activities for workflow tests: real ``@activity.defn`` functions with the
production names, whose behaviour each test scripts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from models.enums import ServiceType
from models.payloads import (
    ActivationData,
    ActivationInput,
    ActivationResult,
    ConstructionAssignment,
    ConstructionInput,
    ConstructionJob,
    OrderPlan,
    QualityCheckInput,
    QualityCheckResult,
    RecordConstructionReportInput,
    RecordOrderStatusInput,
    SubTaskStarted,
    WorkOrderInput,
    WorkOrderResult,
    WorkOrderState,
)
from workflows import WorkOrderWorkflow

FIRST_ACTIVITIES = ("dispatch_construction", "activate_resources", "schedule_quality_check")

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

    technician_id: str | None = "tech-north-1"
    fully_booked: int = 0
    """How many dispatches find every technician of the region fully booked."""
    activation: ActivationScript = activation_ok
    quality: QualityScript = quality_ok
    activation_errors: list[Exception] = field(default_factory=list)
    """Raised, in order, by the first calls of ``activate_resources``."""
    wait_for_parallel_start: bool = False
    """The first activity of each sub-task waits until all three have started."""
    calls: list[tuple[str, object]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    _started: set[str] = field(default_factory=set)
    _all_started: asyncio.Event = field(default_factory=asyncio.Event)

    async def _enter(self, name: str, arg: object) -> None:
        self.calls.append((name, arg))
        self.events.append(f"start:{name}")
        if name in FIRST_ACTIVITIES:
            self._started.add(name)
            if self._started >= set(FIRST_ACTIVITIES):
                self._all_started.set()
            if self.wait_for_parallel_start:
                await asyncio.wait_for(self._all_started.wait(), timeout=10)

    def _leave(self, name: str) -> None:
        self.events.append(f"end:{name}")

    def called(self, name: str) -> list[object]:
        return [arg for n, arg in self.calls if n == name]

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
            )

        @activity.defn(name="record_order_status")
        async def record_order_status(input: RecordOrderStatusInput) -> None:
            await self._enter("record_order_status", input)
            self._leave("record_order_status")

        @activity.defn(name="dispatch_construction")
        async def dispatch_construction(input: ConstructionInput) -> ConstructionAssignment:
            await self._enter("dispatch_construction", input)
            self._leave("dispatch_construction")
            if self.fully_booked > 0:
                self.fully_booked -= 1
                return ConstructionAssignment(
                    order_id=input.order_id, region="north", reason="fully booked", can_wait=True
                )
            return ConstructionAssignment(
                order_id=input.order_id,
                region="north",
                technician_id=self.technician_id,
                reason=None if self.technician_id else "no technician (scripted)",
            )

        @activity.defn(name="record_construction_report")
        async def record_construction_report(input: RecordConstructionReportInput) -> None:
            await self._enter("record_construction_report", input)
            self._leave("record_construction_report")

        @activity.defn(name="activate_resources")
        async def activate_resources(input: ActivationInput) -> ActivationResult:
            await self._enter("activate_resources", input)
            try:
                if self.activation_errors:
                    raise self.activation_errors.pop(0)
                return self.activation(input)
            finally:
                self._leave("activate_resources")

        @activity.defn(name="schedule_quality_check")
        async def schedule_quality_check(input: SubTaskStarted) -> None:
            await self._enter("schedule_quality_check", input)
            self._leave("schedule_quality_check")

        @activity.defn(name="run_quality_check")
        async def run_quality_check(input: QualityCheckInput) -> QualityCheckResult:
            await self._enter("run_quality_check", input)
            self._leave("run_quality_check")
            return self.quality(input)

        return [
            start_order,
            record_order_status,
            dispatch_construction,
            record_construction_report,
            activate_resources,
            schedule_quality_check,
            run_quality_check,
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
    )


async def wait_for_job(
    handle: WorkflowHandle[WorkOrderWorkflow, WorkOrderResult],
) -> ConstructionJob:
    """Wait until the workflow has assigned the construction job."""
    for _ in range(200):
        state: WorkOrderState = await handle.query(WorkOrderWorkflow.state)
        if state.construction is not None:
            return state.construction
        await asyncio.sleep(0.05)
    raise AssertionError("the construction job was never assigned")
