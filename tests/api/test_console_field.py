"""The console's pages for the field and the desk: the technician's jobs (next steps,
completion with the serial, cannot-complete with its reason), the region's board
(the queue, technicians' loads, decisions on what waits for operations), each going
through the API's own code, and operations' users page."""

from __future__ import annotations

import html
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx

from tests.api.conftest import System
from tests.api.test_console import add_user, csrf_of, sign_in
from tests.api.test_orders import assigned, create, report, wait_for
from workorders.auth import Role


@asynccontextmanager
async def console(
    system: System, role: Role, technician_id: str | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """A browser of its own, signed in as a new user of the role."""
    name = await add_user(system.stores, role, technician_id)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=system.app), base_url="http://api"
    ) as http:
        assert (await sign_in(http, name)).status_code == 303
        yield http


async def step(http: httpx.AsyncClient, order_id: str, **form: str) -> httpx.Response:
    page = await http.get("/console/jobs")
    return await http.post(
        f"/console/jobs/{order_id}/report", data={"csrf": csrf_of(page.text), **form}
    )


def construction(order: dict[str, Any]) -> dict[str, Any]:
    task: dict[str, Any] = next(t for t in order["sub_tasks"] if t["kind"] == "construction")
    return task


async def test_a_technician_works_a_job_from_the_phone_page(system: System) -> None:
    order = await create(system)
    technician = await assigned(system, order["id"])
    async with console(system, Role.TECHNICIAN, technician) as phone:
        home = await phone.get("/console")
        assert (home.status_code, home.headers["location"]) == (303, "/console/jobs")
        page = await phone.get("/console/jobs")
        assert page.status_code == 200
        job = page.text[page.text.index(f'id="job-{order["id"]}"') :]
        job = job[: job.index("</article>")]
        assert order["external_reference"] in job and 'href="tel:' in job
        # Only the steps the job allows: an assigned job is accepted (or given back).
        assert 'value="accepted"' in job and 'value="on_site"' not in job
        assert 'value="completed"' not in job

        early = await step(phone, order["id"], state="on_site")
        assert early.status_code == 409  # not from assigned; shown at the job
        assert f'id="job-{order["id"]}"' in early.text and 'role="alert"' in early.text

        for state in ("accepted", "en_route", "on_site"):
            moved = await step(phone, order["id"], state=state, note=f"{state} by phone")
            assert moved.status_code == 303, moved.text
        on_site = (await system.http.get(f"/orders/{order['id']}")).json()
        assert construction(on_site)["job_state"] == "on_site"

        # Completion without the terminal's serial is refused at its field, the note kept.
        missing = await step(phone, order["id"], state="completed", note="cabled 3F")
        assert missing.status_code == 422
        assert "serial-" + order["id"] in missing.text and "cabled 3F" in missing.text
        bad = await step(phone, order["id"], state="completed", ont_serial="no spaces!")
        assert bad.status_code == 422
        done = await step(phone, order["id"], state="completed", ont_serial="HWTC7F00AA01")
        assert done.status_code == 303, done.text

    completed = await wait_for(system, order["id"], lambda o: o["status"] == "completed")
    assert construction(completed)["job_state"] == "completed"
    history = (await system.http.get(f"/orders/{order['id']}/history")).json()
    said = {e["kind"]: e for e in history["events"] if e["actor"] == f"technician:{technician}"}
    assert said["construction.en_route"]["detail"]["note"] == "en_route by phone"
    assert said["construction.completed"]["detail"]["ont_serial"] == "HWTC7F00AA01"


async def test_cannot_complete_needs_its_reason(system: System) -> None:
    order = await create(system)
    technician = await assigned(system, order["id"])
    async with console(system, Role.TECHNICIAN, technician) as phone:
        assert (await step(phone, order["id"], state="accepted")).status_code == 303
        refused = await step(phone, order["id"], state="cannot_complete", note="gate locked")
        assert refused.status_code == 422
        assert "gate locked" in refused.text and "<details open" in refused.text
        absent = await step(
            phone, order["id"], state="cannot_complete", reason_code="customer_absent"
        )
        assert absent.status_code == 303, absent.text
    rescheduled = await wait_for(
        system, order["id"], lambda o: construction(o).get("visit", 0) >= 2, timeout_s=30
    )
    assert construction(rescheduled)["technician_id"] == technician


