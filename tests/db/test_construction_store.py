"""Technicians, their job queue and the construction job in the work-order database,
on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import pytest

from models.enums import (
    CannotCompleteReason,
    JobState,
    OrderStatus,
    ServiceType,
    SlaState,
    SubTaskKind,
    SubTaskStatus,
)
from models.payloads import ConstructionReport
from models.tables import SubTask, Technician, WorkOrder
from tests.factories import new_order
from workorders.store import JobChanged, Stores, TechnicianExists, TechnicianUnavailable

FIBRE = [ServiceType.FTTH]


async def region_with(stores: Stores, *jobs_limits: tuple[str, int]) -> tuple[str, list[str]]:
    """A fresh region with fibre technicians of the given (name, max_open_jobs)."""
    region = f"r-{uuid.uuid4().hex[:8]}"
    ids = []
    for name, limit in jobs_limits:
        technician = await stores.technicians.add_technician(
            Technician(
                id=f"{region}-{name}",
                name=name,
                regions=[region],
                skills=["fibre"],
                max_open_jobs=limit,
            )
        )
        ids.append(technician.id)
    return region, ids


async def started(stores: Stores, region: str) -> WorkOrder:
    order, _ = await stores.orders.create_order(new_order(region=region))
    await stores.progress.start_order(order.id)
    return order


async def assign(stores: Stores, order: WorkOrder, excluded: Sequence[str] = ()) -> str | None:
    state = await stores.assignment.assign_technician(
        order.id, order.region, "fibre", FIBRE, excluded=excluded
    )
    return None if state is None or state.job is None else state.job.technician_id


async def construction(stores: Stores, order: WorkOrder) -> SubTask:
    return next(
        t for t in await stores.orders.get_sub_tasks(order.id) if t.kind is SubTaskKind.CONSTRUCTION
    )


async def open_jobs(stores: Stores, technician_id: str) -> int:
    technician = await stores.technicians.get_technician(technician_id)
    assert technician is not None
    return technician.open_jobs


async def test_least_loaded_technician_with_the_skill_and_room(stores: Stores) -> None:
    region, (a, b) = await region_with(stores, ("a", 2), ("b", 2))
    await stores.technicians.add_technician(
        Technician(id=f"{region}-c", name="c", regions=[region], skills=["copper"], max_open_jobs=9)
    )
    assigned = [await assign(stores, await started(stores, region)) for _ in range(5)]
    assert assigned[:4] == [a, b, a, b]
    assert assigned[4] is None
    assert [await open_jobs(stores, t) for t in (a, b)] == [2, 2]
    assert await stores.technicians.has_technicians(region, "fibre")
    assert not await stores.technicians.has_technicians(region, "fibre", excluded=[a, b])


async def test_queue_is_first_come_first_served(stores: Stores) -> None:
    region, (a,) = await region_with(stores, ("a", 1))
    first, second, third = [await started(stores, region) for _ in range(3)]
    assert await assign(stores, first) == a
    assert await assign(stores, second) is None
    assert await assign(stores, third) is None
    queued = await construction(stores, second)
    assert queued.queued_at is not None
    assert queued.detail == f"queued for a free fibre technician in region {region}"

    await stores.reports.record_report(
        first.id, ConstructionReport(technician_id=a, state=JobState.ACCEPTED)
    )
    await stores.reports.record_report(
        first.id, ConstructionReport(technician_id=a, state=JobState.ON_SITE)
    )
    recorded = await stores.reports.record_report(
        first.id,
        ConstructionReport(technician_id=a, state=JobState.COMPLETED, ont_serial="HWTC0001"),
    )
    assert recorded.freed
    assert await open_jobs(stores, a) == 0
    # The one who waited longest is told, and the newer one cannot jump the queue.
    waiting = await stores.technicians.next_in_queue(a, {"fibre": FIBRE})
    assert waiting == [second.workflow_id]
    both = await stores.technicians.next_in_queue(a, {"fibre": FIBRE}, count=5)
    assert both == [second.workflow_id, third.workflow_id]  # longest waiting first
    assert await assign(stores, third) is None
    assert await assign(stores, second) == a
    assert (await construction(stores, second)).queued_at is None
    assert await stores.technicians.next_in_queue(a, {"fibre": FIBRE}) == [third.workflow_id]


async def test_cannot_complete_keeps_the_slot_until_released(stores: Stores) -> None:
    region, (a,) = await region_with(stores, ("a", 3))
    order = await started(stores, region)
    await assign(stores, order)
    recorded = await stores.reports.record_report(
        order.id,
        ConstructionReport(
            technician_id=a,
            state=JobState.CANNOT_COMPLETE,
            reason_code=CannotCompleteReason.TECHNICIAN_DECLINED,
        ),
    )
    assert not recorded.freed
    task = await construction(stores, order)
    assert task.status is SubTaskStatus.IN_PROGRESS
    assert task.detail == "cannot complete: technician_declined"
    assert await open_jobs(stores, a) == 1

    assert (await stores.assignment.release_technician(order.id, "declined")).technician_id == a
    again = await stores.assignment.release_technician(order.id, "declined")  # once only
    assert again.technician_id is None
    assert await open_jobs(stores, a) == 0
    assert (await construction(stores, order)).technician_id is None
    assert await assign(stores, order, excluded=[a]) is None  # queued
    await stores.assignment.release_technician(order.id, "operations gave up")
    assert (await construction(stores, order)).queued_at is None


async def test_reschedule_keeps_the_technician(stores: Stores) -> None:
    region, (a,) = await region_with(stores, ("a", 3))
    order = await started(stores, region)
    await assign(stores, order)
    await stores.reports.record_report(
        order.id,
        ConstructionReport(
            technician_id=a,
            state=JobState.CANNOT_COMPLETE,
            reason_code=CannotCompleteReason.CUSTOMER_ABSENT,
        ),
    )
    await stores.assignment.reschedule_visit(order.id, 2)
    await stores.assignment.reschedule_visit(order.id, 2)
    task = await construction(stores, order)
    assert (task.technician_id, task.job_state, task.visit) == (a, JobState.ASSIGNED, 2)
    assert await open_jobs(stores, a) == 1
    kinds = [e.kind for e in await stores.orders.timeline(order.id)]
    assert kinds.count("construction.rescheduled") == 1


async def test_assignment_by_hand(stores: Stores) -> None:
    region, (a, b) = await region_with(stores, ("a", 2), ("b", 1))
    order = await started(stores, region)
    assert await assign(stores, order) == a
    await stores.assignment.assign_technician_by_hand(order.id, b, region, "fibre", "ops:1")
    assert (await construction(stores, order)).technician_id == b
    assert [await open_jobs(stores, t) for t in (a, b)] == [0, 1]

    other = await started(stores, region)
    with pytest.raises(TechnicianUnavailable, match="no room"):
        await stores.assignment.assign_technician_by_hand(other.id, b, region, "fibre", "ops:1")
    with pytest.raises(TechnicianUnavailable, match="does not work in region"):
        await stores.assignment.assign_technician_by_hand(
            other.id, "tech-north-1", region, "fibre", "ops"
        )
    await stores.technicians.change_technician(a, active=False)
    with pytest.raises(TechnicianUnavailable, match="not active"):
        await stores.assignment.assign_technician_by_hand(other.id, a, region, "fibre", "ops:1")
    with pytest.raises(TechnicianUnavailable, match="no technician"):
        await stores.assignment.assign_technician_by_hand(
            other.id, "nobody", region, "fibre", "ops:1"
        )


async def test_operations_hand_off_shows_on_the_order(stores: Stores) -> None:
    region, _ = await region_with(stores, ("a", 1))
    order = await started(stores, region)
    await assign(stores, await started(stores, region))
    assert await assign(stores, order) is None  # queued
    await stores.progress.hand_to_operations(
        order.id, SubTaskKind.CONSTRUCTION, "no free technician"
    )
    stored = await stores.orders.get_order(order.id)
    assert stored.status is OrderStatus.WAITING_FOR_OPERATIONS
    assert stored.status_reason == "construction: no free technician"
    task = await construction(stores, order)
    assert task.status is SubTaskStatus.WAITING_FOR_OPERATIONS
    assert task.queued_at is None  # out of the queue while operations decide

    await stores.progress.hand_to_operations(order.id, SubTaskKind.CONSTRUCTION, None)
    assert (await stores.orders.get_order(order.id)).status is OrderStatus.IN_PROGRESS
    assert (await construction(stores, order)).status is SubTaskStatus.IN_PROGRESS


async def test_time_limit_marks(stores: Stores) -> None:
    from datetime import timedelta

    order, _ = await stores.orders.create_order(new_order())
    await stores.progress.start_order(order.id, timedelta(hours=48))
    task = await construction(stores, order)
    assert task.due_at is not None and task.sla_state is SlaState.ON_TIME
    await stores.progress.set_sla_state(order.id, SlaState.JEOPARDY)
    await stores.progress.set_sla_state(order.id, SlaState.JEOPARDY)
    await stores.progress.set_sla_state(order.id, SlaState.BREACHED)
    kinds = [e.kind for e in await stores.orders.timeline(order.id)]
    assert kinds[-2:] == ["construction.sla_jeopardy", "construction.sla_breached"]


async def test_technicians_are_managed(stores: Stores) -> None:
    region, (a,) = await region_with(stores, ("a", 1))
    with pytest.raises(TechnicianExists):
        await stores.technicians.add_technician(
            Technician(id=a, name="again", regions=[region], skills=["fibre"])
        )
    changed = await stores.technicians.change_technician(
        a, regions=[region, "north"], max_open_jobs=5
    )
    assert changed.regions == [region, "north"]
    assert a in [t.id for t in await stores.technicians.list_technicians("north")]
    with pytest.raises(LookupError):
        await stores.technicians.change_technician("nobody", active=False)


async def test_concurrent_assignments_never_overbook(stores: Stores) -> None:
    """Forty orders at the same moment, room for ten jobs: exactly ten assigned."""
    region, technicians = await region_with(stores, ("a", 3), ("b", 3), ("c", 4))
    orders = [await started(stores, region) for _ in range(40)]
    results = await asyncio.gather(*(assign(stores, o) for o in orders), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    assigned = [r for r in results if isinstance(r, str)]
    # Under contention an assignment may fail with a database error (Temporal retries
    # the activity); it must never overbook.
    assert len(assigned) + len(errors) <= 40
    limits = dict(zip(technicians, (3, 3, 4), strict=True))
    for technician in technicians:
        count = await open_jobs(stores, technician)
        assert count == assigned.count(technician)
        assert count <= limits[technician]
    held = [(await construction(stores, o)).technician_id for o in orders]
    assert sorted(t for t in held if t) == sorted(assigned)
    if not errors:
        assert len(assigned) == 10


async def test_a_reassigned_job_can_be_rescheduled(stores: Stores) -> None:
    region, (a, b) = await region_with(stores, ("a", 2), ("b", 2))
    order = await started(stores, region)
    assert await assign(stores, order) == a
    await stores.assignment.release_technician(order.id, "declined")
    assert await assign(stores, order, excluded=[a]) == b
    assert (await construction(stores, order)).visit == 1
    await stores.reports.record_report(
        order.id,
        ConstructionReport(
            technician_id=b,
            state=JobState.CANNOT_COMPLETE,
            reason_code=CannotCompleteReason.CUSTOMER_ABSENT,
        ),
    )
    await stores.assignment.reschedule_visit(order.id, 2)
    task = await construction(stores, order)
    assert (task.technician_id, task.job_state, task.visit) == (b, JobState.ASSIGNED, 2)


async def test_an_order_that_cannot_use_a_free_technician_does_not_hold_the_queue(
    stores: Stores,
) -> None:
    region, (a, b) = await region_with(stores, ("a", 1), ("b", 1))
    blocker, first, second = [await started(stores, region) for _ in range(3)]
    assert await assign(stores, blocker) == a
    assert await assign(stores, first, excluded=[b]) is None  # waits for a only
    # b has room; the order that waited longer does not want b: the newer one gets b.
    assert await assign(stores, second) == b
    assert await stores.technicians.next_in_queue(b, {"fibre": FIBRE}) == []
    assert await stores.technicians.next_in_queue(a, {"fibre": FIBRE}) == [first.workflow_id]


async def test_waiting_reasons_of_two_sub_tasks(stores: Stores) -> None:
    order = await started(stores, "north")
    await stores.progress.hand_to_operations(order.id, SubTaskKind.CONSTRUCTION, "no technician")
    await stores.progress.hand_to_operations(order.id, SubTaskKind.ACTIVATION, "UNKNOWN_OLT")
    await stores.progress.hand_to_operations(order.id, SubTaskKind.ACTIVATION, None)
    stored = await stores.orders.get_order(order.id)
    assert stored.status is OrderStatus.WAITING_FOR_OPERATIONS
    assert stored.status_reason == "construction: no technician"


async def test_every_change_of_the_job_counts_its_version(stores: Stores) -> None:
    region, (a, b) = await region_with(stores, ("a", 2), ("b", 2))
    order = await started(stores, region)
    versions = [(await stores.reports.construction_job(order.id)).version]
    await assign(stores, order)
    versions.append((await stores.reports.construction_job(order.id)).version)
    recorded = await stores.reports.record_report(
        order.id,
        ConstructionReport(
            technician_id=a,
            state=JobState.CANNOT_COMPLETE,
            reason_code=CannotCompleteReason.CUSTOMER_ABSENT,
        ),
    )
    versions.append(recorded.state.version)
    versions.append((await stores.assignment.reschedule_visit(order.id, 2)).version)
    versions.append((await stores.assignment.release_technician(order.id, "gave up")).state.version)
    by_hand = await stores.assignment.assign_technician_by_hand(
        order.id, b, region, "fibre", "ops:1", version=versions[-1]
    )
    versions.append(by_hand.version)
    withdrawal = await stores.cancellation.withdraw_construction(order.id, "ops:1", "cancelled")
    versions.append(withdrawal.state.version)
    assert versions == [0, 1, 2, 3, 4, 5, 6]
    assert (await stores.reports.construction_job(order.id)).version == 6


async def test_an_assignment_by_hand_on_an_older_version_changes_nothing(stores: Stores) -> None:
    region, (a, b) = await region_with(stores, ("a", 2), ("b", 2))
    order = await started(stores, region)
    await assign(stores, order)
    seen = (await stores.reports.construction_job(order.id)).version
    await stores.reports.record_report(
        order.id, ConstructionReport(technician_id=a, state=JobState.ACCEPTED)
    )
    with pytest.raises(JobChanged):
        await stores.assignment.assign_technician_by_hand(
            order.id, b, region, "fibre", "ops:1", version=seen
        )
    task = await construction(stores, order)
    assert (task.technician_id, task.job_state) == (a, JobState.ACCEPTED)
    assert (await open_jobs(stores, a), await open_jobs(stores, b)) == (1, 0)


async def test_withdrawing_a_completed_installation_leaves_it(stores: Stores) -> None:
    region, (a,) = await region_with(stores, ("a", 2))
    order = await started(stores, region)
    await assign(stores, order)
    for state in (JobState.ACCEPTED, JobState.EN_ROUTE, JobState.ON_SITE):
        await stores.reports.record_report(
            order.id, ConstructionReport(technician_id=a, state=state)
        )
    await stores.reports.record_report(
        order.id,
        ConstructionReport(technician_id=a, state=JobState.COMPLETED, ont_serial="HWTC0001"),
    )
    withdrawal = await stores.cancellation.withdraw_construction(order.id, "ops:1", "cancelled")
    assert withdrawal.freed is None
    assert withdrawal.state.job is not None and withdrawal.state.job.state is JobState.COMPLETED
    task = await construction(stores, order)
    assert (task.status, task.job_state) == (SubTaskStatus.SUCCEEDED, JobState.COMPLETED)
    kinds = [e.kind for e in await stores.orders.timeline(order.id)]
    assert "construction.withdrawn" not in kinds
