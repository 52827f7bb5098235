"""The attempts of activation and quality check: each one's data, planned from the
history and stored before it is sent, and its result; and the deactivations of a
cancelled order's resources."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from sqlalchemy import JSON, Connection, Integer, bindparam, case, insert, literal, select, update
from sqlalchemy.exc import IntegrityError

from models.enums import AttemptOutcome, SubTaskKind, SubTaskStatus
from models.tables import SubTaskAttempt, UtcDateTime, utcnow
from workorders.planning import PastAttempt
from workorders.store.base import (
    ATTEMPT,
    ATTEMPTS,
    EVENT,
    SUB_TASK,
    SUB_TASKS,
    SYSTEM,
    Store,
    add_event,
    load,
    no_sub_task,
    order_of,
)
from workorders.store.errors import ResourceTaken
from workorders.store.inventory import Reserve

DEACTIVATION_EVENTS = ("deactivation.completed", "deactivation.failed")
"""The history's events of a cancelled order's deactivations, one per terminal slot."""

_OF_THIS_SUB_TASK = (
    ATTEMPT.order_id == bindparam("order"),
    ATTEMPT.kind == bindparam("sub_task_kind"),
)
_ATTEMPT_DATA = select(ATTEMPT.data, ATTEMPT.outcome).where(
    *_OF_THIS_SUB_TASK, ATTEMPT.attempt == bindparam("attempt_no")
)
_EARLIER_ATTEMPTS = (
    select(ATTEMPT.attempt, ATTEMPT.data, ATTEMPT.outcome, ATTEMPT.error_code)
    .where(*_OF_THIS_SUB_TASK, ATTEMPT.attempt < bindparam("attempt_no"))
    .order_by(ATTEMPT.attempt)
)
_NEW_ATTEMPT = insert(ATTEMPTS)
_RECENT_ACTIVATIONS = (
    select(ATTEMPT.id, ATTEMPT.data)
    .where(
        ATTEMPT.kind == SubTaskKind.ACTIVATION,
        ATTEMPT.outcome == AttemptOutcome.SUCCEEDED,
    )
    .order_by(ATTEMPT.id.desc())
    .limit(bindparam("recent", type_=Integer))
    .subquery()
)
_WORKING_PROFILE_NAMES = (
    select(
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
    update(ATTEMPTS)
    .where(
        *_OF_THIS_SUB_TASK,
        ATTEMPT.attempt == bindparam("attempt_no"),
        ATTEMPT.outcome == AttemptOutcome.PENDING,
    )
    .values(
        outcome=bindparam("new_outcome", type_=ATTEMPT.outcome.type),
        result=bindparam("new_result", type_=JSON),
        error_code=bindparam("new_error_code", type_=ATTEMPT.error_code.type),
        finished_at=bindparam("at", type_=UtcDateTime),
    )
)
_THE_SUB_TASK = (
    SUB_TASK.order_id == bindparam("order"),
    SUB_TASK.kind == bindparam("sub_task_kind"),
)
_START_SUB_TASK = (
    update(SUB_TASKS)
    .where(*_THE_SUB_TASK)
    .values(
        status=SubTaskStatus.IN_PROGRESS,
        attempts=bindparam("attempt_no", type_=SUB_TASK.attempts.type),
        data=bindparam("new_data", type_=JSON),
        updated_at=bindparam("at", type_=UtcDateTime),
    )
)
_FAILED_ATTEMPT_SUB_TASK = (
    update(SUB_TASKS)
    .where(*_THE_SUB_TASK, SUB_TASK.status != SubTaskStatus.CANCELLED)
    .values(
        result=bindparam("new_result", type_=JSON),
        detail=bindparam("new_detail", type_=SUB_TASK.detail.type),
        updated_at=bindparam("at", type_=UtcDateTime),
    )
)
_SUCCEEDED_SUB_TASK = _FAILED_ATTEMPT_SUB_TASK.values(status=SubTaskStatus.SUCCEEDED)
"""An attempt's result on its sub-task, unless the sub-task was cancelled meanwhile (an
abandoned attempt). The statements of an attempt are built once: they are the hot
path of every activation and quality check."""
_SUB_TASK_DETAIL = (
    update(SUB_TASKS)
    .where(*_THE_SUB_TASK)
    .values(
        status=case(
            (
                SUB_TASK.status == SubTaskStatus.PENDING,
                literal(SubTaskStatus.IN_PROGRESS, SUB_TASK.status.type),
            ),
            else_=SUB_TASK.status,
        ),
        detail=bindparam("new_detail", type_=SUB_TASK.detail.type),
        updated_at=bindparam("at", type_=UtcDateTime),
    )
)
_DEACTIVATIONS = (
    select(EVENT.detail)
    .where(EVENT.order_id == bindparam("order"), EVENT.kind.in_(DEACTIVATION_EVENTS))
    .order_by(EVENT.id)
)


class AttemptStore(Store):
    """The sub-tasks' attempts: what each sent and what came back."""

    async def attempts(
        self, order_id: str, kind: SubTaskKind | None = None
    ) -> list[SubTaskAttempt]:
        """The order's attempts (of one sub-task), by sub-task and number."""
        query = select(ATTEMPTS).where(ATTEMPT.order_id == order_id)
        if kind is not None:
            query = query.where(ATTEMPT.kind == kind)
        query = query.order_by(ATTEMPT.kind, ATTEMPT.attempt)
        return await self.db.transaction(
            lambda connection: [load(SubTaskAttempt, row) for row in connection.execute(query)]
        )

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
        reserve: Reserve | None = None,
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

        def work(connection: Connection) -> dict[str, Any] | None:
            this = {"order": order_id, "sub_task_kind": kind, "attempt_no": attempt}
            if (stored := connection.execute(_ATTEMPT_DATA, this).first()) is not None:
                return dict(stored.data or {})
            earlier = connection.execute(_EARLIER_ATTEMPTS, this).all()
            planned = plan(
                [PastAttempt(a.attempt, a.data or {}, a.outcome, a.error_code) for a in earlier]
            )
            if planned is None:
                return None
            data = planned.model_dump(mode="json")
            now = utcnow()
            try:
                connection.execute(
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
                    reserve(connection, data)
            except IntegrityError:  # begun meanwhile by another run, or resources taken
                connection.rollback()
                if (stored := connection.execute(_ATTEMPT_DATA, this).first()) is not None:
                    return dict(stored.data or {})
                if reserve is None:
                    raise
                raise ResourceTaken(f"{data} is held by another order") from None
            started = connection.execute(_START_SUB_TASK, {**this, "new_data": data, "at": now})
            if started.rowcount != 1:
                raise no_sub_task(order_id, kind)
            add_event(
                connection,
                order_id,
                actor,
                f"{kind.value}.attempt_started",
                now,
                attempt=attempt,
                data=data,
            )
            return data

        return await self.db.transaction(work)

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

        def work(connection: Connection) -> None:
            this = {"order": order_id, "sub_task_kind": kind, "attempt_no": attempt}
            stored = connection.execute(_ATTEMPT_DATA, this).first()
            if stored is None:
                raise LookupError(f"{kind.value} attempt {attempt} of {order_id} was never begun")
            if stored.outcome is not AttemptOutcome.PENDING:
                return
            outcome = AttemptOutcome.SUCCEEDED if succeeded else AttemptOutcome.FAILED
            now = utcnow()
            finished = {**this, "new_result": result, "at": now}
            connection.execute(
                _FINISH_ATTEMPT,
                {**finished, "new_outcome": outcome, "new_error_code": error_code},
            )
            connection.execute(
                _SUCCEEDED_SUB_TASK if succeeded else _FAILED_ATTEMPT_SUB_TASK,
                {**finished, "new_detail": detail},
            )
            add_event(
                connection,
                order_id,
                actor,
                f"{kind.value}.attempt_{outcome.value}",
                now,
                attempt=attempt,
                error_code=error_code,
                detail=detail,
            )

        return await self.db.transaction(work)

    async def working_profile_names(self, profile: str, *, recent: int = 500) -> dict[str, str]:
        """Per OLT, the NMS name of ``profile`` that the latest successful activation
        there used (among the ``recent`` latest successful activations)."""

        def work(connection: Connection) -> dict[str, str]:
            rows = connection.execute(
                _WORKING_PROFILE_NAMES, {"profile": profile, "recent": recent}
            )
            names: dict[str, str] = {}
            for olt_id, name in rows:
                names.setdefault(olt_id, name)
            return names

        return await self.db.transaction(work)

    async def set_sub_task_detail(self, order_id: str, kind: SubTaskKind, detail: str) -> None:
        """Say what a sub-task is doing (shown with the order); a pending one is then
        in progress."""

        def work(connection: Connection) -> None:
            said = connection.execute(
                _SUB_TASK_DETAIL,
                {"order": order_id, "sub_task_kind": kind, "new_detail": detail, "at": utcnow()},
            )
            if said.rowcount != 1:
                raise no_sub_task(order_id, kind)

        return await self.db.transaction(work)

    async def deactivations(self, order_id: str) -> dict[str, dict[str, Any]]:
        """The NMS's answers to the order's deactivations so far, by idempotency key."""
        return await self.db.transaction(lambda connection: _deactivations(connection, order_id))

    async def record_deactivation(
        self, order_id: str, idempotency_key: str, result: dict[str, Any]
    ) -> None:
        """Store the NMS's answer to one deactivation in the order's history (once per
        idempotency key); ``result["succeeded"]`` says whether it was deactivated."""

        def work(connection: Connection) -> None:
            order_of(connection, order_id)  # raises OrderNotFound
            if idempotency_key in _deactivations(connection, order_id):
                return
            kind = DEACTIVATION_EVENTS[0 if result.get("succeeded") else 1]
            add_event(
                connection,
                order_id,
                "nms",
                kind,
                utcnow(),
                idempotency_key=idempotency_key,
                **result,
            )

        return await self.db.transaction(work)


def _deactivations(connection: Connection, order_id: str) -> dict[str, dict[str, Any]]:
    return {
        str(detail["idempotency_key"]): detail
        for (detail,) in connection.execute(_DEACTIVATIONS, {"order": order_id})
        if detail and "idempotency_key" in detail
    }
