"""What the HTTP API takes and gives: ``...Request`` and ``...Response`` models."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Self

from email_validator import SPECIAL_USE_DOMAIN_NAMES
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from models.enums import (
    AppointmentStatus,
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
from models.text import refuse_nul
from workorders.appointments import WorkingHours
from workorders.config import get_settings
from workorders.reference import (
    ADDRESS_FIELDS,
    NoProfile,
    UnknownCountry,
    load_address_formats,
    load_catalog,
)

_NUMBER = re.compile(r"^\s*[-+]?[0-9]+(\.[0-9]*)?\s*$")


def _written_out(value: Any) -> Any:
    """An instant given as a number (JSON's, or a query's digits) would be read as Unix
    seconds; the API takes ISO 8601 only."""
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.match(value)):
        raise PydanticCustomError(
            "instant_format", "give an ISO 8601 date and time with a time zone, as a string"
        )
    return value


def _within_utc(value: datetime) -> datetime:
    """An instant the database can hold: one that is still a date once in UTC
    (9999-12-31T20:00-10:00 is past the end of the calendar there)."""
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise PydanticCustomError(
            "instant_outside_calendar", "the instant is outside the calendar once in UTC"
        ) from None
    return value


Instant = Annotated[AwareDatetime, BeforeValidator(_written_out), AfterValidator(_within_utc)]
"""An ISO 8601 date and time with a time zone, representable in UTC."""


def _integral(value: Any) -> Any:
    """JSON has one kind of number: ``300.0`` is the integer 300, as JSON Schema's
    ``integer`` says; a fraction, a boolean or a string stays refused."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


INTEGRAL = BeforeValidator(_integral)
"""Makes a ``StrictInt`` a JSON integer: a number without a fraction (``300``,
``300.0``, ``3e2``); not ``true``, not ``"300"``. It comes after the bounds, or the
document loses them."""

Mbps = Annotated[StrictInt, Field(ge=1, le=10_000), INTEGRAL]
JobLimit = Annotated[StrictInt, Field(ge=1, le=50), INTEGRAL]


def needs(field: str, value: str, needed: str) -> dict[str, Any]:
    """The JSON Schema of a model validator's rule: ``field`` equal to ``value`` needs
    ``needed`` (present, not null)."""
    return {
        "if": {"properties": {field: {"const": value}}, "required": [field]},
        "then": {"properties": {needed: {"not": {"type": "null"}}}, "required": [needed]},
    }


WHITESPACE = (
    "\t\n\v\f\r \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + ("\u2028\u2029\u202f\u205f\u3000")
)
"""Unicode's White_Space characters, taken off both ends of every text a request sends."""
VISIBLE = "[^" + "".join(f"\\u{ord(c):04x}" for c in WHITESPACE) + "]"
"""A text with something besides :data:`WHITESPACE`: a ``pattern`` that JSON Schema's
regular expressions and pydantic's read alike (the characters written out, not ``\\s``,
which each engine reads its own way)."""
CODE = r"^[a-z0-9][a-z0-9-]*$"
"""A region's or a technician's id, as imported (:class:`workorders.importing.ImportRow`)."""

RegionCode = Annotated[str, Field(min_length=1, max_length=50, pattern=CODE)]


class _Strict(BaseModel):
    """A request's part: unknown fields refused; texts checked as sent (their lengths
    and patterns, as the document says them), then kept without surrounding white
    space."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        return refuse_nul(data)

    @model_validator(mode="after")
    def _trimmed(self) -> Self:
        for name, value in self:
            if type(value) is str and value != value.strip(WHITESPACE):
                setattr(self, name, value.strip(WHITESPACE))
        return self


_NOT_SPECIAL_USE = "|".join(sorted(SPECIAL_USE_DOMAIN_NAMES))
Email = Annotated[
    EmailStr,
    WithJsonSchema(
        {
            "type": "string",
            "format": "idn-email",
            "maxLength": 254,
            "pattern": rf'^[^"@]+@[^@\[\]]+\.(?!(?:{_NOT_SPECIAL_USE})$)[^.@]+$',
            "description": "An address of RFC 6531 (international: 用户@例子.广告), as"
            " email-validator takes it: no quoted local part, a domain with a dot, not a"
            " special-use one (.test, .local, ...).",
        }
    ),
]
"""What the API takes as an email address is email-validator's: the document says it."""


