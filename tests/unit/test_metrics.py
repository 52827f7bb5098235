"""The worker's metrics: the activity interceptor in ActivityEnvironment, on a real
database, and in a worker running the work-order workflow on the time-skipping server."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.runtime import Runtime
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Worker

from models.enums import JobState, OrderStatus, SlaState, SubTaskKind, SubTaskStatus
from models.payloads import (
    ActivationData,
    ActivationInput,
    ActivationResult,
    ConstructionInput,
    ConstructionReport,
    OrderDecision,
    QualityCheckInput,
    RecordOrderStatusInput,
    SlaInput,
    SubTaskOutcome,
    WorkOrderInput,
)
from models.status import decide_order_status
from tests.factories import (
    activation_activities,
    construction_activities,
    new_order,
    order_activities,
    quiet_simulator,
)
from tests.workflows.fakes import FakeActivities, by_attempt, start, transient, wait_for_job
from workflows import WorkOrderWorkflow, workflow_id_for
from workorders.config import Settings
from workorders.metrics import (
    ActivityMetricsInterceptor,
    WorkerMetrics,
    serve_metrics,
    sub_task_durations,
)
from workorders.reference import load_catalog, load_regions
from workorders.startup import temporal_runtime
from workorders.store import EventSpan, OrderStore, Stores

REGIONS, CATALOG = load_regions(), load_catalog()


class _Call(ActivityInboundInterceptor):
    """The end of the chain: calls the activity, as the worker would."""

    def __init__(self) -> None:
        pass

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        return await input.fn(*input.args)


async def metered(
    metrics: WorkerMetrics,
    fn: Callable[..., Any],
    *args: Any,
    attempt: int = 1,
    orders: OrderStore | None = None,
    order_id: str = "o-1",
) -> Any:
    """Run ``fn`` as activity attempt ``attempt`` through the metrics interceptor."""
    name = activity._Definition.must_from_callable(fn).name
    assert name is not None
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info,
        activity_type=name,
        attempt=attempt,
        workflow_id=workflow_id_for(order_id),
    )
    chain = ActivityMetricsInterceptor(metrics, orders).intercept_activity(_Call())
    return await env.run(
        chain.execute_activity,
        ExecuteActivityInput(fn=fn, args=args, executor=None, headers={}),
    )


def value(metrics: WorkerMetrics, name: str, **labels: str) -> float:
    found = metrics.registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


def activation_result(code: str | None, *, data: bool = True) -> ActivationResult:
    return ActivationResult(
        order_id="o-1",
        attempt=1,
        succeeded=code is None,
        data=ActivationData(
            olt_id="olt-1", pon_port=1, ont_id=1, vlan=100, profile="P", nms_profile_name="P"
        )
        if data
        else None,
        error_code=code,
    )


@activity.defn(name="activate_resources")
async def activate_refused(input: ActivationInput) -> ActivationResult:
    return activation_result("VLAN_TAKEN")


@activity.defn(name="activate_resources")
async def activate_without_alternative(input: ActivationInput) -> ActivationResult:
    return activation_result("NO_ALTERNATIVE", data=False)


@activity.defn(name="activate_resources")
async def activate_unreachable(input: ActivationInput) -> ActivationResult:
    raise ApplicationError("NMS simulator: 503", type="NmsUnavailable")


@activity.defn(name="run_quality_check")
async def check_not_activated(input: QualityCheckInput) -> None:
    raise ApplicationError("no activation", type="NotActivated", non_retryable=True)


@activity.defn(name="mark_construction_sla")
async def mark_sla(input: SlaInput) -> None:
    await asyncio.sleep(0.01)


@activity.defn(name="record_order_status")
async def record_status(input: RecordOrderStatusInput) -> None:
    pass


async def test_an_attempt_after_the_first_is_a_retry_and_every_attempt_is_timed() -> None:
    metrics = WorkerMetrics()
    sla = SlaInput(order_id="o-1", state=SlaState.JEOPARDY)
    await metered(metrics, mark_sla, sla)
    await metered(metrics, mark_sla, sla, attempt=3)
    labels = {"activity": "mark_construction_sla"}
    assert value(metrics, "workorders_activity_retries_total", **labels) == 1
    count = "workorders_activity_duration_seconds_count"
    assert value(metrics, count, outcome="succeeded", **labels) == 2
    total = "workorders_activity_duration_seconds_sum"
    assert value(metrics, total, outcome="succeeded", **labels) >= 0.02


async def test_nms_refusals_and_unreachable_nms_count_by_error_code() -> None:
    metrics = WorkerMetrics()
    start = ActivationInput(order_id="o-1", attempt=1)
    await metered(metrics, activate_refused, start)
    await metered(metrics, activate_without_alternative, start)  # sent nothing to the NMS
    with pytest.raises(ApplicationError):
        await metered(metrics, activate_unreachable, start)
    errors = "workorders_nms_errors_total"
    labels = {"activity": "activate_resources"}
    assert value(metrics, errors, error_code="VLAN_TAKEN", **labels) == 1
    assert value(metrics, errors, error_code="NMS_UNAVAILABLE", **labels) == 1
    assert value(metrics, errors, error_code="NO_ALTERNATIVE", **labels) == 0
    raised = "workorders_activity_errors_total"
    assert value(metrics, raised, error_type="NmsUnavailable", **labels) == 1
    count = "workorders_activity_duration_seconds_count"
    assert value(metrics, count, outcome="failed", **labels) == 1
    assert value(metrics, count, outcome="succeeded", **labels) == 2


async def test_a_failure_that_is_not_the_nms_is_no_nms_error() -> None:
    metrics = WorkerMetrics()
    with pytest.raises(ApplicationError):
        await metered(metrics, check_not_activated, QualityCheckInput(order_id="o-1", attempt=1))
    labels = {"activity": "run_quality_check"}
    assert value(metrics, "workorders_activity_errors_total", error_type="NotActivated", **labels)
    assert value(metrics, "workorders_nms_errors_total", error_code="NotActivated", **labels) == 0
    assert value(metrics, "workorders_nms_errors_total", error_code="NOT_ACTIVATED", **labels) == 0


async def test_sla_marks_and_ended_orders_are_counted_by_state_and_status() -> None:
    metrics = WorkerMetrics()
    await metered(metrics, mark_sla, SlaInput(order_id="o-1", state=SlaState.BREACHED))
    failed = RecordOrderStatusInput(
        order_id="o-1",
        decision=OrderDecision(status=OrderStatus.FAILED, reason="scripted"),
        outcomes=[],
    )
    in_progress = RecordOrderStatusInput(
        order_id="o-1", decision=OrderDecision(status=OrderStatus.IN_PROGRESS), outcomes=[]
    )
    await metered(metrics, record_status, failed)
    await metered(metrics, record_status, in_progress)  # not an end
    marks = "workorders_construction_sla_marks_total"
    assert value(metrics, marks, state="breached") == 1
    assert metrics.registry.get_sample_value(marks, {"state": "jeopardy"}) == 0
    ended = "workorders_orders_ended_total"
    assert value(metrics, ended, status="failed") == 1
    assert value(metrics, ended, status="in_progress") == 0
    # every final status is a series from the start, cancelled too
    assert metrics.registry.get_sample_value(ended, {"status": "completed"}) == 0
    assert metrics.registry.get_sample_value(ended, {"status": "cancelled"}) == 0


def spans(*events: tuple[str, int]) -> dict[str, EventSpan]:
    """The spans of a timeline of (kind, minute) events, as the order store reads them."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    found: dict[str, EventSpan] = {}
    for kind, minute in events:
        at = start + timedelta(minutes=minute)
        first = found[kind].first if kind in found else at
        found[kind] = EventSpan(first, at)
    return found


