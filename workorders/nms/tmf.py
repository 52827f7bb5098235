"""The NMS protocol's documents and paths, modelled on TM Forum's TMF640 (service
activation and termination) and TMF653 (service test); see ``docs/nms-protocol.md``.

Shared by the HTTP client (:mod:`workorders.nms.http`) and the NMS simulator
service (:mod:`workorders.nms.server`), with the conversions from and to the
:mod:`workorders.nms.base` requests and responses.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from workorders.nms.base import (
    ActivationRequest,
    ActivationResponse,
    DeactivationRequest,
    DeactivationResponse,
    ServiceTestRequest,
    ServiceTestResponse,
)

ACTIVATION_API = "/tmf-api/serviceActivationAndConfiguration/v4"
SERVICE_PATH = f"{ACTIVATION_API}/service"
MONITOR_PATH = f"{ACTIVATION_API}/monitor"
TEST_API = "/tmf-api/serviceTestManagement/v4"
SERVICE_TEST_PATH = f"{TEST_API}/serviceTest"
IDEMPOTENCY_KEY = "Idempotency-Key"
ACTIVE = "active"
"""The service state a ``POST /service`` asks for to activate."""
TERMINATED = "terminated"
"""The service state a ``POST /service`` asks for to deactivate."""
TEST_SPECIFICATION = "broadband-speed-and-quality"

MEASURES = {
    "downloadSpeed": ("download_mbps", "Mbps"),
    "uploadSpeed": ("upload_mbps", "Mbps"),
    "latency": ("latency_ms", "ms"),
    "jitter": ("jitter_ms", "ms"),
    "packetLoss": ("loss_pct", "%"),
}
"""Each ``testMeasure``'s metric name: the response field and the unit."""


