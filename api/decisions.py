"""What people report and decide on an order's sub-tasks, shared by the API's routes
and the console: a technician's report on their construction job, operations'
decisions on the job (assign, fail) and on the network sub-tasks (retry, abort).

Whichever door a person used, the same code records it and tells the workflow, so the
timeline and the Temporal UI show the same thing. Errors are
:class:`api.errors.ProblemError`; each interface renders them its own way.
"""

from __future__ import annotations

from temporalio.client import Client

from api.access import order_or_404, technicians_own
from api.errors import ProblemError
from api.security import Forbidden
from api.workflows import SIGNAL_NOW, UPDATE_ERRORS, signal_report, update_workflow
from models.api import ConstructionReportRequest, NetworkOperationRequest
from models.enums import SubTaskKind
from models.payloads import (
    ConstructionJob,
    ConstructionOperation,
    ConstructionReport,
    ConstructionView,
    NetworkOperation,
    WorkOrderState,
)
from models.status import ReportRejected
from workflows import WorkOrderWorkflow
from workorders.auth import Principal, Role
from workorders.reference import Catalog
from workorders.store import OrderNotFound, OrderStore, ReportStore, TechnicianStore
from workorders.wake import Wake, offer_room


async def report_construction(
    order_id: str,
    report: ConstructionReportRequest,
    principal: Principal,
    *,
    orders: OrderStore,
    reports: ReportStore,
    technicians: TechnicianStore,
    temporal: Client,
    catalog: Catalog,
    wake: Wake,
) -> ConstructionJob:
    """Record a technician's report (operations may report on a technician's behalf,
    naming them); the workflow hears of a completion or of why the job cannot be
    completed at once, of progress within the resumer's interval. Returns the job.

    Raises:
        ProblemError: 403 not the technician's job, 404 no such order, 409 a state the
            job cannot take or an order that has ended, 422 evidence missing.
    """
    technician_id = report.technician_id
    technician = principal.role is Role.TECHNICIAN
    if technician:
        if technician_id not in (None, principal.subject):
            raise Forbidden(f"{principal.subject} may report only as themself")
        technician_id = principal.subject
    elif technician_id is None:
        raise ProblemError(
            422,
            "Invalid request",
            "operations must name the technician: technician_id",
            code="TECHNICIAN_NOT_NAMED",
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
    return job


async def operate_construction(
    order_id: str,
    operation: ConstructionOperation,
    *,
    orders: OrderStore,
    technicians: TechnicianStore,
    temporal: Client,
) -> ConstructionView:
    """Operations assign (or reassign) the job to a technician by hand, or give the
    installation up; returns construction as the workflow holds it then.

    Raises:
        ProblemError: 404 no such order, 422 no such technician, 409 the technician
            cannot take the job or construction has ended.
    """
    order = await order_or_404(orders, order_id)
    technician_id = operation.technician_id
    if technician_id and await technicians.get_technician(technician_id) is None:
        raise ProblemError(
            422, "Unknown technician", f"no technician {technician_id}", code="UNKNOWN_TECHNICIAN"
        )
    view: ConstructionView = await update_workflow(
        temporal, order, WorkOrderWorkflow.operate_construction, operation
    )
    return view


async def operate_network_task(
    order_id: str,
    kind: SubTaskKind,
    request: NetworkOperationRequest,
    principal: Principal,
    *,
    orders: OrderStore,
    temporal: Client,
) -> WorkOrderState:
    """Operations retry an activation or quality check that waits for them (with
    edited data, or data planned anew from the history), or abort it.

    Raises:
        ProblemError: 404 no such order, 409 not waiting or ended, 422 invalid data.
    """
    order = await order_or_404(orders, order_id)
    state: WorkOrderState = await update_workflow(
        temporal,
        order,
        WorkOrderWorkflow.operate_network_task,
        NetworkOperation(kind=kind, **request.model_dump(), operator=principal.actor),
    )
    return state