TIMELINE = (
    ("order.received", 0),
    ("order.dispatched", 1),
    ("activation.attempt_started", 1),
    ("construction.assigned", 2),
    ("activation.attempt_failed", 3),
    ("activation.attempt_started", 4),
    ("activation.attempt_succeeded", 6),
    ("construction.completed", 61),
    ("quality_check.attempt_started", 62),
    ("quality_check.attempt_failed", 63),
    ("quality_check.attempt_started", 63),
    ("quality_check.attempt_succeeded", 64),
    ("order.completed", 64),
)


def test_sub_task_durations_run_from_where_their_work_began_to_their_last_event() -> None:
    events = spans(*TIMELINE)
    outcomes = [
        SubTaskOutcome(kind=kind, status=SubTaskStatus.SUCCEEDED)
        for kind in (SubTaskKind.CONSTRUCTION, SubTaskKind.ACTIVATION, SubTaskKind.QUALITY_CHECK)
    ]
    durations = {o.kind: s for o, s in sub_task_durations(events, outcomes)}
    assert durations == {
        SubTaskKind.CONSTRUCTION: 60 * 60,
        SubTaskKind.ACTIVATION: 5 * 60,
        SubTaskKind.QUALITY_CHECK: 2 * 60,
    }
    skipped = [
        *outcomes[:2],
        SubTaskOutcome(kind=SubTaskKind.QUALITY_CHECK, status=SubTaskStatus.SKIPPED),
    ]
    assert [o.kind for o, _ in sub_task_durations(spans(*TIMELINE[:8]), skipped)] == [
        SubTaskKind.CONSTRUCTION,
        SubTaskKind.ACTIVATION,
    ]


