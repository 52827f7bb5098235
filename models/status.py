"""The rules of the order: its completion status and the construction job's states.

Pure functions over payloads, used by the workflow and tested on their own.
"""

from __future__ import annotations

from collections.abc import Iterable

from models.enums import (
    CannotCompleteReason,
    FollowUp,
    JobState,
    OrderStatus,
    SubTaskKind,
    SubTaskStatus,
)
from models.payloads import (
    CancelOrder,
    ConstructionJob,
    ConstructionReport,
    DeactivateResourcesResult,
    OrderDecision,
    SubTaskOutcome,
)


def decide_order_status(outcomes: Iterable[SubTaskOutcome]) -> OrderDecision:
    """Decide a work order's status from its three sub-task outcomes.

    The rule: the order is ``completed`` only when construction, activation and the
    quality check all succeeded; ``failed`` as soon as any of them failed or was
    skipped, with a reason naming each such sub-task; ``waiting_for_operations`` while
    one of them waits for an operator; otherwise ``in_progress``. A cancelled order's
    status is :func:`decide_cancelled_status`'s.

    Raises:
        ValueError: a sub-task is missing or given twice.
    """
    by_kind: dict[SubTaskKind, SubTaskOutcome] = {}
    for outcome in outcomes:
        if outcome.kind in by_kind:
            raise ValueError(f"sub-task {outcome.kind} given twice")
        by_kind[outcome.kind] = outcome
    missing = [kind.value for kind in SubTaskKind if kind not in by_kind]
    if missing:
        raise ValueError(f"sub-task outcome missing: {', '.join(missing)}")

    ordered = [by_kind[kind] for kind in SubTaskKind]
    unsuccessful = [o for o in ordered if o.status in (SubTaskStatus.FAILED, SubTaskStatus.SKIPPED)]
    if unsuccessful:
        reason = "; ".join(
            f"{o.kind.value} {o.status.value}" + (f": {o.reason}" if o.reason else "")
            for o in unsuccessful
        )
        return OrderDecision(status=OrderStatus.FAILED, reason=reason)
    if all(o.status is SubTaskStatus.SUCCEEDED for o in ordered):
        return OrderDecision(status=OrderStatus.COMPLETED)
    return open_order_status(ordered)


def open_order_status(sub_tasks: Iterable[SubTaskOutcome]) -> OrderDecision:
    """The status of an order that is not over, from where its sub-tasks stand:
    ``waiting_for_operations`` while one of them waits for an operator, with a reason
    naming each such sub-task (and why it waits); otherwise ``in_progress``, with a
    reason naming those not yet succeeded. The store writes this status whenever a
    sub-task goes to operations or comes back; :func:`decide_order_status` decides it
    for an order none of whose sub-tasks failed.
    """
    ordered = sorted(sub_tasks, key=lambda o: _KINDS.index(o.kind))
    stuck = [o for o in ordered if o.status is SubTaskStatus.WAITING_FOR_OPERATIONS]
    if stuck:
        reason = "; ".join(
            f"{o.kind.value}: {o.reason}" if o.reason else o.kind.value for o in stuck
        )
        return OrderDecision(status=OrderStatus.WAITING_FOR_OPERATIONS, reason=reason)
    waiting = ", ".join(o.kind.value for o in ordered if o.status is not SubTaskStatus.SUCCEEDED)
    return OrderDecision(
        status=OrderStatus.IN_PROGRESS, reason=f"waiting for {waiting}" if waiting else None
    )


_KINDS = list(SubTaskKind)


def decide_cancelled_status(
    request: CancelOrder,
    deactivation: DeactivateResourcesResult | None = None,
    *,
    deactivation_error: str | None = None,
) -> OrderDecision:
    """The status of an order whose cancellation was requested: ``cancelled``, with a
    reason naming who cancelled it and why, and any slot the NMS refused to deactivate
    (or why the deactivation could not be done), for operations to look into.

    Args:
        deactivation: what the NMS answered to the deactivation, if anything was sent.
        deactivation_error: why the deactivation gave up, if it did.
    """
    reason = f"cancelled by {request.actor}: {request.reason}"
    if deactivation is not None and deactivation.refused:
        refused = "; ".join(
            f"{s.slot} {s.error_code or 'failed'}" + (f": {s.message}" if s.message else "")
            for s in deactivation.refused
        )
        reason += f"; deactivation refused: {refused}"
    if deactivation_error is not None:
        reason += f"; deactivation failed: {deactivation_error}"
    return OrderDecision(status=OrderStatus.CANCELLED, reason=reason[:1000])


