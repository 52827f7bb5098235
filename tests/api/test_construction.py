"""Technicians and construction through the API, on a real Temporal dev server."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowHandle

from api.workflows import resignal_reports
from models.enums import JobState
from models.payloads import ConstructionReport, WorkOrderResult
from models.tables import utcnow
from tests.api.conftest import System
from tests.api.test_orders import assigned, construction, create, report, wait_for
from workflows import WorkOrderWorkflow, workflow_id_for


def new_technician(**overrides: Any) -> dict[str, Any]:
    return {
        "id": f"tech-t-{uuid.uuid4().hex[:8]}",
        "name": "Test Technician",
        "regions": ["north"],
        "skills": ["fibre"],
        "max_open_jobs": 2,
        **overrides,
    }


async def operate(system: System, order_id: str, **body: Any) -> Any:
    return await system.http.post(f"/orders/{order_id}/construction/operations", json=body)


async def test_technicians_are_listed_with_their_load(system: System) -> None:
    technicians = (await system.http.get("/technicians", params={"region": "north"})).json()
    ids = {t["id"] for t in technicians}
    assert {"tech-north-1", "tech-north-2", "tech-north-3"} <= ids
    assert all("north" in t["regions"] and t["open_jobs"] >= 0 for t in technicians)


async def test_operations_add_change_and_deactivate_technicians(system: System) -> None:
    body = new_technician()
    created = await system.http.post("/technicians", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["open_jobs"] == 0
    again = await system.http.post("/technicians", json=body)
    assert again.status_code == 409

    changed = await system.http.patch(
        f"/technicians/{body['id']}", json={"regions": ["north", "east"], "max_open_jobs": 3}
    )
    assert changed.status_code == 200
    assert changed.json()["regions"] == ["north", "east"]
    same = await system.http.patch(f"/technicians/{body['id']}", json={"active": None})
    assert same.status_code == 200
    assert same.json()["active"] is True  # null: unchanged
    off = await system.http.patch(f"/technicians/{body['id']}", json={"active": False})
    assert off.json()["active"] is False
    inactive = (await system.http.get("/technicians", params={"active": "false"})).json()
    assert body["id"] in [t["id"] for t in inactive]


async def test_technician_input_is_checked(system: System) -> None:
    bad = [
        new_technician(regions=["atlantis"]),
        new_technician(skills=["telepathy"]),
        new_technician(regions=[]),
        new_technician(max_open_jobs=0),
        new_technician(id="Has Spaces"),
    ]
    for body in bad:
        response = await system.http.post("/technicians", json=body)
        assert response.status_code == 422, body
    assert (
        await system.http.patch("/technicians/nobody", json={"active": False})
    ).status_code == 404
    unknown_region = await system.http.patch("/technicians/tech-north-1", json={"regions": ["x"]})
    assert unknown_region.status_code == 422
    assert unknown_region.json()["code"] == "UNKNOWN_REGION"


async def test_declined_job_is_reassigned(system: System) -> None:
    order = await create(system)
    first = await assigned(system, order["id"])
    response = await report(
        system, order["id"], first, "cannot_complete", reason_code="technician_declined"
    )
    assert response.status_code == 200
    moved = await wait_for(
        system, order["id"], lambda o: construction(o).get("technician_id") not in (None, first)
    )
    second = construction(moved)["technician_id"]
    jobs = (await system.http.get(f"/technicians/{second}/jobs")).json()
    assert order["id"] in [j["order_id"] for j in jobs]
    first_jobs = (await system.http.get(f"/technicians/{first}/jobs")).json()
    assert order["id"] not in [j["order_id"] for j in first_jobs]
    history = (await system.http.get(f"/orders/{order['id']}/history")).json()
    kinds = [e["kind"] for e in history["events"]]
    assert "construction.released" in kinds
    assert kinds.count("construction.assigned") == 2


async def test_absent_customer_gets_a_second_visit(system: System) -> None:
    order = await create(system)
    technician = await assigned(system, order["id"])
    for state in ("accepted", "on_site"):
        assert (await report(system, order["id"], technician, state)).status_code == 200
    absent = await report(
        system, order["id"], technician, "cannot_complete", reason_code="customer_absent"
    )
    assert absent.status_code == 200
    again = await wait_for(system, order["id"], lambda o: construction(o).get("visit") == 2)
    assert construction(again)["technician_id"] == technician
    assert construction(again)["job_state"] == "assigned"
    for state in ("accepted", "on_site"):
        assert (await report(system, order["id"], technician, state)).status_code == 200
    done = await report(system, order["id"], technician, "completed", ont_serial="HWTC9999")
    assert done.status_code == 200
    await wait_for(system, order["id"], lambda o: o["status"] == "completed")


async def test_operations_assign_by_hand_and_give_up(system: System) -> None:
    order = await create(system)
    first = await assigned(system, order["id"])
    other = "tech-north-2" if first != "tech-north-2" else "tech-north-1"

    moved = await operate(system, order["id"], action="assign", technician_id=other)
    assert moved.status_code == 200, moved.text
    assert moved.json()["technician_id"] == other
    events = (await system.http.get(f"/orders/{order['id']}/history")).json()["events"]
    assert "operations:ops" in {e["actor"] for e in events}  # who reassigned it
    same = await operate(system, order["id"], action="assign", technician_id=other)
    assert same.status_code == 409
    assert same.json()["code"] == "ALREADY_ASSIGNED"
    wrong_region = await operate(system, order["id"], action="assign", technician_id="tech-east-1")
    assert wrong_region.status_code == 409
    assert wrong_region.json()["code"] == "TECHNICIAN_UNAVAILABLE"
    assert "does not work in region north" in wrong_region.json()["detail"]
    no_skill = await operate(system, order["id"], action="assign", technician_id="tech-north-3")
    assert no_skill.json()["code"] == "TECHNICIAN_UNAVAILABLE"
    unknown = await operate(system, order["id"], action="assign", technician_id="nobody")
    # the order is there: a technician the database has not is the body's fault
    assert (unknown.status_code, unknown.json()["code"]) == (422, "UNKNOWN_TECHNICIAN")
    incomplete = await operate(system, order["id"], action="assign")
    assert incomplete.status_code == 422

    gave_up = await operate(system, order["id"], action="fail", reason="building demolished")
    assert gave_up.status_code == 200
    failed = await wait_for(system, order["id"], lambda o: o["status"] == "failed")
    assert "building demolished" in failed["status_reason"]
    after = await operate(system, order["id"], action="assign", technician_id=first)
    assert after.status_code == 409


async def test_a_technician_given_room_takes_queued_jobs_at_once(system: System) -> None:
    """Jobs queued in a region go to a technician as soon as they have room (here: a
    higher job limit), not at the queue's hourly poll."""
    north = {t["id"]: t for t in (await system.http.get("/technicians")).json()}
    one, two = north["tech-north-1"], north["tech-north-2"]  # north's fibre technicians
    try:
        await system.http.patch("/technicians/tech-north-2", json={"active": False})
        if one["open_jobs"] == 0:
            await assigned(system, (await create(system))["id"])
            one = (await system.http.get("/technicians", params={"region": "north"})).json()
            one = next(t for t in one if t["id"] == "tech-north-1")
        full = await system.http.patch(
            "/technicians/tech-north-1", json={"max_open_jobs": one["open_jobs"]}
        )
        assert full.status_code == 200, full.text
        order = await create(system)
        await wait_for(
            system, order["id"], lambda o: "queued" in (construction(o).get("detail") or "")
        )
        room = await system.http.patch("/technicians/tech-north-1", json={"max_open_jobs": 50})
        assert room.status_code == 200, room.text
        assert await assigned(system, order["id"]) == "tech-north-1"
    finally:
        await system.http.patch("/technicians/tech-north-1", json={"max_open_jobs": 50})
        await system.http.patch(
            "/technicians/tech-north-2",
            json={"active": True, "max_open_jobs": two["max_open_jobs"]},
        )


