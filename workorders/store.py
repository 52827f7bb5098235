"""Reads and writes of the work-order database, shared by the API and the activities.

Every write that belongs together happens in one transaction, and every write an
activity makes is idempotent, since Temporal may run an activity more than once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import JSON, Integer, Select, Update, bindparam, case, exists, insert, literal
from sqlalchemy import select as sqlalchemy_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, and_, col, func, or_, select, update

from models.enums import (
    AttemptOutcome,
    JobState,
    OrderStatus,
    ServiceType,
    SlaState,
    SubTaskKind,
    SubTaskStatus,
)
from models.payloads import (
    ConstructionJob,
    ConstructionJobState,
    ConstructionReport,
    OrderDecision,
    SubTaskOutcome,
)
from models.status import ReportRejected, check_report, missing_evidence, states_before
from models.tables import (
    OrderEvent,
    SubTask,
    SubTaskAttempt,
    Technician,
    UtcDateTime,
    WorkOrder,
    can_take,
    utcnow,
)
from workorders.db import Database
from workorders.inventory import RELEASE
from workorders.planning import PastAttempt

SYSTEM = "system"
DEACTIVATION_EVENTS = ("deactivation.completed", "deactivation.failed")
CANCELLATION_REQUESTED = "order.cancellation_requested"
CLOSED_CONSTRUCTION = (SubTaskStatus.CANCELLED, SubTaskStatus.FAILED)
"""A construction sub-task in these takes no more reports."""
NOT_YET_ON_SITE = (JobState.ASSIGNED, JobState.ACCEPTED, JobState.EN_ROUTE)
"""The history's events of a cancelled order's deactivations, one per terminal slot."""


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


class OrderNotFound(LookupError):
    """No work order has that id."""


def _event(order_id: str, actor: str, kind: str, **detail: Any) -> OrderEvent:
    return OrderEvent(order_id=order_id, actor=actor, kind=kind, detail=detail or None)


_TABLES = SQLModel.metadata.tables
_SUB_TASK = _TABLES["sub_task"].c
_TECHNICIAN = _TABLES["technician"].c
_UNBOOK = (
    update(_TABLES["technician"])
    .where(_TECHNICIAN.id == bindparam("technician"), _TECHNICIAN.open_jobs > 0)
    .values(open_jobs=_TECHNICIAN.open_jobs - 1)
)
"""One job less for a technician (the statement is built once: the hot path of a
report; SQLAlchemy's ORM and statement building were most of its CPU)."""
_NEW_EVENT = insert(_TABLES["order_event"])
_EVENT = _TABLES["order_event"].c
_EVENT_SPANS = (
    sqlalchemy_select(_EVENT.kind, func.min(_EVENT.at), func.max(_EVENT.at))
    .where(_EVENT.order_id == bindparam("order"))
    .group_by(_EVENT.kind)
)


def _add_event(
    session: Session, order_id: str, actor: str, kind: str, at: datetime, **detail: Any
) -> None:
    """One line of the order's timeline, by the prebuilt insert (a hot path's
    :func:`_event`)."""
    session.execute(
        _NEW_EVENT,
        {"order_id": order_id, "at": at, "actor": actor, "kind": kind, "detail": detail or None},
    )


def _no_sub_task(order_id: str, kind: SubTaskKind) -> OrderNotFound:
    return OrderNotFound(f"{order_id} has no {kind.value} sub-task (not dispatched yet)")


_ATTEMPT = _TABLES["sub_task_attempt"].c
_OF_THIS_SUB_TASK = (
    _ATTEMPT.order_id == bindparam("order"),
    _ATTEMPT.kind == bindparam("sub_task_kind"),
)
_ATTEMPT_DATA = sqlalchemy_select(_ATTEMPT.data, _ATTEMPT.outcome).where(
    *_OF_THIS_SUB_TASK, _ATTEMPT.attempt == bindparam("attempt_no")
)
_EARLIER_ATTEMPTS = (
    sqlalchemy_select(_ATTEMPT.attempt, _ATTEMPT.data, _ATTEMPT.outcome, _ATTEMPT.error_code)
    .where(*_OF_THIS_SUB_TASK, _ATTEMPT.attempt < bindparam("attempt_no"))
    .order_by(_ATTEMPT.attempt)
)
_NEW_ATTEMPT = insert(_TABLES["sub_task_attempt"])
_RECENT_ACTIVATIONS = (
    sqlalchemy_select(_ATTEMPT.id, _ATTEMPT.data)
    .where(
        _ATTEMPT.kind == SubTaskKind.ACTIVATION,
        _ATTEMPT.outcome == AttemptOutcome.SUCCEEDED,
    )
    .order_by(_ATTEMPT.id.desc())
    .limit(bindparam("recent", type_=Integer))
    .subquery()
)
_WORKING_PROFILE_NAMES = (
    sqlalchemy_select(
        _RECENT_ACTIVATIONS.c.data["olt_id"].as_string(),
        _RECENT_ACTIVATIONS.c.data["nms_profile_name"].as_string(),
    )
    .where(_RECENT_ACTIVATIONS.c.data["profile"].as_string() == bindparam("profile"))
    .order_by(_RECENT_ACTIVATIONS.c.id.desc())
)
"""The OLTs and NMS profile names of the latest successful activations of a profile,
latest first: the database reads the attempts' data, not Python (every activation
attempt asks)."""
_FINISH_ATTEMPT = (
    update(_TABLES["sub_task_attempt"])
    .where(
        *_OF_THIS_SUB_TASK,
        _ATTEMPT.attempt == bindparam("attempt_no"),
        _ATTEMPT.outcome == AttemptOutcome.PENDING,
    )
    .values(
        outcome=bindparam("new_outcome", type_=_ATTEMPT.outcome.type),
        result=bindparam("new_result", type_=JSON),
        error_code=bindparam("new_error_code", type_=_ATTEMPT.error_code.type),
        finished_at=bindparam("at", type_=UtcDateTime),
    )
)
_THE_SUB_TASK = (
    _SUB_TASK.order_id == bindparam("order"),
    _SUB_TASK.kind == bindparam("sub_task_kind"),
)
_START_SUB_TASK = (
    update(_TABLES["sub_task"])
    .where(*_THE_SUB_TASK)
    .values(
        status=SubTaskStatus.IN_PROGRESS,
        attempts=bindparam("attempt_no", type_=_SUB_TASK.attempts.type),
        data=bindparam("new_data", type_=JSON),
        updated_at=bindparam("at", type_=UtcDateTime),
    )
)
_ATTEMPT_RESULT = {
    "result": bindparam("new_result", type_=JSON),
    "detail": bindparam("new_detail", type_=_SUB_TASK.detail.type),
    "updated_at": bindparam("at", type_=UtcDateTime),
}
_FAILED_ATTEMPT_SUB_TASK = (
    update(_TABLES["sub_task"])
    .where(*_THE_SUB_TASK, _SUB_TASK.status != SubTaskStatus.CANCELLED)
    .values(_ATTEMPT_RESULT)
)
_SUCCEEDED_SUB_TASK = _FAILED_ATTEMPT_SUB_TASK.values(status=SubTaskStatus.SUCCEEDED)
"""An attempt's result on its sub-task, unless the sub-task was cancelled meanwhile (an
abandoned attempt). These statements of an attempt are built once: they are the hot
path of every activation and quality check, where SQLAlchemy's ORM was most of the
CPU."""


_CONSTRUCTION_OF_ORDER = (
    _SUB_TASK.order_id == bindparam("order"),
    _SUB_TASK.kind == SubTaskKind.CONSTRUCTION,
)
_CONSTRUCTION_ASSIGNMENT = sqlalchemy_select(_SUB_TASK.technician_id, _SUB_TASK.queued_at).where(
    *_CONSTRUCTION_OF_ORDER
)
_ACTIVE_TECHNICIANS = sqlalchemy_select(
    _TECHNICIAN.id,
    _TECHNICIAN.name,
    _TECHNICIAN.active,
    _TECHNICIAN.regions,
    _TECHNICIAN.skills,
    _TECHNICIAN.open_jobs,
    _TECHNICIAN.max_open_jobs,
).where(_TECHNICIAN.active)
_BOOK = (
    update(_TABLES["technician"])
    .where(
        _TECHNICIAN.id == bindparam("technician"),
        _TECHNICIAN.active,
        _TECHNICIAN.open_jobs < _TECHNICIAN.max_open_jobs,
    )
    .values(open_jobs=_TECHNICIAN.open_jobs + 1)
)
_ASSIGN = (
    update(_TABLES["sub_task"])
    .where(*_CONSTRUCTION_OF_ORDER)
    .values(
        technician_id=bindparam("technician", type_=_SUB_TASK.technician_id.type),
        job_state=JobState.ASSIGNED,
        status=SubTaskStatus.IN_PROGRESS,
        queued_at=None,
        visit=1,  # the technician's first visit
        detail=bindparam("new_detail", type_=_SUB_TASK.detail.type),
        updated_at=bindparam("at", type_=UtcDateTime),
    )
)
_ASSIGN_EXCLUDING = _ASSIGN.values(excluded=bindparam("new_excluded", type_=JSON))
_QUEUE = (
    update(_TABLES["sub_task"])
    .where(*_CONSTRUCTION_OF_ORDER)
    .values(
        queued_at=bindparam("at", type_=UtcDateTime),
        status=SubTaskStatus.IN_PROGRESS,
        detail=bindparam("new_detail", type_=_SUB_TASK.detail.type),
        excluded=bindparam("new_excluded", type_=JSON),
        updated_at=bindparam("at", type_=UtcDateTime),
    )
)
_ORDER_TECHNICIAN = (
    update(_TABLES["work_order"])
    .where(_TABLES["work_order"].c.id == bindparam("order"))
    .values(technician_id=bindparam("technician", type_=_SUB_TASK.technician_id.type))
)
"""The statements of a construction job's assignment, built once (every order's)."""


_ORDER = _TABLES["work_order"].c
_ORDER_STATUS = sqlalchemy_select(_ORDER.status).where(_ORDER.id == bindparam("order"))
_ORDER_KIND = sqlalchemy_select(
    _ORDER.id, _ORDER.region, _ORDER.service_type, _ORDER.profile
).where(_ORDER.id == bindparam("order"))
_SUB_TASKS_OF_ORDER = sqlalchemy_select(
    _SUB_TASK.kind, _SUB_TASK.status, _SUB_TASK.queued_at
).where(_SUB_TASK.order_id == bindparam("order"))
_NEW_SUB_TASK = insert(_TABLES["sub_task"])
_DISPATCH = (
    update(_TABLES["work_order"])
    .where(_ORDER.id == bindparam("order"), _ORDER.status == OrderStatus.RECEIVED)
    .values(status=OrderStatus.IN_PROGRESS, updated_at=bindparam("at", type_=UtcDateTime))
)
_SUB_TASK_STATUS = (
    update(_TABLES["sub_task"])
    .where(*_THE_SUB_TASK)
    .values(
        status=bindparam("new_status", type_=_SUB_TASK.status.type),
        detail=bindparam("new_detail", type_=_SUB_TASK.detail.type),
        updated_at=bindparam("at", type_=UtcDateTime),
    )
)
_SUB_TASK_DETAIL = (
    update(_TABLES["sub_task"])
    .where(*_THE_SUB_TASK)
    .values(
        status=case(
            (
                _SUB_TASK.status == SubTaskStatus.PENDING,
                literal(SubTaskStatus.IN_PROGRESS, _SUB_TASK.status.type),
            ),
            else_=_SUB_TASK.status,
        ),
        detail=bindparam("new_detail", type_=_SUB_TASK.detail.type),
        updated_at=bindparam("at", type_=UtcDateTime),
    )
)
_UNQUEUE = update(_TABLES["sub_task"]).where(*_CONSTRUCTION_OF_ORDER).values(queued_at=None)
_ORDER_OUTCOME = {
    "status": bindparam("new_status", type_=_ORDER.status.type),
    "status_reason": bindparam("new_reason", type_=_ORDER.status_reason.type),
    "updated_at": bindparam("at", type_=UtcDateTime),
}
_SET_ORDER_STATUS = (
    update(_TABLES["work_order"]).where(_ORDER.id == bindparam("order")).values(_ORDER_OUTCOME)
)
_END_ORDER = _SET_ORDER_STATUS.values(completed_at=bindparam("at", type_=UtcDateTime))
"""The statements of an order's start and end, built once (every order's)."""


@functools.cache
def _recording(state: JobState) -> Update:
    """The conditional update that records a report of ``state`` on a job that can
    take it: its technician's, in a state the report may follow, not closed, of an
    order whose cancellation nobody requested."""
    values: dict[str, Any] = {
        "job_state": state,
        "detail": bindparam("new_detail"),
        "report_seq": _SUB_TASK.report_seq + 1,
        "report_unsignalled_since": func.coalesce(
            _SUB_TASK.report_unsignalled_since, bindparam("at", type_=UtcDateTime)
        ),
        "updated_at": bindparam("at", type_=UtcDateTime),
    }
    if state in (JobState.COMPLETED, JobState.CANNOT_COMPLETE):
        values["result"] = bindparam("new_result", type_=JSON)
    if state is JobState.COMPLETED:
        values["status"] = SubTaskStatus.SUCCEEDED
    events = _TABLES["order_event"].c
    return (
        update(_TABLES["sub_task"])
        .where(
            _SUB_TASK.order_id == bindparam("order"),
            _SUB_TASK.kind == SubTaskKind.CONSTRUCTION,
            _SUB_TASK.technician_id == bindparam("technician"),
            _SUB_TASK.job_state.in_(states_before(state)),
            _SUB_TASK.status.not_in(CLOSED_CONSTRUCTION),
            ~exists().where(
                events.order_id == bindparam("order"), events.kind == CANCELLATION_REQUESTED
            ),
        )
        .values(values)
        .returning(_SUB_TASK.report_seq, _SUB_TASK.visit)
    )


class WorkOrderStore:
    """The work-order information database, in the domain's words."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # Orders ------------------------------------------------------------------

    async def create_order(
        self, order: WorkOrder, actor: str | None = None
    ) -> tuple[WorkOrder, bool]:
        """Store a new order, or return the one with the same idempotency key or, failing
        that, the same external reference.

        Args:
            order: the new order.
            actor: who creates it, for the timeline; its channel by default.

        Returns:
            The stored order, and whether it was created now.
        """

        def work(session: Session) -> tuple[WorkOrder, bool]:
            existing = self._existing(session, order)
            if existing is not None:
                return existing, False
            session.add(order)
            try:
                session.flush()
                session.add(
                    _event(
                        order.id,
                        actor or f"channel:{order.channel.value}",
                        "order.received",
                        external_reference=order.external_reference,
                        channel=order.channel.value,
                        region=order.region,
                    )
                )
                session.commit()
            except IntegrityError:
                session.rollback()
                existing = self._existing(session, order)
                if existing is None:
                    raise
                return existing, False
            return order, True

        return await self.db.run(work)

    @staticmethod
    def _existing(session: Any, order: WorkOrder) -> WorkOrder | None:
        """The stored order with the new one's idempotency key, else its reference."""
        if order.idempotency_key is not None:
            result = session.exec(
                select(WorkOrder).where(WorkOrder.idempotency_key == order.idempotency_key)
            )
            found: WorkOrder | None = result.first()
            if found is not None:
                return found
        result = session.exec(
            select(WorkOrder).where(WorkOrder.external_reference == order.external_reference)
        )
        by_reference: WorkOrder | None = result.first()
        return by_reference

    async def get_order(self, order_id: str) -> WorkOrder:
        def work(session: Session) -> WorkOrder:
            order = session.get(WorkOrder, order_id)
            if order is None:
                raise OrderNotFound(order_id)
            return order

        return await self.db.run(work)

    async def order_kind(self, order_id: str) -> OrderKind:
        """The order's region, service type and profile: what an activity reads when
        it needs no more of the order (a row of four columns, not the whole order)."""

        def work(session: Session) -> OrderKind:
            row = session.execute(_ORDER_KIND, {"order": order_id}).first()
            if row is None:
                raise OrderNotFound(order_id)
            return OrderKind(*row)

        return await self.db.run(work)

    async def get_sub_tasks(self, order_id: str) -> list[SubTask]:
        def work(session: Session) -> list[SubTask]:
            rows = session.exec(select(SubTask).where(SubTask.order_id == order_id))
            return sorted(rows.all(), key=lambda t: list(SubTaskKind).index(t.kind))

        return await self.db.run(work)

    async def list_orders(
        self,
        *,
        status: OrderStatus | None = None,
        region: str | None = None,
        technician_id: str | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        after: tuple[datetime, str] | None = None,
        limit: int = 50,
    ) -> tuple[list[WorkOrder], int]:
        """Orders, newest first, with the count of all that match.

        Args:
            status: only orders with this status.
            region: only orders of this region.
            technician_id: only orders whose installation job is this technician's.
            created_from: only orders created at or after this instant.
            created_to: only orders created before this instant.
            after: the page after this order's ``(created_at, id)`` (keyset paging).
            limit: at most this many orders.
        """

        def work(session: Session) -> tuple[list[WorkOrder], int]:
            filters: list[Any] = []
            if status is not None:
                filters.append(WorkOrder.status == status)
            if region is not None:
                filters.append(WorkOrder.region == region)
            if created_from is not None:
                filters.append(col(WorkOrder.created_at) >= created_from)
            if created_to is not None:
                filters.append(col(WorkOrder.created_at) < created_to)
            if technician_id is not None:
                filters.append(WorkOrder.technician_id == technician_id)
            query = select(WorkOrder).where(*filters)
            if after is not None:
                created_at, order_id = after
                query = query.where(
                    or_(
                        col(WorkOrder.created_at) < created_at,
                        and_(col(WorkOrder.created_at) == created_at, col(WorkOrder.id) < order_id),
                    )
                )
            query = query.order_by(
                col(WorkOrder.created_at).desc(), col(WorkOrder.id).desc()
            ).limit(limit)
            count = select(func.count()).select_from(WorkOrder).where(*filters)
            rows = (session.exec(query)).all()
            total = (session.exec(count)).one()
            return list(rows), int(total)

        return await self.db.run(work)

    async def order_ids_with_status(self, status: OrderStatus) -> list[str]:
        def work(session: Session) -> list[str]:
            rows = session.exec(select(WorkOrder.id).where(WorkOrder.status == status))
            return list(rows.all())

        return await self.db.run(work)

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

        def work(session: Session) -> None:
            this = {"order": order_id}
            if session.execute(_ORDER_STATUS, this).first() is None:
                raise OrderNotFound(order_id)
            existing = set(session.execute(_SUB_TASKS_OF_ORDER, this).scalars())
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
                    "report_seq": 0,
                    "updated_at": now,
                    **(limit if kind is SubTaskKind.CONSTRUCTION else no_limit),
                    **(opened if kind is SubTaskKind.QUALITY_CHECK else pending),
                }
                for kind in SubTaskKind
                if kind not in existing
            ]
            if new:
                session.execute(_NEW_SUB_TASK, new)
            if session.connection().execute(_DISPATCH, {**this, "at": now}).rowcount:
                _add_event(
                    session,
                    order_id,
                    SYSTEM,
                    "order.dispatched",
                    now,
                    sub_tasks=[k.value for k in SubTaskKind],
                )
            session.commit()

        return await self.db.run(work)

    async def complete_order(
        self, order_id: str, decision: OrderDecision, outcomes: Sequence[SubTaskOutcome]
    ) -> None:
        """Store the order's status and each sub-task's outcome (again: no change)."""

        def work(session: Session) -> None:
            this = {"order": order_id}
            status = session.execute(_ORDER_STATUS, this).scalar()
            if status is None:
                raise OrderNotFound(order_id)
            tasks = {t.kind: t for t in session.execute(_SUB_TASKS_OF_ORDER, this)}
            activated = any(
                o.kind is SubTaskKind.ACTIVATION and o.status is SubTaskStatus.SUCCEEDED
                for o in outcomes
            )
            cancelled = decision.status is OrderStatus.CANCELLED  # deactivated before
            if decision.status.is_final and (cancelled or not activated):
                session.execute(RELEASE, this)  # give the network back
            now = utcnow()
            construction = tasks.get(SubTaskKind.CONSTRUCTION)
            if construction is not None and construction.queued_at is not None:
                session.execute(_UNQUEUE, this)  # an ended order waits for nobody
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
                session.execute(_SUB_TASK_STATUS, changed)
            if status != decision.status:
                session.execute(
                    _END_ORDER if decision.status.is_final else _SET_ORDER_STATUS,
                    {
                        **this,
                        "new_status": decision.status,
                        "new_reason": decision.reason,
                        "at": now,
                    },
                )
                _add_event(
                    session,
                    order_id,
                    SYSTEM,
                    f"order.{decision.status.value}",
                    now,
                    reason=decision.reason,
                )
            session.commit()

        return await self.db.run(work)

    async def timeline(self, order_id: str) -> list[OrderEvent]:
        def work(session: Session) -> list[OrderEvent]:
            rows = session.exec(
                select(OrderEvent)
                .where(OrderEvent.order_id == order_id)
                .order_by(col(OrderEvent.id))
            )
            return list(rows.all())

        return await self.db.run(work)

    async def event_spans(self, order_id: str) -> dict[str, EventSpan]:
        """When each kind of event of the order's timeline first and last happened:
        what the timeline says of its sub-tasks' durations, read without the events'
        details (one grouped index range, at the end of every order)."""

        def work(session: Session) -> dict[str, EventSpan]:
            rows = session.connection().execute(_EVENT_SPANS, {"order": order_id})
            return {kind: EventSpan(first, last) for kind, first, last in rows}

        return await self.db.run(work)

    async def attempts(
        self, order_id: str, kind: SubTaskKind | None = None
    ) -> list[SubTaskAttempt]:
        def work(session: Session) -> list[SubTaskAttempt]:
            query = select(SubTaskAttempt).where(SubTaskAttempt.order_id == order_id)
            if kind is not None:
                query = query.where(SubTaskAttempt.kind == kind)
            rows = session.exec(
                query.order_by(col(SubTaskAttempt.kind), col(SubTaskAttempt.attempt))
            )
            return list(rows.all())

        return await self.db.run(work)

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
        *,
        actor: str = SYSTEM,
        reserve: Callable[[Session, dict[str, Any]], None] | None = None,
    ) -> dict[str, Any] | None:
        """The data of attempt ``attempt``, planned from the history and stored.

        Running it again (an activity retried by Temporal) returns the data stored
        the first time, so a transient failure is retried with the same data.

        Args:
            reserve: holds the planned data's resources in the same transaction.

        Returns:
            The attempt's data, or ``None`` when the plan found nothing left to try.

        Raises:
            ResourceTaken: ``reserve`` found the resources held by another order.
        """

        def work(session: Session) -> dict[str, Any] | None:
            this = {"order": order_id, "sub_task_kind": kind, "attempt_no": attempt}
            if (stored := session.execute(_ATTEMPT_DATA, this).first()) is not None:
                return dict(stored.data or {})
            earlier = session.execute(_EARLIER_ATTEMPTS, this).all()
            planned = plan(
                [PastAttempt(a.attempt, a.data or {}, a.outcome, a.error_code) for a in earlier]
            )
            if planned is None:
                return None
            data = planned.model_dump(mode="json")
            now = utcnow()
            try:
                session.execute(
                    _NEW_ATTEMPT,
                    {
                        "order_id": order_id,
                        "kind": kind,
                        "attempt": attempt,
                        "data": data,
                        "outcome": AttemptOutcome.PENDING,
                        "started_at": now,
                    },
                )
                if reserve is not None:
                    reserve(session, data)
            except IntegrityError:  # begun meanwhile by another run, or resources taken
                session.rollback()
                if (stored := session.execute(_ATTEMPT_DATA, this).first()) is not None:
                    return dict(stored.data or {})
                if reserve is None:
                    raise
                raise ResourceTaken(f"{data} is held by another order") from None
            started = session.connection().execute(
                _START_SUB_TASK, {**this, "new_data": data, "at": now}
            )
            if started.rowcount != 1:
                raise _no_sub_task(order_id, kind)
            _add_event(
                session,
                order_id,
                actor,
                f"{kind.value}.attempt_started",
                now,
                attempt=attempt,
                data=data,
            )
            session.commit()
            return data

        return await self.db.run(work)

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

        def work(session: Session) -> None:
            this = {"order": order_id, "sub_task_kind": kind, "attempt_no": attempt}
            stored = session.execute(_ATTEMPT_DATA, this).first()
            if stored is None:
                raise LookupError(f"{kind.value} attempt {attempt} of {order_id} was never begun")
            if stored.outcome is not AttemptOutcome.PENDING:
                return
            outcome = AttemptOutcome.SUCCEEDED if succeeded else AttemptOutcome.FAILED
            now = utcnow()
            finished = {**this, "new_result": result, "at": now}
            session.execute(
                _FINISH_ATTEMPT,
                {**finished, "new_outcome": outcome, "new_error_code": error_code},
            )
            session.execute(
                _SUCCEEDED_SUB_TASK if succeeded else _FAILED_ATTEMPT_SUB_TASK,
                {**finished, "new_detail": detail},
            )
            _add_event(
                session,
                order_id,
                actor,
                f"{kind.value}.attempt_{outcome.value}",
                now,
                attempt=attempt,
                error_code=error_code,
                detail=detail,
            )
            session.commit()

        return await self.db.run(work)

    async def working_profile_names(self, profile: str, *, recent: int = 500) -> dict[str, str]:
        """Per OLT, the NMS name of ``profile`` that the latest successful activation
        there used (among the ``recent`` latest successful activations)."""

        def work(session: Session) -> dict[str, str]:
            rows = session.connection().execute(
                _WORKING_PROFILE_NAMES, {"profile": profile, "recent": recent}
            )
            names: dict[str, str] = {}
            for olt_id, name in rows:
                names.setdefault(olt_id, name)
            return names

        return await self.db.run(work)

    async def set_sub_task_detail(self, order_id: str, kind: SubTaskKind, detail: str) -> None:
        """Say what a sub-task is doing (shown with the order); a pending one is then
        in progress."""

        def work(session: Session) -> None:
            said = session.connection().execute(
                _SUB_TASK_DETAIL,
                {"order": order_id, "sub_task_kind": kind, "new_detail": detail, "at": utcnow()},
            )
            if said.rowcount != 1:
                raise _no_sub_task(order_id, kind)
            session.commit()

        return await self.db.run(work)

    @staticmethod
    def _sub_task(session: Any, order_id: str, kind: SubTaskKind) -> SubTask:
        result = session.exec(
            select(SubTask).where(SubTask.order_id == order_id, SubTask.kind == kind)
        )
        task: SubTask | None = result.first()
        if task is None:
            raise _no_sub_task(order_id, kind)
        return task

    # Construction --------------------------------------------------------------

    async def assign_technician(
        self,
        order_id: str,
        region: str,
        skill: str,
        service_types: Sequence[ServiceType],
        *,
        excluded: Sequence[str] = (),
    ) -> str | None:
        """Assign the order's construction job to the least-loaded active technician of
        the region who has the skill and room for another job; keep an earlier
        assignment.

        Jobs wait their turn: while an order of the same region and skill has waited
        longer, this one is not assigned. Two assignments at the same moment never
        overbook a technician: a technician's job count only grows by an update that
        checks it against the maximum in the database.

        Args:
            service_types: the services needing ``skill``, to find who waits before.
            excluded: technicians who gave this job back.

        Returns:
            The technician's id, or ``None``: the job is queued (since ``queued_at``).
        """

        def work(session: Session) -> str | None:
            task = session.execute(_CONSTRUCTION_ASSIGNMENT, {"order": order_id}).first()
            if task is None:
                raise _no_sub_task(order_id, SubTaskKind.CONSTRUCTION)
            if task.technician_id is not None:
                return str(task.technician_id)
            candidates = sorted(
                (
                    t
                    for t in session.execute(_ACTIVE_TECHNICIANS)
                    if can_take(t, region, skill) and t.id not in excluded
                ),
                key=lambda t: (t.open_jobs, t.id),
            )
            # Who waits before this job matters only when someone has room (reading
            # them costs as much as the region's queue is long).
            ahead = (
                self._queued_before(session, order_id, region, service_types, task.queued_at)
                if candidates
                else []
            )
            now = utcnow()
            chosen = next(
                (
                    t
                    for t in candidates
                    # else an order that waited longer can take this technician
                    if all(t.id in (earlier or []) for earlier in ahead)
                    and self._book(session, t.id)
                ),
                None,
            )
            if chosen is None:
                if task.queued_at is None:
                    session.execute(
                        _QUEUE,
                        {
                            "order": order_id,
                            "at": now,
                            "new_detail": f"queued for a free {skill} technician"
                            f" in region {region}",
                            "new_excluded": list(excluded) or None,
                        },
                    )
                    session.add(_event(order_id, SYSTEM, "construction.queued", region=region))
                    session.commit()
                return None
            self._assign(session, order_id, chosen.id, chosen.name, excluded)
            session.add(
                _event(
                    order_id,
                    SYSTEM,
                    "construction.assigned",
                    technician_id=chosen.id,
                    region=region,
                )
            )
            session.commit()
            return str(chosen.id)

        return await self.db.run(work)

    async def assign_technician_by_hand(
        self, order_id: str, technician_id: str, region: str, skill: str, operator: str
    ) -> None:
        """Operations give the job to a technician, taking it back from anyone else.

        Raises:
            TechnicianUnavailable: the technician is unknown, inactive, not of the
                region, without the skill, or has no room for another job.
        """

        def work(session: Session) -> None:
            task = self._sub_task(session, order_id, SubTaskKind.CONSTRUCTION)
            if task.technician_id == technician_id:
                return
            technician = session.get(Technician, technician_id)
            if technician is None or not technician.can_take(region, skill):
                raise TechnicianUnavailable(_why_not(technician, technician_id, region, skill))
            if not self._book(session, technician_id):
                raise TechnicianUnavailable(f"technician {technician_id} has no room for a job")
            previous = task.technician_id
            if previous is not None and task.job_state is not JobState.COMPLETED:
                self._unbook(session, previous)
            self._assign(session, order_id, technician_id, technician.name)
            session.add(
                _event(
                    order_id,
                    operator,
                    "construction.assigned_by_hand",
                    technician_id=technician_id,
                    previous=previous,
                )
            )
            session.commit()

        return await self.db.run(work)

    async def release_technician(
        self, order_id: str, reason: str, *, before_on_site: bool = False
    ) -> Release:
        """Take the job back from its technician, who then has room for another.

        Args:
            before_on_site: only while the technician is not yet on site; a report
                that they are, recorded meanwhile, keeps the job theirs.

        Returns:
            The technician who was released (``None`` if the job had none, or kept
            it), and the job as it stands after.
        """

        def work(session: Session) -> Release:
            for _ in range(3):  # a report landed between the look and the release
                task = self._sub_task(session, order_id, SubTaskKind.CONSTRUCTION)
                technician_id = task.technician_id
                if technician_id is None:
                    if task.queued_at is not None:  # leaves the queue too
                        task.queued_at = None
                        session.add(task)
                        session.commit()
                    return Release(None, _job_state_of(task))
                if before_on_site and task.job_state not in NOT_YET_ON_SITE:
                    return Release(None, _job_state_of(task))
                released = session.exec(
                    update(SubTask)
                    .where(
                        col(SubTask.id) == task.id,
                        col(SubTask.technician_id) == technician_id,
                        col(SubTask.report_seq) == task.report_seq,
                        col(SubTask.visit) == task.visit,
                    )
                    .values(technician_id=None, job_state=None, detail=reason, updated_at=utcnow())
                    .execution_options(synchronize_session=False)
                )
                if released.rowcount != 1:
                    session.rollback()
                    session.expire_all()
                    continue
                if task.job_state is not JobState.COMPLETED:
                    self._unbook(session, technician_id)
                self._set_order_technician(session, order_id, None)
                session.add(
                    _event(
                        order_id,
                        SYSTEM,
                        "construction.released",
                        technician_id=technician_id,
                        reason=reason,
                    )
                )
                session.commit()
                return Release(technician_id, ConstructionJobState(report_seq=task.report_seq))
            raise RuntimeError(f"the construction job of {order_id} kept changing; try again")

        return await self.db.run(work)

    async def reschedule_visit(self, order_id: str, visit: int) -> None:
        """The same technician visits again: the job is theirs, assigned anew."""

        def work(session: Session) -> None:
            task = self._sub_task(session, order_id, SubTaskKind.CONSTRUCTION)
            if task.job_state is not JobState.CANNOT_COMPLETE:
                return  # rescheduled already (the activity ran again)
            task.visit = visit
            task.job_state = JobState.ASSIGNED
            task.detail = f"visit {visit} to be arranged by {task.technician_id}"
            task.updated_at = utcnow()
            session.add(task)
            session.add(
                _event(
                    order_id,
                    SYSTEM,
                    "construction.rescheduled",
                    technician_id=task.technician_id,
                    visit=visit,
                )
            )
            session.commit()

        return await self.db.run(work)

    async def set_sla_state(self, order_id: str, state: SlaState) -> None:
        """Mark the installation in jeopardy or breached."""

        def work(session: Session) -> None:
            task = self._sub_task(session, order_id, SubTaskKind.CONSTRUCTION)
            if task.sla_state == state:
                return
            task.sla_state = state
            task.updated_at = utcnow()
            session.add(task)
            session.add(
                _event(
                    order_id,
                    SYSTEM,
                    f"construction.sla_{state.value}",
                    due_at=task.due_at.isoformat() if task.due_at else None,
                )
            )
            session.commit()

        return await self.db.run(work)

    async def hand_to_operations(
        self, order_id: str, kind: SubTaskKind, reason: str | None
    ) -> None:
        """A sub-task waits for operations (with ``reason``), or resumes (``None``); the
        order's status says so."""

        def work(session: Session) -> None:
            order = session.get(WorkOrder, order_id)
            if order is None:
                raise OrderNotFound(order_id)
            task = self._sub_task(session, order_id, kind)
            waiting = SubTaskStatus.WAITING_FOR_OPERATIONS
            if (reason is not None) == (task.status is waiting):
                return  # already so
            task.status = waiting if reason else SubTaskStatus.IN_PROGRESS
            task.detail = reason or "resumed by operations"
            if reason:
                task.queued_at = None  # out of the technicians' queue while operations decide
            task.updated_at = utcnow()
            session.add(task)
            others = (
                session.exec(
                    select(SubTask).where(
                        SubTask.order_id == order_id,
                        SubTask.kind != kind,
                        SubTask.status == waiting,
                    )
                )
            ).all()
            if not order.status.is_final:
                order.status = (
                    OrderStatus.WAITING_FOR_OPERATIONS
                    if reason or others
                    else OrderStatus.IN_PROGRESS
                )
                reasons: list[tuple[SubTaskKind, str | None]] = [(kind, reason)] if reason else []
                reasons += [(o.kind, o.detail) for o in others]
                order.status_reason = (
                    "; ".join(f"{k.value}: {r}" for k, r in reasons) if reasons else None
                )
                order.updated_at = utcnow()
                session.add(order)
            session.add(
                _event(
                    order_id,
                    SYSTEM,
                    f"{kind.value}.{'waiting_for_operations' if reason else 'resumed'}",
                    reason=reason,
                )
            )
            session.commit()

        return await self.db.run(work)

    async def record_report(self, order_id: str, report: ConstructionReport) -> RecordedReport:
        """Record a technician's report as the construction job's new state, if the job
        can take it (:func:`models.status.check_report`).

        One conditional update decides: two reports at the same moment, or a report
        and the workflow taking the job back, are put in order by the database, and
        the loser is refused for what it then finds. The report then waits for its
        signal to the workflow (:meth:`report_signalled`).

        Returns:
            The job as it stands after the report, and whether the technician has room
            for another job now (they completed this one).

        Raises:
            ReportRejected: ``NOT_ASSIGNED``, ``INVALID_TRANSITION``,
                ``MISSING_EVIDENCE``, ``ORDER_CLOSED``, or ``CONSTRUCTION_CLOSED`` (the
                order is being cancelled, or its installation was given up).
            OrderNotFound: no such order.
        """
        data = report.model_dump(mode="json", exclude_none=True, exclude={"technician_id"})
        if report.state is JobState.COMPLETED:
            detail = f"installed terminal {report.ont_serial}"
        elif report.state is JobState.CANNOT_COMPLETE:
            reason = report.reason_code.value if report.reason_code else "unknown"
            detail = f"cannot complete: {reason}"
        else:
            detail = f"technician {report.state.value.replace('_', ' ')}"
        technician = report.technician_id

        def work(session: Session) -> RecordedReport:
            for _ in range(3):  # the job changed between the update and the look at why not
                if missing_evidence(report) is None:
                    now = utcnow()
                    row = session.execute(
                        _recording(report.state),
                        {
                            "order": order_id,
                            "technician": technician,
                            "new_detail": detail,
                            "new_result": data,
                            "at": now,
                        },
                    ).first()
                    if row is not None:
                        seq, visit = row
                        freed = report.state is JobState.COMPLETED
                        if freed:
                            session.execute(_UNBOOK, {"technician": technician})
                        _add_event(
                            session,
                            order_id,
                            f"technician:{technician}",
                            f"construction.{report.state.value}",
                            now,
                            report_seq=seq,
                            **data,
                        )
                        session.commit()
                        job = ConstructionJob(
                            technician_id=technician,
                            state=report.state,
                            ont_serial=report.ont_serial,
                            reason_code=report.reason_code,
                            visit=visit,
                        )
                        return RecordedReport(ConstructionJobState(job=job, report_seq=seq), freed)
                    session.rollback()
                self._refuse_report(session, order_id, report)
            raise RuntimeError(f"the construction job of {order_id} kept changing; try again")

        return await self.db.run(work)

    @classmethod
    def _refuse_report(cls, session: Session, order_id: str, report: ConstructionReport) -> None:
        """Raise why the job cannot take the report, as the database has it now; return
        if it could (it changed meanwhile)."""
        order = session.get(WorkOrder, order_id)
        if order is None:
            raise OrderNotFound(order_id)
        task = cls._construction_task(session, order_id)
        if order.status.is_final:
            raise ReportRejected(
                "ORDER_CLOSED",
                f"order {order_id} is {order.status.value}; it takes no more reports",
            )
        if cls._cancellation_requested(session, order_id) or (
            task is not None and task.status in CLOSED_CONSTRUCTION
        ):
            raise ReportRejected(
                "CONSTRUCTION_CLOSED",
                "the order is being cancelled or its installation was given up;"
                " it takes no more reports",
            )
        check_report(_job_of(task), report)

    async def report_signalled(self, order_id: str, report_seq: int) -> None:
        """The workflow has been told of the job's reports up to ``report_seq``."""

        def work(session: Session) -> None:
            session.exec(
                update(SubTask)
                .where(
                    col(SubTask.order_id) == order_id,
                    col(SubTask.kind) == SubTaskKind.CONSTRUCTION,
                    col(SubTask.report_seq) <= report_seq,
                    col(SubTask.report_unsignalled_since).is_not(None),
                )
                .values(report_unsignalled_since=None)
                .execution_options(synchronize_session=False)
            )
            session.commit()

        return await self.db.run(work)

    async def unsignalled_reports(
        self, before: datetime, limit: int = 500
    ) -> list[tuple[str, ConstructionJobState]]:
        """The orders (by id) whose latest report has waited for its signal since
        before ``before``, each with its job as it stands now, longest waiting first."""

        def work(session: Session) -> list[tuple[str, ConstructionJobState]]:
            tasks = (
                session.exec(
                    select(SubTask)
                    .where(col(SubTask.report_unsignalled_since) < before)
                    .order_by(col(SubTask.report_unsignalled_since))
                    .limit(limit)
                )
            ).all()
            return [(t.order_id, _job_state_of(t)) for t in tasks]

        return await self.db.run(work)

    async def construction_job(self, order_id: str) -> ConstructionJobState:
        """The construction job as it stands now."""

        def work(session: Session) -> ConstructionJobState:
            task = self._construction_task(session, order_id)
            if task is None:
                raise _no_sub_task(order_id, SubTaskKind.CONSTRUCTION)
            return _job_state_of(task)

        return await self.db.run(work)

    @staticmethod
    def _construction_task(session: Any, order_id: str) -> SubTask | None:
        result = session.exec(
            select(SubTask).where(
                SubTask.order_id == order_id, SubTask.kind == SubTaskKind.CONSTRUCTION
            )
        )
        task: SubTask | None = result.first()
        return task

    async def next_in_queue(
        self,
        technician_id: str,
        service_types_by_skill: dict[str, list[ServiceType]],
        count: int = 1,
    ) -> list[str]:
        """The workflow ids of the ``count`` orders that have waited longest for a job
        this technician could take (none when they are inactive)."""
        if count < 1:
            return []

        def work(session: Session) -> list[str]:
            technician = session.get(Technician, technician_id)
            if technician is None or not technician.active:
                return []
            types = [t for s in technician.skills for t in service_types_by_skill.get(s, [])]
            queued = session.execute(
                select(WorkOrder.workflow_id, SubTask.excluded)
                .join(SubTask, col(SubTask.order_id) == col(WorkOrder.id))
                .where(
                    SubTask.kind == SubTaskKind.CONSTRUCTION,
                    col(SubTask.queued_at).is_not(None),
                    col(WorkOrder.region).in_(technician.regions),
                    col(WorkOrder.service_type).in_(types),
                )
                .order_by(col(SubTask.queued_at))
                .execution_options(yield_per=max(count, 50))
            )
            found: list[str] = []
            for workflow_id, excluded in queued:
                if technician_id not in (excluded or []):
                    found.append(workflow_id)
                    if len(found) == count:
                        break
            queued.close()
            return found

        return await self.db.run(work)

    async def has_technicians(self, region: str, skill: str, excluded: Sequence[str] = ()) -> bool:
        """Whether the region has any active technician with the skill (but those
        excluded), busy or not."""

        def work(session: Session) -> bool:
            technicians = (session.exec(select(Technician).where(col(Technician.active)))).all()
            return any(
                region in t.regions and skill in t.skills and t.id not in excluded
                for t in technicians
            )

        return await self.db.run(work)

    @staticmethod
    def _queued_before(
        session: Any,
        order_id: str,
        region: str,
        service_types: Sequence[ServiceType],
        queued_at: datetime | None,
    ) -> list[list[str] | None]:
        """Whom each construction job of the region and skill that has waited longer
        (than since ``queued_at``, if it waits) excludes."""
        orders = _TABLES["work_order"].c
        query = (
            sqlalchemy_select(_SUB_TASK.excluded)
            .join_from(_TABLES["sub_task"], _TABLES["work_order"], _SUB_TASK.order_id == orders.id)
            .where(
                _SUB_TASK.kind == SubTaskKind.CONSTRUCTION,
                _SUB_TASK.queued_at.is_not(None),
                _SUB_TASK.order_id != order_id,
                orders.region == region,
                orders.service_type.in_(list(service_types)),
            )
        )
        if queued_at is not None:
            query = query.where(_SUB_TASK.queued_at < queued_at)
        return list(session.execute(query).scalars())

    @staticmethod
    def _book(session: Any, technician_id: str) -> bool:
        """Count one more job for the technician, if they have room: atomic."""
        return bool(session.execute(_BOOK, {"technician": technician_id}).rowcount == 1)

    @staticmethod
    def _unbook(session: Any, technician_id: str) -> None:
        session.execute(_UNBOOK, {"technician": technician_id})

    @classmethod
    def _assign(
        cls,
        session: Any,
        order_id: str,
        technician_id: str,
        name: str,
        excluded: Sequence[str] | None = None,
    ) -> None:
        """Give the order's construction job to the technician (``excluded``: whom it
        is never given to again, if that changed)."""
        cls._set_order_technician(session, order_id, technician_id)
        params = {
            "order": order_id,
            "technician": technician_id,
            "new_detail": f"assigned to {name} ({technician_id})",
            "at": utcnow(),
        }
        if excluded is None:
            session.execute(_ASSIGN, params)
        else:
            session.execute(_ASSIGN_EXCLUDING, {**params, "new_excluded": list(excluded) or None})

    @staticmethod
    def _set_order_technician(session: Any, order_id: str, technician_id: str | None) -> None:
        """Keep the order's copy of its installation's technician (the list filters by it)."""
        session.execute(_ORDER_TECHNICIAN, {"order": order_id, "technician": technician_id})

    # Cancellation --------------------------------------------------------------

    async def record_cancellation(self, order_id: str, actor: str, reason: str) -> None:
        """Record that the order's cancellation was requested, by whom and why.

        Sub-tasks waiting for operations stop waiting (they are cancelled), so the order
        no longer waits for an operator while its cleanup runs; its reason says that it
        is being cancelled. Recorded once, however often the activity runs.
        """

        def work(session: Session) -> None:
            order = session.get(WorkOrder, order_id)
            if order is None:
                raise OrderNotFound(order_id)
            if self._cancellation_requested(session, order_id):
                return
            if not order.status.is_final:
                self._stop_waiting(
                    session, order, (SubTaskKind.ACTIVATION, SubTaskKind.QUALITY_CHECK)
                )
                order.status_reason = f"cancellation requested by {actor}: {reason}"[:1000]
                order.updated_at = utcnow()
                session.add(order)
            session.add(_event(order_id, actor, CANCELLATION_REQUESTED, reason=reason))
            session.commit()

        return await self.db.run(work)

    @staticmethod
    def _cancellation_requested(session: Any, order_id: str) -> bool:
        found = session.exec(
            select(OrderEvent.id).where(
                OrderEvent.order_id == order_id,
                OrderEvent.kind == CANCELLATION_REQUESTED,
            )
        )
        return found.first() is not None

    @staticmethod
    def _stop_waiting(
        session: Any, order: WorkOrder, kinds: Sequence[SubTaskKind] = tuple(SubTaskKind)
    ) -> None:
        """Those of the order's sub-tasks that wait for operations are cancelled (the
        order is); the order waits no more unless another still does."""
        waiting = (
            session.exec(
                select(SubTask).where(
                    SubTask.order_id == order.id,
                    SubTask.status == SubTaskStatus.WAITING_FOR_OPERATIONS,
                )
            )
        ).all()
        for task in waiting:
            if task.kind in kinds:
                task.status = SubTaskStatus.CANCELLED
                task.detail = "cancelled while waiting for operations"
                task.queued_at = None
                task.updated_at = utcnow()
                session.add(task)
        still = any(t.kind not in kinds for t in waiting)
        if order.status is OrderStatus.WAITING_FOR_OPERATIONS and not still:
            order.status = OrderStatus.IN_PROGRESS
            order.updated_at = utcnow()
            session.add(order)

    async def withdraw_construction(self, order_id: str, actor: str, reason: str) -> str | None:
        """The order is cancelled: its installation job is taken back from the
        technician (who has room for another job again), leaves the queue, or stops
        waiting for operations; the construction sub-task is cancelled.

        Returns:
            The technician who got room for another job, if any.
        """

        def work(session: Session) -> str | None:
            order = session.get(WorkOrder, order_id)
            if order is None:
                raise OrderNotFound(order_id)
            task = self._sub_task(session, order_id, SubTaskKind.CONSTRUCTION)
            technician_id = task.technician_id
            queued = task.queued_at is not None
            waiting = task.status is SubTaskStatus.WAITING_FOR_OPERATIONS
            if task.status is SubTaskStatus.CANCELLED:
                return None  # withdrawn already (the activity ran again)
            freed = None
            if technician_id is not None and task.job_state is not JobState.COMPLETED:
                self._unbook(session, technician_id)
                freed = technician_id
            if technician_id is not None:
                self._set_order_technician(session, order_id, None)
            task.technician_id = None
            task.job_state = None
            task.queued_at = None
            task.status = SubTaskStatus.CANCELLED
            task.detail = reason
            task.updated_at = utcnow()
            session.add(task)
            self._stop_waiting(session, order)
            if technician_id is not None or queued or waiting:
                session.add(
                    _event(
                        order_id,
                        actor,
                        "construction.withdrawn",
                        technician_id=technician_id,
                        queued=queued,
                        waiting_for_operations=waiting,
                        reason=reason,
                    )
                )
            session.commit()
            return freed

        return await self.db.run(work)

    async def deactivations(self, order_id: str) -> dict[str, dict[str, Any]]:
        """The NMS's answers to the order's deactivations so far, by idempotency key."""

        def work(session: Session) -> dict[str, dict[str, Any]]:
            rows = session.exec(
                select(OrderEvent)
                .where(
                    OrderEvent.order_id == order_id,
                    col(OrderEvent.kind).in_(DEACTIVATION_EVENTS),
                )
                .order_by(col(OrderEvent.id))
            )
            return {
                str(e.detail["idempotency_key"]): e.detail
                for e in rows.all()
                if e.detail and "idempotency_key" in e.detail
            }

        return await self.db.run(work)

    async def record_deactivation(
        self, order_id: str, idempotency_key: str, result: dict[str, Any]
    ) -> None:
        """Store the NMS's answer to one deactivation in the order's history (once per
        idempotency key); ``result["succeeded"]`` says whether it was deactivated."""

        def work(session: Session) -> None:
            if session.get(WorkOrder, order_id) is None:
                raise OrderNotFound(order_id)
            earlier = (
                session.exec(
                    select(OrderEvent).where(
                        OrderEvent.order_id == order_id,
                        col(OrderEvent.kind).in_(DEACTIVATION_EVENTS),
                    )
                )
            ).all()
            if any(
                e.detail and e.detail.get("idempotency_key") == idempotency_key for e in earlier
            ):
                return
            kind = DEACTIVATION_EVENTS[0 if result.get("succeeded") else 1]
            session.add(_event(order_id, "nms", kind, idempotency_key=idempotency_key, **result))
            session.commit()

        return await self.db.run(work)

    # Technicians ---------------------------------------------------------------

    async def list_technicians(
        self, region: str | None = None, *, active: bool | None = None
    ) -> list[Technician]:
        def work(session: Session) -> list[Technician]:
            query = select(Technician).order_by(col(Technician.id))
            if active is not None:
                query = query.where(Technician.active == active)
            technicians = list((session.exec(query)).all())
            return [t for t in technicians if region is None or region in t.regions]

        return await self.db.run(work)

    async def get_technician(self, technician_id: str) -> Technician | None:
        def work(session: Session) -> Technician | None:
            return session.get(Technician, technician_id)

        return await self.db.run(work)

    async def add_technician(self, technician: Technician) -> Technician:
        """Store a new technician.

        Raises:
            TechnicianExists: the id is taken.
        """

        def work(session: Session) -> Technician:
            session.add(technician)
            try:
                session.commit()
            except IntegrityError:
                raise TechnicianExists(technician.id) from None
            session.refresh(technician)
            return technician

        return await self.db.run(work)

    async def change_technician(self, technician_id: str, **changes: Any) -> Technician:
        """Change a technician's name, regions, skills, availability or job limit.

        Raises:
            LookupError: no such technician.
        """

        def work(session: Session) -> Technician:
            technician = session.get(Technician, technician_id)
            if technician is None:
                raise LookupError(technician_id)
            for name, value in changes.items():
                setattr(technician, name, value)
            session.add(technician)
            session.commit()
            session.refresh(technician)
            return technician

        return await self.db.run(work)

    async def technician_jobs(
        self, technician_id: str, *, open_only: bool = True
    ) -> list[TechnicianJob]:
        """A technician's construction jobs with their orders, oldest first (the
        columns a job list shows, as plain rows: the technicians' apps ask often)."""
        query = _TECHNICIAN_JOBS_OPEN if open_only else _TECHNICIAN_JOBS
        return await self.db.run(
            lambda session: [
                TechnicianJob(**row._mapping)
                for row in session.execute(query, {"technician": technician_id})
            ]
        )


