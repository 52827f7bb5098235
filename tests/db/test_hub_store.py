"""TMF641 notifications in the work-order database, on SQLite and on PostgreSQL: the
outbox written with each change of an order, and the deliverer sending it to a real
HTTP listener (signed, in order, again after the listener was down, removed on 410,
and nothing lost when a deliverer dies mid-delivery)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from sqlalchemy import Connection, func, select, update

from models.enums import CannotCompleteReason, JobState, OrderStatus, SlaState, SubTaskKind
from models.payloads import ConstructionReport, OrderDecision, SubTaskOutcome
from models.tables import WorkOrder, utcnow
from tests.db.test_construction_store import assign, region_with, started
from tests.factories import new_order
from tests.listener import Received, listening
from workorders.config import Settings
from workorders.feed import OrderFeed
from workorders.hub import Backoff, Deliverer, delivering, proxy_for
from workorders.store import Stores
from workorders.store.base import add_event
from workorders.store.hub import DELIVERIES, DELIVERY, EVENTS, HUB_EVENT, Outcome, Run
from workorders.store.outbox import in_state
from workorders.tmf641 import STATES, service_order_state
from workorders.tmf641.events import (
    CANCEL_CREATE,
    CANCEL_STATE_CHANGE,
    CREATE,
    INFORMATION_REQUIRED,
    JEOPARDY,
    MILESTONE,
    SIGNATURE_HEADER,
    STATE_CHANGE,
    sign,
)

SECRET = "a-listener-secret-0123"
BASE_URL = "https://api.example.com"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        yield session


def deliverer(stores: Stores, http: aiohttp.ClientSession, lease_s: float = 3600) -> Deliverer:
    """A deliverer whose retries come at once (a failure waits 0.5 to 1 ms)."""
    return Deliverer(
        stores.hub,
        http,
        backoff=Backoff(base_s=0.001, most_s=0.001),
        lease=timedelta(seconds=lease_s),
        base_url=BASE_URL,
    )


async def outbox(stores: Stores, order_id: str) -> list[tuple[str, str]]:
    """The order's events in the outbox, in order: (eventId, eventType)."""

    def read(connection: Connection) -> list[tuple[str, str]]:
        query = (
            select(HUB_EVENT.event_id, HUB_EVENT.event_type)
            .where(HUB_EVENT.order_id == order_id)
            .order_by(HUB_EVENT.id)
        )
        return [(a, b) for a, b in connection.execute(query)]

    return await stores.db.run_on_connection(read)


async def deliver_all(d: Deliverer, listener_id: str, count: int) -> None:
    """Rounds until the listener's ``count`` deliveries were all delivered."""
    for _ in range(500):
        await d.run_once()
        deliveries = await d.store.deliveries(listener_id)
        if len(deliveries) >= count and all(x.delivered_at for x in deliveries):
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"not delivered: {await d.store.deliveries(listener_id)}")


async def rounds(d: Deliverer, n: int) -> None:
    for _ in range(n):
        await d.run_once()
        await asyncio.sleep(0.002)


def checked(got: list[Received]) -> list[dict[str, object]]:
    """The bodies received, each checked against its signature."""
    for r in got:
        assert r.headers[SIGNATURE_HEADER.lower()] == sign(SECRET, r.body)
        assert r.headers["content-type"] == "application/json"
    return [r.json for r in got]


async def whole_life(stores: Stores, region: str, technician: str) -> WorkOrder:
    """An order through its technician's progress, a jeopardy, a wait for operations
    and completion."""
    order = await started(stores, region)
    await assign(stores, order)
    for state in (JobState.ACCEPTED, JobState.EN_ROUTE, JobState.ON_SITE):
        await stores.reports.record_report(
            order.id, ConstructionReport(technician_id=technician, state=state)
        )
    await stores.progress.set_sla_state(order.id, SlaState.JEOPARDY)
    await stores.reports.record_report(
        order.id,
        ConstructionReport(technician_id=technician, state=JobState.COMPLETED, ont_serial="HWTC-1"),
    )
    await stores.progress.hand_to_operations(order.id, SubTaskKind.ACTIVATION, "no port free")
    await stores.progress.hand_to_operations(order.id, SubTaskKind.ACTIVATION, None)
    await stores.progress.complete_order(
        order.id,
        OrderDecision(status=OrderStatus.COMPLETED),
        [SubTaskOutcome(kind=k, status="succeeded") for k in SubTaskKind],
    )
    return order


