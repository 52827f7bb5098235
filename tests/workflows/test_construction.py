"""Construction in the work-order workflow: reassignment, visits, operations and the
region's time limit, on the time-skipping server with scripted activities."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from models.enums import CannotCompleteReason, JobState, OrderStatus, SlaState, SubTaskKind
from models.payloads import (
    AssignTechnicianInput,
    BookedVisit,
    ConstructionInput,
    ConstructionJob,
    ConstructionOperation,
    ConstructionReport,
    ConstructionView,
    HandOffInput,
    NetworkOperation,
    ReleaseConstructionInput,
    RescheduleConstructionInput,
    SlaInput,
)
from models.status import MAX_VISITS
from tests.workflows.fakes import FakeActivities, quality_fails, start
from tests.workflows.test_cancellation import refused
from tests.workflows.test_work_order import Handle, decide, install
from workflows import WorkOrderWorkflow

LIMIT, JEOPARDY = timedelta(hours=48), timedelta(hours=36)


@asynccontextmanager
async def order(env: WorkflowEnvironment, fakes: FakeActivities) -> AsyncIterator[Handle]:
    task_queue = f"tq-{uuid.uuid4()}"
    async with fakes.worker(env.client, task_queue):
        yield await start(env.client, task_queue, str(uuid.uuid4()))


async def construction(handle: Handle) -> ConstructionView:
    return (await handle.query(WorkOrderWorkflow.state)).construction


async def until(handle: Handle, check: Callable[[ConstructionView], bool]) -> ConstructionView:
    for _ in range(200):
        view = await construction(handle)
        if check(view):
            return view
        await asyncio.sleep(0.05)
    raise AssertionError(f"construction never got there: {await construction(handle)}")


def cannot(technician: str, reason: CannotCompleteReason) -> ConstructionReport:
    return ConstructionReport(
        technician_id=technician, state=JobState.CANNOT_COMPLETE, reason_code=reason
    )


async def report(fakes: FakeActivities, handle: Handle, *reports: ConstructionReport) -> None:
    for r in reports:
        await fakes.report(handle, r)


def assigned_to(
    technician: str, state: JobState = JobState.ASSIGNED
) -> Callable[[ConstructionView], bool]:
    return lambda v: (
        v.job is not None and v.job.technician_id == technician and (v.job.state is state)
    )


async def test_declined_job_goes_to_another_technician(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = FakeActivities()
    async with order(time_skipping_env, fakes) as handle:
        await until(handle, assigned_to("tech-north-1"))
        await report(
            fakes, handle, cannot("tech-north-1", CannotCompleteReason.TECHNICIAN_DECLINED)
        )
        view = await until(handle, assigned_to("tech-north-2"))
        assert view.excluded == ["tech-north-1"]
        await install(fakes, handle, technician="tech-north-2")
        result = await handle.result()
    assert result.status is OrderStatus.COMPLETED
    (released,) = fakes.called("release_construction")
    assert isinstance(released, ReleaseConstructionInput)
    dispatches = fakes.called("dispatch_construction")
    assert [d.excluded for d in dispatches if isinstance(d, ConstructionInput)] == [
        [],
        ["tech-north-1"],
    ]


async def test_absent_customer_is_visited_again_then_operations_decide(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = FakeActivities()
    async with order(time_skipping_env, fakes) as handle:
        for visit in range(1, MAX_VISITS + 1):
            view = await until(handle, assigned_to("tech-north-1"))
            assert view.job is not None and view.job.visit == visit
            await report(
                fakes,
                handle,
                ConstructionReport(technician_id="tech-north-1", state=JobState.ACCEPTED),
                ConstructionReport(technician_id="tech-north-1", state=JobState.ON_SITE),
                cannot("tech-north-1", CannotCompleteReason.CUSTOMER_ABSENT),
            )
        view = await until(handle, lambda v: v.waiting_for_operations is not None)
        assert view.job is None
        assert "customer_absent" in (view.waiting_for_operations or "")
        state = await handle.query(WorkOrderWorkflow.state)
        assert state.status is OrderStatus.WAITING_FOR_OPERATIONS

        decided = await handle.execute_update(
            WorkOrderWorkflow.operate_construction,
            ConstructionOperation(action="assign", technician_id="tech-north-2"),
        )
        assert decided.job is not None and decided.job.technician_id == "tech-north-2"
        assert decided.waiting_for_operations is None
        await install(fakes, handle, technician="tech-north-2")
        result = await handle.result()
    assert result.status is OrderStatus.COMPLETED
    visits = fakes.called("reschedule_construction")
    assert [v.visit for v in visits if isinstance(v, RescheduleConstructionInput)] == [2, 3]
    handoffs = [h for h in fakes.called("hand_to_operations") if isinstance(h, HandOffInput)]
    assert [(h.kind, h.reason is not None) for h in handoffs] == [
        (SubTaskKind.CONSTRUCTION, True),
        (SubTaskKind.CONSTRUCTION, False),
    ]


async def test_no_technician_goes_to_operations_who_may_give_up(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = FakeActivities(technicians=[])
    async with order(time_skipping_env, fakes) as handle:
        view = await until(handle, lambda v: v.waiting_for_operations is not None)
        assert view.waiting_for_operations == "no technician (scripted)"
        await handle.execute_update(
            WorkOrderWorkflow.operate_construction,
            ConstructionOperation(action="fail", reason="new estate, no duct yet"),
        )
        result = await handle.result()
        with pytest.raises(RPCError):  # the workflow has ended
            await handle.execute_update(
                WorkOrderWorkflow.operate_construction,
                ConstructionOperation(action="assign", technician_id="tech-north-1"),
            )
    assert result.status is OrderStatus.FAILED
    assert result.reason is not None
    assert "failed by operations: new estate, no duct yet" in result.reason


async def test_operations_cannot_assign_an_unavailable_technician(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = FakeActivities(unavailable={"tech-east-1"})
    async with order(time_skipping_env, fakes) as handle:
        await until(handle, assigned_to("tech-north-1"))
        for technician, code in (
            ("tech-east-1", "TECHNICIAN_UNAVAILABLE"),
            ("tech-north-1", "ALREADY_ASSIGNED"),
        ):
            with pytest.raises(WorkflowUpdateFailedError) as raised:
                await handle.execute_update(
                    WorkOrderWorkflow.operate_construction,
                    ConstructionOperation(action="assign", technician_id=technician),
                )
            assert isinstance(raised.value.cause, ApplicationError)
            assert raised.value.cause.type == code
        assert (await construction(handle)).job is not None
        await install(fakes, handle)
        assert (await handle.result()).status is OrderStatus.COMPLETED


async def test_time_limit_marks_jeopardy_then_reassigns(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = FakeActivities(installation_limit=LIMIT, jeopardy_after=JEOPARDY)
    async with order(time_skipping_env, fakes) as handle:
        await until(handle, assigned_to("tech-north-1"))
        await report(
            fakes, handle, ConstructionReport(technician_id="tech-north-1", state=JobState.ACCEPTED)
        )
        await time_skipping_env.sleep(JEOPARDY + timedelta(minutes=1))
        view = await until(handle, lambda v: v.sla is SlaState.JEOPARDY)
        assert view.job is not None and view.job.technician_id == "tech-north-1"
        await time_skipping_env.sleep(LIMIT - JEOPARDY)
        view = await until(handle, assigned_to("tech-north-2"))
        assert view.sla is SlaState.BREACHED
        assert view.excluded == ["tech-north-1"]
        await install(fakes, handle, technician="tech-north-2")
        assert (await handle.result()).status is OrderStatus.COMPLETED
    marks = [m.state for m in fakes.called("mark_construction_sla") if isinstance(m, SlaInput)]
    assert marks == [SlaState.JEOPARDY, SlaState.BREACHED]


async def test_technician_on_site_keeps_the_job_past_the_limit(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = FakeActivities(installation_limit=LIMIT, jeopardy_after=JEOPARDY)
    async with order(time_skipping_env, fakes) as handle:
        await until(handle, assigned_to("tech-north-1"))
        await report(
            fakes,
            handle,
            ConstructionReport(technician_id="tech-north-1", state=JobState.ACCEPTED),
            ConstructionReport(technician_id="tech-north-1", state=JobState.ON_SITE),
        )
        await time_skipping_env.sleep(LIMIT + timedelta(minutes=1))
        view = await until(handle, lambda v: v.sla is SlaState.BREACHED)
        assert view.job is not None and view.job.technician_id == "tech-north-1"
        await report(
            fakes,
            handle,
            ConstructionReport(
                technician_id="tech-north-1", state=JobState.COMPLETED, ont_serial="HWTC0001"
            ),
        )
        assert (await handle.result()).status is OrderStatus.COMPLETED
    assert fakes.called("release_construction") == []


async def test_job_queued_past_the_limit_goes_to_operations(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = FakeActivities(fully_booked=10_000, installation_limit=LIMIT, jeopardy_after=JEOPARDY)
    async with order(time_skipping_env, fakes) as handle:
        await until(handle, lambda v: v.queued)
        await time_skipping_env.sleep(LIMIT + timedelta(minutes=1))
        view = await until(handle, lambda v: v.waiting_for_operations is not None)
        assert view.sla is SlaState.BREACHED
        assert not view.queued
        await handle.execute_update(
            WorkOrderWorkflow.operate_construction,
            ConstructionOperation(action="assign", technician_id="tech-north-2"),
        )
        await install(fakes, handle, technician="tech-north-2")
        assert (await handle.result()).status is OrderStatus.COMPLETED
    escalated = [
        d
        for d in fakes.called("dispatch_construction")
        if isinstance(d, ConstructionInput) and d.escalated
    ]
    assert len(escalated) == 1


async def test_queued_job_is_woken_when_a_technician_frees_up(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = FakeActivities(fully_booked=1)
    async with order(time_skipping_env, fakes) as handle:
        await until(handle, lambda v: v.queued)
        await handle.signal(WorkOrderWorkflow.technician_available)
        view = await until(handle, assigned_to("tech-north-1"))
        assert not view.queued
        await install(fakes, handle)
        assert (await handle.result()).status is OrderStatus.COMPLETED
    assert len(fakes.called("dispatch_construction")) == 2


async def test_a_late_wake_up_does_not_disturb_an_assigned_job(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = FakeActivities()
    async with order(time_skipping_env, fakes) as handle:
        await until(handle, assigned_to("tech-north-1"))
        for _ in range(3):  # two technicians freed up at once, and then another
            await handle.signal(WorkOrderWorkflow.technician_available)
        await install(fakes, handle)
        assert (await handle.result()).status is OrderStatus.COMPLETED
    assert len(fakes.called("dispatch_construction")) == 1


async def test_no_decision_on_a_completed_installation(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = FakeActivities(quality=quality_fails("NOT_ACTIVATED", revisable=False))
    async with order(time_skipping_env, fakes) as handle:
        await install(fakes, handle)
        # The completion's signal makes the workflow read the job again: decisions are
        # refused once it holds the completion, not while that read is under way.
        await until(handle, assigned_to("tech-north-1", JobState.COMPLETED))
        for operation in (
            ConstructionOperation(action="fail", reason="too late"),
            ConstructionOperation(action="assign", technician_id="tech-north-2"),
        ):
            with pytest.raises(WorkflowUpdateFailedError) as raised:
                await handle.execute_update(WorkOrderWorkflow.operate_construction, operation)
            assert isinstance(raised.value.cause, ApplicationError)
            assert raised.value.cause.type == "CONSTRUCTION_CLOSED"
        await decide(
            handle, NetworkOperation(kind=SubTaskKind.QUALITY_CHECK, action="abort", reason="x")
        )
        result = await handle.result()
    assert {o.kind: o.status for o in result.outcomes}[SubTaskKind.CONSTRUCTION].value == (
        "succeeded"
    )


async def test_a_report_before_the_workflow_has_the_assignment_is_read_again(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    # The technician sees the job once the assignment is in the database, before the
    # workflow has the dispatch's answer: the report's signal cannot be taken as it
    # comes, so the workflow reads the job again once the assignment is done.
    gate = asyncio.Event()
    fakes = FakeActivities(gates={"dispatch_construction": gate})
    async with order(time_skipping_env, fakes) as handle:
        await fakes.started("dispatch_construction")
        await fakes.report(
            handle, ConstructionReport(technician_id="tech-north-1", state=JobState.ACCEPTED)
        )
        await asyncio.sleep(2)  # the workflow task, held by the dispatch, is heartbeaten
        gate.set()
        view = await until(handle, assigned_to("tech-north-1", JobState.ACCEPTED))
        assert view.job is not None and view.job.visit == 1
        await report(
            fakes,
            handle,
            ConstructionReport(technician_id="tech-north-1", state=JobState.ON_SITE),
            ConstructionReport(
                technician_id="tech-north-1", state=JobState.COMPLETED, ont_serial="HWTC0001"
            ),
        )
        assert (await handle.result()).status is OrderStatus.COMPLETED
    # Read once per signalled report at most (signals that arrive together are read once).
    assert 1 <= len(fakes.called("read_construction_job")) <= 3


async def test_at_the_limit_a_report_not_yet_signalled_keeps_the_job(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    # On site by the database, though its signal has not reached the workflow: the
    # time limit takes the job back only while the technician is not on site.
    fakes = FakeActivities(installation_limit=LIMIT, jeopardy_after=JEOPARDY)
    async with order(time_skipping_env, fakes) as handle:
        await until(handle, assigned_to("tech-north-1"))
        await report(
            fakes, handle, ConstructionReport(technician_id="tech-north-1", state=JobState.ACCEPTED)
        )
        await until(handle, assigned_to("tech-north-1", JobState.ACCEPTED))  # read by then
        await fakes.report(
            handle,
            ConstructionReport(technician_id="tech-north-1", state=JobState.ON_SITE),
            signal=False,
        )
        await time_skipping_env.sleep(LIMIT + timedelta(minutes=1))
        view = await until(handle, lambda v: v.sla is SlaState.BREACHED)
        assert view.job is not None
        assert (view.job.technician_id, view.job.state) == ("tech-north-1", JobState.ON_SITE)
        assert view.excluded == []
        await report(
            fakes,
            handle,
            ConstructionReport(
                technician_id="tech-north-1", state=JobState.COMPLETED, ont_serial="HWTC0001"
            ),
        )
        assert (await handle.result()).status is OrderStatus.COMPLETED
    (release,) = fakes.called("release_construction")
    assert isinstance(release, ReleaseConstructionInput) and release.before_on_site
    assert len(fakes.called("dispatch_construction")) == 1


async def test_an_assignment_that_crosses_a_completion_is_refused(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    # The technician completed (in the database; its signal is late) while an operator
    # gave the job to another technician on the job as the workflow held it: the
    # store refuses the older version, the workflow reads the job and refuses the
    # decision for what it finds, and the installation stands.
    fakes = FakeActivities()
    async with order(time_skipping_env, fakes) as handle:
        await until(handle, assigned_to("tech-north-1"))
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
        assert (
            await refused(
                handle,
                WorkOrderWorkflow.operate_construction,
                ConstructionOperation(action="assign", technician_id="tech-north-2"),
            )
            == "CONSTRUCTION_CLOSED"
        )
        assert (await handle.result()).status is OrderStatus.COMPLETED
    (tried,) = fakes.called("assign_technician_by_hand")
    assert isinstance(tried, AssignTechnicianInput) and tried.version == 1
    assert fakes.job(handle.id.removeprefix("work-order-")).job == ConstructionJob(
        technician_id="tech-north-1", state=JobState.COMPLETED, ont_serial="HWTC0001"
    )


def _visit(technician: str, days: int) -> BookedVisit:
    start = datetime(2030, 3, 4, 2, tzinfo=UTC) + timedelta(days=days)  # 10:00 in Beijing
    return BookedVisit(technician_id=technician, start=start, end=start + timedelta(hours=2))


async def test_the_booked_slot_drives_assignment_and_a_missed_visit_is_rebooked(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """The job goes to the technician it is booked with (not the first free one); its
    time limit follows the booking; the customer is absent at the booked visit, so the
    technician's next free slot is booked, and the time limit follows that one."""
    first, second = _visit("tech-north-2", 3), _visit("tech-north-2", 5)
    fakes = FakeActivities(slots=[first, second])
    grace = fakes.installation_limit - fakes.jeopardy_after
    async with order(time_skipping_env, fakes) as handle:
        view = await until(handle, assigned_to("tech-north-2"))
        assert view.job is not None and view.job.visit == 1
        await report(
            fakes,
            handle,
            ConstructionReport(technician_id="tech-north-2", state=JobState.ACCEPTED),
            ConstructionReport(technician_id="tech-north-2", state=JobState.ON_SITE),
            cannot("tech-north-2", CannotCompleteReason.CUSTOMER_ABSENT),
        )
        view = await until(handle, lambda v: v.job is not None and v.job.visit == 2)
        assert view.job is not None and view.job.technician_id == "tech-north-2"
        await fakes.started("rebook_missed_visit")
        await install(fakes, handle, technician="tech-north-2")
        result = await handle.result()
    assert result.status is OrderStatus.COMPLETED
    assert [d.excluded for d in fakes.called("dispatch_construction")] == [[]]  # type: ignore[attr-defined]
    assert len(fakes.called("rebook_missed_visit")) == 1
    limits = [
        (s.state, s.due_at)
        for s in fakes.called("mark_construction_sla")
        if isinstance(s, SlaInput) and s.due_at is not None
    ]
    # on time until each booked visit ends, then the region's grace after it
    assert limits == [
        (SlaState.ON_TIME, first.end + grace),
        (SlaState.ON_TIME, second.end + grace),
    ]
