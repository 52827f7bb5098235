"""The construction job of an order: the technicians' reports on it, and operations'
decisions (assign it to a technician by hand, or give the installation up)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends

from api import decisions
from api.deps import (
    CatalogDep,
    OrdersDep,
    ReportsDep,
    TechniciansDep,
    TemporalDep,
    WakeDep,
)
from api.openapi import refusals
from api.security import Operations, require_roles
from models.api import (
    ConstructionJobResponse,
    ConstructionOperationRequest,
    ConstructionReportRequest,
    ConstructionStateResponse,
)
from models.payloads import ConstructionOperation
from workorders.auth import Principal, Role

router = APIRouter(prefix="/orders/{order_id}/construction", tags=["orders"])


@router.post(
    "/reports",
    response_model=ConstructionJobResponse,
    responses={
        403: {"description": "Not the technician's job, or a front desk token."},
        404: {"description": "No such order."},
        409: {"description": "A state the job cannot take, or the order has ended."},
        422: {
            "description": "Invalid report (completion needs the terminal's serial, a"
            " refusal its reason code).",
            **refusals("TECHNICIAN_NOT_NAMED"),
        },
    },
)
async def report_construction(
    order_id: str,
    report: ConstructionReportRequest,
    principal: Annotated[Principal, Depends(require_roles(Role.TECHNICIAN, Role.OPERATIONS))],
    orders: OrdersDep,
    reports: ReportsDep,
    technicians: TechniciansDep,
    temporal: TemporalDep,
    catalog: CatalogDep,
    wake: WakeDep,
    later: BackgroundTasks,
) -> ConstructionJobResponse:
    """A technician reports progress on, completion of, or failure of their own job
    (operations may report on a technician's behalf, naming them).

    The report is recorded at once; the order's workflow hears of a completion or of
    why the job cannot be completed as soon as the answer is sent, and of progress
    within half a minute. A job that cannot be completed is reassigned (the technician
    declined), the customer visited again (absent, no access; at most three visits),
    handed to operations (no free port, network fault, other) or given up (the customer
    declined).
    """
    job = await decisions.report_construction(
        order_id,
        report,
        principal,
        orders=orders,
        reports=reports,
        technicians=technicians,
        temporal=temporal,
        catalog=catalog,
        wake=wake,
        later=later,
    )
    return ConstructionJobResponse(order_id=order_id, **job.model_dump(exclude={"visit"}))


@router.post(
    "/operations",
    response_model=ConstructionStateResponse,
    tags=["operations"],
    responses={
        404: {"description": "No such order."},
        422: {"description": "Invalid decision.", **refusals("UNKNOWN_TECHNICIAN")},
        409: {
            "description": "The technician cannot take the job (inactive, another region, "
            "no skill, fully booked, has it already), or construction has ended."
        },
    },
)
async def operate_construction(
    order_id: str,
    request: ConstructionOperationRequest,
    principal: Operations,
    orders: OrdersDep,
    technicians: TechniciansDep,
    temporal: TemporalDep,
) -> ConstructionStateResponse:
    """Operations assign (or reassign) the construction job to a technician by hand,
    or give the installation up."""
    view = await decisions.operate_construction(
        order_id,
        ConstructionOperation(**request.model_dump(), operator=principal.actor),
        orders=orders,
        technicians=technicians,
        temporal=temporal,
    )
    job = view.job
    return ConstructionStateResponse(
        order_id=order_id,
        technician_id=job.technician_id if job else None,
        job_state=job.state if job else None,
        visit=job.visit if job else 0,
        queued=view.queued,
        waiting_for_operations=view.waiting_for_operations,
        sla=view.sla,
        excluded=view.excluded,
    )
