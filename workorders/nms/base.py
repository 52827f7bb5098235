"""What the work-order system asks of a network management system.

An NMS either answers (an activation or a deactivation that succeeded or was refused
with an error code; a service test with its measures) or cannot be reached
(:class:`NmsUnavailable`).
Refusals are answers, returned as data and kept in the order's history; an NMS that
cannot be reached is an exception, so that Temporal retries the same request.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel


class ErrorClass(StrEnum):
    """What to do about an NMS error code."""

    TRANSIENT = "transient"
    """Retry the same data after a pause."""
    REVISABLE = "revisable"
    """Revise the data from the order's history, then retry."""
    PERMANENT = "permanent"
    """Retrying cannot help."""


ERROR_CLASSES: dict[str, ErrorClass] = {
    # activation
    "ONT_ID_IN_USE": ErrorClass.REVISABLE,
    "PORT_FAULTY": ErrorClass.REVISABLE,
    "VLAN_TAKEN": ErrorClass.REVISABLE,
    "UNKNOWN_PROFILE": ErrorClass.REVISABLE,
    "UNKNOWN_OLT": ErrorClass.PERMANENT,
    # deactivation
    "NOT_OWNER": ErrorClass.PERMANENT,
    # service test
    "LINE_NOT_READY": ErrorClass.TRANSIENT,
    "TEST_SERVER_BUSY": ErrorClass.REVISABLE,
    "SPEED_BELOW_THRESHOLD": ErrorClass.REVISABLE,
    "QUALITY_BELOW_THRESHOLD": ErrorClass.REVISABLE,
    "NOT_ACTIVATED": ErrorClass.PERMANENT,
    # either
    "NMS_UNAVAILABLE": ErrorClass.TRANSIENT,
}


def classify(code: str) -> ErrorClass:
    """The class of an NMS error code; a code nobody knows is permanent."""
    return ERROR_CLASSES.get(code, ErrorClass.PERMANENT)


class NmsUnavailable(Exception):
    """The NMS could not be reached or failed inside (timeouts, 5xx)."""


class NmsError(Exception):
    """The NMS answered with an error the caller must act on (see :func:`classify`)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ActivationRequest(BaseModel):
    """Activate one customer's service: their terminal's slot on a PON port."""

    idempotency_key: str
    order_id: str
    olt_id: str
    pon_port: int
    ont_id: int
    vlan: int
    profile_name: str


class ActivationResponse(BaseModel):
    state: str
    """``completed`` or ``failed``."""
    error_code: str | None = None
    message: str | None = None
    service_id: str | None = None


class DeactivationRequest(BaseModel):
    """Terminate one customer's service: free their terminal's slot on a PON port."""

    idempotency_key: str
    order_id: str
    olt_id: str
    pon_port: int
    ont_id: int


class DeactivationResponse(BaseModel):
    state: str
    """``completed`` (also when there was nothing to deactivate) or ``failed``."""
    error_code: str | None = None
    message: str | None = None


class ServiceTestRequest(BaseModel):
    """Run a speed and a quality check on an activated line."""

    idempotency_key: str
    order_id: str
    olt_id: str
    pon_port: int
    ont_id: int
    test_server: str


class ServiceTestResponse(BaseModel):
    state: str
    """``completed`` or ``failed``."""
    error_code: str | None = None
    message: str | None = None
    download_mbps: float | None = None
    upload_mbps: float | None = None
    latency_ms: float | None = None
    jitter_ms: float | None = None
    loss_pct: float | None = None


class NetworkManagementSystem(Protocol):
    """An NMS adapter. Implementations must not retry on their own: Temporal does."""

    async def activate(self, request: ActivationRequest) -> ActivationResponse:
        """Activate the service; a repeated idempotency key repeats the first answer.

        Raises:
            NmsUnavailable: the NMS could not be reached.
        """
        ...

    async def deactivate(self, request: DeactivationRequest) -> DeactivationResponse:
        """Terminate the service; a repeated idempotency key repeats the first answer.

        Raises:
            NmsUnavailable: the NMS could not be reached.
        """
        ...

    async def run_service_test(self, request: ServiceTestRequest) -> ServiceTestResponse:
        """Measure the line.

        Raises:
            NmsUnavailable: the NMS could not be reached.
        """
        ...
