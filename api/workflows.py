"""Starting work-order workflows, idempotently."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from models.enums import OrderStatus
from models.payloads import WorkOrderInput
from models.tables import WorkOrder
from workflows import WorkOrderWorkflow
from workorders.store import WorkOrderStore

log = logging.getLogger("workorders.api")


async def start_order_workflow(client: Client, task_queue: str, order: WorkOrder) -> None:
    """Start the order's workflow unless it runs or ran already."""
    with contextlib.suppress(WorkflowAlreadyStartedError):  # it ran and closed: nothing to do
        await client.start_workflow(
            WorkOrderWorkflow.run,
            WorkOrderInput(order_id=order.id),
            id=order.workflow_id,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            static_summary=(
                f"{order.external_reference}: {order.service_type.value} {order.profile}"
                f" in {order.region}"
            ),
        )


async def resume_received_orders(store: WorkOrderStore, client: Client, task_queue: str) -> int:
    """Start the workflows of orders stored but never started (the API stopped between
    storing an order and starting its workflow). Returns how many were started."""
    resumed = 0
    for order_id in await store.order_ids_with_status(OrderStatus.RECEIVED):
        await start_order_workflow(client, task_queue, await store.get_order(order_id))
        resumed += 1
    if resumed:
        log.info("started the workflows of %d received orders", resumed)
    return resumed


async def keep_resuming(
    store: WorkOrderStore, client: Client, task_queue: str, interval_s: float
) -> None:
    """Resume received orders now and every ``interval_s`` seconds, so that an order
    whose workflow could not be started (Temporal was unreachable) starts once it is
    back. Failures are logged and tried again at the next round."""
    while True:
        try:
            await resume_received_orders(store, client, task_queue)
        except Exception:
            log.warning("could not resume received orders; trying again", exc_info=True)
        await asyncio.sleep(interval_s)
