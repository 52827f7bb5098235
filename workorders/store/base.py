"""What the stores share: the tables, the timeline's insert, reading a row into its
model, and the order's status while it is open.

Every store reads and writes with SQLAlchemy Core statements on the one connection of
a unit of work (:meth:`workorders.db.Database.transaction`), and turns rows into the
SQLModel types at the edge (:func:`load`). The statements of the hot paths (every
order's activities) are built once, at import.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Connection,
    Integer,
    Row,
    bindparam,
    cast,
    extract,
    func,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import configure_mappers
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import SQLModel

from models.enums import SubTaskKind
from models.payloads import OrderDecision, SubTaskOutcome
from models.status import open_order_status
from models.tables import SubTask, UtcDateTime, WorkOrder
from workorders.db import Database
from workorders.store import outbox
from workorders.store.errors import OrderNotFound
from workorders.tmf641.mapping import CANCELLATION_REQUESTED

M = TypeVar("M", bound=SQLModel)

SYSTEM = "system"
"""The actor of the timeline's events that no person or party caused."""

TABLES = SQLModel.metadata.tables
ORDERS = TABLES["work_order"]
SUB_TASKS = TABLES["sub_task"]
ATTEMPTS = TABLES["sub_task_attempt"]
EVENTS = TABLES["order_event"]
TECHNICIANS = TABLES["technician"]
ORDER, SUB_TASK, ATTEMPT, EVENT, TECHNICIAN = (
    t.c for t in (ORDERS, SUB_TASKS, ATTEMPTS, EVENTS, TECHNICIANS)
)


configure_mappers()
"""The models' mappers are set up now: :func:`load` makes instances without the ORM,
whose first use would otherwise set them up (a process that never opens a session,
like the API, got instances whose attributes could not be read)."""


class Store:
    """A store over the work-order database: each method one unit of work."""

    def __init__(self, db: Database) -> None:
        self.db = db


def load(model: type[M], row: Row[Any]) -> M:
    """The row as an instance of its table's model, made as the ORM makes the objects
    it loads: without validation (the database has the values) and without
    ``__init__``, which costs a table model about 0.3 ms (measured, SQLModel 0.0.50),
    ten times a Core read of the row. The instance can be changed like one loaded by a
    session."""
    values = row._asdict()
    instance: M = inspect(model).class_manager.new_instance()
    instance.__dict__.update(values)
    instance.__pydantic_fields_set__ = set(values)
    return instance


class epoch_of(FunctionElement[int]):  # noqa: N801  (an SQL function, named as one)
    """A UTC timestamp column as whole seconds since 1970, computed by the database:
    a read of many timestamps that only compares them (the free-slot search reads
    every booking of a fortnight) spares parsing each into a ``datetime``."""

    type = BigInteger()
    inherit_cache = True