async def test_the_phone_page_is_the_technicians_own(system: System) -> None:
    order = await create(system)
    await assigned(system, order["id"])
    async with console(system, Role.TECHNICIAN, "tech-nobody") as other:
        page = await other.get("/console/jobs")
        assert page.status_code == 200 and order["id"] not in page.text
        forged = await step(other, order["id"], state="accepted")
        assert forged.status_code == 403
        assert (await other.get(f"/console/orders/{order['id']}")).status_code == 403
    async with console(system, Role.FRONT_DESK) as desk:
        assert (await desk.get("/console/jobs")).status_code == 403
        assert (await desk.get("/console/board")).status_code == 403


async def test_the_board_shows_the_region_and_operations_decide_there(system: System) -> None:
    healthy = system.nms.config
    system.nms.config = replace(healthy, faulty_port_rate=1.0)  # every port reports LOS
    try:
        order = await create(system)
        technician = await assigned(system, order["id"])
        async with console(system, Role.OPERATIONS) as ops:
            home = await ops.get("/console")
            assert home.headers["location"] == "/console/board"
            board = await ops.get("/console/board?region=north")
            assert board.status_code == 200
            load = board.text[board.text.index(f'data-technician="{technician}"') :]
            assert order["external_reference"] in load[: load.index("</article>")]
            assert (await ops.get("/console/board?region=atlantis")).status_code == 404

            for state in ("accepted", "on_site"):
                assert (await report(system, order["id"], technician, state)).status_code == 200
            completed = await report(
                system, order["id"], technician, "completed", ont_serial="HWTC0043"
            )
            assert completed.status_code == 200
            waiting = await wait_for(
                system, order["id"], lambda o: o["status"] == "waiting_for_operations", 60
            )
            activation = next(t for t in waiting["sub_tasks"] if t["kind"] == "activation")
            board = await ops.get("/console/board?region=north")
            task = f'id="task-{order["id"]}-activation"'
            assert task in board.text
            url = f"/console/board/{order['id']}/activation"
            form = {
                "csrf": csrf_of(board.text),
                "region": "north",
                "action": "retry",
                **{f"data.{k}": str(v) for k, v in activation["data"].items()},
            }
            # Edited data the API would refuse is refused at its field, the rest kept.
            bad = await ops.post(url, data={**form, "data.pon_port": "three"})
            assert bad.status_code == 422
            assert 'id="data.pon_port-error"' in bad.text and 'value="three"' in bad.text
            no_reason = await ops.post(url, data={**form, "action": "abort"})
            assert no_reason.status_code == 422

            system.nms.config = replace(
                healthy,
                faulty_port_rate=0,
                port_conflict_rate=0,
                vlan_conflict_rate=0,
                legacy_olt_rate=0,
            )
            olt, port = activation["data"]["olt_id"], activation["data"]["pon_port"]
            taken = await system.stores.inventory.occupancy([olt], order["id"])
            free = next(v for v in range(199, 99, -1) if (olt, port, v) not in taken.vlans)
            retried = await ops.post(url, data={**form, "data.vlan": str(free)})
            assert retried.status_code == 303, retried.text
        done = await wait_for(system, order["id"], lambda o: o["status"] == "completed")
        activation = next(t for t in done["sub_tasks"] if t["kind"] == "activation")
        assert activation["data"]["vlan"] == free
        history = (await system.http.get(f"/orders/{order['id']}/history")).json()
        started = [e for e in history["events"] if e["kind"] == "activation.attempt_started"]
        assert started[-1]["actor"].startswith("operations:user-")
    finally:
        system.nms.config = healthy


