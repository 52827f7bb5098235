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
) -> Region:
    """A small region: by default two OLTs of four ports each."""
    return Region(
        code="test",
        name="Test District",
        postcode_prefixes=["999"],
        vlan_range=vlans,
        test_servers=list(servers),
        olts=[Olt(id=i, pon_ports=n) for i, n in (olts or {"olt-a": 4, "olt-b": 4}).items()],
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


# Activation ----------------------------------------------------------------------


def test_first_plan_is_deterministic_and_inside_the_region() -> None:
    where = region()
    first = plan("order-1", where, [])
    assert plan("order-1", where, []) == first
    assert first.olt_id in ("olt-a", "olt-b")
    assert 1 <= first.pon_port <= 4
    assert 100 <= first.vlan <= 109
    assert (first.profile, first.nms_profile_name) == ("FTTH_300_100", "FTTH-300M-G2")


def test_orders_spread_over_the_ports() -> None:
    where = region()
    chosen = {(p.olt_id, p.pon_port) for p in (plan(f"order-{i}", where, []) for i in range(40))}
    assert len(chosen) > 1


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


@pytest.mark.parametrize("code", ["PORT_IN_USE", "PORT_FAULTY"])
def test_a_refused_port_is_not_chosen_again(code: str) -> None:
    where = region()
    history: list[PastAttempt] = []
    tried: set[tuple[str, int]] = set()
    for _ in range(8):
        data = plan("order-1", where, history)
        assert (data.olt_id, data.pon_port) not in tried
        tried.add((data.olt_id, data.pon_port))
        history = refused(history, data, code)
    assert len(tried) == 8
    assert plan_activation("order-1", where, PROFILE, history) is None


def test_a_taken_vlan_is_not_reused_on_that_olt() -> None:
    where = region()
    first = plan("order-1", where, [])
    second = plan("order-1", where, refused([], first, "VLAN_TAKEN"))
    assert (second.olt_id, second.pon_port) == (first.olt_id, first.pon_port)
    assert second.vlan != first.vlan
    assert 100 <= second.vlan <= 109


def test_a_vlan_taken_on_one_olt_is_still_free_on_another() -> None:
    where = region(vlans=(100, 100))
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
    assert (second.olt_id, second.pon_port, second.vlan) == (
        first.olt_id,
        first.pon_port,
        first.vlan,
    )
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


def test_every_port_refused_leaves_nothing_to_try() -> None:
    where = region(olts={"olt-a": 2})
    tried = ActivationData(
        olt_id="olt-a", pon_port=1, vlan=100, profile=PROFILE.name, nms_profile_name="FTTH_300_100"
    )
    history = [
        past(1, tried, FAILED, "PORT_IN_USE"),
        past(2, tried.model_copy(update={"pon_port": 2, "vlan": 101}), FAILED, "PORT_FAULTY"),
    ]
    assert plan_activation("order-1", where, PROFILE, history) is None


def test_activated_data_is_that_of_the_succeeded_attempt() -> None:
    where = region()
    first = plan("order-1", where, [])
    history = refused([], first, "PORT_IN_USE")
    second = plan("order-1", where, history)
    history = [past(2, second, SUCCEEDED), *history]  # the order of rows does not matter
    assert activated_data(history) == second
    assert activated_data(history[1:]) is None
    assert activated_data([]) is None


# Quality check ---------------------------------------------------------------------

ACTIVATED = ActivationData(
    olt_id="olt-a", pon_port=3, vlan=104, profile="FTTH_500_200", nms_profile_name="FTTH_500_200"
)


def check(history: list[PastAttempt], where: Region | None = None) -> QualityCheckData:
    return plan_quality_check("order-1", where or region(), ACTIVATED, FASTER, history)


def test_the_check_expects_the_speed_of_the_activated_profile() -> None:
    data = check([])
    assert (data.olt_id, data.pon_port) == ("olt-a", 3)
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
