"""TMF641 Service Ordering v4: the models and the pure mapping to our work orders."""

from workorders.tmf641.mapping import (
    SPECIFICATION_ID,
    STATE,
    Refused,
    select_fields,
    to_create_request,
    to_service_order,
)
from workorders.tmf641.models import (
    CancelServiceOrderCreate,
    EventSubscriptionInput,
    ServiceOrderCreate,
)

__all__ = [
    "SPECIFICATION_ID",
    "STATE",
    "CancelServiceOrderCreate",
    "EventSubscriptionInput",
    "Refused",
    "ServiceOrderCreate",
    "select_fields",
    "to_create_request",
    "to_service_order",
]
