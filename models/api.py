"""What the HTTP API takes and gives: ``...Request`` and ``...Response`` models."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, EmailStr, Field, model_validator

from models.enums import (
    AttemptOutcome,
    CannotCompleteReason,
    Channel,
    JobState,
    OrderStatus,
    ServiceType,
    SlaState,
    SubTaskKind,
    SubTaskStatus,
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Customer(_Strict):
    name: str = Field(min_length=1, max_length=200, examples=["Wang Xiaoming"])
    phone: str = Field(
        pattern=r"^\+?[0-9][0-9 \-]{5,19}$", max_length=32, examples=["+86 138 0013 8000"]
    )
    email: EmailStr | None = Field(default=None, examples=["wang@example.com"])


class Address(_Strict):
    street: str = Field(min_length=1, max_length=200, examples=["Jianguo Road"])
    house_number: str = Field(min_length=1, max_length=20, examples=["88"])
    unit: str | None = Field(default=None, max_length=50, examples=["Flat 1203"])
    postcode: str = Field(pattern=r"^[0-9]{5}$", examples=["10115"])
    city: str = Field(min_length=1, max_length=100, examples=["Springfield"])


class InstallationWindow(_Strict):
    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end <= self.start:
            raise ValueError("the installation window must end after it starts")
        return self


class BroadbandDemand(_Strict):
    service_type: ServiceType = Field(examples=["FTTH"])
    download_mbps: int = Field(ge=1, le=10_000, examples=[300])
    upload_mbps: int = Field(ge=1, le=10_000, examples=[100])
    installation_window: InstallationWindow | None = None


class OrderCreateRequest(_Strict):
    """A customer's broadband order, as the front desk, a CRM or a web shop sends it."""

    external_reference: str = Field(
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9._:/-]+$",
        description="The caller's own id for the order; sending it again returns the same order.",
        examples=["CRM-2026-000123"],
    )
    channel: Channel = Channel.FRONT_DESK
    customer: Customer
    address: Address
    demand: BroadbandDemand


class SubTaskResponse(BaseModel):
    kind: SubTaskKind
    status: SubTaskStatus
    attempts: int
    technician_id: str | None = None
    job_state: JobState | None = None
    visit: int = Field(default=0, description="Construction: the technician's visit number.")
    queued_at: datetime | None = Field(
        default=None, description="Construction: waiting for a technician since."
    )
    due_at: datetime | None = Field(
        default=None, description="Construction: the region's installation time limit."
    )
    sla_state: SlaState | None = None
    detail: str | None = None
    data: dict[str, Any] | None = Field(default=None, description="The latest attempt's data.")
    result: dict[str, Any] | None = Field(default=None, description="The latest result.")
    updated_at: datetime


class OrderSummary(BaseModel):
    id: str
    external_reference: str
    status: OrderStatus
    status_reason: str | None = None
    region: str
    service_type: ServiceType
    profile: str
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None = None


class OrderResponse(OrderSummary):
    channel: Channel
    workflow_id: str
    customer: Customer
    address: Address
    demand: BroadbandDemand
    sub_tasks: list[SubTaskResponse]


class OrderPage(BaseModel):
    """A page of orders, newest first."""

    items: list[OrderSummary]
    total: int = Field(description="How many orders match the filters, on every page.")
    limit: int
    next_cursor: str | None = Field(
        default=None,
        description="Pass as `cursor` for the next page; null on the last page.",
    )


class OrderCancelRequest(_Strict):
    """Why the order is cancelled; kept in its timeline with who cancelled it."""

    reason: str = Field(min_length=1, max_length=500, examples=["the customer moved away"])


class AttemptResponse(BaseModel):
    kind: SubTaskKind
    attempt: int
    outcome: AttemptOutcome
    error_code: str | None = None
    data: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    started_at: datetime
    finished_at: datetime | None = None


class EventResponse(BaseModel):
    at: datetime
    actor: str
    kind: str
    detail: dict[str, Any] | None = None


class OrderHistoryResponse(BaseModel):
    """The order's history: every sub-task attempt and every event, in order."""

    order_id: str
    attempts: list[AttemptResponse]
    events: list[EventResponse]


