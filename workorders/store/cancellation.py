"""A cancellation in the database: the request recorded in the order's timeline, and
the installation job withdrawn; sub-tasks waiting for operations stop waiting."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, update

from models.enums import AppointmentStatus, JobState, OrderStatus, SubTaskKind, SubTaskStatus
from models.payloads import ConstructionJobState
from models.tables import UtcDateTime, WorkOrder, utcnow
from workorders.store.base import (
    ORDER,
    ORDERS,
    SUB_TASK,
    SUB_TASKS,
    Store,
    add_event,
    cancellation_requested,
    open_status_of,
    order_of,
    set_order_status,
    the_sub_task,
)
from workorders.store.jobs import end_booking, job_state_of, set_order_technician, unbook
from workorders.tmf641.mapping import CANCELLATION_REQUESTED


@dataclass(frozen=True)
class Withdrawal:
    """What withdrawing a cancelled order's installation job did."""

    freed: str | None
    """The technician who got room for another job, if any."""
    state: ConstructionJobState
    """The job after it: still completed if it was installed before."""


_STOP_WAITING = (
    update(SUB_TASKS)
    .where(
        SUB_TASK.order_id == bindparam("order"),
        SUB_TASK.kind.in_(bindparam("kinds", expanding=True)),
        SUB_TASK.status == SubTaskStatus.WAITING_FOR_OPERATIONS,
    )
    .values(
        status=SubTaskStatus.CANCELLED,
        detail="cancelled while waiting for operations",
        queued_at=None,
        updated_at=bindparam("at", type_=UtcDateTime),
    )
)
_CANCELLATION_REASON = (
    update(ORDERS)
    .where(ORDER.id == bindparam("order"))
    .values(
        status_reason=bindparam("new_reason", type_=ORDER.status_reason.type),
        updated_at=bindparam("at", type_=UtcDateTime),
    )
)


class CancellationStore(Store):
    """What an order's cancellation changes before its final status is stored."""

    async def record_cancellation(self, order_id: str, actor: str, reason: str) -> None:
        """Record that the order's cancellation was requested, by whom and why.

        Sub-tasks waiting for operations stop waiting (they are cancelled), so the order
        no longer waits for an operator while its cleanup runs; its reason says that it
        is being cancelled. Recorded once, however often the activity runs.
        """

        def work(connection: Connection) -> None:
            order = order_of(connection, order_id)
            if cancellation_requested(connection, order_id):
                return
            now = utcnow()
            if not order.status.is_final:
                _stop_waiting(
                    connection, order, (SubTaskKind.ACTIVATION, SubTaskKind.QUALITY_CHECK)
                )
                connection.execute(
                    _CANCELLATION_REASON,
                    {
                        "order": order_id,
                        "new_reason": f"cancellation requested by {actor}: {reason}"[:1000],
                        "at": now,
                    },
                )
            add_event(connection, order_id, actor, CANCELLATION_REQUESTED, now, reason=reason)

        return await self.db.transaction(work)

    async def withdraw_construction(self, order_id: str, actor: str, reason: str) -> Withdrawal:
        """The order is cancelled: its installation job is taken back from the
        technician (who has room for another job again), leaves the queue, or stops
        waiting for operations; the construction sub-task is cancelled.

        An installation completed before the cancellation was recorded stands: the
        database took the completion first (reports are refused once a cancellation
        is requested), so the job stays completed and nothing is withdrawn.

        Returns:
            Who got room for another job, and the job as it stands after.
        """

        def work(connection: Connection) -> Withdrawal:
            order = order_of(connection, order_id)
            task = the_sub_task(connection, order_id, SubTaskKind.CONSTRUCTION)
            technician_id = task.technician_id
            queued = task.queued_at is not None
            waiting = task.status is SubTaskStatus.WAITING_FOR_OPERATIONS
            if task.status is SubTaskStatus.CANCELLED:
                # withdrawn already (ran again)
                return Withdrawal(None, job_state_of(connection, task))
            if task.job_state is JobState.COMPLETED:
                _stop_waiting(connection, order)
                return Withdrawal(None, job_state_of(connection, task))
            freed = None
            if technician_id is not None:
                unbook(connection, technician_id)
                freed = technician_id
                set_order_technician(connection, order_id, None)
            now = utcnow()
            connection.execute(
                update(SUB_TASKS)
                .where(SUB_TASK.id == task.id)
                .values(
                    technician_id=None,
                    job_state=None,
                    queued_at=None,
                    status=SubTaskStatus.CANCELLED,
                    detail=reason,
                    version=SUB_TASK.version + int(technician_id is not None),
                    updated_at=now,
                )
            )
            _stop_waiting(connection, order)
            end_booking(connection, order_id, AppointmentStatus.CANCELLED, now, actor)
            if technician_id is not None or queued or waiting:
                add_event(
                    connection,
                    order_id,
                    actor,
                    "construction.withdrawn",
                    now,
                    technician_id=technician_id,
                    queued=queued,
                    waiting_for_operations=waiting,
                    reason=reason,
                )
            version = task.version + int(technician_id is not None)
            return Withdrawal(freed, ConstructionJobState(version=version))

        return await self.db.transaction(work)


def _stop_waiting(
    connection: Connection, order: WorkOrder, kinds: Sequence[SubTaskKind] = tuple(SubTaskKind)
) -> None:
    """Those of the order's sub-tasks of ``kinds`` that wait for operations are
    cancelled (the order is); a waiting order then has the status its sub-tasks give it
    (:func:`models.status.open_order_status`), its reason kept."""
    now = utcnow()
    connection.execute(_STOP_WAITING, {"order": order.id, "kinds": list(kinds), "at": now})
    if order.status is OrderStatus.WAITING_FOR_OPERATIONS:
        decision = open_status_of(connection, order.id)
        if decision.status is not order.status:
            set_order_status(connection, order.id, decision, now, reason=False)
