"""The work-order database, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from models.enums import (
    AttemptOutcome,
    OrderStatus,
    ServiceType,
    SubTaskKind,
    SubTaskStatus,
)
from models.payloads import ActivationData, OrderDecision, SubTaskOutcome
from tests.factories import new_order
from workorders.planning import PastAttempt
from workorders.store import OrderKind, OrderNotFound, Stores


async def test_create_is_idempotent_by_external_reference(stores: Stores) -> None:
    first, created = await stores.orders.create_order(new_order())
    assert created
    again, created_again = await stores.orders.create_order(
        new_order(external_reference=first.external_reference)
    )
    assert not created_again
    assert again.id == first.id


async def test_concurrent_creates_with_one_reference_store_one_order(stores: Stores) -> None:
    reference = f"race-{uuid.uuid4()}"
    results = await asyncio.gather(
        *(stores.orders.create_order(new_order(external_reference=reference)) for _ in range(8))
    )
    assert len({order.id for order, _ in results}) == 1
    assert sum(created for _, created in results) == 1


async def test_timestamps_come_back_aware(stores: Stores) -> None:
    order, _ = await stores.orders.create_order(new_order())
    loaded = await stores.orders.get_order(order.id)
    assert loaded.created_at.tzinfo is not None


async def test_start_order_opens_three_sub_tasks_once(stores: Stores) -> None:
    order, _ = await stores.orders.create_order(new_order())
    await stores.progress.start_order(order.id)
    await stores.progress.start_order(order.id)  # an activity may run twice
    started = await stores.orders.get_order(order.id)
    assert started.status is OrderStatus.IN_PROGRESS
    tasks = await stores.orders.get_sub_tasks(order.id)
    assert [t.kind for t in tasks] == list(SubTaskKind)
    events = [e.kind for e in await stores.orders.timeline(order.id)]
    assert events == ["order.received", "order.dispatched"]


async def test_start_order_can_open_the_quality_check_waiting_for_the_line(
    stores: Stores,
) -> None:
    order, _ = await stores.orders.create_order(new_order())
    await stores.progress.start_order(order.id, quality_check="waiting for the line")
    await stores.progress.start_order(order.id, quality_check="again")  # an activity retried
    tasks = {t.kind: t for t in await stores.orders.get_sub_tasks(order.id)}
    quality = tasks[SubTaskKind.QUALITY_CHECK]
    assert (quality.status, quality.detail) == (SubTaskStatus.IN_PROGRESS, "waiting for the line")
    assert tasks[SubTaskKind.ACTIVATION].status is SubTaskStatus.PENDING
    assert tasks[SubTaskKind.ACTIVATION].detail is None


async def test_event_spans_say_when_each_kind_of_event_first_and_last_happened(
    stores: Stores,
) -> None:
    order, _ = await stores.orders.create_order(new_order())
    await stores.progress.start_order(order.id)
    for _ in range(2):
        await stores.attempts.set_sub_task_detail(order.id, SubTaskKind.ACTIVATION, "waiting")
        await stores.progress.hand_to_operations(order.id, SubTaskKind.ACTIVATION, "NMS refused")
    events = await stores.orders.timeline(order.id)
    spans = await stores.orders.event_spans(order.id)
    assert sorted(spans) == sorted({e.kind for e in events})
    for kind, span in spans.items():
        times = [e.at for e in events if e.kind == kind]
        assert (span.first, span.last) == (min(times), max(times))
        assert span.first.tzinfo is not None
    assert await stores.orders.event_spans("no-such-order") == {}


async def test_order_kind_is_what_the_order_was_taken_with(stores: Stores) -> None:
    order, _ = await stores.orders.create_order(new_order())
    kind = await stores.orders.order_kind(order.id)
    assert kind == OrderKind(
        id=order.id, region=order.region, service_type=order.service_type, profile=order.profile
    )
    assert isinstance(kind.service_type, ServiceType)


async def test_unknown_order(stores: Stores) -> None:
    with pytest.raises(OrderNotFound):
        await stores.orders.get_order("nope")
    with pytest.raises(OrderNotFound):
        await stores.orders.order_kind("nope")
    with pytest.raises(OrderNotFound):
        await stores.progress.start_order("nope")


def _data(port: int) -> ActivationData:
    return ActivationData(
        olt_id="olt-x", pon_port=1, ont_id=port, vlan=100, profile="P", nms_profile_name="P"
    )


async def test_attempt_data_is_planned_from_history_and_reused_on_retry(
    stores: Stores,
) -> None:
    order, _ = await stores.orders.create_order(new_order())
    await stores.progress.start_order(order.id)
    seen: list[list[PastAttempt]] = []

    def plan(history: list[PastAttempt]) -> ActivationData:
        seen.append(history)
        return _data(port=len(history) + 1)

    first = await stores.attempts.begin_attempt(order.id, SubTaskKind.ACTIVATION, 1, plan)
    assert first is not None and first["ont_id"] == 1
    # The same attempt again (Temporal retried the activity): same data, no new plan.
    assert await stores.attempts.begin_attempt(order.id, SubTaskKind.ACTIVATION, 1, plan) == first
    assert len(seen) == 1

    await stores.attempts.finish_attempt(
        order.id,
        SubTaskKind.ACTIVATION,
        1,
        succeeded=False,
        result={"state": "failed"},
        error_code="ONT_ID_IN_USE",
        detail="ONT_ID_IN_USE: in use",
    )
    second = await stores.attempts.begin_attempt(order.id, SubTaskKind.ACTIVATION, 2, plan)
    assert second is not None and second["ont_id"] == 2
    assert seen[1] == [PastAttempt(1, first, AttemptOutcome.FAILED, "ONT_ID_IN_USE")]

    await stores.attempts.finish_attempt(
        order.id, SubTaskKind.ACTIVATION, 2, succeeded=True, result={"state": "completed"}
    )
    attempts = await stores.attempts.attempts(order.id, SubTaskKind.ACTIVATION)
    assert [(a.attempt, a.outcome, a.data) for a in attempts] == [
        (1, AttemptOutcome.FAILED, first),
        (2, AttemptOutcome.SUCCEEDED, second),
    ]
    (task,) = [
        t for t in await stores.orders.get_sub_tasks(order.id) if t.kind is SubTaskKind.ACTIVATION
    ]
    assert task.status is SubTaskStatus.SUCCEEDED
    assert task.attempts == 2
    assert task.data == second
    assert task.result == {"state": "completed"}


async def test_working_profile_names_are_the_latest_successful_per_olt(
    stores: Stores,
) -> None:
    profile, other = f"fibre-{uuid.uuid4().hex[:6]}", f"copper-{uuid.uuid4().hex[:6]}"

    async def activated(olt_id: str, profile: str, name: str, *, succeeded: bool = True) -> None:
        order, _ = await stores.orders.create_order(new_order())
        await stores.progress.start_order(order.id)
        data = ActivationData(
            olt_id=olt_id, pon_port=1, ont_id=1, vlan=100, profile=profile, nms_profile_name=name
        )
        await stores.attempts.begin_attempt(
            order.id, SubTaskKind.ACTIVATION, 1, lambda history: data
        )
        await stores.attempts.finish_attempt(
            order.id, SubTaskKind.ACTIVATION, 1, succeeded=succeeded, result={}
        )

    await activated("olt-a", profile, "FTTH_OLD")
    await activated("olt-a", profile, "FTTH_NEW")
    await activated("olt-a", profile, "FTTH_REFUSED", succeeded=False)
    await activated("olt-b", profile, "FTTH_OLD")
    await activated("olt-b", other, "COPPER")
    assert await stores.attempts.working_profile_names(profile) == {
        "olt-a": "FTTH_NEW",
        "olt-b": "FTTH_OLD",
    }
    assert await stores.attempts.working_profile_names(other) == {"olt-b": "COPPER"}
    # only the latest successful activations count: here the last two
    assert await stores.attempts.working_profile_names(profile, recent=2) == {"olt-b": "FTTH_OLD"}
    assert await stores.attempts.working_profile_names(f"none-{profile}") == {}


async def test_finishing_twice_keeps_the_first_result(stores: Stores) -> None:
    order, _ = await stores.orders.create_order(new_order())
    await stores.progress.start_order(order.id)
    await stores.attempts.begin_attempt(order.id, SubTaskKind.ACTIVATION, 1, lambda h: _data(1))
    for succeeded in (True, False):
        await stores.attempts.finish_attempt(
            order.id, SubTaskKind.ACTIVATION, 1, succeeded=succeeded, result={"n": succeeded}
        )
    (attempt,) = await stores.attempts.attempts(order.id, SubTaskKind.ACTIVATION)
    assert attempt.outcome is AttemptOutcome.SUCCEEDED


async def test_plan_that_finds_nothing_stores_nothing(stores: Stores) -> None:
    order, _ = await stores.orders.create_order(new_order())
    await stores.progress.start_order(order.id)
    assert (
        await stores.attempts.begin_attempt(order.id, SubTaskKind.ACTIVATION, 1, lambda h: None)
        is None
    )
    assert await stores.attempts.attempts(order.id) == []


async def test_complete_order_stores_status_and_outcomes(stores: Stores) -> None:
    order, _ = await stores.orders.create_order(new_order())
    await stores.progress.start_order(order.id)
    outcomes = [
        SubTaskOutcome(kind=SubTaskKind.CONSTRUCTION, status=SubTaskStatus.SUCCEEDED),
        SubTaskOutcome(kind=SubTaskKind.ACTIVATION, status=SubTaskStatus.FAILED, reason="x"),
        SubTaskOutcome(kind=SubTaskKind.QUALITY_CHECK, status=SubTaskStatus.SKIPPED, reason="y"),
    ]
    decision = OrderDecision(status=OrderStatus.FAILED, reason="activation failed: x")
    await stores.progress.complete_order(order.id, decision, outcomes)
    done = await stores.orders.get_order(order.id)
    assert done.status is OrderStatus.FAILED
    assert done.completed_at is not None
    await stores.progress.complete_order(order.id, decision, outcomes)
    again = await stores.orders.get_order(order.id)
    assert again.completed_at == done.completed_at
    statuses = {t.kind: t.status for t in await stores.orders.get_sub_tasks(order.id)}
    assert statuses == {o.kind: o.status for o in outcomes}
    assert [e.kind for e in await stores.orders.timeline(order.id)].count("order.failed") == 1


async def test_list_orders_filters_and_pages(stores: Stores) -> None:
    region = f"list-{uuid.uuid4().hex[:8]}"
    ids = []
    for _ in range(3):
        order, _ = await stores.orders.create_order(new_order(region=region))
        ids.append(order.id)
    await stores.progress.start_order(ids[0])
    page, total = await stores.orders.list_orders(region=region, limit=2)
    assert total == 3
    assert len(page) == 2
    last = page[-1]
    rest, _ = await stores.orders.list_orders(
        region=region, limit=2, after=(last.created_at, last.id)
    )
    assert {o.id for o in [*page, *rest]} == set(ids)
    started, count = await stores.orders.list_orders(region=region, status=OrderStatus.IN_PROGRESS)
    assert count == 1 and started[0].id == ids[0]


async def test_orders_are_found_by_what_the_front_desk_types(stores: Stores) -> None:
    """Any part of the reference, the name (any case, any script), the street or the
    district; the phone's digits however it was written; ``%`` and ``_`` as themselves."""
    region = f"find-{uuid.uuid4().hex[:8]}"
    tag = uuid.uuid4().hex[:6]
    zhang, _ = await stores.orders.create_order(
        new_order(
            region=region,
            external_reference=f"FD-{tag}-0001",
            customer_name="张伟",
            customer_phone="+86 138-0013 8000",
            district="海淀区",
            street="中关村大街",
        )
    )
    smith, _ = await stores.orders.create_order(
        new_order(
            region=region,
            external_reference=f"CRM-{tag}_100%",
            customer_name="Anna Smith",
            customer_phone="030 1234567",
        )
    )

    async def found(text: str) -> set[str]:
        orders, total = await stores.orders.list_orders(region=region, text=text)
        assert total == len(orders)
        return {o.id for o in orders}

    assert await found(tag) == {zhang.id, smith.id}
    assert await found(f"fd-{tag}") == {zhang.id}
    assert await found("张") == {zhang.id}
    assert await found("SMITH") == {smith.id}
    assert await found("中关村") == {zhang.id}
    assert await found("海淀") == {zhang.id}
    assert await found("13800138000") == {zhang.id}
    assert await found("138 0013") == {zhang.id}
    assert await found("1234567") == {smith.id}
    assert await found("_100%") == {smith.id}
    assert await found("%") == {smith.id}
    assert await found("0001") == {zhang.id}
    assert await found(zhang.id) == {zhang.id}
    assert await found("李") == set()


