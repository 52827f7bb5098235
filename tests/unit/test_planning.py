"""Planning a sub-task's data from the order's history (workorders.planning)."""

from __future__ import annotations

import pytest

from models.enums import AttemptOutcome, ServiceType
from models.payloads import ActivationData, Measures, QualityCheckData
from workorders.planning import (
    PastAttempt,
    activated_data,
    evaluate,
    plan_activation,
    plan_quality_check,
)
from workorders.reference import Olt, Profile, Region

FAILED, SUCCEEDED = AttemptOutcome.FAILED, AttemptOutcome.SUCCEEDED

PROFILE = Profile(
    name="FTTH_300_100",
    service_type=ServiceType.FTTH,
    download_mbps=300,
    upload_mbps=100,
    nms_names=["FTTH-300M-G2", "FTTH_300_100"],
)
FASTER = Profile(
    name="FTTH_500_200",
    service_type=ServiceType.FTTH,
    download_mbps=500,
    upload_mbps=200,
    nms_names=["FTTH-500M-G2", "FTTH_500_200"],
)


def region(
    olts: dict[str, int] | None = None,
    vlans: tuple[int, int] = (100, 109),
    servers: tuple[str, ...] = ("ts-1", "ts-2", "ts-3"),
    onts: int = 64,
) -> Region:
    """A small region: by default two OLTs of four ports each, 64 ONT ids a port."""
    return Region(
        code="test",
        name="Test District",
        postcode_prefixes=["999"],
        vlan_range=vlans,
        test_servers=list(servers),
        olts=[
            Olt(id=i, pon_ports=n, onts_per_port=onts)
            for i, n in (olts or {"olt-a": 4, "olt-b": 4}).items()
        ],
    )


def past(
    attempt: int,
    data: ActivationData | QualityCheckData,
    outcome: AttemptOutcome,
    code: str | None = None,
) -> PastAttempt:
    return PastAttempt(attempt=attempt, data=data.model_dump(), outcome=outcome, error_code=code)


def refused(history: list[PastAttempt], data: ActivationData, code: str) -> list[PastAttempt]:
    """The history with one more attempt, which ``data`` failed with ``code``."""
    return [*history, past(len(history) + 1, data, FAILED, code)]


def plan(order_id: str, where: Region, history: list[PastAttempt]) -> ActivationData:
    data = plan_activation(order_id, where, PROFILE, history)
    assert data is not None, "expected a plan, the planner gave up"
    return data


def slot(data: ActivationData) -> tuple[str, int, int]:
    return data.olt_id, data.pon_port, data.ont_id


def tried(
    olt: str = "olt-a", port: int = 1, ont: int = 1, vlan: int = 100, name: str = "FTTH_300_100"
) -> ActivationData:
    """Activation data as an earlier attempt sent it."""
    return ActivationData(
        olt_id=olt,
        pon_port=port,
        ont_id=ont,
        vlan=vlan,
        profile=PROFILE.name,
        nms_profile_name=name,
    )


# Activation ----------------------------------------------------------------------


def test_first_plan_is_deterministic_and_inside_the_region() -> None:
    where = region()
    first = plan("order-1", where, [])
    assert plan("order-1", where, []) == first
    assert first.olt_id in ("olt-a", "olt-b")
    assert 1 <= first.pon_port <= 4
    assert 1 <= first.ont_id <= 64
    assert 100 <= first.vlan <= 109
    assert (first.profile, first.nms_profile_name) == ("FTTH_300_100", "FTTH-300M-G2")


def test_the_ont_id_stays_within_the_olts_onts_per_port() -> None:
    where = region(onts=2)
    assert {plan(f"order-{i}", where, []).ont_id for i in range(40)} == {1, 2}


def test_orders_spread_over_the_ports_and_their_slots() -> None:
    where = region()
    plans = [plan(f"order-{i}", where, []) for i in range(40)]
    assert len({(p.olt_id, p.pon_port) for p in plans}) > 1
    assert len({slot(p) for p in plans}) > 1
    # On a single port, orders still spread over its ONT ids.
    one_port = region(olts={"olt-a": 1})
    assert len({plan(f"order-{i}", one_port, []).ont_id for i in range(40)}) > 1


