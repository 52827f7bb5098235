"""The order's status rule and the construction job's states."""

from __future__ import annotations

import itertools

import pytest

from models.enums import (
    CannotCompleteReason,
    FollowUp,
    JobState,
    OrderStatus,
    SubTaskKind,
    SubTaskStatus,
)
from models.payloads import ConstructionJob, ConstructionReport, SubTaskOutcome
from models.status import (
    FOLLOW_UPS,
    JOB_TRANSITIONS,
    MAX_VISITS,
    ReportRejected,
    apply_report,
    check_report,
    decide_order_status,
    follow_up,
    open_order_status,
)

S = SubTaskStatus


def outcomes(construction: S, activation: S, quality: S) -> list[SubTaskOutcome]:
    return [
        SubTaskOutcome(kind=SubTaskKind.CONSTRUCTION, status=construction, reason="c"),
        SubTaskOutcome(kind=SubTaskKind.ACTIVATION, status=activation, reason="a"),
        SubTaskOutcome(kind=SubTaskKind.QUALITY_CHECK, status=quality, reason="q"),
    ]


def test_completed_only_when_all_three_succeeded() -> None:
    decision = decide_order_status(outcomes(S.SUCCEEDED, S.SUCCEEDED, S.SUCCEEDED))
    assert decision.status is OrderStatus.COMPLETED
    assert decision.reason is None


@pytest.mark.parametrize("combo", list(itertools.product(list(S), repeat=3)))
def test_every_combination_follows_the_rule(combo: tuple[S, S, S]) -> None:
    decision = decide_order_status(outcomes(*combo))
    if any(s in (S.FAILED, S.SKIPPED) for s in combo):
        assert decision.status is OrderStatus.FAILED
    elif S.WAITING_FOR_OPERATIONS in combo:
        assert decision.status is OrderStatus.WAITING_FOR_OPERATIONS
    elif all(s is S.SUCCEEDED for s in combo):
        assert decision.status is OrderStatus.COMPLETED
    else:
        assert decision.status is OrderStatus.IN_PROGRESS


def test_failure_reason_names_each_unsuccessful_sub_task() -> None:
    decision = decide_order_status(outcomes(S.FAILED, S.SUCCEEDED, S.SKIPPED))
    assert decision.reason == "construction failed: c; quality_check skipped: q"


def test_in_progress_says_what_it_waits_for() -> None:
    decision = decide_order_status(outcomes(S.SUCCEEDED, S.IN_PROGRESS, S.PENDING))
    assert decision.reason == "waiting for activation, quality_check"


def test_waiting_for_operations_says_which_and_why() -> None:
    decision = decide_order_status(outcomes(S.WAITING_FOR_OPERATIONS, S.SUCCEEDED, S.PENDING))
    assert decision.reason == "construction: c"


def test_order_of_outcomes_does_not_matter() -> None:
    given = outcomes(S.SUCCEEDED, S.FAILED, S.SKIPPED)
    assert decide_order_status(reversed(given)) == decide_order_status(given)


def test_an_open_order_waits_for_operations_while_any_sub_task_does() -> None:
    handed = [
        SubTaskOutcome(kind=SubTaskKind.ACTIVATION, status=S.WAITING_FOR_OPERATIONS, reason="x"),
        SubTaskOutcome(kind=SubTaskKind.CONSTRUCTION, status=S.WAITING_FOR_OPERATIONS),
        SubTaskOutcome(kind=SubTaskKind.QUALITY_CHECK, status=S.IN_PROGRESS, reason="q"),
    ]
    decision = open_order_status(handed)
    assert decision.status is OrderStatus.WAITING_FOR_OPERATIONS
    assert decision.reason == "construction; activation: x"  # in the sub-tasks' order


def test_an_open_order_without_waiting_sub_tasks_is_in_progress() -> None:
    decision = open_order_status(outcomes(S.IN_PROGRESS, S.SUCCEEDED, S.CANCELLED))
    assert decision.status is OrderStatus.IN_PROGRESS
    assert decision.reason == "waiting for construction, quality_check"
    assert open_order_status([]).reason is None


@pytest.mark.parametrize("combo", list(itertools.product(list(S), repeat=3)))
def test_the_open_status_is_the_order_status_of_an_order_nothing_failed(
    combo: tuple[S, S, S],
) -> None:
    decision = decide_order_status(outcomes(*combo))
    if decision.status in (OrderStatus.IN_PROGRESS, OrderStatus.WAITING_FOR_OPERATIONS):
        assert open_order_status(outcomes(*combo)) == decision


def test_missing_or_repeated_sub_task_is_an_error() -> None:
    with pytest.raises(ValueError, match="missing: quality_check"):
        decide_order_status(outcomes(S.SUCCEEDED, S.SUCCEEDED, S.SUCCEEDED)[:2])
    twice = [
        *outcomes(S.SUCCEEDED, S.SUCCEEDED, S.SUCCEEDED),
        SubTaskOutcome(kind=SubTaskKind.ACTIVATION, status=S.SUCCEEDED),
    ]
    with pytest.raises(ValueError, match="given twice"):
        decide_order_status(twice)


