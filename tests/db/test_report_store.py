"""Technicians' reports recorded in the work-order database, on SQLite and on
PostgreSQL: the job moves on by one conditional update, refusals say why, and each
report waits for its signal to the workflow until the API has sent it."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from models.enums import CannotCompleteReason, JobState, OrderStatus, SubTaskKind, SubTaskStatus
from models.payloads import ConstructionJob, ConstructionReport, OrderDecision, SubTaskOutcome
from models.status import ReportRejected
from models.tables import utcnow
from tests.db.test_construction_store import assign, construction, open_jobs, region_with, started
from workorders.store import OrderNotFound, Stores


def report(technician: str, state: JobState, **extra: object) -> ConstructionReport:
    return ConstructionReport.model_validate({"technician_id": technician, "state": state, **extra})


async def refused(stores: Stores, order_id: str, r: ConstructionReport) -> str:
    with pytest.raises(ReportRejected) as refusal:
        await stores.reports.record_report(order_id, r)
    return refusal.value.code


async def test_reports_move_the_job_on_one_by_one(stores: Stores) -> None:
    region, (a,) = await region_with(stores, ("a", 2))
    order = await started(stores, region)
    await assign(stores, order)
    for seq, state in enumerate((JobState.ACCEPTED, JobState.EN_ROUTE, JobState.ON_SITE), 1):
        recorded = await stores.reports.record_report(order.id, report(a, state))
        assert recorded.state.version == seq + 1  # the assignment is version 1
        assert recorded.state.job == ConstructionJob(technician_id=a, state=state, visit=1)
        assert not recorded.freed
    task = await construction(stores, order)
    assert (task.job_state, task.detail) == (JobState.ON_SITE, "technician on site")

    recorded = await stores.reports.record_report(
        order.id, report(a, JobState.COMPLETED, ont_serial="HWTC0001")
    )
    assert recorded.freed
    assert recorded.state.job is not None
    assert recorded.state.job.ont_serial == "HWTC0001"
    assert (await stores.reports.construction_job(order.id)) == recorded.state
    task = await construction(stores, order)
    assert task.status is SubTaskStatus.SUCCEEDED
    assert task.result == {"state": "completed", "ont_serial": "HWTC0001"}
    assert await open_jobs(stores, a) == 0
    events = [e for e in await stores.orders.timeline(order.id) if e.actor == f"technician:{a}"]
    assert [(e.kind, e.detail and e.detail["version"]) for e in events] == [
        ("construction.accepted", 2),
        ("construction.en_route", 3),
        ("construction.on_site", 4),
        ("construction.completed", 5),
    ]


async def test_a_report_the_job_cannot_take_is_refused_for_what_it_finds(
    stores: Stores,
) -> None:
    region, (a, b) = await region_with(stores, ("a", 2), ("b", 2))
    order = await started(stores, region)
    assert await refused(stores, order.id, report(a, JobState.ACCEPTED)) == "NOT_ASSIGNED"
    await assign(stores, order)
    assert await refused(stores, order.id, report(b, JobState.ACCEPTED)) == "NOT_ASSIGNED"
    assert await refused(stores, order.id, report(a, JobState.ON_SITE)) == "INVALID_TRANSITION"
    assert await refused(stores, order.id, report(a, JobState.CANNOT_COMPLETE)) == (
        "MISSING_EVIDENCE"
    )
    await stores.reports.record_report(order.id, report(a, JobState.ACCEPTED))
    assert await refused(stores, order.id, report(a, JobState.ACCEPTED)) == "INVALID_TRANSITION"
    await stores.reports.record_report(order.id, report(a, JobState.ON_SITE))
    assert await refused(stores, order.id, report(a, JobState.COMPLETED)) == "MISSING_EVIDENCE"
    with pytest.raises(OrderNotFound):
        await stores.reports.record_report("no-such-order", report(a, JobState.ACCEPTED))
    assert (await stores.reports.construction_job(order.id)).version == 3  # refusals count nothing


async def test_no_report_once_the_cancellation_is_requested(stores: Stores) -> None:
    region, (a,) = await region_with(stores, ("a", 2))
    order = await started(stores, region)
    await assign(stores, order)
    await stores.cancellation.record_cancellation(order.id, "front_desk:anna", "customer moved")
    assert await refused(stores, order.id, report(a, JobState.ACCEPTED)) == "CONSTRUCTION_CLOSED"


async def test_no_report_on_an_ended_order(stores: Stores) -> None:
    region, (a,) = await region_with(stores, ("a", 2))
    order = await started(stores, region)
    await assign(stores, order)
    await stores.reports.record_report(
        order.id,
        report(a, JobState.CANNOT_COMPLETE, reason_code=CannotCompleteReason.CUSTOMER_DECLINED),
    )
    failed = [SubTaskOutcome(kind=k, status=SubTaskStatus.FAILED) for k in SubTaskKind]
    await stores.progress.complete_order(
        order.id, OrderDecision(status=OrderStatus.FAILED, reason="declined"), failed
    )
    assert await refused(stores, order.id, report(a, JobState.ACCEPTED)) == "ORDER_CLOSED"


async def test_of_reports_at_the_same_moment_one_is_taken(stores: Stores) -> None:
    region, (a,) = await region_with(stores, ("a", 2))
    order = await started(stores, region)
    await assign(stores, order)
    results = await asyncio.gather(
        *(stores.reports.record_report(order.id, report(a, JobState.ACCEPTED)) for _ in range(8)),
        return_exceptions=True,
    )
    taken = [r for r in results if not isinstance(r, BaseException)]
    assert len(taken) == 1, results
    assert all(
        isinstance(r, ReportRejected) and r.code == "INVALID_TRANSITION"
        for r in results
        if r not in taken
    ), results
    assert (await stores.reports.construction_job(order.id)).version == 2


async def test_a_report_waits_for_its_signal(stores: Stores) -> None:
    region, (a,) = await region_with(stores, ("a", 2))
    order = await started(stores, region)
    await assign(stores, order)
    await stores.reports.record_report(order.id, report(a, JobState.ACCEPTED))
    await stores.reports.record_report(order.id, report(a, JobState.EN_ROUTE))
    later = utcnow() + timedelta(seconds=1)
    waiting = dict(await stores.reports.unsignalled_reports(later))
    assert waiting[order.id].version == 3  # the job as it stands, not each report
    assert waiting[order.id].job == ConstructionJob(technician_id=a, state=JobState.EN_ROUTE)
    assert order.id not in dict(
        await stores.reports.unsignalled_reports(utcnow() - timedelta(hours=1))
    )

    await stores.reports.report_signalled(order.id, 2)  # an older report's signal: the newer waits
    assert order.id in dict(await stores.reports.unsignalled_reports(later))
    await stores.reports.report_signalled(order.id, 3)
    assert order.id not in dict(await stores.reports.unsignalled_reports(later))


async def test_the_time_limit_takes_back_only_a_job_not_yet_on_site(
    stores: Stores,
) -> None:
    region, (a,) = await region_with(stores, ("a", 2))
    on_site, accepted = await started(stores, region), await started(stores, region)
    for order in (on_site, accepted):
        await assign(stores, order)
        await stores.reports.record_report(order.id, report(a, JobState.ACCEPTED))
    await stores.reports.record_report(on_site.id, report(a, JobState.ON_SITE))

    kept = await stores.assignment.release_technician(on_site.id, "time limit", before_on_site=True)
    assert kept.technician_id is None
    assert kept.state.job == ConstructionJob(technician_id=a, state=JobState.ON_SITE)
    released = await stores.assignment.release_technician(
        accepted.id, "time limit", before_on_site=True
    )
    assert released.technician_id == a
    assert released.state.job is None
    assert released.state.version == 3  # assigned, accepted, released
    assert await open_jobs(stores, a) == 1