@pytest.mark.parametrize(
    ("outcome", "code"),
    [(FAILED, "NMS_UNAVAILABLE"), (FAILED, "TEST_SERVER_BUSY"), (AttemptOutcome.PENDING, None)],
)
def test_an_attempt_that_says_nothing_about_the_data_keeps_it(
    outcome: AttemptOutcome, code: str | None
) -> None:
    where = region()
    first = plan("order-1", where, [])
    assert plan("order-1", where, [past(1, first, outcome, code)]) == first


def test_the_old_port_in_use_code_says_nothing_about_the_data() -> None:
    """``PORT_IN_USE`` is no longer a code the NMS gives: it revises nothing."""
    where = region()
    first = plan("order-1", where, [])
    assert plan("order-1", where, refused([], first, "PORT_IN_USE")) == first


def test_an_ont_id_in_use_skips_only_that_slot() -> None:
    where = region()
    first = plan("order-1", where, [])
    assert first.ont_id < 64, "the test wants a first slot that is not the port's last"
    second = plan("order-1", where, refused([], first, "ONT_ID_IN_USE"))
    # The port's other slots are still free: the next plan stays on the port.
    assert (second.olt_id, second.pon_port) == (first.olt_id, first.pon_port)
    assert second.ont_id != first.ont_id
    # Only the slot was in use: the VLAN and the profile name are kept.
    assert (second.vlan, second.nms_profile_name) == (first.vlan, first.nms_profile_name)


def test_an_ont_id_in_use_on_the_only_port_moves_to_another_ont_id() -> None:
    where = region(olts={"olt-a": 1})
    first = plan("order-1", where, [])
    second = plan("order-1", where, refused([], first, "ONT_ID_IN_USE"))
    assert (second.olt_id, second.pon_port) == ("olt-a", 1)
    assert second.ont_id != first.ont_id


def test_a_slot_in_use_is_not_chosen_again() -> None:
    where = region(olts={"olt-a": 2}, onts=3)
    history: list[PastAttempt] = []
    seen: set[tuple[str, int, int]] = set()
    for _ in range(6):
        data = plan("order-1", where, history)
        assert slot(data) not in seen
        seen.add(slot(data))
        history = refused(history, data, "ONT_ID_IN_USE")
    assert seen == {("olt-a", port, ont) for port in (1, 2) for ont in (1, 2, 3)}
    assert plan_activation("order-1", where, PROFILE, history) is None


def test_a_faulty_port_is_not_chosen_again_for_any_of_its_slots() -> None:
    where = region()
    history: list[PastAttempt] = []
    ports: set[tuple[str, int]] = set()
    for _ in range(8):
        data = plan("order-1", where, history)
        assert (data.olt_id, data.pon_port) not in ports
        ports.add((data.olt_id, data.pon_port))
        history = refused(history, data, "PORT_FAULTY")
    assert len(ports) == 8
    # One refusal per port was enough: none of the 512 slots is left.
    assert plan_activation("order-1", where, PROFILE, history) is None


def test_a_faulty_port_moves_to_another_port_though_its_other_slots_were_free() -> None:
    where = region(olts={"olt-a": 2}, onts=2)
    first = plan("order-1", where, [])
    second = plan("order-1", where, refused([], first, "PORT_FAULTY"))
    assert second.olt_id == "olt-a"
    assert second.pon_port != first.pon_port


@pytest.mark.parametrize(("code", "refusals"), [("ONT_ID_IN_USE", 2), ("PORT_FAULTY", 1)])
def test_a_tiny_region_is_exhausted(code: str, refusals: int) -> None:
    """One OLT, one port, two ONT ids: two slots in use, or one faulty port, end it."""
    where = region(olts={"olt-a": 1}, onts=2)
    history: list[PastAttempt] = []
    for _ in range(refusals):
        history = refused(history, plan("order-1", where, history), code)
    assert plan_activation("order-1", where, PROFILE, history) is None


def test_every_slot_refused_leaves_nothing_to_try() -> None:
    where = region(olts={"olt-a": 2}, onts=2)
    history = [
        past(1, tried(port=1, ont=1, vlan=100), FAILED, "ONT_ID_IN_USE"),
        past(2, tried(port=2, ont=2, vlan=101), FAILED, "PORT_FAULTY"),
    ]
    # Port 2 is faulty and port 1's first slot in use: only (olt-a, 1, 2) is left.
    assert slot(plan("order-1", where, history)) == ("olt-a", 1, 2)
    history.append(past(3, tried(port=1, ont=2, vlan=102), FAILED, "ONT_ID_IN_USE"))
    assert plan_activation("order-1", where, PROFILE, history) is None


