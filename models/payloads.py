"""Small typed payloads that cross the Temporal boundary.

Workflow and activity arguments carry references (an order id, an attempt number),
never the full parameter set: an activity reads what must be fresh, such as the
order's history, from the work-order database when it runs.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from models.enums import (
    CannotCompleteReason,
    JobState,
    OrderStatus,
    ServiceType,
    SlaState,
    SubTaskKind,
    SubTaskStatus,
)


class WorkOrderInput(BaseModel):
    """Starts the workflow of one work order."""

    order_id: str


class OrderPlan(BaseModel):
    """What dispatch determined for the order: the task its sub-tasks share."""

    order_id: str
    region: str
    service_type: ServiceType
    profile: str
    installation_limit: timedelta
    """The region's time limit for the installation, from dispatch."""
    jeopardy_after: timedelta
    """When an unfinished installation is marked in jeopardy."""
    customer_name: str = ""
    """Whom the technician visits. Customer data: Temporal holds it only encrypted
    (:mod:`workorders.codec`); empty in plans of orders started before it was kept."""
    customer_phone: str = ""
    address: str = ""
    """Where the line is installed, on one line as the address's country writes it
    (CN: 北京市海淀区中关村大街27号3单元502室; DE: street house number, unit, postcode
    city)."""


class SubTaskOutcome(BaseModel):
    """How one sub-task ended, as the order's status rule sees it."""

    kind: SubTaskKind
    status: SubTaskStatus
    reason: str | None = None
    attempts: int = 0


# Construction ------------------------------------------------------------------


class ConstructionInput(BaseModel):
    order_id: str
    excluded: list[str] = Field(
        default_factory=list, description="Technicians not to assign (they gave the job back)."
    )
    escalated: bool = Field(
        default=False, description="The time limit has passed: assign now or not at all."
    )


class ConstructionAssignment(BaseModel):
    order_id: str
    region: str
    technician_id: str | None = None
    state: ConstructionJobState | None = None
    """The job after the assignment, when a technician has it."""
    reason: str | None = Field(default=None, description="Why nobody was assigned.")
    can_wait: bool = Field(
        default=False, description="Nobody is free now, but the region has such technicians."
    )


class AssignTechnicianInput(BaseModel):
    """Operations assign the job to this technician by hand."""

    order_id: str
    technician_id: str
    operator: str = "operations"
    """Who assigned it, for the timeline (``operations:li``)."""
    version: int = Field(default=0, ge=0)
    """The job's version the operator decided on: a job that changed since is not
    given away (``JOB_CHANGED``)."""


class ReleaseConstructionInput(BaseModel):
    """Take the job back from its technician (who then has room for another)."""

    order_id: str
    reason: str
    before_on_site: bool = Field(
        default=False,
        description="Only while the technician is not yet on site (the time limit).",
    )


class RescheduleConstructionInput(BaseModel):
    """The same technician visits again."""

    order_id: str
    visit: int


class SlaInput(BaseModel):
    order_id: str
    state: SlaState
    due_at: datetime | None = None
    """A new time limit (a visit was booked); ``None``: the limit stays."""


class HandOffInput(BaseModel):
    """A sub-task waits for operations (``reason`` says why), or resumes (no reason)."""

    order_id: str
    kind: SubTaskKind
    reason: str | None = None


class ConstructionOperation(BaseModel):
    """An operator's decision on a construction job."""

    action: Literal["assign", "fail"]
    technician_id: str | None = None
    reason: str | None = None
    operator: str = "operations"

    @model_validator(mode="after")
    def _complete(self) -> ConstructionOperation:
        if self.action == "assign" and not self.technician_id:
            raise ValueError("assign needs a technician_id")
        if self.action == "fail" and not self.reason:
            raise ValueError("fail needs a reason")
        return self


class ConstructionReport(BaseModel):
    """A technician's report on their job: progress, completion or why not."""

    technician_id: str
    state: JobState
    ont_serial: str | None = Field(
        default=None, description="Serial of the installed terminal (ONT); needed to complete."
    )
    reason_code: CannotCompleteReason | None = None
    note: str | None = None


class ConstructionJob(BaseModel):
    """The construction job as the workflow holds it."""

    technician_id: str
    state: JobState = JobState.ASSIGNED
    ont_serial: str | None = None
    reason_code: CannotCompleteReason | None = None
    visit: int = 1


class ConstructionJobInput(BaseModel):
    order_id: str


class BookedVisit(BaseModel):
    """The installation slot booked with the customer."""

    technician_id: str
    start: datetime
    end: datetime


class ConstructionJobState(BaseModel):
    """The construction job as the database has it at ``version``: what the
    construction activities answer with, and what the workflow reads when it is told
    of a newer version."""

    job: ConstructionJob | None = None
    """``None``: no technician has the job (queued, taken back, or not dispatched)."""
    version: int = Field(default=0, ge=0)
    """How often the job has changed: each report, assignment, release, new visit,
    withdrawal or booking counts one."""
    appointment: BookedVisit | None = None
    """The booked visit; ``None``: none is booked, and the region's time limit runs
    from the order's start."""


class RebookInput(BaseModel):
    """The visit booked from ``missed`` failed: book the technician's next free slot."""

    order_id: str
    missed: datetime


class ConstructionChanged(BaseModel):
    """The API changed the construction job (it recorded a technician's report): the
    job's version after it. The workflow reads the job from the database; a signal
    carries no job, so one that the database does not back changes nothing."""

    version: int = Field(ge=0)


class WithdrawConstructionInput(BaseModel):
    """The order is cancelled: take the job back from its technician (or out of the
    queue, or from operations)."""

    order_id: str
    actor: str
    reason: str


