"""The NMS simulator: idempotent activation and deactivation, refusals, measurements,
fixed faults and state that survives a restart."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.factories import activations, deactivations
from workorders.nms import (
    ActivationRequest,
    ActivationResponse,
    DeactivationRequest,
    DeactivationResponse,
    ErrorClass,
    NmsSimulator,
    NmsUnavailable,
    ServiceTestRequest,
    SimulatorConfig,
    classify,
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
    ont: int = 1,
    vlan: int = 100,
    profile: str = "FTTH-300M-G2",
) -> ActivationRequest:
    return ActivationRequest(
        idempotency_key=f"{order_id}/activation/{attempt}",
        order_id=order_id,
        olt_id=olt,
        pon_port=port,
        ont_id=ont,
        vlan=vlan,
        profile_name=profile,
    )


def deactivation(
    order_id: str = "order-1",
    *,
    attempt: int = 1,
    olt: str = "olt-a",
    port: int = 1,
    ont: int = 1,
) -> DeactivationRequest:
    return DeactivationRequest(
        idempotency_key=f"{order_id}/deactivation/{attempt}",
        order_id=order_id,
        olt_id=olt,
        pon_port=port,
        ont_id=ont,
    )


def service_test(
    order_id: str = "order-1",
    *,
    attempt: int = 1,
    olt: str = "olt-a",
    port: int = 1,
    ont: int = 1,
    server: str = "ts-1",
) -> ServiceTestRequest:
    return ServiceTestRequest(
        idempotency_key=f"{order_id}/quality_check/{attempt}",
        order_id=order_id,
        olt_id=olt,
        pon_port=port,
        ont_id=ont,
        test_server=server,
    )


def refused(response: ActivationResponse | DeactivationResponse, code: str) -> bool:
    return response.state == "failed" and response.error_code == code


def completed(response: ActivationResponse | DeactivationResponse) -> bool:
    return response.state == "completed" and response.error_code is None


# Activation --------------------------------------------------------------------------


async def test_a_repeated_key_repeats_the_answer_and_activates_once(make: Make) -> None:
    nms = make()
    first = await nms.activate(activation())
    again = await nms.activate(activation())
    assert first.state == "completed"
    assert first.service_id
    assert again == first
    assert activations(nms, "order-1") == 1
    assert nms.duplicate_activations() == 0
    # A new key is a new activation, and the counters say so.
    await nms.activate(activation(attempt=2))
    assert activations(nms, "order-1") == 2
    assert nms.duplicate_activations() == 1


async def test_a_slot_in_use_is_refused(make: Make) -> None:
    nms = make()
    assert completed(await nms.activate(activation("order-1", port=1, ont=1, vlan=100)))
    taken = await nms.activate(activation("order-2", port=1, ont=1, vlan=101))
    assert refused(taken, "ONT_ID_IN_USE")
    assert taken.message is not None
    assert "ONT id 1" in taken.message
    # The port is not in use, only its slot: another ONT id on it is free.
    assert completed(await nms.activate(activation("order-2", attempt=2, port=1, ont=2, vlan=101)))
    assert sorted(nms.active_services()) == [
        ("olt-a", 1, 1, 100, "order-1", "FTTH-300M-G2"),
        ("olt-a", 1, 2, 101, "order-2", "FTTH-300M-G2"),
    ]
    assert activations(nms, "order-2") == 1


async def test_orders_share_a_pon_port_each_on_its_own_ont_id(make: Make) -> None:
    nms = make()
    for ont in (1, 2, 3):
        request = activation(f"order-{ont}", port=5, ont=ont, vlan=100 + ont)
        assert completed(await nms.activate(request))
    assert sorted(s[:5] for s in nms.active_services()) == [
        ("olt-a", 5, 1, 101, "order-1"),
        ("olt-a", 5, 2, 102, "order-2"),
        ("olt-a", 5, 3, 103, "order-3"),
    ]
    # Each order's line is measured on its own slot, and only there.
    for ont in (1, 2, 3):
        own = await nms.run_service_test(service_test(f"order-{ont}", port=5, ont=ont))
        assert own.state == "completed"
    other = await nms.run_service_test(service_test("order-1", attempt=2, port=5, ont=2))
    assert other.error_code == "LINE_NOT_READY"


async def test_a_new_activation_of_the_order_moves_its_service(make: Make) -> None:
    nms = make()
    assert completed(await nms.activate(activation(port=1, ont=1, vlan=100)))
    # The order's own VLAN and port do not stand in its way.
    assert completed(await nms.activate(activation(attempt=2, port=1, ont=2, vlan=100)))
    assert nms.active_services() == [("olt-a", 1, 2, 100, "order-1", "FTTH-300M-G2")]
    # The slot it left is free again.
    assert completed(await nms.activate(activation("order-2", port=1, ont=1, vlan=101)))


async def test_a_vlan_in_use_on_the_port_is_refused(make: Make) -> None:
    nms = make()
    await nms.activate(activation("order-1", port=1, ont=1, vlan=100))
    taken = await nms.activate(activation("order-2", port=1, ont=2, vlan=100))
    assert refused(taken, "VLAN_TAKEN")
    # VLANs belong to a PON port: the same VLAN is free on another port of the OLT,
    # and on another OLT.
    same_olt = await nms.activate(activation("order-2", attempt=2, port=2, ont=2, vlan=100))
    assert completed(same_olt)
    other_olt = await nms.activate(activation("order-3", olt="olt-b", port=1, ont=1, vlan=100))
    assert completed(other_olt)
    assert sorted(s[:5] for s in nms.active_services()) == [
        ("olt-a", 1, 1, 100, "order-1"),
        ("olt-a", 2, 2, 100, "order-2"),
        ("olt-b", 1, 1, 100, "order-3"),
    ]


async def test_a_legacy_olt_knows_only_the_legacy_names(make: Make) -> None:
    legacy = make(replace(CALM, legacy_olt_rate=1.0))
    assert legacy.olt_is_legacy("olt-a")
    assert refused(await legacy.activate(activation(profile="FTTH-300M-G2")), "UNKNOWN_PROFILE")
    assert activations(legacy, "order-1") == 0
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
    assert activations(nms, "order-1") == 0


# Deactivation ------------------------------------------------------------------------


async def test_deactivation_ends_the_orders_service_and_frees_its_slot(make: Make) -> None:
    nms = make()
    assert completed(await nms.activate(activation("order-1", ont=1, vlan=100)))
    assert completed(await nms.activate(activation("order-2", ont=2, vlan=101)))
    ended = await nms.deactivate(deactivation("order-1", ont=1))
    assert (ended.state, ended.error_code, ended.message) == ("completed", None, None)
    assert deactivations(nms, "order-1") == 1
    assert nms.deactivations_per_order() == {"order-1": 1}
    # Only order-1's service ended; order-2's is untouched.
    assert [s[4] for s in nms.active_services()] == ["order-2"]
    gone = await nms.run_service_test(service_test("order-1"))
    assert gone.error_code == "LINE_NOT_READY"
    # The slot and its VLAN are free for another order.
    assert completed(await nms.activate(activation("order-3", ont=1, vlan=100)))
    assert activations(nms, "order-1") == 1
    assert nms.duplicate_activations() == 0


async def test_a_repeated_deactivation_key_repeats_the_answer_and_deactivates_once(
    make: Make,
) -> None:
    nms = make()
    await nms.activate(activation())
    first = await nms.deactivate(deactivation())
    assert first.state == "completed"
    assert await nms.deactivate(deactivation()) == first
    assert deactivations(nms, "order-1") == 1
    # Activated again, the service is not ended by the old key: it only repeats.
    assert completed(await nms.activate(activation(attempt=2)))
    assert await nms.deactivate(deactivation()) == first
    assert [s[4] for s in nms.active_services()] == ["order-1"]
    assert deactivations(nms, "order-1") == 1


async def test_deactivating_nothing_active_completes_and_says_so(make: Make) -> None:
    nms = make()
    never = await nms.deactivate(deactivation())
    assert (never.state, never.error_code) == ("completed", None)
    assert never.message is not None
    assert "nothing to deactivate" in never.message
    await nms.activate(activation())
    assert (await nms.deactivate(deactivation(attempt=2))).message is None
    already = await nms.deactivate(deactivation(attempt=3))
    assert already.state == "completed"
    assert already.message is not None
    assert "nothing to deactivate" in already.message
    # Only the deactivation that ended a service counts.
    assert deactivations(nms, "order-1") == 1


async def test_another_orders_service_is_not_deactivated(make: Make) -> None:
    nms = make()
    await nms.activate(activation("order-1"))
    refusal = await nms.deactivate(deactivation("order-2"))
    assert refused(refusal, "NOT_OWNER")
    assert refusal.message is not None
    assert "olt-a/1/1" in refusal.message
    assert classify("NOT_OWNER") is ErrorClass.PERMANENT
    assert [s[4] for s in nms.active_services()] == ["order-1"]
    assert deactivations(nms, "order-2") == 0
    # A slot used by a customer the work-order system does not know is not its either.
    outside = make(replace(CALM, port_conflict_rate=0.3))
    olt, port, ont = next(s for s in SLOTS if outside.slot_occupied_outside(*s))
    assert refused(await outside.deactivate(deactivation(olt=olt, port=port, ont=ont)), "NOT_OWNER")


async def test_a_reactivation_after_a_deactivation_counts_as_a_duplicate(make: Make) -> None:
    """``duplicate_activations`` counts activations only, whatever ended between them."""
    nms = make()
    await nms.activate(activation())
    await nms.deactivate(deactivation())
    assert completed(await nms.activate(activation(attempt=2)))
    assert activations(nms, "order-1") == 2
    assert nms.duplicate_activations() == 1


async def test_a_deactivation_during_an_outage_raises_and_changes_nothing(make: Make) -> None:
    nms = make()
    await nms.activate(activation())
    nms.config = replace(CALM, outage_rate=1.0)
    with pytest.raises(NmsUnavailable):
        await nms.deactivate(deactivation())
    assert [s[4] for s in nms.active_services()] == ["order-1"]
    assert deactivations(nms, "order-1") == 0
    # Nothing was remembered: the same key, retried, deactivates.
    nms.config = CALM
    assert completed(await nms.deactivate(deactivation()))
    assert nms.active_services() == []


async def test_a_deactivation_survives_a_restart(make: Make, tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    before = make(state_path=state)
    await before.activate(activation())
    first = await before.deactivate(deactivation())
    before.close()

    after = make(state_path=state)
    assert after.active_services() == []
    assert await after.deactivate(deactivation()) == first
    assert deactivations(after, "order-1") == 1


async def test_a_state_file_of_the_previous_version_can_deactivate(
    make: Make, tmp_path: Path
) -> None:
    """The previous version's file lacks only the index on a job's key."""
    state = tmp_path / "state.db"
    old = make(state_path=state)
    await old.activate(activation())
    old.close()
    with sqlite3.connect(state) as db:
        db.execute("DROP INDEX job_by_idempotency_key")
    new = make(state_path=state)
    assert completed(await new.deactivate(deactivation()))
    assert new.active_services() == []


# Service test ------------------------------------------------------------------------


async def test_a_line_is_not_ready_before_its_activation(make: Make) -> None:
    nms = make()
    early = await nms.run_service_test(service_test())
    assert (early.state, early.error_code) == ("failed", "LINE_NOT_READY")
    await nms.activate(activation())
    # Another order's line is not this order's line.
    stranger = await nms.run_service_test(service_test("order-2"))
    assert stranger.error_code == "LINE_NOT_READY"
    # Nor is another slot of the same port.
    neighbour = await nms.run_service_test(service_test(attempt=2, ont=2))
    assert neighbour.error_code == "LINE_NOT_READY"
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
SLOTS = [(olt, port, ont) for olt, port in PORTS for ont in range(1, 9)]
VLANS = range(100, 116)


def faults(nms: NmsSimulator) -> dict[str, list[bool]]:
    return {
        "occupied": [nms.slot_occupied_outside(o, p, t) for o, p, t in SLOTS],
        "faulty": [nms.port_faulty(o, p) for o, p in PORTS],
        "vlan": [nms.vlan_taken_outside(o, p, v) for o, p in PORTS for v in VLANS],
        "legacy": [nms.olt_is_legacy(o) for o in OLTS],
        "degraded": [nms.line_degraded(o, p, t) for o, p, t in SLOTS],
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


def test_slot_faults_differ_between_the_slots_of_a_port(make: Make) -> None:
    """Occupied slots and degraded lines belong to a slot, not to its whole port."""
    nms = make(FAULTY)
    for fault in (nms.slot_occupied_outside, nms.line_degraded):
        assert any(len({fault(o, p, t) for t in range(1, 9)}) == 2 for o, p in PORTS), (
            fault.__name__
        )


def test_vlan_faults_differ_between_the_ports_of_an_olt(make: Make) -> None:
    nms = make(FAULTY)
    assert any(
        len({nms.vlan_taken_outside(o, p, v) for p in range(1, 17)}) == 2
        for o in OLTS
        for v in VLANS
    )


async def test_a_slot_occupied_outside_is_refused(make: Make) -> None:
    nms = make(replace(CALM, port_conflict_rate=0.3))
    olt, port, ont = next(s for s in SLOTS if nms.slot_occupied_outside(*s))
    assert refused(await nms.activate(activation(olt=olt, port=port, ont=ont)), "ONT_ID_IN_USE")
    # The port's free slots are still usable.
    free = next(t for t in range(1, 65) if not nms.slot_occupied_outside(olt, port, t))
    assert completed(await nms.activate(activation(attempt=2, olt=olt, port=port, ont=free)))


async def test_a_faulty_port_refuses_every_slot(make: Make) -> None:
    nms = make(replace(CALM, faulty_port_rate=0.3))
    olt, port = next(p for p in PORTS if nms.port_faulty(*p))
    for ont in (1, 2, 64):
        request = activation(attempt=ont, olt=olt, port=port, ont=ont)
        assert refused(await nms.activate(request), "PORT_FAULTY")
    sound = next(p for p in range(1, 17) if not nms.port_faulty(olt, p))
    assert completed(await nms.activate(activation(attempt=99, olt=olt, port=sound)))
    assert activations(nms, "order-1") == 1


async def test_a_vlan_taken_outside_is_refused_on_that_port_only(make: Make) -> None:
    nms = make(replace(CALM, vlan_conflict_rate=0.3))
    olt, port, vlan = next(
        (o, p, v) for o, p in PORTS for v in VLANS if nms.vlan_taken_outside(o, p, v)
    )
    taken = await nms.activate(activation(olt=olt, port=port, vlan=vlan))
    assert refused(taken, "VLAN_TAKEN")
    other = next(p for p in range(1, 17) if not nms.vlan_taken_outside(olt, p, vlan))
    assert completed(await nms.activate(activation(attempt=2, olt=olt, port=other, vlan=vlan)))


@pytest.mark.parametrize(
    ("config", "code"),
    [
        (replace(CALM, faulty_port_rate=1.0, port_conflict_rate=1.0), "PORT_FAULTY"),
        (replace(CALM, port_conflict_rate=1.0, vlan_conflict_rate=1.0), "ONT_ID_IN_USE"),
        (replace(CALM, legacy_olt_rate=1.0, faulty_port_rate=1.0), "UNKNOWN_PROFILE"),
    ],
)
async def test_the_first_fault_checked_is_the_one_reported(
    make: Make, config: SimulatorConfig, code: str
) -> None:
    """Profile name, then the port, then the slot, then the VLAN."""
    assert refused(await make(config).activate(activation()), code)


async def test_a_faulty_port_is_reported_before_a_slot_held_by_another_order(
    make: Make, tmp_path: Path
) -> None:
    state = tmp_path / "state.db"
    calm = make(state_path=state)
    assert completed(await calm.activate(activation("order-1")))
    calm.close()
    faulty = make(replace(CALM, faulty_port_rate=1.0), state_path=state)
    assert refused(await faulty.activate(activation("order-2", vlan=101)), "PORT_FAULTY")


async def test_a_degraded_line_is_that_of_one_slot(make: Make) -> None:
    nms = make(replace(CALM, degraded_line_rate=0.5))
    olt, port = next(p for p in PORTS if len({nms.line_degraded(*p, t) for t in range(1, 9)}) == 2)
    bad = next(t for t in range(1, 9) if nms.line_degraded(olt, port, t))
    good = next(t for t in range(1, 9) if not nms.line_degraded(olt, port, t))
    for order_id, ont, vlan in (("order-bad", bad, 100), ("order-good", good, 101)):
        request = activation(order_id, olt=olt, port=port, ont=ont, vlan=vlan)
        assert completed(await nms.activate(request))
    low = await nms.run_service_test(service_test("order-bad", olt=olt, port=port, ont=bad))
    high = await nms.run_service_test(service_test("order-good", olt=olt, port=port, ont=good))
    assert low.download_mbps is not None
    assert high.download_mbps is not None
    assert low.download_mbps <= 300 * 0.995 * 0.5 + 0.05
    assert high.download_mbps >= 300 * 0.93 - 0.05


async def test_state_survives_a_restart(make: Make, tmp_path: Path) -> None:
    state = tmp_path / "nms" / "state.db"
    before = make(state_path=state)
    first = await before.activate(activation())
    before.close()

    after = make(state_path=state)
    assert await after.activate(activation()) == first
    assert activations(after, "order-1") == 1
    assert [s[4] for s in after.active_services()] == ["order-1"]
    assert refused(await after.activate(activation("order-2", vlan=101)), "ONT_ID_IN_USE")
    assert completed(await after.activate(activation("order-2", attempt=2, ont=2, vlan=101)))
    assert (await after.run_service_test(service_test())).state == "completed"
