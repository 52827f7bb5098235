"""The orders: taking one, reading them, their sub-tasks and their timeline."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, bindparam, func, insert, or_, select
from sqlalchemy.exc import IntegrityError

from models.enums import OrderStatus, ServiceType, SubTaskKind
from models.tables import OrderEvent, SubTask, WorkOrder, utcnow
from workorders.store.base import (
    EVENT,
    EVENTS,
    ORDER,
    ORDERS,
    SUB_TASK,
    SUB_TASKS,
    Store,
    add_event,
    load,
    order_of,
)
from workorders.store.errors import OrderNotFound


@dataclass(frozen=True)
class EventSpan:
    """The first and the last time an order's timeline has events of one kind."""

    first: datetime
    last: datetime


@dataclass(frozen=True)
class OrderKind:
    """What decides how an order's sub-tasks are worked: its region, service type and
    profile, fixed when the order is taken."""

    id: str
    region: str
    service_type: ServiceType
    profile: str


_ORDER_KIND = select(ORDER.id, ORDER.region, ORDER.service_type, ORDER.profile).where(
    ORDER.id == bindparam("order")
)
_NEW_ORDER = insert(ORDERS)
_BY_IDEMPOTENCY_KEY = select(ORDERS).where(ORDER.idempotency_key == bindparam("key"))
_BY_REFERENCE = select(ORDERS).where(ORDER.external_reference == bindparam("reference"))
_SUB_TASKS = select(SUB_TASKS).where(SUB_TASK.order_id == bindparam("order"))
_TIMELINE = (
    select(EVENTS)
    .where(EVENT.order_id == bindparam("order"), EVENT.id > bindparam("after"))
    .order_by(EVENT.id)
)
_EVENT_SPANS = (
    select(EVENT.kind, func.min(EVENT.at), func.max(EVENT.at))
    .where(EVENT.order_id == bindparam("order"))
    .group_by(EVENT.kind)
)
_KINDS = list(SubTaskKind)


PHONE_LIKE = re.compile(r"\+?[0-9][0-9 \-]*")


def _has_text(text: str) -> Any:
    """An order with ``text`` in what a person would search it by (``%`` and ``_``
    are meant as themselves)."""
    columns = (
        ORDER.id,
        ORDER.external_reference,
        ORDER.customer_name,
        ORDER.district,
        ORDER.street,
    )
    found = [column.icontains(text, autoescape=True) for column in columns]
    digits = "".join(c for c in text if c.isdigit())
    if len(digits) >= 4 and PHONE_LIKE.fullmatch(text):
        phone = func.replace(func.replace(ORDER.customer_phone, " ", ""), "-", "")
        found.append(phone.contains(digits, autoescape=True))
    return or_(*found)


