"""One durable workflow per work order.

Dispatch: the order is opened, then its three sub-tasks start at the same time and
each owns its failures, so one failing never loses another's result: construction
(:mod:`workflows.construction`), activation and the quality check
(:mod:`workflows.network_task`), all over one :class:`workflows.state.WorkflowState`.
The order's status follows from the three outcomes by
:func:`models.status.decide_order_status`. The handlers here are entry points; the
branches do the work.

Cancellation (the ``cancel_order`` update, or a cancellation requested in Temporal) is
recorded in the order's timeline, then each sub-task stops at its next step: the
construction job is withdrawn from its technician (or the queue, or operations);
activation starts no new attempt, but an attempt in flight runs to its end, since the
NMS may be activating it; a quality check in flight is abandoned. Then what activation
attempts sent is deactivated in the NMS, the inventory given back, and the order ends
``cancelled`` (:func:`models.status.decide_cancelled_status`).
"""

from __future__ import annotations

import asyncio
import contextlib

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.activation import ActivationActivities
    from activities.orders import OrderActivities
    from models.enums import OrderStatus, SubTaskKind, SubTaskStatus
    from models.payloads import (
        CancellationInput,
        CancelOrder,
        ConstructionChanged,
        ConstructionOperation,
        ConstructionView,
        DeactivateResourcesInput,
        DeactivateResourcesResult,
        NetworkOperation,
        OrderDecision,
        RecordOrderStatusInput,
        SubTaskOutcome,
        WorkOrderInput,
        WorkOrderResult,
        WorkOrderState,
    )
    from models.status import decide_cancelled_status, decide_order_status

from workflows import visibility
from workflows.construction import Construction
from workflows.network_task import Activation, NetworkTask, QualityCheck
from workflows.options import ACTIVITY_FAILED, DEACTIVATION, call_database, reason_of
from workflows.state import Visibility, WorkflowState

CANCELLED_IN_TEMPORAL = CancelOrder(actor="temporal", reason="cancellation requested in Temporal")
"""Who cancelled, and why, when the cancellation was requested in Temporal (the UI's
"Request cancellation", ``temporal workflow cancel``) rather than through the API."""


def workflow_id_for(order_id: str) -> str:
    """The id of the workflow of a work order."""
    return f"work-order-{order_id}"


