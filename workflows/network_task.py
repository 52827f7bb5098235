"""Activation and the quality check: NMS sub-tasks, each an attempt, a revision of its
data from the order's history and another attempt, until it succeeds or operations
decide (:class:`NetworkTask`, written once for both)."""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING, ClassVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.activation import ActivationActivities
    from activities.orders import OrderActivities
    from activities.quality import QualityCheckActivities
    from models.enums import SubTaskKind, SubTaskStatus
    from models.payloads import (
        ActivationData,
        ActivationInput,
        ActivationResult,
        NetworkOperation,
        OrderPlan,
        PrepareAttemptInput,
        QualityCheckData,
        QualityCheckInput,
        QualityCheckResult,
        SubTaskOutcome,
    )

from workflows.branch import Branch
from workflows.options import (
    ACTIVITY_FAILED,
    MAX_ACTIVATION_ATTEMPTS,
    MAX_QUALITY_CHECK_ATTEMPTS,
    NMS,
    call_database,
    reason_of,
    refusal_of,
)
from workflows.state import NetworkTaskState
from workflows.visibility import publish_waiting

if TYPE_CHECKING:
    from pydantic import BaseModel


class NetworkTask(Branch):
    """Attempts of one NMS sub-task until it succeeds.

    A revisable failure is tried again (the activity revises the data from the
    history) up to :attr:`revisions` attempts in a row; a permanent failure, the last
    revision failing, or the NMS unreachable for too long hands the sub-task to
    operations, who retry it (with data they edited, or planned anew) or abort it.
    Once the order is cancelled no attempt starts; one in flight runs to its end.
    """

    revisions: ClassVar[int]
    data: ClassVar[type[BaseModel]]
    """What an operator's data for an attempt must be."""

    @property
    def task(self) -> NetworkTaskState:
        return self.state.network_task(self.kind)

    @abstractmethod
    async def _attempt(self, plan: OrderPlan, number: int) -> ActivationResult | QualityCheckResult:
        """Run attempt ``number`` of the sub-task at the NMS."""

    async def _run_attempts(self, plan: OrderPlan) -> SubTaskOutcome:
        cancellation, task = self.state.cancellation, self.task
        number, last_revision, unanswered = 0, self.revisions, False
        while True:
            if cancellation.requested:  # no new attempt
                return self._cancelled(number)
            if not unanswered:
                number += 1
            unanswered = False
            task.sent.append(number)
            task.in_flight = True
            try:
                result = await self._attempt(plan, number)
            except ActivityError as e:
                # No answer (the NMS unreachable for too long): a retry repeats this
                # attempt, its data and its idempotency key, so that an activation the
                # NMS did after all is not done twice.
                reason, revisable, unanswered = reason_of(e), False, True
            else:
                if cancellation.requested:  # it ended after the order was cancelled
                    return self._cancelled(number)
                if result.succeeded:
                    return SubTaskOutcome(
                        kind=self.kind, status=SubTaskStatus.SUCCEEDED, attempts=number
                    )
                reason, revisable = f"{result.error_code}: {result.message}", result.revisable
            finally:
                task.in_flight = False
            if cancellation.requested:
                return self._cancelled(number)
            if revisable and number < last_revision:
                continue
            if revisable:
                reason = f"revised {self.revisions} times in a row; last: {reason}"
            task.next_attempt = number + 1
            decision = await self._wait_for_operations(reason)
            if decision is None:
                return self._cancelled(number)
            unanswered = unanswered and decision.data is None
            if decision.action == "abort":
                return SubTaskOutcome(
                    kind=self.kind,
                    status=SubTaskStatus.FAILED,
                    reason=f"aborted by operations: {decision.reason}; last: {reason}",
                    attempts=number,
                )
            last_revision = number + self.revisions

    async def _wait_for_operations(self, reason: str) -> NetworkOperation | None:
        """Operations' decision, or ``None`` when the order was cancelled meanwhile."""
        task = self.task
        task.waiting_for_operations = reason
        await self._hand_to_operations(reason)
        await workflow.wait_condition(
            lambda: task.decision is not None or self.state.cancellation.requested
        )
        if self.state.cancellation.requested:
            task.waiting_for_operations = task.decision = None
            publish_waiting(self.state)
            return None
        decision, task.decision = task.decision, None
        assert decision is not None
        await self._hand_to_operations(None)
        return decision

    async def operate(self, operation: NetworkOperation) -> None:
        """Operations decide on the sub-task waiting for them (the workflow's
        ``operate_network_task`` update); data they give goes to the next attempt."""
        self.ensure_operation_allowed(operation)
        task = self.task
        reason, task.waiting_for_operations = task.waiting_for_operations, None  # one decision
        if operation.action == "retry" and operation.data is not None:
            try:
                await call_database(
                    OrderActivities.prepare_attempt,
                    PrepareAttemptInput(
                        order_id=self.state.order_id,
                        kind=operation.kind,
                        attempt=task.next_attempt,
                        data=operation.data,
                        operator=operation.operator,
                    ),
                )
            except ACTIVITY_FAILED as e:
                task.waiting_for_operations = reason
                refused = refusal_of(e)
                if refused is None:
                    raise
                raise refused from None
        task.decision = operation

    def ensure_operation_allowed(self, operation: NetworkOperation) -> None:
        """Refuse a decision on a sub-task that does not wait for one, or invalid data."""
        not_waiting = f"{self.kind.value} is not waiting for operations"
        self._refuse_when_cancelled("NOT_WAITING", not_waiting)
        if self.task.waiting_for_operations is None:
            raise ApplicationError(not_waiting, type="NOT_WAITING", non_retryable=True)
        if operation.data is not None:
            unknown = set(operation.data) - set(self.data.model_fields)
            try:
                if unknown:
                    raise ValueError(f"unknown fields: {', '.join(sorted(unknown))}")
                self.data.model_validate(operation.data)
            except ValueError as e:
                raise ApplicationError(
                    f"invalid {self.kind.value} data: {e}",
                    type="INVALID_DATA",
                    non_retryable=True,
                ) from None


