"""The front desk books the installation visit on the order page in a real Chromium:
picks a free slot, sees the booking, moves it and withdraws it."""

from __future__ import annotations

from datetime import datetime

from playwright.async_api import Browser, expect

from tests.api.conftest import System
from tests.api.test_appointments import appointments
from tests.api.test_codec import served
from tests.api.test_console import add_user
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_console import signed_in
from tests.factories import order_request
from workorders.auth import Role


async def test_the_front_desk_books_and_moves_a_visit_from_the_order_page(
    system: System, browser: Browser
) -> None:
    created = await system.http.post("/orders", json=order_request())
    assert created.status_code == 201, created.text
    order_id = created.json()["id"]
    front_desk = await add_user(system.stores, Role.FRONT_DESK)
    async with served(system.app) as url:
        desk = await signed_in(browser, url, front_desk, locale="zh-CN")
        try:
            await desk.goto(f"/console/orders/{order_id}")
            card = desk.locator("#visit")
            await expect(card).to_contain_text("上门安装预约")
            options = card.locator("select[name=start] option")
            first = await options.nth(0).get_attribute("value")
            second = await options.nth(1).get_attribute("value")
            assert first and second
            await card.locator("select[name=start]").select_option(first)
            await desk.screenshot(path=ARTIFACTS / "order_visit_zh.png", full_page=True)
            await card.locator("button", has_text="预约此时段").click()
            await expect(card.locator(".booked")).to_be_visible()
            (booked,) = await appointments(system, order_id)
            assert booked["status"] == "booked"
            await expect(card.locator(".booked")).to_contain_text(booked["technician_id"])

            await card.locator("select[name=start]").select_option(second)
            await card.locator("button", has_text="改约到此时段").click()
            await expect(desk.locator("#timeline")).to_contain_text("appointment.rescheduled")
            await desk.screenshot(path=ARTIFACTS / "order_visit_moved_zh.png", full_page=True)
            await card.locator("button", has_text="取消预约").click()
            await expect(card.locator(".booked")).to_have_count(0)
            assert [a["status"] for a in await appointments(system, order_id)] == [
                "rescheduled",
                "cancelled",
            ]
        finally:  # the page's live feed ends before the server does
            for context in browser.contexts:
                await context.close()


async def test_the_front_desk_books_the_visit_with_the_order_as_the_address_is_typed(
    system: System, browser: Browser
) -> None:
    front_desk = await add_user(system.stores, Role.FRONT_DESK)
    async with served(system.app) as url:
        desk = await signed_in(browser, url, front_desk, locale="zh-CN")
        try:
            await desk.goto("/console/orders/new")
            slots = desk.locator("#appointment-start option:not([disabled])")
            await expect(slots).to_have_count(1)  # only "later" before the address
            for field, value in {
                "customer.name": "张伟",
                "customer.phone": "+86 138 0013 8000",
                "address.province": "北京市",
                "address.city": "北京市",
                "address.street": "中关村大街",
                "address.house_number": "27号",
                "address.postcode": "100080",
                "address.district": "海淀区",
                "demand.download_mbps": "300",
                "demand.upload_mbps": "100",
            }.items():
                await desk.fill(f"input[name='{field}']", value)
            await desk.locator("input[name='address.district']").dispatch_event("change")
            await expect(slots.nth(1)).to_be_attached()  # the district's free slots came
            start = await slots.nth(1).get_attribute("value")
            assert start
            await desk.locator("#appointment-start").select_option(start)
            await desk.screenshot(path=ARTIFACTS / "order_new_visit_zh.png", full_page=True)
            await desk.click("#new-order button[type=submit]")
            await expect(desk.locator("#visit .booked")).to_be_visible()
            order_id = desk.url.rsplit("/", 1)[1]
            (booked,) = await appointments(system, order_id)
            assert datetime.fromisoformat(booked["start"]) == datetime.fromisoformat(start)
        finally:
            for context in browser.contexts:
                await context.close()
