"""Booked appointments through the API, on a real Temporal dev server: the free slots
of an address, booking one with the order, moving and withdrawing it, and the workflow
booking the technician's next free slot when the customer was absent."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from api.deps import get_calendar
from tests.api.conftest import System
from tests.api.test_orders import assigned, create, report
from tests.factories import order_request
from workorders.auth import Role

BEIJING = ZoneInfo("Asia/Shanghai")


def next_sunday() -> date:
    today = datetime.now(BEIJING).date()
    return today + timedelta(days=(6 - today.weekday()) % 7 or 7)


def yesterday() -> date:
    return datetime.now(BEIJING).date() - timedelta(days=1)


def at(day: date, hour: int, minute: int = 0) -> str:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BEIJING).isoformat()


@pytest.fixture
async def sunday_technician(system: System) -> AsyncIterator[str]:
    """A technician of the north region who works Sunday mornings only (the seeded
    ones work Monday to Saturday); inactive after the test, so that other tests' jobs
    do not go to them."""
    body = {
        "id": f"tech-sun-{uuid.uuid4().hex[:8]}",
        "name": "周日技术员",
        "regions": ["north"],
        "skills": ["fibre"],
        "working_hours": {"sun": ["08:00-12:00"]},
    }
    created = await system.http.post("/technicians", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["working_hours"]["sun"] == ["08:00-12:00"]
    yield str(body["id"])
    await system.http.patch(f"/technicians/{body['id']}", json={"active": False})


async def slots(system: System, day: date, **params: Any) -> list[dict[str, Any]]:
    found = await system.http.get(
        "/appointments/slots", params={"postcode": "10115", "from": str(day), "days": 1, **params}
    )
    assert found.status_code == 200, found.text
    assert found.json()["region"] == "north"
    offered: list[dict[str, Any]] = found.json()["availableTimeSlot"]
    return offered


async def appointments(system: System, order_id: str) -> list[dict[str, Any]]:
    found = await system.http.get(f"/orders/{order_id}/appointments")
    assert found.status_code == 200, found.text
    booked: list[dict[str, Any]] = found.json()
    return booked


async def test_the_front_desk_books_moves_and_withdraws_a_visit(
    system: System, sunday_technician: str
) -> None:
    technician = sunday_technician
    sunday = next_sunday()
    offered = await slots(system, sunday)
    assert [(s["id"], s["capacity"]) for s in offered] == [
        (at(sunday, 8), 1),
        (at(sunday, 10), 1),
    ]
    desk = system.auth(Role.FRONT_DESK, "desk-1")
    order = await system.http.post(
        "/orders", json={**order_request(), "appointment": {"start": at(sunday, 8)}}, headers=desk
    )
    assert order.status_code == 201, order.text
    order_id = order.json()["id"]
    assert await assigned(system, order_id) == technician  # the booked technician has it
    (booked,) = await appointments(system, order_id)
    assert (booked["technician_id"], booked["status"]) == (technician, "booked")
    assert [s["id"] for s in await slots(system, sunday)] == [at(sunday, 10)]
    (job,) = (await system.http.get(f"/technicians/{technician}/jobs")).json()
    assert datetime.fromisoformat(job["appointment"]["start"]) == datetime.fromisoformat(
        at(sunday, 8)
    )
    # the time limit follows the visit: on time until it ends, then the region's grace
    for _ in range(100):
        events = (await system.http.get(f"/orders/{order_id}/history")).json()["events"]
        limits = [e for e in events if e["kind"] == "construction.sla_on_time"]
        if limits:
            break
        await asyncio.sleep(0.1)
    assert datetime.fromisoformat(limits[-1]["detail"]["due_at"]) > datetime.fromisoformat(
        at(sunday, 10)
    )

    # the slot is taken: the second order is refused, and not stored
    reference = f"taken-{uuid.uuid4()}"
    taken = await system.http.post(
        "/orders",
        json={**order_request(reference), "appointment": {"start": at(sunday, 8)}},
        headers=desk,
    )
    assert taken.status_code == 409 and taken.json()["code"] == "SLOT_TAKEN", taken.text
    unbooked = await system.http.post("/orders", json=order_request(reference), headers=desk)
    assert unbooked.status_code == 201  # created now: nothing was stored before
    # no slot starts at 08:30, nor can one be booked for now, nor a number
    for start, code in (
        (at(sunday, 8, 30), "NO_SUCH_SLOT"),
        (at(yesterday(), 8), "SLOT_TOO_SOON"),
    ):
        refused = await system.http.put(
            f"/orders/{order_id}/appointment", json={"start": str(start)}, headers=desk
        )
        assert refused.status_code == 422 and refused.json()["code"] == code, refused.text
    bad = await system.http.put(f"/orders/{order_id}/appointment", json={"start": 1}, headers=desk)
    assert bad.status_code == 422
    technician_token = system.auth(Role.TECHNICIAN, technician)
    forbidden = await system.http.put(
        f"/orders/{order_id}/appointment", json={"start": at(sunday, 10)}, headers=technician_token
    )
    assert forbidden.status_code == 403

    moved = await system.http.put(
        f"/orders/{order_id}/appointment", json={"start": at(sunday, 10)}, headers=desk
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["technician_id"] == technician
    assert [a["status"] for a in await appointments(system, order_id)] == ["rescheduled", "booked"]
    assert [s["id"] for s in await slots(system, sunday)] == [at(sunday, 8)]

    withdrawn = await system.http.delete(f"/orders/{order_id}/appointment", headers=desk)
    assert withdrawn.status_code == 204
    again = await system.http.delete(f"/orders/{order_id}/appointment", headers=desk)
    assert again.status_code == 409
    missing = await system.http.put(
        f"/orders/{uuid.uuid4()}/appointment", json={"start": at(sunday, 10)}, headers=desk
    )
    assert missing.status_code == 404


async def test_an_absent_customer_gets_the_technicians_next_free_slot(
    system: System, sunday_technician: str
) -> None:
    sunday = next_sunday()
    order = await create(system, {**order_request(), "appointment": {"start": at(sunday, 10)}})
    (booked,) = await appointments(system, order["id"])
    technician = booked["technician_id"]
    assert await assigned(system, order["id"]) == technician
    for state in ("accepted", "on_site"):
        assert (await report(system, order["id"], technician, state)).status_code == 200
    absent = await report(
        system, order["id"], technician, "cannot_complete", reason_code="customer_absent"
    )
    assert absent.status_code == 200, absent.text
    for _ in range(300):
        history = await appointments(system, order["id"])
        if [a["status"] for a in history] == ["missed", "booked"]:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError(f"never rebooked: {history}")
    missed, rebooked = history
    assert rebooked["technician_id"] == technician
    assert rebooked["start"] != missed["start"]
    timeline = (await system.http.get(f"/orders/{order['id']}/history")).json()
    kinds = [e["kind"] for e in timeline["events"]]
    booked_again = kinds.index("appointment.booked", kinds.index("appointment.missed"))
    assert kinds.count("appointment.booked") == 2 and booked_again > kinds.index(
        "appointment.booked"
    )


async def test_searches_and_bookings_out_of_range_are_422_not_500(system: System) -> None:
    desk = system.auth(Role.FRONT_DESK, "desk-1")
    cases: list[dict[str, str | int]] = [
        {"postcode": "10115", "days": 0},
        {"postcode": "10115", "days": 15},
        {"postcode": "10115", "from": "9999-12-31"},
        {"postcode": "10115", "from": "tomorrow"},
        {"country": "cn", "postcode": "100080"},
        {"days": 3},  # no address
        {"country": "CN", "district": "密云区", "postcode": "101500"},  # no region covers it
    ]
    for params in cases:
        found = await system.http.get("/appointments/slots", params=params, headers=desk)
        assert found.status_code == 422, (params, found.text)
    old = await system.http.get(
        "/appointments/slots", params={"postcode": "10115", "from": "0001-01-01"}, headers=desk
    )
    assert old.status_code == 200  # searched from today: days gone by have nothing
    now = datetime.now(BEIJING)
    assert all(datetime.fromisoformat(s["id"]) > now for s in old.json()["availableTimeSlot"])
    unknown = await system.http.get(
        "/appointments/slots", params={"order_id": str(uuid.uuid4())}, headers=desk
    )
    assert unknown.status_code == 404
    order = await create(system)
    for start in ("9999-12-31T23:00:00+00:00", "0001-01-01T00:00:00+14:00", "2026-13-01T10:00"):
        refused = await system.http.put(
            f"/orders/{order['id']}/appointment", json={"start": start}, headers=desk
        )
        assert refused.status_code == 422, (start, refused.text)


async def test_a_repeated_booking_order_is_answered_with_it_once_its_slot_is_near(
    system: System, sunday_technician: str
) -> None:
    """A client that repeats its request (its answer lost) gets the order it made, even
    when the booked slot is now within the lead time a new booking needs."""
    sunday = next_sunday()
    desk = system.auth(Role.FRONT_DESK, "desk-1")
    body = {**order_request(), "appointment": {"start": at(sunday, 10)}}
    key = {"Idempotency-Key": f"near-{uuid.uuid4()}"}
    first = await system.http.post("/orders", json=body, headers={**desk, **key})
    assert first.status_code == 201, first.text

    calendar = await get_calendar(system.settings)
    system.app.dependency_overrides[get_calendar] = lambda: replace(
        calendar,
        lead=timedelta(days=8),  # as if a week had passed
    )
    try:
        again = await system.http.post("/orders", json=body, headers={**desk, **key})
        other = {**body, "external_reference": f"near-{uuid.uuid4()}"}
        new = await system.http.post("/orders", json=other, headers=desk)
    finally:
        del system.app.dependency_overrides[get_calendar]
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"], again.text
    assert new.status_code == 422 and new.json()["code"] == "SLOT_TOO_SOON", new.text


async def test_a_chinese_address_finds_its_districts_slots(system: System) -> None:
    """As the README's example searches: a district is named with its province and city
    (朝阳区 is a district of Beijing and of Changchun)."""
    where = {
        "country": "CN",
        "province": "北京市",
        "city": "北京市",
        "district": "海淀区",
        "postcode": "100080",
    }
    found = await system.http.get("/appointments/slots", params={**where, "days": 7})
    assert found.status_code == 200, found.text
    assert found.json()["region"] == "haidian" and found.json()["availableTimeSlot"]
    no_city = {k: v for k, v in where.items() if k not in ("province", "city")}
    refused = await system.http.get("/appointments/slots", params=no_city)
    assert refused.status_code == 422 and refused.json()["code"] == "ADDRESS_NOT_COVERED"
    assert "海淀区" in refused.json()["detail"]
