"""TMF641 Service Ordering v4: the models and the pure mapping to our work orders."""

from workorders.tmf641.mapping import (
    SPECIFICATION_ID,
    STATE,
    STATES,
    Refused,
    select_fields,
    service_order_state,
    state_of,
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
    "STATES",
    "CancelServiceOrderCreate",
    "EventSubscriptionInput",
    "Refused",
    "ServiceOrderCreate",
    "select_fields",
    "service_order_state",
    "state_of",
    "to_create_request",
    "to_service_order",
]
