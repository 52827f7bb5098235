"""The web console over HTTP: sign-in, sessions, CSRF, throttling, roles, languages,
the create-order form and the live feed."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import AsyncIterator
from unittest import mock

import httpx
import pytest
from itsdangerous import TimestampSigner

from tests.api.conftest import BareApi, System, bare_api
from tests.api.test_codec import served
from workorders.auth import Role
from workorders.users import MAX_FAILURES, hash_password

PASSWORD = "correct horse battery"
ZHANG_WEI = {
    "timezone": "Asia/Shanghai",
    "customer.name": "张伟",
    "customer.phone": "+86 138 0013 8000",
    "address.country": "CN",
    "address.province": "北京市",
    "address.city": "北京市",
    "address.district": "海淀区",
    "address.street": "中关村大街",
    "address.house_number": "27号",
    "address.unit": "3单元",
    "address.room": "502室",
    "address.postcode": "100080",
    "demand.service_type": "FTTH",
    "demand.download_mbps": "300",
    "demand.upload_mbps": "100",
}
"""The create-order form filled in for the issue's customer (reference and CSRF apart)."""


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


async def add_user(
    stores: object, role: Role = Role.FRONT_DESK, technician_id: str | None = None
) -> str:
    name = f"user-{uuid.uuid4().hex[:8]}"
    await stores.users.add_user(  # type: ignore[attr-defined]
        name, role, hash_password(PASSWORD), technician_id=technician_id
    )
    return name


async def sign_in(http: httpx.AsyncClient, name: str, password: str = PASSWORD) -> httpx.Response:
    page = await http.get("/console/login")
    return await http.post(
        "/console/login",
        data={"name": name, "password": password, "csrf": csrf_of(page.text)},
    )