@dataclass(frozen=True)
class TechnicianJob:
    """One installation job in a technician's queue, with its customer and place."""

    order_id: str
    job_state: JobState | None
    status: SubTaskStatus
    visit: int
    due_at: datetime | None
    assigned_at: datetime
    customer_name: str
    customer_phone: str
    street: str
    house_number: str
    unit: str | None
    postcode: str
    city: str
    service_type: ServiceType
    profile: str
    window_start: datetime | None
    window_end: datetime | None


def _technician_jobs(*, open_only: bool) -> Select[Any]:
    order = _TABLES["work_order"].c
    query = (
        sqlalchemy_select(
            order.id.label("order_id"),
            _SUB_TASK.job_state,
            _SUB_TASK.status,
            _SUB_TASK.visit,
            _SUB_TASK.due_at,
            _SUB_TASK.updated_at.label("assigned_at"),
            order.customer_name,
            order.customer_phone,
            order.street,
            order.house_number,
            order.unit,
            order.postcode,
            order.city,
            order.service_type,
            order.profile,
            order.window_start,
            order.window_end,
        )
        .join_from(_TABLES["work_order"], _TABLES["sub_task"], _SUB_TASK.order_id == order.id)
        .where(
            _SUB_TASK.kind == SubTaskKind.CONSTRUCTION,
            _SUB_TASK.technician_id == bindparam("technician"),
        )
        .order_by(order.created_at)
    )
    return query.where(_SUB_TASK.job_state != JobState.COMPLETED) if open_only else query


