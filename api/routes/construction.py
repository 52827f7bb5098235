"""The construction job of an order: the technicians' reports on it, and operations'
decisions (assign it to a technician by hand, or give the installation up)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from api.access import order_or_404, technicians_own
from api.deps import (
    CatalogDep,
    OrdersDep,
    ReportsDep,
    TechniciansDep,
    TemporalDep,
    WakeDep,
)
from api.errors import ProblemError
from api.security import Forbidden, Operations, require_roles
from api.workflows import SIGNAL_NOW, UPDATE_ERRORS, signal_report, update_workflow
from models.api import (
    ConstructionJobResponse,
    ConstructionOperationRequest,
    ConstructionReportRequest,
    ConstructionStateResponse,
)
from models.payloads import ConstructionOperation, ConstructionReport, ConstructionView
from models.status import ReportRejected
from workflows import WorkOrderWorkflow
from workorders.auth import Principal, Role
from workorders.store import OrderNotFound
from workorders.wake import offer_room

router = APIRouter(prefix="/orders/{order_id}/construction", tags=["orders"])


@router.post(
    "/reports",
    response_model=ConstructionJobResponse,
    responses={
        403: {"description": "Not the technician's job, or a front desk token."},
        404: {"description": "No such order."},
        409: {"description": "A state the job cannot take, or the order has ended."},
        422: {
            "description": "Completion without the terminal's serial, a refusal without a"
            " reason code, or operations reporting without naming the technician."
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
) -> ConstructionJobResponse:
    """A technician reports progress on, completion of, or failure of their own job
    (operations may report on a technician's behalf, naming them).

    The report is recorded at once; the order's workflow hears at once of a completion
    or of why the job cannot be completed, and of progress within half a minute. A job
    that cannot be completed is reassigned (the technician declined), the
    customer visited again (absent, no access; at most three visits), handed to
    operations (no free port, network fault, other) or given up (the customer declined).
    """
    technician_id = report.technician_id
    technician = principal.role is Role.TECHNICIAN
    if technician:
        if technician_id not in (None, principal.subject):
            raise Forbidden(f"{principal.subject} may report only as themself")
        technician_id = principal.subject
    elif technician_id is None:
        raise ProblemError(
            422, "Invalid request", "operations must name the technician: technician_id"
        )
    try:
        recorded = await reports.record_report(
            order_id,
            ConstructionReport.model_validate(
                {**report.model_dump(), "technician_id": technician_id}
            ),
        )
    except (OrderNotFound, ReportRejected) as e:
        code = e.code if isinstance(e, ReportRejected) else "NOT_FOUND"
        if technician and code not in ("INVALID_TRANSITION", "MISSING_EVIDENCE"):
            # Said only to the technician whose job it is: others learn nothing.
            await technicians_own(orders, principal, order_id)
        if code == "NOT_FOUND":
            raise ProblemError(404, "Order not found", f"no work order {order_id}") from None
        status_code, title = UPDATE_ERRORS[code]
        raise ProblemError(status_code, title, str(e), code=code) from None
    if report.state in SIGNAL_NOW:
        await signal_report(temporal, reports, order_id, recorded.state)
    if recorded.freed:
        await offer_room(technicians, catalog, wake, technician_id)
    job = recorded.state.job
    assert job is not None
    return ConstructionJobResponse(order_id=order_id, **job.model_dump(exclude={"visit"}))


@router.post(
    "/operations",
    response_model=ConstructionStateResponse,
    tags=["operations"],
    responses={
        404: {"description": "No such order or technician."},
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
    order = await order_or_404(orders, order_id)
    if request.technician_id and await technicians.get_technician(request.technician_id) is None:
        raise ProblemError(404, "Technician not found", f"no technician {request.technician_id}")
    view: ConstructionView = await update_workflow(
        temporal,
        order,
        WorkOrderWorkflow.operate_construction,
        ConstructionOperation(**request.model_dump(), operator=principal.actor),
    )
    job = view.job
    return ConstructionStateResponse(
        order_id=order.id,
        technician_id=job.technician_id if job else None,
        job_state=job.state if job else None,
        visit=job.visit if job else 0,
        queued=view.queued,
        waiting_for_operations=view.waiting_for_operations,
        sla=view.sla,
        excluded=view.excluded,
    )