class Customer(_Strict):
    name: str = Field(min_length=1, max_length=200, pattern=VISIBLE, examples=["Wang Xiaoming"])
    phone: str = Field(
        pattern=r"^\+?[0-9][0-9 \-]{5,19}$", max_length=32, examples=["+86 138 0013 8000"]
    )
    email: Email | None = Field(default=None, examples=["wang@example.com"])


def _default_country() -> str:
    return get_settings().default_country


def _part(max_length: int, example: str, *more: str) -> Any:
    return Field(
        default=None,
        min_length=1,
        max_length=max_length,
        pattern=VISIBLE,
        validate_default=True,
        examples=[example, *more],
    )


def _address_rules(schema: dict[str, Any]) -> None:
    """The document's part of :meth:`Address._fits_country`: the served countries, and
    for each the fields it requires, those it has not, its postcode's pattern (the
    shipped formats; a left-out country is the operator's default)."""
    formats = load_address_formats()
    schema["properties"]["country"]["enum"] = formats.countries()
    rules = []
    for country in formats.countries():
        form = formats.get(country)
        named: dict[str, Any] = {"properties": {"country": {"const": country}}}
        named["required"] = ["country"]
        condition = named
        if country == _default_country():
            condition = {"anyOf": [named, {"not": {"required": ["country"]}}]}
        then: dict[str, Any] = {
            "required": form.required,
            "properties": {
                **{f: {"type": "string"} for f in form.required},
                **{f: {"type": "null"} for f in ADDRESS_FIELDS if f not in form.fields},
            },
        }
        then["properties"]["postcode"] = {"type": "string", "pattern": form.postcode_pattern}
        rules.append({"if": condition, "then": then})
    schema["allOf"] = rules


class Address(_Strict):
    """Where the line is installed. Which fields an address has, and its postcode's
    pattern, depend on its country (workorders/data/address_formats.toml): a Chinese
    one has province, city, district, street, house number and six-digit postcode,
    and may have building, unit and room."""

    model_config = ConfigDict(json_schema_extra=_address_rules)

    country: str = Field(
        default_factory=_default_country,
        pattern=r"^[A-Z]{2}$",
        description="ISO 3166-1 alpha-2; the operator's default country if left out.",
        examples=["CN"],
    )
    province: str | None = _part(100, "北京市")
    city: str | None = _part(100, "北京市", "Springfield")
    district: str | None = _part(100, "海淀区")
    street: str | None = _part(200, "中关村大街", "Jianguo Road")
    house_number: str | None = _part(20, "27号", "88")
    building: str | None = _part(50, "5号楼")
    unit: str | None = _part(50, "3单元", "Flat 1203")
    room: str | None = _part(50, "502室")
    postcode: str | None = _part(10, "100080", "10115")

    @field_validator("country")
    @classmethod
    def _served(cls, country: str) -> str:
        try:
            load_address_formats().get(country)
        except UnknownCountry as e:
            raise PydanticCustomError(
                "country_not_served", "{problem}", {"country": country, "problem": str(e)}
            ) from None
        return country

    @field_validator(*ADDRESS_FIELDS)
    @classmethod
    def _fits_country(cls, value: str | None, info: ValidationInfo) -> str | None:
        country = info.data.get("country")
        if country is None:  # the country itself is wrong, and said so
            return value
        assert info.field_name is not None
        problem = load_address_formats().get(country).problem(info.field_name, value)
        if problem is not None:
            raise problem
        return value


class InstallationWindow(_Strict):
    start: Instant
    end: Instant

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end <= self.start:
            raise PydanticCustomError(
                "window_order", "the installation window must end after it starts"
            )
        return self


def _offers(schema: dict[str, Any]) -> None:
    """The document's part of :meth:`workorders.reference.Catalog.profile_for`: for each
    service, a bandwidth some profile of it offers (the shipped catalog)."""
    catalog = load_catalog()
    rules = []
    for service in ServiceType:
        profiles = [p for p in catalog.profiles.values() if p.service_type == service]
        offers = [
            {
                "properties": {
                    "download_mbps": {"maximum": p.download_mbps},
                    "upload_mbps": {"maximum": p.upload_mbps},
                }
            }
            for p in profiles
        ]
        rules.append(
            {
                "if": {"properties": {"service_type": {"const": service.value}}},
                "then": {"anyOf": offers} if offers else False,
            }
        )
    schema["allOf"] = rules
    schema["description"] = "A bandwidth a profile of the service offers (the catalog)."


