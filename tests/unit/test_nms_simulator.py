"""The NMS simulator: idempotent activation, refusals, measurements, fixed faults and
state that survives a restart."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from workorders.nms import (
    ActivationRequest,
    ActivationResponse,
    NmsSimulator,
    NmsUnavailable,
    ServiceTestRequest,
    SimulatorConfig,
)

PROFILES = {
    "FTTH-300M-G2": (300, 100),
    "FTTH_300_100": (300, 100),
    "FTTH-1G-G2": (1000, 500),
    "FTTH_1000_500": (1000, 500),
}
CALM = SimulatorConfig(
    seed=7, profiles=PROFILES, legacy_names=frozenset({"FTTH_300_100", "FTTH_1000_500"})
)
"""A network with no faults at all; tests switch on the one they are about."""

Make = Callable[..., NmsSimulator]


@pytest.fixture
def make() -> Iterator[Make]:
    """Builds simulators and closes them after the test."""
    made: list[NmsSimulator] = []

    def build(config: SimulatorConfig = CALM, state_path: Path | None = None) -> NmsSimulator:
        simulator = NmsSimulator(config, state_path)
        made.append(simulator)
        return simulator

    yield build
    for simulator in made:
        simulator.close()


def activation(
    order_id: str = "order-1",
    *,
    attempt: int = 1,
    olt: str = "olt-a",
    port: int = 1,
    vlan: int = 100,
    profile: str = "FTTH-300M-G2",
) -> ActivationRequest:
    return ActivationRequest(
        idempotency_key=f"{order_id}/activation/{attempt}",
        order_id=order_id,
        olt_id=olt,
        pon_port=port,
        vlan=vlan,
        profile_name=profile,
    )


def service_test(
    order_id: str = "order-1",
    *,
    attempt: int = 1,
    olt: str = "olt-a",
    port: int = 1,
    server: str = "ts-1",
) -> ServiceTestRequest:
    return ServiceTestRequest(
        idempotency_key=f"{order_id}/quality_check/{attempt}",
        order_id=order_id,
        olt_id=olt,
        pon_port=port,
        test_server=server,
    )


def refused(response: ActivationResponse, code: str) -> bool:
    return response.state == "failed" and response.error_code == code


# Activation --------------------------------------------------------------------------


async def test_a_repeated_key_repeats_the_answer_and_activates_once(make: Make) -> None:
    nms = make()
    first = await nms.activate(activation())
    again = await nms.activate(activation())
    assert first.state == "completed"
    assert first.service_id
    assert again == first
    assert nms.activation_count("order-1") == 1
    assert nms.duplicate_activations() == 0
    # A new key is a new activation, and the counters say so.
    await nms.activate(activation(attempt=2))
    assert nms.activation_count("order-1") == 2
    assert nms.duplicate_activations() == 1


async def test_a_port_in_use_is_refused(make: Make) -> None:
    nms = make()
    assert (await nms.activate(activation("order-1", port=1, vlan=100))).state == "completed"
    taken = await nms.activate(activation("order-2", port=1, vlan=101))
    assert refused(taken, "PORT_IN_USE")
    assert (await nms.activate(activation("order-2", attempt=2, port=2, vlan=101))).state == (
        "completed"
    )
    assert sorted(s[:4] for s in nms.active_services()) == [
        ("olt-a", 1, 100, "order-1"),
        ("olt-a", 2, 101, "order-2"),
    ]
    assert nms.activation_count("order-2") == 1


async def test_a_vlan_in_use_on_the_olt_is_refused(make: Make) -> None:
    nms = make()
    await nms.activate(activation("order-1", port=1, vlan=100))
    taken = await nms.activate(activation("order-2", port=2, vlan=100))
    assert refused(taken, "VLAN_TAKEN")
    # VLANs belong to an OLT: the same VLAN is free on another one.
    other = await nms.activate(activation("order-2", attempt=2, olt="olt-b", port=2, vlan=100))
    assert other.state == "completed"


async def test_a_legacy_olt_knows_only_the_legacy_names(make: Make) -> None:
    legacy = make(replace(CALM, legacy_olt_rate=1.0))
    assert legacy.olt_is_legacy("olt-a")
    assert refused(await legacy.activate(activation(profile="FTTH-300M-G2")), "UNKNOWN_PROFILE")
    assert legacy.activation_count("order-1") == 0
    known = await legacy.activate(activation(attempt=2, profile="FTTH_300_100"))
    assert known.state == "completed"

    current = make()
    assert not current.olt_is_legacy("olt-a")
    assert (await current.activate(activation(profile="FTTH-300M-G2"))).state == "completed"


async def test_a_name_no_olt_knows_is_refused(make: Make) -> None:
    nms = make()
    assert refused(await nms.activate(activation(profile="FTTH-10G")), "UNKNOWN_PROFILE")


async def test_an_outage_raises_and_changes_nothing(make: Make) -> None:
    nms = make(replace(CALM, outage_rate=1.0))
    with pytest.raises(NmsUnavailable):
        await nms.activate(activation())
    with pytest.raises(NmsUnavailable):
        await nms.run_service_test(service_test())
    assert nms.active_services() == []
    assert nms.activation_count("order-1") == 0


# Service test ------------------------------------------------------------------------


async def test_a_line_is_not_ready_before_its_activation(make: Make) -> None:
    nms = make()
    early = await nms.run_service_test(service_test())
    assert (early.state, early.error_code) == ("failed", "LINE_NOT_READY")
    await nms.activate(activation())
    # Another order's line is not this order's line.
    stranger = await nms.run_service_test(service_test("order-2"))
    assert stranger.error_code == "LINE_NOT_READY"
    # The early answer was not kept: the same key now measures the line.
    assert (await nms.run_service_test(service_test())).state == "completed"


@pytest.mark.parametrize(
    ("profile", "speed"), [("FTTH-300M-G2", (300, 100)), ("FTTH_1000_500", (1000, 500))]
)
async def test_measures_follow_the_activated_profile(
    make: Make, profile: str, speed: tuple[int, int]
) -> None:
    nms = make()
    await nms.activate(activation(profile=profile))
    measured = await nms.run_service_test(service_test())
    assert measured.state == "completed"
    assert measured.error_code is None
    down, up = speed
    # Documented ranges: 93 to 99.5 % of the profile, 2-8 ms latency, 0.2-2 ms
    # jitter, at most 0.1 % loss (rounded to 0.1 Mbps, 0.01 ms, 0.001 %).
    assert measured.download_mbps is not None
    assert measured.upload_mbps is not None
    assert down * 0.93 - 0.05 <= measured.download_mbps <= down * 0.995 + 0.05
    assert up * 0.93 - 0.05 <= measured.upload_mbps <= up * 0.995 + 0.05
    assert measured.latency_ms is not None
    assert 2 <= measured.latency_ms <= 8
    assert measured.jitter_ms is not None
    assert 0.2 <= measured.jitter_ms <= 2
    assert measured.loss_pct is not None
    assert 0 <= measured.loss_pct <= 0.1
    assert await nms.run_service_test(service_test()) == measured


async def test_a_degraded_line_measures_low(make: Make) -> None:
    nms = make(replace(CALM, degraded_line_rate=1.0))
    await nms.activate(activation())
    measured = await nms.run_service_test(service_test())
    assert measured.download_mbps is not None
    assert measured.download_mbps <= 300 * 0.995 * 0.5 + 0.05
    assert measured.loss_pct is not None
    assert measured.loss_pct >= 1


async def test_a_busy_test_server_is_refused(make: Make) -> None:
    nms = make(replace(CALM, busy_server_rate=1.0))
    await nms.activate(activation())
    busy = await nms.run_service_test(service_test())
    assert (busy.state, busy.error_code) == ("failed", "TEST_SERVER_BUSY")


# Fixed faults and state ----------------------------------------------------------------

FAULTY = replace(
    CALM,
    port_conflict_rate=0.3,
    faulty_port_rate=0.3,
    vlan_conflict_rate=0.3,
    legacy_olt_rate=0.5,
    degraded_line_rate=0.3,
)
OLTS = [f"olt-{i}" for i in range(20)]
PORTS = [(olt, port) for olt in OLTS for port in range(1, 17)]


def faults(nms: NmsSimulator) -> dict[str, list[bool]]:
    return {
        "occupied": [nms.port_occupied_outside(o, p) for o, p in PORTS],
        "faulty": [nms.port_faulty(o, p) for o, p in PORTS],
        "vlan": [nms.vlan_taken_outside(o, v) for o in OLTS for v in range(100, 116)],
        "legacy": [nms.olt_is_legacy(o) for o in OLTS],
        "degraded": [nms.line_degraded(o, p) for o, p in PORTS],
    }


def test_the_same_seed_gives_the_same_faults(make: Make) -> None:
    seen = faults(make(FAULTY))
    assert faults(make(FAULTY)) == seen
    for kind, flags in seen.items():
        assert any(flags), kind
        assert not all(flags), kind
    assert faults(make(replace(FAULTY, seed=FAULTY.seed + 1))) != seen
    calm = faults(make())
    assert not any(flag for flags in calm.values() for flag in flags)


async def test_a_port_occupied_outside_is_refused(make: Make) -> None:
    nms = make(replace(CALM, port_conflict_rate=0.3))
    olt, port = next((o, p) for o, p in PORTS if nms.port_occupied_outside(o, p))
    assert refused(await nms.activate(activation(olt=olt, port=port)), "PORT_IN_USE")


async def test_state_survives_a_restart(make: Make, tmp_path: Path) -> None:
    state = tmp_path / "nms" / "state.db"
    before = make(state_path=state)
    first = await before.activate(activation())
    before.close()

    after = make(state_path=state)
    assert await after.activate(activation()) == first
    assert after.activation_count("order-1") == 1
    assert [s[3] for s in after.active_services()] == ["order-1"]
    assert refused(await after.activate(activation("order-2", vlan=101)), "PORT_IN_USE")
    assert (await after.run_service_test(service_test())).state == "completed"
