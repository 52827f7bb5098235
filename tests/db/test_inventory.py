"""The access-network inventory, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import insert

from models.enums import OrderStatus, SubTaskKind, SubTaskStatus
from models.payloads import ActivationData, OrderDecision, SubTaskOutcome
from models.tables import OltRecord, WorkOrder
from tests.factories import held_by, new_order
from workorders.planning import Occupancy
from workorders.store import ResourceTaken, Stores
from workorders.store.base import TABLES


def data(olt: str, port: int = 1, ont: int = 1, vlan: int = 100) -> ActivationData:
    return ActivationData(
        olt_id=olt,
        pon_port=port,
        ont_id=ont,
        vlan=vlan,
        profile="FTTH_300_100",
        nms_profile_name="FTTH_300_100",
    )


async def fresh_olt(stores: Stores) -> str:
    olt = f"olt-{uuid.uuid4().hex[:8]}"

    row = OltRecord(
        id=olt, region=f"r-{olt}", pon_ports=2, onts_per_port=4, vlan_low=100, vlan_high=103
    )
    await stores.db.transaction(
        lambda connection: connection.execute(insert(TABLES["olt"]), row.model_dump())
    )
    return olt


async def order_for(stores: Stores) -> WorkOrder:
    order, _ = await stores.orders.create_order(new_order())
    await stores.progress.start_order(order.id)
    return order


async def hold(stores: Stores, order: WorkOrder, planned: ActivationData, attempt: int = 1) -> None:
    await stores.attempts.begin_attempt(
        order.id,
        SubTaskKind.ACTIVATION,
        attempt,
        lambda h: planned,
        reserve=stores.inventory.reserver(order.id),
    )


async def test_shipped_olts_are_seeded(stores: Stores) -> None:
    olts = await stores.inventory.olts("north")
    assert [o.id for o in olts] == ["olt-north-01", "olt-north-02"]
    assert all(o.onts_per_port == 64 for o in olts)


async def test_a_slot_or_a_vlan_on_a_port_is_held_by_one_order(stores: Stores) -> None:
    inventory = stores.inventory
    olt = await fresh_olt(stores)
    first, second = await order_for(stores), await order_for(stores)
    await hold(stores, first, data(olt, ont=1, vlan=100))
    with pytest.raises(ResourceTaken):
        await hold(stores, second, data(olt, ont=1, vlan=101))  # same slot
    with pytest.raises(ResourceTaken):
        await hold(stores, second, data(olt, ont=2, vlan=100))  # same VLAN, same port
    await hold(stores, second, data(olt, port=2, ont=1, vlan=100))  # another port: fine
    # Nothing half-written for the refused tries.
    attempts = await stores.attempts.attempts(second.id, SubTaskKind.ACTIVATION)
    assert [a.data["pon_port"] for a in attempts if a.data] == [2]

    taken = await inventory.occupancy([olt], second.id)
    assert taken == Occupancy(slots=frozenset({(olt, 1, 1)}), vlans=frozenset({(olt, 1, 100)}))
    assert await inventory.occupancy([olt], "nobody") == Occupancy(
        slots=frozenset({(olt, 1, 1), (olt, 2, 1)}),
        vlans=frozenset({(olt, 1, 100), (olt, 2, 100)}),
    )


async def test_a_new_attempt_gives_back_what_the_last_one_held(stores: Stores) -> None:
    inventory = stores.inventory
    olt = await fresh_olt(stores)
    order = await order_for(stores)
    await hold(stores, order, data(olt, ont=1))
    await hold(stores, order, data(olt, ont=2), attempt=2)
    held = await held_by(inventory.db, order.id)
    assert [(a.ont_id, a.state) for a in held] == [(2, "allocated")]
    await inventory.confirm(order.id)
    assert [a.state for a in await held_by(inventory.db, order.id)] == ["active"]
    assert await inventory.release(order.id) == 1
    assert await held_by(inventory.db, order.id) == []


async def test_concurrent_orders_never_share_a_slot(stores: Stores) -> None:
    olt = await fresh_olt(stores)
    orders = [await order_for(stores) for _ in range(6)]
    results = await asyncio.gather(
        *(hold(stores, o, data(olt, ont=3, vlan=100 + i)) for i, o in enumerate(orders)),
        return_exceptions=True,
    )
    assert sum(r is None for r in results) == 1
    assert all(isinstance(r, ResourceTaken) for r in results if r is not None)


async def test_refusals_are_learned(stores: Stores) -> None:
    inventory = stores.inventory
    olt = await fresh_olt(stores)
    order = await order_for(stores)
    await inventory.learn(order.id, data(olt, port=1, ont=3), "ONT_ID_IN_USE")
    await inventory.learn(order.id, data(olt, port=1, ont=3), "ONT_ID_IN_USE")  # twice: once
    await inventory.learn(order.id, data(olt, port=2), "PORT_FAULTY")
    await inventory.learn(order.id, data(olt, port=1, vlan=102), "VLAN_TAKEN")
    await inventory.learn(order.id, data(olt), "UNKNOWN_PROFILE")  # says nothing of resources
    assert await inventory.occupancy([olt], order.id) == Occupancy(
        slots=frozenset({(olt, 1, 3)}),
        ports=frozenset({(olt, 2)}),
        vlans=frozenset({(olt, 1, 102)}),
    )
    usage = await inventory.usage(f"r-{olt}")
    assert (usage.slots, usage.blocked_slots, usage.faulty_ports) == (8, 1, 1)


async def test_an_order_that_ends_without_activation_gives_its_resources_back(
    stores: Stores,
) -> None:
    inventory = stores.inventory
    olt = await fresh_olt(stores)
    failed, completed = await order_for(stores), await order_for(stores)
    await hold(stores, failed, data(olt, ont=1))
    await hold(stores, completed, data(olt, ont=2, vlan=101))
    await inventory.confirm(completed.id)

    def outcomes(activation: SubTaskStatus) -> list[SubTaskOutcome]:
        return [
            SubTaskOutcome(kind=SubTaskKind.CONSTRUCTION, status=SubTaskStatus.SUCCEEDED),
            SubTaskOutcome(kind=SubTaskKind.ACTIVATION, status=activation),
            SubTaskOutcome(kind=SubTaskKind.QUALITY_CHECK, status=SubTaskStatus.SUCCEEDED),
        ]

    await stores.progress.complete_order(
        failed.id, OrderDecision(status=OrderStatus.FAILED), outcomes(SubTaskStatus.FAILED)
    )
    await stores.progress.complete_order(
        completed.id, OrderDecision(status=OrderStatus.COMPLETED), outcomes(SubTaskStatus.SUCCEEDED)
    )
    assert await held_by(inventory.db, failed.id) == []
    assert [a.state for a in await held_by(inventory.db, completed.id)] == ["active"]