class ConstructionReportRequest(_Strict):
    """A technician's report on their installation job."""

    technician_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=50,
        examples=["tech-north-1"],
        description="The reporting technician; a technician's own token implies it. "
        "Operations reporting on a technician's behalf must name them.",
    )
    state: JobState = Field(
        examples=["on_site"],
        description="accepted, en_route, on_site, completed or cannot_complete.",
    )
    ont_serial: str | None = Field(
        default=None,
        min_length=4,
        max_length=64,
        pattern=r"^[A-Za-z0-9-]+$",
        description="Serial of the installed terminal; required with completed.",
        examples=["HWTC1A2B3C4D"],
    )
    reason_code: CannotCompleteReason | None = Field(
        default=None, description="Required with cannot_complete."
    )
    note: str | None = Field(default=None, max_length=1000)

    @model_validator(mode="after")
    def _reportable(self) -> Self:
        if self.state is JobState.ASSIGNED:
            raise ValueError("a technician cannot report a job as assigned")
        return self


class ConstructionJobResponse(BaseModel):
    order_id: str
    technician_id: str
    state: JobState
    ont_serial: str | None = None
    reason_code: CannotCompleteReason | None = None


Skill = Literal["fibre", "copper"]


class TechnicianBase(_Strict):
    name: str = Field(min_length=1, max_length=200, examples=["Li Wei"])
    regions: list[str] = Field(min_length=1, examples=[["north"]])
    skills: list[Skill] = Field(min_length=1, examples=[["fibre", "copper"]])
    active: bool = True
    max_open_jobs: int = Field(default=4, ge=1, le=50)


class TechnicianCreateRequest(TechnicianBase):
    id: str = Field(
        min_length=1, max_length=50, pattern=r"^[a-z0-9][a-z0-9-]*$", examples=["tech-north-4"]
    )


class TechnicianUpdateRequest(_Strict):
    """The fields to change (left out or null: unchanged); ``active: false`` deactivates
    the technician (their open jobs stay theirs until done or reassigned)."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    regions: list[str] | None = Field(default=None, min_length=1)
    skills: list[Skill] | None = Field(default=None, min_length=1)
    active: bool | None = None
    max_open_jobs: int | None = Field(default=None, ge=1, le=50)


class TechnicianResponse(TechnicianBase):
    id: str
    open_jobs: int


class ConstructionOperationRequest(_Strict):
    """An operator's decision on an order's construction job."""

    action: Literal["assign", "fail"] = Field(
        description="assign: give the job to technician_id (also to reassign it); "
        "fail: give the installation up, with a reason."
    )
    technician_id: str | None = Field(default=None, min_length=1, max_length=50)
    reason: str | None = Field(default=None, min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.action == "assign" and not self.technician_id:
            raise ValueError("assign needs a technician_id")
        if self.action == "fail" and not self.reason:
            raise ValueError("fail needs a reason")
        return self


class NetworkOperationRequest(_Strict):
    """An operator's decision on an activation or quality check waiting for them."""

    action: Literal["retry", "abort"] = Field(
        description="retry: run the sub-task again, with `data` if given (else with data "
        "planned anew from the history); abort: give it up, with a reason."
    )
    data: dict[str, Any] | None = Field(
        default=None,
        description="The whole data of the next attempt, as shown in the sub-task's `data`.",
        examples=[
            {
                "olt_id": "olt-north-02",
                "pon_port": 3,
                "ont_id": 7,
                "vlan": 150,
                "profile": "FTTH_300_100",
                "nms_profile_name": "FTTH_300_100",
            }
        ],
    )
    reason: str | None = Field(default=None, min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.action == "abort" and not self.reason:
            raise ValueError("abort needs a reason")
        if self.action == "abort" and self.data is not None:
            raise ValueError("abort takes no data")
        return self


class NetworkOperationResponse(BaseModel):
    order_id: str
    kind: SubTaskKind
    action: Literal["retry", "abort"]
    waiting_for_operations: dict[SubTaskKind, str] = Field(
        description="What of the order still waits for operations, and why."
    )


class ConstructionStateResponse(BaseModel):
    """The construction job as the order's workflow holds it now."""

    order_id: str
    technician_id: str | None = None
    job_state: JobState | None = None
    visit: int = 0
    queued: bool = False
    waiting_for_operations: str | None = None
    sla: SlaState
    excluded: list[str] = Field(
        default_factory=list, description="Technicians who gave the job back."
    )


class TechnicianJobResponse(BaseModel):
    """One installation job in a technician's work queue."""

    order_id: str
    job_state: JobState | None
    status: SubTaskStatus
    visit: int
    due_at: datetime | None = None
    customer_name: str
    customer_phone: str
    address: Address
    service_type: ServiceType
    profile: str
    installation_window: InstallationWindow | None = None
    assigned_at: datetime