async def test_the_outbox_tells_an_orders_whole_life_in_order(stores: Stores) -> None:
    region, (technician,) = await region_with(stores, ("a", 1))

    order = await whole_life(stores, region, technician)

    told = [t for _, t in await outbox(stores, order.id)]
    assert told == [
        CREATE,
        STATE_CHANGE,  # inProgress
        MILESTONE,  # assigned
        MILESTONE,  # accepted
        MILESTONE,  # en_route
        MILESTONE,  # on_site
        JEOPARDY,
        MILESTONE,  # completed
        INFORMATION_REQUIRED,
        STATE_CHANGE,  # held
        STATE_CHANGE,  # inProgress
        STATE_CHANGE,  # completed
    ]
    assert len({e for e, _ in await outbox(stores, order.id)}) == len(told)


async def test_a_cancelled_order_tells_its_cancellation(stores: Stores) -> None:
    region, _ = await region_with(stores, ("a", 1))
    order = await started(stores, region)

    await stores.cancellation.record_cancellation(order.id, "front_desk:crm", "moved")
    await stores.progress.complete_order(
        order.id,
        OrderDecision(status=OrderStatus.CANCELLED, reason="moved"),
        [SubTaskOutcome(kind=k, status="cancelled") for k in SubTaskKind],
    )

    told = [t for _, t in await outbox(stores, order.id)]
    assert told == [
        CREATE,
        STATE_CHANGE,  # inProgress
        CANCEL_CREATE,
        STATE_CHANGE,  # pendingCancellation
        STATE_CHANGE,  # cancelled
        CANCEL_STATE_CHANGE,
    ]
    assert await states_told(stores, order.id) == [
        "inProgress",
        "pendingCancellation",
        "cancelled",
    ]


async def states_told(stores: Stores, order_id: str) -> list[str]:
    """The states the order's state change events told, in order."""

    def read(connection: Connection) -> list[str]:
        query = (
            select(HUB_EVENT.state)
            .where(HUB_EVENT.order_id == order_id, HUB_EVENT.event_type == STATE_CHANGE)
            .order_by(HUB_EVENT.id)
        )
        return list(connection.execute(query).scalars())

    return await stores.db.run_on_connection(read)


async def report(stores: Stores, order: WorkOrder, technician: str, *states: JobState) -> None:
    for state in states:
        await stores.reports.record_report(
            order.id,
            ConstructionReport(
                technician_id=technician,
                state=state,
                ont_serial="HWTC-1" if state is JobState.COMPLETED else None,
                reason_code=(
                    CannotCompleteReason.CUSTOMER_ABSENT
                    if state is JobState.CANNOT_COMPLETE
                    else None
                ),
            ),
        )


async def test_waiting_for_a_technician_or_the_customer_is_told_as_pending(
    stores: Stores,
) -> None:
    region, (technician,) = await region_with(stores, ("a", 1))
    first = await started(stores, region)
    await assign(stores, first)
    second = await started(stores, region)

    assert await assign(stores, second) is None  # queued: the technician has no room
    await report(stores, first, technician, JobState.ACCEPTED, JobState.ON_SITE)
    await report(stores, first, technician, JobState.COMPLETED)
    assert await assign(stores, second) == technician
    await report(stores, second, technician, JobState.ACCEPTED, JobState.CANNOT_COMPLETE)
    await stores.assignment.reschedule_visit(second.id, 2)  # the customer was absent
    await report(stores, second, technician, JobState.ACCEPTED)

    assert await states_told(stores, second.id) == [
        "inProgress",
        "pending",  # queued
        "inProgress",  # assigned
        "pending",  # a new visit, to be agreed with the customer
        "inProgress",  # accepted
    ]
    assert await states_told(stores, first.id) == ["inProgress"]


