"""What people report and decide on an order's sub-tasks, shared by the API's routes
and the console: a technician's report on their construction job, operations'
decisions on the job (assign, fail) and on the network sub-tasks (retry, abort).

Whichever door a person used, the same code records it and tells the workflow, so the
timeline and the Temporal UI show the same thing. Errors are
:class:`api.errors.ProblemError`; each interface renders them its own way.
"""

from __future__ import annotations

import logging

from fastapi import BackgroundTasks
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
from workorders.store import (
    OrderNotFound,
    OrderStore,
    RecordedReport,
    ReportStore,
    TechnicianStore,
)
from workorders.wake import Wake, offer_room

log = logging.getLogger("workorders.api")


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
    later: BackgroundTasks,
) -> ConstructionJob:
    """Record a technician's report (operations may report on a technician's behalf,
    naming them); the workflow hears of a completion or of why the job cannot be
    completed as soon as the answer is sent (:func:`tell_of_report`, run ``later``),
    of progress within the resumer's interval. Returns the job.

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
    if report.state in SIGNAL_NOW or recorded.freed:
        later.add_task(
            tell_of_report,
            order_id,
            recorded,
            signal=report.state in SIGNAL_NOW,
            technician_id=technician_id,
            reports=reports,
            technicians=technicians,
            temporal=temporal,
            catalog=catalog,
            wake=wake,
        )
    job = recorded.state.job
    assert job is not None
    return job


async def tell_of_report(
    order_id: str,
    recorded: RecordedReport,
    *,
    signal: bool,
    technician_id: str,
    reports: ReportStore,
    technicians: TechnicianStore,
    temporal: Client,
    catalog: Catalog,
    wake: Wake,
) -> None:
    """What a recorded report sets going, once its answer is on its way: the signal
    to the order's workflow, and the room a completed job freed offered to the
    queue. Neither is the technician's to wait for, and neither is lost when this
    fails or the process stops first: the resumer signals a report left unsignalled
    (:func:`api.workflows.resignal_reports`), a queued job asks again by itself."""
    if signal:
        try:
            await signal_report(temporal, reports, order_id, recorded.state)
        except Exception:
            log.warning("could not signal the report on %s yet", order_id, exc_info=True)
    if recorded.freed:
        await offer_room(technicians, catalog, wake, technician_id)


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
