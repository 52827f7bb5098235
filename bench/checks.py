"""What a fault must not do to the orders: lose one, activate one twice, or leave
something half-written in the database.

:func:`audit` reads the work-order database (SQLite or PostgreSQL) and the NMS
simulator's counters after a run in which every order was expected to complete.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import Connection, select

from models.enums import AttemptOutcome, OrderStatus, SubTaskKind, SubTaskStatus
from models.tables import (
    OrderEvent,
    ResourceAllocation,
    SubTask,
    SubTaskAttempt,
    Technician,
    WorkOrder,
)
from workorders.db import Database
from workorders.store.base import ATTEMPTS, EVENTS, ORDERS, SUB_TASKS, TABLES, TECHNICIANS, load

ONCE = (
    "order.received",
    "order.dispatched",
    "order.completed",
    "construction.accepted",
    "construction.en_route",
    "construction.on_site",
    "construction.completed",
)
"""Events an order that completed without trouble has exactly once."""


@dataclass
class Audit:
    orders: int
    lost: int = 0
    """Orders that did not complete."""
    duplicate_activations: int = 0
    problems: list[str] = field(default_factory=list)
    """Each thing that is half-written, twice written or missing."""

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicate_activations == 0 and not self.problems

    def line(self, what: str) -> str:
        """What was checked, and what was lost."""
        return (
            f"checked={what} orders={self.orders} lost={self.lost}"
            f" duplicate_activations={self.duplicate_activations}"
            f" half_written={len(self.problems)}"
        )


async def audit(database_url: str, order_ids: Sequence[str], nms_url: str | None = None) -> Audit:
    """Check the orders, each expected to have completed: its status, its three
    sub-tasks, its attempts (none left pending, one activation succeeded), its
    timeline (each step once), its network resources (one, active), every
    technician's job count (0 once every order has ended) and the NMS's activations
    (one per order, none twice)."""
    result = Audit(orders=len(order_ids))
    db = Database.from_url(database_url)

    allocations = TABLES["resource_allocation"]

    def read(connection: Connection) -> tuple[Any, ...]:
        def of_the_orders(table: Any, model: Any) -> list[Any]:
            query = select(table).where(table.c.order_id.in_(order_ids))
            return [load(model, row) for row in connection.execute(query)]

        orders = {
            row.id: load(WorkOrder, row)
            for row in connection.execute(select(ORDERS).where(ORDERS.c.id.in_(order_ids)))
        }
        tasks = of_the_orders(SUB_TASKS, SubTask)
        attempts = of_the_orders(ATTEMPTS, SubTaskAttempt)
        events = of_the_orders(EVENTS, OrderEvent)
        resources = of_the_orders(allocations, ResourceAllocation)
        all_ended = not connection.execute(
            select(ORDERS.c.id).where(
                ORDERS.c.status.not_in(
                    [OrderStatus.COMPLETED, OrderStatus.FAILED, OrderStatus.CANCELLED]
                )
            )
        ).first()
        technicians = [load(Technician, row) for row in connection.execute(select(TECHNICIANS))]
        return orders, tasks, attempts, events, resources, all_ended, technicians

    try:
        orders, tasks, attempts, events, resources, all_ended, technicians = await db.transaction(
            read
        )
    finally:
        await db.dispose()

    problems = result.problems
    for order_id in order_ids:
        order = orders.get(order_id)
        if order is None or order.status is not OrderStatus.COMPLETED:
            result.lost += 1
            problems.append(f"{order_id}: {order.status.value if order else 'not stored'}")
    by_order: dict[str, list[SubTask]] = {}
    for task in tasks:
        by_order.setdefault(task.order_id, []).append(task)
    for order_id in order_ids:
        kinds = sorted(t.kind.value for t in by_order.get(order_id, []))
        if kinds != sorted(k.value for k in SubTaskKind):
            problems.append(f"{order_id}: sub-tasks {kinds}")
        failed = [
            t.kind.value
            for t in by_order.get(order_id, [])
            if t.status is not SubTaskStatus.SUCCEEDED
        ]
        if failed:
            problems.append(f"{order_id}: sub-tasks not succeeded: {failed}")
    succeeded_activations: Counter[str] = Counter()
    started: Counter[tuple[str, str]] = Counter()
    for attempt in attempts:
        if attempt.outcome is AttemptOutcome.PENDING:
            problems.append(
                f"{attempt.order_id}: {attempt.kind.value} attempt {attempt.attempt} left pending"
            )
        if attempt.kind is SubTaskKind.ACTIVATION and attempt.outcome is AttemptOutcome.SUCCEEDED:
            succeeded_activations[attempt.order_id] += 1
        started[(attempt.order_id, attempt.kind.value)] += 1
    for order_id in order_ids:
        if succeeded_activations[order_id] != 1:
            problems.append(f"{order_id}: {succeeded_activations[order_id]} activations succeeded")
    kinds_of_events: Counter[tuple[str, str]] = Counter((e.order_id, e.kind) for e in events)
    for order_id in order_ids:
        for kind in ONCE:
            if kinds_of_events[(order_id, kind)] != 1:
                problems.append(f"{order_id}: {kind} {kinds_of_events[(order_id, kind)]} times")
        for kind in (SubTaskKind.ACTIVATION, SubTaskKind.QUALITY_CHECK):
            logged = kinds_of_events[(order_id, f"{kind.value}.attempt_started")]
            if logged != started[(order_id, kind.value)]:
                problems.append(
                    f"{order_id}: {logged} {kind.value} attempts in the timeline,"
                    f" {started[(order_id, kind.value)]} stored"
                )
    held: Counter[str] = Counter(r.order_id for r in resources if r.state == "active")
    for order_id in order_ids:
        if held[order_id] != 1 or len([r for r in resources if r.order_id == order_id]) != 1:
            problems.append(f"{order_id}: holds {held[order_id]} active resources")
    if all_ended:
        for technician in technicians:
            if technician.open_jobs != 0:
                problems.append(f"{technician.id}: {technician.open_jobs} open jobs, none open")
    if nms_url is not None:
        async with httpx.AsyncClient(timeout=30) as http:
            stats = (await http.get(f"{nms_url}/sim/stats")).raise_for_status().json()
        activations: dict[str, int] = stats["activations"]
        result.duplicate_activations = sum(max(0, activations.get(o, 0) - 1) for o in order_ids)
        missing = [o for o in order_ids if activations.get(o, 0) == 0]
        if missing:
            problems.append(f"{len(missing)} orders never activated in the NMS: {missing[:3]}")
    return result
