"""The work-order information database: orders, sub-tasks, their history, technicians."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import JSON, Column, DateTime, Index, Text, UniqueConstraint, text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from models.enums import (
    AppointmentStatus,
    AttemptOutcome,
    Channel,
    JobState,
    OrderStatus,
    ServiceType,
    SlaState,
    SubTaskKind,
    SubTaskStatus,
)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite too)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _ts(**kwargs: Any) -> Any:
    return Field(sa_type=UtcDateTime, **kwargs)


def _json() -> Any:
    return Field(default=None, sa_column=Column(JSON, nullable=True))


class WorkOrder(SQLModel, table=True):
    """One customer's broadband order."""

    __tablename__ = "work_order"
    __table_args__ = (
        # The order list, newest first, by status, region, both, or technician, a
        # page at a time; each filter reads one index range in order, and counts in it.
        Index("ix_work_order_status_created", "status", "created_at", "id"),
        Index("ix_work_order_region_created", "region", "created_at", "id"),
        Index("ix_work_order_status_region_created", "status", "region", "created_at", "id"),
        Index("ix_work_order_technician_created", "technician_id", "created_at", "id"),
    )

    id: str = Field(primary_key=True, max_length=36)
    external_reference: str = Field(unique=True, index=True, max_length=100)
    idempotency_key: str | None = Field(default=None, unique=True, index=True, max_length=255)
    """The ``Idempotency-Key`` header the order was created with, if any."""
    channel: Channel = Field(default=Channel.FRONT_DESK)
    request_fingerprint: str = Field(max_length=64)

    customer_name: str = Field(max_length=200)
    customer_phone: str = Field(max_length=32)
    customer_email: str | None = Field(default=None, max_length=254)
    country: str = Field(default="DE", max_length=2)
    """ISO 3166-1 alpha-2; orders taken before addresses had a country are DE."""
    province: str | None = Field(default=None, max_length=100)
    city: str = Field(max_length=100)
    district: str | None = Field(default=None, max_length=100)
    street: str = Field(max_length=200)
    house_number: str = Field(max_length=20)
    building: str | None = Field(default=None, max_length=50)
    unit: str | None = Field(default=None, max_length=50)
    room: str | None = Field(default=None, max_length=50)
    postcode: str = Field(max_length=10)

    service_type: ServiceType
    download_mbps: int
    upload_mbps: int
    profile: str = Field(max_length=50)
    window_start: datetime | None = _ts(default=None, nullable=True)
    window_end: datetime | None = _ts(default=None, nullable=True)

    region: str = Field(index=True, max_length=50)
    technician_id: str | None = Field(default=None, max_length=50)
    """The technician whose installation job this is (that of the construction
    sub-task, kept here for the order list's technician filter)."""
    status: OrderStatus = Field(default=OrderStatus.RECEIVED, index=True)
    status_reason: str | None = Field(default=None, max_length=1000)
    workflow_id: str = Field(max_length=100)
    created_at: datetime = _ts(default_factory=utcnow, index=True)
    updated_at: datetime = _ts(default_factory=utcnow)
    completed_at: datetime | None = _ts(default=None, nullable=True)


