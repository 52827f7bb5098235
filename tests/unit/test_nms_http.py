"""The HTTP NMS client against a scripted NMS (``httpx.MockTransport``): following,
refusals, and every way an NMS can be unavailable."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from workorders.nms import (
    ActivationRequest,
    ActivationResponse,
    DeactivationRequest,
    DeactivationResponse,
    NmsUnavailable,
    ServiceTestRequest,
    ServiceTestResponse,
)
from workorders.nms.http import HttpNms

ACTIVATION = "/tmf-api/serviceActivationAndConfiguration/v4"
TESTS = "/tmf-api/serviceTestManagement/v4"

Answer = httpx.Response | Callable[[httpx.Request], httpx.Response]


class ScriptedNms:
    """Answers each request with the next answer of its script; keeps the requests."""

    def __init__(self) -> None:
        self.script: list[Answer] = []
        self.then: Callable[[], httpx.Response] | None = None
        self.requests: list[httpx.Request] = []

    def answer(self, *answers: Answer) -> None:
        self.script.extend(answers)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if not self.script and self.then is not None:
            return self.then()
        assert self.script, f"unexpected {request.method} {request.url}"
        answer = self.script.pop(0)
        return answer if isinstance(answer, httpx.Response) else answer(request)


@pytest.fixture
def scripted() -> ScriptedNms:
    return ScriptedNms()


@pytest.fixture
async def nms(scripted: ScriptedNms) -> AsyncIterator[HttpNms]:
    transport = httpx.MockTransport(scripted)
    async with httpx.AsyncClient(transport=transport, base_url="http://nms.test") as client:
        yield HttpNms(client, timeout_s=5, poll_interval_s=0.001)


def activation() -> ActivationRequest:
    return ActivationRequest(
        idempotency_key="order-1/activation/1",
        order_id="order-1",
        olt_id="olt-a",
        pon_port=3,
        ont_id=7,
        vlan=120,
        profile_name="FTTH-300M-G2",
    )


def deactivation() -> DeactivationRequest:
    return DeactivationRequest(
        idempotency_key="order-1/deactivation/1",
        order_id="order-1",
        olt_id="olt-a",
        pon_port=3,
        ont_id=7,
    )


def service_test() -> ServiceTestRequest:
    return ServiceTestRequest(
        idempotency_key="order-1/quality_check/1",
        order_id="order-1",
        olt_id="olt-a",
        pon_port=3,
        ont_id=7,
        test_server="ts-north-1",
    )


def monitor(state: str, status: int = 200, **extra: Any) -> httpx.Response:
    body = {"id": "m-1", "href": f"{ACTIVATION}/monitor/m-1", "state": state, **extra}
    return httpx.Response(status, json=body)


SERVICE = {
    "id": "svc-1",
    "href": f"{ACTIVATION}/service/svc-1",
    "externalId": "order-1",
    "serviceSpecification": {"name": "FTTH-300M-G2"},
    "serviceCharacteristic": [],
}
MEASURES = [
    {"metricName": "downloadSpeed", "unitOfMeasure": "Mbps", "value": 291.5},
    {"metricName": "uploadSpeed", "unitOfMeasure": "Mbps", "value": 97.2},
    {"metricName": "latency", "unitOfMeasure": "ms", "value": 4.1},
    {"metricName": "jitter", "unitOfMeasure": "ms", "value": 0.7},
    {"metricName": "packetLoss", "unitOfMeasure": "%", "value": 0.02},
]


def service_test_doc(state: str, status: int = 200, **extra: Any) -> httpx.Response:
    body = {
        "id": "t-1",
        "href": f"{TESTS}/serviceTest/t-1",
        "state": state,
        "externalId": "order-1",
        "characteristic": [],
        **extra,
    }
    return httpx.Response(status, json=body)


def error(status: int, code: str) -> httpx.Response:
    return httpx.Response(
        status, json={"code": code, "reason": code.lower(), "message": f"{code} here"}
    )


def raises(error_type: type[httpx.TransportError]) -> Callable[[httpx.Request], httpx.Response]:
    def fail(request: httpx.Request) -> httpx.Response:
        raise error_type("simulated", request=request)

    return fail


# Following to the end ----------------------------------------------------------------


async def test_activation_follows_the_monitor_until_completed(
    nms: HttpNms, scripted: ScriptedNms
) -> None:
    scripted.answer(
        monitor("inProgress", 202),
        monitor("inProgress"),
        monitor("completed", service=SERVICE),
    )
    response = await nms.activate(activation())
    assert response == ActivationResponse(state="completed", service_id="svc-1")

    post, *gets = scripted.requests
    assert (post.method, post.url.path) == ("POST", f"{ACTIVATION}/service")
    assert post.headers["Idempotency-Key"] == "order-1/activation/1"
    body = json.loads(post.content)
    assert body["externalId"] == "order-1"
    assert body["serviceSpecification"] == {"name": "FTTH-300M-G2"}
    assert {c["name"]: c["value"] for c in body["serviceCharacteristic"]} == {
        "oltId": "olt-a",
        "ponPort": 3,
        "ontId": 7,
        "vlan": 120,
    }
    assert [(g.method, g.url.path) for g in gets] == [("GET", f"{ACTIVATION}/monitor/m-1")] * 2
    # Every request stays within the call's deadline.
    assert all(r.extensions["timeout"]["read"] <= 5 for r in scripted.requests)


async def test_a_monitor_that_has_ended_is_not_followed(
    nms: HttpNms, scripted: ScriptedNms
) -> None:
    scripted.answer(monitor("completed", service=SERVICE))
    assert (await nms.activate(activation())).service_id == "svc-1"
    assert len(scripted.requests) == 1


async def test_deactivation_follows_the_monitor_until_completed(
    nms: HttpNms, scripted: ScriptedNms
) -> None:
    scripted.answer(monitor("inProgress", 202), monitor("inProgress"), monitor("completed"))
    assert await nms.deactivate(deactivation()) == DeactivationResponse(state="completed")

    post, *gets = scripted.requests
    assert (post.method, post.url.path) == ("POST", f"{ACTIVATION}/service")
    assert post.headers["Idempotency-Key"] == "order-1/deactivation/1"
    body = json.loads(post.content)
    assert body["externalId"] == "order-1"
    assert body["state"] == "terminated"
    assert "serviceSpecification" not in body
    assert {c["name"]: c["value"] for c in body["serviceCharacteristic"]} == {
        "oltId": "olt-a",
        "ponPort": 3,
        "ontId": 7,
    }
    assert [(g.method, g.url.path) for g in gets] == [("GET", f"{ACTIVATION}/monitor/m-1")] * 2


async def test_a_deactivation_reads_the_monitors_description_and_ignores_its_service(
    nms: HttpNms, scripted: ScriptedNms
) -> None:
    scripted.answer(monitor("completed", description="nothing to deactivate"))
    response = await nms.deactivate(deactivation())
    assert response == DeactivationResponse(state="completed", message="nothing to deactivate")
    scripted.answer(monitor("completed", service={**SERVICE, "state": "terminated"}))
    assert await nms.deactivate(deactivation()) == DeactivationResponse(state="completed")


async def test_service_test_follows_the_test_until_completed(
    nms: HttpNms, scripted: ScriptedNms
) -> None:
    scripted.answer(
        service_test_doc("inProgress", 202), service_test_doc("completed", testMeasure=MEASURES)
    )
    response = await nms.run_service_test(service_test())
    assert response == ServiceTestResponse(
        state="completed",
        download_mbps=291.5,
        upload_mbps=97.2,
        latency_ms=4.1,
        jitter_ms=0.7,
        loss_pct=0.02,
    )
    post, get = scripted.requests
    assert (post.method, post.url.path) == ("POST", f"{TESTS}/serviceTest")
    assert post.headers["Idempotency-Key"] == "order-1/quality_check/1"
    body = json.loads(post.content)
    assert body["externalId"] == "order-1"
    assert {c["name"]: c["value"] for c in body["characteristic"]} == {
        "oltId": "olt-a",
        "ponPort": 3,
        "ontId": 7,
        "testServer": "ts-north-1",
    }
    assert (get.method, get.url.path) == ("GET", f"{TESTS}/serviceTest/t-1")


# Refusals are answers ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (409, "ONT_ID_IN_USE"),
        (409, "VLAN_TAKEN"),
        (422, "UNKNOWN_PROFILE"),
        (409, "PORT_FAULTY"),
        (400, "INVALID_REQUEST"),
        (404, "UNKNOWN_OLT"),
    ],
)
async def test_an_activation_refused_at_once_is_a_failed_response(
    nms: HttpNms, scripted: ScriptedNms, status: int, code: str
) -> None:
    scripted.answer(error(status, code))
    response = await nms.activate(activation())
    assert response == ActivationResponse(state="failed", error_code=code, message=f"{code} here")


async def test_an_activation_that_fails_behind_its_monitor_is_a_failed_response(
    nms: HttpNms, scripted: ScriptedNms
) -> None:
    failure = {"code": "VLAN_TAKEN", "reason": "VLAN taken"}
    scripted.answer(monitor("inProgress", 202), monitor("failed", error=failure))
    response = await nms.activate(activation())
    # Without a message, the reason says why.
    assert response == ActivationResponse(
        state="failed", error_code="VLAN_TAKEN", message="VLAN taken"
    )


@pytest.mark.parametrize(("status", "code"), [(409, "NOT_OWNER"), (400, "INVALID_REQUEST")])
async def test_a_deactivation_refused_at_once_is_a_failed_response(
    nms: HttpNms, scripted: ScriptedNms, status: int, code: str
) -> None:
    scripted.answer(error(status, code))
    response = await nms.deactivate(deactivation())
    assert response == DeactivationResponse(state="failed", error_code=code, message=f"{code} here")


async def test_a_deactivation_that_fails_behind_its_monitor_is_a_failed_response(
    nms: HttpNms, scripted: ScriptedNms
) -> None:
    failure = {"code": "NOT_OWNER", "reason": "Service of another order"}
    scripted.answer(monitor("inProgress", 202), monitor("failed", error=failure))
    response = await nms.deactivate(deactivation())
    assert response == DeactivationResponse(
        state="failed", error_code="NOT_OWNER", message="Service of another order"
    )


@pytest.mark.parametrize("code", ["LINE_NOT_READY", "TEST_SERVER_BUSY"])
async def test_a_service_test_refused_is_a_failed_response(
    nms: HttpNms, scripted: ScriptedNms, code: str
) -> None:
    failure = {"code": code, "reason": "no", "message": f"{code} here"}
    scripted.answer(service_test_doc("inProgress", 202), service_test_doc("failed", error=failure))
    failed = await nms.run_service_test(service_test())
    assert (failed.state, failed.error_code, failed.message) == ("failed", code, f"{code} here")

    scripted.answer(error(409, code))
    assert (await nms.run_service_test(service_test())).error_code == code


# The NMS is unavailable -----------------------------------------------------------------

CALLS: dict[str, Callable[[HttpNms], Awaitable[object]]] = {
    "activate": lambda nms: nms.activate(activation()),
    "deactivate": lambda nms: nms.deactivate(deactivation()),
    "run_service_test": lambda nms: nms.run_service_test(service_test()),
}
IN_PROGRESS: dict[str, Callable[[], httpx.Response]] = {
    "activate": lambda: monitor("inProgress", 202),
    "deactivate": lambda: monitor("inProgress", 202),
    "run_service_test": lambda: service_test_doc("inProgress", 202),
}


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("status", [500, 502, 503, 504, 429, 408])
async def test_a_server_error_or_throttling_raises(
    nms: HttpNms, scripted: ScriptedNms, call: str, status: int
) -> None:
    scripted.answer(error(status, "NMS_UNAVAILABLE"))
    with pytest.raises(NmsUnavailable, match=str(status)):
        await CALLS[call](nms)


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("status", [503, 429, 404])
async def test_an_error_while_following_raises(
    nms: HttpNms, scripted: ScriptedNms, call: str, status: int
) -> None:
    """A monitor the NMS cannot show is no refusal: the call is retried with its key."""
    scripted.answer(IN_PROGRESS[call](), error(status, "NOT_FOUND"))
    with pytest.raises(NmsUnavailable, match=f"{status} NOT_FOUND"):
        await CALLS[call](nms)


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize(
    "error_type",
    [httpx.ConnectError, httpx.ConnectTimeout, httpx.ReadTimeout, httpx.RemoteProtocolError],
)
async def test_no_answer_raises(
    nms: HttpNms, scripted: ScriptedNms, call: str, error_type: type[httpx.TransportError]
) -> None:
    scripted.answer(raises(error_type))
    with pytest.raises(NmsUnavailable, match=error_type.__name__):
        await CALLS[call](nms)
    scripted.answer(IN_PROGRESS[call](), raises(error_type))
    with pytest.raises(NmsUnavailable, match=error_type.__name__):
        await CALLS[call](nms)


MALFORMED_MONITORS = {
    "not JSON": httpx.Response(202, text="<html>busy</html>"),
    "no id": httpx.Response(202, json={"state": "inProgress"}),
    "unknown state": monitor("cancelled", 202),
    "completed without its service": monitor("completed"),
    "failed without its error": monitor("failed"),
    "an error without a code": httpx.Response(409, json={"reason": "no", "message": "no"}),
    "an error that is not JSON": httpx.Response(403, text="Forbidden"),
    "a redirect": httpx.Response(302, headers={"Location": "/elsewhere"}),
}


@pytest.mark.parametrize("answer", MALFORMED_MONITORS.values(), ids=MALFORMED_MONITORS)
async def test_a_malformed_activation_answer_raises(
    nms: HttpNms, scripted: ScriptedNms, answer: httpx.Response
) -> None:
    scripted.answer(answer)
    with pytest.raises(NmsUnavailable):
        await nms.activate(activation())


MALFORMED_TERMINATIONS = {
    name: answer
    for name, answer in MALFORMED_MONITORS.items()
    if name != "completed without its service"  # a completed termination needs none
}


@pytest.mark.parametrize("answer", MALFORMED_TERMINATIONS.values(), ids=MALFORMED_TERMINATIONS)
async def test_a_malformed_deactivation_answer_raises(
    nms: HttpNms, scripted: ScriptedNms, answer: httpx.Response
) -> None:
    scripted.answer(answer)
    with pytest.raises(NmsUnavailable):
        await nms.deactivate(deactivation())


MALFORMED_TESTS = {
    "a measure missing": service_test_doc("completed", testMeasure=MEASURES[:-1]),
    "a measure that is no number": service_test_doc(
        "completed", testMeasure=[{**MEASURES[0], "value": "fast"}, *MEASURES[1:]]
    ),
    "failed without its error": service_test_doc("failed"),
    "followed to garbage": httpx.Response(200, json=[]),
}


@pytest.mark.parametrize("answer", MALFORMED_TESTS.values(), ids=MALFORMED_TESTS)
async def test_a_malformed_service_test_answer_raises(
    nms: HttpNms, scripted: ScriptedNms, answer: httpx.Response
) -> None:
    scripted.answer(service_test_doc("inProgress", 202), answer)
    with pytest.raises(NmsUnavailable):
        await nms.run_service_test(service_test())


@pytest.mark.parametrize("call", CALLS)
async def test_work_that_does_not_end_in_time_raises(scripted: ScriptedNms, call: str) -> None:
    scripted.then = IN_PROGRESS[call]
    transport = httpx.MockTransport(scripted)
    async with httpx.AsyncClient(transport=transport, base_url="http://nms.test") as client:
        nms = HttpNms(client, timeout_s=0.05, poll_interval_s=0.001)
        with pytest.raises(NmsUnavailable, match="still inProgress"):
            await CALLS[call](nms)
    assert len(scripted.requests) >= 2
