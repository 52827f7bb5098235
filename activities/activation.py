"""Resource activation: plan the activation data from the order's history, send it to
the NMS and store the data with the result."""

from __future__ import annotations

from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import NMS_UNAVAILABLE, not_found
from models.enums import SubTaskKind
from models.payloads import ActivationData, ActivationInput, ActivationResult
from workorders.inventory import Inventory
from workorders.nms import ActivationRequest, ErrorClass, NetworkManagementSystem, NmsUnavailable
from workorders.nms import classify as classify_error
from workorders.planning import Occupancy, PastAttempt, plan_activation
from workorders.reference import Catalog, Profile, Region, Regions
from workorders.store import OrderNotFound, ResourceTaken, WorkOrderStore

PLAN_TRIES = 5


class ActivationActivities:
    def __init__(
        self,
        store: WorkOrderStore,
        nms: NetworkManagementSystem,
        regions: Regions,
        catalog: Catalog,
        inventory: Inventory,
    ) -> None:
        self._store = store
        self._nms = nms
        self._regions = regions
        self._catalog = catalog
        self._inventory = inventory

    @activity.defn
    async def activate_resources(self, input: ActivationInput) -> ActivationResult:
        """Run one activation attempt.

        The attempt's data is planned from the history and allocated from the
        inventory the first time the attempt runs, and reused when Temporal retries
        it. The NMS request carries the attempt as its idempotency key, so a retried
        attempt never activates twice. What the NMS refuses, the inventory learns.

        Raises:
            ApplicationError: ``NmsUnavailable`` (retryable) when the NMS cannot be
                reached; ``OrderNotFound`` (not retryable).
        """
        kind = SubTaskKind.ACTIVATION
        try:
            order = await self._store.get_order(input.order_id)
            region = self._regions.get(order.region)
            profile = self._catalog.profiles[order.profile]
            stored = await self._plan(order.id, region, profile, input.attempt)
            if stored is None:
                message = "no free slot, VLAN or profile name is left that has not failed"
                await self._store.set_sub_task_detail(order.id, kind, message)
                return ActivationResult(
                    order_id=order.id,
                    attempt=input.attempt,
                    succeeded=False,
                    error_code="NO_ALTERNATIVE",
                    message=message,
                )
            data = ActivationData.model_validate(stored)
            try:
                response = await self._nms.activate(
                    ActivationRequest(
                        idempotency_key=f"{order.id}/activation/{input.attempt}",
                        order_id=order.id,
                        olt_id=data.olt_id,
                        pon_port=data.pon_port,
                        ont_id=data.ont_id,
                        vlan=data.vlan,
                        profile_name=data.nms_profile_name,
                    )
                )
            except NmsUnavailable as e:
                raise ApplicationError(str(e), type=NMS_UNAVAILABLE) from e

            succeeded = response.state == "completed"
            error_class = None if succeeded else classify_error(response.error_code or "")
            if error_class is ErrorClass.TRANSIENT:
                raise ApplicationError(
                    f"{response.error_code}: {response.message}", type=response.error_code
                )
            await self._store.finish_attempt(
                order.id,
                kind,
                input.attempt,
                succeeded=succeeded,
                result=response.model_dump(mode="json", exclude_none=True),
                error_code=response.error_code,
                detail=None if succeeded else f"{response.error_code}: {response.message}",
            )
            if succeeded:
                await self._inventory.confirm(order.id)
            elif response.error_code:
                await self._inventory.learn(order.id, data, response.error_code)
        except OrderNotFound as e:
            raise not_found(e) from e
        return ActivationResult(
            order_id=order.id,
            attempt=input.attempt,
            succeeded=succeeded,
            data=data,
            error_code=response.error_code,
            message=response.message,
            revisable=error_class is ErrorClass.REVISABLE,
        )

    async def _plan(
        self, order_id: str, region: Region, profile: Profile, attempt: int
    ) -> dict[str, Any] | None:
        """Plan the attempt's data from the history and hold it in the inventory; plan
        again when another order took the resources meanwhile."""
        olts = await self._inventory.olts(region.code)
        region = region.model_copy(update={"olts": olts})
        working = await self._store.working_profile_names(profile.name)
        for _ in range(PLAN_TRIES):
            taken = await self._inventory.occupancy([o.id for o in olts], order_id)

            def plan(history: list[PastAttempt], taken: Occupancy = taken) -> ActivationData | None:
                return plan_activation(order_id, region, profile, history, working, taken)

            try:
                return await self._store.begin_attempt(
                    order_id,
                    SubTaskKind.ACTIVATION,
                    attempt,
                    plan,
                    reserve=self._inventory.reserver(order_id),
                )
            except ResourceTaken:
                continue
        raise ApplicationError(
            f"the resources planned were taken by other orders {PLAN_TRIES} times in a row",
            type="ResourceContention",
        )
