"""The access network's inventory, for operations."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import InventoryDep, RegionsDep
from api.errors import ProblemError
from api.security import Operations
from workorders.inventory import Usage

router = APIRouter(prefix="/regions", tags=["operations"])


@router.get(
    "/{region}/inventory",
    response_model=Usage,
    responses={404: {"description": "No such region."}},
)
async def region_inventory(
    region: str, inventory: InventoryDep, regions: RegionsDep, _: Operations
) -> Usage:
    """How full a region's access network is: its terminal slots, those allocated to
    orders being activated, those active, and those the NMS refused."""
    if region not in {r.code for r in regions}:
        raise ProblemError(404, "Region not found", f"no region {region}")
    return await inventory.usage(region)
