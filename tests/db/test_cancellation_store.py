"""A cancelled order in the work-order database, on SQLite and on PostgreSQL: the request
in its timeline, its job withdrawn, its deactivations, its final status."""

from __future__ import annotations

from models.enums import JobState, OrderStatus, SubTaskKind, SubTaskStatus
from models.payloads import ConstructionReport, OrderDecision, SubTaskOutcome
from models.tables import SubTask
from tests.db.test_construction_store import (
    FIBRE,
    assign,
    construction,
    open_jobs,
    region_with,
    started,
)
from tests.factories import new_order
from workorders.store import DEACTIVATION_EVENTS, Stores


def cancelled(*statuses: SubTaskStatus) -> tuple[OrderDecision, list[SubTaskOutcome]]:
    outcomes = [
        SubTaskOutcome(kind=kind, status=status)
        for kind, status in zip(SubTaskKind, statuses, strict=True)
    ]
    decision = OrderDecision(status=OrderStatus.CANCELLED, reason="cancelled by ops:a: moved")
    return decision, outcomes


async def sub_task(stores: Stores, order_id: str, kind: SubTaskKind) -> SubTask:
    return next(t for t in await stores.orders.get_sub_tasks(order_id) if t.kind is kind)


async def test_the_request_is_recorded_once_and_stops_waiting_for_operations(
    stores: Stores,
) -> None:
    region, _ = await region_with(stores, ("a", 1))
    order = await started(stores, region)
    await stores.progress.hand_to_operations(
        order.id, SubTaskKind.ACTIVATION, "UNKNOWN_OLT: no such OLT"
    )
    assert (await stores.orders.get_order(order.id)).status is OrderStatus.WAITING_FOR_OPERATIONS

    for _ in range(2):  # the activity may run twice
        await stores.cancellation.record_cancellation(
            order.id, "operations:alice", "customer moved"
        )

    requests = [
        e for e in await stores.orders.timeline(order.id) if e.kind.startswith("order.cancel")
    ]
    assert [(e.kind, e.actor, e.detail) for e in requests] == [
        ("order.cancellation_requested", "operations:alice", {"reason": "customer moved"})
    ]
    stored = await stores.orders.get_order(order.id)
    assert stored.status is OrderStatus.IN_PROGRESS
    assert stored.status_reason == "cancellation requested by operations:alice: customer moved"
    activation = await sub_task(stores, order.id, SubTaskKind.ACTIVATION)
    assert activation.status is SubTaskStatus.CANCELLED


async def test_a_request_before_the_order_started_is_recorded(stores: Stores) -> None:
    region, _ = await region_with(stores, ("a", 1))
    order, _ = await stores.orders.create_order(new_order(region=region))
    await stores.cancellation.record_cancellation(order.id, "operations:alice", "customer moved")
    assert (await stores.orders.get_order(order.id)).status is OrderStatus.RECEIVED
    await stores.progress.start_order(order.id)
    kinds = [e.kind for e in await stores.orders.timeline(order.id)]
    assert kinds == ["order.received", "order.cancellation_requested", "order.dispatched"]


async def test_withdrawing_the_job_gives_the_technician_room_again(stores: Stores) -> None:
    region, (a,) = await region_with(stores, ("a", 1))
    order = await started(stores, region)
    assert await assign(stores, order) == a
    await stores.reports.record_report(
        order.id, ConstructionReport(technician_id=a, state=JobState.ACCEPTED)
    )
    assert await open_jobs(stores, a) == 1

    freed = await stores.cancellation.withdraw_construction(
        order.id, "operations:alice", "cancelled: moved"
    )
    again = await stores.cancellation.withdraw_construction(
        order.id, "operations:alice", "cancelled: moved"
    )

    assert (freed.freed, again.freed) == (a, None)
    assert await open_jobs(stores, a) == 0  # once
    task = await construction(stores, order)
    assert (task.status, task.technician_id, task.job_state) == (
        SubTaskStatus.CANCELLED,
        None,
        None,
    )
    assert await stores.technicians.technician_jobs(a) == []
    (withdrawn,) = [
        e for e in await stores.orders.timeline(order.id) if e.kind == "construction.withdrawn"
    ]
    assert withdrawn.actor == "operations:alice"
    assert withdrawn.detail is not None and withdrawn.detail["technician_id"] == a
    # Another order of the region gets the technician now.
    assert await assign(stores, await started(stores, region)) == a


