"""The pure TMF641 mapping: ServiceOrder_Create to our create request, and back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from models.enums import Channel, OrderStatus, ServiceType, SlaState, SubTaskKind
from models.tables import OrderEvent, SubTask
from tests.factories import new_order
from workorders.tmf641 import (
    SPECIFICATION_ID,
    STATE,
    Refused,
    ServiceOrderCreate,
    select_fields,
    to_create_request,
    to_service_order,
)


def service_order(external_id: str = "CRM-1", **overrides: Any) -> dict[str, Any]:
    """A valid TMF641 ServiceOrder_Create body: FTTH 300/100 in the north region."""
    body: dict[str, Any] = {
        "externalId": external_id,
        "requestedStartDate": "2026-12-01T08:00:00+08:00",
        "requestedCompletionDate": "2026-12-01T12:00:00+08:00",
        "relatedParty": [
            {
                "id": "cust-1",
                "name": "Wang Xiaoming",
                "role": "customer",
                "@type": "RelatedParty",
                "@referredType": "Individual",
            }
        ],
        "serviceOrderItem": [
            {
                "id": "1",
                "action": "add",
                "@type": "ServiceOrderItem",
                "service": {
                    "@type": "Service",
                    "serviceSpecification": {"id": SPECIFICATION_ID, "name": "Broadband"},
                    "serviceCharacteristic": [
                        {"name": "serviceType", "value": "FTTH"},
                        {"name": "downloadMbps", "value": 300},
                        {"name": "uploadMbps", "value": 100},
                        {"name": "customerPhone", "value": "+86 138 0013 8000"},
                        {"name": "customerEmail", "value": "wang@example.com"},
                    ],
                    "place": [
                        {
                            "role": "installationAddress",
                            "@type": "GeographicAddress",
                            "streetName": "Jianguo Road",
                            "streetNr": "88",
                            "subUnitNumber": "Flat 1203",
                            "postcode": "10115",
                            "city": "Springfield",
                        }
                    ],
                },
            }
        ],
    }
    body.update(overrides)
    return body


def refusal(body: dict[str, Any]) -> Refused:
    with pytest.raises(Refused) as e:
        to_create_request(ServiceOrderCreate.model_validate(body))
    return e.value


def test_a_service_order_becomes_our_create_request() -> None:
    request = to_create_request(ServiceOrderCreate.model_validate(service_order("CRM-7")))

    assert request.external_reference == "CRM-7"
    assert request.channel is Channel.CRM
    assert request.customer.name == "Wang Xiaoming"
    assert request.customer.phone == "+86 138 0013 8000"
    assert request.customer.email == "wang@example.com"
    assert (request.address.street, request.address.house_number) == ("Jianguo Road", "88")
    assert (request.address.unit, request.address.postcode) == ("Flat 1203", "10115")
    assert request.demand.service_type is ServiceType.FTTH
    assert (request.demand.download_mbps, request.demand.upload_mbps) == (300, 100)
    window = request.demand.installation_window
    assert window is not None
    assert window.start.isoformat() == "2026-12-01T08:00:00+08:00"
    assert window.end.isoformat() == "2026-12-01T12:00:00+08:00"


@pytest.mark.parametrize("action", ["modify", "delete", "noChange"])
def test_actions_but_add_are_refused(action: str) -> None:
    body = service_order()
    body["serviceOrderItem"][0]["action"] = action

    e = refusal(body)

    assert e.code == "ACTION_NOT_SUPPORTED"
    assert action in e.reason


def test_several_items_are_refused() -> None:
    body = service_order()
    body["serviceOrderItem"].append({**body["serviceOrderItem"][0], "id": "2"})

    assert refusal(body).code == "ONE_ITEM_ONLY"


def test_unknown_characteristics_and_specifications_are_refused() -> None:
    body = service_order()
    body["serviceOrderItem"][0]["service"]["serviceCharacteristic"].append(
        {"name": "staticIp", "value": True}
    )
    assert refusal(body).code == "UNKNOWN_CHARACTERISTIC"

    body = service_order()
    body["serviceOrderItem"][0]["service"]["serviceSpecification"]["id"] = "mobile"
    assert refusal(body).code == "UNKNOWN_SPECIFICATION"


def test_unknown_fields_are_not_dropped_silently() -> None:
    with pytest.raises(ValueError, match="note"):
        ServiceOrderCreate.model_validate(service_order(note=[{"text": "ring twice"}]))


def test_missing_customer_address_or_external_id_are_refused() -> None:
    assert refusal(service_order(relatedParty=[])).code == "CUSTOMER_REQUIRED"
    body = service_order()
    body["serviceOrderItem"][0]["service"]["place"][0]["role"] = "billingAddress"
    assert refusal(body).code == "ADDRESS_REQUIRED"
    assert refusal(service_order(externalId=None)).code == "MISSING_EXTERNAL_ID"
    body = service_order()
    del body["requestedCompletionDate"]
    assert refusal(body).code == "INCOMPLETE_WINDOW"


def test_invalid_values_are_refused_with_where() -> None:
    body = service_order()
    body["serviceOrderItem"][0]["service"]["serviceCharacteristic"][1]["value"] = 0

    e = refusal(body)

    assert e.code == "INVALID_VALUE"
    assert "download_mbps" in e.message


def test_every_status_has_a_state() -> None:
    assert set(STATE) == set(OrderStatus)
    assert STATE[OrderStatus.WAITING_FOR_OPERATIONS] == "held"
    assert STATE[OrderStatus.RECEIVED] == "acknowledged"


def test_an_order_becomes_a_service_order_with_milestones_and_jeopardy() -> None:
    order = new_order(
        status=OrderStatus.IN_PROGRESS, customer_email="wang@example.com", unit="Flat 1"
    )
    now = datetime(2026, 12, 1, 9, tzinfo=UTC)
    events = [
        OrderEvent(id=1, order_id=order.id, at=now, actor="system", kind="order.received"),
        OrderEvent(id=2, order_id=order.id, at=now, actor="system", kind="construction.assigned"),
    ]
    construction = SubTask(
        id=1,
        order_id=order.id,
        kind=SubTaskKind.CONSTRUCTION,
        sla_state=SlaState.JEOPARDY,
        due_at=now,
    )

    body = to_service_order(order, [construction], events, f"/x/{order.id}")

    assert body["state"] == "inProgress"
    assert body["externalId"] == order.external_reference
    assert [m["name"] for m in body["milestone"]] == ["construction.assigned"]
    assert [a["jeopardyType"] for a in body["jeopardyAlert"]] == ["jeopardy"]
    service = body["serviceOrderItem"][0]["service"]
    values = {c["name"]: c["value"] for c in service["serviceCharacteristic"]}
    assert values["downloadMbps"] == 300
    assert values["customerEmail"] == "wang@example.com"
    assert service["place"][0]["subUnitNumber"] == "Flat 1"
    # Our request from it is the order again: the mapping goes both ways.
    body["serviceOrderItem"][0]["service"].pop("serviceType")
    again = to_create_request(ServiceOrderCreate.model_validate(_create_part(body)))
    assert again.address.street == order.street
    assert again.customer.phone == order.customer_phone


def _create_part(body: dict[str, Any]) -> dict[str, Any]:
    keep = {"externalId", "relatedParty", "serviceOrderItem", "category"}
    out = {k: v for k, v in body.items() if k in keep}
    for item in out["serviceOrderItem"]:
        item.pop("state", None)
    return out


def test_fields_selection_keeps_id_and_href() -> None:
    body = {"id": "1", "href": "/h", "state": "held", "externalId": "X", "milestone": []}

    assert select_fields(body, "state") == {"id": "1", "href": "/h", "state": "held"}
    assert select_fields(body, None) == body


BEIJING_PLACE = {
    "role": "installationAddress",
    "@type": "GeographicAddress",
    "country": "CN",
    "stateOrProvince": "北京市",
    "city": "北京市",
    "locality": "海淀区",
    "streetName": "中关村大街",
    "streetNr": "27号",
    "postcode": "100080",
    "geographicSubAddress": [
        {"buildingName": "5号楼"},
        {"subUnitType": "unit", "subUnitNumber": "3单元"},
        {"subUnitType": "room", "subUnitNumber": "502室"},
    ],
}


def beijing_order(ref: str, place: dict[str, Any] = BEIJING_PLACE) -> dict[str, Any]:
    body = service_order(ref)
    body["serviceOrderItem"][0]["service"]["place"] = [place]
    return body


def test_a_chinese_place_becomes_every_part_of_the_address() -> None:
    request = to_create_request(ServiceOrderCreate.model_validate(beijing_order("CRM-CN")))

    address = request.address
    assert (address.country, address.province, address.city) == ("CN", "北京市", "北京市")
    assert (address.district, address.street) == ("海淀区", "中关村大街")
    assert address.house_number == "27号"
    assert (address.building, address.unit, address.room) == ("5号楼", "3单元", "502室")
    assert address.postcode == "100080"


@pytest.mark.parametrize(
    ("subs", "reason"),
    [
        ([{"subUnitType": "floor", "subUnitNumber": "5"}], "Unsupported subUnitType 'floor'"),
        ([{"subUnitType": "room"}], "Unsupported subUnitType 'room'"),
        ([{"buildingName": "1"}, {"buildingName": "2"}], "buildingName given twice"),
        (
            [{"subUnitType": "room", "subUnitNumber": "1"}] * 2,
            "room given twice",
        ),
    ],
)
def test_sub_addresses_we_cannot_read_are_refused(subs: list[dict[str, str]], reason: str) -> None:
    place = {**BEIJING_PLACE, "geographicSubAddress": subs}
    refused = refusal(beijing_order("CRM-CN", place))
    assert (refused.code, refused.reason) == ("INVALID_ADDRESS", reason)


def test_a_flat_sub_unit_number_and_a_unit_sub_address_are_one_unit_too_many() -> None:
    place = {**BEIJING_PLACE, "subUnitNumber": "2单元"}
    assert refusal(beijing_order("CRM-CN", place)).reason == "unit given twice"


def test_a_chinese_address_in_a_missing_part_is_refused_with_where() -> None:
    place = {k: v for k, v in BEIJING_PLACE.items() if k != "locality"}
    refused = refusal(beijing_order("CRM-CN", place))
    assert "district" in str(refused)