# The construction job ----------------------------------------------------------

ALLOWED = {
    (JobState.ASSIGNED, JobState.ACCEPTED),
    (JobState.ASSIGNED, JobState.CANNOT_COMPLETE),
    (JobState.ACCEPTED, JobState.EN_ROUTE),
    (JobState.ACCEPTED, JobState.ON_SITE),
    (JobState.ACCEPTED, JobState.CANNOT_COMPLETE),
    (JobState.EN_ROUTE, JobState.ON_SITE),
    (JobState.EN_ROUTE, JobState.CANNOT_COMPLETE),
    (JobState.ON_SITE, JobState.COMPLETED),
    (JobState.ON_SITE, JobState.CANNOT_COMPLETE),
}


def _report(state: JobState, technician: str = "tech-1") -> ConstructionReport:
    return ConstructionReport(
        technician_id=technician,
        state=state,
        ont_serial="HWTC0001" if state is JobState.COMPLETED else None,
        reason_code=CannotCompleteReason.CUSTOMER_ABSENT
        if state is JobState.CANNOT_COMPLETE
        else None,
    )


@pytest.mark.parametrize(("current", "reported"), list(itertools.product(list(JobState), repeat=2)))
def test_transition_table(current: JobState, reported: JobState) -> None:
    job = ConstructionJob(technician_id="tech-1", state=current)
    if (current, reported) in ALLOWED:
        check_report(job, _report(reported))
        assert apply_report(job, _report(reported)).state is reported
    else:
        with pytest.raises(ReportRejected) as raised:
            check_report(job, _report(reported))
        assert raised.value.code == "INVALID_TRANSITION"


def test_table_is_the_documented_one() -> None:
    assert {(a, b) for a, nexts in JOB_TRANSITIONS.items() for b in nexts} == ALLOWED


def test_report_before_assignment_or_by_another_technician_is_rejected() -> None:
    with pytest.raises(ReportRejected) as raised:
        check_report(None, _report(JobState.ACCEPTED))
    assert raised.value.code == "NOT_ASSIGNED"
    job = ConstructionJob(technician_id="tech-1")
    with pytest.raises(ReportRejected) as raised:
        check_report(job, _report(JobState.ACCEPTED, technician="tech-2"))
    assert raised.value.code == "NOT_ASSIGNED"


@pytest.mark.parametrize("serial", [None, "", "   "])
def test_completion_needs_the_terminal_serial(serial: str | None) -> None:
    job = ConstructionJob(technician_id="tech-1", state=JobState.ON_SITE)
    report = ConstructionReport(technician_id="tech-1", state=JobState.COMPLETED, ont_serial=serial)
    with pytest.raises(ReportRejected) as raised:
        check_report(job, report)
    assert raised.value.code == "MISSING_EVIDENCE"


def test_cannot_complete_needs_a_reason() -> None:
    job = ConstructionJob(technician_id="tech-1", state=JobState.ON_SITE)
    report = ConstructionReport(technician_id="tech-1", state=JobState.CANNOT_COMPLETE)
    with pytest.raises(ReportRejected) as raised:
        check_report(job, report)
    assert raised.value.code == "MISSING_EVIDENCE"


def test_apply_keeps_the_serial_and_reason() -> None:
    job = ConstructionJob(technician_id="tech-1", state=JobState.ON_SITE)
    done = apply_report(job, _report(JobState.COMPLETED))
    assert done.ont_serial == "HWTC0001"
    assert job.state is JobState.ON_SITE  # the original is unchanged


@pytest.mark.parametrize(
    ("reason", "visit", "expected"),
    [
        (CannotCompleteReason.TECHNICIAN_DECLINED, 1, FollowUp.REASSIGN),
        (CannotCompleteReason.CUSTOMER_ABSENT, 1, FollowUp.RESCHEDULE),
        (CannotCompleteReason.CUSTOMER_ABSENT, MAX_VISITS - 1, FollowUp.RESCHEDULE),
        (CannotCompleteReason.CUSTOMER_ABSENT, MAX_VISITS, FollowUp.OPERATIONS),
        (CannotCompleteReason.ACCESS_DENIED, 1, FollowUp.RESCHEDULE),
        (CannotCompleteReason.NO_FREE_PORT, 1, FollowUp.OPERATIONS),
        (CannotCompleteReason.NETWORK_FAULT, 1, FollowUp.OPERATIONS),
        (CannotCompleteReason.CUSTOMER_DECLINED, 1, FollowUp.FAIL),
        (CannotCompleteReason.OTHER, 1, FollowUp.OPERATIONS),
        (None, 1, FollowUp.OPERATIONS),
    ],
)
def test_follow_up_by_reason(
    reason: CannotCompleteReason | None, visit: int, expected: FollowUp
) -> None:
    assert follow_up(reason, visit) is expected


def test_every_reason_has_a_follow_up() -> None:
    assert set(FOLLOW_UPS) == set(CannotCompleteReason)
