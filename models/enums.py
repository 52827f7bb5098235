"""The words of the domain, one enum each."""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    """Where the customer placed the order."""

    FRONT_DESK = "front_desk"
    CRM = "crm"
    WEB_SHOP = "web_shop"


class ServiceType(StrEnum):
    FTTH = "FTTH"
    VDSL = "VDSL"


class OrderStatus(StrEnum):
    """A work order's status; ``completed``, ``failed`` and ``cancelled`` are final."""

    RECEIVED = "received"
    IN_PROGRESS = "in_progress"
    WAITING_FOR_OPERATIONS = "waiting_for_operations"
    """A sub-task needs an operator's decision; the order says which and why."""
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    """Withdrawn on request: the job taken from the technician, what was activated
    deactivated; the reason says who cancelled it and why."""

    @property
    def is_final(self) -> bool:
        return self in (OrderStatus.COMPLETED, OrderStatus.FAILED, OrderStatus.CANCELLED)


class SubTaskKind(StrEnum):
    """The three sub-tasks every work order is split into."""

    CONSTRUCTION = "construction"
    ACTIVATION = "activation"
    QUALITY_CHECK = "quality_check"


class SubTaskStatus(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    """Not run because a sub-task it needs failed (the quality check needs an
    installed and activated line)."""
    WAITING_FOR_OPERATIONS = "waiting_for_operations"
    CANCELLED = "cancelled"
    """Stopped because the order was cancelled before the sub-task ended."""

    @property
    def is_final(self) -> bool:
        return self in (
            SubTaskStatus.SUCCEEDED,
            SubTaskStatus.FAILED,
            SubTaskStatus.SKIPPED,
            SubTaskStatus.CANCELLED,
        )


class JobState(StrEnum):
    """A construction job as the technician reports it."""

    ASSIGNED = "assigned"
    ACCEPTED = "accepted"
    EN_ROUTE = "en_route"
    ON_SITE = "on_site"
    COMPLETED = "completed"
    CANNOT_COMPLETE = "cannot_complete"


class CannotCompleteReason(StrEnum):
    """Why a technician could not finish an installation."""

    TECHNICIAN_DECLINED = "technician_declined"
    CUSTOMER_ABSENT = "customer_absent"
    NO_FREE_PORT = "no_free_port"
    ACCESS_DENIED = "access_denied"
    CUSTOMER_DECLINED = "customer_declined"
    NETWORK_FAULT = "network_fault"
    OTHER = "other"


class FollowUp(StrEnum):
    """What happens to a construction job that a technician could not complete."""

    REASSIGN = "reassign"
    """Another technician of the region takes it."""
    RESCHEDULE = "reschedule"
    """The same technician visits again."""
    OPERATIONS = "operations"
    """Operations decide: assign it by hand, or give up."""
    FAIL = "fail"
    """The installation cannot happen; construction fails."""


class SlaState(StrEnum):
    """The construction job against its region's installation time limit."""

    ON_TIME = "on_time"
    JEOPARDY = "jeopardy"
    BREACHED = "breached"


class AttemptOutcome(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class AppointmentStatus(StrEnum):
    BOOKED = "booked"
    """The slot is the technician's and the customer's."""
    RESCHEDULED = "rescheduled"
    """Replaced by a later booking."""
    MISSED = "missed"
    """The visit failed (the customer was absent, or access was denied)."""
    KEPT = "kept"
    """The installation was completed."""
    CANCELLED = "cancelled"
    """Given up: the order was cancelled, the booking withdrawn, or the job taken back
    from the technician."""