class OrderStore(Store):
    """The work orders as they were taken, and what happened to them since."""

    async def create_order(
        self,
        order: WorkOrder,
        actor: str | None = None,
        *,
        then: Callable[[Connection], object] | None = None,
    ) -> tuple[WorkOrder, bool]:
        """Store a new order, or return the one with the same idempotency key or, failing
        that, the same external reference.

        Args:
            then: more of the new order's writes (its booked slot), in its transaction:
                what it raises stores nothing.
            order: the new order.
            actor: who creates it, for the timeline; its channel by default.

        Returns:
            The stored order, and whether it was created now.
        """
        values = {column.name: getattr(order, column.name) for column in ORDERS.columns}

        def work(connection: Connection) -> tuple[WorkOrder, bool]:
            existing = _existing(connection, order)
            if existing is not None:
                return existing, False
            try:
                connection.execute(_NEW_ORDER, values)
                add_event(
                    connection,
                    order.id,
                    actor or f"channel:{order.channel.value}",
                    "order.received",
                    utcnow(),
                    external_reference=order.external_reference,
                    channel=order.channel.value,
                    region=order.region,
                )
                if then is not None:
                    then(connection)
                connection.commit()
            except IntegrityError:
                connection.rollback()
                existing = _existing(connection, order)
                if existing is None:
                    raise
                return existing, False
            return order, True

        return await self.db.transaction(work)

    async def get_order(self, order_id: str) -> WorkOrder:
        """The order.

        Raises:
            OrderNotFound: no such order.
        """
        return await self.db.transaction(lambda connection: order_of(connection, order_id))

    async def order_kind(self, order_id: str) -> OrderKind:
        """The order's region, service type and profile: what an activity reads when
        it needs no more of the order (a row of four columns, not the whole order)."""

        def work(connection: Connection) -> OrderKind:
            row = connection.execute(_ORDER_KIND, {"order": order_id}).first()
            if row is None:
                raise OrderNotFound(order_id)
            return OrderKind(*row)

        return await self.db.transaction(work)

    async def get_sub_tasks(self, order_id: str) -> list[SubTask]:
        """The order's sub-tasks, in the order of :class:`SubTaskKind`."""

        def work(connection: Connection) -> list[SubTask]:
            rows = connection.execute(_SUB_TASKS, {"order": order_id})
            return sorted((load(SubTask, r) for r in rows), key=lambda t: _KINDS.index(t.kind))

        return await self.db.transaction(work)

    async def list_orders(
        self,
        *,
        status: OrderStatus | None = None,
        region: str | None = None,
        technician_id: str | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        external_reference: str | None = None,
        text: str | None = None,
        after: tuple[datetime, str] | None = None,
        matching: ColumnElement[bool] | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[list[WorkOrder], int]:
        """Orders, newest first, with the count of all that match.

        Args:
            status: only orders with this status.
            region: only orders of this region.
            technician_id: only orders whose installation job is this technician's.
            created_from: only orders created at or after this instant.
            created_to: only orders created before this instant.
            external_reference: only the order with this external reference.
            text: only orders with this text (any case) in their id, external reference,
                customer name, district or street, or these digits in the customer's
                phone (spaces and dashes aside): what a front desk types to find one.
            after: the page after this order's ``(created_at, id)`` (keyset paging).
            matching: only orders whose row meets this condition (a TMF641 state,
                :func:`workorders.store.outbox.in_state`).
            offset: skip this many orders first (offset paging, for TMF641).
            limit: at most this many orders.
        """
        filters: list[Any] = []
        if status is not None:
            filters.append(ORDER.status == status)
        if region is not None:
            filters.append(ORDER.region == region)
        if created_from is not None:
            filters.append(ORDER.created_at >= created_from)
        if created_to is not None:
            filters.append(ORDER.created_at < created_to)
        if technician_id is not None:
            filters.append(ORDER.technician_id == technician_id)
        if external_reference is not None:
            filters.append(ORDER.external_reference == external_reference)
        if text:
            filters.append(_has_text(text))
        if matching is not None:
            filters.append(matching)
        query = select(ORDERS).where(*filters)
        if after is not None:
            created_at, order_id = after
            query = query.where(
                or_(
                    ORDER.created_at < created_at,
                    and_(ORDER.created_at == created_at, ORDER.id < order_id),
                )
            )
        query = query.order_by(ORDER.created_at.desc(), ORDER.id.desc()).offset(offset).limit(limit)
        count = select(func.count()).select_from(ORDERS).where(*filters)

        def work(connection: Connection) -> tuple[list[WorkOrder], int]:
            orders = [load(WorkOrder, row) for row in connection.execute(query)]
            return orders, int(connection.execute(count).scalar_one())

        return await self.db.transaction(work)

    async def order_ids_with_status(self, status: OrderStatus) -> list[str]:
        query = select(ORDER.id).where(ORDER.status == status)
        return await self.db.transaction(
            lambda connection: list(connection.execute(query).scalars())
        )

    async def timeline(self, order_id: str, *, after: int = 0) -> list[OrderEvent]:
        """The order's events, oldest first (those after the event of id ``after``:
        what a follower who saw that one has not seen yet)."""
        return await self.db.transaction(
            lambda connection: [
                load(OrderEvent, row)
                for row in connection.execute(_TIMELINE, {"order": order_id, "after": after})
            ]
        )

    async def event_spans(self, order_id: str) -> dict[str, EventSpan]:
        """When each kind of event of the order's timeline first and last happened:
        what the timeline says of its sub-tasks' durations, read without the events'
        details (one grouped index range, at the end of every order)."""

        def work(connection: Connection) -> dict[str, EventSpan]:
            rows = connection.execute(_EVENT_SPANS, {"order": order_id})
            return {kind: EventSpan(first, last) for kind, first, last in rows}

        return await self.db.transaction(work)


def _existing(connection: Connection, order: WorkOrder) -> WorkOrder | None:
    """The stored order with the new one's idempotency key, else its reference."""
    if order.idempotency_key is not None:
        found = connection.execute(_BY_IDEMPOTENCY_KEY, {"key": order.idempotency_key}).first()
        if found is not None:
            return load(WorkOrder, found)
    by_reference = connection.execute(
        _BY_REFERENCE, {"reference": order.external_reference}
    ).first()
    return None if by_reference is None else load(WorkOrder, by_reference)