class TmfModel(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields are ignored."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class State(StrEnum):
    """The state of a monitor or a service test."""

    IN_PROGRESS = "inProgress"
    COMPLETED = "completed"
    FAILED = "failed"


class TmfError(TmfModel):
    """An error: a machine-readable code, a short reason and a message."""

    code: str = Field(min_length=1)
    reason: str
    message: str | None = None
    status: str | None = None
    type: str = Field(default="Error", alias="@type")


class Characteristic(TmfModel):
    name: str
    value_type: str
    value: int | str


class SpecificationRef(TmfModel):
    name: str = Field(min_length=1)


class ServiceCreate(TmfModel):
    """The body of ``POST /service``: activate or terminate one customer's service."""

    external_id: str = Field(min_length=1)
    """The work order's id."""
    service_specification: SpecificationRef | None = None
    """Names the NMS profile; required to activate."""
    service_characteristic: list[Characteristic]
    """``oltId``, ``ponPort``, ``ontId``, and ``vlan`` to activate."""
    state: str = ACTIVE
    """The state asked for: ``active`` or ``terminated``."""
    type: str = Field(default="Service", alias="@type")


class Service(ServiceCreate):
    id: str
    href: str


class Job(TmfModel):
    """A resource that follows work in progress: a monitor or a service test."""

    id: str = Field(min_length=1)
    href: str
    state: State
    error: TmfError | None = None
    """Why the work failed; only when ``failed``."""


class Monitor(Job):
    """The monitor of an activation (its ``service`` once ``completed``) or of a
    termination."""

    service: Service | None = None
    description: str | None = None
    """What the work did, when there is more to say (nothing to terminate)."""
    type: str = Field(default="Monitor", alias="@type")


class ServiceTestCreate(TmfModel):
    """The body of ``POST /serviceTest``: measure one customer's line."""

    external_id: str = Field(min_length=1)
    """The work order's id."""
    test_specification: SpecificationRef = Field(
        default_factory=lambda: SpecificationRef(name=TEST_SPECIFICATION)
    )
    characteristic: list[Characteristic]
    """``oltId``, ``ponPort``, ``ontId`` and ``testServer``."""
    type: str = Field(default="ServiceTest", alias="@type")


class Measure(TmfModel):
    """One ``testMeasure``."""

    metric_name: str
    unit_of_measure: str
    value: float


class ServiceTest(Job, ServiceTestCreate):
    """A service test; its ``testMeasure`` list once ``completed``."""

    test_measure: list[Measure] = []


# Requests to documents and back


def _characteristics(values: dict[str, int | str]) -> list[Characteristic]:
    return [
        Characteristic(
            name=name, value_type="integer" if isinstance(value, int) else "string", value=value
        )
        for name, value in values.items()
    ]


def _values(characteristics: list[Characteristic], names: tuple[str, ...]) -> dict[str, int | str]:
    given = {c.name: c.value for c in characteristics}
    missing = [name for name in names if name not in given]
    if missing:
        raise ValueError(f"missing characteristics: {', '.join(missing)}")
    return {name: given[name] for name in names}


def service_create(request: ActivationRequest) -> ServiceCreate:
    """The body that asks for an activation."""
    return ServiceCreate(
        external_id=request.order_id,
        service_specification=SpecificationRef(name=request.profile_name),
        service_characteristic=_characteristics(
            {
                "oltId": request.olt_id,
                "ponPort": request.pon_port,
                "ontId": request.ont_id,
                "vlan": request.vlan,
            }
        ),
    )


def activation_request(idempotency_key: str, body: ServiceCreate) -> ActivationRequest:
    """The activation a body asks for.

    Raises:
        ValueError: a characteristic is missing or has the wrong type.
    """
    if body.service_specification is None:
        raise ValueError("serviceSpecification: required to activate")
    values = _values(body.service_characteristic, ("oltId", "ponPort", "ontId", "vlan"))
    return ActivationRequest.model_validate(
        {
            "idempotency_key": idempotency_key,
            "order_id": body.external_id,
            "olt_id": values["oltId"],
            "pon_port": values["ponPort"],
            "ont_id": values["ontId"],
            "vlan": values["vlan"],
            "profile_name": body.service_specification.name,
        }
    )


def service_termination(request: DeactivationRequest) -> ServiceCreate:
    """The body that asks for a deactivation."""
    return ServiceCreate(
        external_id=request.order_id,
        service_characteristic=_characteristics(
            {"oltId": request.olt_id, "ponPort": request.pon_port, "ontId": request.ont_id}
        ),
        state=TERMINATED,
    )


def deactivation_request(idempotency_key: str, body: ServiceCreate) -> DeactivationRequest:
    """The deactivation a body asks for.

    Raises:
        ValueError: a characteristic is missing or has the wrong type.
    """
    values = _values(body.service_characteristic, ("oltId", "ponPort", "ontId"))
    return DeactivationRequest.model_validate(
        {
            "idempotency_key": idempotency_key,
            "order_id": body.external_id,
            "olt_id": values["oltId"],
            "pon_port": values["ponPort"],
            "ont_id": values["ontId"],
        }
    )


def service_test_create(request: ServiceTestRequest) -> ServiceTestCreate:
    """The body that asks for a service test."""
    return ServiceTestCreate(
        external_id=request.order_id,
        characteristic=_characteristics(
            {
                "oltId": request.olt_id,
                "ponPort": request.pon_port,
                "ontId": request.ont_id,
                "testServer": request.test_server,
            }
        ),
    )


def service_test_request(idempotency_key: str, body: ServiceTestCreate) -> ServiceTestRequest:
    """The service test a body asks for.

    Raises:
        ValueError: a characteristic is missing or has the wrong type.
    """
    values = _values(body.characteristic, ("oltId", "ponPort", "ontId", "testServer"))
    return ServiceTestRequest.model_validate(
        {
            "idempotency_key": idempotency_key,
            "order_id": body.external_id,
            "olt_id": values["oltId"],
            "pon_port": values["ponPort"],
            "ont_id": values["ontId"],
            "test_server": values["testServer"],
        }
    )


def measures(response: ServiceTestResponse) -> list[Measure]:
    """A completed test's ``testMeasure`` list."""
    fields = response.model_dump()
    return [
        Measure(metric_name=name, unit_of_measure=unit, value=fields[field])
        for name, (field, unit) in MEASURES.items()
        if fields[field] is not None
    ]


# Documents to responses


def activation_response(monitor: Monitor) -> ActivationResponse:
    """The answer of an ended monitor.

    Raises:
        ValueError: the monitor is still in progress, or lacks its service or error.
    """
    if monitor.state is State.COMPLETED and monitor.service is not None:
        return ActivationResponse(state="completed", service_id=monitor.service.id)
    if monitor.state is State.FAILED and monitor.error is not None:
        return refused_activation(monitor.error)
    raise ValueError(f"monitor {monitor.id} is {monitor.state} without its service or error")


def refused_activation(error: TmfError) -> ActivationResponse:
    return ActivationResponse(
        state="failed", error_code=error.code, message=error.message or error.reason
    )


def deactivation_response(monitor: Monitor) -> DeactivationResponse:
    """The answer of an ended termination's monitor.

    Raises:
        ValueError: the monitor is still in progress, or failed without its error.
    """
    if monitor.state is State.COMPLETED:
        return DeactivationResponse(state="completed", message=monitor.description)
    if monitor.state is State.FAILED and monitor.error is not None:
        return refused_deactivation(monitor.error)
    raise ValueError(f"monitor {monitor.id} is {monitor.state} without its error")


def refused_deactivation(error: TmfError) -> DeactivationResponse:
    return DeactivationResponse(
        state="failed", error_code=error.code, message=error.message or error.reason
    )


def service_test_response(test: ServiceTest) -> ServiceTestResponse:
    """The answer of an ended service test.

    Raises:
        ValueError: the test is still in progress, lacks its error, or a measure.
    """
    if test.state is State.FAILED and test.error is not None:
        return refused_service_test(test.error)
    if test.state is not State.COMPLETED:
        raise ValueError(f"service test {test.id} is {test.state} without its error")
    given = {m.metric_name: m.value for m in test.test_measure}
    missing = [name for name in MEASURES if name not in given]
    if missing:
        raise ValueError(f"service test {test.id} lacks {', '.join(missing)}")
    return ServiceTestResponse.model_validate(
        {"state": "completed", **{field: given[name] for name, (field, _) in MEASURES.items()}}
    )


def refused_service_test(error: TmfError) -> ServiceTestResponse:
    return ServiceTestResponse(
        state="failed", error_code=error.code, message=error.message or error.reason
    )
