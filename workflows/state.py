"""What a work order's workflow keeps: one state object, grouped per sub-task.

The workflow and its three branches share one :class:`WorkflowState`; each branch
changes its own part (and the order's outcomes), the workflow the rest. The ``state``
query answers with :meth:`WorkflowState.snapshot`, the API's ``WorkOrderState``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.enums import OrderStatus, SlaState, SubTaskKind
    from models.payloads import (
        CancelOrder,
        ConstructionJob,
        ConstructionJobState,
        ConstructionView,
        NetworkOperation,
        OrderDecision,
        SubTaskOutcome,
        WorkOrderState,
    )


@dataclass
class HeldJob:
    """The construction job as the workflow holds it.

    The database has the job too: the API records the technicians' reports there, then
    signals the workflow. What the workflow holds follows the database through
    :meth:`adopt` (a signalled report, a read, a release) and its own writes.
    """

    job: ConstructionJob | None = None
    report_seq: int = 0
    """How many of the technicians' reports the database had when it gave the job."""
    outdated: bool = False
    """A report was signalled that could not be adopted as it came: the job is read
    again from the database before construction's next step."""

    def adopt(self, snapshot: ConstructionJobState) -> None:
        """Hold the job as the database has it, after ``snapshot.report_seq`` reports."""
        self.job = snapshot.job
        self.report_seq = max(self.report_seq, snapshot.report_seq)


@dataclass
class ConstructionState:
    held: HeldJob = field(default_factory=HeldJob)
    queued: bool = False
    """Waiting in the region's queue for a free technician."""
    waiting_for_operations: str | None = None
    """Why the job waits for operations, while it does."""
    sla: SlaState = SlaState.ON_TIME
    excluded: list[str] = field(default_factory=list)
    """Technicians who gave the job up or lost it: never assigned it again."""
    failed_by_operations: str | None = None
    technician_available: bool = False
    """A technician who could take the queued job has room again (a wake-up)."""
    changes: int = 0
    """Counts what changed the job from outside construction's loop, which wakes it."""
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Held while the job changes: by construction's loop, its time limit or an
    operator's decision."""

    def view(self) -> ConstructionView:
        return ConstructionView(
            job=self.held.job,
            queued=self.queued,
            waiting_for_operations=self.waiting_for_operations,
            sla=self.sla,
            excluded=self.excluded,
        )


@dataclass
class NetworkTaskState:
    """Activation's or the quality check's: its NMS attempts and operations' part."""

    sent: list[int] = field(default_factory=list)
    """Attempts sent to the NMS (activation's are deactivated if the order is cancelled)."""
    in_flight: bool = False
    """An attempt is with the NMS."""
    waiting_for_operations: str | None = None
    """Why the sub-task waits for operations, while it does."""
    next_attempt: int = 1
    """The attempt after the last: where the data an operator gives goes."""
    decision: NetworkOperation | None = None
    """Operations' decision, until the sub-task takes it."""


@dataclass
class CancellationState:
    request: CancelOrder | None = None
    """The order's cancellation, once requested: every sub-task stops."""
    recorded: bool = False
    """The request is in the order's timeline (or could not be put there)."""

    @property
    def requested(self) -> bool:
        return self.request is not None


@dataclass
class Visibility:
    """What the Temporal UI shows of the order (:mod:`workflows.visibility`)."""

    published: dict[str, object] = field(default_factory=dict)
    """The search attributes as the server has them: those the order started with
    (the API gives its status, region and service), then what was upserted."""
    customer: list[str] = field(default_factory=list)
    """Whom and where, for the current details (encrypted like every payload)."""


@dataclass
class WorkflowState:
    """Everything a work order's workflow keeps."""

    order_id: str
    status: OrderStatus = OrderStatus.RECEIVED
    outcomes: dict[SubTaskKind, SubTaskOutcome] = field(default_factory=dict)
    construction: ConstructionState = field(default_factory=ConstructionState)
    activation: NetworkTaskState = field(default_factory=NetworkTaskState)
    quality_check: NetworkTaskState = field(default_factory=NetworkTaskState)
    cancellation: CancellationState = field(default_factory=CancellationState)
    decision: OrderDecision | None = None
    """The order's outcome, once decided: it takes no cancellation after that."""
    visibility: Visibility = field(default_factory=Visibility)

    def network_task(self, kind: SubTaskKind) -> NetworkTaskState:
        return self.activation if kind is SubTaskKind.ACTIVATION else self.quality_check

    def network_waiting(self) -> dict[SubTaskKind, str]:
        """Activation or quality check waiting for operations, and why."""
        return {
            kind: task.waiting_for_operations
            for kind, task in (
                (SubTaskKind.ACTIVATION, self.activation),
                (SubTaskKind.QUALITY_CHECK, self.quality_check),
            )
            if task.waiting_for_operations is not None
        }

    def snapshot(self) -> WorkOrderState:
        return WorkOrderState(
            order_id=self.order_id,
            status=self.status,
            construction=self.construction.view(),
            waiting_for_operations=self.network_waiting(),
            outcomes=list(self.outcomes.values()),
            cancelling=self.cancellation.requested and not self.status.is_final,
            cancellation=self.cancellation.request,
        )
