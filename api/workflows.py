"""Starting work-order workflows, idempotently, and telling them of what the API
recorded for them (technicians' reports)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from models.enums import OrderStatus
from models.payloads import ConstructionJobState, WorkOrderInput
from models.tables import WorkOrder, utcnow
from workflows import WorkOrderWorkflow, workflow_id_for
from workorders.store import WorkOrderStore

RESIGNAL_AFTER = timedelta(seconds=10)
"""A report whose signal has not reached the workflow for this long is signalled again
(its first signal failed, or the API stopped before sending it)."""

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


async def signal_report(
    client: Client, store: WorkOrderStore, order_id: str, state: ConstructionJobState
) -> bool:
    """Tell the order's workflow of a report the API recorded: the job as it stands
    after it. Whether the workflow got it (a workflow that has ended needs nothing);
    else it is sent again later (:func:`resignal_reports`)."""
    handle = client.get_workflow_handle_for(WorkOrderWorkflow.run, workflow_id_for(order_id))
    try:
        await handle.signal(WorkOrderWorkflow.construction_reported, state)
    except RPCError as e:
        if e.status is not RPCStatusCode.NOT_FOUND:
            log.warning(
                "could not signal report %d of order %s yet: %s", state.report_seq, order_id, e
            )
            return False
    await store.report_signalled(order_id, state.report_seq)
    return True


async def resignal_reports(
    store: WorkOrderStore, client: Client, waited: timedelta = RESIGNAL_AFTER
) -> int:
    """Signal again the reports whose signal has not reached their workflow for
    ``waited``; how many reached it now."""
    sent = 0
    for order_id, state in await store.unsignalled_reports(utcnow() - waited):
        sent += await signal_report(client, store, order_id, state)
    if sent:
        log.info("signalled %d reports again", sent)
    return sent


async def keep_resuming(
    store: WorkOrderStore, client: Client, task_queue: str, interval_s: float
) -> None:
    """Resume received orders and signal again reports whose signal did not reach their
    workflow, now and every ``interval_s`` seconds, so that what Temporal missed while
    it was unreachable reaches it once it is back. Failures are logged and tried again
    at the next round."""
    while True:
        try:
            await resume_received_orders(store, client, task_queue)
            await resignal_reports(store, client)
        except Exception:
            log.warning("could not resume orders or reports; trying again", exc_info=True)
        await asyncio.sleep(interval_s)
