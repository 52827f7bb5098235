"""Dependencies the routes declare; the lifespan creates them once per app.

Every dependency is a coroutine function: none blocks, and FastAPI would run a plain
function in a worker thread, a thread hop per dependency per request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from temporalio.client import Client

from workorders.config import Settings
from workorders.inventory import Inventory
from workorders.reference import Catalog, Regions
from workorders.store import WorkOrderStore
from workorders.wake import Wake


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_store(request: Request) -> WorkOrderStore:
    store: WorkOrderStore = request.app.state.store
    return store


async def get_temporal(request: Request) -> Client:
    client: Client = request.app.state.temporal
    return client


async def get_regions(request: Request) -> Regions:
    regions: Regions = request.app.state.regions
    return regions


async def get_catalog(request: Request) -> Catalog:
    catalog: Catalog = request.app.state.catalog
    return catalog


async def get_wake(request: Request) -> Wake:
    wake: Wake = request.app.state.wake
    return wake


async def get_inventory(request: Request) -> Inventory:
    inventory: Inventory = request.app.state.inventory
    return inventory


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[WorkOrderStore, Depends(get_store)]
TemporalDep = Annotated[Client, Depends(get_temporal)]
RegionsDep = Annotated[Regions, Depends(get_regions)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
InventoryDep = Annotated[Inventory, Depends(get_inventory)]
WakeDep = Annotated[Wake, Depends(get_wake)]
"""Wakes a queued job's workflow (:func:`workorders.wake.waker`, built once)."""
