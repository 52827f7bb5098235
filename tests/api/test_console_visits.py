"""The order page's visit card: the front desk books, moves and withdraws the
installation visit in the console, through the API's own booking code, and is told in
its language why a booking was refused."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.api.conftest import BareApi, System, bare_api
from tests.api.test_appointments import (
    BEIJING,
    appointments,
    at,
    next_sunday,
    sunday_technician,
    yesterday,
)
from tests.api.test_console import ZHANG_WEI, add_user, csrf_of, sign_in
from tests.factories import order_request
from workorders.auth import Role

__all__ = ["sunday_technician"]  # the fixture, used below


@pytest.fixture
async def desk(system: System) -> AsyncIterator[httpx.AsyncClient]:
    """A front desk signed into the console, in a client with its own cookies."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=system.app), base_url="http://api"
    ) as http:
        await sign_in(http, await add_user(system.stores))
        yield http


async def new_order(system: System) -> str:
    created = await system.http.post("/orders", json=order_request())
    assert created.status_code == 201, created.text
    order_id: str = created.json()["id"]
    return order_id


async def test_the_front_desk_books_moves_and_withdraws_the_visit_on_the_order_page(
    system: System, desk: httpx.AsyncClient, sunday_technician: str
) -> None:
    sunday = next_sunday()
    order_id = await new_order(system)
    page = await desk.get(f"/console/orders/{order_id}")
    assert page.status_code == 200 and 'id="visit"' in page.text
    assert "Book this slot" in page.text and "Withdraw the visit" not in page.text
    if (sunday - datetime.now(BEIJING).date()).days < 7:  # the card offers the coming week
        assert f'value="{at(sunday, 8)}"' in page.text

    booked = await desk.post(
        f"/console/orders/{order_id}/visit",
        data={"csrf": csrf_of(page.text), "start": at(sunday, 8)},
    )
    assert booked.status_code == 303, booked.text
    (visit,) = await appointments(system, order_id)
    assert (visit["technician_id"], visit["status"]) == (sunday_technician, "booked")
    page = await desk.get(f"/console/orders/{order_id}")
    assert "Move the visit here" in page.text and sunday_technician in page.text

    moved = await desk.post(
        f"/console/orders/{order_id}/visit",
        data={"csrf": csrf_of(page.text), "start": at(sunday, 10)},
    )
    assert moved.status_code == 303, moved.text
    assert [a["status"] for a in await appointments(system, order_id)] == ["rescheduled", "booked"]
    events = [
        e["kind"] for e in (await system.http.get(f"/orders/{order_id}/history")).json()["events"]
    ]
    assert "appointment.rescheduled" in events  # the API's timeline, the same code path

    withdrawn = await desk.post(
        f"/console/orders/{order_id}/visit/withdraw", data={"csrf": csrf_of(page.text)}
    )
    assert withdrawn.status_code == 303, withdrawn.text
    assert [a["status"] for a in await appointments(system, order_id)][-1] == "cancelled"


async def test_a_refused_booking_is_told_on_the_card_in_the_pages_language(
    system: System, desk: httpx.AsyncClient, sunday_technician: str
) -> None:
    sunday = next_sunday()
    first, second = await new_order(system), await new_order(system)
    page = await desk.get(f"/console/orders/{first}")
    csrf = csrf_of(page.text)
    taken = await desk.post(
        f"/console/orders/{first}/visit", data={"csrf": csrf, "start": at(sunday, 8)}
    )
    assert taken.status_code == 303

    chinese = {"Accept-Language": "zh-CN,zh;q=0.9"}
    refused = await desk.post(
        f"/console/orders/{second}/visit",
        data={"csrf": csrf, "start": at(sunday, 8)},
        headers=chinese,
    )
    assert refused.status_code == 409
    assert "该时段刚被约走" in html.unescape(refused.text) and 'id="visit"' in refused.text
    assert await appointments(system, second) == []  # nothing stored
    for start, status in (("soon", 422), (at(sunday, 8, 30), 422), ("2020-01-05T08:00", 422)):
        wrong = await desk.post(
            f"/console/orders/{second}/visit", data={"csrf": csrf, "start": start}
        )
        assert wrong.status_code == status, (start, wrong.text[:300])
        assert "Choose one of the free slots offered." in wrong.text
    gone = await desk.post(
        f"/console/orders/{second}/visit", data={"csrf": csrf, "start": at(yesterday(), 8)}
    )
    assert gone.status_code == 422 and "starts too soon" in gone.text
    nothing = await desk.post(f"/console/orders/{second}/visit/withdraw", data={"csrf": csrf})
    assert nothing.status_code == 409 and "can no longer be booked" in nothing.text
    no_csrf = await desk.post(f"/console/orders/{second}/visit", data={"start": at(sunday, 10)})
    assert no_csrf.status_code == 403
    for path in ("visit", "visit/withdraw"):
        unknown = await desk.post(
            f"/console/orders/{uuid.uuid4()}/{path}", data={"csrf": csrf, "start": at(sunday, 10)}
        )
        assert unknown.status_code == 404 and "<html" in unknown.text  # a page, not JSON


