"""The work-order workflow on the time-skipping server, with scripted activities."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Sequence

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from models.enums import CannotCompleteReason, JobState, OrderStatus, SubTaskKind, SubTaskStatus
from models.payloads import (
    ActivationInput,
    ConstructionChanged,
    ConstructionReport,
    HandOffInput,
    NetworkOperation,
    PrepareAttemptInput,
    QualityCheckInput,
    RecordOrderStatusInput,
    WorkOrderResult,
    WorkOrderState,
)
from tests.workflows.fakes import (
    FakeActivities,
    activation_fails,
    activation_ok,
    by_attempt,
    qc_by_attempt,
    quality_fails,
    quality_ok,
    start,
    transient,
    wait_for_job,
)
from workflows import WorkOrderWorkflow
from workflows.options import MAX_ACTIVATION_ATTEMPTS, QUEUE_POLL

Handle = WorkflowHandle[WorkOrderWorkflow, WorkOrderResult]


async def install(fakes: FakeActivities, handle: Handle, technician: str = "tech-north-1") -> None:
    """The technician accepts, arrives and completes the installation."""
    await wait_for_job(handle, technician)
    for state in (JobState.ACCEPTED, JobState.EN_ROUTE, JobState.ON_SITE):
        await fakes.report(handle, ConstructionReport(technician_id=technician, state=state))
    await fakes.report(
        handle,
        ConstructionReport(
            technician_id=technician, state=JobState.COMPLETED, ont_serial="HWTC12345678"
        ),
    )


def statuses(result: WorkOrderResult) -> dict[SubTaskKind, SubTaskStatus]:
    return {o.kind: o.status for o in result.outcomes}


async def run_order(
    env: WorkflowEnvironment,
    fakes: FakeActivities,
    *,
    install_line: bool = True,
    operations: Sequence[NetworkOperation] = (),
) -> WorkOrderResult:
    """Run one order: the technician installs the line, operations decide in turn on
    what waits for them."""
    task_queue = f"tq-{uuid.uuid4()}"
    async with fakes.worker(env.client, task_queue):
        handle = await start(env.client, task_queue, str(uuid.uuid4()))
        if install_line:
            await install(fakes, handle)
        for operation in operations:
            await decide(handle, operation)
        return await handle.result()


async def decide(handle: Handle, operation: NetworkOperation) -> WorkOrderState:
    """Wait until the sub-task waits for operations, then send their decision."""
    for _ in range(200):
        state = await handle.query(WorkOrderWorkflow.state)
        if operation.kind in state.waiting_for_operations:
            break
        await asyncio.sleep(0.05)
    return await handle.execute_update(WorkOrderWorkflow.operate_network_task, operation)


def abort(kind: SubTaskKind) -> NetworkOperation:
    return NetworkOperation(kind=kind, action="abort", reason="customer cancelled")


async def test_order_completes_when_all_three_succeed(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = FakeActivities()
    result = await run_order(time_skipping_env, fakes)
    assert result.status is OrderStatus.COMPLETED
    assert set(statuses(result).values()) == {SubTaskStatus.SUCCEEDED}
    (recorded,) = fakes.called("record_order_status")
    assert isinstance(recorded, RecordOrderStatusInput)
    assert recorded.decision.status is OrderStatus.COMPLETED
    # Each signalled report is read from the database once at most (signals that
    # arrive together are read once).
    assert 1 <= len(fakes.called("read_construction_job")) <= fakes.signalled


async def test_all_three_sub_tasks_start_before_any_finishes(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    # The quality check is open from start_order on (it waits for the line); the
    # activation, an activity of the server's, is scheduled in the workflow task that
    # runs construction's first database write, and starts once that local one ended.
    fakes = FakeActivities(wait_for_parallel_start=True)
    result = await run_order(time_skipping_env, fakes)
    assert result.status is OrderStatus.COMPLETED
    first_end = next(
        i for i, e in enumerate(fakes.events) if e.startswith("end:") and e[4:] != "start_order"
    )
    started_before = {e[6:] for e in fakes.events[:first_end] if e.startswith("start:")}
    assert "dispatch_construction" in started_before
    assert fakes.called("schedule_quality_check") == []  # opened by start_order
    activation = fakes.events.index("start:activate_resources")
    assert activation < fakes.events.index("end:record_order_status")


async def test_failed_activation_is_retried_with_revised_data(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = FakeActivities(
        activation=by_attempt(
            activation_fails("ONT_ID_IN_USE", revisable=True),
            activation_fails("UNKNOWN_PROFILE", revisable=True),
            activation_ok,
        )
    )
    result = await run_order(time_skipping_env, fakes)
    assert result.status is OrderStatus.COMPLETED
    # Each retry is a new attempt: the activity plans its data from the history.
    calls = fakes.called("activate_resources")
    assert [c.attempt for c in calls if isinstance(c, ActivationInput)] == [1, 2, 3]
    (activation,) = [o for o in result.outcomes if o.kind is SubTaskKind.ACTIVATION]
    assert activation.attempts == 3


async def test_unreachable_nms_retries_the_same_attempt(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = FakeActivities(activation_errors=[transient(), transient()])
    result = await run_order(time_skipping_env, fakes)
    assert result.status is OrderStatus.COMPLETED
    calls = fakes.called("activate_resources")
    assert [c.attempt for c in calls if isinstance(c, ActivationInput)] == [1, 1, 1]


async def test_permanent_activation_failure_goes_to_operations(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = FakeActivities(activation=activation_fails("UNKNOWN_OLT", revisable=False))
    result = await run_order(time_skipping_env, fakes, operations=[abort(SubTaskKind.ACTIVATION)])
    assert result.status is OrderStatus.FAILED
    assert statuses(result) == {
        SubTaskKind.CONSTRUCTION: SubTaskStatus.SUCCEEDED,
        SubTaskKind.ACTIVATION: SubTaskStatus.FAILED,
        SubTaskKind.QUALITY_CHECK: SubTaskStatus.SKIPPED,
    }
    assert result.reason is not None
    assert "aborted by operations: customer cancelled; last: UNKNOWN_OLT" in result.reason
    assert len(fakes.called("activate_resources")) == 1
    assert fakes.called("run_quality_check") == []
    handoffs = [h for h in fakes.called("hand_to_operations") if isinstance(h, HandOffInput)]
    assert [(h.kind, h.reason is None) for h in handoffs] == [
        (SubTaskKind.ACTIVATION, False),
        (SubTaskKind.ACTIVATION, True),
    ]


async def test_operations_retry_with_edited_data(time_skipping_env: WorkflowEnvironment) -> None:
    fakes = FakeActivities(
        activation=by_attempt(activation_fails("UNKNOWN_OLT", revisable=False), activation_ok)
    )
    edited = {
        "olt_id": "olt-north-02",
        "pon_port": 3,
        "ont_id": 7,
        "vlan": 150,
        "profile": "FTTH_300_100",
        "nms_profile_name": "FTTH_300_100",
    }
    retry = NetworkOperation(kind=SubTaskKind.ACTIVATION, action="retry", data=edited)
    result = await run_order(time_skipping_env, fakes, operations=[retry])
    assert result.status is OrderStatus.COMPLETED
    (prepared,) = fakes.called("prepare_attempt")
    assert isinstance(prepared, PrepareAttemptInput)
    assert (prepared.attempt, prepared.data) == (2, edited)
    calls = fakes.called("activate_resources")
    assert [c.attempt for c in calls if isinstance(c, ActivationInput)] == [1, 2]


async def test_operations_input_is_validated(time_skipping_env: WorkflowEnvironment) -> None:
    fakes = FakeActivities(activation=activation_fails("UNKNOWN_OLT", revisable=False))
    task_queue = f"tq-{uuid.uuid4()}"
    async with fakes.worker(time_skipping_env.client, task_queue):
        handle = await start(time_skipping_env.client, task_queue, str(uuid.uuid4()))
        early = NetworkOperation(kind=SubTaskKind.QUALITY_CHECK, action="retry")
        with pytest.raises(WorkflowUpdateFailedError) as raised:
            await handle.execute_update(WorkOrderWorkflow.operate_network_task, early)
        assert isinstance(raised.value.cause, ApplicationError)
        assert raised.value.cause.type == "NOT_WAITING"
        for data in ({"olt_id": "x"}, {"surprise": 1}):
            bad = NetworkOperation(kind=SubTaskKind.ACTIVATION, action="retry", data=data)
            with pytest.raises(WorkflowUpdateFailedError) as raised:
                await decide(handle, bad)
            assert isinstance(raised.value.cause, ApplicationError)
            assert raised.value.cause.type == "INVALID_DATA"
        assert fakes.called("prepare_attempt") == []
        await install(fakes, handle)
        await decide(handle, abort(SubTaskKind.ACTIVATION))
        assert (await handle.result()).status is OrderStatus.FAILED


async def test_activity_that_gives_up_goes_to_operations(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    broken = ApplicationError("order vanished", type="OrderNotFound", non_retryable=True)
    fakes = FakeActivities(activation_errors=[broken])
    retry = NetworkOperation(kind=SubTaskKind.ACTIVATION, action="retry")
    result = await run_order(time_skipping_env, fakes, operations=[retry])
    assert result.status is OrderStatus.COMPLETED
    # Never answered: the same attempt again (same data, same idempotency key).
    calls = fakes.called("activate_resources")
    assert [c.attempt for c in calls if isinstance(c, ActivationInput)] == [1, 1]
    (recorded,) = fakes.called("record_order_status")
    assert isinstance(recorded, RecordOrderStatusInput)
    assert recorded.outcomes == result.outcomes


async def test_activation_goes_to_operations_after_the_last_revision(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = FakeActivities(activation=activation_fails("ONT_ID_IN_USE", revisable=True))
    retry = NetworkOperation(kind=SubTaskKind.ACTIVATION, action="retry")
    result = await run_order(
        time_skipping_env, fakes, operations=[retry, abort(SubTaskKind.ACTIVATION)]
    )
    (activation,) = [o for o in result.outcomes if o.kind is SubTaskKind.ACTIVATION]
    assert activation.status is SubTaskStatus.FAILED
    # A full round of revisions, then another one after operations said retry.
    assert activation.attempts == 2 * MAX_ACTIVATION_ATTEMPTS
    assert activation.reason is not None
    assert f"revised {MAX_ACTIVATION_ATTEMPTS} times in a row" in activation.reason


async def test_quality_check_waits_for_the_line_and_retries_revised(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = FakeActivities(
        quality=qc_by_attempt(
            quality_fails("SPEED_BELOW_THRESHOLD", revisable=True),
            quality_ok,
        )
    )
    result = await run_order(time_skipping_env, fakes)
    assert result.status is OrderStatus.COMPLETED
    calls = fakes.called("run_quality_check")
    assert [c.attempt for c in calls if isinstance(c, QualityCheckInput)] == [1, 2]
    first_check = fakes.events.index("start:run_quality_check")
    assert fakes.events.index("end:activate_resources") < first_check


async def test_quality_check_failure_fails_the_order(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = FakeActivities(quality=quality_fails("NOT_ACTIVATED", revisable=False))
    result = await run_order(
        time_skipping_env, fakes, operations=[abort(SubTaskKind.QUALITY_CHECK)]
    )
    assert result.status is OrderStatus.FAILED
    assert statuses(result)[SubTaskKind.ACTIVATION] is SubTaskStatus.SUCCEEDED
    assert statuses(result)[SubTaskKind.QUALITY_CHECK] is SubTaskStatus.FAILED


async def test_customer_who_declines_fails_construction(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = FakeActivities()
    task_queue = f"tq-{uuid.uuid4()}"
    async with fakes.worker(time_skipping_env.client, task_queue):
        handle = await start(time_skipping_env.client, task_queue, str(uuid.uuid4()))
        await wait_for_job(handle)
        await fakes.report(
            handle,
            ConstructionReport(
                technician_id="tech-north-1",
                state=JobState.CANNOT_COMPLETE,
                reason_code=CannotCompleteReason.CUSTOMER_DECLINED,
            ),
        )
        result = await handle.result()
    assert result.status is OrderStatus.FAILED
    assert statuses(result) == {
        SubTaskKind.CONSTRUCTION: SubTaskStatus.FAILED,
        SubTaskKind.ACTIVATION: SubTaskStatus.SUCCEEDED,
        SubTaskKind.QUALITY_CHECK: SubTaskStatus.SKIPPED,
    }
    assert result.reason is not None and "customer_declined" in result.reason
    assert len(fakes.called("release_construction")) == 1


async def test_a_report_signalled_again_or_superseded_changes_nothing(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = FakeActivities()
    task_queue = f"tq-{uuid.uuid4()}"
    async with fakes.worker(time_skipping_env.client, task_queue):
        handle = await start(time_skipping_env.client, task_queue, str(uuid.uuid4()))
        await wait_for_job(handle)
        accepted = await fakes.report(
            handle, ConstructionReport(technician_id="tech-north-1", state=JobState.ACCEPTED)
        )
        en_route = await fakes.report(
            handle, ConstructionReport(technician_id="tech-north-1", state=JobState.EN_ROUTE)
        )
        await wait_for_job(handle, state=JobState.EN_ROUTE)
        reads = len(fakes.called("read_construction_job"))
        for again in (accepted, en_route):  # the API signals a report again
            await handle.signal(
                WorkOrderWorkflow.construction_reported, ConstructionChanged(version=again.version)
            )
        job = (await handle.query(WorkOrderWorkflow.state)).construction.job
        assert job is not None and job.state is JobState.EN_ROUTE
        assert len(fakes.called("read_construction_job")) == reads  # nothing read again
        await fakes.report(
            handle, ConstructionReport(technician_id="tech-north-1", state=JobState.ON_SITE)
        )
        await fakes.report(
            handle,
            ConstructionReport(
                technician_id="tech-north-1", state=JobState.COMPLETED, ont_serial="HWTC1"
            ),
        )
        assert (await handle.result()).status is OrderStatus.COMPLETED
    assert len(fakes.called("read_construction_job")) <= fakes.signalled  # not the resent ones


async def test_job_waits_while_every_technician_is_fully_booked(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = FakeActivities(fully_booked=3)
    task_queue = f"tq-{uuid.uuid4()}"
    async with fakes.worker(time_skipping_env.client, task_queue):
        handle = await start(time_skipping_env.client, task_queue, str(uuid.uuid4()))
        # Nobody wakes it: it asks again every 0.8 to 1.2 hours, so at least 3 times in
        # 4 hours, and the fourth dispatch gets a technician (then it stops asking).
        await time_skipping_env.sleep(QUEUE_POLL * 4)
        await install(fakes, handle)
        result = await handle.result()
    assert result.status is OrderStatus.COMPLETED
    assert len(fakes.called("dispatch_construction")) == 4


async def test_operator_data_for_a_taken_slot_is_refused(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = FakeActivities(
        activation=by_attempt(activation_fails("UNKNOWN_OLT", revisable=False), activation_ok),
        taken_onts={7},
    )
    edited = {
        "olt_id": "olt-north-02",
        "pon_port": 3,
        "ont_id": 7,
        "vlan": 150,
        "profile": "FTTH_300_100",
        "nms_profile_name": "FTTH_300_100",
    }
    task_queue = f"tq-{uuid.uuid4()}"
    async with fakes.worker(time_skipping_env.client, task_queue):
        handle = await start(time_skipping_env.client, task_queue, str(uuid.uuid4()))
        await install(fakes, handle)
        taken = NetworkOperation(kind=SubTaskKind.ACTIVATION, action="retry", data=edited)
        with pytest.raises(WorkflowUpdateFailedError) as raised:
            await decide(handle, taken)
        assert isinstance(raised.value.cause, ApplicationError)
        assert raised.value.cause.type == "INVALID_DATA"
        # Still waiting: another decision is taken.
        await decide(
            handle,
            NetworkOperation(
                kind=SubTaskKind.ACTIVATION, action="retry", data={**edited, "ont_id": 8}
            ),
        )
        assert (await handle.result()).status is OrderStatus.COMPLETED


async def test_database_writes_are_local(time_skipping_env: WorkflowEnvironment) -> None:
    """The workflow's own writes run as local activities (markers in the history), the
    order's outcome too; the NMS calls are activities of the server's. The technicians'
    reports are in the database already (the API records them) and cost the workflow
    no write."""
    fakes = FakeActivities()
    task_queue = f"tq-{uuid.uuid4()}"
    async with fakes.worker(time_skipping_env.client, task_queue):
        handle = await start(time_skipping_env.client, task_queue, str(uuid.uuid4()))
        await install(fakes, handle)
        await handle.result()
        history = await handle.fetch_history()
    scheduled = Counter(
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    )
    assert scheduled == {"activate_resources": 1, "run_quality_check": 1}
    local = [
        e
        for e in history.events
        if e.HasField("marker_recorded_event_attributes")
        and e.marker_recorded_event_attributes.marker_name == "core_local_activity"
    ]
    # start_order (which opens the quality check too), dispatch_construction,
    # record_order_status, and a read of the job per signalled report at most
    reads = len(fakes.called("read_construction_job"))
    assert 1 <= reads <= fakes.signalled
    assert len(local) == 3 + reads
