"""The TMF641 hub: its listeners, and the deliveries of the outbox's events to them
(docs/tmf641.md, "Notifications").

An event of the outbox is fanned out once: a delivery for each listener its query
matches. A deliverer claims due deliveries with a lease (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so several deliverers never hold the same one), sends them, and records the
answers it got while its lease held. Deliveries are claimed by run: the first undelivered
event of an order to a listener, when due, with the due events behind it, to be sent
one after another; so each listener receives an order's events in order.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any

from sqlalchemy import (
    Connection,
    Row,
    ScalarSelect,
    Select,
    Table,
    bindparam,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    tuple_,
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
    """What became of a delivery sent under the lease ``lease_until``: delivered (no
    ``error``), to try again at ``again``, or its listener ``gone`` (it answered 410)."""

    delivery_id: int
    listener_id: str
    lease_until: datetime
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
    order_id: str
    callback: str
    secret: str | None
    event_id: str
    event_type: str
    body: str
    attempts: int
    lease_until: datetime


Run = list[Claimed]
"""Deliveries of one order to one listener, in event order: its first undelivered event
and the due events right behind it, to be sent one after another."""


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

    async def claim(self, limit: int, lease: timedelta) -> list[Run]:
        """Hold up to ``limit`` runs for ``lease``, each of at most ``limit``
        deliveries, oldest first. A run starts at the first undelivered event of an
        order to a listener, when it is due (its time come, nobody's lease running),
        and takes the due events behind it up to the first that is not; no other
        delivery of that order to that listener is held by anyone meanwhile.

        Runs are found from the index of the deliveries still to make
        (``ix_hub_delivery_waiting``: listener, order, event): whether a due delivery
        starts its run with one descent, each run's events with one range.
        """

        def work(connection: Connection) -> list[Run]:
            now = utcnow()
            due = (
                DELIVERY.delivered_at.is_(None),
                DELIVERY.next_attempt_at <= now,
                or_(DELIVERY.lease_until.is_(None), DELIVERY.lease_until < now),
            )
            starts = (
                select(DELIVERY.id, DELIVERY.listener_id, DELIVERY.order_id)
                .where(*due, DELIVERY.id == _first_undelivered())
                .order_by(DELIVERY.event_id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            started = connection.execute(starts).all()
            if not started:
                return []
            start_ids = [row.id for row in started]
            # What to send is read with the runs, before the update (the write lock,
            # on SQLite, is then held only for the update).
            behind = (
                select(
                    DELIVERY.id,
                    DELIVERY.listener_id,
                    DELIVERY.order_id,
                    DELIVERY.next_attempt_at,
                    DELIVERY.lease_until,
                    LISTENER.callback,
                    LISTENER.secret,
                    HUB_EVENT.event_id,
                    HUB_EVENT.event_type,
                    HUB_EVENT.body,
                    DELIVERY.attempts,
                )
                .join(LISTENERS, LISTENER.id == DELIVERY.listener_id)
                .join(EVENTS, HUB_EVENT.id == DELIVERY.event_id)
                .where(
                    tuple_(DELIVERY.listener_id, DELIVERY.order_id).in_(
                        [(row.listener_id, row.order_id) for row in started]
                    ),
                    DELIVERY.delivered_at.is_(None),
                )
                .order_by(DELIVERY.listener_id, DELIVERY.order_id, DELIVERY.event_id)
            )
            rows = connection.execute(behind).all()
            wanted = _runs(rows, set(start_ids), now, limit)
            ids = [i for run in wanted for i in run]
            if not ids:
                return []
            # Taken only if still due, and if its order's first undelivered event to
            # its listener is still the start of its run: SQLite has no row locks (and
            # pysqlite reads outside the transaction), so the check in the update is
            # the claim; a run is then cut at its first event not taken.
            lease_until = now + lease
            take = (
                update(DELIVERIES)
                .where(DELIVERY.id.in_(ids), *due, _first_undelivered().in_(start_ids))
                .values(lease_until=lease_until)
                .returning(DELIVERY.id)
            )
            taken = set(connection.execute(take).scalars())
            kept = [_taken_prefix(run, taken) for run in wanted]
            cut = taken.difference(i for run in kept for i in run)
            if cut:  # held by this transaction alone: let go again before it commits
                connection.execute(
                    update(DELIVERIES).where(DELIVERY.id.in_(cut)).values(lease_until=None)
                )
            sending = {
                row.id: Claimed(
                    id=row.id,
                    listener_id=row.listener_id,
                    order_id=row.order_id,
                    callback=row.callback,
                    secret=row.secret,
                    event_id=row.event_id,
                    event_type=row.event_type,
                    body=row.body,
                    attempts=row.attempts,
                    lease_until=lease_until,
                )
                for row in rows
                if row.id in taken
            }
            return [[sending[i] for i in run] for run in kept if run]

        try:
            return await self.db.transaction(work)
        except OperationalError:
            return []  # SQLite: another deliverer's claim won the write; claim again later

    async def record(self, outcomes: Sequence[Outcome], unsent: Sequence[Claimed] = ()) -> None:
        """Record a round's answers in one transaction: delivered, to try again at
        their time, or their listener gone (410: removed with its deliveries); and let
        go of the deliveries claimed but not sent (behind a failure in their run), due
        again at once. An answer is recorded only while the lease it was sent under
        holds: once another deliverer claimed the delivery again after that lease ran
        out, the delivery is that one's."""

        def work(connection: Connection) -> None:
            now = utcnow()
            held = DELIVERY.lease_until == bindparam("lease", type_=UtcDateTime)
            done = [o for o in outcomes if o.error is None and not o.gone]
            for lease_until, ids in _by_lease((o.lease_until, o.delivery_id) for o in done).items():
                connection.execute(
                    update(DELIVERIES)
                    .where(DELIVERY.id.in_(ids), held)
                    .values(
                        delivered_at=now,
                        lease_until=None,
                        attempts=DELIVERY.attempts + 1,
                        last_error=None,
                    ),
                    {"lease": lease_until},
                )
            failed = [o for o in outcomes if o.error is not None and not o.gone]
            if failed:
                connection.execute(
                    update(DELIVERIES)
                    .where(DELIVERY.id == bindparam("delivery"), held)
                    .values(
                        attempts=DELIVERY.attempts + 1,
                        next_attempt_at=bindparam("again", type_=UtcDateTime),
                        lease_until=None,
                        last_error=bindparam("error"),
                    ),
                    [
                        {
                            "delivery": o.delivery_id,
                            "lease": o.lease_until,
                            "again": o.again,
                            "error": o.error[:500],
                        }
                        for o in failed
                        if o.error is not None
                    ],
                )
            for lease_until, ids in _by_lease((c.lease_until, c.id) for c in unsent).items():
                connection.execute(
                    update(DELIVERIES).where(DELIVERY.id.in_(ids), held).values(lease_until=None),
                    {"lease": lease_until},
                )
            gone = sorted({o.listener_id for o in outcomes if o.gone})
            if gone:
                connection.execute(delete(DELIVERIES).where(DELIVERY.listener_id.in_(gone)))
                connection.execute(delete(LISTENERS).where(LISTENER.id.in_(gone)))

        if outcomes or unsent:
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


def _first_undelivered() -> ScalarSelect[int]:
    """The id of the first undelivered event of the delivery's order to its listener:
    one descent of ``ix_hub_delivery_waiting`` per delivery. A scalar subquery, which
    PostgreSQL runs per row with the index whatever its statistics say (the same test
    as ``NOT EXISTS`` an earlier one, planned as an anti join over a table it believed
    empty, read the whole backlog for each delivery: 0.6 s a claim of 2,800)."""
    first = aliased(DELIVERIES)
    return (
        select(first.c.id)
        .where(
            first.c.listener_id == DELIVERY.listener_id,
            first.c.order_id == DELIVERY.order_id,
            first.c.delivered_at.is_(None),
        )
        .order_by(first.c.event_id)
        .limit(1)
        .scalar_subquery()
    )


def _runs(
    rows: Sequence[Row[*tuple[Any, ...]]],
    starts: set[int],
    now: datetime,
    limit: int,
) -> list[list[int]]:
    """The ids of each run in ``rows`` (the undelivered deliveries of each started
    (listener, order), in event order): from its start, while due, at most ``limit``;
    none when its first row is not its start (another deliverer took it meanwhile)."""
    runs: list[list[int]] = []
    for _, group in groupby(rows, key=lambda row: (row.listener_id, row.order_id)):
        run: list[int] = []
        for row in group:
            free = row.lease_until is None or row.lease_until < now
            if (not run and row.id not in starts) or not free or row.next_attempt_at > now:
                break
            run.append(row.id)
        if run:
            runs.append(run[:limit])
    return runs


def _taken_prefix(run: list[int], taken: set[int]) -> list[int]:
    """The run up to its first delivery not taken."""
    for n, delivery_id in enumerate(run):
        if delivery_id not in taken:
            return run[:n]
    return run


def _by_lease(pairs: Iterable[tuple[datetime, int]]) -> dict[datetime, list[int]]:
    by_lease: dict[datetime, list[int]] = {}
    for lease_until, delivery_id in pairs:
        by_lease.setdefault(lease_until, []).append(delivery_id)
    return by_lease
