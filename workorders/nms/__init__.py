"""The network management system (NMS): the interface the activities talk to, and
the simulator that stands in for a real NMS in development and tests."""

from workorders.nms.base import (
    ActivationRequest,
    ActivationResponse,
    DeactivationRequest,
    DeactivationResponse,
    ErrorClass,
    NetworkManagementSystem,
    NmsError,
    NmsUnavailable,
    ServiceTestRequest,
    ServiceTestResponse,
    classify,
)
from workorders.nms.simulator import NmsSimulator, SimulatorConfig

__all__ = [
    "ActivationRequest",
    "ActivationResponse",
    "DeactivationRequest",
    "DeactivationResponse",
    "ErrorClass",
    "NetworkManagementSystem",
    "NmsError",
    "NmsSimulator",
    "NmsUnavailable",
    "ServiceTestRequest",
    "ServiceTestResponse",
    "SimulatorConfig",
    "classify",
]
