"""The technicians' reports on their construction jobs: each recorded by one
conditional update, then waiting for its signal to the order's workflow."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Connection, Update, bindparam, exists, func, select, update

from models.enums import AppointmentStatus, JobState, SubTaskStatus
from models.payloads import ConstructionJob, ConstructionJobState, ConstructionReport
from models.status import ReportRejected, check_report, missing_evidence, states_before
from models.tables import SubTask, UtcDateTime, utcnow
from workorders.store.base import (
    EVENT,
    SUB_TASK,
    SUB_TASKS,
    SYSTEM,
    Store,
    add_event,
    cancellation_requested,
    load,
    order_of,
)
from workorders.store.jobs import (
    CLOSED_CONSTRUCTION,
    CONSTRUCTION_OF_ORDER,
    booked_visit,
    construction_job_state,
    construction_of,
    end_booking,
    job_of,
    job_state_of,
    unbook,
)
from workorders.tmf641.mapping import CANCELLATION_REQUESTED


@dataclass(frozen=True)
class RecordedReport:
    """A technician's report, recorded."""

    state: ConstructionJobState
    """The job after it."""
    freed: bool
    """The technician has room for another job now (they completed this one)."""


@functools.cache
def _recording(state: JobState) -> Update:
    """The conditional update that records a report of ``state`` on a job that can
    take it: its technician's, in a state the report may follow, not closed, of an
    order whose cancellation nobody requested."""
    values: dict[str, Any] = {
        "job_state": state,
        "detail": bindparam("new_detail"),
        "version": SUB_TASK.version + 1,
        "report_unsignalled_since": func.coalesce(
            SUB_TASK.report_unsignalled_since, bindparam("at", type_=UtcDateTime)
        ),
        "updated_at": bindparam("at", type_=UtcDateTime),
    }
    if state in (JobState.COMPLETED, JobState.CANNOT_COMPLETE):
        values["result"] = bindparam("new_result", type_=JSON)
    if state is JobState.COMPLETED:
        values["status"] = SubTaskStatus.SUCCEEDED
    return (
        update(SUB_TASKS)
        .where(
            *CONSTRUCTION_OF_ORDER,
            SUB_TASK.technician_id == bindparam("technician"),
            SUB_TASK.job_state.in_(states_before(state)),
            SUB_TASK.status.not_in(CLOSED_CONSTRUCTION),
            ~exists().where(
                EVENT.order_id == bindparam("order"), EVENT.kind == CANCELLATION_REQUESTED
            ),
        )
        .values(values)
        .returning(SUB_TASK.version, SUB_TASK.visit)
    )


_SIGNALLED = (
    update(SUB_TASKS)
    .where(
        *CONSTRUCTION_OF_ORDER,
        SUB_TASK.version <= bindparam("seq"),
        SUB_TASK.report_unsignalled_since.is_not(None),
    )
    .values(report_unsignalled_since=None)
)


class ReportStore(Store):
    """The construction job as its technicians report it."""

    async def record_report(self, order_id: str, report: ConstructionReport) -> RecordedReport:
        """Record a technician's report as the construction job's new state, if the job
        can take it (:func:`models.status.check_report`).

        One conditional update decides: two reports at the same moment, or a report
        and the workflow taking the job back, are put in order by the database, and
        the loser is refused for what it then finds. The report then waits for its
        signal to the workflow (:meth:`report_signalled`).

        Returns:
            The job as it stands after the report, and whether the technician has room
            for another job now (they completed this one).

        Raises:
            ReportRejected: ``NOT_ASSIGNED``, ``INVALID_TRANSITION``,
                ``MISSING_EVIDENCE``, ``ORDER_CLOSED``, or ``CONSTRUCTION_CLOSED`` (the
                order is being cancelled, or its installation was given up).
            OrderNotFound: no such order.
        """
        data = report.model_dump(mode="json", exclude_none=True, exclude={"technician_id"})
        if report.state is JobState.COMPLETED:
            detail = f"installed terminal {report.ont_serial}"
        elif report.state is JobState.CANNOT_COMPLETE:
            reason = report.reason_code.value if report.reason_code else "unknown"
            detail = f"cannot complete: {reason}"
        else:
            detail = f"technician {report.state.value.replace('_', ' ')}"
        technician = report.technician_id

        def work(connection: Connection) -> RecordedReport:
            for _ in range(3):  # the job changed between the update and the look at why not
                if missing_evidence(report) is None:
                    now = utcnow()
                    row = connection.execute(
                        _recording(report.state),
                        {
                            "order": order_id,
                            "technician": technician,
                            "new_detail": detail,
                            "new_result": data,
                            "at": now,
                        },
                    ).first()
                    if row is not None:
                        seq, visit = row
                        freed = report.state is JobState.COMPLETED
                        if freed:
                            unbook(connection, technician)
                            end_booking(connection, order_id, AppointmentStatus.KEPT, now, SYSTEM)
                        add_event(
                            connection,
                            order_id,
                            f"technician:{technician}",
                            f"construction.{report.state.value}",
                            now,
                            version=seq,
                            **data,
                        )
                        job = ConstructionJob(
                            technician_id=technician,
                            state=report.state,
                            ont_serial=report.ont_serial,
                            reason_code=report.reason_code,
                            visit=visit,
                        )
                        return RecordedReport(
                            ConstructionJobState(
                                job=job,
                                version=seq,
                                appointment=booked_visit(connection, order_id),
                            ),
                            freed,
                        )
                    connection.rollback()
                _refuse_report(connection, order_id, report)
            raise RuntimeError(f"the construction job of {order_id} kept changing; try again")

        return await self.db.transaction(work)

    async def report_signalled(self, order_id: str, version: int) -> None:
        """The workflow has been told of the job's reports up to ``version``."""
        await self.db.transaction(
            lambda connection: connection.execute(_SIGNALLED, {"order": order_id, "seq": version})
        )

    async def unsignalled_reports(
        self, before: datetime, limit: int = 500
    ) -> list[tuple[str, ConstructionJobState]]:
        """The orders (by id) whose latest report has waited for its signal since
        before ``before``, each with its job as it stands now, longest waiting first."""
        query = (
            select(SUB_TASKS)
            .where(SUB_TASK.report_unsignalled_since < before)
            .order_by(SUB_TASK.report_unsignalled_since)
            .limit(limit)
        )

        def work(connection: Connection) -> list[tuple[str, ConstructionJobState]]:
            tasks = [load(SubTask, row) for row in connection.execute(query)]
            return [(t.order_id, job_state_of(connection, t)) for t in tasks]

        return await self.db.transaction(work)

    async def construction_job(self, order_id: str) -> ConstructionJobState:
        """The construction job as it stands now."""

        return await self.db.transaction(
            lambda connection: construction_job_state(connection, order_id)
        )


def _refuse_report(connection: Connection, order_id: str, report: ConstructionReport) -> None:
    """Raise why the job cannot take the report, as the database has it now; return if
    it could (it changed meanwhile)."""
    order = order_of(connection, order_id)
    task = construction_of(connection, order_id)
    if order.status.is_final:
        raise ReportRejected(
            "ORDER_CLOSED",
            f"order {order_id} is {order.status.value}; it takes no more reports",
        )
    if cancellation_requested(connection, order_id) or (
        task is not None and task.status in CLOSED_CONSTRUCTION
    ):
        raise ReportRejected(
            "CONSTRUCTION_CLOSED",
            "the order is being cancelled or its installation was given up;"
            " it takes no more reports",
        )
    check_report(job_of(task), report)