JOB_TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.ASSIGNED: frozenset({JobState.ACCEPTED, JobState.CANNOT_COMPLETE}),
    JobState.ACCEPTED: frozenset({JobState.EN_ROUTE, JobState.ON_SITE, JobState.CANNOT_COMPLETE}),
    JobState.EN_ROUTE: frozenset({JobState.ON_SITE, JobState.CANNOT_COMPLETE}),
    JobState.ON_SITE: frozenset({JobState.COMPLETED, JobState.CANNOT_COMPLETE}),
    JobState.COMPLETED: frozenset(),
    JobState.CANNOT_COMPLETE: frozenset(),
}
"""Which state a technician may report next, from each state of the job."""


class ReportRejected(ValueError):
    """A technician's report that the job cannot take; ``code`` says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def check_report(job: ConstructionJob | None, report: ConstructionReport) -> None:
    """Check a technician's report against the job it is for.

    Raises:
        ReportRejected: with code ``NOT_ASSIGNED`` (no job yet, or another
            technician's), ``INVALID_TRANSITION`` or ``MISSING_EVIDENCE``.
    """
    if job is None:
        raise ReportRejected("NOT_ASSIGNED", "no technician has been assigned to this order yet")
    if report.technician_id != job.technician_id:
        raise ReportRejected(
            "NOT_ASSIGNED",
            f"the job is assigned to {job.technician_id}, not {report.technician_id}",
        )
    if report.state not in JOB_TRANSITIONS[job.state]:
        allowed = ", ".join(sorted(s.value for s in JOB_TRANSITIONS[job.state])) or "nothing"
        raise ReportRejected(
            "INVALID_TRANSITION",
            f"a job that is {job.state.value} cannot become {report.state.value}"
            f" (allowed: {allowed})",
        )
    missing = missing_evidence(report)
    if missing is not None:
        raise ReportRejected("MISSING_EVIDENCE", missing)


def missing_evidence(report: ConstructionReport) -> str | None:
    """What the report lacks to be taken whatever the job's state, if anything."""
    if report.state is JobState.COMPLETED and not (report.ont_serial or "").strip():
        return "completion needs the serial of the installed terminal (ont_serial)"
    if report.state is JobState.CANNOT_COMPLETE and report.reason_code is None:
        return "cannot_complete needs a reason_code"
    return None


def states_before(state: JobState) -> list[JobState]:
    """The states of a job from which a technician may report ``state``."""
    return [before for before, after in JOB_TRANSITIONS.items() if state in after]


def apply_report(job: ConstructionJob, report: ConstructionReport) -> ConstructionJob:
    """The job after an accepted report."""
    return job.model_copy(
        update={
            "state": report.state,
            "ont_serial": report.ont_serial or job.ont_serial,
            "reason_code": report.reason_code,
        }
    )


MAX_VISITS = 3
"""Visits to one customer before a job that keeps being rescheduled goes to operations."""

FOLLOW_UPS: dict[CannotCompleteReason, FollowUp] = {
    CannotCompleteReason.TECHNICIAN_DECLINED: FollowUp.REASSIGN,
    CannotCompleteReason.CUSTOMER_ABSENT: FollowUp.RESCHEDULE,
    CannotCompleteReason.ACCESS_DENIED: FollowUp.RESCHEDULE,
    CannotCompleteReason.NO_FREE_PORT: FollowUp.OPERATIONS,
    CannotCompleteReason.NETWORK_FAULT: FollowUp.OPERATIONS,
    CannotCompleteReason.CUSTOMER_DECLINED: FollowUp.FAIL,
    CannotCompleteReason.OTHER: FollowUp.OPERATIONS,
}
"""What each reason a technician gives for not completing leads to."""


def follow_up(reason: CannotCompleteReason | None, visit: int) -> FollowUp:
    """What to do with a job its technician could not complete on visit ``visit``."""
    action = FOLLOW_UPS.get(reason, FollowUp.OPERATIONS) if reason else FollowUp.OPERATIONS
    if action is FollowUp.RESCHEDULE and visit >= MAX_VISITS:
        return FollowUp.OPERATIONS
    return action