async def test_a_queued_job_leaves_the_queue(stores: Stores) -> None:
    region, (a,) = await region_with(stores, ("a", 1))
    first = await started(stores, region)
    assert await assign(stores, first) == a
    queued = await started(stores, region)
    assert await assign(stores, queued) is None
    assert (await construction(stores, queued)).queued_at is not None

    withdrawal = await stores.cancellation.withdraw_construction(queued.id, "temporal", "cancelled")
    assert withdrawal.freed is None

    assert (await construction(stores, queued)).queued_at is None
    assert await stores.technicians.next_in_queue(a, {"fibre": FIBRE}) == []
    assert await open_jobs(stores, a) == 1  # the first order's job stays
    (withdrawn,) = [
        e for e in await stores.orders.timeline(queued.id) if e.kind == "construction.withdrawn"
    ]
    assert withdrawn.detail is not None and withdrawn.detail["queued"] is True


async def test_construction_waiting_for_operations_stops_waiting(stores: Stores) -> None:
    region, _ = await region_with(stores)
    order = await started(stores, region)
    await stores.progress.hand_to_operations(order.id, SubTaskKind.CONSTRUCTION, "no technician")
    await stores.cancellation.record_cancellation(order.id, "operations:alice", "moved")
    assert (await stores.orders.get_order(order.id)).status is OrderStatus.WAITING_FOR_OPERATIONS

    await stores.cancellation.withdraw_construction(order.id, "operations:alice", "cancelled")

    assert (await stores.orders.get_order(order.id)).status is OrderStatus.IN_PROGRESS
    assert (await construction(stores, order)).status is SubTaskStatus.CANCELLED


async def test_deactivations_are_recorded_once_per_key(stores: Stores) -> None:
    region, _ = await region_with(stores)
    order = await started(stores, region)
    result = {"olt_id": "olt-1", "pon_port": 1, "ont_id": 2, "attempts": [1], "succeeded": True}
    for _ in range(2):
        await stores.attempts.record_deactivation(
            order.id, f"{order.id}/deactivation/olt-1/1/2", result
        )
    refused = {**result, "ont_id": 3, "succeeded": False, "error_code": "NOT_OWNER"}
    await stores.attempts.record_deactivation(
        order.id, f"{order.id}/deactivation/olt-1/1/3", refused
    )

    events = [e for e in await stores.orders.timeline(order.id) if e.kind in DEACTIVATION_EVENTS]
    assert [(e.kind, e.actor) for e in events] == [
        ("deactivation.completed", "nms"),
        ("deactivation.failed", "nms"),
    ]
    recorded = await stores.attempts.deactivations(order.id)
    assert recorded[f"{order.id}/deactivation/olt-1/1/3"]["error_code"] == "NOT_OWNER"


async def test_a_cancelled_order_is_final(stores: Stores) -> None:
    region, _ = await region_with(stores)
    order = await started(stores, region)
    decision, outcomes = cancelled(
        SubTaskStatus.CANCELLED, SubTaskStatus.SUCCEEDED, SubTaskStatus.CANCELLED
    )

    await stores.progress.complete_order(order.id, decision, outcomes)
    stored = await stores.orders.get_order(order.id)

    assert stored.status is OrderStatus.CANCELLED
    assert stored.status_reason == "cancelled by ops:a: moved"
    assert stored.completed_at is not None
    assert order.id in await stores.orders.order_ids_with_status(OrderStatus.CANCELLED)
    tasks = {t.kind: t.status for t in await stores.orders.get_sub_tasks(order.id)}
    assert tasks == {
        SubTaskKind.CONSTRUCTION: SubTaskStatus.CANCELLED,
        SubTaskKind.ACTIVATION: SubTaskStatus.SUCCEEDED,
        SubTaskKind.QUALITY_CHECK: SubTaskStatus.CANCELLED,
    }
    assert [e.kind for e in await stores.orders.timeline(order.id)][-1] == "order.cancelled"
    # A late hand-off does not reopen it.
    await stores.progress.hand_to_operations(order.id, SubTaskKind.QUALITY_CHECK, "late")
    assert (await stores.orders.get_order(order.id)).status is OrderStatus.CANCELLED