async def test_operations_manage_users_from_a_page(system: System) -> None:
    async with console(system, Role.OPERATIONS) as ops:
        page = await ops.get("/console/users")
        assert page.status_code == 200
        csrf = csrf_of(page.text)
        name = f"desk-{uuid.uuid4().hex[:6]}"
        form = {"csrf": csrf, "name": name, "role": "front_desk", "password": "long enough pw"}
        for bad, why in (
            ({"password": "short"}, "8 to 200"),
            ({"role": "admin"}, "no role"),
            ({"role": "technician"}, "technician id"),
            ({"technician_id": "tech-north-1"}, "technician id"),
            ({"name": " spaced "}, "printable"),
        ):
            refused = await ops.post("/console/users", data={**form, **bad})
            assert refused.status_code == 422, bad
            assert why in refused.text and f'value="{bad.get("name", name)}"' in refused.text
        assert (await ops.post("/console/users", data=form)).status_code == 303
        assert (await ops.post("/console/users", data=form)).status_code == 409
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=system.app), base_url="http://api"
        ) as desk:
            assert (await sign_in(desk, name, "long enough pw")).status_code == 303
            assert (await desk.get("/console/orders")).status_code == 200
            assert (await desk.get("/console/users")).status_code == 403
            off = await ops.post(
                f"/console/users/{name}/disabled", data={"csrf": csrf, "disabled": "1"}
            )
            assert off.status_code == 303
            assert (await desk.get("/console/orders")).status_code == 303  # signed out
        changed = await ops.post(
            f"/console/users/{name}/password", data={"csrf": csrf, "password": "another one!"}
        )
        assert changed.status_code == 303
        on = await ops.post(f"/console/users/{name}/disabled", data={"csrf": csrf, "disabled": "0"})
        assert on.status_code == 303
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=system.app), base_url="http://api"
        ) as desk:
            assert (await sign_in(desk, name, "another one!")).status_code == 303
        missing = await ops.post(
            "/console/users/nobody-here/disabled", data={"csrf": csrf, "disabled": "1"}
        )
        assert missing.status_code == 404
        forged = await ops.post(f"/console/users/{name}/disabled", data={"disabled": "1"})
        assert forged.status_code == 403  # no CSRF token


async def test_operations_manage_technicians_from_a_page(system: System) -> None:
    """Add, refuse with each error at its field (in Chinese for a Chinese reader), change
    and switch off a technician, each visible to the API as PATCH would leave it."""
    tech = f"tech-page-{uuid.uuid4().hex[:6]}"
    async with console(system, Role.OPERATIONS) as ops:
        page = await ops.get("/console/technicians")
        assert page.status_code == 200 and 'data-technician="tech-north-1"' in page.text
        csrf = csrf_of(page.text)
        form = {
            "csrf": csrf,
            "id": tech,
            "name": "王芳",
            "max_open_jobs": "3",
            "regions": ["haidian", "north"],
            "skills": ["fibre"],
        }
        ops.cookies.set("lang", "zh-CN")
        for bad, field, why in (
            ({"id": "Not An Id"}, "id", "格式不对"),
            ({"regions": []}, "regions", "至少 1 项"),
            ({"max_open_jobs": "lots"}, "max_open_jobs", "应为整数"),
            ({"max_open_jobs": "99"}, "max_open_jobs", "不能大于 50"),
            ({"skills": ["welding"]}, "skills", "应为 'fibre' or 'copper' 之一"),
            ({"regions": ["atlantis"]}, "regions", "没有此区域"),
        ):
            refused = await ops.post("/console/technicians", data={**form, **bad})
            assert refused.status_code == 422, bad
            assert why in html.unescape(refused.text), (bad, field)
            assert f'id="{field}-error"' in refused.text
            assert 'value="王芳"' in refused.text  # nothing typed is lost
        ops.cookies.delete("lang")
        assert (await ops.post("/console/technicians", data=form)).status_code == 303
        again = await ops.post("/console/technicians", data=form)
        assert again.status_code == 409 and "exists already" in again.text

        listed = await system.http.get("/technicians", headers=system.auth(Role.OPERATIONS, "ops"))
        added = next(t for t in listed.json() if t["id"] == tech)
        assert (added["name"], added["regions"], added["skills"], added["max_open_jobs"]) == (
            "王芳",
            ["haidian", "north"],
            ["fibre"],
            3,
        )
        changed = await ops.post(
            f"/console/technicians/{tech}",
            data={**form, "regions": ["haidian"], "skills": ["fibre", "copper"], "active": "1"},
        )
        assert changed.status_code == 303
        off = await ops.post(f"/console/technicians/{tech}", data={"csrf": csrf, "active": "0"})
        assert off.status_code == 303
        now = await system.stores.technicians.get_technician(tech)
        assert now is not None
        assert (now.regions, now.skills, now.active, now.name) == (
            ["haidian"],
            ["fibre", "copper"],
            False,
            "王芳",
        )
        haidian = await ops.get("/console/technicians?region=haidian")
        assert f'data-technician="{tech}"' in haidian.text
        assert 'data-technician="tech-north-1"' not in haidian.text
        missing = await ops.post("/console/technicians/nobody", data={"csrf": csrf, "active": "0"})
        assert missing.status_code == 404
        forged = await ops.post(f"/console/technicians/{tech}", data={"active": "1"})
        assert forged.status_code == 403
    async with console(system, Role.FRONT_DESK) as desk:
        assert (await desk.get("/console/technicians")).status_code == 403
