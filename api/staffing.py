"""Operations manage technicians, shared by the API's routes and the console: add one,
change one (regions, skills, job limit, active), each checked against the regions
there are. Jobs queued in a technician's regions go to them at once when they have
room, whichever door the change came through. Errors are
:class:`api.errors.ProblemError`; each interface renders them its own way.
"""

from __future__ import annotations

from api.errors import ProblemError
from models.api import TechnicianCreateRequest, TechnicianUpdateRequest
from models.tables import Technician
from workorders.reference import Catalog, Regions
from workorders.store import TechnicianExists, TechnicianStore
from workorders.wake import Wake, offer_room


def known_regions(regions: Regions, codes: list[str] | None) -> None:
    unknown = sorted(set(codes or []) - {r.code for r in regions})
    if unknown:
        raise ProblemError(
            422, "Unknown region", f"no region {', '.join(unknown)}", code="UNKNOWN_REGION"
        )


async def offer_queued_jobs(
    technicians: TechnicianStore, catalog: Catalog, wake: Wake, technician: Technician
) -> None:
    """Wake the queued jobs the technician has room for, longest waiting first."""
    room = technician.max_open_jobs - technician.open_jobs if technician.active else 0
    await offer_room(technicians, catalog, wake, technician.id, room)


async def add_technician(
    request: TechnicianCreateRequest,
    *,
    technicians: TechnicianStore,
    regions: Regions,
    catalog: Catalog,
    wake: Wake,
) -> Technician:
    known_regions(regions, request.regions)
    try:
        technician = await technicians.add_technician(Technician(**request.model_dump(mode="json")))
    except TechnicianExists:
        raise ProblemError(
            409,
            "Technician exists",
            f"technician {request.id} exists already",
            code="TECHNICIAN_EXISTS",
        ) from None
    await offer_queued_jobs(technicians, catalog, wake, technician)
    return technician


async def change_technician(
    technician_id: str,
    request: TechnicianUpdateRequest,
    *,
    technicians: TechnicianStore,
    regions: Regions,
    catalog: Catalog,
    wake: Wake,
) -> Technician:
    known_regions(regions, request.regions)
    try:
        technician = await technicians.change_technician(
            technician_id, **request.model_dump(mode="json", exclude_unset=True, exclude_none=True)
        )
    except LookupError:
        raise ProblemError(404, "Technician not found", f"no technician {technician_id}") from None
    await offer_queued_jobs(technicians, catalog, wake, technician)
    return technician