@pytest.fixture
async def browser(bare: BareApi) -> AsyncIterator[httpx.AsyncClient]:
    """A client of its own: its own cookies, no token."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=bare.app), base_url="http://api"
    ) as http:
        yield http


async def test_a_good_sign_in_opens_the_console(bare: BareApi, browser: httpx.AsyncClient) -> None:
    name = await add_user(bare.app.state.stores)

    signed = await sign_in(browser, name)

    assert (signed.status_code, signed.headers["location"]) == (303, "/console")
    cookie = signed.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert "path=/console" in cookie.lower()
    orders = await browser.get("/console/orders")
    assert orders.status_code == 200
    assert f"front_desk:{name}" in orders.text


async def test_without_a_session_the_console_sends_to_sign_in(browser: httpx.AsyncClient) -> None:
    response = await browser.get("/console/orders")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/login?next=/console/orders"
    htmx = await browser.get("/console/orders", headers={"HX-Request": "true"})
    assert htmx.headers["hx-redirect"].startswith("/console/login")


async def test_a_wrong_password_or_unknown_name_says_the_same(
    bare: BareApi, browser: httpx.AsyncClient
) -> None:
    name = await add_user(bare.app.state.stores)

    wrong = await sign_in(browser, name, "not the password")
    unknown = await sign_in(browser, "nobody-at-all", PASSWORD)

    assert wrong.status_code == unknown.status_code == 401
    assert (
        "Name or password is wrong." in wrong.text and "Name or password is wrong." in unknown.text
    )
    assert (await browser.get("/console/orders")).status_code == 303


async def test_failures_in_a_row_lock_the_name_even_for_the_right_password(
    bare: BareApi, browser: httpx.AsyncClient
) -> None:
    name = await add_user(bare.app.state.stores)
    answers = [
        (await sign_in(browser, name, f"wrong {i}")).status_code for i in range(MAX_FAILURES)
    ]

    right = await sign_in(browser, name)

    assert answers == [401] * (MAX_FAILURES - 1) + [429]
    assert right.status_code == 429
    assert (await browser.get("/console/orders")).status_code == 303


async def test_a_form_without_the_sessions_csrf_token_is_refused(
    bare: BareApi, browser: httpx.AsyncClient
) -> None:
    name = await add_user(bare.app.state.stores)
    await browser.get("/console/login")

    forged = await browser.post("/console/login", data={"name": name, "password": PASSWORD})
    other = await browser.post(
        "/console/login", data={"name": name, "password": PASSWORD, "csrf": "guessed"}
    )

    assert forged.status_code == other.status_code == 403
    assert (await browser.get("/console/orders")).status_code == 303


async def test_a_disabled_user_is_signed_out_at_the_next_request(
    bare: BareApi, browser: httpx.AsyncClient
) -> None:
    name = await add_user(bare.app.state.stores)
    await sign_in(browser, name)

    await bare.app.state.stores.users.change_user(name, disabled=True)

    assert (await browser.get("/console/orders")).status_code == 303
    assert (await sign_in(browser, name)).status_code == 401


async def test_a_session_expires(bare: BareApi) -> None:
    async with bare_api(str(bare.settings.database_url), console_session_minutes=1) as short:
        name = await add_user(short.app.state.stores)
        await sign_in(short.http, name)
        cookie = short.http.cookies.get("workorders_console")
        assert cookie is not None
        signer = TimestampSigner(short.settings.auth_secret.get_secret_value())
        session = signer.unsign(cookie.encode())

        def with_cookie_signed(seconds_ago: int) -> None:
            with mock.patch.object(time, "time", return_value=time.time() - seconds_ago):
                signed = signer.sign(session).decode()
            short.http.cookies.clear()
            short.http.cookies.set("workorders_console", signed)

        with_cookie_signed(30)
        assert (await short.http.get("/console/orders")).status_code == 200
        with_cookie_signed(61)
        assert (await short.http.get("/console/orders")).status_code == 303


async def test_every_page_speaks_chinese_or_english(
    bare: BareApi, browser: httpx.AsyncClient
) -> None:
    chinese = await browser.get("/console/login", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    english = await browser.get("/console/login", headers={"Accept-Language": "en-GB"})
    switched = await browser.get("/console/lang/zh-CN?next=/console/login")

    assert "登录" in chinese.text and 'lang="zh-CN"' in chinese.text
    assert "Sign in" in english.text and 'lang="en"' in english.text
    assert switched.headers["location"] == "/console/login"
    assert "登录" in (await browser.get("/console/login")).text  # the cookie wins
    elsewhere = await browser.get("/console/lang/en?next=https://evil.example/")
    assert elsewhere.headers["location"] == "/console"


async def test_the_form_shows_each_error_at_its_field_and_keeps_every_value(
    bare: BareApi, browser: httpx.AsyncClient
) -> None:
    name = await add_user(bare.app.state.stores)
    await sign_in(browser, name)
    form = await browser.get("/console/orders/new")
    values = {
        "csrf": csrf_of(form.text),
        "external_reference": "FD-TEST-1",
        "customer.name": "张伟 <b>",
        "customer.phone": "not a phone",
        "address.country": "CN",
        "address.province": "北京市",
        "address.city": "北京市",
        "address.district": "海淀区",
        "address.street": "中关村大街",
        "address.house_number": "27号",
        "address.postcode": "1000",
        "demand.service_type": "FTTH",
        "demand.download_mbps": "lots",
        "demand.upload_mbps": "100",
    }

    refused = await browser.post("/console/orders", data=values)

    assert refused.status_code == 422
    html = refused.text
    for field in ("customer.phone", "address.postcode", "demand.download_mbps"):
        assert f'id="{field}-error"' in html, field
    assert 'value="张伟 &lt;b&gt;"' in html  # kept, and escaped
    assert 'value="lots"' in html and 'value="中关村大街"' in html
    assert await bare.app.state.stores.orders.list_orders(external_reference="FD-TEST-1") == (
        [],
        0,
    )


async def test_front_desk_creates_an_order_and_sees_it_live(system: System) -> None:
    name = await add_user(system.stores)
    # Served for real: the live feed streams, which the in-process transport cannot.
    async with served(system.app) as url, httpx.AsyncClient(base_url=url) as browser:
        await sign_in(browser, name)
        form = await browser.get("/console/orders/new")
        reference = f"FD-{uuid.uuid4().hex[:8]}"
        created = await browser.post(
            "/console/orders",
            data={
                **ZHANG_WEI,
                "csrf": csrf_of(form.text),
                "external_reference": reference,
                "demand.installation_window.start": "2026-12-10T09:00",
                "demand.installation_window.end": "2026-12-10T12:00",
            },
        )
        assert created.status_code == 303, created.text
        order_id = created.headers["location"].rsplit("/", 1)[1]
        order = await system.stores.orders.get_order(order_id)
        assert (order.customer_name, order.region, order.room) == ("张伟", "haidian", "502室")
        assert order.window_start is not None and order.window_start.hour == 1  # 09:00 +08:00
        events = await system.stores.orders.timeline(order_id)
        assert events[0].actor == f"front_desk:{name}"

        page = await browser.get(f"/console/orders/{order_id}")
        assert page.status_code == 200 and "张伟" in page.text and "502室" in page.text
        # The live feed from the first event on names every event with its id.
        lines: list[str] = []
        async with browser.stream(
            "GET", f"/console/orders/{order_id}/events", headers={"Last-Event-ID": "0"}
        ) as feed:
            async for line in feed.aiter_lines():
                lines.append(line)
                if sum(1 for x in lines if x.startswith("id:")) >= 2:
                    break
        ids = [int(x.split(":", 1)[1]) for x in lines if x.startswith("id:")]
        events = await system.stores.orders.timeline(order_id)
        assert ids == [e.id for e in events[:2]]
        assert "event: order" in lines
        # Resumed after the first: the second comes first.
        async with browser.stream(
            "GET", f"/console/orders/{order_id}/events", headers={"Last-Event-ID": str(ids[0])}
        ) as feed:
            async for line in feed.aiter_lines():
                if line.startswith("id:"):
                    assert int(line.split(":", 1)[1]) == ids[1]
                    break


async def test_a_technician_opens_only_their_own_jobs(
    bare: BareApi, browser: httpx.AsyncClient
) -> None:
    from tests.factories import new_order

    order, _ = await bare.app.state.stores.orders.create_order(new_order())
    name = await add_user(bare.app.state.stores, Role.TECHNICIAN, "tech-north-1")
    await sign_in(browser, name)

    page = await browser.get(f"/console/orders/{order.id}")
    feed = await browser.get(f"/console/orders/{order.id}/events")
    new = await browser.get("/console/orders/new")

    assert page.status_code == feed.status_code == new.status_code == 403
    assert "You may not open this." in page.text


async def test_the_orders_list_finds_by_name_phone_or_street_and_filters(
    bare: BareApi, browser: httpx.AsyncClient
) -> None:
    from tests.factories import new_order

    stores = bare.app.state.stores
    region = f"find-{uuid.uuid4().hex[:6]}"
    wanted, _ = await stores.orders.create_order(
        new_order(region=region, customer_name="刘洋", technician_id="tech-find-1")
    )
    other, _ = await stores.orders.create_order(new_order(region=region, customer_name="Bob"))
    await sign_in(browser, await add_user(stores))

    def listed(page: httpx.Response) -> set[str]:
        assert page.status_code == 200
        return {o.id for o in (wanted, other) if f"/console/orders/{o.id}" in page.text}

    assert listed(await browser.get(f"/console/orders?region={region}")) == {wanted.id, other.id}
    assert listed(await browser.get(f"/console/orders?region={region}&q=刘")) == {wanted.id}
    assert listed(await browser.get(f"/console/orders?q=bob&region={region}")) == {other.id}
    by_technician = await browser.get(f"/console/orders?region={region}&technician=tech-find-1")
    assert listed(by_technician) == {wanted.id}
    assert 'value="tech-find-1"' in by_technician.text  # the filter is kept
    assert (await browser.get("/console/orders?q=" + "x" * 101)).status_code == 422
