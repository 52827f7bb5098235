"""TMF641 Service Ordering v4 through the API, its answers checked against the
definitions of the official swagger document."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from tests.api.conftest import BareApi, System
from tests.api.test_appointments import appointments, at, next_sunday, sunday_technician
from tests.api.test_orders import wait_for
from tests.unit.test_tmf641 import BEIJING_PLACE, beijing_order, service_order
from workorders.auth import Role

BASE = "/tmf-api/serviceOrdering/v4"
__all__ = ["sunday_technician"]  # a fixture, used below
CONTRACT = Path("/work/shared/contracts/TMF641-ServiceOrdering-v4.1.0.swagger.json")
DEFINITIONS = json.loads(CONTRACT.read_text())["definitions"]


def conforms(definition: str, body: Any) -> None:
    """Fails unless ``body`` is a valid ``#/definitions/<definition>`` of the contract."""
    schema = {"$ref": f"#/definitions/{definition}", "definitions": DEFINITIONS}
    errors = [e.message for e in jsonschema_rs.Draft4Validator(schema).iter_errors(body)]
    assert not errors, errors


async def create(system: System, body: dict[str, Any]) -> dict[str, Any]:
    response = await system.http.post(f"{BASE}/serviceOrder", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def external_id() -> str:
    return f"TMF-{uuid.uuid4()}"


async def test_a_service_order_is_created_and_read_back(system: System) -> None:
    ref = external_id()

    created = await create(system, service_order(ref))

    conforms("ServiceOrder", created)
    assert created["externalId"] == ref
    assert created["state"] in ("acknowledged", "inProgress", "pending")
    order = await system.stores.orders.get_order(created["id"])
    assert (order.external_reference, order.download_mbps, order.postcode) == (ref, 300, "10115")
    got = await system.http.get(f"{BASE}/serviceOrder/{created['id']}")
    assert got.status_code == 200
    conforms("ServiceOrder", got.json())
    assert got.json()["relatedParty"][0]["name"] == "Wang Xiaoming"
    # The same order through the classic API: one order, two doors.
    classic = await system.http.get(f"/orders/{created['id']}")
    assert classic.json()["external_reference"] == ref


async def test_the_same_external_id_returns_the_first_order(system: System) -> None:
    ref = external_id()
    first = await create(system, service_order(ref))

    again = await system.http.post(f"{BASE}/serviceOrder", json=service_order(ref))

    assert again.status_code == 200
    assert again.json()["id"] == first["id"]
    _, total = await system.stores.orders.list_orders(external_reference=ref)
    assert total == 1


async def test_the_same_external_id_with_other_details_is_a_409_error(system: System) -> None:
    ref = external_id()
    await create(system, service_order(ref))
    other = service_order(ref)
    other["relatedParty"][0]["name"] = "Li Na"

    response = await system.http.post(f"{BASE}/serviceOrder", json=other)

    assert response.status_code == 409
    conforms("Error", response.json())
    assert response.json()["code"] == "EXTERNAL_REFERENCE_CONFLICT"


async def test_list_pages_with_headers_filters_and_fields(system: System) -> None:
    refs = [external_id() for _ in range(3)]
    for ref in refs:
        await create(system, service_order(ref))

    response = await system.http.get(
        f"{BASE}/serviceOrder", params={"offset": 1, "limit": 2, "fields": "state,externalId"}
    )

    assert response.status_code == 200
    assert int(response.headers["X-Total-Count"]) >= 3
    assert response.headers["X-Result-Count"] == "2"
    for body in response.json():
        assert set(body) == {"id", "href", "@type", "state", "externalId"}
        conforms("ServiceOrder", body)
    first = (await system.http.get(f"{BASE}/serviceOrder", params={"limit": 2})).json()
    second = (
        await system.http.get(f"{BASE}/serviceOrder", params={"offset": 1, "limit": 1})
    ).json()
    assert [o["id"] for o in second] == [first[1]["id"]]
    one = await system.http.get(f"{BASE}/serviceOrder", params={"externalId": refs[1]})
    assert [o["externalId"] for o in one.json()] == [refs[1]]
    assert one.headers["X-Total-Count"] == "1"
    bad = await system.http.get(f"{BASE}/serviceOrder", params={"state": "nonsense"})
    assert bad.status_code == 400
    conforms("Error", bad.json())


@pytest.mark.parametrize("action", ["modify", "delete"])
async def test_modify_and_delete_are_refused_and_store_nothing(system: System, action: str) -> None:
    ref = external_id()
    body = service_order(ref)
    body["serviceOrderItem"][0]["action"] = action

    response = await system.http.post(f"{BASE}/serviceOrder", json=body)

    assert response.status_code == 400
    conforms("Error", response.json())
    assert response.json()["code"] == "ACTION_NOT_SUPPORTED"
    assert response.json()["status"] == "400"
    assert (await system.stores.orders.list_orders(external_reference=ref))[1] == 0


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        json.dumps(service_order(note=[{"text": "ring twice"}])).encode(),
        json.dumps(service_order(serviceOrderItem=[])).encode(),
    ],
)
async def test_bad_input_is_a_400_error_never_a_500(system: System, body: bytes) -> None:
    response = await system.http.post(
        f"{BASE}/serviceOrder", content=body, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400, response.text
    conforms("Error", response.json())


async def test_unknown_order_and_no_token_are_error_bodies(system: System) -> None:
    missing = await system.http.get(f"{BASE}/serviceOrder/{uuid.uuid4()}")
    assert missing.status_code == 404
    conforms("Error", missing.json())

    anonymous = await system.http.get(f"{BASE}/serviceOrder", headers={"Authorization": ""})
    assert anonymous.status_code == 401
    conforms("Error", anonymous.json())

    technician = await system.http.post(
        f"{BASE}/serviceOrder",
        json=service_order(external_id()),
        headers=system.auth(Role.TECHNICIAN, "tech-north-1"),
    )
    assert technician.status_code == 403
    conforms("Error", technician.json())


async def test_front_desk_may_order(system: System) -> None:
    response = await system.http.post(
        f"{BASE}/serviceOrder",
        json=service_order(external_id()),
        headers=system.auth(Role.FRONT_DESK, "anna"),
    )

    assert response.status_code == 201


async def test_cancel_service_order_cancels_the_order(system: System) -> None:
    created = await create(system, service_order(external_id()))

    response = await system.http.post(
        f"{BASE}/cancelServiceOrder",
        json={"serviceOrder": {"id": created["id"]}, "cancellationReason": "customer moved"},
    )

    assert response.status_code == 201, response.text
    conforms("CancelServiceOrder", response.json())
    assert response.json()["serviceOrder"]["id"] == created["id"]
    got = await system.http.get(f"{BASE}/cancelServiceOrder/{created['id']}")
    assert got.status_code == 200
    conforms("CancelServiceOrder", got.json())
    await wait_for(system, created["id"], lambda o: o["status"] == "cancelled")
    order = await system.http.get(f"{BASE}/serviceOrder/{created['id']}")
    assert order.json()["state"] == "cancelled"
    done = (await system.http.get(f"{BASE}/cancelServiceOrder/{created['id']}")).json()
    conforms("CancelServiceOrder", done)
    assert done["state"] == "done"
    again = await system.http.post(
        f"{BASE}/cancelServiceOrder", json={"serviceOrder": {"id": created["id"]}}
    )
    assert again.status_code == 200
    missing = await system.http.post(
        f"{BASE}/cancelServiceOrder", json={"serviceOrder": {"id": str(uuid.uuid4())}}
    )
    assert missing.status_code == 404
    conforms("Error", missing.json())


async def test_a_chinese_address_round_trips_as_the_place_it_came_as(system: System) -> None:
    created = await create(system, beijing_order(external_id()))

    conforms("ServiceOrder", created)
    order = await system.stores.orders.get_order(created["id"])
    assert (order.region, order.district, order.room) == ("haidian", "海淀区", "502室")
    got = (await system.http.get(f"{BASE}/serviceOrder/{created['id']}")).json()
    place = got["serviceOrderItem"][0]["service"]["place"][0]
    expected = {k: v for k, v in BEIJING_PLACE.items() if k != "geographicSubAddress"}
    expected["subUnitNumber"] = "3单元"
    expected["geographicSubAddress"] = [
        {"buildingName": "5号楼"},
        {"subUnitType": "room", "subUnitNumber": "502室"},
    ]
    assert place == expected
    # What came back is an order again: the same external id makes no second order.
    again = beijing_order(created["externalId"], place)
    response = await system.http.post(f"{BASE}/serviceOrder", json=again)
    assert (response.status_code, response.json()["id"]) == (200, created["id"])


@pytest.mark.parametrize("state", ["pending", "pendingCancellation", "partial", "held"])
async def test_the_list_filters_by_every_state_of_ours(bare: BareApi, state: str) -> None:
    response = await bare.http.get(
        f"{BASE}/serviceOrder", params={"state": state}, headers=bare.auth(Role.OPERATIONS, "o")
    )

    assert response.status_code == 200, response.text
    assert response.headers["X-Total-Count"] == "0"


async def test_an_item_books_the_slot_its_appointment_names(
    system: System, sunday_technician: str
) -> None:
    """A CRM searches the free slots (``GET /appointments/slots``, TMF646-shaped) and
    names the chosen slot's ``id`` as the item's ``appointment``."""
    sunday = next_sunday()
    found = await system.http.get(
        "/appointments/slots", params={"postcode": "10115", "from": str(sunday), "days": 1}
    )
    slot = found.json()["availableTimeSlot"][0]
    assert slot["id"] == at(sunday, 8) and slot["capacity"] == 1  # only the Sunday technician

    def booking(ref: str, start: str) -> dict[str, Any]:
        body = service_order(ref)
        body["serviceOrderItem"][0]["appointment"] = {"id": start, "@type": "AppointmentRef"}
        return body

    created = await create(system, booking(external_id(), slot["id"]))

    conforms("ServiceOrder", created)
    (visit,) = await appointments(system, created["id"])
    assert (visit["technician_id"], visit["status"]) == (sunday_technician, "booked")
    got = (await system.http.get(f"{BASE}/serviceOrder/{created['id']}")).json()
    conforms("ServiceOrder", got)
    assert datetime.fromisoformat(got["serviceOrderItem"][0]["appointment"]["id"]) == (
        datetime.fromisoformat(slot["id"])
    )

    ref = external_id()
    taken = await system.http.post(f"{BASE}/serviceOrder", json=booking(ref, slot["id"]))
    assert taken.status_code == 409, taken.text
    conforms("Error", taken.json())
    assert taken.json()["code"] == "SLOT_TAKEN"
    listed = await system.http.get(f"{BASE}/serviceOrder", params={"externalId": ref})
    assert listed.json() == []  # nothing stored
    for start, status in (("next sunday", 400), (at(sunday, 8, 30), 422)):
        wrong = await system.http.post(f"{BASE}/serviceOrder", json=booking(ref, start))
        assert wrong.status_code == status, wrong.text
        conforms("Error", wrong.json())
