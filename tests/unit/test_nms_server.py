"""The NMS simulator service, driven by the HTTP client through ``httpx.ASGITransport``:
work behind monitors and tests, activation and deactivation, idempotency, refusals,
faults, stats and restarts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from workorders.nms import (
    ActivationRequest,
    DeactivationRequest,
    NmsSimulator,
    NmsUnavailable,
    ServiceTestRequest,
    SimulatorConfig,
)
from workorders.nms.http import HttpNms
from workorders.nms.server import create_nms_app

SERVICE = "/tmf-api/serviceActivationAndConfiguration/v4/service"
MONITOR = "/tmf-api/serviceActivationAndConfiguration/v4/monitor"
SERVICE_TEST = "/tmf-api/serviceTestManagement/v4/serviceTest"

CALM = SimulatorConfig(
    seed=7,
    latency_min_s=0.001,
    latency_max_s=0.005,
    profiles={"FTTH-300M-G2": (300, 100), "FTTH_300_100": (300, 100)},
    legacy_names=frozenset({"FTTH_300_100"}),
)
"""A network with no faults at all; tests switch on the one they are about."""


@dataclass
class Sim:
    """A running NMS simulator service, and a client that talks to it."""

    simulator: NmsSimulator
    http: httpx.AsyncClient
    nms: HttpNms

    async def faults(self, **faults: float) -> None:
        response = await self.http.put("/sim/faults", json=faults)
        assert response.status_code == 200, response.text

    async def stats(self) -> dict[str, Any]:
        response = await self.http.get("/sim/stats")
        assert response.status_code == 200, response.text
        stats: dict[str, Any] = response.json()
        return stats


@asynccontextmanager
async def serve(simulator: NmsSimulator) -> AsyncIterator[Sim]:
    app = create_nms_app(simulator)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://nms-sim") as http,
    ):
        yield Sim(simulator, http, HttpNms(http, timeout_s=10, poll_interval_s=0.001))


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    simulator = NmsSimulator(CALM)
    try:
        async with serve(simulator) as running:
            yield running
    finally:
        simulator.close()


def activation(
    order_id: str = "order-1",
    *,
    attempt: int = 1,
    port: int = 1,
    ont: int = 1,
    vlan: int = 100,
    profile: str = "FTTH-300M-G2",
) -> ActivationRequest:
    return ActivationRequest(
        idempotency_key=f"{order_id}/activation/{attempt}",
        order_id=order_id,
        olt_id="olt-a",
        pon_port=port,
        ont_id=ont,
        vlan=vlan,
        profile_name=profile,
    )


def deactivation(order_id: str = "order-1", *, attempt: int = 1) -> DeactivationRequest:
    return DeactivationRequest(
        idempotency_key=f"{order_id}/deactivation/{attempt}",
        order_id=order_id,
        olt_id="olt-a",
        pon_port=1,
        ont_id=1,
    )


def service_test(order_id: str = "order-1", *, attempt: int = 1) -> ServiceTestRequest:
    return ServiceTestRequest(
        idempotency_key=f"{order_id}/quality_check/{attempt}",
        order_id=order_id,
        olt_id="olt-a",
        pon_port=1,
        ont_id=1,
        test_server="ts-1",
    )


CHARACTERISTICS = [
    {"name": "oltId", "valueType": "string", "value": "olt-a"},
    {"name": "ponPort", "valueType": "integer", "value": 1},
    {"name": "ontId", "valueType": "integer", "value": 1},
    {"name": "vlan", "valueType": "integer", "value": 100},
]
SERVICE_BODY = {
    "externalId": "order-1",
    "serviceSpecification": {"name": "FTTH-300M-G2"},
    "serviceCharacteristic": CHARACTERISTICS,
}

TERMINATION_BODY = {
    "externalId": "order-1",
    "serviceCharacteristic": CHARACTERISTICS[:3],
    "state": "terminated",
}


async def test_an_activation_is_accepted_then_completes_behind_its_monitor(sim: Sim) -> None:
    key = {"Idempotency-Key": "order-1/activation/1"}
    accepted = await sim.http.post(SERVICE, json=SERVICE_BODY, headers=key)
    assert accepted.status_code == 202
    monitor = accepted.json()
    assert monitor["state"] == "inProgress"
    assert accepted.headers["Location"] == monitor["href"] == f"{MONITOR}/{monitor['id']}"

    response = await sim.nms.activate(activation())
    assert response.state == "completed"
    assert response.service_id

    followed = (await sim.http.get(monitor["href"])).json()
    assert followed["state"] == "completed"
    service = followed["service"]
    assert service["id"] == response.service_id
    assert service["externalId"] == "order-1"
    assert service["serviceSpecification"]["name"] == "FTTH-300M-G2"
    assert service["serviceCharacteristic"] == CHARACTERISTICS
    # The repeated key answered the same monitor, and says so with 200.
    again = await sim.http.post(SERVICE, json=SERVICE_BODY, headers=key)
    assert (again.status_code, again.json()["id"]) == (200, monitor["id"])


async def test_a_repeated_key_activates_once(sim: Sim) -> None:
    at_once = await asyncio.gather(*(sim.nms.activate(activation()) for _ in range(5)))
    later = await sim.nms.activate(activation())
    assert {r.service_id for r in [*at_once, later]} == {at_once[0].service_id}
    assert at_once[0].state == "completed"
    stats = await sim.stats()
    assert stats["activations"] == {"order-1": 1}
    assert stats["duplicate_activations"] == 0
    assert stats["active_services"] == 1
    assert stats["jobs_in_progress"] == 0


async def test_refusals_are_failed_responses(sim: Sim) -> None:
    assert (await sim.nms.activate(activation())).state == "completed"
    taken = await sim.nms.activate(activation("order-2", vlan=101))
    assert (taken.state, taken.error_code) == ("failed", "ONT_ID_IN_USE")
    assert taken.message
    vlan = await sim.nms.activate(activation("order-2", attempt=2, ont=2))
    assert (vlan.state, vlan.error_code) == ("failed", "VLAN_TAKEN")
    # A refusal is remembered like any answer.
    assert await sim.nms.activate(activation("order-2", vlan=101)) == taken
    assert (await sim.stats())["activations"] == {"order-1": 1}


async def test_a_deactivation_is_accepted_then_completes_behind_its_monitor(sim: Sim) -> None:
    assert (await sim.nms.activate(activation())).state == "completed"
    key = {"Idempotency-Key": "order-1/deactivation/1"}
    accepted = await sim.http.post(SERVICE, json=TERMINATION_BODY, headers=key)
    assert accepted.status_code == 202
    monitor = accepted.json()
    assert monitor["state"] == "inProgress"
    assert accepted.headers["Location"] == monitor["href"] == f"{MONITOR}/{monitor['id']}"

    response = await sim.nms.deactivate(deactivation())
    assert (response.state, response.error_code, response.message) == ("completed", None, None)
    followed = (await sim.http.get(monitor["href"])).json()
    assert followed["state"] == "completed"
    assert "service" not in followed
    again = await sim.http.post(SERVICE, json=TERMINATION_BODY, headers=key)
    assert (again.status_code, again.json()["id"]) == (200, monitor["id"])

    stats = await sim.stats()
    assert stats["deactivations"] == {"order-1": 1}
    assert stats["activations"] == {"order-1": 1}
    assert (stats["active_services"], stats["duplicate_activations"]) == (0, 0)
    gone = await sim.nms.run_service_test(service_test())
    assert gone.error_code == "LINE_NOT_READY"


async def test_a_repeated_deactivation_key_deactivates_once(sim: Sim) -> None:
    await sim.nms.activate(activation())
    at_once = await asyncio.gather(*(sim.nms.deactivate(deactivation()) for _ in range(5)))
    assert {r.state for r in at_once} == {"completed"}
    # Activated again: the old key only repeats its answer.
    assert (await sim.nms.activate(activation(attempt=2))).state == "completed"
    assert await sim.nms.deactivate(deactivation()) == at_once[0]
    stats = await sim.stats()
    assert (stats["deactivations"], stats["active_services"]) == ({"order-1": 1}, 1)


async def test_deactivating_nothing_says_so_and_another_orders_service_is_refused(
    sim: Sim,
) -> None:
    nothing = await sim.nms.deactivate(deactivation())
    assert (nothing.state, nothing.error_code) == ("completed", None)
    assert nothing.message is not None
    assert "nothing to deactivate" in nothing.message

    await sim.nms.activate(activation())
    refusal = await sim.nms.deactivate(deactivation("order-2"))
    assert (refusal.state, refusal.error_code) == ("failed", "NOT_OWNER")
    assert refusal.message
    stats = await sim.stats()
    assert (stats["deactivations"], stats["active_services"]) == ({}, 1)


async def test_a_deactivation_during_an_outage_raises(sim: Sim) -> None:
    await sim.nms.activate(activation())
    await sim.faults(outage_rate=1)
    with pytest.raises(NmsUnavailable, match="503"):
        await sim.nms.deactivate(deactivation())
    await sim.faults()
    assert (await sim.stats())["active_services"] == 1
    assert (await sim.nms.deactivate(deactivation())).state == "completed"


async def test_service_requests_the_protocol_does_not_allow(sim: Sim) -> None:
    def post(body: object, key: str) -> Any:
        return sim.http.post(SERVICE, json=body, headers={"Idempotency-Key": key})

    no_ont = {**TERMINATION_BODY, "serviceCharacteristic": CHARACTERISTICS[:2]}
    for body in (
        no_ont,
        {**TERMINATION_BODY, "state": "suspended"},
        {k: v for k, v in SERVICE_BODY.items() if k != "serviceSpecification"},
    ):
        invalid = await post(body, "k-1")
        assert (invalid.status_code, invalid.json()["code"]) == (400, "INVALID_REQUEST")
    # A key names one request: activating, then terminating with it, is a reuse.
    assert (await post(SERVICE_BODY, "k-2")).status_code == 202
    reused = await post(TERMINATION_BODY, "k-2")
    assert (reused.status_code, reused.json()["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")


async def test_a_line_not_ready_is_measured_once_it_is_activated(sim: Sim) -> None:
    early = await sim.nms.run_service_test(service_test())
    assert (early.state, early.error_code) == ("failed", "LINE_NOT_READY")
    await sim.nms.activate(activation())
    # The same key, retried, measures the line now that it is ready.
    measured = await sim.nms.run_service_test(service_test())
    assert measured.state == "completed"
    assert measured.download_mbps is not None
    assert 300 * 0.93 - 0.05 <= measured.download_mbps <= 300 * 0.995 + 0.05
    assert measured.loss_pct is not None
    assert await sim.nms.run_service_test(service_test()) == measured


async def test_work_that_fails_inside_the_simulator_can_be_asked_again() -> None:
    # A profile the OLTs know but the simulator cannot measure: a fault of its own.
    broken = NmsSimulator(replace(CALM, legacy_olt_rate=1, legacy_names=frozenset({"OLD"})))
    try:
        async with serve(broken) as sim:
            assert (await sim.nms.activate(activation(profile="OLD"))).state == "completed"
            failed = await sim.nms.run_service_test(service_test())
            assert (failed.state, failed.error_code) == ("failed", "NMS_UNAVAILABLE")
            # Not remembered: the same key starts the work again.
            key = {"Idempotency-Key": "order-1/quality_check/1"}
            body = {
                "externalId": "order-1",
                "characteristic": [
                    *CHARACTERISTICS[:3],
                    {"name": "testServer", "valueType": "string", "value": "ts-1"},
                ],
            }
            again = await sim.http.post(SERVICE_TEST, json=body, headers=key)
            assert (again.status_code, again.json()["state"]) == (202, "inProgress")
    finally:
        broken.close()


async def test_faults_injected_by_the_operator(sim: Sim) -> None:
    await sim.faults(outage_rate=1)
    with pytest.raises(NmsUnavailable, match="503"):
        await sim.nms.activate(activation())
    with pytest.raises(NmsUnavailable, match="503"):
        await sim.nms.run_service_test(service_test())
    assert (await sim.stats())["activations"] == {}

    await sim.faults(legacy_olt_rate=1)
    legacy = await sim.nms.activate(activation())
    assert legacy.error_code == "UNKNOWN_PROFILE"
    known = await sim.nms.activate(activation(attempt=2, profile="FTTH_300_100"))
    assert known.state == "completed"

    await sim.faults(busy_server_rate=1, latency_min_s=0.001, latency_max_s=0.002)
    busy = await sim.nms.run_service_test(service_test())
    assert (busy.state, busy.error_code) == ("failed", "TEST_SERVER_BUSY")
    faults = (await sim.http.get("/sim/faults")).json()
    assert faults["busy_server_rate"] == 1
    # A PUT replaces every fault: those left out are off.
    assert faults["legacy_olt_rate"] == 0
    assert faults["outage_rate"] == 0


@pytest.mark.parametrize(
    "faults",
    [
        {"outage_rate": 1.5},
        {"port_conflict_rate": -0.1},
        {"latency_min_s": 2, "latency_max_s": 1},
        {"outage": 0.5},
    ],
)
async def test_faults_are_validated(sim: Sim, faults: dict[str, float]) -> None:
    before = (await sim.http.get("/sim/faults")).json()
    response = await sim.http.put("/sim/faults", json=faults)
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_REQUEST"
    assert (await sim.http.get("/sim/faults")).json() == before


async def test_requests_the_protocol_does_not_allow(sim: Sim) -> None:
    def post(body: object, key: str | None = "k-1") -> Any:
        headers = {"Idempotency-Key": key} if key else {}
        return sim.http.post(SERVICE, json=body, headers=headers)

    missing_key = await post(SERVICE_BODY, key=None)
    assert (missing_key.status_code, missing_key.json()["code"]) == (
        400,
        "IDEMPOTENCY_KEY_REQUIRED",
    )
    no_vlan = {**SERVICE_BODY, "serviceCharacteristic": CHARACTERISTICS[:3]}
    invalid = await post(no_vlan)
    assert (invalid.status_code, invalid.json()["code"]) == (400, "INVALID_REQUEST")
    assert "vlan" in invalid.json()["message"]
    assert (await post(SERVICE_BODY)).status_code == 202
    other = {**SERVICE_BODY, "externalId": "order-2"}
    reused = await post(other)
    assert (reused.status_code, reused.json()["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")

    unknown = await sim.http.get(f"{MONITOR}/nope")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "NOT_FOUND")
    monitor_id = (await post(SERVICE_BODY)).json()["id"]
    assert (await sim.http.get(f"{SERVICE_TEST}/{monitor_id}")).status_code == 404


async def test_work_and_resources_survive_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "nms.db"
    slow = NmsSimulator(CALM, state_path=state)
    try:
        async with serve(slow) as sim:
            await sim.faults(latency_min_s=30, latency_max_s=30)
            key = {"Idempotency-Key": "order-1/activation/1"}
            accepted = await sim.http.post(SERVICE, json=SERVICE_BODY, headers=key)
            assert accepted.json()["state"] == "inProgress"
            assert (await sim.stats())["jobs_in_progress"] == 1
    finally:
        slow.close()

    restarted = NmsSimulator(CALM, state_path=state)
    try:
        async with serve(restarted) as sim:
            response = await sim.nms.activate(activation())
            assert response.state == "completed"
            monitor = (await sim.http.get(accepted.json()["href"])).json()
            assert (monitor["state"], monitor["service"]["id"]) == (
                "completed",
                response.service_id,
            )
            stats = await sim.stats()
            assert (stats["activations"], stats["jobs_in_progress"]) == ({"order-1": 1}, 0)
    finally:
        restarted.close()


async def test_a_deactivation_in_progress_is_taken_up_after_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "nms.db"
    slow = NmsSimulator(CALM, state_path=state)
    try:
        async with serve(slow) as sim:
            assert (await sim.nms.activate(activation())).state == "completed"
            await sim.faults(latency_min_s=30, latency_max_s=30)
            key = {"Idempotency-Key": "order-1/deactivation/1"}
            accepted = await sim.http.post(SERVICE, json=TERMINATION_BODY, headers=key)
            assert accepted.json()["state"] == "inProgress"
    finally:
        slow.close()

    restarted = NmsSimulator(CALM, state_path=state)
    try:
        async with serve(restarted) as sim:
            assert (await sim.nms.deactivate(deactivation())).state == "completed"
            monitor = (await sim.http.get(accepted.json()["href"])).json()
            assert monitor["state"] == "completed"
            stats = await sim.stats()
            assert (stats["deactivations"], stats["active_services"]) == ({"order-1": 1}, 0)
    finally:
        restarted.close()