async def test_sub_task_durations_are_read_from_the_stored_history(stores: Stores) -> None:
    metrics = WorkerMetrics()
    order, _ = await stores.orders.create_order(new_order())
    orders = order_activities(stores)
    construction = construction_activities(stores)
    nms = quiet_simulator()
    activation = activation_activities(stores, nms)
    began = datetime.now(UTC)

    async def run(fn: Callable[..., Any], arg: Any) -> Any:
        return await metered(metrics, fn, arg, orders=stores.orders, order_id=order.id)

    await run(orders.start_order, WorkOrderInput(order_id=order.id))
    activated = await run(
        activation.activate_resources, ActivationInput(order_id=order.id, attempt=1)
    )
    assert activated.succeeded
    assignment = await run(construction.dispatch_construction, ConstructionInput(order_id=order.id))
    assert assignment.technician_id is not None
    for state in (JobState.ACCEPTED, JobState.ON_SITE, JobState.COMPLETED):  # as the API does
        await stores.reports.record_report(
            order.id,
            ConstructionReport(
                technician_id=assignment.technician_id, state=state, ont_serial="HWTC1"
            ),
        )
    outcomes = [
        SubTaskOutcome(kind=SubTaskKind.CONSTRUCTION, status=SubTaskStatus.SUCCEEDED),
        SubTaskOutcome(kind=SubTaskKind.ACTIVATION, status=SubTaskStatus.SUCCEEDED),
        SubTaskOutcome(kind=SubTaskKind.QUALITY_CHECK, status=SubTaskStatus.SKIPPED),
    ]
    decision = decide_order_status(outcomes)
    await run(
        orders.record_order_status,
        RecordOrderStatusInput(order_id=order.id, decision=decision, outcomes=outcomes),
    )
    elapsed = (datetime.now(UTC) - began).total_seconds()
    nms.close()

    assert value(metrics, "workorders_orders_ended_total", status="failed") == 1
    name = "workorders_sub_task_duration_seconds"
    for kind in ("construction", "activation"):
        labels = {"kind": kind, "status": "succeeded"}
        assert value(metrics, f"{name}_count", **labels) == 1
        assert 0 < value(metrics, f"{name}_sum", **labels) <= elapsed
    assert value(metrics, f"{name}_count", kind="quality_check", status="skipped") == 0


