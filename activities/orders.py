"""Order generation's and dispatch's activities: open the order, record its status."""

from __future__ import annotations

from temporalio import activity

from activities.errors import not_found
from models.payloads import OrderPlan, RecordOrderStatusInput, WorkOrderInput
from workorders.store import OrderNotFound, WorkOrderStore


class OrderActivities:
    def __init__(self, store: WorkOrderStore) -> None:
        self._store = store

    @activity.defn
    async def start_order(self, input: WorkOrderInput) -> OrderPlan:
        """Mark the order in progress, open its three sub-tasks and return the plan."""
        try:
            order = await self._store.start_order(input.order_id)
        except OrderNotFound as e:
            raise not_found(e) from e
        return OrderPlan(
            order_id=order.id,
            region=order.region,
            service_type=order.service_type,
            profile=order.profile,
        )

    @activity.defn
    async def record_order_status(self, input: RecordOrderStatusInput) -> None:
        """Store the order's status and its sub-tasks' outcomes."""
        try:
            await self._store.complete_order(input.order_id, input.decision, input.outcomes)
        except OrderNotFound as e:
            raise not_found(e) from e
