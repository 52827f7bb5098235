"""Reads and writes of the work-order database, shared by the API and the activities,
one store per part of the order.

Every write that belongs together happens in one transaction, and every write an
activity makes is idempotent, since Temporal may run an activity more than once. Each
store's methods are units of work: SQLAlchemy Core statements on one connection
(:meth:`workorders.db.Database.transaction`), rows turned into the models at the edge.
"""

from __future__ import annotations

from dataclasses import dataclass

from workorders.db import Database
from workorders.store.appointments import AppointmentStore
from workorders.store.assignment import AssignmentStore, Release
from workorders.store.attempts import DEACTIVATION_EVENTS, AttemptStore
from workorders.store.board import Board, BoardStore, BoardTask, TechnicianLoad
from workorders.store.cancellation import CancellationStore, Withdrawal
from workorders.store.errors import (
    JobChanged,
    NotBookable,
    OrderNotFound,
    ResourceTaken,
    SlotTaken,
    TechnicianExists,
    TechnicianUnavailable,
)
from workorders.store.hub import Claimed, HubStore
from workorders.store.imports import ImportStore, LinesInUse, RegionInUse
from workorders.store.inventory import InventoryStore, Reserve
from workorders.store.orders import EventSpan, OrderKind, OrderStore
from workorders.store.progress import ProgressStore
from workorders.store.regions import RegionStore
from workorders.store.reports import RecordedReport, ReportStore
from workorders.store.technicians import TechnicianJob, TechnicianStore
from workorders.store.users import UnknownUser, UserExists, UserStore

__all__ = [
    "DEACTIVATION_EVENTS",
    "AppointmentStore",
    "AssignmentStore",
    "AttemptStore",
    "Board",
    "BoardStore",
    "BoardTask",
    "CancellationStore",
    "Claimed",
    "EventSpan",
    "HubStore",
    "ImportStore",
    "InventoryStore",
    "JobChanged",
    "LinesInUse",
    "NotBookable",
    "OrderKind",
    "OrderNotFound",
    "OrderStore",
    "ProgressStore",
    "RecordedReport",
    "RegionInUse",
    "RegionStore",
    "Release",
    "ReportStore",
    "Reserve",
    "ResourceTaken",
    "SlotTaken",
    "Stores",
    "TechnicianExists",
    "TechnicianJob",
    "TechnicianLoad",
    "TechnicianStore",
    "TechnicianUnavailable",
    "UnknownUser",
    "UserExists",
    "UserStore",
    "Withdrawal",
]


@dataclass(frozen=True)
class Stores:
    """Every store, over one database: what the composition roots (the worker, the
    API's lifespan) and the tests build once and hand out."""

    db: Database
    orders: OrderStore
    progress: ProgressStore
    attempts: AttemptStore
    assignment: AssignmentStore
    reports: ReportStore
    cancellation: CancellationStore
    technicians: TechnicianStore
    inventory: InventoryStore
    regions: RegionStore
    imports: ImportStore
    users: UserStore
    hub: HubStore
    board: BoardStore
    appointments: AppointmentStore

    @classmethod
    def of(cls, db: Database, *, orders: OrderStore | None = None) -> Stores:
        """The stores over ``db`` (``orders``: another order store, say a metered one)."""
        regions = RegionStore(db)
        return cls(
            db=db,
            orders=orders or OrderStore(db),
            progress=ProgressStore(db),
            attempts=AttemptStore(db),
            assignment=AssignmentStore(db),
            reports=ReportStore(db),
            cancellation=CancellationStore(db),
            technicians=TechnicianStore(db),
            inventory=InventoryStore(db),
            regions=regions,
            imports=ImportStore(db, regions),
            users=UserStore(db),
            hub=HubStore(db),
            board=BoardStore(db),
            appointments=AppointmentStore(db),
        )