class SubTask(SQLModel, table=True):
    """The current state of one of an order's three sub-tasks."""

    __tablename__ = "sub_task"
    __table_args__ = (UniqueConstraint("order_id", "kind"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(foreign_key="work_order.id", index=True, max_length=36)
    kind: SubTaskKind
    status: SubTaskStatus = Field(default=SubTaskStatus.PENDING)
    attempts: int = 0
    technician_id: str | None = Field(default=None, index=True, max_length=50)
    job_state: JobState | None = None
    visit: int = 0
    """Construction: the technician's visit to the customer (1 for the first)."""
    queued_at: datetime | None = _ts(default=None, nullable=True, index=True)
    """Construction: since when the job waits for a technician with room."""
    excluded: list[str] | None = _json()
    """Construction: technicians who gave the job back, and will not get it again."""
    due_at: datetime | None = _ts(default=None, nullable=True)
    """Construction: the region's installation time limit."""
    sla_state: SlaState | None = None
    version: int = 0
    """Construction: how many reports its technicians have made; the API signals the
    workflow the job as it stands after each."""
    report_unsignalled_since: datetime | None = _ts(default=None, nullable=True, index=True)
    """Construction: since when the latest report waits for its signal to reach the
    workflow (the API sends it again until Temporal has taken it)."""
    detail: str | None = Field(default=None, max_length=1000)
    data: dict[str, Any] | None = _json()
    result: dict[str, Any] | None = _json()
    updated_at: datetime = _ts(default_factory=utcnow)


class SubTaskAttempt(SQLModel, table=True):
    """One attempt of a sub-task: the data sent and the result read back.

    Together these rows are the order's history, from which failed parameters are
    revised.
    """

    __tablename__ = "sub_task_attempt"
    __table_args__ = (UniqueConstraint("order_id", "kind", "attempt"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(foreign_key="work_order.id", index=True, max_length=36)
    kind: SubTaskKind
    attempt: int
    data: dict[str, Any] | None = _json()
    result: dict[str, Any] | None = _json()
    outcome: AttemptOutcome = Field(default=AttemptOutcome.PENDING)
    error_code: str | None = Field(default=None, max_length=64)
    started_at: datetime = _ts(default_factory=utcnow)
    finished_at: datetime | None = _ts(default=None, nullable=True)


class OrderEvent(SQLModel, table=True):
    """One line of an order's timeline: who did what, when."""

    __tablename__ = "order_event"
    __table_args__ = (Index("ix_order_event_order_at", "order_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(foreign_key="work_order.id", max_length=36)
    at: datetime = _ts(default_factory=utcnow)
    actor: str = Field(max_length=100)
    kind: str = Field(max_length=64)
    detail: dict[str, Any] | None = _json()


class Technician(SQLModel, table=True):
    """A field technician, who works in one or more regions."""

    __tablename__ = "technician"

    id: str = Field(primary_key=True, max_length=50)
    name: str = Field(max_length=200)
    regions: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    skills: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    active: bool = True
    max_open_jobs: int = 4
    open_jobs: int = 0
    """Jobs assigned and not yet completed or taken back; never above max_open_jobs
    (jobs booked in a slot with them are counted too, above it if need be: their
    calendar is their limit)."""
    working_hours: dict[str, Any] | None = _json()
    """Their working week (:class:`workorders.appointments.WorkingHours`); ``None``:
    the standard hours."""

    def can_take(self, region: str, skill: str) -> bool:
        return can_take(self, region, skill)


class TechnicianCapacity(Protocol):
    """What decides whether a technician can take a job (a :class:`Technician`, or a
    row of those columns)."""

    @property
    def active(self) -> bool: ...
    @property
    def regions(self) -> list[str]: ...
    @property
    def skills(self) -> list[str]: ...
    @property
    def open_jobs(self) -> int: ...
    @property
    def max_open_jobs(self) -> int: ...


def can_take(technician: TechnicianCapacity, region: str, skill: str) -> bool:
    """Whether the technician is active, of the region, has the skill and room for
    another job."""
    return (
        technician.active
        and region in technician.regions
        and skill in technician.skills
        and technician.open_jobs < technician.max_open_jobs
    )


class Appointment(SQLModel, table=True):
    """A booked installation slot: a customer's visit by a technician, from ``start``
    to ``end``. No technician and no order ever has two booked at once (the database
    refuses the second)."""

    __tablename__ = "appointment"
    __table_args__ = (
        Index(
            "ux_appointment_technician_slot",
            "technician_id",
            "start",
            unique=True,
            sqlite_where=text("status = 'BOOKED'"),
            postgresql_where=text("status = 'BOOKED'"),
        ),
        Index(
            "ux_appointment_order_booked",
            "order_id",
            unique=True,
            sqlite_where=text("status = 'BOOKED'"),
            postgresql_where=text("status = 'BOOKED'"),
        ),
        Index("ix_appointment_start", "start"),
    )

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(foreign_key="work_order.id", max_length=36)
    technician_id: str = Field(max_length=50)
    start: datetime = _ts()
    end: datetime = _ts()
    status: AppointmentStatus = Field(default=AppointmentStatus.BOOKED)
    booked_by: str = Field(max_length=100)
    booked_at: datetime = _ts(default_factory=utcnow)
    ended_at: datetime | None = _ts(default=None, nullable=True)


class RegionRecord(SQLModel, table=True):
    """A region of the service area: the districts and postcodes it covers, its
    installation time limits, its customer VLAN pool and the NMS test servers that
    measure its lines (its OLTs and technicians name it by ``id``)."""

    __tablename__ = "region"

    id: str = Field(primary_key=True, max_length=50)
    name: str = Field(max_length=200)
    country: str = Field(max_length=2)
    province: str | None = Field(default=None, max_length=100)
    city: str | None = Field(default=None, max_length=100)
    districts: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    postcode_prefixes: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    vlan_low: int
    vlan_high: int
    installation_hours: float
    jeopardy_hours: float
    test_servers: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class OltRecord(SQLModel, table=True):
    """An OLT of the access network, its PON ports and its customer VLAN pool."""

    __tablename__ = "olt"

    id: str = Field(primary_key=True, max_length=50)
    region: str = Field(index=True, max_length=50)
    pon_ports: int
    onts_per_port: int
    vlan_low: int
    vlan_high: int


class ResourceAllocation(SQLModel, table=True):
    """The access resources an order holds: a terminal slot and a VLAN on its port.

    ``allocated`` while the activation is tried, ``active`` once the NMS activated
    it; released resources are deleted. The unique constraints make two orders
    holding one slot, or one VLAN on one port, impossible.
    """

    __tablename__ = "resource_allocation"
    __table_args__ = (
        UniqueConstraint("olt_id", "pon_port", "ont_id"),
        UniqueConstraint("olt_id", "pon_port", "vlan"),
    )

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(foreign_key="work_order.id", index=True, max_length=36)
    olt_id: str = Field(index=True, max_length=50)
    pon_port: int
    ont_id: int
    vlan: int
    state: str = Field(default="allocated", max_length=16)
    updated_at: datetime = _ts(default_factory=utcnow)


class BlockedResource(SQLModel, table=True):
    """A resource the NMS refused: a slot in use by someone the inventory did not know
    (``ont_id``), a faulty port (``ont_id`` 0), or a VLAN taken on a port (``vlan``)."""

    __tablename__ = "blocked_resource"
    __table_args__ = (UniqueConstraint("olt_id", "pon_port", "ont_id", "vlan"),)

    id: int | None = Field(default=None, primary_key=True)
    olt_id: str = Field(index=True, max_length=50)
    pon_port: int
    ont_id: int = 0
    vlan: int = 0
    reason: str = Field(max_length=64)
    order_id: str | None = Field(default=None, max_length=36)
    at: datetime = _ts(default_factory=utcnow)


class ConsoleUser(SQLModel, table=True):
    """A person who signs in to the web console: their name, role and password hash
    (argon2), and their failed sign-ins, which lock the name for a while."""

    __tablename__ = "console_user"

    name: str = Field(primary_key=True, max_length=100)
    role: str = Field(max_length=16)
    """A :class:`workorders.auth.Role` value."""
    technician_id: str | None = Field(default=None, max_length=50)
    """For a technician: whose jobs they see and report on."""
    password_hash: str = Field(max_length=255)
    disabled: bool = False
    failed_logins: int = 0
    """Failed sign-ins since the last good one or lockout."""
    locked_until: datetime | None = _ts(default=None, nullable=True)
    created_at: datetime = _ts(default_factory=utcnow)
    updated_at: datetime = _ts(default_factory=utcnow)


class HubListener(SQLModel, table=True):
    """A TMF641 listener: the callback a party registered at ``/hub`` (docs/tmf641.md)."""

    __tablename__ = "hub_listener"

    id: str = Field(primary_key=True, max_length=36)
    callback: str = Field(max_length=2000)
    query: str | None = Field(default=None, max_length=1000)
    secret: str | None = Field(default=None, max_length=200)
    """The key its notifications are signed with (HMAC-SHA256 over the body)."""
    owner: str = Field(max_length=100)
    """The actor of the token that registered it: the front desk removes its own."""
    created_at: datetime = _ts(default_factory=utcnow)


class HubEvent(SQLModel, table=True):
    """The outbox: one TMF641 notification, written in the transaction of the order's
    change that caused it; ``body`` is the exact JSON that is sent (and signed)."""

    __tablename__ = "hub_event"
    __table_args__ = (
        Index("ix_hub_event_order", "order_id", "id"),
        Index("ix_hub_event_fanned_out", "fanned_out", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(unique=True, max_length=36)
    event_type: str = Field(max_length=64)
    order_id: str = Field(max_length=36)
    state: str = Field(max_length=32)
    """The order's TMF641 state when the event happened (the last one told)."""
    at: datetime = _ts()
    body: str = Field(sa_type=Text)
    fanned_out: bool = Field(default=False)
    """Whether a delivery exists for every listener it matched when it was fanned out."""


class HubDelivery(SQLModel, table=True):
    """One event to one listener: sent until the listener answers 2xx, in event order
    per order and listener; a deliverer holds it while ``lease_until`` is ahead."""

    __tablename__ = "hub_delivery"
    __table_args__ = (
        UniqueConstraint("listener_id", "event_id", name="uq_hub_delivery_listener_event"),
        Index("ix_hub_delivery_due", "delivered_at", "next_attempt_at"),
        # What is still to deliver, by listener and order in event order: a claim
        # finds each one's first undelivered event and its run behind it here.
        Index(
            "ix_hub_delivery_waiting",
            "listener_id",
            "order_id",
            "event_id",
            postgresql_where=text("delivered_at IS NULL"),
            sqlite_where=text("delivered_at IS NULL"),
        ),
        Index("ix_hub_delivery_event", "event_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    listener_id: str = Field(max_length=36, foreign_key="hub_listener.id", ondelete="CASCADE")
    event_id: int = Field(foreign_key="hub_event.id")
    order_id: str = Field(max_length=36)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = _ts()
    lease_until: datetime | None = _ts(default=None, nullable=True)
    delivered_at: datetime | None = _ts(default=None, nullable=True)
    last_error: str | None = Field(default=None, max_length=500)