@compiles(epoch_of, "sqlite")
def _sqlite_epoch(element: epoch_of, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite keeps the column as UTC text, YYYY-MM-DD HH:MM:SS.ffffff; strftime reads its
    # first 19 characters (with the fraction it would round to the nearest second)
    (column,) = element.clauses
    seconds = func.strftime("%s", func.substr(column, 1, 19))
    return compiler.process(cast(seconds, Integer), **kw)


@compiles(epoch_of, "postgresql")
def _postgresql_epoch(element: epoch_of, compiler: SQLCompiler, **kw: Any) -> str:
    (column,) = element.clauses  # whole seconds down, as SQLite's strftime gives them
    return compiler.process(cast(func.floor(extract("epoch", column)), BigInteger), **kw)


_NEW_EVENT = insert(EVENTS)


def add_event(
    connection: Connection,
    order_id: str,
    actor: str,
    kind: str,
    at: datetime,
    **detail: Any,
) -> None:
    """One line of the order's timeline: who did what, when (with ``detail``); the
    TMF641 notifications it causes go to the outbox in the same transaction."""
    result = connection.execute(
        _NEW_EVENT,
        {"order_id": order_id, "at": at, "actor": actor, "kind": kind, "detail": detail or None},
    )
    key = result.inserted_primary_key
    outbox.note(connection, order_id, kind, at, detail, key[0] if key else None)
    if connection.dialect.name == "postgresql":  # followers wake when this commits
        connection.execute(_NOTIFY, {"channel": ORDER_EVENTS_CHANNEL, "order": order_id})


ORDER_EVENTS_CHANNEL = "order_event"
"""The PostgreSQL channel told the order's id at each new timeline line (on commit)."""
_NOTIFY = select(func.pg_notify(bindparam("channel"), bindparam("order")))

_ORDER_BY_ID = select(ORDERS).where(ORDER.id == bindparam("order"))
_SUB_TASK_BY_KIND = select(SUB_TASKS).where(
    SUB_TASK.order_id == bindparam("order"), SUB_TASK.kind == bindparam("sub_task_kind")
)
_CANCELLATION_REQUESTED = select(EVENT.id).where(
    EVENT.order_id == bindparam("order"), EVENT.kind == CANCELLATION_REQUESTED
)
_SUB_TASK_STATES = select(SUB_TASK.kind, SUB_TASK.status, SUB_TASK.detail).where(
    SUB_TASK.order_id == bindparam("order")
)
_ORDER_STATUS = (
    update(ORDERS)
    .where(ORDER.id == bindparam("order"))
    .values(
        status=bindparam("new_status", type_=ORDER.status.type),
        updated_at=bindparam("at", type_=UtcDateTime),
    )
)
_ORDER_STATUS_AND_REASON = _ORDER_STATUS.values(
    status_reason=bindparam("new_reason", type_=ORDER.status_reason.type)
)


def order_of(connection: Connection, order_id: str) -> WorkOrder:
    """The order, as the database has it now.

    Raises:
        OrderNotFound: no such order.
    """
    row = connection.execute(_ORDER_BY_ID, {"order": order_id}).first()
    if row is None:
        raise OrderNotFound(order_id)
    return load(WorkOrder, row)


def no_sub_task(order_id: str, kind: SubTaskKind) -> OrderNotFound:
    return OrderNotFound(f"{order_id} has no {kind.value} sub-task (not dispatched yet)")


def sub_task_of(connection: Connection, order_id: str, kind: SubTaskKind) -> SubTask | None:
    row = connection.execute(_SUB_TASK_BY_KIND, {"order": order_id, "sub_task_kind": kind}).first()
    return None if row is None else load(SubTask, row)


def the_sub_task(connection: Connection, order_id: str, kind: SubTaskKind) -> SubTask:
    """The order's sub-task of ``kind``.

    Raises:
        OrderNotFound: the order has none (it was not dispatched yet).
    """
    task = sub_task_of(connection, order_id, kind)
    if task is None:
        raise no_sub_task(order_id, kind)
    return task


def cancellation_requested(connection: Connection, order_id: str) -> bool:
    return connection.execute(_CANCELLATION_REQUESTED, {"order": order_id}).first() is not None


def open_status_of(connection: Connection, order_id: str) -> OrderDecision:
    """The open order's status as its sub-tasks stand in this transaction
    (:func:`models.status.open_order_status` decides it)."""
    return open_order_status(
        SubTaskOutcome(kind=kind, status=status, reason=detail)
        for kind, status, detail in connection.execute(_SUB_TASK_STATES, {"order": order_id})
    )


def set_order_status(
    connection: Connection, order_id: str, decision: OrderDecision, at: datetime, *, reason: bool
) -> None:
    """Write the order's status (and, with ``reason``, its reason) of ``decision``."""
    connection.execute(
        _ORDER_STATUS_AND_REASON if reason else _ORDER_STATUS,
        {"order": order_id, "new_status": decision.status, "new_reason": decision.reason, "at": at},
    )