async def test_a_failed_order_with_work_done_is_told_as_partial(stores: Stores) -> None:
    region, (technician,) = await region_with(stores, ("a", 1))
    installed, nothing = await started(stores, region), await started(stores, region)
    await assign(stores, installed)
    await report(stores, installed, technician, JobState.ACCEPTED, JobState.ON_SITE)
    await report(stores, installed, technician, JobState.COMPLETED)
    failed = [
        SubTaskOutcome(kind=SubTaskKind.ACTIVATION, status="failed", reason="port faulty"),
        SubTaskOutcome(kind=SubTaskKind.QUALITY_CHECK, status="skipped"),
    ]

    await stores.progress.complete_order(
        installed.id,
        OrderDecision(status=OrderStatus.FAILED, reason="activation failed"),
        [SubTaskOutcome(kind=SubTaskKind.CONSTRUCTION, status="succeeded"), *failed],
    )
    await stores.progress.complete_order(
        nothing.id,
        OrderDecision(status=OrderStatus.FAILED, reason="customer declined"),
        [SubTaskOutcome(kind=SubTaskKind.CONSTRUCTION, status="failed"), *failed],
    )

    assert (await states_told(stores, installed.id))[-1] == "partial"
    assert (await states_told(stores, nothing.id))[-1] == "failed"


async def test_the_state_filter_in_sql_is_the_state_of_each_order(stores: Stores) -> None:
    region, _ = await region_with(stores, ("a", 1))
    assigned, queued, cancelling, held, partial, failed = [
        await started(stores, region) for _ in range(6)
    ]
    await stores.orders.create_order(new_order(region=region))  # acknowledged
    await assign(stores, assigned)
    await assign(stores, queued)
    await stores.cancellation.record_cancellation(cancelling.id, "crm", "moved")
    await stores.progress.hand_to_operations(held.id, SubTaskKind.ACTIVATION, "no port")
    construction_failed = SubTaskOutcome(kind=SubTaskKind.CONSTRUCTION, status="failed")
    await stores.progress.complete_order(
        partial.id,
        OrderDecision(status=OrderStatus.FAILED, reason="customer declined"),
        [SubTaskOutcome(kind=SubTaskKind.ACTIVATION, status="succeeded"), construction_failed],
    )
    await stores.progress.complete_order(
        failed.id,
        OrderDecision(status=OrderStatus.FAILED, reason="customer declined"),
        [construction_failed],
    )
    orders, _ = await stores.orders.list_orders(region=region)
    expected = {
        o.id: service_order_state(
            o, await stores.orders.get_sub_tasks(o.id), await stores.orders.timeline(o.id)
        )
        for o in orders
    }
    assert set(expected.values()) == {
        "acknowledged",
        "inProgress",
        "pending",
        "held",
        "pendingCancellation",
        "partial",
        "failed",
    }

    for state in STATES:
        found, total = await stores.orders.list_orders(region=region, matching=in_state(state))
        assert {o.id for o in found} == {i for i, s in expected.items() if s == state}, state
        assert total == len(found)


async def test_no_event_without_its_change(stores: Stores) -> None:
    region, _ = await region_with(stores, ("a", 1))
    order = await started(stores, region)
    before = await outbox(stores, order.id)

    def fails(connection: Connection) -> None:
        add_event(connection, order.id, "x", "construction.assigned", utcnow())
        raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        await stores.db.transaction(fails)

    assert await outbox(stores, order.id) == before


async def test_a_real_listener_gets_everything_signed_in_order_again_after_downtime_and_410(
    stores: Stores, http: aiohttp.ClientSession
) -> None:
    region, (technician,) = await region_with(stores, ("a", 1))
    d = deliverer(stores, http)
    async with listening() as listener:
        registered = await stores.hub.register(listener.url, None, SECRET, "front_desk:crm")
        order = await whole_life(stores, region, technician)
        expected = await outbox(stores, order.id)

        await deliver_all(d, registered.id, len(expected))

        bodies = checked(listener.received)
        mine = [b for b in bodies if b["correlationId"] == order.id]
        assert [(b["eventId"], b["eventType"]) for b in mine] == expected
        first = mine[0]["event"]["serviceOrder"]  # type: ignore[index]
        assert first["href"] == f"{BASE_URL}/tmf-api/serviceOrdering/v4/serviceOrder/{order.id}"
        port = listener.port

    # Down: what happens meanwhile is tried, and waits.
    other = await started(stores, region)
    await stores.cancellation.record_cancellation(other.id, "front_desk:crm", "moved")
    missed = await outbox(stores, other.id)
    await rounds(d, 5)
    waiting = [x for x in await stores.hub.deliveries(registered.id) if x.delivered_at is None]
    assert waiting and waiting[0].attempts >= 1 and waiting[0].last_error
    assert all(x.attempts == 0 for x in waiting[1:])  # later events wait for the first

    async with listening(port) as back:
        await deliver_all(d, registered.id, len(expected) + len(missed))
        got = [b for b in checked(back.received) if b["correlationId"] == other.id]
        assert [(b["eventId"], b["eventType"]) for b in got] == missed

        back.status = 410
        await stores.progress.set_sla_state(other.id, SlaState.BREACHED)
        for _ in range(500):
            await d.run_once()
            if await stores.hub.get(registered.id) is None:
                break
            await asyncio.sleep(0.005)
        assert await stores.hub.get(registered.id) is None
        assert await stores.hub.deliveries(registered.id) == []


