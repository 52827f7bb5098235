"""An order's progress: dispatched with its three sub-tasks, a sub-task handed to
operations and back, its installation's time limit, and its status at the end."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from models.enums import OrderStatus, SlaState, SubTaskKind, SubTaskStatus
from models.payloads import OrderDecision, SubTaskOutcome
from models.tables import UtcDateTime, utcnow
from workorders.store.base import (
    ORDER,
    ORDERS,
    SUB_TASK,
    SUB_TASKS,
    SYSTEM,
    Store,
    add_event,
    open_status_of,
    order_of,
    set_order_status,
    the_sub_task,
)
from workorders.store.errors import OrderNotFound
from workorders.store.inventory import RELEASE
from workorders.store.jobs import CONSTRUCTION_OF_ORDER

_THE_SUB_TASK = (
    SUB_TASK.order_id == bindparam("order"),
    SUB_TASK.kind == bindparam("sub_task_kind"),
)
_ORDER_STATUS = select(ORDER.status).where(ORDER.id == bindparam("order"))
_SUB_TASKS_OF_ORDER = select(SUB_TASK.kind, SUB_TASK.status, SUB_TASK.queued_at).where(
    SUB_TASK.order_id == bindparam("order")
)
_NEW_SUB_TASK = insert(SUB_TASKS)
_DISPATCH = (
    update(ORDERS)
    .where(ORDER.id == bindparam("order"), ORDER.status == OrderStatus.RECEIVED)
    .values(status=OrderStatus.IN_PROGRESS, updated_at=bindparam("at", type_=UtcDateTime))
)
_SUB_TASK_STATUS = (
    update(SUB_TASKS)
    .where(*_THE_SUB_TASK)
    .values(
        status=bindparam("new_status", type_=SUB_TASK.status.type),
        detail=bindparam("new_detail", type_=SUB_TASK.detail.type),
        updated_at=bindparam("at", type_=UtcDateTime),
    )
)
_UNQUEUE = update(SUB_TASKS).where(*CONSTRUCTION_OF_ORDER).values(queued_at=None)
_ORDER_OUTCOME = {
    "status": bindparam("new_status", type_=ORDER.status.type),
    "status_reason": bindparam("new_reason", type_=ORDER.status_reason.type),
    "updated_at": bindparam("at", type_=UtcDateTime),
}
_SET_ORDER_STATUS = update(ORDERS).where(ORDER.id == bindparam("order")).values(_ORDER_OUTCOME)
_END_ORDER = _SET_ORDER_STATUS.values(completed_at=bindparam("at", type_=UtcDateTime))
"""The statements of an order's start and end, built once (every order's)."""


class ProgressStore(Store):
    """Where an order stands: its status and its sub-tasks' (the statuses
    :mod:`models.status` decides)."""

    async def start_order(
        self,
        order_id: str,
        installation_limit: timedelta | None = None,
        *,
        quality_check: str | None = None,
    ) -> None:
        """Move a received order to in progress and open its three sub-tasks; the
        construction sub-task is due ``installation_limit`` from now, and with
        ``quality_check`` (what it does until the line is ready) the quality check is
        in progress from the start. Running it again (an activity retried) changes
        nothing."""

        def work(connection: Connection) -> None:
            this = {"order": order_id}
            if connection.execute(_ORDER_STATUS, this).first() is None:
                raise OrderNotFound(order_id)
            existing = set(connection.execute(_SUB_TASKS_OF_ORDER, this).scalars())
            now = utcnow()
            no_limit: dict[str, Any] = {"due_at": None, "sla_state": None}
            limit = no_limit
            if installation_limit is not None:
                limit = {"due_at": now + installation_limit, "sla_state": SlaState.ON_TIME}
            pending: dict[str, Any] = {"status": SubTaskStatus.PENDING, "detail": None}
            opened = pending
            if quality_check is not None:
                opened = {"status": SubTaskStatus.IN_PROGRESS, "detail": quality_check}
            new = [
                {
                    "order_id": order_id,
                    "kind": kind,
                    "attempts": 0,
                    "visit": 0,
                    "version": 0,
                    "updated_at": now,
                    **(limit if kind is SubTaskKind.CONSTRUCTION else no_limit),
                    **(opened if kind is SubTaskKind.QUALITY_CHECK else pending),
                }
                for kind in SubTaskKind
                if kind not in existing
            ]
            if new:
                connection.execute(_NEW_SUB_TASK, new)
            if connection.execute(_DISPATCH, {**this, "at": now}).rowcount:
                add_event(
                    connection,
                    order_id,
                    SYSTEM,
                    "order.dispatched",
                    now,
                    sub_tasks=[k.value for k in SubTaskKind],
                )

        return await self.db.transaction(work)

    async def complete_order(
        self, order_id: str, decision: OrderDecision, outcomes: Sequence[SubTaskOutcome]
    ) -> None:
        """Store the order's status and each sub-task's outcome (again: no change)."""

        def work(connection: Connection) -> None:
            this = {"order": order_id}
            status = connection.execute(_ORDER_STATUS, this).scalar()
            if status is None:
                raise OrderNotFound(order_id)
            tasks = {t.kind: t for t in connection.execute(_SUB_TASKS_OF_ORDER, this)}
            activated = any(
                o.kind is SubTaskKind.ACTIVATION and o.status is SubTaskStatus.SUCCEEDED
                for o in outcomes
            )
            cancelled = decision.status is OrderStatus.CANCELLED  # deactivated before
            if decision.status.is_final and (cancelled or not activated):
                connection.execute(RELEASE, this)  # give the network back
            now = utcnow()
            construction = tasks.get(SubTaskKind.CONSTRUCTION)
            if construction is not None and construction.queued_at is not None:
                connection.execute(_UNQUEUE, this)  # an ended order waits for nobody
            changed = [
                {
                    **this,
                    "sub_task_kind": o.kind,
                    "new_status": o.status,
                    "new_detail": o.reason,
                    "at": now,
                }
                for o in outcomes
                if o.kind in tasks and tasks[o.kind].status != o.status
            ]
            if changed:
                connection.execute(_SUB_TASK_STATUS, changed)
            if status != decision.status:
                connection.execute(
                    _END_ORDER if decision.status.is_final else _SET_ORDER_STATUS,
                    {
                        **this,
                        "new_status": decision.status,
                        "new_reason": decision.reason,
                        "at": now,
                    },
                )
                add_event(
                    connection,
                    order_id,
                    SYSTEM,
                    f"order.{decision.status.value}",
                    now,
                    reason=decision.reason,
                )

        return await self.db.transaction(work)

    async def hand_to_operations(
        self, order_id: str, kind: SubTaskKind, reason: str | None
    ) -> None:
        """A sub-task waits for operations (with ``reason``), or resumes (``None``); the
        order's status says so (:func:`models.status.open_order_status`)."""

        def work(connection: Connection) -> None:
            order = order_of(connection, order_id)
            task = the_sub_task(connection, order_id, kind)
            waiting = SubTaskStatus.WAITING_FOR_OPERATIONS
            if (reason is not None) == (task.status is waiting):
                return  # already so
            now = utcnow()
            changes: dict[str, Any] = {
                "status": waiting if reason else SubTaskStatus.IN_PROGRESS,
                "detail": reason or "resumed by operations",
                "updated_at": now,
            }
            if reason:
                changes["queued_at"] = None  # out of the technicians' queue meanwhile
            connection.execute(update(SUB_TASKS).where(SUB_TASK.id == task.id).values(changes))
            if not order.status.is_final:
                decision = open_status_of(connection, order_id)
                set_order_status(connection, order_id, decision, now, reason=True)
            add_event(
                connection,
                order_id,
                SYSTEM,
                f"{kind.value}.{'waiting_for_operations' if reason else 'resumed'}",
                now,
                reason=reason,
            )

        return await self.db.transaction(work)

    async def set_sla_state(
        self, order_id: str, state: SlaState, due_at: datetime | None = None
    ) -> None:
        """Mark the installation on time (with a new time limit ``due_at``: a visit
        was booked), in jeopardy or breached."""

        def work(connection: Connection) -> None:
            task = the_sub_task(connection, order_id, SubTaskKind.CONSTRUCTION)
            due = due_at or task.due_at
            if task.sla_state == state and due == task.due_at:
                return
            now = utcnow()
            connection.execute(
                update(SUB_TASKS)
                .where(SUB_TASK.id == task.id)
                .values(sla_state=state, due_at=due, updated_at=now)
            )
            add_event(
                connection,
                order_id,
                SYSTEM,
                f"construction.sla_{state.value}",
                now,
                due_at=due.isoformat() if due else None,
            )

        return await self.db.transaction(work)
