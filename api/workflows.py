"""Starting work-order workflows, idempotently; sending them the updates of the
front desk, operations and technicians; and telling them of the technicians' reports
the API recorded for them.

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
from typing import Any

from pydantic import BaseModel
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.errors import ProblemError
from models.enums import JobState, OrderStatus, ServiceType
from models.payloads import ConstructionChanged, ConstructionJobState, WorkOrderInput
from models.tables import WorkOrder, utcnow
from workflows import WorkOrderWorkflow, workflow_id_for
from workflows import search_attributes as search
from workorders.store import OrderStore, ReportStore

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


UPDATE_ERRORS = {
    "NOT_ASSIGNED": (403, "Not this technician's job"),
    "ORDER_CLOSED": (409, "Order has ended"),
    "INVALID_TRANSITION": (409, "Report does not fit the job's state"),
    "MISSING_EVIDENCE": (422, "Report lacks what it needs"),
    "TECHNICIAN_UNAVAILABLE": (409, "Technician cannot take the job"),
    "ALREADY_ASSIGNED": (409, "Technician has the job already"),
    "CONSTRUCTION_CLOSED": (409, "Construction has ended"),
    "JOB_CHANGED": (409, "The job kept changing; decide again"),
    "NOT_WAITING": (409, "Not waiting for operations"),
    "INVALID_DATA": (422, "Invalid data for the sub-task"),
}
"""Why the workflow refused an update, as HTTP status and title."""


async def update_workflow(
    temporal: Client, order: WorkOrder, update: Any, argument: BaseModel
) -> Any:
    """Send an update to the order's workflow; its refusals become problem responses."""
    handle = temporal.get_workflow_handle(order.workflow_id)
    try:
        return await handle.execute_update(update, argument)
    except WorkflowUpdateFailedError as e:
        cause = e.cause
        if isinstance(cause, ApplicationError) and cause.type in UPDATE_ERRORS:
            code, title = UPDATE_ERRORS[cause.type]
            raise ProblemError(code, title, cause.message, code=cause.type) from None
        raise
    except RPCError as e:
        if e.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            raise ProblemError(
                409,
                "Order has ended",
                f"order {order.id}'s workflow is not running; it takes no more changes",
                code="ORDER_CLOSED",
            ) from None
        raise


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


async def resume_received_orders(orders: OrderStore, client: Client, task_queue: str) -> int:
    """Start the workflows of orders stored but never started (the API stopped between
    storing an order and starting its workflow). Returns how many were started."""
    resumed = 0
    for order_id in await orders.order_ids_with_status(OrderStatus.RECEIVED):
        await start_order_workflow(client, task_queue, await orders.get_order(order_id))
        resumed += 1
    if resumed:
        log.info("started the workflows of %d received orders", resumed)
    return resumed


async def signal_report(
    client: Client, reports: ReportStore, order_id: str, state: ConstructionJobState
) -> bool:
    """Tell the order's workflow of the reports the API recorded: the job as it stands
    after them. Whether the workflow got it (a workflow that has ended needs nothing);
    else it is sent again later (:func:`resignal_reports`)."""
    handle = client.get_workflow_handle(workflow_id_for(order_id))
    try:
        await handle.signal(
            WorkOrderWorkflow.construction_reported, ConstructionChanged(version=state.version)
        )
    except RPCError as e:
        if e.status is not RPCStatusCode.NOT_FOUND:
            log.warning(
                "could not signal version %d of order %s yet: %s", state.version, order_id, e
            )
            return False
    await reports.report_signalled(order_id, state.version)
    return True


async def resignal_reports(
    reports: ReportStore, client: Client, waited: timedelta = RESIGNAL_AFTER
) -> int:
    """Signal the reports not signalled for ``waited``: progress, and signals that did
    not get through; how many reached their workflow now."""
    sent = 0
    for order_id, state in await reports.unsignalled_reports(utcnow() - waited):
        sent += await signal_report(client, reports, order_id, state)
    return sent


async def keep_resuming(
    orders: OrderStore, reports: ReportStore, client: Client, task_queue: str, interval_s: float
) -> None:
    """Resume received orders and signal the reports not signalled yet, now and every
    ``interval_s`` seconds: progress reaches the workflows, and what Temporal missed
    while it was unreachable reaches it once it is back. Failures are logged and tried
    again at the next round."""
    while True:
        try:
            await resume_received_orders(orders, client, task_queue)
            await resignal_reports(reports, client)
        except Exception:
            log.warning("could not resume orders or reports; trying again", exc_info=True)
        await asyncio.sleep(interval_s)