@workflow.defn
class WorkOrderWorkflow:
    @workflow.init
    def __init__(self, input: WorkOrderInput) -> None:
        self._state = WorkflowState(
            order_id=input.order_id, visibility=Visibility(published=visibility.started_with())
        )
        self._construction = Construction(self._state)
        self._network: dict[SubTaskKind, NetworkTask] = {
            SubTaskKind.ACTIVATION: Activation(self._state),
            SubTaskKind.QUALITY_CHECK: QualityCheck(self._state),
        }
        self._branches: dict[SubTaskKind, asyncio.Task[SubTaskOutcome]] = {}
        """The running branches (the quality check's is cancelled to abandon it)."""
        self._cancelling_in_temporal: asyncio.Task[None] | None = None

    @workflow.run
    async def run(self, input: WorkOrderInput) -> WorkOrderResult:
        """Work the order to its end.

        The work runs in a task of its own: a cancellation requested in Temporal
        cancels this coroutine (and what it awaits), never the work, and becomes the
        order's cancellation; the workflow then ends normally, its order cancelled.
        """
        order = asyncio.create_task(self._run_order(input))
        while True:
            try:
                await workflow.wait_condition(order.done)
            except asyncio.CancelledError:
                self._cancelled_in_temporal()
                continue
            return order.result()

    async def _run_order(self, input: WorkOrderInput) -> WorkOrderResult:
        state = self._state
        plan = await call_database(OrderActivities.start_order, input)
        state.status = OrderStatus.IN_PROGRESS
        visibility.publish(state, plan)
        branches = (self._construction, *self._network.values())
        self._branches = {b.kind: asyncio.create_task(b.run(plan)) for b in branches}
        outcomes = await asyncio.gather(*self._branches.values())
        if state.cancellation.request is None:
            decision = decide_order_status(outcomes)
        else:
            decision, outcomes = await self._clean_up(state.cancellation.request, outcomes)
        state.decision = decision
        # Written before the workflow task that closes the workflow reaches Temporal.
        # Should a cancellation arrive meanwhile, the server refuses to close the
        # workflow, and the task is tried again with the cancellation in it: it comes
        # after the end of the last sub-task (_after_this_step), so the decision, and
        # the write, are the same again.
        await call_database(
            OrderActivities.record_order_status,
            RecordOrderStatusInput(order_id=plan.order_id, decision=decision, outcomes=outcomes),
        )
        state.status = decision.status
        visibility.publish(state, plan)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return WorkOrderResult(
            order_id=plan.order_id,
            status=decision.status,
            reason=decision.reason,
            outcomes=list(outcomes),
        )

    async def _clean_up(
        self, request: CancelOrder, outcomes: list[SubTaskOutcome]
    ) -> tuple[OrderDecision, list[SubTaskOutcome]]:
        """Once every sub-task has stopped (an activation attempt in flight has ended):
        deactivate in the NMS what activation sent and give the inventory back. An
        activation that had succeeded is cancelled too once its service is deactivated.
        """
        state = self._state
        await workflow.wait_condition(lambda: state.cancellation.recorded)
        sent = state.activation.sent
        if not sent:
            return decide_cancelled_status(request), outcomes  # inventory: given back at the end
        try:
            deactivation: DeactivateResourcesResult = await workflow.execute_activity_method(
                ActivationActivities.deactivate_resources,
                DeactivateResourcesInput(order_id=state.order_id, attempts=sorted(set(sent))),
                **DEACTIVATION,
            )
        except ActivityError as e:
            return decide_cancelled_status(request, deactivation_error=reason_of(e)), outcomes
        activation = state.outcomes.get(SubTaskKind.ACTIVATION)
        if (
            activation is not None
            and activation.status is SubTaskStatus.SUCCEEDED
            and deactivation.slots
            and not deactivation.refused
        ):
            state.outcomes[SubTaskKind.ACTIVATION] = activation.model_copy(
                update={
                    "status": SubTaskStatus.CANCELLED,
                    "reason": "deactivated: the order was cancelled",
                }
            )
            outcomes = [state.outcomes.get(o.kind, o) for o in outcomes]
        return decide_cancelled_status(request, deactivation), outcomes

    # Cancellation ----------------------------------------------------------------

    @workflow.update
    async def cancel_order(self, request: CancelOrder) -> WorkOrderState:
        """Cancel the order: the job is withdrawn from the technician, what was
        activated is deactivated in the NMS, and the order ends cancelled.

        Returns once the request is recorded in the order's timeline; the cleanup
        goes on after (a deactivation may wait for the NMS). Cancelling an order that
        is being cancelled returns its state again.
        """
        cancellation = self._state.cancellation
        await self._after_this_step()
        if cancellation.request is None:
            await self._request_cancellation(request)
        else:
            await workflow.wait_condition(lambda: cancellation.recorded)
        return self.state()

    @cancel_order.validator
    def _validate_cancel(self, request: CancelOrder) -> None:
        self._ensure_open()

    def _ensure_open(self) -> None:
        decision = self._state.decision
        if decision is not None:
            raise ApplicationError(
                f"the order is {decision.status.value}; it cannot be cancelled",
                type="ORDER_CLOSED",
                non_retryable=True,
            )

    async def _request_cancellation(self, request: CancelOrder) -> None:
        """Stop every sub-task and record who cancelled the order, and why."""
        self._ensure_open()
        state = self._state
        state.cancellation.request = request
        if state.quality_check.in_flight:  # abandon its NMS attempt
            self._branches[SubTaskKind.QUALITY_CHECK].cancel()
        try:
            await call_database(
                OrderActivities.record_cancellation,
                CancellationInput(
                    order_id=state.order_id, actor=request.actor, reason=request.reason
                ),
            )
        finally:
            state.cancellation.recorded = True

    def _cancelled_in_temporal(self) -> None:
        """A cancellation requested in Temporal: the order is cancelled as through the
        API, unless it has ended or is being cancelled already."""
        state = self._state
        if state.decision is not None or state.cancellation.requested:
            return

        async def cancel() -> None:
            await self._after_this_step()
            if state.decision is not None or state.cancellation.requested:
                return
            with contextlib.suppress(*ACTIVITY_FAILED):  # not recorded: cancelled all the same
                await self._request_cancellation(CANCELLED_IN_TEMPORAL)

        self._cancelling_in_temporal = asyncio.create_task(cancel())

    async def _after_this_step(self) -> None:
        """Return once the workflow has taken in everything of the current workflow
        task: a cancellation arriving with the end of the last sub-task finds the order
        decided, and ended."""
        await workflow.wait_condition(lambda: True)

    # Construction ----------------------------------------------------------------

    @workflow.signal
    def construction_reported(self, changed: ConstructionChanged) -> None:
        """The API recorded a technician's report: the job's version after it
        (:meth:`workflows.construction.Construction.job_changed`)."""
        self._construction.job_changed(changed)

    @workflow.signal
    def technician_available(self) -> None:
        """A technician who could take this order's job has room again."""
        self._construction.wake()

    @workflow.update
    async def operate_construction(self, operation: ConstructionOperation) -> ConstructionView:
        """Operations assign the job to a technician of their choice, or give it up."""
        return await self._construction.operate(operation)

    @operate_construction.validator
    def _validate_construction_operation(self, operation: ConstructionOperation) -> None:
        self._construction.ensure_operation_allowed(operation)

    # Activation and quality check ------------------------------------------------

    @workflow.update
    async def operate_network_task(self, operation: NetworkOperation) -> WorkOrderState:
        """Operations decide on an activation or quality check waiting for them."""
        await self._network[operation.kind].operate(operation)
        return self.state()

    @operate_network_task.validator
    def _validate_network_operation(self, operation: NetworkOperation) -> None:
        self._network[operation.kind].ensure_operation_allowed(operation)

    @workflow.query
    def state(self) -> WorkOrderState:
        return self._state.snapshot()
