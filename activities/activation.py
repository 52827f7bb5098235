"""Resource activation: plan the activation data from the order's history, send it to
the NMS and store the data with the result; deactivate it when the order is cancelled."""

from __future__ import annotations

from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import NMS_UNAVAILABLE, not_found
from models.enums import AttemptOutcome, SubTaskKind
from models.payloads import (
    ActivationData,
    ActivationInput,
    ActivationResult,
    DeactivateResourcesInput,
    DeactivateResourcesResult,
    SlotDeactivation,
)
from workorders.nms import (
    ActivationRequest,
    DeactivationRequest,
    ErrorClass,
    NetworkManagementSystem,
    NmsUnavailable,
)
from workorders.nms import classify as classify_error
from workorders.planning import Occupancy, PastAttempt, plan_activation
from workorders.reference import Catalog, Profile, Region, RegionSource
from workorders.store import (
    AttemptStore,
    InventoryStore,
    OrderNotFound,
    OrderStore,
    ResourceTaken,
)

PLAN_TRIES = 5


class ActivationActivities:
    def __init__(
        self,
        orders: OrderStore,
        attempts: AttemptStore,
        nms: NetworkManagementSystem,
        regions: RegionSource,
        catalog: Catalog,
        inventory: InventoryStore,
    ) -> None:
        self._orders = orders
        self._attempts = attempts
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
            order = await self._orders.order_kind(input.order_id)
            region = await self._regions.region(order.region)
            profile = self._catalog.profiles[order.profile]
            stored = await self._plan(order.id, region, profile, input.attempt)
            if stored is None:
                message = "no free slot, VLAN or profile name is left that has not failed"
                await self._attempts.set_sub_task_detail(order.id, kind, message)
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
            await self._attempts.finish_attempt(
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

    @activity.defn
    async def deactivate_resources(
        self, input: DeactivateResourcesInput
    ) -> DeactivateResourcesResult:
        """Deactivate in the NMS what the order's activation attempts sent, then give
        the order's inventory back (the order is cancelled).

        The slots come from the history: those of the attempts named in ``input`` that
        the NMS did not refuse (it activated them, or never answered). Each slot is
        deactivated once, with an idempotency key of its own derived from the order and
        the slot, and the NMS's answer is stored in the order's history; a retried
        activity reuses the stored answers. "Nothing active" counts as deactivated. A
        refusal is an answer: ``NOT_OWNER`` (someone else's service is on the slot)
        teaches the inventory that the slot is taken.

        Raises:
            ApplicationError: ``NmsUnavailable`` (retryable) when the NMS cannot be
                reached; ``OrderNotFound`` (not retryable).
        """
        kind = SubTaskKind.ACTIVATION
        try:
            order = await self._orders.get_order(input.order_id)
            slots: dict[tuple[str, int, int], tuple[ActivationData, list[int]]] = {}
            for attempt in await self._attempts.attempts(order.id, kind):
                if attempt.attempt not in input.attempts or not attempt.data:
                    continue
                if attempt.outcome is AttemptOutcome.FAILED:
                    continue  # refused by the NMS: nothing was activated
                data = ActivationData.model_validate(attempt.data)
                slot = (data.olt_id, data.pon_port, data.ont_id)
                slots.setdefault(slot, (data, []))[1].append(attempt.attempt)
            answered = await self._attempts.deactivations(order.id)
            results = []
            for (olt_id, pon_port, ont_id), (data, attempts) in slots.items():
                key = f"{order.id}/deactivation/{olt_id}/{pon_port}/{ont_id}"
                if key in answered:
                    results.append(SlotDeactivation.model_validate(answered[key]))
                    continue
                try:
                    response = await self._nms.deactivate(
                        DeactivationRequest(
                            idempotency_key=key,
                            order_id=order.id,
                            olt_id=olt_id,
                            pon_port=pon_port,
                            ont_id=ont_id,
                        )
                    )
                except NmsUnavailable as e:
                    raise ApplicationError(str(e), type=NMS_UNAVAILABLE) from e
                succeeded = response.state == "completed"
                if not succeeded and classify_error(response.error_code or "") is (
                    ErrorClass.TRANSIENT
                ):
                    raise ApplicationError(
                        f"{response.error_code}: {response.message}", type=response.error_code
                    )
                result = SlotDeactivation(
                    olt_id=olt_id,
                    pon_port=pon_port,
                    ont_id=ont_id,
                    attempts=attempts,
                    succeeded=succeeded,
                    error_code=response.error_code,
                    message=response.message,
                )
                if response.error_code:
                    await self._inventory.learn(order.id, data, response.error_code)
                await self._attempts.record_deactivation(
                    order.id, key, result.model_dump(mode="json", exclude_none=True)
                )
                results.append(result)
            released = await self._inventory.release(order.id)
        except OrderNotFound as e:
            raise not_found(e) from e
        return DeactivateResourcesResult(order_id=order.id, slots=results, released=released)

    async def _plan(
        self, order_id: str, region: Region, profile: Profile, attempt: int
    ) -> dict[str, Any] | None:
        """Plan the attempt's data from the history and hold it in the inventory; plan
        again when another order took the resources meanwhile."""
        olts = await self._inventory.olts(region.code)
        region = region.model_copy(update={"olts": olts})
        working = await self._attempts.working_profile_names(profile.name)
        for _ in range(PLAN_TRIES):
            taken = await self._inventory.occupancy([o.id for o in olts], order_id)

            def plan(history: list[PastAttempt], taken: Occupancy = taken) -> ActivationData | None:
                return plan_activation(order_id, region, profile, history, working, taken)

            try:
                return await self._attempts.begin_attempt(
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