class BroadbandDemand(_Strict):
    model_config = ConfigDict(json_schema_extra=_offers)

    service_type: ServiceType = Field(examples=["FTTH"])
    download_mbps: Mbps = Field(examples=[300])
    upload_mbps: Mbps = Field(examples=[100])
    installation_window: InstallationWindow | None = None

    @model_validator(mode="after")
    def _offered(self) -> Self:
        catalog = load_catalog()
        try:
            catalog.profile_for(self.service_type, self.download_mbps, self.upload_mbps)
        except NoProfile:
            offered = [p for p in catalog.profiles.values() if p.service_type == self.service_type]
            best = max(offered, key=lambda p: p.download_mbps)
            raise PydanticCustomError(
                "bandwidth_not_offered",
                "{service} offers at most {download}/{upload} Mbps",
                {
                    "service": self.service_type.value,
                    "download": best.download_mbps,
                    "upload": best.upload_mbps,
                },
            ) from None
        return self


class AppointmentRequest(_Strict):
    """The installation slot to book: the start of one that
    ``GET /appointments/slots`` offered."""

    start: Instant = Field(examples=["2026-12-08T10:00:00+08:00"])


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
    appointment: AppointmentRequest | None = Field(
        default=None,
        description="Book this slot with the order (409, and no order, if it is taken).",
    )


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

    reason: str = Field(
        min_length=1, max_length=500, pattern=VISIBLE, examples=["the customer moved away"]
    )


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


REPORTABLE = [s.value for s in JobState if s is not JobState.ASSIGNED]
"""The states a report may give: a job is assigned by the system, never reported so."""


class ConstructionReportRequest(_Strict):
    """A technician's report on their installation job."""

    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                needs("state", JobState.COMPLETED, "ont_serial"),
                needs("state", JobState.CANNOT_COMPLETE, "reason_code"),
            ]
        }
    )

    technician_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=50,
        pattern=CODE,
        examples=["tech-north-1"],
        description="The reporting technician; a technician's own token implies it. "
        "Operations reporting on a technician's behalf must name them.",
    )
    state: Annotated[JobState, WithJsonSchema({"type": "string", "enum": REPORTABLE})] = Field(
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
            raise PydanticCustomError(
                "state_not_reportable", "a technician cannot report a job as assigned"
            )
        return self


class ConstructionJobResponse(BaseModel):
    order_id: str
    technician_id: str
    state: JobState
    ont_serial: str | None = None
    reason_code: CannotCompleteReason | None = None


Skill = Literal["fibre", "copper"]


class TechnicianBase(_Strict):
    name: str = Field(min_length=1, max_length=200, pattern=VISIBLE, examples=["Li Wei"])
    regions: list[RegionCode] = Field(
        min_length=1,
        examples=[["north"]],
        description="Region codes; one the database has not (`workorders import regions`)"
        " is a 422 UNKNOWN_REGION.",
    )
    skills: list[Skill] = Field(min_length=1, examples=[["fibre", "copper"]])
    active: StrictBool = True
    max_open_jobs: JobLimit = 4
    working_hours: WorkingHours | None = Field(
        default=None,
        description="Their working week in the operator's time zone; null: Monday to"
        " Saturday 08:00-18:00.",
    )


class TechnicianCreateRequest(TechnicianBase):
    id: str = Field(min_length=1, max_length=50, pattern=CODE, examples=["tech-north-4"])


class TechnicianUpdateRequest(_Strict):
    """The fields to change (left out or null: unchanged); ``active: false`` deactivates
    the technician (their open jobs stay theirs until done or reassigned)."""

    name: str | None = Field(default=None, min_length=1, max_length=200, pattern=VISIBLE)
    regions: list[RegionCode] | None = Field(
        default=None, min_length=1, description="As a new technician's."
    )
    skills: list[Skill] | None = Field(default=None, min_length=1)
    active: StrictBool | None = None
    max_open_jobs: JobLimit | None = None
    working_hours: WorkingHours | None = None


class TechnicianResponse(TechnicianBase):
    id: str
    open_jobs: int


class ConstructionOperationRequest(_Strict):
    """An operator's decision on an order's construction job."""

    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                needs("action", "assign", "technician_id"),
                needs("action", "fail", "reason"),
            ]
        }
    )

    action: Literal["assign", "fail"] = Field(
        description="assign: give the job to technician_id (also to reassign it); "
        "fail: give the installation up, with a reason."
    )
    technician_id: str | None = Field(default=None, min_length=1, max_length=50, pattern=CODE)
    reason: str | None = Field(default=None, min_length=1, max_length=1000, pattern=VISIBLE)

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.action == "assign" and not self.technician_id:
            raise PydanticCustomError(
                "action_needs",
                "{action} needs a {field}",
                {"action": "assign", "field": "technician_id"},
            )
        if self.action == "fail" and not self.reason:
            raise PydanticCustomError(
                "action_needs",
                "{action} needs a {field}",
                {"action": "fail", "field": "reason"},
            )
        return self


