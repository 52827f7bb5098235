"""Dependencies the routes declare; the lifespan creates them once per app.

Every dependency is a coroutine function: none blocks, and FastAPI would run a plain
function in a worker thread, a thread hop per dependency per request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from temporalio.client import Client

from workorders.appointments import Calendar
from workorders.config import Settings
from workorders.db import Database
from workorders.reference import Catalog, Regions, RegionSource
from workorders.store import (
    AppointmentStore,
    AttemptStore,
    BoardStore,
    HubStore,
    ImportStore,
    InventoryStore,
    OrderStore,
    ReportStore,
    Stores,
    TechnicianStore,
    UserStore,
)
from workorders.wake import Wake


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _stores(request: Request) -> Stores:
    stores: Stores = request.app.state.stores
    return stores


async def get_database(request: Request) -> Database:
    return _stores(request).db


async def get_orders(request: Request) -> OrderStore:
    return _stores(request).orders


async def get_attempts(request: Request) -> AttemptStore:
    return _stores(request).attempts


async def get_reports(request: Request) -> ReportStore:
    return _stores(request).reports


async def get_technicians(request: Request) -> TechnicianStore:
    return _stores(request).technicians


async def get_inventory(request: Request) -> InventoryStore:
    return _stores(request).inventory


async def get_imports(request: Request) -> ImportStore:
    return _stores(request).imports


async def get_users(request: Request) -> UserStore:
    return _stores(request).users


async def get_hub(request: Request) -> HubStore:
    return _stores(request).hub


async def get_board(request: Request) -> BoardStore:
    return _stores(request).board


async def get_appointments(request: Request) -> AppointmentStore:
    return _stores(request).appointments


async def get_calendar(settings: Annotated[Settings, Depends(get_settings)]) -> Calendar:
    return Calendar.of(settings)


async def get_temporal(request: Request) -> Client:
    client: Client = request.app.state.temporal
    return client


async def get_regions(request: Request) -> Regions:
    """The regions as they stand (the database's: an import changes them)."""
    source: RegionSource = request.app.state.regions
    return await source.current()


async def get_catalog(request: Request) -> Catalog:
    catalog: Catalog = request.app.state.catalog
    return catalog


async def get_wake(request: Request) -> Wake:
    wake: Wake = request.app.state.wake
    return wake


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]
OrdersDep = Annotated[OrderStore, Depends(get_orders)]
AttemptsDep = Annotated[AttemptStore, Depends(get_attempts)]
ReportsDep = Annotated[ReportStore, Depends(get_reports)]
TechniciansDep = Annotated[TechnicianStore, Depends(get_technicians)]
TemporalDep = Annotated[Client, Depends(get_temporal)]
RegionsDep = Annotated[Regions, Depends(get_regions)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
InventoryDep = Annotated[InventoryStore, Depends(get_inventory)]
ImportsDep = Annotated[ImportStore, Depends(get_imports)]
HubDep = Annotated[HubStore, Depends(get_hub)]
WakeDep = Annotated[Wake, Depends(get_wake)]
BoardDep = Annotated[BoardStore, Depends(get_board)]
UsersDep = Annotated[UserStore, Depends(get_users)]
AppointmentsDep = Annotated[AppointmentStore, Depends(get_appointments)]
CalendarDep = Annotated[Calendar, Depends(get_calendar)]
"""Wakes a queued job's workflow (:func:`workorders.wake.waker`, built once)."""
