"""Construction: find the region's technician and record what they report."""

from __future__ import annotations

from temporalio import activity

from activities.errors import not_found
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
        except OrderNotFound as e:
            raise not_found(e) from e
        reason = None
        if technician_id is None:
            reason = f"no active {skill} technician with room for a job in region {order.region}"
        return ConstructionAssignment(
            order_id=order.id, region=order.region, technician_id=technician_id, reason=reason
        )

    @activity.defn
    async def record_construction_report(self, input: RecordConstructionReportInput) -> None:
        """Store a technician's report with the order."""
        try:
            await self._store.record_construction_report(input.order_id, input.report)
        except OrderNotFound as e:
            raise not_found(e) from e
