"""Technicians and their work queues."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import StoreDep
from api.errors import ProblemError
from api.routes.orders import address_of
from models.api import InstallationWindow, TechnicianJobResponse, TechnicianResponse

router = APIRouter(prefix="/technicians", tags=["technicians"])


@router.get("", response_model=list[TechnicianResponse])
async def list_technicians(store: StoreDep, region: str | None = None) -> list[TechnicianResponse]:
    return [
        TechnicianResponse.model_validate(t, from_attributes=True)
        for t in await store.list_technicians(region)
    ]


@router.get("/{technician_id}/jobs", response_model=list[TechnicianJobResponse])
async def list_jobs(
    technician_id: str, store: StoreDep, include_closed: bool = False
) -> list[TechnicianJobResponse]:
    """A technician's installation jobs, oldest first: open ones unless asked for all."""
    if await store.get_technician(technician_id) is None:
        raise ProblemError(404, "Technician not found", f"no technician {technician_id}")
    jobs = await store.technician_jobs(technician_id, open_only=not include_closed)
    return [
        TechnicianJobResponse(
            order_id=order.id,
            job_state=task.job_state,
            status=task.status,
            customer_name=order.customer_name,
            customer_phone=order.customer_phone,
            address=address_of(order),
            service_type=order.service_type,
            profile=order.profile,
            installation_window=(
                InstallationWindow(start=order.window_start, end=order.window_end)
                if order.window_start and order.window_end
                else None
            ),
            assigned_at=task.updated_at,
        )
        for order, task in jobs
    ]
