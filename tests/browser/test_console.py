"""The front desk creates an order in the console, and a colleague's page of it, open
in another browser, follows each step of the order without a reload; a technician on
a phone works a job while a dispatcher's board follows it."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from playwright.async_api import Browser, Page, expect

from tests.api.conftest import System
from tests.api.test_codec import served
from tests.api.test_console import PASSWORD, ZHANG_WEI, add_user
from tests.api.test_orders import assigned, create, report, wait_for
from tests.browser.conftest import ARTIFACTS
from tests.factories import activations
from workorders.auth import Role

NOT_TYPED = ("timezone", "address.country", "demand.service_type")
"""The create-order form's fields that are filled in already, or chosen, not typed."""


async def signed_in(browser: Browser, url: str, name: str, **context: object) -> Page:
    page = await (await browser.new_context(base_url=url, **context)).new_page()  # type: ignore[arg-type]
    await page.goto("/console/login")
    await page.fill("input[name=name]", name)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await expect(page).not_to_have_url(f"{url}/console/login")
    return page


async def test_front_desk_creates_and_a_colleague_follows_it_live(
    system: System, browser: Browser
) -> None:
    front_desk = await add_user(system.stores, Role.FRONT_DESK)
    dispatcher = await add_user(system.stores, Role.OPERATIONS)
    async with served(system.app) as url:
        try:
            await follow(browser, url, front_desk, dispatcher, system)
        finally:  # the pages' live feeds end before the server does
            for context in browser.contexts:
                await context.close()


async def follow(
    browser: Browser, url: str, front_desk: str, dispatcher: str, system: System
) -> None:
    desk = await signed_in(browser, url, front_desk, locale="zh-CN")
    await desk.screenshot(path=ARTIFACTS / "orders.png", full_page=True)
    await desk.click("a[href='/console/orders/new']")
    reference = f"FD-{uuid.uuid4().hex[:8]}"
    await desk.fill("input[name=external_reference]", reference)
    typed = {k: v for k, v in ZHANG_WEI.items() if k not in NOT_TYPED}
    for field, value in {
        **typed,
        "address.postcode": "10008",  # one digit short: refused at its field
    }.items():
        await desk.fill(f"input[name='{field}']", value)
    await desk.click("#new-order button[type=submit]")
    await expect(desk.locator("[id='address.postcode-error']")).to_be_visible()
    await expect(desk.locator("input[name='customer.name']")).to_have_value("张伟")
    await desk.screenshot(path=ARTIFACTS / "order_new_refused.png", full_page=True)
    await desk.fill("input[name='address.postcode']", "100080")
    await desk.click("#new-order button[type=submit]")
    await expect(desk.locator("h1")).to_contain_text(reference)
    order_id = desk.url.rsplit("/", 1)[1]

    board = await signed_in(browser, url, dispatcher, locale="en-US")
    await board.goto(f"/console/orders/{order_id}")
    await expect(board.locator("h1")).to_contain_text(reference)
    technician = await assigned(system, order_id)
    await expect(board.locator(".task[data-kind=construction]")).to_contain_text(technician)
    for state in ("accepted", "en_route", "on_site"):
        assert (await report(system, order_id, technician, state)).status_code == 200
        job = board.locator(".task[data-kind=construction] [data-state]")
        await expect(job).to_have_attribute("data-state", state)
    done = await report(system, order_id, technician, "completed", ont_serial="HWTC1A2B3C4D")
    assert done.status_code == 200, done.text

    # Both pages show the end without anyone reloading them, each in its language.
    for page, shown in ((board, "completed"), (desk, "已完成")):
        status = page.locator("#live-status")
        await expect(status).to_have_attribute("data-status", "completed", timeout=30_000)
        await expect(status).to_have_text(shown)
    await expect(board.locator("#timeline")).to_contain_text("construction")
    for page in (board, desk):  # an ended order has no cancel
        await expect(page.locator("#cancel")).to_have_count(0)
    await board.screenshot(path=ARTIFACTS / "order_board.png", full_page=True)
    await desk.screenshot(path=ARTIFACTS / "order_front_desk_zh.png", full_page=True)


