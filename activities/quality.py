"""Resource quality check: plan the check's data from the order's history, have the
NMS run the speed and quality checks, judge the measures and store them."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import LINE_NOT_READY, NMS_UNAVAILABLE, NOT_ACTIVATED, not_found
from models.enums import SubTaskKind
from models.payloads import (
    Measures,
    QualityCheckData,
    QualityCheckInput,
    QualityCheckResult,
)
from workorders.nms import ErrorClass, NetworkManagementSystem, NmsUnavailable, ServiceTestRequest
from workorders.nms import classify as classify_error
from workorders.planning import activated_data, evaluate, plan_quality_check
from workorders.reference import Catalog, RegionSource
from workorders.store import AttemptStore, OrderNotFound, OrderStore


class QualityCheckActivities:
    def __init__(
        self,
        orders: OrderStore,
        attempts: AttemptStore,
        nms: NetworkManagementSystem,
        regions: RegionSource,
        catalog: Catalog,
    ) -> None:
        self._orders = orders
        self._attempts = attempts
        self._nms = nms
        self._regions = regions
        self._catalog = catalog

    @activity.defn
    async def run_quality_check(self, input: QualityCheckInput) -> QualityCheckResult:
        """Run one quality-check attempt: a speed and a quality check by the NMS.

        Raises:
            ApplicationError: ``NmsUnavailable`` or ``LineNotReady`` (retryable);
                ``NotActivated`` or ``OrderNotFound`` (not retryable).
        """
        kind = SubTaskKind.QUALITY_CHECK
        try:
            order = await self._orders.order_kind(input.order_id)
            region = await self._regions.region(order.region)
            activated = activated_data(
                await self._attempts.history(order.id, SubTaskKind.ACTIVATION)
            )
            if activated is None:
                raise ApplicationError(
                    "the line has no successful activation to check",
                    type=NOT_ACTIVATED,
                    non_retryable=True,
                )
            profile = self._catalog.profiles[activated.profile]
            stored = await self._attempts.begin_attempt(
                order.id,
                kind,
                input.attempt,
                lambda history: plan_quality_check(order.id, region, activated, profile, history),
            )
            data = QualityCheckData.model_validate(stored)
            try:
                response = await self._nms.run_service_test(
                    ServiceTestRequest(
                        idempotency_key=f"{order.id}/quality_check/{input.attempt}",
                        order_id=order.id,
                        olt_id=data.olt_id,
                        pon_port=data.pon_port,
                        ont_id=data.ont_id,
                        test_server=data.test_server,
                    )
                )
            except NmsUnavailable as e:
                raise ApplicationError(str(e), type=NMS_UNAVAILABLE) from e

            measures: Measures | None = None
            if response.state == "completed":
                measures = Measures.model_validate(response.model_dump())
                error_code, message = evaluate(data, measures)
            else:
                error_code, message = response.error_code or "UNKNOWN", response.message
                if classify_error(error_code) is ErrorClass.TRANSIENT:
                    raise ApplicationError(
                        f"{error_code}: {message}",
                        type=LINE_NOT_READY if error_code == "LINE_NOT_READY" else error_code,
                    )
            result = QualityCheckResult(
                order_id=order.id,
                attempt=input.attempt,
                succeeded=error_code is None,
                data=data,
                measures=measures,
                error_code=error_code,
                message=message,
                revisable=error_code is not None
                and classify_error(error_code) is ErrorClass.REVISABLE,
            )
            await self._attempts.finish_attempt(
                order.id,
                kind,
                input.attempt,
                succeeded=result.succeeded,
                result=result.model_dump(
                    mode="json", include={"measures", "error_code", "message"}, exclude_none=True
                ),
                error_code=error_code,
                detail=None if result.succeeded else f"{error_code}: {message}",
            )
        except OrderNotFound as e:
            raise not_found(e) from e
        return result
