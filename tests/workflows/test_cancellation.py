"""Cancelling a work order, through the ``cancel_order`` update or in Temporal, on the
time-skipping server with scripted activities."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from models.enums import JobState, OrderStatus, SubTaskKind, SubTaskStatus
from models.payloads import (
    ActivationInput,
    CancellationInput,
    CancelOrder,
    ConstructionChanged,
    ConstructionOperation,
    ConstructionReport,
    DeactivateResourcesInput,
    NetworkOperation,
    RecordOrderStatusInput,
    WithdrawConstructionInput,
    WorkOrderResult,
    WorkOrderState,
)
from tests.workflows.fakes import FakeActivities, activation_fails, start, wait_for_job
from tests.workflows.test_work_order import Handle, install, statuses
from workflows import WorkOrderWorkflow
from workorders.metrics import ActivityMetricsInterceptor, WorkerMetrics

ALICE = CancelOrder(actor="operations:alice", reason="customer moved")


@asynccontextmanager
async def order(env: WorkflowEnvironment, fakes: FakeActivities) -> AsyncIterator[Handle]:
    task_queue = f"tq-{uuid.uuid4()}"
    async with fakes.worker(env.client, task_queue):
        try:
            yield await start(env.client, task_queue, str(uuid.uuid4()))
        finally:
            for gate in fakes.gates.values():  # nothing left in flight at shutdown
                gate.set()


async def cancel(handle: Handle, request: CancelOrder = ALICE) -> WorkOrderState:
    return await handle.execute_update(WorkOrderWorkflow.cancel_order, request)


async def until(handle: Handle, check: Callable[[WorkOrderState], bool]) -> WorkOrderState:
    for _ in range(200):
        state = await handle.query(WorkOrderWorkflow.state)
        if check(state):
            return state
        await asyncio.sleep(0.05)
    raise AssertionError(
        f"the order never got there: {await handle.query(WorkOrderWorkflow.state)}"
    )


def activated(state: WorkOrderState) -> bool:
    return any(
        o.kind is SubTaskKind.ACTIVATION and o.status is SubTaskStatus.SUCCEEDED
        for o in state.outcomes
    )


async def refused(handle: Handle, update: object, argument: object) -> str:
    """The error type with which the workflow refuses an update."""
    with pytest.raises(WorkflowUpdateFailedError) as raised:
        await handle.execute_update(update, argument)  # type: ignore[call-overload]
    cause = raised.value.cause
    assert isinstance(cause, ApplicationError)
    return str(cause.type)


def recorded(fakes: FakeActivities) -> RecordOrderStatusInput:
    (status,) = fakes.called("record_order_status")
    assert isinstance(status, RecordOrderStatusInput)
    return status


def assert_cancelled(result: WorkOrderResult, fakes: FakeActivities, by: str = ALICE.actor) -> None:
    assert result.status is OrderStatus.CANCELLED
    assert result.reason is not None and result.reason.startswith(f"cancelled by {by}: ")
    status = recorded(fakes)
    assert status.decision.status is OrderStatus.CANCELLED
    assert status.decision.reason == result.reason
    assert status.outcomes == result.outcomes
    (requested,) = fakes.called("record_cancellation")
    assert isinstance(requested, CancellationInput)
    assert requested.actor == by


def deactivated_attempts(fakes: FakeActivities) -> list[list[int]]:
    return [
        d.attempts
        for d in fakes.called("deactivate_resources")
        if isinstance(d, DeactivateResourcesInput)
    ]


async def test_cancel_a_queued_job(time_skipping_env: WorkflowEnvironment) -> None:
    fakes = FakeActivities(fully_booked=10_000)
    async with order(time_skipping_env, fakes) as handle:
        await until(handle, lambda s: s.construction.queued)
        state = await cancel(handle)
        assert state.cancelling
        assert state.cancellation == ALICE
        result = await handle.result()
    assert_cancelled(fakes=fakes, result=result)
    assert result.reason == "cancelled by operations:alice: customer moved"
    assert statuses(result)[SubTaskKind.CONSTRUCTION] is SubTaskStatus.CANCELLED
    (withdrawn,) = fakes.called("withdraw_construction")
    assert isinstance(withdrawn, WithdrawConstructionInput)
    assert withdrawn.actor == "operations:alice"
    assert withdrawn.reason == "cancelled by operations:alice: customer moved"
    # The timeline has the request before the withdrawal.
    assert fakes.events.index("end:record_cancellation") < fakes.events.index(
        "start:withdraw_construction"
    )
    assert fakes.called("run_quality_check") == []


async def test_cancel_an_assigned_job_then_reports_and_decisions_are_refused(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    # The deactivation waits for the NMS: the workflow is still running, cancelling.
    fakes = FakeActivities(gates={"deactivate_resources": asyncio.Event()})
    async with order(time_skipping_env, fakes) as handle:
        await wait_for_job(handle)
        await fakes.report(
            handle, ConstructionReport(technician_id="tech-north-1", state=JobState.ACCEPTED)
        )
        await until(handle, activated)
        await cancel(handle)
        await fakes.started("deactivate_resources")
        state = await handle.query(WorkOrderWorkflow.state)
        assert state.cancelling
        assert state.construction.job is None
        # The database refuses reports now; one it recorded before, signalled late,
        # changes nothing.
        await handle.signal(WorkOrderWorkflow.construction_reported, ConstructionChanged(version=9))
        assert (await handle.query(WorkOrderWorkflow.state)).construction.job is None
        assert (
            await refused(
                handle,
                WorkOrderWorkflow.operate_construction,
                ConstructionOperation(action="assign", technician_id="tech-north-2"),
            )
            == "CONSTRUCTION_CLOSED"
        )
        assert (
            await refused(
                handle,
                WorkOrderWorkflow.operate_network_task,
                NetworkOperation(kind=SubTaskKind.ACTIVATION, action="retry"),
            )
            == "NOT_WAITING"
        )
        again = await cancel(handle, CancelOrder(actor="operations:bob", reason="again"))
        assert again.cancelling and again.cancellation == ALICE
        fakes.gates["deactivate_resources"].set()
        result = await handle.result()
    assert_cancelled(result, fakes)  # one request recorded, Alice's
    assert len(fakes.called("read_construction_job")) <= 1  # once for the signalled report
    assert len(fakes.called("withdraw_construction")) == 1
    assert statuses(result)[SubTaskKind.CONSTRUCTION] is SubTaskStatus.CANCELLED
    # Activation had succeeded: what it activated is deactivated, and it is cancelled.
    activation = {o.kind: o for o in result.outcomes}[SubTaskKind.ACTIVATION]
    assert (activation.status, activation.attempts) == (SubTaskStatus.CANCELLED, 1)
    assert activation.reason == "deactivated: the order was cancelled"
    assert deactivated_attempts(fakes) == [[1]]
    assert statuses(result)[SubTaskKind.QUALITY_CHECK] is SubTaskStatus.CANCELLED


async def test_an_activation_in_flight_ends_before_it_is_deactivated(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    gate = asyncio.Event()
    fakes = FakeActivities(gates={"activate_resources": gate})
    async with order(time_skipping_env, fakes) as handle:
        await fakes.started("activate_resources")
        state = await cancel(handle)  # answered while the NMS still works
        assert state.cancelling
        assert "end:activate_resources" not in fakes.events
        await until(handle, lambda s: SubTaskKind.CONSTRUCTION in {o.kind for o in s.outcomes})
        await asyncio.sleep(0.3)
        assert fakes.called("deactivate_resources") == []  # not while activating
        gate.set()
        result = await handle.result()
    assert_cancelled(result, fakes)
    events = fakes.events
    assert events.index("end:activate_resources") < events.index("start:deactivate_resources")
    assert [
        a.attempt for a in fakes.called("activate_resources") if isinstance(a, ActivationInput)
    ] == [1]
    assert deactivated_attempts(fakes) == [[1]]
    activation = {o.kind: o for o in result.outcomes}[SubTaskKind.ACTIVATION]
    assert (activation.status, activation.attempts) == (SubTaskStatus.CANCELLED, 1)


async def test_no_new_activation_attempt_after_the_cancellation(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    # The attempt in flight is refused (revisable): no revised attempt follows.
    gate = asyncio.Event()
    fakes = FakeActivities(
        activation=activation_fails("ONT_ID_IN_USE", revisable=True),
        gates={"activate_resources": gate},
    )
    async with order(time_skipping_env, fakes) as handle:
        await fakes.started("activate_resources")
        await cancel(handle)
        gate.set()
        result = await handle.result()
    assert_cancelled(result, fakes)
    assert len(fakes.called("activate_resources")) == 1
    # Sent, so deactivated (the activity skips what the NMS refused).
    assert deactivated_attempts(fakes) == [[1]]


async def test_cancel_while_activation_waits_for_operations(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = FakeActivities(activation=activation_fails("UNKNOWN_OLT", revisable=False))
    async with order(time_skipping_env, fakes) as handle:
        await until(handle, lambda s: SubTaskKind.ACTIVATION in s.waiting_for_operations)
        state = await cancel(handle)
        assert state.cancellation == ALICE
        state = await until(handle, lambda s: not s.waiting_for_operations)
        result = await handle.result()
    assert_cancelled(result, fakes)
    assert statuses(result)[SubTaskKind.ACTIVATION] is SubTaskStatus.CANCELLED
    assert len(fakes.called("activate_resources")) == 1
    assert fakes.called("prepare_attempt") == []


async def test_cancel_while_construction_waits_for_operations(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = FakeActivities(technicians=[])
    async with order(time_skipping_env, fakes) as handle:
        await until(handle, lambda s: s.construction.waiting_for_operations is not None)
        await cancel(handle)
        result = await handle.result()
    assert_cancelled(result, fakes)
    assert statuses(result)[SubTaskKind.CONSTRUCTION] is SubTaskStatus.CANCELLED
    assert len(fakes.called("withdraw_construction")) == 1


async def test_cancel_before_the_order_was_started(time_skipping_env: WorkflowEnvironment) -> None:
    gate = asyncio.Event()
    fakes = FakeActivities(gates={"start_order": gate})
    async with order(time_skipping_env, fakes) as handle:
        await fakes.started("start_order")
        state = await cancel(handle)  # as the API does right after starting it
        assert state.status is OrderStatus.RECEIVED and state.cancelling
        gate.set()
        result = await handle.result()
    assert_cancelled(result, fakes)
    assert set(statuses(result).values()) == {SubTaskStatus.CANCELLED}
    for activity in ("activate_resources", "dispatch_construction", "deactivate_resources"):
        assert fakes.called(activity) == [], activity


async def test_a_quality_check_in_flight_is_abandoned(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = FakeActivities(
        gates={"run_quality_check": asyncio.Event(), "deactivate_resources": asyncio.Event()}
    )
    async with order(time_skipping_env, fakes) as handle:
        await install(fakes, handle)
        await fakes.started("run_quality_check")
        await cancel(handle)
        await fakes.started("deactivate_resources")  # without waiting for the check
        assert "end:run_quality_check" not in fakes.events
        # The abandoned attempt ends late. (Before the workflow does: the time-skipping
        # test server stops skipping time after a late completion for an ended workflow.)
        fakes.gates["run_quality_check"].set()
        await fakes.ended("run_quality_check")
        fakes.gates["deactivate_resources"].set()
        result = await handle.result()
    assert_cancelled(result, fakes)
    assert statuses(result) == {
        SubTaskKind.CONSTRUCTION: SubTaskStatus.SUCCEEDED,  # installed, it stays so
        SubTaskKind.ACTIVATION: SubTaskStatus.CANCELLED,  # deactivated
        SubTaskKind.QUALITY_CHECK: SubTaskStatus.CANCELLED,
    }
    assert fakes.called("withdraw_construction") == []  # installed: nothing to withdraw
    assert deactivated_attempts(fakes) == [[1]]


async def test_a_refused_deactivation_is_named_in_the_reason(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = FakeActivities(deactivation_refusal="NOT_OWNER")
    async with order(time_skipping_env, fakes) as handle:
        await wait_for_job(handle)
        await until(handle, activated)
        await cancel(handle)
        result = await handle.result()
    assert_cancelled(result, fakes)
    assert result.reason == (
        "cancelled by operations:alice: customer moved;"
        " deactivation refused: olt-1/1/1 NOT_OWNER: NOT_OWNER (scripted)"
    )
    # Not deactivated: the activation keeps its outcome, for operations to look into.
    assert statuses(result)[SubTaskKind.ACTIVATION] is SubTaskStatus.SUCCEEDED


async def test_an_order_that_has_ended_cannot_be_cancelled(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    gate = asyncio.Event()
    fakes = FakeActivities(gates={"record_order_status": gate})
    async with order(time_skipping_env, fakes) as handle:
        await install(fakes, handle)
        await fakes.started("record_order_status")  # completed, being recorded
        assert await refused(handle, WorkOrderWorkflow.cancel_order, ALICE) == "ORDER_CLOSED"
        gate.set()
        result = await handle.result()
        with pytest.raises(RPCError):  # the workflow has ended: the API says ORDER_CLOSED
            await cancel(handle)
    assert result.status is OrderStatus.COMPLETED
    assert fakes.called("record_cancellation") == []
    assert fakes.called("deactivate_resources") == []


async def test_a_cancelled_order_cannot_be_cancelled_again_once_ended(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    gate = asyncio.Event()
    fakes = FakeActivities(gates={"record_order_status": gate})
    async with order(time_skipping_env, fakes) as handle:
        await wait_for_job(handle)
        await cancel(handle)
        await fakes.started("record_order_status")
        assert await refused(handle, WorkOrderWorkflow.cancel_order, ALICE) == "ORDER_CLOSED"
        gate.set()
        result = await handle.result()
    assert_cancelled(result, fakes)


async def test_cancellation_requested_in_temporal_cleans_up_and_ends_cancelled(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    gate = asyncio.Event()
    fakes = FakeActivities(gates={"activate_resources": gate})
    async with order(time_skipping_env, fakes) as handle:
        await wait_for_job(handle)
        await fakes.started("activate_resources")
        await handle.cancel()  # the UI's "Request cancellation"
        state = await until(handle, lambda s: s.cancelling)
        assert state.cancellation is not None and state.cancellation.actor == "temporal"
        await until(handle, lambda s: s.construction.job is None)
        assert "end:activate_resources" not in fakes.events  # the activation goes on
        gate.set()
        result = await handle.result()  # a result, not a cancelled execution
        description = await handle.describe()
    assert_cancelled(result, fakes, by="temporal")
    assert result.reason == "cancelled by temporal: cancellation requested in Temporal"
    assert description.status is not None and description.status.name == "COMPLETED"
    assert len(fakes.called("withdraw_construction")) == 1
    events = fakes.events
    assert events.index("end:activate_resources") < events.index("start:deactivate_resources")
    assert deactivated_attempts(fakes) == [[1]]


async def test_cancellation_in_temporal_after_the_update_changes_nothing(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = FakeActivities(gates={"deactivate_resources": asyncio.Event()})
    async with order(time_skipping_env, fakes) as handle:
        await wait_for_job(handle)
        await cancel(handle)
        await fakes.started("deactivate_resources")
        await handle.cancel()
        await asyncio.sleep(0.2)
        fakes.gates["deactivate_resources"].set()
        result = await handle.result()
    assert_cancelled(result, fakes)  # Alice's, once


async def test_cancellation_in_temporal_of_an_ended_order_changes_nothing(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    gate = asyncio.Event()
    fakes = FakeActivities(gates={"record_order_status": gate})
    async with order(time_skipping_env, fakes) as handle:
        await install(fakes, handle)
        await fakes.started("record_order_status")
        await handle.cancel()
        await asyncio.sleep(0.2)
        gate.set()
        result = await handle.result()
    assert result.status is OrderStatus.COMPLETED
    assert fakes.called("record_cancellation") == []


async def test_a_cancelled_order_is_counted_as_ended_cancelled(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = FakeActivities(deactivation_refusal="NOT_OWNER")
    metrics = WorkerMetrics()
    task_queue = f"tq-{uuid.uuid4()}"
    worker = Worker(
        time_skipping_env.client,
        task_queue=task_queue,
        workflows=[WorkOrderWorkflow],
        activities=fakes.activities(),
        interceptors=[ActivityMetricsInterceptor(metrics)],
    )
    async with worker:
        handle = await start(time_skipping_env.client, task_queue, str(uuid.uuid4()))
        await wait_for_job(handle)
        await fakes.started("activate_resources")
        await cancel(handle)
        assert (await handle.result()).status is OrderStatus.CANCELLED
    sample = metrics.registry.get_sample_value
    ended = "workorders_orders_ended_total"
    assert sample(ended, {"status": "cancelled"}) == 1
    assert sample(ended, {"status": "failed"}) == 0
    refused = {"activity": "deactivate_resources", "error_code": "NOT_OWNER"}
    assert sample("workorders_nms_errors_total", refused) == 1


async def test_a_completion_recorded_before_the_cancellation_stands(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    # The technician's completion reached the database before the cancellation (its
    # signal has not reached the workflow yet): the installation stands, and the
    # rest of the order is cancelled and deactivated.
    fakes = FakeActivities()
    async with order(time_skipping_env, fakes) as handle:
        await wait_for_job(handle, "tech-north-1")
        for state in (JobState.ACCEPTED, JobState.EN_ROUTE, JobState.ON_SITE):
            await fakes.report(
                handle, ConstructionReport(technician_id="tech-north-1", state=state), signal=False
            )
        await fakes.report(
            handle,
            ConstructionReport(
                technician_id="tech-north-1", state=JobState.COMPLETED, ont_serial="HWTC0001"
            ),
            signal=False,
        )
        await until(handle, activated)
        await cancel(handle)
        result = await handle.result()
    assert result.status is OrderStatus.CANCELLED
    construction = {o.kind: o for o in result.outcomes}[SubTaskKind.CONSTRUCTION]
    assert (construction.status, construction.reason) == (
        SubTaskStatus.SUCCEEDED,
        "installed before the cancellation",
    )
    assert len(fakes.called("withdraw_construction")) == 1
    assert deactivated_attempts(fakes) == [[1]]


async def test_a_signal_that_the_database_does_not_back_changes_nothing(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    # A signal sent past the API (from the Temporal UI, say) names a version the
    # database never had: the workflow reads the job once, keeps it as it is, and
    # does not read again for it.
    fakes = FakeActivities()
    async with order(time_skipping_env, fakes) as handle:
        await wait_for_job(handle, "tech-north-1")
        await handle.signal(
            WorkOrderWorkflow.construction_reported, ConstructionChanged(version=99)
        )
        await fakes.ended("read_construction_job")
        job = await wait_for_job(handle, "tech-north-1")
        assert job.state is JobState.ASSIGNED
        await asyncio.sleep(0.5)
        assert len(fakes.called("read_construction_job")) == 1
        await install(fakes, handle)
        result = await handle.result()
    assert result.status is OrderStatus.COMPLETED
