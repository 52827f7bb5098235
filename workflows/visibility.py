"""What operations see of a work order in the Temporal UI: its search attributes and
its current details, kept up to date from the workflow's state (only what changed is
sent)."""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from models.enums import OrderStatus, SubTaskKind
    from models.payloads import OrderPlan
    from workflows import search_attributes as search

from workflows.state import WorkflowState


def started_with() -> dict[str, object]:
    """The search attributes the order's workflow started with, as :func:`publish`
    compares them (none, if the starter gave not all of :data:`search.INITIAL`)."""
    started = workflow.info().typed_search_attributes
    if all(started.get(key) is not None for key in search.INITIAL):
        return {"status": started.get(search.ORDER_STATUS), "waiting": [], "technician": None}
    return {}


def publish(state: WorkflowState, plan: OrderPlan | None = None) -> None:
    """Upsert the search attributes that changed and set the current details."""
    shown = state.visibility
    waiting = sorted(k.value for k in state.network_waiting())
    construction = state.construction
    if construction.waiting_for_operations:
        waiting = sorted([*waiting, SubTaskKind.CONSTRUCTION.value])
    job = construction.held.job
    updates: list[SearchAttributeUpdate[Any]] = []
    if plan is not None and shown.published == {}:  # none given at the start
        updates += [
            search.REGION.value_set(plan.region),
            search.SERVICE_TYPE.value_set(plan.service_type.value),
        ]
    values: dict[str, object] = {
        "status": state.status.value,
        "waiting": waiting,
        "technician": job.technician_id if job else None,
    }
    if values["status"] != shown.published.get("status"):
        updates.append(search.ORDER_STATUS.value_set(state.status.value))
    if values["waiting"] != shown.published.get("waiting", []):
        updates.append(search.WAITING_FOR.value_set(waiting))
    if values["technician"] != shown.published.get("technician"):
        updates.append(
            search.TECHNICIAN.value_set(job.technician_id)
            if job
            else search.TECHNICIAN.value_unset()
        )
    if updates:
        workflow.upsert_search_attributes(updates)
        shown.published = values
    if plan is not None and plan.customer_name:
        shown.customer = [
            f"customer: {plan.customer_name}, {plan.customer_phone}",
            f"address: {plan.address}",
        ]
    details = [f"**{state.status.value}**", *shown.customer]
    if job:
        details.append(f"construction: {job.technician_id}, {job.state.value}")
    elif construction.queued:
        details.append("construction: queued for a technician")
    details += [f"waiting for operations: {k}" for k in waiting]
    workflow.set_current_details("\n".join(details))


def publish_waiting(state: WorkflowState) -> None:
    """The order waits for operations while any sub-task does, else it is in progress;
    published."""
    waiting = state.network_waiting() or state.construction.waiting_for_operations
    state.status = OrderStatus.WAITING_FOR_OPERATIONS if waiting else OrderStatus.IN_PROGRESS
    publish(state)
