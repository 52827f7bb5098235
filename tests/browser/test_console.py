"""The front desk creates an order in the console, and a colleague's page of it, open
in another browser, follows each step of the order without a reload; a technician on
a phone works a job while a dispatcher's board follows it."""

from __future__ import annotations

import uuid

from playwright.async_api import Browser, Page, expect

from tests.api.conftest import System
from tests.api.test_codec import served
from tests.api.test_console import PASSWORD, add_user
from tests.api.test_orders import assigned, create, report, wait_for
from tests.browser.conftest import ARTIFACTS
from workorders.auth import Role


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
    for field, value in {
        "customer.name": "张伟",
        "customer.phone": "+86 138 0013 8000",
        "address.province": "北京市",
        "address.city": "北京市",
        "address.district": "海淀区",
        "address.street": "中关村大街",
        "address.house_number": "27号",
        "address.unit": "3单元",
        "address.room": "502室",
        "address.postcode": "10008",  # one digit short: refused at its field
        "demand.download_mbps": "300",
        "demand.upload_mbps": "100",
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
