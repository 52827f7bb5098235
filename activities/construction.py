"""Construction: find the region's technician and record what they report."""

from __future__ import annotations

from temporalio import activity

from activities.errors import not_found
from models.enums import SubTaskKind
from models.payloads import ConstructionAssignment, ConstructionInput, RecordConstructionReportInput
from workorders.reference import Catalog
from workorders.store import OrderNotFound, WorkOrderStore


class ConstructionActivities:
    def __init__(self, store: WorkOrderStore, catalog: Catalog) -> None:
        self._store = store
        self._catalog = catalog

    @activity.defn
    async def dispatch_construction(self, input: ConstructionInput) -> ConstructionAssignment:
        """Assign the installation to a technician of the customer's region."""
        try:
            order = await self._store.get_order(input.order_id)
            skill = self._catalog.skill_for(order.service_type)
            technician_id = await self._store.assign_technician(order.id, order.region, skill)
            if technician_id is not None:
                return ConstructionAssignment(
                    order_id=order.id, region=order.region, technician_id=technician_id
                )
            can_wait = await self._store.has_technicians(order.region, skill)
            if can_wait:
                reason = f"waiting for a free {skill} technician in region {order.region}"
            else:
                reason = f"region {order.region} has no active {skill} technician"
            await self._store.set_sub_task_detail(order.id, SubTaskKind.CONSTRUCTION, reason)
        except OrderNotFound as e:
            raise not_found(e) from e
        return ConstructionAssignment(
            order_id=order.id, region=order.region, reason=reason, can_wait=can_wait
        )

    @activity.defn
    async def record_construction_report(self, input: RecordConstructionReportInput) -> None:
        """Store a technician's report with the order."""
        try:
            await self._store.record_construction_report(input.order_id, input.report)
        except OrderNotFound as e:
            raise not_found(e) from e
