"""Resource activation: plan the activation data from the order's history, send it to
the NMS and store the data with the result."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import NMS_UNAVAILABLE, not_found
from models.enums import SubTaskKind
from models.payloads import ActivationData, ActivationInput, ActivationResult
from workorders.nms import ActivationRequest, ErrorClass, NetworkManagementSystem, NmsUnavailable
from workorders.nms import classify as classify_error
from workorders.planning import plan_activation
from workorders.reference import Catalog, Regions
from workorders.store import OrderNotFound, WorkOrderStore


class ActivationActivities:
    def __init__(
        self,
        store: WorkOrderStore,
        nms: NetworkManagementSystem,
        regions: Regions,
        catalog: Catalog,
    ) -> None:
        self._store = store
        self._nms = nms
        self._regions = regions
        self._catalog = catalog

    @activity.defn
    async def activate_resources(self, input: ActivationInput) -> ActivationResult:
        """Run one activation attempt.

        The attempt's data is planned from the history the first time the attempt
        runs and reused when Temporal retries it. The NMS request carries the
        attempt as its idempotency key, so a retried attempt never activates twice.

        Raises:
            ApplicationError: ``NmsUnavailable`` (retryable) when the NMS cannot be
                reached; ``OrderNotFound`` (not retryable).
        """
        kind = SubTaskKind.ACTIVATION
        try:
            order = await self._store.get_order(input.order_id)
            region = self._regions.get(order.region)
            profile = self._catalog.profiles[order.profile]
            working = await self._store.working_profile_names(profile.name)
            stored = await self._store.begin_attempt(
                order.id,
                kind,
                input.attempt,
                lambda history: plan_activation(order.id, region, profile, history, working),
            )
            if stored is None:
                message = "every port, VLAN and profile name the history allows has failed"
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
