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
        BookedVisit,
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
    """The construction job as the workflow holds it: a copy of the database's record,
    at a version.

    The database is the one truth of the job: the API records the technicians' reports
    there (each counts one version), and so do construction's activities, which answer
    with the job as it stands after them (:meth:`adopt`). The API then tells the
    workflow only the version it made (:meth:`announce`); the workflow reads the job
    before construction's next step (:meth:`read`).
    """

    job: ConstructionJob | None = None
    version: int = 0
    """The job's version in the database when it was taken from there."""
    appointment: BookedVisit | None = None
    """The visit booked for it, as of ``version``."""
    announced: int = 0
    """The newest version the workflow was told the database has."""

    @property
    def outdated(self) -> bool:
        """The database has a newer job than the one held: read it before acting."""
        return self.announced > self.version

    def adopt(self, snapshot: ConstructionJobState) -> None:
        """Hold the job as the database gave it, unless a newer one is held already."""
        if snapshot.version >= self.version:
            self.job = snapshot.job
            self.version = snapshot.version
            self.appointment = snapshot.appointment

    def announce(self, version: int) -> None:
        """The database has the job at ``version`` (or newer)."""
        self.announced = max(self.announced, version)

    def read(self, snapshot: ConstructionJobState, *, asked: int) -> None:
        """The job as read from the database after versions up to ``asked`` were
        announced. The API records a change before it tells of it, so a version told
        before the read and not found there was never made (a signal from elsewhere):
        it is forgotten; one told during the read is read next."""
        self.adopt(snapshot)
        if self.announced == asked:
            self.announced = min(self.announced, self.version)


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