async def test_a_report_whose_signal_did_not_get_through_is_signalled_again(
    system: System,
) -> None:
    order = await create(system)
    technician = await assigned(system, order["id"])
    handle: WorkflowHandle[WorkOrderWorkflow, WorkOrderResult] = (
        system.temporal.get_workflow_handle_for(WorkOrderWorkflow.run, workflow_id_for(order["id"]))
    )
    # Recorded, and the API stopped before it signalled the workflow.
    await system.stores.reports.record_report(
        order["id"], ConstructionReport(technician_id=technician, state=JobState.ACCEPTED)
    )
    state = await handle.query(WorkOrderWorkflow.state)
    assert state.construction.job is not None
    assert state.construction.job.state is JobState.ASSIGNED
    waiting = dict(await system.stores.reports.unsignalled_reports(utcnow()))
    assert waiting[order["id"]].version == 2  # assigned, accepted

    assert await resignal_reports(system.stores.reports, system.temporal, waited=timedelta(0)) >= 1
    for _ in range(100):
        state = await handle.query(WorkOrderWorkflow.state)
        if state.construction.job and state.construction.job.state is JobState.ACCEPTED:
            break
        await asyncio.sleep(0.05)
    assert state.construction.job is not None
    assert state.construction.job.state is JobState.ACCEPTED
    assert order["id"] not in dict(await system.stores.reports.unsignalled_reports(utcnow()))
    # The technician goes on from there, through the API.
    for step in ("on_site", "completed"):
        response = await report(system, order["id"], technician, step, ont_serial="HWTC0009")
        assert response.status_code == 200, response.text
    await wait_for(system, order["id"], lambda o: o["status"] == "completed")