async def marked_in_jeopardy(handle: WorkflowHandle[WorkOrderWorkflow, Any]) -> None:
    for _ in range(200):
        state = await handle.query(WorkOrderWorkflow.state)
        if state.construction.sla is SlaState.JEOPARDY:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the installation was never marked in jeopardy")


async def test_a_worker_counts_what_the_work_order_workflow_asks_of_its_activities(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    def refused(input: ActivationInput) -> ActivationResult:
        return activation_result("VLAN_TAKEN").model_copy(update={"revisable": True})

    def activated(input: ActivationInput) -> ActivationResult:
        return activation_result(None).model_copy(update={"attempt": input.attempt})

    jeopardy = timedelta(hours=1)
    fakes = FakeActivities(
        activation_errors=[transient()],
        activation=by_attempt(refused, activated),
        jeopardy_after=jeopardy,
    )
    metrics = WorkerMetrics()
    task_queue = f"tq-{uuid.uuid4()}"
    async with Worker(
        time_skipping_env.client,
        task_queue=task_queue,
        workflows=[WorkOrderWorkflow],
        activities=fakes.activities(),
        interceptors=[ActivityMetricsInterceptor(metrics)],
    ):
        handle = await start(time_skipping_env.client, task_queue, str(uuid.uuid4()))
        technician = (await wait_for_job(handle)).technician_id
        await time_skipping_env.sleep(jeopardy + timedelta(minutes=1))
        await marked_in_jeopardy(handle)
        for state in (JobState.ACCEPTED, JobState.ON_SITE):
            await fakes.report(handle, ConstructionReport(technician_id=technician, state=state))
        await fakes.report(
            handle,
            ConstructionReport(
                technician_id=technician, state=JobState.COMPLETED, ont_serial="HWTC1"
            ),
        )
        result = await handle.result()

    assert result.status is OrderStatus.COMPLETED
    activation = {"activity": "activate_resources"}
    assert value(metrics, "workorders_activity_retries_total", **activation) == 1
    errors = "workorders_nms_errors_total"
    assert value(metrics, errors, error_code="NMS_UNAVAILABLE", **activation) == 1
    assert value(metrics, errors, error_code="VLAN_TAKEN", **activation) == 1
    count = "workorders_activity_duration_seconds_count"
    assert value(metrics, count, outcome="failed", **activation) == 1
    assert value(metrics, count, outcome="succeeded", **activation) == 2
    assert value(metrics, "workorders_construction_sla_marks_total", state="jeopardy") == 1
    assert value(metrics, "workorders_construction_sla_marks_total", state="breached") == 0
    assert value(metrics, "workorders_orders_ended_total", status="completed") == 1
    assert value(metrics, "workorders_activity_retries_total", activity="start_order") == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_the_worker_serves_its_registry_and_carries_on_when_the_port_is_taken(
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics = WorkerMetrics()
    metrics.orders_ended.labels(status="completed").inc()
    port = free_port()
    stop = serve_metrics(metrics.registry, "127.0.0.1", port)
    assert stop is not None
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            text = reply.read().decode()
        assert 'workorders_orders_ended_total{status="completed"} 1.0' in text
        with caplog.at_level(logging.ERROR, logger="workorders.metrics"):
            assert serve_metrics(metrics.registry, "127.0.0.1", port) is None
        assert f"cannot serve the worker's metrics on 127.0.0.1:{port}" in caplog.text
    finally:
        stop()


def test_a_taken_sdk_metrics_port_leaves_the_worker_a_runtime(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = Settings(_env_file=None, temporal_metrics_port=port)
        with caplog.at_level(logging.ERROR, logger="workorders.worker"):
            runtime = temporal_runtime(settings)
    assert isinstance(runtime, Runtime)
    assert "cannot serve the Temporal SDK's metrics" in caplog.text