# Activation --------------------------------------------------------------------


class ActivationInput(BaseModel):
    """Activate attempt ``attempt``; its data is planned from the order's history."""

    order_id: str
    attempt: int = Field(ge=1)


class ActivationData(BaseModel):
    """The first data: network resources and parameters sent to the NMS."""

    olt_id: str
    pon_port: int
    ont_id: int
    """The customer's terminal's id on the PON port."""
    vlan: int
    """The customer VLAN, unique on the PON port."""
    profile: str
    nms_profile_name: str


class ActivationResult(BaseModel):
    """The second result."""

    order_id: str
    attempt: int
    succeeded: bool
    data: ActivationData | None = None
    error_code: str | None = None
    message: str | None = None
    revisable: bool = False


# Quality check -----------------------------------------------------------------


class QualityCheckInput(BaseModel):
    order_id: str
    attempt: int = Field(ge=1)


class QualityCheckData(BaseModel):
    """The second data: what the NMS needs to check the line, and the thresholds."""

    olt_id: str
    pon_port: int
    ont_id: int
    profile: str
    test_server: str
    expected_download_mbps: int
    expected_upload_mbps: int
    min_speed_ratio: float = 0.9
    max_latency_ms: float = 20.0
    max_jitter_ms: float = 5.0
    max_loss_pct: float = 0.5


class Measures(BaseModel):
    download_mbps: float
    upload_mbps: float
    latency_ms: float
    jitter_ms: float
    loss_pct: float


class QualityCheckResult(BaseModel):
    """The third result."""

    order_id: str
    attempt: int
    succeeded: bool
    data: QualityCheckData | None = None
    measures: Measures | None = None
    error_code: str | None = None
    message: str | None = None
    revisable: bool = False


# The order -------------------------------------------------------------------


class SubTaskStarted(BaseModel):
    order_id: str
    kind: SubTaskKind
    detail: str | None = None


class OrderDecision(BaseModel):
    status: OrderStatus
    reason: str | None = None


class RecordOrderStatusInput(BaseModel):
    order_id: str
    decision: OrderDecision
    outcomes: list[SubTaskOutcome]


class WorkOrderResult(BaseModel):
    order_id: str
    status: OrderStatus
    reason: str | None = None
    outcomes: list[SubTaskOutcome]


NetworkKind = Literal[SubTaskKind.ACTIVATION, SubTaskKind.QUALITY_CHECK]


class NetworkOperation(BaseModel):
    """An operator's decision on an activation or quality check that waits for them:
    retry (with data they edited, or with data planned from the history) or abort."""

    kind: NetworkKind
    action: Literal["retry", "abort"]
    data: dict[str, Any] | None = None
    reason: str | None = None
    operator: str = "operations"

    @model_validator(mode="after")
    def _complete(self) -> NetworkOperation:
        if self.action == "abort" and not self.reason:
            raise ValueError("abort needs a reason")
        if self.action == "abort" and self.data is not None:
            raise ValueError("abort takes no data")
        return self


class PrepareAttemptInput(BaseModel):
    """Store the data an operator gave for the next attempt of a sub-task."""

    order_id: str
    kind: NetworkKind
    attempt: int
    data: dict[str, Any]
    operator: str


# Cancellation ------------------------------------------------------------------


class CancelOrder(BaseModel):
    """A request to cancel the order: who asks, and why."""

    reason: str = Field(min_length=1, max_length=500)
    actor: str = Field(
        min_length=1, max_length=100, description='Who cancels, e.g. "operations:alice".'
    )


class CancellationInput(BaseModel):
    """Record in the order's timeline that its cancellation was requested."""

    order_id: str
    actor: str
    reason: str


class DeactivateResourcesInput(BaseModel):
    """Deactivate in the NMS what these activation attempts sent, then give the order's
    inventory back."""

    order_id: str
    attempts: list[int] = Field(
        description="Activation attempts sent to the NMS (answered or not); the slots"
        " of those that the NMS did not refuse are deactivated."
    )


class SlotDeactivation(BaseModel):
    """The NMS's answer to the deactivation of one terminal slot."""

    olt_id: str
    pon_port: int
    ont_id: int
    attempts: list[int]
    """The activation attempts that sent this slot."""
    succeeded: bool
    error_code: str | None = None
    message: str | None = None

    @property
    def slot(self) -> str:
        return f"{self.olt_id}/{self.pon_port}/{self.ont_id}"


class DeactivateResourcesResult(BaseModel):
    order_id: str
    slots: list[SlotDeactivation] = Field(default_factory=list)
    released: int = 0
    """Inventory allocations given back."""

    @property
    def refused(self) -> list[SlotDeactivation]:
        return [s for s in self.slots if not s.succeeded]


class ConstructionView(BaseModel):
    """The construction sub-task as the workflow holds it."""

    job: ConstructionJob | None = None
    queued: bool = False
    """Waiting for a technician of the region to have room."""
    waiting_for_operations: str | None = None
    sla: SlaState = SlaState.ON_TIME
    excluded: list[str] = Field(default_factory=list)


class WorkOrderState(BaseModel):
    """What the workflow knows now; answered by its ``state`` query."""

    order_id: str
    status: OrderStatus
    construction: ConstructionView = Field(default_factory=ConstructionView)
    waiting_for_operations: dict[SubTaskKind, str] = Field(
        default_factory=dict, description="Activation or quality check waiting, and why."
    )
    outcomes: list[SubTaskOutcome] = Field(default_factory=list)
    cancelling: bool = False
    """The order's cancellation was requested and its cleanup is under way."""
    cancellation: CancelOrder | None = None
    """Who requested the cancellation, and why."""