class Activation(NetworkTask):
    """The service activated in the NMS, as soon as the order starts."""

    kind = SubTaskKind.ACTIVATION
    revisions = MAX_ACTIVATION_ATTEMPTS
    data = ActivationData

    async def _run(self, plan: OrderPlan) -> SubTaskOutcome:
        return await self._run_attempts(plan)

    async def _attempt(self, plan: OrderPlan, number: int) -> ActivationResult:
        return await workflow.execute_activity_method(
            ActivationActivities.activate_resources,
            ActivationInput(order_id=plan.order_id, attempt=number),
            **NMS,
        )


class QualityCheck(NetworkTask):
    """The line checked in the NMS once it is installed and activated (skipped if
    either did not succeed); a check in flight is abandoned if the order is cancelled."""

    kind = SubTaskKind.QUALITY_CHECK
    revisions = MAX_QUALITY_CHECK_ATTEMPTS
    data = QualityCheckData

    async def _run(self, plan: OrderPlan) -> SubTaskOutcome:
        state = self.state
        if state.cancellation.requested:
            return self._cancelled()
        needed = (SubTaskKind.CONSTRUCTION, SubTaskKind.ACTIVATION)
        await workflow.wait_condition(
            lambda: all(k in state.outcomes for k in needed) or state.cancellation.requested
        )
        if state.cancellation.requested:
            return self._cancelled()
        blocked = [
            k.value for k in needed if state.outcomes[k].status is not SubTaskStatus.SUCCEEDED
        ]
        if blocked:
            return SubTaskOutcome(
                kind=self.kind,
                status=SubTaskStatus.SKIPPED,
                reason=f"the line was not ready: {' and '.join(blocked)} did not succeed",
            )
        return await self._run_attempts(plan)

    async def _attempt(self, plan: OrderPlan, number: int) -> QualityCheckResult:
        return await workflow.execute_activity_method(
            QualityCheckActivities.run_quality_check,
            QualityCheckInput(order_id=plan.order_id, attempt=number),
            **NMS,
        )
