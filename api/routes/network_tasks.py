"""Operations' decisions on the two network sub-tasks of an order, the activation and
the quality check, when they wait for operations: retry (with edited data, or data
planned anew from the order's history) or abort."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from temporalio.client import Client

from api import decisions
from api.deps import OrdersDep, TemporalDep
from api.security import Operations
from models.api import (
    ActivationOperationRequest,
    NetworkOperationRequest,
    NetworkOperationResponse,
    QualityCheckOperationRequest,
)
from models.enums import SubTaskKind
from workorders.auth import Principal
from workorders.store import OrderStore

router = APIRouter(prefix="/orders/{order_id}", tags=["orders"])


async def _operate(
    order_id: str,
    kind: SubTaskKind,
    request: NetworkOperationRequest,
    principal: Principal,
    orders: OrderStore,
    temporal: Client,
) -> NetworkOperationResponse:
    state = await decisions.operate_network_task(
        order_id, kind, request, principal, orders=orders, temporal=temporal
    )
    return NetworkOperationResponse(
        order_id=order_id,
        kind=kind,
        action=request.action,
        waiting_for_operations=state.waiting_for_operations,
    )


NETWORK_OPERATION_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such order."},
    409: {"description": "The sub-task is not waiting for operations, or the order has ended."},
    422: {"description": "Data that does not fit the sub-task, or an abort without a reason."},
}


@router.post(
    "/activation/operations",
    response_model=NetworkOperationResponse,
    tags=["operations"],
    responses=NETWORK_OPERATION_ERRORS,
)
async def operate_activation(
    order_id: str,
    request: ActivationOperationRequest,
    principal: Operations,
    orders: OrdersDep,
    temporal: TemporalDep,
) -> NetworkOperationResponse:
    """Operations retry an activation that waits for them (with edited data, or with
    data planned anew from the history), or abort it."""
    return await _operate(order_id, SubTaskKind.ACTIVATION, request, principal, orders, temporal)


@router.post(
    "/quality_check/operations",
    response_model=NetworkOperationResponse,
    tags=["operations"],
    responses=NETWORK_OPERATION_ERRORS,
)
async def operate_quality_check(
    order_id: str,
    request: QualityCheckOperationRequest,
    principal: Operations,
    orders: OrdersDep,
    temporal: TemporalDep,
) -> NetworkOperationResponse:
    """Operations retry a quality check that waits for them, or abort it."""
    return await _operate(order_id, SubTaskKind.QUALITY_CHECK, request, principal, orders, temporal)
