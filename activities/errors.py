"""How activities turn failures into Temporal errors with a machine-readable type."""

from __future__ import annotations

from temporalio.exceptions import ApplicationError

from workorders.store import OrderNotFound

NOT_FOUND = "OrderNotFound"
NMS_UNAVAILABLE = "NmsUnavailable"
LINE_NOT_READY = "LineNotReady"
NOT_ACTIVATED = "NotActivated"
TECHNICIAN_UNAVAILABLE = "TECHNICIAN_UNAVAILABLE"
JOB_CHANGED = "JOB_CHANGED"
"""The construction job changed since the version a decision was made on."""

NON_RETRYABLE = [NOT_FOUND, NOT_ACTIVATED, TECHNICIAN_UNAVAILABLE, JOB_CHANGED]
"""Error types that retrying cannot fix; the workflows' retry policies name them."""


def not_found(error: OrderNotFound) -> ApplicationError:
    return ApplicationError(f"work order not found: {error}", type=NOT_FOUND, non_retryable=True)