@pytest.mark.parametrize("first", ["completion", "cancel"])
async def test_a_cancel_and_a_completion_sent_together_tell_one_story(
    system: System, first: str
) -> None:
    # The database orders them: a completion recorded before the cancellation stands
    # (construction succeeded, nothing withdrawn); one after it is refused (409) and
    # the job is withdrawn. Either way the timeline, the sub-task and the order agree.
    order = await create(system)
    technician = await assigned(system, order["id"])
    for state in ("accepted", "en_route", "on_site"):
        assert (await report(system, order["id"], technician, state)).status_code == 200
    complete = report(system, order["id"], technician, "completed", ont_serial="HWTC1A2B3C4D")
    cancel = system.http.post(f"/orders/{order['id']}/cancel", json={"reason": "moved"})
    sent = (complete, cancel) if first == "completion" else (cancel, complete)
    answers = await asyncio.gather(*sent)
    completed, cancelled = answers if first == "completion" else answers[::-1]
    assert completed.status_code in (200, 409), completed.text
    assert cancelled.status_code in (202, 409), cancelled.text
    done = await wait_for(
        system, order["id"], lambda o: o["status"] in ("cancelled", "completed", "failed")
    )
    task = construction(done)
    history = (await system.http.get(f"/orders/{order['id']}/history")).json()
    kinds = [e["kind"] for e in history["events"]]
    if completed.status_code == 200:
        assert task["status"] == "succeeded"
        assert "construction.completed" in kinds
        assert "construction.withdrawn" not in kinds
    else:
        assert completed.json()["code"] == "CONSTRUCTION_CLOSED"
        assert task["status"] == "cancelled"
        assert "construction.completed" not in kinds
        assert "construction.withdrawn" in kinds
    if cancelled.status_code == 202:
        assert done["status"] == "cancelled"
    else:
        assert done["status"] == "completed"  # it had ended before the cancel
