"""Country-aware addresses through the API: Chinese addresses of every shipped Beijing
district, their region, and their strings back exactly as sent (issue 21)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from api.ordering import fingerprint
from models.api import OrderCreateRequest
from tests.api.conftest import System
from tests.api.test_orders import assigned, create, report, wait_for
from tests.factories import order_request

DISTRICTS = {
    "海淀区": ("haidian", "100080"),
    "朝阳区": ("chaoyang", "100020"),
    "东城区": ("dongcheng", "100010"),
    "西城区": ("xicheng", "100032"),
    "丰台区": ("fengtai", "100071"),
}


def beijing_order(district: str = "海淀区", **address: Any) -> dict[str, Any]:
    """张伟's order at 北京市海淀区中关村大街27号 3单元 502室 (another district if asked)."""
    body = order_request(f"cn-{uuid.uuid4()}")
    body["customer"] = {"name": "张伟", "phone": "+86 138 0013 8000"}
    body["address"] = {
        "country": "CN",
        "province": "北京市",
        "city": "北京市",
        "district": district,
        "street": "中关村大街",
        "house_number": "27号",
        "unit": "3单元",
        "room": "502室",
        "postcode": DISTRICTS.get(district, ("", "100080"))[1],
        **address,
    }
    return body


def fields_at_fault(response: Any) -> list[str]:
    return [str(e["location"][-1]) for e in response.json().get("errors", [])]


@pytest.mark.parametrize("district", sorted(DISTRICTS))
async def test_a_beijing_order_of_every_district_is_taken_and_read_back_exactly(
    system: System, district: str
) -> None:
    body = beijing_order(district, building="5号楼")
    created = await create(system, body)
    assert created["region"] == DISTRICTS[district][0]

    read = (await system.http.get(f"/orders/{created['id']}")).json()
    sent = body["address"]
    for order in (created, read):
        assert {k: v for k, v in order["address"].items() if v is not None} == sent
        assert order["customer"]["name"] == "张伟"
    # The same strings, to the byte.
    assert [read["address"][k].encode() for k in sent] == [v.encode() for v in sent.values()]


async def test_a_chinese_order_is_installed_and_activated_in_its_district(
    system: System,
) -> None:
    order = await create(system, beijing_order("海淀区"))
    technician = await assigned(system, order["id"])
    assert technician.startswith("tech-bj-haidian-")
    jobs = (await system.http.get(f"/technicians/{technician}/jobs")).json()
    job = next(j for j in jobs if j["order_id"] == order["id"])
    assert job["address"] == order["address"]
    assert job["customer_name"] == "张伟"

    for state in ("accepted", "en_route", "on_site"):
        assert (await report(system, order["id"], technician, state)).status_code == 200
    done = await report(system, order["id"], technician, "completed", ont_serial="HWTC0CN21")
    assert done.status_code == 200, done.text
    finished = await wait_for(system, order["id"], lambda o: o["status"] == "completed")
    activation = next(t for t in finished["sub_tasks"] if t["kind"] == "activation")
    assert activation["data"]["olt_id"].startswith("olt-bj-haidian-")
    assert 1000 <= activation["data"]["vlan"] <= 1199


async def test_a_chinese_five_digit_postcode_is_a_422_naming_the_postcode(
    system: System,
) -> None:
    body = beijing_order(postcode="10008")
    response = await system.http.post("/orders", json=body)
    assert response.status_code == 422
    assert fields_at_fault(response) == ["postcode"]
    (error,) = response.json()["errors"]
    assert "a CN postcode matches ^[0-9]{6}$, e.g. 100080" in error["message"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"district": None}, "district"),
        ({"province": None}, "province"),
        ({"postcode": "1000801"}, "postcode"),
        ({"country": "FR"}, "country"),
        ({"country": "cn"}, "country"),
    ],
)
async def test_a_chinese_address_without_what_its_format_needs_is_a_422(
    system: System, change: dict[str, Any], field: str
) -> None:
    body = beijing_order()
    body["address"].update(change)
    body["address"] = {k: v for k, v in body["address"].items() if v is not None}
    response = await system.http.post("/orders", json=body)
    assert response.status_code == 422, response.text
    assert field in fields_at_fault(response)


async def test_a_springfield_address_takes_no_chinese_fields(system: System) -> None:
    body = order_request()
    body["address"]["district"] = "海淀区"
    response = await system.http.post("/orders", json=body)
    assert response.status_code == 422
    assert fields_at_fault(response) == ["district"]


async def test_a_district_no_region_covers_is_a_422_naming_it(system: System) -> None:
    # Miyun's postcode is not covered either, but a covered one would not place it.
    for postcode in ("101500", "100080"):
        response = await system.http.post(
            "/orders", json=beijing_order("密云区", postcode=postcode)
        )
        assert response.status_code == 422
        assert (
            "no region covers district '密云区' of 北京市 北京市, CN" in (response.json()["detail"])
        )


async def test_an_address_without_country_is_of_the_default_country(system: System) -> None:
    order = await create(system, order_request())
    assert order["address"]["country"] == system.settings.default_country == "DE"
    assert order["region"] == "north"


def test_an_order_sent_before_addresses_had_a_country_is_still_the_same_order() -> None:
    """Its digest is the one the API stored for it then (computed with that code), so
    sending it again is a repeat, not a conflict."""
    body = order_request("CRM-1")
    body["address"]["unit"] = "Flat 1203"
    assert fingerprint(OrderCreateRequest.model_validate(body)) == (
        "97f59341809acd173d3edd2bd5cf656ece3319cb69f7818765b08ad52997ba9d"
    )
    body["address"].pop("unit")
    explicit = {**body, "address": {**body["address"], "country": "DE"}}
    expected = "f2252e00252ec7de5a74ce4e2af6980755d889c199be814b4cadea1540f4f085"
    assert fingerprint(OrderCreateRequest.model_validate(body)) == expected
    assert fingerprint(OrderCreateRequest.model_validate(explicit)) == expected
    chinese = OrderCreateRequest.model_validate(beijing_order())
    assert fingerprint(chinese) != expected
