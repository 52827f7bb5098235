"""The outbox of TMF641 notifications: each line of an order's timeline writes the
events it causes (:func:`workorders.tmf641.events.notifications`) in its own
transaction, so an event exists exactly when the change that caused it was committed.
:func:`workorders.store.base.add_event` calls :func:`note`; the deliverer reads the
outbox (:mod:`workorders.store.hub`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    bindparam,
    exists,
    false,
    insert,
    or_,
    select,
)
from sqlmodel import SQLModel

from models.enums import JobState, OrderStatus, SubTaskKind, SubTaskStatus
from workorders.tmf641.events import OrderSnapshot, notifications
from workorders.tmf641.mapping import CANCELLATION_REQUESTED, state_of

_TABLES = SQLModel.metadata.tables
HUB_EVENTS = _TABLES["hub_event"]
_ORDER = _TABLES["work_order"].c
_SUB_TASK = _TABLES["sub_task"].c
_EVENT = _TABLES["order_event"].c
_HUB_EVENT = HUB_EVENTS.c

CANCELLING = exists().where(_EVENT.order_id == _ORDER.id, _EVENT.kind == CANCELLATION_REQUESTED)
"""The order's cancellation was accepted (SQL, of ``work_order``'s row)."""
WAITING = exists().where(
    _SUB_TASK.order_id == _ORDER.id,
    _SUB_TASK.kind == SubTaskKind.CONSTRUCTION,
    _SUB_TASK.status == SubTaskStatus.IN_PROGRESS,
    or_(
        _SUB_TASK.queued_at.is_not(None),
        and_(_SUB_TASK.job_state == JobState.ASSIGNED, _SUB_TASK.visit > 1),
    ),
)
""":func:`workorders.tmf641.mapping.construction_waits` of the order's job, in SQL."""
PARTLY_DONE = exists().where(
    _SUB_TASK.order_id == _ORDER.id, _SUB_TASK.status == SubTaskStatus.SUCCEEDED
)
"""A sub-task of the order succeeded."""

_SNAPSHOT = select(
    _ORDER.id,
    _ORDER.external_reference,
    _ORDER.status,
    _ORDER.status_reason,
    CANCELLING,
    WAITING,
    PARTLY_DONE,
).where(_ORDER.id == bindparam("order"))
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
    order = OrderSnapshot(
        id=row[0],
        external_id=row[1],
        status=row[2],
        reason=row[3],
        cancelling=bool(row[4]),
        waiting=bool(row[5]),
        partly_done=bool(row[6]),
    )
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


def in_state(state: str) -> ColumnElement[bool]:
    """Orders whose ServiceOrder ``state`` is ``state``, in SQL (of ``work_order``'s
    row): the combinations of status and facts for which
    :func:`workorders.tmf641.mapping.state_of` answers it, so the rule has one home."""
    facts = (CANCELLING, WAITING, PARTLY_DONE)
    terms: list[ColumnElement[bool]] = []
    for status in OrderStatus:
        combinations = [
            (c, w, p)
            for c in (False, True)
            for w in (False, True)
            for p in (False, True)
            if state_of(status, cancelling=c, waiting=w, partly_done=p) == state
        ]
        if len(combinations) == 8:
            terms.append(_ORDER.status == status)
            continue
        for combination in combinations:
            terms.append(
                and_(
                    _ORDER.status == status,
                    *(f if held else ~f for f, held in zip(facts, combination, strict=True)),
                )
            )
    return or_(false(), *terms)
