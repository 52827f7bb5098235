"""The outbox of TMF641 notifications: each line of an order's timeline writes the
events it causes (:func:`workorders.tmf641.events.notifications`) in its own
transaction, so an event exists exactly when the change that caused it was committed.
:func:`workorders.store.base.add_event` calls :func:`note`; the deliverer reads the
outbox (:mod:`workorders.store.hub`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select
from sqlmodel import SQLModel

from workorders.tmf641.events import OrderSnapshot, notifications

_TABLES = SQLModel.metadata.tables
HUB_EVENTS = _TABLES["hub_event"]
_ORDER = _TABLES["work_order"].c
_HUB_EVENT = HUB_EVENTS.c

_SNAPSHOT = select(_ORDER.id, _ORDER.external_reference, _ORDER.status, _ORDER.status_reason).where(
    _ORDER.id == bindparam("order")
)
_TOLD_STATE = (
    select(_HUB_EVENT.state)
    .where(_HUB_EVENT.order_id == bindparam("order"))
    .order_by(_HUB_EVENT.id.desc())
    .limit(1)
)
_NEW = insert(HUB_EVENTS)


def note(
    connection: Connection,
    order_id: str,
    kind: str,
    at: datetime,
    detail: dict[str, Any] | None,
    event_seq: int | None,
) -> None:
    """Write the notifications of the timeline line ``kind`` (id ``event_seq``) of the
    order, as the order stands in this transaction."""
    row = connection.execute(_SNAPSHOT, {"order": order_id}).first()
    if row is None:
        return
    order = OrderSnapshot(id=row[0], external_id=row[1], status=row[2], reason=row[3])
    told = connection.execute(_TOLD_STATE, {"order": order_id}).scalar()
    new = notifications(kind, at, order, told, detail, event_seq=event_seq)
    if new:
        connection.execute(
            _NEW,
            [
                {
                    "event_id": n.event_id,
                    "event_type": n.event_type,
                    "order_id": order_id,
                    "state": n.state,
                    "at": at,
                    "body": n.body,
                    "fanned_out": False,
                }
                for n in new
            ],
        )