def test_a_taken_vlan_is_not_reused_on_that_port() -> None:
    where = region()
    first = plan("order-1", where, [])
    second = plan("order-1", where, refused([], first, "VLAN_TAKEN"))
    assert slot(second) == slot(first)
    assert second.vlan != first.vlan
    assert 100 <= second.vlan <= 109


def test_a_taken_vlan_is_avoided_on_every_slot_of_the_port() -> None:
    where = region(olts={"olt-a": 1}, onts=4)
    history: list[PastAttempt] = []
    first = plan("order-1", where, history)
    history = refused(history, first, "VLAN_TAKEN")
    second = plan("order-1", where, history)
    history = refused(history, second, "ONT_ID_IN_USE")
    third = plan("order-1", where, history)
    assert slot(second) == slot(first)
    assert slot(third) != slot(first)
    # The VLAN is taken on the port, not on the slot: the new slot avoids it too, and
    # keeps the VLAN the slot in use did not refuse.
    assert third.vlan != first.vlan
    assert third.vlan == second.vlan


def test_a_vlan_taken_on_one_port_is_still_free_on_another_port_of_the_olt() -> None:
    where = region(olts={"olt-a": 2}, vlans=(100, 100))
    first = plan("order-1", where, [])
    second = plan("order-1", where, refused([], first, "VLAN_TAKEN"))
    # The only VLAN is taken on that port, so none of its slots is usable; the
    # other port of the same OLT may use it.
    assert second.olt_id == first.olt_id == "olt-a"
    assert second.pon_port != first.pon_port
    assert second.vlan == first.vlan == 100
    third = refused(refused([], first, "VLAN_TAKEN"), second, "VLAN_TAKEN")
    assert plan_activation("order-1", where, PROFILE, third) is None


def test_a_vlan_taken_on_one_olt_is_still_free_on_another() -> None:
    where = region(olts={"olt-a": 1, "olt-b": 1}, vlans=(100, 100))
    first = plan("order-1", where, [])
    second = plan("order-1", where, refused([], first, "VLAN_TAKEN"))
    assert second.olt_id != first.olt_id
    assert second.vlan == first.vlan == 100


def test_an_unknown_profile_name_moves_to_the_next_name() -> None:
    where = region()
    history: list[PastAttempt] = []
    first = plan("order-1", where, history)
    history = refused(history, first, "UNKNOWN_PROFILE")
    second = plan("order-1", where, history)
    assert second.nms_profile_name == "FTTH_300_100"
    assert (slot(second), second.vlan) == (slot(first), first.vlan)
    # The OLT knows neither name: another OLT may know the first one.
    third = plan("order-1", where, refused(history, second, "UNKNOWN_PROFILE"))
    assert third.olt_id != first.olt_id
    assert third.nms_profile_name == "FTTH-300M-G2"


def test_a_name_unknown_on_the_only_olt_leaves_nothing_to_try() -> None:
    where = region(olts={"olt-a": 2})
    history: list[PastAttempt] = []
    for _ in PROFILE.nms_names:
        history = refused(history, plan("order-1", where, history), "UNKNOWN_PROFILE")
    assert plan_activation("order-1", where, PROFILE, history) is None


def test_the_name_that_last_worked_on_the_olt_comes_first() -> None:
    where = region()
    first = plan("order-1", where, [])
    working = {first.olt_id: "FTTH_300_100"}
    reused = plan_activation("order-1", where, PROFILE, [], working)
    assert reused is not None
    assert reused.nms_profile_name == "FTTH_300_100"
    assert slot(reused) == slot(first)
    # A name it knows for another OLT, or a name of another profile, changes nothing.
    other = {"olt-elsewhere": "FTTH_300_100", first.olt_id: "FTTH-500M-G2"}
    assert plan_activation("order-1", where, PROFILE, [], other) == first
    # Refused for this order all the same: the next name.
    refused_too = refused([], reused, "UNKNOWN_PROFILE")
    again = plan_activation("order-1", where, PROFILE, refused_too, working)
    assert again is not None
    assert again.nms_profile_name == "FTTH-300M-G2"


def test_activated_data_is_that_of_the_succeeded_attempt() -> None:
    where = region()
    first = plan("order-1", where, [])
    history = refused([], first, "ONT_ID_IN_USE")
    second = plan("order-1", where, history)
    history = [past(2, second, SUCCEEDED), *history]  # the order of rows does not matter
    assert activated_data(history) == second
    assert activated_data(history[1:]) is None
    assert activated_data([]) is None


