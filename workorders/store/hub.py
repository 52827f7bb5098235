"""The TMF641 hub: its listeners, and the deliveries of the outbox's events to them
(docs/tmf641.md, "Notifications").

An event of the outbox is fanned out once: a delivery for each listener its query
matches. A deliverer claims due deliveries with a lease (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so several deliverers never hold the same one), sends them, and records the
answer; a delivery is due only when every earlier event of its order to its listener
was delivered, so each listener receives an order's events in order.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    Connection,
    Select,
    Table,
    bindparam,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import aliased

from models.tables import HubDelivery, HubListener, UtcDateTime, utcnow
from workorders.store.base import TABLES, Store, load
from workorders.tmf641.events import matches, parse_query

LISTENERS = TABLES["hub_listener"]
EVENTS = TABLES["hub_event"]
DELIVERIES = TABLES["hub_delivery"]
LISTENER, HUB_EVENT, DELIVERY = LISTENERS.c, EVENTS.c, DELIVERIES.c


@dataclass(frozen=True)
class Outcome:
    """What became of a delivery: delivered (no ``error``), to try again at ``again``,
    or its listener ``gone`` (it answered 410)."""

    delivery_id: int
    listener_id: str
    error: str | None = None
    again: datetime | None = None
    gone: bool = False


@dataclass(frozen=True)
class Pruned:
    """What a prune removed: deliveries (delivered, or given up past the retention)
    and outbox events."""

    deliveries: int = 0
    events: int = 0


@dataclass(frozen=True)
class Claimed:
    """A delivery a deliverer holds until ``lease_until``: what to send where."""

    id: int
    listener_id: str
    callback: str
    secret: str | None
    event_id: str
    event_type: str
    body: str
    attempts: int


class HubStore(Store):
    """Listeners, and the state of every delivery (in the database, so retries and
    their backoff survive restarts)."""

    async def register(
        self, callback: str, query: str | None, secret: str | None, owner: str
    ) -> HubListener:
        """A new listener, told the events that happen from now on."""
        listener = HubListener(
            id=str(uuid.uuid4()),
            callback=callback,
            query=query,
            secret=secret,
            owner=owner,
            created_at=utcnow(),
        )

        def work(connection: Connection) -> HubListener:
            connection.execute(insert(LISTENERS), listener.model_dump())
            return listener

        return await self.db.transaction(work)

    async def get(self, listener_id: str) -> HubListener | None:
        def work(connection: Connection) -> HubListener | None:
            row = connection.execute(select(LISTENERS).where(LISTENER.id == listener_id)).first()
            return None if row is None else load(HubListener, row)

        return await self.db.run_on_connection(work)

    async def remove(self, listener_id: str) -> bool:
        """Remove the listener and its deliveries; whether it existed."""

        def work(connection: Connection) -> bool:
            connection.execute(delete(DELIVERIES).where(DELIVERY.listener_id == listener_id))
            gone = connection.execute(delete(LISTENERS).where(LISTENER.id == listener_id))
            return bool(gone.rowcount)

        return await self.db.transaction(work)

    async def fan_out(self, limit: int = 200) -> int:
        """Make the deliveries of up to ``limit`` events not fanned out yet: one for each
        listener registered by the event's time whose query matches it. Returns how
        many events were fanned out (0 when another deliverer took them). Fan-outs take
        turns (``FOR UPDATE`` without skipping), so deliveries are made in event order."""

        def work(connection: Connection) -> int:
            pending = (
                select(HUB_EVENT.id, HUB_EVENT.event_type, HUB_EVENT.order_id, HUB_EVENT.at)
                .where(HUB_EVENT.fanned_out.is_(False))
                .order_by(HUB_EVENT.id)
                .limit(limit)
                .with_for_update()
            )
            events = connection.execute(pending).all()
            if not events:
                return 0
            listeners = [
                (row.id, parse_query(row.query), row.created_at)
                for row in connection.execute(
                    select(LISTENER.id, LISTENER.query, LISTENER.created_at)
                )
            ]
            now = utcnow()
            rows = [
                {
                    "listener_id": listener_id,
                    "event_id": e.id,
                    "order_id": e.order_id,
                    "attempts": 0,
                    "next_attempt_at": now,
                }
                for e in events
                for listener_id, query, since in listeners
                if since <= e.at and matches(query, e.event_type, e.order_id)
            ]
            if rows:
                connection.execute(insert(DELIVERIES), rows)
            connection.execute(
                update(EVENTS)
                .where(HUB_EVENT.id.in_([e.id for e in events]))
                .values(fanned_out=True)
            )
            return len(events)

        try:
            return await self.db.transaction(work)
        except (IntegrityError, OperationalError):
            # Another deliverer fanned these out first (SQLite has no SKIP LOCKED), or
            # a listener was removed meanwhile: the next round fans out again.
            return 0

    async def claim(self, limit: int, lease: timedelta) -> list[Claimed]:
        """Hold up to ``limit`` due deliveries for ``lease``: undelivered, their time
        come, nobody's lease running, and no earlier event of their order undelivered
        to their listener (so at most one per order and listener at a time)."""

        def work(connection: Connection) -> list[Claimed]:
            now = utcnow()
            earlier = aliased(DELIVERIES)
            free = (
                DELIVERY.delivered_at.is_(None),
                or_(DELIVERY.lease_until.is_(None), DELIVERY.lease_until < now),
                ~exists().where(
                    earlier.c.listener_id == DELIVERY.listener_id,
                    earlier.c.order_id == DELIVERY.order_id,
                    earlier.c.delivered_at.is_(None),
                    earlier.c.event_id < DELIVERY.event_id,
                ),
            )
            due = (
                select(DELIVERY.id)
                .where(DELIVERY.next_attempt_at <= now, *free)
                .order_by(DELIVERY.event_id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            candidates = list(connection.execute(due).scalars())
            if not candidates:
                return []
            # Taken only if still free: SQLite has no row locks (and pysqlite reads
            # outside the transaction), so the check in the update is the claim.
            take = (
                update(DELIVERIES)
                .where(DELIVERY.id.in_(candidates), *free)
                .values(lease_until=now + lease)
                .returning(DELIVERY.id)
            )
            ids = list(connection.execute(take).scalars())
            if not ids:
                return []
            rows = connection.execute(
                select(
                    DELIVERY.id,
                    DELIVERY.listener_id,
                    LISTENER.callback,
                    LISTENER.secret,
                    HUB_EVENT.event_id,
                    HUB_EVENT.event_type,
                    HUB_EVENT.body,
                    DELIVERY.attempts,
                )
                .join(LISTENERS, LISTENER.id == DELIVERY.listener_id)
                .join(EVENTS, HUB_EVENT.id == DELIVERY.event_id)
                .where(DELIVERY.id.in_(ids))
                .order_by(DELIVERY.event_id)
            )
            return [Claimed(*row) for row in rows]

        try:
            return await self.db.transaction(work)
        except OperationalError:
            return []  # SQLite: another deliverer's claim won the write; claim again later

    async def record(self, outcomes: Sequence[Outcome]) -> None:
        """Record a round's answers in one transaction: delivered, to try again at
        their time, or their listener gone (410: removed with its deliveries)."""

        def work(connection: Connection) -> None:
            now = utcnow()
            done = [o.delivery_id for o in outcomes if o.error is None and not o.gone]
            if done:
                connection.execute(
                    update(DELIVERIES)
                    .where(DELIVERY.id.in_(done))
                    .values(
                        delivered_at=now,
                        lease_until=None,
                        attempts=DELIVERY.attempts + 1,
                        last_error=None,
                    )
                )
            failed = [o for o in outcomes if o.error is not None and not o.gone]
            if failed:
                connection.execute(
                    update(DELIVERIES)
                    .where(DELIVERY.id == bindparam("delivery"))
                    .values(
                        attempts=DELIVERY.attempts + 1,
                        next_attempt_at=bindparam("again", type_=UtcDateTime),
                        lease_until=None,
                        last_error=bindparam("error"),
                    ),
                    [
                        {"delivery": o.delivery_id, "again": o.again, "error": o.error[:500]}
                        for o in failed
                        if o.error is not None
                    ],
                )
            gone = sorted({o.listener_id for o in outcomes if o.gone})
            if gone:
                connection.execute(delete(DELIVERIES).where(DELIVERY.listener_id.in_(gone)))
                connection.execute(delete(LISTENERS).where(LISTENER.id.in_(gone)))

        if outcomes:
            await self.db.transaction(work)

    async def prune(self, before: datetime, batch: int = 1000) -> Pruned:
        """Remove what no listener needs any more, ``batch`` rows at a time (each batch
        its own short transaction): the deliveries delivered; those still undelivered
        of events older than ``before`` (the retention: a listener down longer misses
        them); then the events fanned out that no delivery waits for. A listener
        down, within the retention, keeps everything it is still to receive.

        Two rows are always kept: each order's latest event (the state the order last
        told, which decides its next state change, :mod:`workorders.store.outbox`),
        and each table's highest id (SQLite gives a new row the highest id plus one,
        so an id is never given twice: a deliverer that outlived its lease never
        records its answer on another delivery, and events keep their order).
        """
        newest_delivery = select(func.max(DELIVERY.id)).scalar_subquery()
        old_events = select(HUB_EVENT.id).where(HUB_EVENT.at < before)
        done_deliveries = (
            select(DELIVERY.id)
            .where(
                DELIVERY.id < newest_delivery,
                or_(DELIVERY.delivered_at.is_not(None), DELIVERY.event_id.in_(old_events)),
            )
            .limit(batch)
        )
        later = aliased(EVENTS)
        done_events = (
            select(HUB_EVENT.id)
            .where(
                HUB_EVENT.fanned_out.is_(True),
                exists().where(later.c.order_id == HUB_EVENT.order_id, later.c.id > HUB_EVENT.id),
                ~exists().where(DELIVERY.event_id == HUB_EVENT.id),
            )
            .limit(batch)
        )

        deliveries = await self._remove_all(done_deliveries, DELIVERIES, batch)
        events = await self._remove_all(done_events, EVENTS, batch)
        return Pruned(deliveries, events)

    async def _remove_all(self, ids: Select[tuple[int]], table: Table, batch: int) -> int:
        """Delete the rows of ``table`` whose ids ``ids`` selects (at most ``batch``),
        a transaction at a time, until it selects fewer; how many were deleted."""

        def work(connection: Connection) -> int:
            found = list(connection.execute(ids).scalars())
            if found:
                connection.execute(delete(table).where(table.c.id.in_(found)))
            return len(found)

        removed = 0
        while True:
            n = await self.db.transaction(work)
            removed += n
            if n < batch:
                return removed

    async def deliveries(self, listener_id: str) -> list[HubDelivery]:
        """The listener's deliveries, in event order (for operators and tests)."""

        def work(connection: Connection) -> list[HubDelivery]:
            query = (
                select(DELIVERIES)
                .where(DELIVERY.listener_id == listener_id)
                .order_by(DELIVERY.event_id)
            )
            return [load(HubDelivery, row) for row in connection.execute(query)]

        return await self.db.run_on_connection(work)

    async def undelivered(self) -> int:
        """How many deliveries wait (fanned out, not delivered)."""

        def work(connection: Connection) -> int:
            query = select(func.count()).where(DELIVERY.delivered_at.is_(None))
            return int(connection.execute(query).scalar_one())

        return await self.db.run_on_connection(work)
