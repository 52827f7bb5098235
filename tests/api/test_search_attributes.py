"""The search attributes operations filter on in the Temporal UI, kept current by the
workflow, on a real Temporal dev server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from temporalio.common import TypedSearchAttributes

from tests.api.conftest import System
from tests.api.test_orders import assigned, create, report, wait_for
from workflows import search_attributes as search


async def attributes(system: System, workflow_id: str) -> TypedSearchAttributes:
    return (
        await system.temporal.get_workflow_handle(workflow_id).describe()
    ).typed_search_attributes


async def until(
    system: System, workflow_id: str, check: Callable[[TypedSearchAttributes], bool]
) -> TypedSearchAttributes:
    for _ in range(100):
        found = await attributes(system, workflow_id)
        if check(found):
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"search attributes never got there: {found}")


async def test_search_attributes_follow_the_order(system: System) -> None:
    order = await create(system)
    workflow_id = order["workflow_id"]
    technician = await assigned(system, order["id"])
    found = await until(system, workflow_id, lambda a: a.get(search.TECHNICIAN) == technician)
    assert found.get(search.ORDER_STATUS) == "in_progress"
    assert found.get(search.REGION) == "north"
    assert found.get(search.SERVICE_TYPE) == "FTTH"

    for state in ("accepted", "on_site"):
        assert (await report(system, order["id"], technician, state)).status_code == 200
    done = await report(system, order["id"], technician, "completed", ont_serial="HWTC7777")
    assert done.status_code == 200
    await wait_for(system, order["id"], lambda o: o["status"] == "completed")
    await until(system, workflow_id, lambda a: a.get(search.ORDER_STATUS) == "completed")

    query = (
        f"WorkflowId = '{workflow_id}' AND WorkOrderStatus = 'completed'"
        " AND WorkOrderRegion = 'north'"
    )
    listed: list[Any] = []
    for _ in range(100):
        listed = [w.id async for w in system.temporal.list_workflows(query)]
        if listed:
            break
        await asyncio.sleep(0.1)
    assert listed == [workflow_id]


async def test_waiting_for_operations_is_searchable(system: System) -> None:
    healthy = system.nms.config
    from dataclasses import replace

    system.nms.config = replace(healthy, faulty_port_rate=1.0)
    try:
        order = await create(system)
        found = await until(
            system, order["workflow_id"], lambda a: a.get(search.WAITING_FOR) == ["activation"]
        )
        assert found.get(search.ORDER_STATUS) == "waiting_for_operations"
        abort = await system.http.post(
            f"/orders/{order['id']}/activation/operations",
            json={"action": "abort", "reason": "test over"},
        )
        assert abort.status_code == 200
        found = await until(system, order["workflow_id"], lambda a: not a.get(search.WAITING_FOR))
        assert found.get(search.ORDER_STATUS) == "in_progress"
    finally:
        system.nms.config = healthy