_TECHNICIAN_JOBS = _technician_jobs(open_only=False)
_TECHNICIAN_JOBS_OPEN = _technician_jobs(open_only=True)


@dataclass(frozen=True)
class RecordedReport:
    """A technician's report, recorded."""

    state: ConstructionJobState
    """The job after it."""
    freed: bool
    """The technician has room for another job now (they completed this one)."""


@dataclass(frozen=True)
class Release:
    """What taking a job back from its technician did."""

    technician_id: str | None
    """Who was released, if anyone."""
    state: ConstructionJobState
    """The job after it."""


def _job_of(task: SubTask | None) -> ConstructionJob | None:
    """The construction job of a sub-task row, if a technician has it."""
    if task is None or task.technician_id is None or task.job_state is None:
        return None
    result = task.result or {}
    return ConstructionJob(
        technician_id=task.technician_id,
        state=task.job_state,
        ont_serial=result.get("ont_serial") if task.job_state is JobState.COMPLETED else None,
        reason_code=(
            result.get("reason_code") if task.job_state is JobState.CANNOT_COMPLETE else None
        ),
        visit=task.visit,
    )


def _job_state_of(task: SubTask) -> ConstructionJobState:
    return ConstructionJobState(job=_job_of(task), report_seq=task.report_seq)


class ResourceTaken(Exception):
    """Planned resources were taken by another order meanwhile: plan again."""


class TechnicianUnavailable(Exception):
    """The technician cannot take the job; the message says why."""


class TechnicianExists(Exception):
    """A technician with that id exists already."""


def _why_not(technician: Technician | None, technician_id: str, region: str, skill: str) -> str:
    if technician is None:
        return f"no technician {technician_id}"
    if not technician.active:
        return f"technician {technician_id} is not active"
    if region not in technician.regions:
        return f"technician {technician_id} does not work in region {region}"
    if skill not in technician.skills:
        return f"technician {technician_id} lacks the {skill} skill"
    return f"technician {technician_id} has no room for another job"