async def test_shipped_technicians_are_seeded_once(stores: Stores) -> None:
    from workorders.reference import load_regions

    await stores.db.seed(load_regions())
    technicians = await stores.technicians.list_technicians()
    north = [t.id for t in technicians if t.regions == ["north"]]
    assert sorted(north) == ["tech-north-1", "tech-north-2", "tech-north-3"]


async def test_an_olt_the_operator_took_out_is_not_seeded_again(stores: Stores) -> None:
    """``workorders migrate`` seeds at every deployment: a decommissioned OLT stays out,
    while a region with no OLT yet gets its shipped ones."""
    from workorders.importing import ImportKind, OltRow, RegionRow
    from workorders.reference import Olt, Region, Regions

    code = f"seed-{uuid.uuid4().hex[:8]}"
    row = RegionRow(
        id=code,
        name=code,
        country="DE",
        postcode_prefixes=[f"9{uuid.uuid4().int % 10_000:04d}"],
        vlan_low=3000,
        vlan_high=3099,
        test_servers=["speedtest-core-1"],
    )
    await stores.imports.apply(ImportKind.REGIONS, [(2, row)], dry_run=False)
    shipped = Region(
        code=code,
        name=code,
        postcode_prefixes=row.postcode_prefixes,
        vlan_range=(3000, 3099),
        test_servers=row.test_servers,
        olts=[Olt(id=f"{code}-olt-1", pon_ports=2), Olt(id=f"{code}-olt-2", pon_ports=2)],
    )
    await stores.db.seed(Regions([shipped]))
    assert {o.id for o in await stores.inventory.olts(code)} == {f"{code}-olt-1", f"{code}-olt-2"}
    out = OltRow(
        id=f"{code}-olt-2", region=code, pon_ports=2, vlan_low=3000, vlan_high=3099, remove=True
    )
    await stores.imports.apply(ImportKind.INVENTORY, [(2, out)], dry_run=False)

    await stores.db.seed(Regions([shipped]))

    assert {o.id for o in await stores.inventory.olts(code)} == {f"{code}-olt-1"}


async def test_a_sub_task_says_what_it_does(stores: Stores) -> None:
    order, _ = await stores.orders.create_order(new_order())
    with pytest.raises(OrderNotFound):  # not dispatched yet
        await stores.attempts.set_sub_task_detail(order.id, SubTaskKind.QUALITY_CHECK, "waiting")
    await stores.progress.start_order(order.id)
    await stores.attempts.set_sub_task_detail(
        order.id, SubTaskKind.QUALITY_CHECK, "waiting for the line"
    )
    tasks = {t.kind: t for t in await stores.orders.get_sub_tasks(order.id)}
    check = tasks[SubTaskKind.QUALITY_CHECK]
    assert (check.status, check.detail) == (SubTaskStatus.IN_PROGRESS, "waiting for the line")
    assert tasks[SubTaskKind.ACTIVATION].status is SubTaskStatus.PENDING