_Id = Annotated[str, Field(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")]
_Port = Annotated[StrictInt, Field(ge=1, le=128), INTEGRAL]


class ActivationDataEdit(_Strict):
    """The whole data of an activation's next attempt, as an operator edits it: the
    network resources and the profile sent to the NMS."""

    olt_id: _Id = Field(examples=["olt-north-02"])
    pon_port: _Port = Field(examples=[3])
    ont_id: _Port = Field(description="The customer's terminal on the port.", examples=[7])
    vlan: Annotated[StrictInt, Field(ge=2, le=4094), INTEGRAL] = Field(examples=[150])
    profile: _Id = Field(examples=["FTTH_300_100"])
    nms_profile_name: _Id = Field(examples=["FTTH_300_100"])


class QualityCheckDataEdit(_Strict):
    """The whole data of a quality check's next attempt, as an operator edits it: the
    line, the test server and the thresholds."""

    olt_id: _Id
    pon_port: _Port
    ont_id: _Port
    profile: _Id
    test_server: _Id = Field(examples=["speedtest-north-1"])
    expected_download_mbps: Mbps
    expected_upload_mbps: Mbps
    min_speed_ratio: StrictFloat = Field(default=0.9, gt=0, le=1, allow_inf_nan=False)
    max_latency_ms: StrictFloat = Field(default=20.0, gt=0, le=10_000, allow_inf_nan=False)
    max_jitter_ms: StrictFloat = Field(default=5.0, gt=0, le=10_000, allow_inf_nan=False)
    max_loss_pct: StrictFloat = Field(default=0.5, ge=0, le=100, allow_inf_nan=False)


class _NetworkOperation(_Strict):
    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                needs("action", "abort", "reason"),
                {
                    "if": {"properties": {"action": {"const": "abort"}}, "required": ["action"]},
                    "then": {"properties": {"data": {"type": "null"}}},
                },
            ]
        }
    )
    action: Literal["retry", "abort"] = Field(
        description="retry: run the sub-task again, with `data` if given (else with data "
        "planned anew from the history); abort: give it up, with a reason."
    )
    reason: str | None = Field(default=None, min_length=1, max_length=1000, pattern=VISIBLE)

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.action == "abort" and not self.reason:
            raise PydanticCustomError(
                "action_needs",
                "{action} needs a {field}",
                {"action": "abort", "field": "reason"},
            )
        if self.action == "abort" and getattr(self, "data", None) is not None:
            raise PydanticCustomError("abort_takes_no_data", "abort takes no data")
        return self


class ActivationOperationRequest(_NetworkOperation):
    """An operator's decision on an activation waiting for them."""

    data: ActivationDataEdit | None = Field(
        default=None,
        description="The whole data of the next attempt, as shown in the sub-task's `data`.",
    )


class QualityCheckOperationRequest(_NetworkOperation):
    """An operator's decision on a quality check waiting for them."""

    data: QualityCheckDataEdit | None = Field(
        default=None,
        description="The whole data of the next attempt, as shown in the sub-task's `data`.",
    )


NetworkOperationRequest = ActivationOperationRequest | QualityCheckOperationRequest


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
    appointment: InstallationWindow | None = Field(
        default=None, description="The visit booked with the customer, if one is."
    )
    assigned_at: datetime


class TimePeriod(BaseModel):
    """TMF646's ``validFor``: from ``startDateTime`` to ``endDateTime``."""

    startDateTime: datetime  # noqa: N815 (TMF646's names)
    endDateTime: datetime  # noqa: N815


class AvailableTimeSlot(BaseModel):
    """A slot that can be booked (TMF646 ``availableTimeSlot``)."""

    id: str = Field(description="The slot's start; book it with this as `start`.")
    validFor: TimePeriod  # noqa: N815
    capacity: int = Field(description="How many technicians are free in it.")


class SearchTimeSlotResponse(BaseModel):
    """The free installation slots for an address or an order, shaped after TMF646's
    ``searchTimeSlot``."""

    region: str
    time_zone: str
    requestedTimeSlot: TimePeriod  # noqa: N815
    availableTimeSlot: list[AvailableTimeSlot]  # noqa: N815


class AppointmentResponse(BaseModel):
    order_id: str
    technician_id: str
    start: datetime
    end: datetime
    status: AppointmentStatus
    booked_by: str
    booked_at: datetime
