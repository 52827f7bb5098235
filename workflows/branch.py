"""What the three branches of a work order (construction, activation, quality check)
share: each runs its sub-task to an outcome and owns its failures, so one failing
never loses another's result."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from typing import ClassVar

from temporalio import workflow
from temporalio.exceptions import ApplicationError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from activities.orders import OrderActivities
    from models.enums import SubTaskKind, SubTaskStatus
    from models.payloads import HandOffInput, OrderPlan, SubTaskOutcome

from workflows.options import ACTIVITY_FAILED, call_database, reason_of
from workflows.state import WorkflowState
from workflows.visibility import publish_waiting


class Branch(ABC):
    """One sub-task of the order, over the workflow's shared state."""

    kind: ClassVar[SubTaskKind]

    def __init__(self, state: WorkflowState) -> None:
        self.state = state

    async def run(self, plan: OrderPlan) -> SubTaskOutcome:
        """Run the sub-task to its outcome; an activity that gave up fails only it."""
        try:
            outcome = await self._run(plan)
        except ACTIVITY_FAILED as e:
            if self.state.cancellation.requested and is_cancelled_exception(e):
                outcome = self._cancelled()  # abandoned
            else:
                outcome = SubTaskOutcome(
                    kind=self.kind, status=SubTaskStatus.FAILED, reason=reason_of(e)
                )
        except asyncio.CancelledError:
            if not self.state.cancellation.requested:
                raise
            outcome = self._cancelled()  # abandoned
        self.state.outcomes[self.kind] = outcome
        return outcome

    @abstractmethod
    async def _run(self, plan: OrderPlan) -> SubTaskOutcome:
        """Run the sub-task itself; :meth:`run` owns its failures."""

    def _cancelled(self, attempts: int = 0) -> SubTaskOutcome:
        return SubTaskOutcome(
            kind=self.kind,
            status=SubTaskStatus.CANCELLED,
            reason="stopped: the order was cancelled",
            attempts=attempts,
        )

    async def _hand_to_operations(self, reason: str | None) -> None:
        """Say that the sub-task waits for operations, or (no reason) that it resumed."""
        await call_database(
            OrderActivities.hand_to_operations,
            HandOffInput(order_id=self.state.order_id, kind=self.kind, reason=reason),
        )
        publish_waiting(self.state)

    def _refuse_when_cancelled(self, code: str, what: str) -> None:
        if self.state.cancellation.requested:
            raise ApplicationError(f"the order is cancelled; {what}", type=code, non_retryable=True)