async def test_a_listener_behind_the_environments_proxy_is_reached_through_it(
    stores: Stores, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    region, _ = await region_with(stores, ("a", 1))
    async with listening() as proxy:  # takes the absolute-form requests a proxy gets
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.delenv("http_proxy", raising=False)
        monkeypatch.setenv("NO_PROXY", "localhost")
        proxy_for.cache_clear()
        callback = "http://crm.invalid:8080/events"  # resolvable by the proxy alone
        registered = await stores.hub.register(callback, None, SECRET, "operations:o")
        try:
            order = await started(stores, region)
            expected = await outbox(stores, order.id)
            await deliver_all(deliverer(stores, http), registered.id, len(expected))
        finally:
            proxy_for.cache_clear()
        got = [r for r in proxy.received if r.json["correlationId"] == order.id]
        assert [r.path for r in got] == [callback] * len(expected)
        assert [(r.json["eventId"], r.json["eventType"]) for r in got] == expected
        await stores.hub.remove(registered.id)


async def test_the_query_filters_what_a_listener_gets(
    stores: Stores, http: aiohttp.ClientSession
) -> None:
    region, _ = await region_with(stores, ("a", 1))
    d = deliverer(stores, http)
    async with listening() as listener:
        registered = await stores.hub.register(
            listener.url, f"eventType={STATE_CHANGE}", SECRET, "operations:o"
        )
        order = await started(stores, region)
        await deliver_all(d, registered.id, 1)
        await rounds(d, 3)

        types = {b["eventType"] for b in checked(listener.received)}
        assert types == {STATE_CHANGE}
        mine = [b for b in checked(listener.received) if b["correlationId"] == order.id]
        assert len(mine) == 1
        await stores.hub.remove(registered.id)


async def test_a_deliverer_killed_mid_delivery_loses_nothing(
    stores: Stores, http: aiohttp.ClientSession
) -> None:
    region, _ = await region_with(stores, ("a", 1))
    async with listening() as listener:
        registered = await stores.hub.register(listener.url, None, SECRET, "operations:o")
        order = await started(stores, region)
        expected = await outbox(stores, order.id)
        listener.hang = True  # the process dies while the POST is out

        async with aiohttp.ClientSession() as hanging:
            first = deliverer(stores, hanging)
            task = asyncio.create_task(first.run())
            await listener.arrived.wait()
            task.cancel()  # killed: nothing after the claim was written
            with pytest.raises(asyncio.CancelledError):
                await task
        listener.hang = False

        second = deliverer(stores, http)
        await rounds(second, 3)
        # The lease of the dead one holds: nobody sends what it may be sending.
        assert not [b for b in listener.received if b.json["correlationId"] == order.id]
        assert listener.requests == 1
        leased = [x for x in await stores.hub.deliveries(registered.id) if x.lease_until]
        assert leased

        def lease_ends(connection: Connection) -> None:
            connection.execute(
                update(DELIVERIES)
                .where(DELIVERY.listener_id == registered.id)
                .values(lease_until=datetime(2000, 1, 1, tzinfo=UTC))
            )

        await stores.db.transaction(lease_ends)  # its hour has passed
        await deliver_all(second, registered.id, len(expected))

        got = [b for b in checked(listener.received) if b["correlationId"] == order.id]
        assert [(b["eventId"], b["eventType"]) for b in got] == expected
        await stores.hub.remove(registered.id)


async def test_deliverers_side_by_side_send_each_event_once_in_order(
    stores: Stores, http: aiohttp.ClientSession
) -> None:
    region, (technician,) = await region_with(stores, ("a", 5))
    async with listening() as listener:
        registered = await stores.hub.register(listener.url, None, SECRET, "operations:o")
        orders = [await whole_life(stores, region, technician) for _ in range(3)]
        expected = {o.id: await outbox(stores, o.id) for o in orders}
        many = [deliverer(stores, http) for _ in range(4)]

        for _ in range(500):
            await asyncio.gather(*(d.run_once() for d in many))
            deliveries = await stores.hub.deliveries(registered.id)
            total = sum(len(e) for e in expected.values())
            if len(deliveries) >= total and all(x.delivered_at for x in deliveries):
                break
            await asyncio.sleep(0.002)

        bodies = checked(listener.received)
        for order_id, events in expected.items():
            got = [(b["eventId"], b["eventType"]) for b in bodies if b["correlationId"] == order_id]
            assert got == events  # once each, in order
        await stores.hub.remove(registered.id)


async def test_a_listener_slow_to_answer_does_not_hold_back_the_others(
    stores: Stores, http: aiohttp.ClientSession
) -> None:
    region, _ = await region_with(stores, ("a", 1))
    async with listening() as slow, listening() as fast:
        stuck = await stores.hub.register(slow.url, None, SECRET, "operations:o")
        quick = await stores.hub.register(fast.url, None, SECRET, "operations:o")
        slow.hang = True  # takes its first POST and never answers
        d = deliverer(stores, http)
        d.straggler_wait_s = 0.01
        order = await started(stores, region)
        first = await outbox(stores, order.id)
        await deliver_all(d, quick.id, len(first))
        await stores.cancellation.record_cancellation(order.id, "operations:o", "moved")
        expected = await outbox(stores, order.id)

        # Rounds go on while the slow one's run is out: the fast one gets the order's
        # later events too; the slow one was sent its first and nothing after it.
        await deliver_all(d, quick.id, len(expected))
        assert slow.requests == 1 and slow.received == []
        got = [b for b in checked(fast.received) if b["correlationId"] == order.id]
        assert [(b["eventId"], b["eventType"]) for b in got] == expected

        slow.hang = False
        slow.closing.set()  # the stuck POST ends without an answer: tried again
        await deliver_all(d, stuck.id, len(expected))
        got = [b for b in checked(slow.received) if b["correlationId"] == order.id]
        assert [(b["eventId"], b["eventType"]) for b in got] == expected
        await stores.hub.remove(stuck.id)
        await stores.hub.remove(quick.id)


async def test_fan_out_skips_events_before_a_listener_and_marks_them(stores: Stores) -> None:
    region, _ = await region_with(stores, ("a", 1))
    order = await started(stores, region)
    registered = await stores.hub.register("http://127.0.0.1:9/x", None, None, "operations:o")
    while await stores.hub.fan_out():
        pass

    def pending(connection: Connection) -> int:
        return len(connection.execute(select(EVENTS).where(HUB_EVENT.fanned_out.is_(False))).all())

    assert await stores.db.run_on_connection(pending) == 0
    mine = [x for x in await stores.hub.deliveries(registered.id) if x.order_id == order.id]
    assert mine == []
    await stores.hub.remove(registered.id)


async def test_the_worker_process_delivers_in_the_background(stores: Stores) -> None:
    region, _ = await region_with(stores, ("a", 1))
    settings = Settings(_env_file=None, hub_poll_interval_s=0.01, public_url=BASE_URL)
    async with listening() as listener:
        registered = await stores.hub.register(listener.url, None, SECRET, "operations:o")
        async with delivering(settings, stores.hub) as running:
            assert running is not None
            order = await started(stores, region)
            expected = await outbox(stores, order.id)
            for _ in range(1000):
                got = [b for b in checked(listener.received) if b["correlationId"] == order.id]
                if len(got) == len(expected):
                    break
                await asyncio.sleep(0.01)
        assert [(b["eventId"], b["eventType"]) for b in got] == expected
        await stores.hub.remove(registered.id)
    off = Settings(_env_file=None, hub_delivery=False)
    async with delivering(off, stores.hub) as running:
        assert running is None


async def hub_rows(stores: Stores, order_ids: list[str]) -> tuple[list[int], list[int]]:
    """The ids of the orders' events in the outbox, and of their deliveries."""

    def read(connection: Connection) -> tuple[list[int], list[int]]:
        events = select(HUB_EVENT.id).where(HUB_EVENT.order_id.in_(order_ids))
        deliveries = select(DELIVERY.id).where(DELIVERY.order_id.in_(order_ids))
        return (
            sorted(connection.execute(events).scalars()),
            sorted(connection.execute(deliveries).scalars()),
        )

    return await stores.db.run_on_connection(read)


async def pruned_to_latest(stores: Stores, order_id: str, latest: int) -> bool:
    """Whether only the order's latest event is left, and no delivery of it but the
    table's newest (kept so that SQLite never gives its id again)."""

    def newest(connection: Connection) -> int | None:
        return connection.execute(select(func.max(DELIVERY.id))).scalar()

    events, deliveries = await hub_rows(stores, [order_id])
    return events == [latest] and set(deliveries) <= {await stores.db.run_on_connection(newest)}


async def test_pruning_removes_what_every_listener_received_and_keeps_what_one_down_needs(
    stores: Stores, http: aiohttp.ClientSession
) -> None:
    region, (technician,) = await region_with(stores, ("a", 1))
    d = deliverer(stores, http)
    long_ago = utcnow() - timedelta(days=30)  # a retention nothing here is older than
    async with listening() as up, listening() as down:
        on = await stores.hub.register(up.url, None, SECRET, "operations:o")
        off = await stores.hub.register(down.url, None, SECRET, "operations:o")
        down.status = 503  # down for now
        order = await whole_life(stores, region, technician)
        expected = await outbox(stores, order.id)
        await deliver_all(d, on.id, len(expected))
        events, _ = await hub_rows(stores, [order.id])

        await stores.hub.prune(long_ago)

        # The listener up has its deliveries removed; the one down keeps everything.
        assert len(await stores.hub.deliveries(on.id)) <= 1  # (the table's newest)
        assert len(await stores.hub.deliveries(off.id)) == len(expected)
        assert (await hub_rows(stores, [order.id]))[0] == events

        down.status = 201  # back
        await deliver_all(d, off.id, len(expected))
        got = [b for b in checked(down.received) if b["correlationId"] == order.id]
        assert [(b["eventId"], b["eventType"]) for b in got] == expected
        await stores.hub.prune(long_ago)

        # Everyone has it all: only the order's latest event is kept (the state it told).
        assert await pruned_to_latest(stores, order.id, events[-1])
        # ... so its next change is still told as one, and ids go on growing.
        await stores.cancellation.record_cancellation(order.id, "crm", "late")
        after, _ = await hub_rows(stores, [order.id])
        assert after[0] == events[-1] and min(after[1:]) > events[-1]
        await stores.hub.remove(on.id)
        await stores.hub.remove(off.id)


async def test_pruning_gives_up_what_is_older_than_the_retention(
    stores: Stores, http: aiohttp.ClientSession
) -> None:
    region, _ = await region_with(stores, ("a", 1))
    d = deliverer(stores, http)
    async with listening() as down:
        down.status = 503
        gone = await stores.hub.register(down.url, None, SECRET, "operations:o")
        old = await started(stores, region)
        await rounds(d, 2)
        cutoff = utcnow()
        recent = await started(stores, region)
        await rounds(d, 2)
        old_events, _ = await hub_rows(stores, [old.id])
        recent_events, recent_deliveries = await hub_rows(stores, [recent.id])

        pruned = await stores.hub.prune(cutoff)

        assert pruned.deliveries >= len(old_events) and pruned.events >= 1
        # The old order's deliveries are given up, its latest event kept; the recent
        # one's, within the retention, all kept for the listener that is down.
        assert await hub_rows(stores, [old.id]) == ([old_events[-1]], [])
        assert await hub_rows(stores, [recent.id]) == (recent_events, recent_deliveries)
        waiting = await stores.hub.deliveries(gone.id)
        assert {x.order_id for x in waiting} == {recent.id}
        await stores.hub.remove(gone.id)


async def test_the_worker_process_prunes_in_the_background(stores: Stores) -> None:
    region, _ = await region_with(stores, ("a", 1))
    settings = Settings(
        _env_file=None, hub_poll_interval_s=0.01, hub_prune_interval_s=0.05, public_url=BASE_URL
    )
    async with listening() as listener:
        registered = await stores.hub.register(listener.url, None, SECRET, "operations:o")
        async with delivering(settings, stores.hub):
            order = await started(stores, region)
            events, _ = await hub_rows(stores, [order.id])
            for _ in range(500):
                if await pruned_to_latest(stores, order.id, events[-1]):
                    break
                await asyncio.sleep(0.01)
        assert await pruned_to_latest(stores, order.id, events[-1])
        assert len([b for b in listener.received if b.json["correlationId"] == order.id]) == 2
        await stores.hub.remove(registered.id)


async def fanned_out(stores: Stores) -> None:
    while await stores.hub.fan_out():
        pass


def of_listener(runs: list[Run], listener_id: str) -> list[Run]:
    """The runs claimed for this listener (the database is the session's: another
    test's listener may have deliveries waiting too)."""
    return [run for run in runs if run[0].listener_id == listener_id]


async def test_an_orders_due_events_are_claimed_as_one_run_and_sent_in_order_in_one_round(
    stores: Stores, http: aiohttp.ClientSession
) -> None:
    region, (technician,) = await region_with(stores, ("a", 2))
    async with listening() as listener:
        registered = await stores.hub.register(listener.url, None, SECRET, "operations:o")
        orders = [await whole_life(stores, region, technician) for _ in range(2)]
        expected = {o.id: await outbox(stores, o.id) for o in orders}
        await fanned_out(stores)

        runs = of_listener(await stores.hub.claim(100, timedelta(hours=1)), registered.id)

        # One run per order, each the order's every event, in order.
        assert sorted((run[0].order_id, [c.event_id for c in run]) for run in runs) == sorted(
            (order_id, [e for e, _ in events]) for order_id, events in expected.items()
        )
        assert all(len({c.lease_until for c in run}) == 1 for run in runs)
        await stores.hub.record([], [c for run in runs for c in run])  # let go again

        await deliverer(stores, http).run_once()  # one round sends them all

        assert all(x.delivered_at for x in await stores.hub.deliveries(registered.id))
        bodies = checked(listener.received)
        for order_id, events in expected.items():
            got = [(b["eventId"], b["eventType"]) for b in bodies if b["correlationId"] == order_id]
            assert got == events
        await stores.hub.remove(registered.id)


async def test_a_failure_mid_run_ends_the_run_keeps_its_backoff_and_the_order(
    stores: Stores, http: aiohttp.ClientSession
) -> None:
    region, _ = await region_with(stores, ("a", 1))
    async with listening() as listener:
        registered = await stores.hub.register(listener.url, None, SECRET, "operations:o")
        order = await started(stores, region)
        await stores.cancellation.record_cancellation(order.id, "operations:o", "moved")
        expected = await outbox(stores, order.id)
        assert len(expected) == 4
        listener.answers = [201, 503]  # the second event fails
        slow = Deliverer(stores.hub, http, backoff=Backoff(3600, 3600), base_url=BASE_URL)

        await slow.run_once()
        await rounds(slow, 3)  # the second waits its backoff: nothing more is sent

        assert listener.requests == 2
        first, second, *rest = await stores.hub.deliveries(registered.id)
        assert first.delivered_at is not None
        assert second.delivered_at is None and second.attempts == 1
        assert second.last_error == "HTTP 503"
        assert second.next_attempt_at > utcnow() + timedelta(minutes=25)
        assert second.lease_until is None
        # The rest of the run was not sent, and let go (not held until a lease ends).
        assert all(x.attempts == 0 and x.lease_until is None and not x.delivered_at for x in rest)

        def backoff_passes(connection: Connection) -> None:
            connection.execute(
                update(DELIVERIES)
                .where(DELIVERY.id == second.id)
                .values(next_attempt_at=datetime(2000, 1, 1, tzinfo=UTC))
            )

        await stores.db.transaction(backoff_passes)
        await deliver_all(deliverer(stores, http), registered.id, len(expected))

        got = [b for b in checked(listener.received) if b["correlationId"] == order.id]
        assert [(b["eventId"], b["eventType"]) for b in got] == expected
        assert listener.requests == len(expected) + 1
        await stores.hub.remove(registered.id)


async def test_claims_side_by_side_never_hold_the_same_orders_events(stores: Stores) -> None:
    region, _ = await region_with(stores, ("a", 1))
    registered = await stores.hub.register("http://127.0.0.1:9/x", None, None, "operations:o")
    orders = [await started(stores, region) for _ in range(6)]
    await fanned_out(stores)

    claims = await asyncio.gather(*(stores.hub.claim(1000, timedelta(hours=1)) for _ in range(4)))

    held = [of_listener(runs, registered.id) for runs in claims]
    orders_held = [[run[0].order_id for run in runs] for runs in held]
    # Every order was taken, each by one claim only, ...
    assert sorted(o for taken in orders_held for o in taken) == sorted(o.id for o in orders)
    ids = [c.id for runs in held for run in runs for c in run]
    assert len(ids) == len(set(ids))
    # ... with all of its events, in order.
    for runs in held:
        for run in runs:
            told = [e for e, _ in await outbox(stores, run[0].order_id)]
            assert [c.event_id for c in run] == told
    # Nothing is left to claim while the leases run.
    assert of_listener(await stores.hub.claim(1000, timedelta(hours=1)), registered.id) == []
    await stores.hub.remove(registered.id)


async def test_a_later_event_waits_for_the_run_held_before_it(stores: Stores) -> None:
    region, _ = await region_with(stores, ("a", 1))
    registered = await stores.hub.register("http://127.0.0.1:9/x", None, None, "operations:o")
    order = await started(stores, region)
    await fanned_out(stores)
    (run,) = of_listener(await stores.hub.claim(100, timedelta(hours=1)), registered.id)

    # A new event of the order while the run is out: nobody sends it before the run.
    await stores.cancellation.record_cancellation(order.id, "operations:o", "moved")
    await fanned_out(stores)
    assert of_listener(await stores.hub.claim(100, timedelta(hours=1)), registered.id) == []

    await stores.hub.record([Outcome(c.id, c.listener_id, c.lease_until) for c in run])
    (after,) = of_listener(await stores.hub.claim(100, timedelta(hours=1)), registered.id)
    told = [e for e, _ in await outbox(stores, order.id)]
    assert [c.event_id for c in run] == told[:2]
    assert [c.event_id for c in after] == told[2:]
    await stores.hub.remove(registered.id)


async def test_a_deliverer_that_outlived_its_lease_records_nothing(stores: Stores) -> None:
    region, _ = await region_with(stores, ("a", 1))
    registered = await stores.hub.register("http://127.0.0.1:9/x", None, None, "operations:o")
    await started(stores, region)
    await fanned_out(stores)
    (late,) = of_listener(await stores.hub.claim(100, timedelta(0)), registered.id)  # ran out

    (run,) = of_listener(await stores.hub.claim(100, timedelta(hours=1)), registered.id)
    assert [c.id for c in run] == [c.id for c in late]  # claimed again, by another

    await stores.hub.record(
        [Outcome(late[0].id, registered.id, late[0].lease_until)],
        late[1:],
    )
    await stores.hub.record(
        [Outcome(late[1].id, registered.id, late[1].lease_until, error="HTTP 500", again=utcnow())]
    )
    deliveries = await stores.hub.deliveries(registered.id)
    assert [(x.delivered_at, x.attempts, x.lease_until) for x in deliveries] == [
        (None, 0, run[0].lease_until),
        (None, 0, run[1].lease_until),
    ]  # the late answers changed nothing: the deliveries are the other one's

    await stores.hub.record([Outcome(c.id, c.listener_id, c.lease_until) for c in run])
    assert all(x.delivered_at for x in await stores.hub.deliveries(registered.id))
    await stores.hub.remove(registered.id)


async def test_on_postgresql_a_new_event_wakes_the_idle_deliverer(
    stores: Stores, http: aiohttp.ClientSession
) -> None:
    if stores.db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no NOTIFY: the deliverer polls")
    region, _ = await region_with(stores, ("a", 1))
    feed = OrderFeed(stores.db.engine.url.render_as_string(hide_password=False))
    async with listening() as listener:
        registered = await stores.hub.register(listener.url, None, SECRET, "operations:o")
        idle = Deliverer(stores.hub, http, poll_interval_s=3600, base_url=BASE_URL, feed=feed)
        task = asyncio.create_task(idle.run())
        try:
            for _ in range(500):  # until it found nothing to do and waits (an hour)
                if not await stores.hub.undelivered() and not await stores.hub.fan_out():
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.5)  # its LISTEN is up; it waits
            order = await started(stores, region)
            expected = await outbox(stores, order.id)
            got: list[dict[str, object]] = []
            for _ in range(1000):
                got = [b for b in checked(listener.received) if b["correlationId"] == order.id]
                if len(got) == len(expected):
                    break
                await asyncio.sleep(0.01)
            assert [(b["eventId"], b["eventType"]) for b in got] == expected
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await feed.close()
        await stores.hub.remove(registered.id)
