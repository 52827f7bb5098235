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
from workorders.store import TechnicianExists, TechnicianUnavailable, WorkOrderStore

FIBRE = [ServiceType.FTTH]


async def region_with(
    store: WorkOrderStore, *jobs_limits: tuple[str, int]
) -> tuple[str, list[str]]:
    """A fresh region with fibre technicians of the given (name, max_open_jobs)."""
    region = f"r-{uuid.uuid4().hex[:8]}"
    ids = []
    for name, limit in jobs_limits:
        technician = await store.add_technician(
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


async def started(store: WorkOrderStore, region: str) -> WorkOrder:
    order, _ = await store.create_order(new_order(region=region))
    await store.start_order(order.id)
    return order


async def assign(
    store: WorkOrderStore, order: WorkOrder, excluded: Sequence[str] = ()
) -> str | None:
    return await store.assign_technician(order.id, order.region, "fibre", FIBRE, excluded=excluded)


async def construction(store: WorkOrderStore, order: WorkOrder) -> SubTask:
    return next(
        t for t in await store.get_sub_tasks(order.id) if t.kind is SubTaskKind.CONSTRUCTION
    )


async def open_jobs(store: WorkOrderStore, technician_id: str) -> int:
    technician = await store.get_technician(technician_id)
    assert technician is not None
    return technician.open_jobs


async def test_least_loaded_technician_with_the_skill_and_room(store: WorkOrderStore) -> None:
    region, (a, b) = await region_with(store, ("a", 2), ("b", 2))
    await store.add_technician(
        Technician(id=f"{region}-c", name="c", regions=[region], skills=["copper"], max_open_jobs=9)
    )
    assigned = [await assign(store, await started(store, region)) for _ in range(5)]
    assert assigned[:4] == [a, b, a, b]
    assert assigned[4] is None
    assert [await open_jobs(store, t) for t in (a, b)] == [2, 2]
    assert await store.has_technicians(region, "fibre")
    assert not await store.has_technicians(region, "fibre", excluded=[a, b])


async def test_queue_is_first_come_first_served(store: WorkOrderStore) -> None:
    region, (a,) = await region_with(store, ("a", 1))
    first, second, third = [await started(store, region) for _ in range(3)]
    assert await assign(store, first) == a
    assert await assign(store, second) is None
    assert await assign(store, third) is None
    queued = await construction(store, second)
    assert queued.queued_at is not None
    assert queued.detail == f"queued for a free fibre technician in region {region}"

    await store.record_report(
        first.id, ConstructionReport(technician_id=a, state=JobState.ACCEPTED)
    )
    await store.record_report(first.id, ConstructionReport(technician_id=a, state=JobState.ON_SITE))
    recorded = await store.record_report(
        first.id,
        ConstructionReport(technician_id=a, state=JobState.COMPLETED, ont_serial="HWTC0001"),
    )
    assert recorded.freed
    assert await open_jobs(store, a) == 0
    # The one who waited longest is told, and the newer one cannot jump the queue.
    waiting = await store.next_in_queue(a, {"fibre": FIBRE})
    assert waiting == [second.workflow_id]
    both = await store.next_in_queue(a, {"fibre": FIBRE}, count=5)
    assert both == [second.workflow_id, third.workflow_id]  # longest waiting first
    assert await assign(store, third) is None
    assert await assign(store, second) == a
    assert (await construction(store, second)).queued_at is None
    assert await store.next_in_queue(a, {"fibre": FIBRE}) == [third.workflow_id]


async def test_cannot_complete_keeps_the_slot_until_released(store: WorkOrderStore) -> None:
    region, (a,) = await region_with(store, ("a", 3))
    order = await started(store, region)
    await assign(store, order)
    recorded = await store.record_report(
        order.id,
        ConstructionReport(
            technician_id=a,
            state=JobState.CANNOT_COMPLETE,
            reason_code=CannotCompleteReason.TECHNICIAN_DECLINED,
        ),
    )
    assert not recorded.freed
    task = await construction(store, order)
    assert task.status is SubTaskStatus.IN_PROGRESS
    assert task.detail == "cannot complete: technician_declined"
    assert await open_jobs(store, a) == 1

    assert (await store.release_technician(order.id, "declined")).technician_id == a
    again = await store.release_technician(order.id, "declined")  # once only
    assert again.technician_id is None
    assert await open_jobs(store, a) == 0
    assert (await construction(store, order)).technician_id is None
    assert await assign(store, order, excluded=[a]) is None  # queued
    await store.release_technician(order.id, "operations gave up")
    assert (await construction(store, order)).queued_at is None


async def test_reschedule_keeps_the_technician(store: WorkOrderStore) -> None:
    region, (a,) = await region_with(store, ("a", 3))
    order = await started(store, region)
    await assign(store, order)
    await store.record_report(
        order.id,
        ConstructionReport(
            technician_id=a,
            state=JobState.CANNOT_COMPLETE,
            reason_code=CannotCompleteReason.CUSTOMER_ABSENT,
        ),
    )
    await store.reschedule_visit(order.id, 2)
    await store.reschedule_visit(order.id, 2)
    task = await construction(store, order)
    assert (task.technician_id, task.job_state, task.visit) == (a, JobState.ASSIGNED, 2)
    assert await open_jobs(store, a) == 1
    kinds = [e.kind for e in await store.timeline(order.id)]
    assert kinds.count("construction.rescheduled") == 1


async def test_assignment_by_hand(store: WorkOrderStore) -> None:
    region, (a, b) = await region_with(store, ("a", 2), ("b", 1))
    order = await started(store, region)
    assert await assign(store, order) == a
    await store.assign_technician_by_hand(order.id, b, region, "fibre", "ops:1")
    assert (await construction(store, order)).technician_id == b
    assert [await open_jobs(store, t) for t in (a, b)] == [0, 1]

    other = await started(store, region)
    with pytest.raises(TechnicianUnavailable, match="no room"):
        await store.assign_technician_by_hand(other.id, b, region, "fibre", "ops:1")
    with pytest.raises(TechnicianUnavailable, match="does not work in region"):
        await store.assign_technician_by_hand(other.id, "tech-north-1", region, "fibre", "ops")
    await store.change_technician(a, active=False)
    with pytest.raises(TechnicianUnavailable, match="not active"):
        await store.assign_technician_by_hand(other.id, a, region, "fibre", "ops:1")
    with pytest.raises(TechnicianUnavailable, match="no technician"):
        await store.assign_technician_by_hand(other.id, "nobody", region, "fibre", "ops:1")


async def test_operations_hand_off_shows_on_the_order(store: WorkOrderStore) -> None:
    region, _ = await region_with(store, ("a", 1))
    order = await started(store, region)
    await assign(store, await started(store, region))
    assert await assign(store, order) is None  # queued
    await store.hand_to_operations(order.id, SubTaskKind.CONSTRUCTION, "no free technician")
    stored = await store.get_order(order.id)
    assert stored.status is OrderStatus.WAITING_FOR_OPERATIONS
    assert stored.status_reason == "construction: no free technician"
    task = await construction(store, order)
    assert task.status is SubTaskStatus.WAITING_FOR_OPERATIONS
    assert task.queued_at is None  # out of the queue while operations decide

    await store.hand_to_operations(order.id, SubTaskKind.CONSTRUCTION, None)
    assert (await store.get_order(order.id)).status is OrderStatus.IN_PROGRESS
    assert (await construction(store, order)).status is SubTaskStatus.IN_PROGRESS


async def test_time_limit_marks(store: WorkOrderStore) -> None:
    from datetime import timedelta

    order, _ = await store.create_order(new_order())
    await store.start_order(order.id, timedelta(hours=48))
    task = await construction(store, order)
    assert task.due_at is not None and task.sla_state is SlaState.ON_TIME
    await store.set_sla_state(order.id, SlaState.JEOPARDY)
    await store.set_sla_state(order.id, SlaState.JEOPARDY)
    await store.set_sla_state(order.id, SlaState.BREACHED)
    kinds = [e.kind for e in await store.timeline(order.id)]
    assert kinds[-2:] == ["construction.sla_jeopardy", "construction.sla_breached"]


async def test_technicians_are_managed(store: WorkOrderStore) -> None:
    region, (a,) = await region_with(store, ("a", 1))
    with pytest.raises(TechnicianExists):
        await store.add_technician(
            Technician(id=a, name="again", regions=[region], skills=["fibre"])
        )
    changed = await store.change_technician(a, regions=[region, "north"], max_open_jobs=5)
    assert changed.regions == [region, "north"]
    assert a in [t.id for t in await store.list_technicians("north")]
    with pytest.raises(LookupError):
        await store.change_technician("nobody", active=False)


async def test_concurrent_assignments_never_overbook(store: WorkOrderStore) -> None:
    """Forty orders at the same moment, room for ten jobs: exactly ten assigned."""
    region, technicians = await region_with(store, ("a", 3), ("b", 3), ("c", 4))
    orders = [await started(store, region) for _ in range(40)]
    results = await asyncio.gather(*(assign(store, o) for o in orders), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    assigned = [r for r in results if isinstance(r, str)]
    # Under contention an assignment may fail with a database error (Temporal retries
    # the activity); it must never overbook.
    assert len(assigned) + len(errors) <= 40
    limits = dict(zip(technicians, (3, 3, 4), strict=True))
    for technician in technicians:
        count = await open_jobs(store, technician)
        assert count == assigned.count(technician)
        assert count <= limits[technician]
    held = [(await construction(store, o)).technician_id for o in orders]
    assert sorted(t for t in held if t) == sorted(assigned)
    if not errors:
        assert len(assigned) == 10


async def test_a_reassigned_job_can_be_rescheduled(store: WorkOrderStore) -> None:
    region, (a, b) = await region_with(store, ("a", 2), ("b", 2))
    order = await started(store, region)
    assert await assign(store, order) == a
    await store.release_technician(order.id, "declined")
    assert await assign(store, order, excluded=[a]) == b
    assert (await construction(store, order)).visit == 1
    await store.record_report(
        order.id,
        ConstructionReport(
            technician_id=b,
            state=JobState.CANNOT_COMPLETE,
            reason_code=CannotCompleteReason.CUSTOMER_ABSENT,
        ),
    )
    await store.reschedule_visit(order.id, 2)
    task = await construction(store, order)
    assert (task.technician_id, task.job_state, task.visit) == (b, JobState.ASSIGNED, 2)


async def test_an_order_that_cannot_use_a_free_technician_does_not_hold_the_queue(
    store: WorkOrderStore,
) -> None:
    region, (a, b) = await region_with(store, ("a", 1), ("b", 1))
    blocker, first, second = [await started(store, region) for _ in range(3)]
    assert await assign(store, blocker) == a
    assert await assign(store, first, excluded=[b]) is None  # waits for a only
    # b has room; the order that waited longer does not want b: the newer one gets b.
    assert await assign(store, second) == b
    assert await store.next_in_queue(b, {"fibre": FIBRE}) == []
    assert await store.next_in_queue(a, {"fibre": FIBRE}) == [first.workflow_id]


async def test_waiting_reasons_of_two_sub_tasks(store: WorkOrderStore) -> None:
    order = await started(store, "north")
    await store.hand_to_operations(order.id, SubTaskKind.CONSTRUCTION, "no technician")
    await store.hand_to_operations(order.id, SubTaskKind.ACTIVATION, "UNKNOWN_OLT")
    await store.hand_to_operations(order.id, SubTaskKind.ACTIVATION, None)
    stored = await store.get_order(order.id)
    assert stored.status is OrderStatus.WAITING_FOR_OPERATIONS
    assert stored.status_reason == "construction: no technician"
