"""Starting work-order workflows, idempotently, and telling them of the technicians'
reports the API recorded for them.

A report that decides the order's course (``completed``, ``cannot_complete``) is
signalled at once. Progress (``accepted``, ``en_route``, ``on_site``) needs nothing of
the workflow: the database, where the technicians and the order's timeline read it,
has it, and the workflow learns it with the next round of :func:`keep_resuming`
(within ``resume_interval_s``), one signal carrying the job as it stands then, however
many reports came meanwhile. The same round sends again any signal that did not get
through."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from temporalio.client import Client
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from models.enums import JobState, OrderStatus, ServiceType
from models.payloads import ConstructionJobState, WorkOrderInput
from models.tables import WorkOrder, utcnow
from workflows import WorkOrderWorkflow, workflow_id_for
from workflows import search_attributes as search
from workorders.store import WorkOrderStore

SIGNAL_NOW = frozenset({JobState.COMPLETED, JobState.CANNOT_COMPLETE})
"""The reports signalled as soon as they are recorded."""
RESIGNAL_AFTER = timedelta(seconds=5)
"""A report unsignalled for this long is signalled by the resumer (younger ones may be
on their way by the request that recorded them)."""

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
            search_attributes=initial_search_attributes(order.region, order.service_type),
        )


def initial_search_attributes(region: str, service_type: ServiceType) -> TypedSearchAttributes:
    """What the workflow of an order starts with, so that the Temporal UI finds it by
    region at once, and the workflow upserts only what its work changes."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(search.ORDER_STATUS, OrderStatus.IN_PROGRESS.value),
            SearchAttributePair(search.REGION, region),
            SearchAttributePair(search.SERVICE_TYPE, service_type.value),
        ]
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
    """Tell the order's workflow of the reports the API recorded: the job as it stands
    after them. Whether the workflow got it (a workflow that has ended needs nothing);
    else it is sent again later (:func:`resignal_reports`)."""
    handle = client.get_workflow_handle(workflow_id_for(order_id))
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
    """Signal the reports not signalled for ``waited``: progress, and signals that did
    not get through; how many reached their workflow now."""
    sent = 0
    for order_id, state in await store.unsignalled_reports(utcnow() - waited):
        sent += await signal_report(client, store, order_id, state)
    return sent


async def keep_resuming(
    store: WorkOrderStore, client: Client, task_queue: str, interval_s: float
) -> None:
    """Resume received orders and signal the reports not signalled yet, now and every
    ``interval_s`` seconds: progress reaches the workflows, and what Temporal missed
    while it was unreachable reaches it once it is back. Failures are logged and tried
    again at the next round."""
    while True:
        try:
            await resume_received_orders(store, client, task_queue)
            await resignal_reports(store, client)
        except Exception:
            log.warning("could not resume orders or reports; trying again", exc_info=True)
        await asyncio.sleep(interval_s)
