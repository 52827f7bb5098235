"""Technicians: operations manage them; each technician reads their work queue."""

from __future__ import annotations

import logging

from fastapi import APIRouter, status

from api import staffing
from api.deps import CatalogDep, RegionsDep, TechniciansDep, WakeDep
from api.errors import ProblemError
from api.openapi import refusals
from api.security import Operations, TechnicianSelf
from models.api import (
    Address,
    InstallationWindow,
    TechnicianCreateRequest,
    TechnicianJobResponse,
    TechnicianResponse,
    TechnicianUpdateRequest,
)
from models.tables import Technician
from workorders.store import TechnicianJob

router = APIRouter(prefix="/technicians", tags=["technicians"])
log = logging.getLogger("workorders.api")


def to_response(technician: Technician) -> TechnicianResponse:
    return TechnicianResponse.model_validate(technician, from_attributes=True)


@router.get("", response_model=list[TechnicianResponse])
async def list_technicians(
    technicians: TechniciansDep,
    _: Operations,
    region: str | None = None,
    active: bool | None = None,
) -> list[TechnicianResponse]:
    """Technicians, optionally of one region, active or not (operations)."""
    return [to_response(t) for t in await technicians.list_technicians(region, active=active)]


@router.post(
    "",
    response_model=TechnicianResponse,
    status_code=status.HTTP_201_CREATED,
    responses={
        409: {"description": "The id is taken."},
        422: {
            "description": "Invalid technician.",
            **refusals("UNKNOWN_REGION", "working_hours_order"),
        },
    },
)
async def add_technician(
    request: TechnicianCreateRequest,
    technicians: TechniciansDep,
    regions: RegionsDep,
    catalog: CatalogDep,
    wake: WakeDep,
    _: Operations,
) -> TechnicianResponse:
    """Add a technician (operations); jobs queued in their regions go to them at once."""
    technician = await staffing.add_technician(
        request, technicians=technicians, regions=regions, catalog=catalog, wake=wake
    )
    return to_response(technician)


@router.patch(
    "/{technician_id}",
    response_model=TechnicianResponse,
    responses={
        404: {"description": "No such technician."},
        422: {
            "description": "Invalid change.",
            **refusals("UNKNOWN_REGION", "working_hours_order"),
        },
    },
)
async def change_technician(
    technician_id: str,
    request: TechnicianUpdateRequest,
    technicians: TechniciansDep,
    regions: RegionsDep,
    catalog: CatalogDep,
    wake: WakeDep,
    _: Operations,
) -> TechnicianResponse:
    """Change a technician (operations): regions, skills, job limit; ``active: false``
    deactivates them, so they get no new jobs. Jobs queued for them go to them at once
    when they have room."""
    technician = await staffing.change_technician(
        technician_id,
        request,
        technicians=technicians,
        regions=regions,
        catalog=catalog,
        wake=wake,
    )
    return to_response(technician)


@router.get("/{technician_id}/jobs", response_model=list[TechnicianJobResponse])
async def list_jobs(
    technician_id: str, technicians: TechniciansDep, _: TechnicianSelf, include_closed: bool = False
) -> list[TechnicianJobResponse]:
    """A technician's installation jobs, oldest first: open ones unless asked for all
    (the technician themself, operations)."""
    jobs = sorted(
        await technicians.technician_jobs(technician_id, open_only=not include_closed),
        key=TechnicianJob.in_turn,
    )
    if not jobs and await technicians.get_technician(technician_id) is None:
        raise ProblemError(404, "Technician not found", f"no technician {technician_id}")
    return [
        TechnicianJobResponse(
            order_id=job.order_id,
            job_state=job.job_state,
            status=job.status,
            visit=job.visit,
            due_at=job.due_at,
            customer_name=job.customer_name,
            customer_phone=job.customer_phone,
            address=Address.model_validate(job, from_attributes=True),
            service_type=job.service_type,
            profile=job.profile,
            installation_window=(
                InstallationWindow(start=job.window_start, end=job.window_end)
                if job.window_start and job.window_end
                else None
            ),
            appointment=(
                InstallationWindow(start=job.appointment_start, end=job.appointment_end)
                if job.appointment_start and job.appointment_end
                else None
            ),
            assigned_at=job.assigned_at,
        )
        for job in jobs
    ]
