"""What a careless or hostile client sends is a 422 problem document naming the field:
instants past the calendar's end once in UTC, numbers for dates, booleans and strings
for numbers. On the bare API: all of it is refused before a store or Temporal."""

from __future__ import annotations

import base64
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from api.pagination import CURSOR_PATTERN, FIRST, LAST, decode_cursor, encode_cursor
from tests.api.conftest import BareApi, System
from tests.factories import order_request
from workorders.auth import Role

LATE = "9999-12-31T20:00:00-10:00"
"""Still 9999 here, 10000 in UTC."""
EARLY = "0001-01-01T01:00:00+10:00"
"""Still year 1 here, year 0 in UTC."""


def fields(response: Any) -> list[list[str | int]]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return [e["location"] for e in response.json()["errors"]]


@pytest.mark.parametrize(("field", "instant"), [("created_from", LATE), ("created_to", EARLY)])
async def test_a_filter_past_the_calendar_in_utc_is_422(
    bare: BareApi, field: str, instant: str
) -> None:
    response = await bare.http.get(
        "/orders", params={field: instant}, headers=bare.auth(Role.OPERATIONS, "ops")
    )
    assert fields(response) == [["query", field]]


async def test_a_filter_at_the_calendar_ends_in_utc_is_fine(bare: BareApi) -> None:
    response = await bare.http.get(
        "/orders",
        params={"created_from": "0001-01-01T00:00:00Z", "created_to": "9999-12-31T23:59:59Z"},
        headers=bare.auth(Role.OPERATIONS, "ops"),
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("instant", ["1767225600", "2026-01-01T00:00:00"])
async def test_a_filter_is_an_iso_instant_with_a_zone(bare: BareApi, instant: str) -> None:
    response = await bare.http.get(
        "/orders", params={"created_from": instant}, headers=bare.auth(Role.OPERATIONS, "ops")
    )
    assert fields(response) == [["query", "created_from"]]


@pytest.mark.parametrize(
    "cursor", ["garbage", "e30", "WyJub3QtYS1kYXRlIiwxXQ", "0" * 200, "A" * 31 + "=", "A" * 33]
)
async def test_a_cursor_not_of_the_documented_pattern_is_422(bare: BareApi, cursor: str) -> None:
    response = await bare.http.get(
        "/orders", params={"cursor": cursor}, headers=bare.auth(Role.OPERATIONS, "ops")
    )
    assert fields(response) == [["query", "cursor"]]


@pytest.mark.parametrize(
    "position",
    [
        (2**63 - 1).to_bytes(8, "big", signed=True),  # past the calendar's end
        (-(2**63)).to_bytes(8, "big", signed=True),  # before its start
        bytes(8),  # the Unix epoch
    ],
)
async def test_every_cursor_of_the_pattern_is_a_position(bare: BareApi, position: bytes) -> None:
    """What the document allows the API takes: any 32 characters of the pattern name an
    instant (before or after every order past the calendar) and an id."""
    cursor = base64.urlsafe_b64encode(position + uuid.uuid4().bytes).decode()
    assert re.fullmatch(CURSOR_PATTERN, cursor)
    response = await bare.http.get(
        "/orders", params={"cursor": cursor}, headers=bare.auth(Role.OPERATIONS, "ops")
    )
    assert response.status_code == 200, response.text


def test_a_cursor_names_the_position_it_was_made_of() -> None:
    order_id = str(uuid.uuid4())
    for instant in (datetime(2026, 12, 7, 8, 30, 0, 123456, tzinfo=UTC), FIRST, LAST):
        cursor = encode_cursor(instant, order_id)
        assert re.fullmatch(CURSOR_PATTERN, cursor)
        assert decode_cursor(cursor) == (instant, order_id)


def with_window(start: Any, end: Any) -> dict[str, Any]:
    body = order_request()
    body["demand"]["installation_window"] = {"start": start, "end": end}
    return body


@pytest.mark.parametrize(
    ("start", "end", "at_fault"),
    [
        (LATE, "9999-12-31T21:00:00-10:00", ["start", "end"]),
        (EARLY, "0001-01-01T12:00:00+10:00", ["start"]),
        (1767225600, "2026-01-01T04:00:00Z", ["start"]),
        ("2026-01-01T00:00:00Z", 1767240000.5, ["end"]),
    ],
)
async def test_an_installation_window_is_two_iso_instants_within_utc(
    bare: BareApi, start: Any, end: Any, at_fault: list[str]
) -> None:
    response = await bare.http.post(
        "/orders", json=with_window(start, end), headers=bare.auth(Role.FRONT_DESK, "anna")
    )
    assert fields(response) == [["body", "demand", "installation_window", f] for f in at_fault]


@pytest.mark.parametrize("value", [True, "300", 300.5])
async def test_a_bandwidth_is_a_json_integer(bare: BareApi, value: Any) -> None:
    body = order_request()
    body["demand"]["download_mbps"] = value
    response = await bare.http.post(
        "/orders", json=body, headers=bare.auth(Role.FRONT_DESK, "anna")
    )
    assert fields(response) == [["body", "demand", "download_mbps"]]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"active": "false"}, "active"),
        ({"active": 0}, "active"),
        ({"max_open_jobs": "3"}, "max_open_jobs"),
        ({"max_open_jobs": True}, "max_open_jobs"),
    ],
)
async def test_a_technician_change_takes_json_types(
    bare: BareApi, change: dict[str, Any], field: str
) -> None:
    response = await bare.http.patch(
        "/technicians/tech-north-1", json=change, headers=bare.auth(Role.OPERATIONS, "ops")
    )
    assert fields(response) == [["body", field]]


