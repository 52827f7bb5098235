"""Faults of the parties the system depends on, while orders are in flight: the NMS
down for a while, the database unreachable for a few seconds, the Temporal server
stopped and started again. After each, every order must complete, none activated twice
in the NMS, nothing half-written in the database (:func:`bench.checks.audit`).

The processes are the real commands (``bench.system.Processes``: the Temporal dev
server with its state in a file, ``workorders nms-sim``, ``api`` and ``worker``) on a
fresh PostgreSQL database, whose connections can be refused and cut. They are started
once for the module; each test puts back what it broke. The long runs (a worker
killed with 100 orders in flight, the same faults with more orders) are in
``bench/faults.py``.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bench.faults import Cluster, open_cluster, running_activities
from bench.system import Technicians, refuse_connections, until

pytestmark = pytest.mark.integration

ORDERS = 5


@pytest.fixture(scope="module")
async def cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    try:
        async with open_cluster(tmp_path_factory.mktemp("faults"), postgres=True) as cluster:
            yield cluster
    except LookupError as e:
        pytest.skip(str(e))


async def check(cluster: Cluster, what: str, order_ids: list[str]) -> None:
    """Every order completed, none activated twice, nothing half-written."""
    result = await cluster.audit(order_ids)
    print(result.line(what))
    assert result.ok, (result.line(what), result.problems[:10])


def sub_tasks(orders: dict[str, dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [t for o in orders.values() for t in o["sub_tasks"] if t["kind"] == kind]


async def test_nms_down_for_a_while_orders_wait_then_finish(cluster: Cluster) -> None:
    errors_before = await cluster.activity_errors("activate_resources")
    await cluster.faults(outage_rate=1.0)  # every call: 503
    try:
        async with Technicians(cluster.api, cluster.technicians):
            order_ids = await cluster.create(ORDERS, "nms-down")

            async def waiting() -> bool | None:
                """Every line installed, every activation tried twice in vain."""
                orders = await cluster.statuses(order_ids)
                installed = all(
                    t["status"] == "succeeded" for t in sub_tasks(orders, "construction")
                )
                tries = await cluster.activity_errors("activate_resources") - errors_before
                return True if installed and tries >= 2 * ORDERS else None

            # The installations go on while the NMS is down; the orders wait for it.
            await until("the orders waiting for the NMS", waiting, 60, alive=cluster.processes.dead)
            orders = await cluster.statuses(order_ids)
            assert {o["status"] for o in orders.values()} == {"in_progress"}, orders
            assert not any(t["status"] == "succeeded" for t in sub_tasks(orders, "activation"))
            await cluster.faults(outage_rate=0.0)
            await cluster.all_completed(order_ids, 90)
    finally:
        await cluster.faults(outage_rate=0.0)
    retried = await cluster.activity_errors("activate_resources") - errors_before
    await check(cluster, f"nms_down activation_retries={retried:.0f}", order_ids)


async def test_database_briefly_unreachable_activities_retry_nothing_half_written(
    cluster: Cluster,
) -> None:
    errors_before = await cluster.activity_errors()
    async with Technicians(cluster.api, cluster.technicians):
        order_ids = await cluster.create(ORDERS, "db-down")
        # The workflows have just started: their first writes, the activations' records
        # around the NMS calls, meet a database that is gone.
        assert cluster.postgres is not None
        refuse_connections(cluster.postgres, True)
        try:
            await asyncio.sleep(5)
        finally:
            refuse_connections(cluster.postgres, False)
        await cluster.all_completed(order_ids, 120)
    retried = await cluster.activity_errors() - errors_before
    assert retried > 0, "no activity met the unreachable database"
    await check(cluster, f"database_down activity_retries={retried:.0f}", order_ids)


async def test_temporal_stopped_and_restarted_mid_run_loses_no_order(cluster: Cluster) -> None:
    """Stopped while the orders wait for their technicians (an NMS call cut off by the
    stop would be retried only after its 2-minute timeout: ``bench.faults`` stops it
    anywhere); the front desk creates orders meanwhile."""
    processes = cluster.processes
    order_ids = await cluster.create(ORDERS, "temporal-restart")

    await until(
        "the activations",
        lambda: cluster.sub_tasks_done(order_ids, "activation"),
        60,
        alive=processes.dead,
    )

    async def none_running() -> bool | None:
        # An activity writes its result in the database before Temporal hears of it: one
        # whose completion the stop cut off would be retried only after its timeout.
        return True if not await running_activities(cluster) else None

    await until("the activities' completions", none_running, 60, alive=processes.dead)
    processes.stop(cluster.process("temporal"), signal.SIGTERM)
    # While it is down, the API still takes orders: stored, started once it is back.
    started = time.monotonic()
    order_ids += await cluster.create(2, "temporal-down")
    print(f"2 orders created while Temporal was down, in {time.monotonic() - started:.1f} s")
    processes.temporal(cluster.data / "temporal.db")
    async with Technicians(cluster.api, cluster.technicians):
        # Under load an activity can still start between that look and the stop: its
        # completion is then lost, and it runs again after its timeout (2 minutes).
        await cluster.all_completed(order_ids, 180)
    await check(cluster, "temporal_restart", order_ids)
