"""Reads and writes of the work-order database, shared by the API and the activities.

Every write that belongs together happens in one transaction, and every write an
activity makes is idempotent, since Temporal may run an activity more than once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select

from models.enums import (
    AttemptOutcome,
    JobState,
    OrderStatus,
    SubTaskKind,
    SubTaskStatus,
)
from models.payloads import ConstructionReport, OrderDecision, SubTaskOutcome
from models.tables import OrderEvent, SubTask, SubTaskAttempt, Technician, WorkOrder, utcnow
from workorders.db import Database
from workorders.planning import PastAttempt

SYSTEM = "system"


class OrderNotFound(LookupError):
    """No work order has that id."""


def _event(order_id: str, actor: str, kind: str, **detail: Any) -> OrderEvent:
    return OrderEvent(order_id=order_id, actor=actor, kind=kind, detail=detail or None)


class WorkOrderStore:
    """The work-order information database, in the domain's words."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # Orders ------------------------------------------------------------------

    async def create_order(self, order: WorkOrder) -> tuple[WorkOrder, bool]:
        """Store a new order, or return the one with the same external reference.

        Returns:
            The stored order, and whether it was created now.
        """
        async with self.db.session() as session:
            existing = await self._by_reference(session, order.external_reference)
            if existing is not None:
                return existing, False
            session.add(order)
            try:
                await session.flush()
                session.add(
                    _event(
                        order.id,
                        f"channel:{order.channel.value}",
                        "order.received",
                        external_reference=order.external_reference,
                        region=order.region,
                    )
                )
                await session.commit()
            except IntegrityError:
                await session.rollback()
                existing = await self._by_reference(session, order.external_reference)
                if existing is None:
                    raise
                return existing, False
            return order, True

    @staticmethod
    async def _by_reference(session: Any, reference: str) -> WorkOrder | None:
        result = await session.exec(
            select(WorkOrder).where(WorkOrder.external_reference == reference)
        )
        order: WorkOrder | None = result.first()
        return order

    async def get_order(self, order_id: str) -> WorkOrder:
        async with self.db.session() as session:
            order = await session.get(WorkOrder, order_id)
        if order is None:
            raise OrderNotFound(order_id)
        return order

    async def get_sub_tasks(self, order_id: str) -> list[SubTask]:
        async with self.db.session() as session:
            rows = await session.exec(select(SubTask).where(SubTask.order_id == order_id))
            return sorted(rows.all(), key=lambda t: list(SubTaskKind).index(t.kind))

    async def list_orders(
        self,
        *,
        status: OrderStatus | None = None,
        region: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[WorkOrder], int]:
        """Orders, newest first, with the count of all that match."""
        query = select(WorkOrder)
        count = select(func.count()).select_from(WorkOrder)
        if status is not None:
            query = query.where(WorkOrder.status == status)
            count = count.where(WorkOrder.status == status)
        if region is not None:
            query = query.where(WorkOrder.region == region)
            count = count.where(WorkOrder.region == region)
        query = (
            query.order_by(col(WorkOrder.created_at).desc(), col(WorkOrder.id))
            .offset(offset)
            .limit(limit)
        )
        async with self.db.session() as session:
            rows = (await session.exec(query)).all()
            total = (await session.exec(count)).one()
        return list(rows), int(total)

    async def order_ids_with_status(self, status: OrderStatus) -> list[str]:
        async with self.db.session() as session:
            rows = await session.exec(select(WorkOrder.id).where(WorkOrder.status == status))
            return list(rows.all())

    async def start_order(self, order_id: str) -> WorkOrder:
        """Move a received order to in progress and open its three sub-tasks."""
        async with self.db.session() as session:
            order = await session.get(WorkOrder, order_id)
            if order is None:
                raise OrderNotFound(order_id)
            existing = set(
                (await session.exec(select(SubTask.kind).where(SubTask.order_id == order_id))).all()
            )
            for kind in SubTaskKind:
                if kind not in existing:
                    session.add(SubTask(order_id=order_id, kind=kind))
            if order.status is OrderStatus.RECEIVED:
                order.status = OrderStatus.IN_PROGRESS
                order.updated_at = utcnow()
                session.add(order)
                session.add(
                    _event(
                        order_id,
                        SYSTEM,
                        "order.dispatched",
                        sub_tasks=[k.value for k in SubTaskKind],
                    )
                )
            await session.commit()
            await session.refresh(order)
            return order

    async def complete_order(
        self, order_id: str, decision: OrderDecision, outcomes: Sequence[SubTaskOutcome]
    ) -> WorkOrder:
        """Store the order's final status and each sub-task's outcome."""
        async with self.db.session() as session:
            order = await session.get(WorkOrder, order_id)
            if order is None:
                raise OrderNotFound(order_id)
            tasks = {
                t.kind: t
                for t in (
                    await session.exec(select(SubTask).where(SubTask.order_id == order_id))
                ).all()
            }
            for outcome in outcomes:
                task = tasks.get(outcome.kind)
                if task is not None and task.status != outcome.status:
                    task.status = outcome.status
                    task.detail = outcome.reason
                    task.updated_at = utcnow()
                    session.add(task)
            if order.status != decision.status:
                now = utcnow()
                order.status = decision.status
                order.status_reason = decision.reason
                order.updated_at = now
                if decision.status.is_final:
                    order.completed_at = now
                session.add(order)
                session.add(
                    _event(
                        order_id, SYSTEM, f"order.{decision.status.value}", reason=decision.reason
                    )
                )
            await session.commit()
            await session.refresh(order)
            return order

    async def timeline(self, order_id: str) -> list[OrderEvent]:
        async with self.db.session() as session:
            rows = await session.exec(
                select(OrderEvent)
                .where(OrderEvent.order_id == order_id)
                .order_by(col(OrderEvent.id))
            )
            return list(rows.all())

    async def attempts(
        self, order_id: str, kind: SubTaskKind | None = None
    ) -> list[SubTaskAttempt]:
        query = select(SubTaskAttempt).where(SubTaskAttempt.order_id == order_id)
        if kind is not None:
            query = query.where(SubTaskAttempt.kind == kind)
        async with self.db.session() as session:
            rows = await session.exec(
                query.order_by(col(SubTaskAttempt.kind), col(SubTaskAttempt.attempt))
            )
            return list(rows.all())

    # Attempts of activation and quality check ----------------------------------

    async def history(self, order_id: str, kind: SubTaskKind) -> list[PastAttempt]:
        """The order's earlier attempts of one sub-task, oldest first."""
        return [
            PastAttempt(a.attempt, a.data or {}, a.outcome, a.error_code)
            for a in await self.attempts(order_id, kind)
        ]

    async def begin_attempt(
        self,
        order_id: str,
        kind: SubTaskKind,
        attempt: int,
        plan: Callable[[list[PastAttempt]], BaseModel | None],
    ) -> dict[str, Any] | None:
        """The data of attempt ``attempt``, planned from the history and stored.

        Running it again (an activity retried by Temporal) returns the data stored
        the first time, so a transient failure is retried with the same data.

        Returns:
            The attempt's data, or ``None`` when the plan found nothing left to try.
        """
        async with self.db.session() as session:
            stored = await self._attempt(session, order_id, kind, attempt)
            if stored is not None:
                return stored.data
            earlier = (
                await session.exec(
                    select(SubTaskAttempt)
                    .where(SubTaskAttempt.order_id == order_id, SubTaskAttempt.kind == kind)
                    .where(SubTaskAttempt.attempt < attempt)
                    .order_by(col(SubTaskAttempt.attempt))
                )
            ).all()
            planned = plan(
                [PastAttempt(a.attempt, a.data or {}, a.outcome, a.error_code) for a in earlier]
            )
            if planned is None:
                return None
            data = planned.model_dump(mode="json")
            session.add(SubTaskAttempt(order_id=order_id, kind=kind, attempt=attempt, data=data))
            task = await self._sub_task(session, order_id, kind)
            task.status = SubTaskStatus.IN_PROGRESS
            task.attempts = attempt
            task.data = data
            task.updated_at = utcnow()
            session.add(task)
            session.add(
                _event(
                    order_id, SYSTEM, f"{kind.value}.attempt_started", attempt=attempt, data=data
                )
            )
            try:
                await session.commit()
            except IntegrityError:
                await session.rollback()
                stored = await self._attempt(session, order_id, kind, attempt)
                if stored is None:
                    raise
                return stored.data
            return data

    async def finish_attempt(
        self,
        order_id: str,
        kind: SubTaskKind,
        attempt: int,
        *,
        succeeded: bool,
        result: dict[str, Any],
        error_code: str | None = None,
        detail: str | None = None,
        actor: str = "nms",
    ) -> None:
        """Store an attempt's result with its data, and the sub-task's latest result."""
        async with self.db.session() as session:
            stored = await self._attempt(session, order_id, kind, attempt)
            if stored is None:
                raise LookupError(f"{kind.value} attempt {attempt} of {order_id} was never begun")
            if stored.outcome is not AttemptOutcome.PENDING:
                return
            outcome = AttemptOutcome.SUCCEEDED if succeeded else AttemptOutcome.FAILED
            stored.outcome = outcome
            stored.result = result
            stored.error_code = error_code
            stored.finished_at = utcnow()
            session.add(stored)
            task = await self._sub_task(session, order_id, kind)
            task.result = result
            task.detail = detail
            if succeeded:
                task.status = SubTaskStatus.SUCCEEDED
            task.updated_at = utcnow()
            session.add(task)
            session.add(
                _event(
                    order_id,
                    actor,
                    f"{kind.value}.attempt_{outcome.value}",
                    attempt=attempt,
                    error_code=error_code,
                    detail=detail,
                )
            )
            await session.commit()

    async def set_sub_task_detail(self, order_id: str, kind: SubTaskKind, detail: str) -> None:
        """Say what a sub-task is doing (shown with the order)."""
        async with self.db.session() as session:
            task = await self._sub_task(session, order_id, kind)
            if task.status is SubTaskStatus.PENDING:
                task.status = SubTaskStatus.IN_PROGRESS
            task.detail = detail
            task.updated_at = utcnow()
            session.add(task)
            await session.commit()

    @staticmethod
    async def _attempt(
        session: Any, order_id: str, kind: SubTaskKind, attempt: int
    ) -> SubTaskAttempt | None:
        result = await session.exec(
            select(SubTaskAttempt).where(
                SubTaskAttempt.order_id == order_id,
                SubTaskAttempt.kind == kind,
                SubTaskAttempt.attempt == attempt,
            )
        )
        row: SubTaskAttempt | None = result.first()
        return row

    @staticmethod
    async def _sub_task(session: Any, order_id: str, kind: SubTaskKind) -> SubTask:
        result = await session.exec(
            select(SubTask).where(SubTask.order_id == order_id, SubTask.kind == kind)
        )
        task: SubTask | None = result.first()
        if task is None:
            raise OrderNotFound(f"{order_id} has no {kind.value} sub-task (not dispatched yet)")
        return task

    # Construction --------------------------------------------------------------

    async def assign_technician(self, order_id: str, region: str, skill: str) -> str | None:
        """Assign the order's construction job to the least-loaded technician of the
        region who has the skill and room for another job; keep an earlier assignment.

        Returns:
            The technician's id, or ``None`` when nobody can take the job.
        """
        async with self.db.session() as session:
            task = await self._sub_task(session, order_id, SubTaskKind.CONSTRUCTION)
            if task.technician_id is not None:
                return task.technician_id
            load = dict(
                (
                    await session.exec(
                        select(SubTask.technician_id, func.count())
                        .where(
                            SubTask.kind == SubTaskKind.CONSTRUCTION,
                            SubTask.status == SubTaskStatus.IN_PROGRESS,
                            col(SubTask.technician_id).is_not(None),
                        )
                        .group_by(col(SubTask.technician_id))
                    )
                ).all()
            )
            technicians = (
                await session.exec(
                    select(Technician).where(
                        Technician.region == region, col(Technician.active).is_(True)
                    )
                )
            ).all()
            candidates = sorted(
                (
                    t
                    for t in technicians
                    if skill in t.skills and load.get(t.id, 0) < t.max_open_jobs
                ),
                key=lambda t: (load.get(t.id, 0), t.id),
            )
            if not candidates:
                return None
            chosen = candidates[0]
            task.technician_id = chosen.id
            task.job_state = JobState.ASSIGNED
            task.status = SubTaskStatus.IN_PROGRESS
            task.detail = f"assigned to {chosen.name} ({chosen.id})"
            task.updated_at = utcnow()
            session.add(task)
            session.add(
                _event(
                    order_id,
                    SYSTEM,
                    "construction.assigned",
                    technician_id=chosen.id,
                    region=region,
                )
            )
            await session.commit()
            return chosen.id

    async def has_technicians(self, region: str, skill: str) -> bool:
        """Whether the region has any active technician with the skill."""
        async with self.db.session() as session:
            technicians = (
                await session.exec(
                    select(Technician).where(
                        Technician.region == region, col(Technician.active).is_(True)
                    )
                )
            ).all()
        return any(skill in t.skills for t in technicians)

    async def record_construction_report(self, order_id: str, report: ConstructionReport) -> None:
        """Store a technician's report as the construction sub-task's latest state."""
        async with self.db.session() as session:
            task = await self._sub_task(session, order_id, SubTaskKind.CONSTRUCTION)
            if task.job_state == report.state:
                return  # already recorded (the activity ran again)
            task.job_state = report.state
            report_data = report.model_dump(mode="json", exclude_none=True)
            if report.state is JobState.COMPLETED:
                task.status = SubTaskStatus.SUCCEEDED
                task.result = report_data
                task.detail = f"installed terminal {report.ont_serial}"
            elif report.state is JobState.CANNOT_COMPLETE:
                task.status = SubTaskStatus.FAILED
                task.result = report_data
                reason = report.reason_code.value if report.reason_code else "unknown"
                task.detail = f"cannot complete: {reason}"
            else:
                task.detail = f"technician {report.state.value.replace('_', ' ')}"
            task.updated_at = utcnow()
            session.add(task)
            session.add(
                _event(
                    order_id,
                    f"technician:{report.technician_id}",
                    f"construction.{report.state.value}",
                    **report_data,
                )
            )
            await session.commit()

    async def list_technicians(self, region: str | None = None) -> list[Technician]:
        query = select(Technician).order_by(col(Technician.id))
        if region is not None:
            query = query.where(Technician.region == region)
        async with self.db.session() as session:
            return list((await session.exec(query)).all())

    async def get_technician(self, technician_id: str) -> Technician | None:
        async with self.db.session() as session:
            return await session.get(Technician, technician_id)

    async def technician_jobs(
        self, technician_id: str, *, open_only: bool = True
    ) -> list[tuple[WorkOrder, SubTask]]:
        """A technician's construction jobs with their orders, oldest first."""
        query = (
            select(WorkOrder, SubTask)
            .join(SubTask, col(SubTask.order_id) == col(WorkOrder.id))
            .where(SubTask.kind == SubTaskKind.CONSTRUCTION, SubTask.technician_id == technician_id)
            .order_by(col(WorkOrder.created_at))
        )
        if open_only:
            query = query.where(SubTask.status == SubTaskStatus.IN_PROGRESS)
        async with self.db.session() as session:
            return [(o, t) for o, t in (await session.exec(query)).all()]