EDITED_ACTIVATION = {
    "olt_id": "olt-bj-haidian-01",
    "pon_port": 3,
    "ont_id": 7,
    "vlan": 150,
    "profile": "FTTH_300_100",
    "nms_profile_name": "FTTH_300_100",
}


def nested(depth: int) -> dict[str, object]:
    value: dict[str, object] = {}
    for _ in range(depth):
        value = {"x": value}
    return value


@pytest.mark.parametrize(
    ("kind", "data", "where"),
    [
        ("activation", {**EDITED_ACTIVATION, "olt_id": "o" * 200_000}, "olt_id"),
        ("activation", {**EDITED_ACTIVATION, "olt_id": nested(500)}, "olt_id"),
        ("activation", {**EDITED_ACTIVATION, "extra": nested(500)}, "extra"),
        ("activation", {**EDITED_ACTIVATION, "vlan": 5000}, "vlan"),
        ("activation", {**EDITED_ACTIVATION, "pon_port": "3"}, "pon_port"),
        ("activation", {k: v for k, v in EDITED_ACTIVATION.items() if k != "vlan"}, "vlan"),
        ("quality_check", {**EDITED_ACTIVATION}, "test_server"),
        ("quality_check", nested(500), "x"),
    ],
)
async def test_edited_data_is_checked_before_it_reaches_the_workflow(
    bare: BareApi, kind: str, data: dict[str, object], where: str
) -> None:
    response = await bare.http.post(
        f"/orders/{uuid.uuid4()}/{kind}/operations",
        json={"action": "retry", "data": data},
        headers=bare.auth(Role.OPERATIONS, "ops"),
    )

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    locations = [e["location"] for e in response.json()["errors"]]
    assert any(loc[:3] == ["body", "data", where] for loc in locations), locations
    assert len(response.content) < 10_000  # the refusal does not echo a huge value back


async def test_edited_data_that_fits_passes_on_to_the_order(bare: BareApi) -> None:
    response = await bare.http.post(
        f"/orders/{uuid.uuid4()}/activation/operations",
        json={"action": "retry", "data": EDITED_ACTIVATION},
        headers=bare.auth(Role.OPERATIONS, "ops"),
    )
    assert response.status_code == 404  # valid: the next thing is to find the order


async def test_a_tmf641_offset_past_any_database_integer_is_a_400(bare: BareApi) -> None:
    response = await bare.http.get(
        "/tmf-api/serviceOrdering/v4/serviceOrder",
        params={"offset": str(2**111)},
        headers=bare.auth(Role.OPERATIONS, "ops"),
    )
    assert response.status_code == 400, response.text  # was a 500: SQLite's int overflowed


async def test_a_text_holding_nul_is_refused_and_stores_nothing(system: System) -> None:
    """PostgreSQL's text cannot hold U+0000 (it answered 500 to a TMF641 listener's
    secret holding one); every body refuses it, on every database."""
    body = order_request()
    body["customer"]["name"] = "Wang\x00Xiaoming"
    order = await system.http.post("/orders", json=body)
    assert order.status_code == 422, order.text
    assert [e["type"] for e in order.json()["errors"]] == ["nul_character"]
    again = await system.http.post("/orders", json=order_request(body["external_reference"]))
    assert again.status_code == 201  # the refused one was not stored
    hub = await system.http.post(
        "/tmf-api/serviceOrdering/v4/hub",
        json={"callback": "https://crm.example.com/l", "secret": "a-secret-of-16-chars\x00"},
    )
    assert hub.status_code == 400 and hub.json()["code"] == "NUL_CHARACTER", hub.text