# Quality check ---------------------------------------------------------------------

ACTIVATED = ActivationData(
    olt_id="olt-a",
    pon_port=3,
    ont_id=17,
    vlan=104,
    profile="FTTH_500_200",
    nms_profile_name="FTTH_500_200",
)


def check(history: list[PastAttempt], where: Region | None = None) -> QualityCheckData:
    return plan_quality_check("order-1", where or region(), ACTIVATED, FASTER, history)


def test_the_check_expects_the_speed_of_the_activated_profile() -> None:
    data = check([])
    assert (data.olt_id, data.pon_port, data.ont_id) == ("olt-a", 3, 17)
    assert data.profile == "FTTH_500_200"
    assert (data.expected_download_mbps, data.expected_upload_mbps) == (500, 200)
    assert data.test_server in ("ts-1", "ts-2", "ts-3")
    assert check([]) == data


def test_servers_that_have_not_failed_come_first() -> None:
    history: list[PastAttempt] = []
    tried: list[str] = []
    for attempt in range(1, 4):
        data = check(history)
        tried.append(data.test_server)
        history.append(past(attempt, data, FAILED, "SPEED_BELOW_THRESHOLD"))
    assert sorted(tried) == ["ts-1", "ts-2", "ts-3"]


def test_when_every_server_failed_the_least_recently_failed_is_tried() -> None:
    history: list[PastAttempt] = []
    for attempt, server in enumerate(["ts-2", "ts-3", "ts-1"], start=1):
        data = check([]).model_copy(update={"test_server": server})
        history.append(past(attempt, data, FAILED, "TEST_SERVER_BUSY"))
    assert check(history).test_server == "ts-2"
    data = check([]).model_copy(update={"test_server": "ts-2"})
    history.append(past(4, data, FAILED, "TEST_SERVER_BUSY"))
    assert check(history).test_server == "ts-3"


def test_a_server_that_succeeded_does_not_count_as_failed() -> None:
    first = check([])
    history = [past(1, first, SUCCEEDED)]
    assert check(history).test_server == first.test_server


# Evaluation ------------------------------------------------------------------------

THRESHOLDS = QualityCheckData(
    olt_id="olt-a",
    pon_port=3,
    ont_id=17,
    profile="FTTH_300_100",
    test_server="ts-1",
    expected_download_mbps=300,
    expected_upload_mbps=100,
)
GOOD = Measures(download_mbps=290.5, upload_mbps=97.0, latency_ms=5.0, jitter_ms=1.0, loss_pct=0.05)


def test_good_measures_pass() -> None:
    assert evaluate(THRESHOLDS, GOOD) == (None, None)


def test_measures_exactly_at_the_thresholds_pass() -> None:
    edge = Measures(
        download_mbps=270.0, upload_mbps=90.0, latency_ms=20.0, jitter_ms=5.0, loss_pct=0.5
    )
    assert evaluate(THRESHOLDS, edge) == (None, None)


@pytest.mark.parametrize(
    "change", [{"download_mbps": 269.9}, {"upload_mbps": 89.9}, {"download_mbps": 150.0}]
)
def test_low_speed_is_flagged(change: dict[str, float]) -> None:
    code, message = evaluate(THRESHOLDS, GOOD.model_copy(update=change))
    assert code == "SPEED_BELOW_THRESHOLD"
    assert message is not None
    assert "300/100" in message


@pytest.mark.parametrize(
    ("field", "value"), [("latency_ms", 20.1), ("jitter_ms", 5.5), ("loss_pct", 1.2)]
)
def test_poor_quality_is_flagged(field: str, value: float) -> None:
    code, message = evaluate(THRESHOLDS, GOOD.model_copy(update={field: value}))
    assert code == "QUALITY_BELOW_THRESHOLD"
    assert message == f"{field} {value} over {getattr(THRESHOLDS, 'max_' + field)}"


def test_every_quality_problem_is_named() -> None:
    poor = GOOD.model_copy(update={"latency_ms": 45.0, "loss_pct": 2.0})
    code, message = evaluate(THRESHOLDS, poor)
    assert code == "QUALITY_BELOW_THRESHOLD"
    assert message == "latency_ms 45.0 over 20.0; loss_pct 2.0 over 0.5"