async def test_a_technician_on_a_phone_and_a_dispatchers_board_see_each_other_live(
    system: System, browser: Browser
) -> None:
    order = await create(system)
    technician = await assigned(system, order["id"])
    phone_user = await add_user(system.stores, Role.TECHNICIAN, technician)
    dispatcher = await add_user(system.stores, Role.OPERATIONS)
    async with served(system.app) as url:
        try:
            phone = await signed_in(
                browser,
                url,
                phone_user,
                locale="zh-CN",
                viewport={"width": 360, "height": 740},
                is_mobile=True,
                has_touch=True,
            )
            board = await signed_in(browser, url, dispatcher, locale="en-US")
            await board.goto(f"/console/board?region={order['region']}")
            load = board.locator(f"[data-technician='{technician}']")
            await expect(load).to_contain_text(order["external_reference"])

            await expect(phone).to_have_url(f"{url}/console/jobs")
            job = phone.locator(f"#job-{order['id']}")
            await expect(job).to_contain_text(order["external_reference"])
            await phone.screenshot(path=ARTIFACTS / "jobs_phone_zh.png", full_page=True)
            # The buttons fit a 360 px screen and are large enough for a thumb.
            accept = job.locator("button[value=accepted]")
            box = await accept.bounding_box()
            assert box is not None and box["height"] >= 44 and box["x"] + box["width"] <= 360
            for state, shown in (
                ("accepted", "已接单"),
                ("en_route", "在途"),
                ("on_site", "已到场"),
            ):
                await job.locator(f"button[value={state}]").click()
                await expect(job.locator("h2 .status")).to_have_text(shown)
                await expect(load).to_contain_text(
                    state.replace("_", " ").replace("en route", "on the way")
                )
            await job.locator(".complete button").click()  # no serial: refused at its field
            await expect(job.locator(".complete .field-error")).to_be_visible()
            await phone.screenshot(path=ARTIFACTS / "jobs_phone_serial_refused.png", full_page=True)
            await job.locator("input[name=ont_serial]").fill("HWTC5E1A2B3C")
            await job.locator(".complete button").click()
            await expect(phone.locator(f"#job-{order['id']}")).to_have_count(0)
            await expect(load).not_to_contain_text(order["external_reference"])
            await board.screenshot(path=ARTIFACTS / "board.png", full_page=True)
        finally:
            for context in browser.contexts:
                await context.close()
    await wait_for(system, order["id"], lambda o: o["status"] == "completed")


