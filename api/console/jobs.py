"""The technician's page, phone first: my jobs in the order of their windows, each with
its address and contact and only the next steps the job allows; completion asks for
the terminal's serial, cannot-complete for its reason. Reports go through
:func:`api.decisions.report_construction`, the code ``POST
/orders/{id}/construction/reports`` runs."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import ValidationError

from api import decisions
from api.console import i18n
from api.console.board import boards_of
from api.console.session import SignedIn
from api.console.web import form_of, language_of, moves, render, require
from api.deps import (
    BoardDep,
    CatalogDep,
    OrdersDep,
    ReportsDep,
    TechniciansDep,
    TemporalDep,
    WakeDep,
)
from api.errors import ProblemError
from models.api import ConstructionReportRequest
from models.enums import CannotCompleteReason, JobState
from models.status import JOB_TRANSITIONS
from workorders.auth import Principal, Role
from workorders.store import TechnicianJob, TechnicianStore

router = APIRouter(prefix="/console/jobs", include_in_schema=False)

STEPS = (JobState.ACCEPTED, JobState.EN_ROUTE, JobState.ON_SITE)
"""The progress a technician reports with one tap (completion and cannot-complete ask
for more)."""


def _technician(principal: Principal) -> str:
    require(principal, Role.TECHNICIAN)
    return principal.subject


async def _jobs(technicians: TechnicianStore, technician_id: str) -> list[TechnicianJob]:
    return sorted(await technicians.technician_jobs(technician_id), key=TechnicianJob.in_turn)


async def _page(
    request: Request,
    principal: Principal,
    technicians: TechnicianStore,
    board: BoardDep,
    template: str = "jobs.html",
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    technician_id = _technician(principal)
    return render(
        request,
        template,
        principal,
        status_code,
        jobs=await _jobs(technicians, technician_id),
        since=await boards_of(request).last_event_id(board),
        steps=STEPS,
        transitions=JOB_TRANSITIONS,
        JobState=JobState,
        reasons=[r.value for r in CannotCompleteReason],
        **({"failed": None, "values": {}, "invalid": set()} | context),
    )


@router.get("", response_class=HTMLResponse)
async def jobs_page(
    request: Request, principal: SignedIn, technicians: TechniciansDep, board: BoardDep
) -> HTMLResponse:
    return await _page(request, principal, technicians, board)


@router.get("/live", response_class=HTMLResponse)
async def jobs_live_part(
    request: Request, principal: SignedIn, technicians: TechniciansDep, board: BoardDep
) -> HTMLResponse:
    """The list of jobs alone: what the page reads again when one of them moved."""
    return await _page(request, principal, technicians, board, "_jobs_live.html")


@router.get("/events", response_class=EventSourceResponse)
async def jobs_events(
    request: Request,
    principal: SignedIn,
    technicians: TechniciansDep,
    board: BoardDep,
    since: Annotated[int, Query(ge=0)] = 0,
) -> AsyncIterator[ServerSentEvent]:
    """An event when the technician's jobs changed: one assigned, reassigned away, a
    report recorded (from this phone or by operations on their behalf)."""
    technician_id = _technician(principal)

    async def read(last: int) -> object:
        return [(j.order_id, j.job_state, j.visit) for j in await _jobs(technicians, technician_id)]

    boards = boards_of(request)

    async def last() -> int:
        return await boards.last_event_id(board)

    async for event in moves(request, since, last, read):
        yield event


@router.post("/{order_id}/report", response_class=HTMLResponse)
async def report(
    request: Request,
    order_id: str,
    principal: SignedIn,
    orders: OrdersDep,
    reports: ReportsDep,
    technicians: TechniciansDep,
    temporal: TemporalDep,
    catalog: CatalogDep,
    wake: WakeDep,
    board: BoardDep,
    later: BackgroundTasks,
) -> Response:
    """A step on one of my jobs, validated as the API validates it; a refusal is shown
    at the job, with what was typed kept."""
    _technician(principal)
    form = await form_of(request)
    values = {k: form.get(k, "").strip() for k in ("state", "ont_serial", "reason_code", "note")}
    try:
        body = ConstructionReportRequest.model_validate_json(
            json.dumps({k: v for k, v in values.items() if v})
        )
        await decisions.report_construction(
            order_id,
            body,
            principal,
            orders=orders,
            reports=reports,
            technicians=technicians,
            temporal=temporal,
            catalog=catalog,
            wake=wake,
            later=later,
        )
    except ValidationError as e:
        fields = {str(err["loc"][0]) if err["loc"] else "state" for err in e.errors()}
        return await _page(
            request,
            principal,
            technicians,
            board,
            status_code=422,
            failed=order_id,
            values=values,
            invalid=fields,
        )
    except ProblemError as e:
        if e.status in (403, 404):
            raise
        # 422: what the step lacks (the serial, the reason); 409: the job moved on.
        missing = "ont_serial" if values["state"] == JobState.COMPLETED else "reason_code"
        invalid = {missing} if e.status == 422 else set()
        return await _page(
            request,
            principal,
            technicians,
            board,
            status_code=e.status,
            failed=order_id,
            values=values,
            invalid=invalid,
            refusal=i18n.refusal(language_of(request), e),
        )
    return RedirectResponse(f"/console/jobs#job-{order_id}", status_code=303)
