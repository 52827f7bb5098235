"""Order generation's and dispatch's activities: open the order, hand sub-tasks to
operations and back, record a cancellation request and the order's status."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import not_found
from models.enums import SubTaskKind
from models.payloads import (
    ActivationData,
    CancellationInput,
    HandOffInput,
    OrderPlan,
    PrepareAttemptInput,
    QualityCheckData,
    RecordOrderStatusInput,
    WorkOrderInput,
)
from models.tables import WorkOrder
from workorders.reference import ADDRESS_FIELDS, RegionSource, load_address_formats
from workorders.store import (
    AttemptStore,
    CancellationStore,
    InventoryStore,
    OrderNotFound,
    OrderStore,
    ProgressStore,
    ResourceTaken,
)

QUALITY_CHECK_WAITS = "scheduled: waiting for the installation and the activation"
"""What an open quality check does until the line is installed and activated."""


def one_line_address(order: WorkOrder) -> str:
    """The order's address on one line, as its country writes it: e.g.
    ``Jianguo Road 88, Flat 1203, 10115 Springfield``, ``北京市海淀区中关村大街27号3单元502室``."""
    parts = {name: getattr(order, name) for name in ADDRESS_FIELDS}
    return load_address_formats().get(order.country).one_line(parts)


class OrderActivities:
    def __init__(
        self,
        orders: OrderStore,
        progress: ProgressStore,
        attempts: AttemptStore,
        cancellation: CancellationStore,
        inventory: InventoryStore,
        regions: RegionSource,
    ) -> None:
        self._orders = orders
        self._progress = progress
        self._attempts = attempts
        self._cancellation = cancellation
        self._regions = regions
        self._inventory = inventory

    @activity.defn
    async def start_order(self, input: WorkOrderInput) -> OrderPlan:
        """Mark the order in progress, open its three sub-tasks (the quality check
        waits for the line) and return the plan, with whom and where to install
        (customer data, encrypted in Temporal)."""
        try:
            order = await self._orders.get_order(input.order_id)
            region = await self._regions.region(order.region)
            await self._progress.start_order(
                order.id, region.installation_limit, quality_check=QUALITY_CHECK_WAITS
            )
        except OrderNotFound as e:
            raise not_found(e) from e
        return OrderPlan(
            order_id=order.id,
            region=order.region,
            service_type=order.service_type,
            profile=order.profile,
            installation_limit=region.installation_limit,
            jeopardy_after=region.jeopardy_after,
            customer_name=order.customer_name,
            customer_phone=order.customer_phone,
            address=one_line_address(order),
        )

    @activity.defn
    async def hand_to_operations(self, input: HandOffInput) -> None:
        """Say that a sub-task waits for operations (or, without a reason, resumed)."""
        try:
            await self._progress.hand_to_operations(input.order_id, input.kind, input.reason)
        except OrderNotFound as e:
            raise not_found(e) from e

    @activity.defn
    async def prepare_attempt(self, input: PrepareAttemptInput) -> None:
        """Store the data an operator gave for a sub-task's next attempt; the attempt
        then runs with it instead of data planned from the history."""
        activation = input.kind is SubTaskKind.ACTIVATION
        model = ActivationData if activation else QualityCheckData
        data = model.model_validate(input.data)
        try:
            await self._attempts.begin_attempt(
                input.order_id,
                input.kind,
                input.attempt,
                lambda _history: data,
                actor=input.operator,
                reserve=self._inventory.reserver(input.order_id) if activation else None,
            )
        except OrderNotFound as e:
            raise not_found(e) from e
        except ResourceTaken as e:
            raise ApplicationError(
                f"another order holds that slot or VLAN: {e}",
                type="INVALID_DATA",
                non_retryable=True,
            ) from e

    @activity.defn
    async def record_order_status(self, input: RecordOrderStatusInput) -> None:
        """Store the order's status and its sub-tasks' outcomes."""
        try:
            await self._progress.complete_order(input.order_id, input.decision, input.outcomes)
        except OrderNotFound as e:
            raise not_found(e) from e

    @activity.defn
    async def record_cancellation(self, input: CancellationInput) -> None:
        """Record in the order's timeline that its cancellation was requested, by whom
        and why; its sub-tasks waiting for operations wait no more."""
        try:
            await self._cancellation.record_cancellation(input.order_id, input.actor, input.reason)
        except OrderNotFound as e:
            raise not_found(e) from e