async def test_operations_retry_a_waiting_activation_with_edited_data_from_the_board(
    system: System, browser: Browser
) -> None:
    healthy = system.nms.config
    clear = replace(
        healthy, faulty_port_rate=0, port_conflict_rate=0, vlan_conflict_rate=0, legacy_olt_rate=0
    )
    # Another order of the region, activated already: its reports move the board later.
    other = await create(system)
    other_technician = await assigned(system, other["id"])
    await wait_for(system, other["id"], lambda o: task_of(o, "activation")["status"] == "succeeded")
    system.nms.config = replace(healthy, faulty_port_rate=1.0)  # every port reports LOS
    dispatcher = await add_user(system.stores, Role.OPERATIONS)
    front_desk = await add_user(system.stores, Role.FRONT_DESK)
    async with served(system.app) as url:
        try:
            board = await signed_in(browser, url, dispatcher, locale="zh-CN")
            await board.goto("/console/board?region=north")
            order = await create(system)
            technician = await assigned(system, order["id"])
            for state in ("accepted", "on_site"):
                assert (await report(system, order["id"], technician, state)).status_code == 200
            done = await report(system, order["id"], technician, "completed", ont_serial="HWTC0044")
            assert done.status_code == 200, done.text

            # The board shows the activation waiting, with why, without a reload.
            task = board.locator(f"[id='task-{order['id']}-activation']")
            await expect(task).to_be_visible(timeout=60_000)
            await expect(task.locator(".reason")).to_contain_text("revised 6 times in a row")
            waiting = (await system.http.get(f"/orders/{order['id']}")).json()
            planned = task_of(waiting, "activation")["data"]
            vlan = task.locator("input[name='data.vlan']")
            await expect(vlan).to_have_value(str(planned["vlan"]))
            await board.screenshot(path=ARTIFACTS / "board_waiting_zh.png", full_page=True)

            follower = await signed_in(browser, url, front_desk, locale="en-US")
            await follower.goto(f"/console/orders/{order['id']}")
            await expect(follower.locator("#live-status")).to_have_attribute(
                "data-status", "waiting_for_operations"
            )

            # Edited data the API refuses (a VLAN above 4094) is refused at its field,
            # in the reader's language, with every value typed kept.
            await vlan.fill("5000")
            await task.locator("form.edit button[type=submit]:not([name])").click()
            error = board.locator("[id='data.vlan-error']")
            await expect(error).to_have_text("不能大于 4094")
            task = board.locator(f"[id='task-{order['id']}-activation']")
            vlan = task.locator("input[name='data.vlan']")
            await expect(vlan).to_have_value("5000")
            await expect(task.locator("input[name='data.olt_id']")).to_have_value(planned["olt_id"])
            # ... as the API refuses it, field and reason alike.
            api = await system.http.post(
                f"/orders/{order['id']}/activation/operations",
                json={"action": "retry", "data": {**planned, "vlan": 5000}},
            )
            assert api.status_code == 422
            assert [(e["location"], e["type"]) for e in api.json()["errors"]] == [
                (["body", "data", "vlan"], "less_than_equal")
            ]
            # The board moves meanwhile (another order's report): nothing typed is lost.
            accepted = await report(system, other["id"], other_technician, "accepted")
            assert accepted.status_code == 200
            load = board.locator(f"[data-technician='{other_technician}']")
            moved = load.locator(f"[data-order='{other['id']}']")
            await expect(moved).to_have_attribute("data-state", "accepted")
            await expect(error).to_have_text("不能大于 4094")
            await expect(vlan).to_have_value("5000")
            await board.screenshot(path=ARTIFACTS / "board_retry_refused_zh.png", full_page=True)

            # The port was repaired; operations choose a free VLAN by hand.
            system.nms.config = clear
            olt, port = planned["olt_id"], planned["pon_port"]
            taken = await system.stores.inventory.occupancy([olt], order["id"])
            free = next(v for v in range(199, 99, -1) if (olt, port, v) not in taken.vlans)
            await vlan.fill(str(free))
            await task.locator("form.edit button[type=submit]:not([name])").click()
            await expect(board.locator(f"[id='task-{order['id']}-activation']")).to_have_count(
                0, timeout=30_000
            )
            await board.screenshot(path=ARTIFACTS / "board_retried_zh.png", full_page=True)

            # The order's page follows it to the end without a reload.
            activation = follower.locator(".task[data-kind=activation] .status")
            await expect(activation).to_have_attribute("data-status", "succeeded", timeout=30_000)
            await expect(follower.locator("#live-status")).to_have_attribute(
                "data-status", "completed", timeout=30_000
            )
            await follower.screenshot(path=ARTIFACTS / "order_retried.png", full_page=True)
        finally:
            system.nms.config = healthy
            for context in browser.contexts:
                await context.close()

    # The retry ran with the data as edited, and the network got that VLAN.
    order = await wait_for(system, order["id"], lambda o: o["status"] == "completed")
    edited = {**planned, "vlan": free}
    assert task_of(order, "activation")["data"] == edited
    history = (await system.http.get(f"/orders/{order['id']}/history")).json()
    started = [e for e in history["events"] if e["kind"] == "activation.attempt_started"]
    assert started[-1]["actor"] == f"operations:{dispatcher}"
    assert started[-1]["detail"]["data"] == edited
    services = [s for s in system.nms.active_services() if s[4] == order["id"]]
    assert [(s[0], s[1], s[2], s[3]) for s in services] == [(olt, port, planned["ont_id"], free)]
    assert activations(system.nms, order["id"]) == 1


def task_of(order: dict[str, Any], kind: str) -> dict[str, Any]:
    task: dict[str, Any] = next(t for t in order["sub_tasks"] if t["kind"] == kind)
    return task