async def test_a_technician_has_no_visit_card_and_cannot_book(system: System) -> None:
    order_id = await new_order(system)
    name = await add_user(system.stores, Role.TECHNICIAN, technician_id="tech-north-1")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=system.app), base_url="http://api"
    ) as http:
        await sign_in(http, name)
        page = await http.get("/console", follow_redirects=True)
        refused = await http.post(
            f"/console/orders/{order_id}/visit",
            data={"csrf": csrf_of(page.text), "start": at(next_sunday(), 8)},
        )
    assert refused.status_code == 403
    assert await appointments(system, order_id) == []


async def test_the_new_order_form_offers_the_addresss_slots_and_books_one_with_the_order(
    system: System, desk: httpx.AsyncClient
) -> None:
    where = {
        "address.country": "CN",
        "address.province": "北京市",
        "address.city": "北京市",
        "address.district": "海淀区",
        "address.postcode": "100080",
    }
    options = await desk.get("/console/slots", params=where)
    assert options.status_code == 200
    starts = re.findall(r'<option value="([^"]+)"', options.text)
    assert starts and all(datetime.fromisoformat(s).tzinfo for s in starts)
    assert "Book later" in options.text
    nowhere = await desk.get("/console/slots", params={**where, "address.district": "火星区"})
    assert "district or postcode first" in nowhere.text
    assert re.findall(r'<option value="([^"]+)"', nowhere.text) == []

    form = await desk.get("/console/orders/new")
    soon = await desk.post(
        "/console/orders",
        data={
            **ZHANG_WEI,
            "csrf": csrf_of(form.text),
            "external_reference": f"FD-{uuid.uuid4().hex[:8]}",
            "appointment.start": at(yesterday(), 8),
        },
    )
    assert soon.status_code == 422 and "starts too soon" in soon.text
    assert 'value="张伟"' in soon.text  # nothing lost
    assert 'hx-vals=\'{"selected": "' + at(yesterday(), 8) in html.unescape(soon.text)

    reference = f"FD-{uuid.uuid4().hex[:8]}"
    created = await desk.post(
        "/console/orders",
        data={
            **ZHANG_WEI,
            "csrf": csrf_of(form.text),
            "external_reference": reference,
            "appointment.start": starts[0],
        },
    )
    assert created.status_code == 303, created.text
    order_id = created.headers["location"].rsplit("/", 1)[1]
    (visit,) = await appointments(system, order_id)
    assert datetime.fromisoformat(visit["start"]) == datetime.fromisoformat(starts[0])
    chosen = await desk.get("/console/slots", params={**where, "selected": starts[1]})
    assert f'value="{starts[1]}" selected' in chosen.text


async def test_times_are_shown_in_the_operators_time_zone(bare: BareApi) -> None:
    """``WORKORDERS_TIME_ZONE`` decides, not a zone written into the console."""
    from tests.factories import new_order as stored_order

    async with bare_api(str(bare.settings.database_url), time_zone="Europe/Berlin") as berlin:
        order, _ = await berlin.app.state.stores.orders.create_order(stored_order())
        (received,) = await berlin.app.state.stores.orders.timeline(order.id)
        await sign_in(berlin.http, await add_user(berlin.app.state.stores, Role.OPERATIONS))
        page = await berlin.http.get(f"/console/orders/{order.id}")
    local = received.at.astimezone(ZoneInfo("Europe/Berlin")).strftime("%m-%d %H:%M:%S")
    assert page.status_code == 200 and local in page.text
