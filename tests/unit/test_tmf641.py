"""The pure TMF641 mapping: ServiceOrder_Create to our create request, and back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from models.enums import (
    Channel,
    JobState,
    OrderStatus,
    ServiceType,
    SlaState,
    SubTaskKind,
    SubTaskStatus,
)
from models.tables import OrderEvent, SubTask
from tests.factories import new_order
from workorders.tmf641 import (
    SPECIFICATION_ID,
    STATE,
    STATES,
    Refused,
    ServiceOrderCreate,
    select_fields,
    state_of,
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


NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)


def sub_task(kind: SubTaskKind, status: SubTaskStatus, **fields: Any) -> SubTask:
    return SubTask(order_id="o-1", kind=kind, status=status, **fields)


def line(kind: str) -> OrderEvent:
    return OrderEvent(id=1, order_id="o-1", at=NOW, actor="system", kind=kind)


IN_PROGRESS, SUCCEEDED, FAILED = (
    SubTaskStatus.IN_PROGRESS,
    SubTaskStatus.SUCCEEDED,
    SubTaskStatus.FAILED,
)
CONSTRUCTION, ACTIVATION = SubTaskKind.CONSTRUCTION, SubTaskKind.ACTIVATION


@pytest.mark.parametrize(
    ("status", "sub_tasks", "lines", "state"),
    [
        (OrderStatus.IN_PROGRESS, [sub_task(CONSTRUCTION, IN_PROGRESS)], [], "inProgress"),
        # The job waits for a technician of the region with room: pending.
        (
            OrderStatus.IN_PROGRESS,
            [sub_task(CONSTRUCTION, IN_PROGRESS, queued_at=NOW)],
            [],
            "pending",
        ),
        # A visit again after the customer was absent, until the technician accepts it.
        (
            OrderStatus.IN_PROGRESS,
            [sub_task(CONSTRUCTION, IN_PROGRESS, job_state=JobState.ASSIGNED, visit=2)],
            [],
            "pending",
        ),
        (
            OrderStatus.IN_PROGRESS,
            [sub_task(CONSTRUCTION, IN_PROGRESS, job_state=JobState.ASSIGNED, visit=1)],
            [],
            "inProgress",
        ),
        (
            OrderStatus.IN_PROGRESS,
            [sub_task(CONSTRUCTION, IN_PROGRESS, job_state=JobState.ACCEPTED, visit=2)],
            [],
            "inProgress",
        ),
        # Waiting for operations wins over waiting for a technician: held.
        (
            OrderStatus.WAITING_FOR_OPERATIONS,
            [sub_task(CONSTRUCTION, IN_PROGRESS, queued_at=NOW)],
            [],
            "held",
        ),
        # A cancellation accepted and still being carried out.
        (
            OrderStatus.IN_PROGRESS,
            [],
            [line("order.cancellation_requested")],
            "pendingCancellation",
        ),
        (
            OrderStatus.WAITING_FOR_OPERATIONS,
            [],
            [line("order.cancellation_requested")],
            "pendingCancellation",
        ),
        (OrderStatus.CANCELLED, [], [line("order.cancellation_requested")], "cancelled"),
        # Ended failed, with some sub-tasks' work done and kept: partial.
        (
            OrderStatus.FAILED,
            [sub_task(CONSTRUCTION, SUCCEEDED), sub_task(ACTIVATION, FAILED)],
            [],
            "partial",
        ),
        (
            OrderStatus.FAILED,
            [sub_task(CONSTRUCTION, FAILED), sub_task(ACTIVATION, SubTaskStatus.SKIPPED)],
            [],
            "failed",
        ),
        (OrderStatus.COMPLETED, [sub_task(CONSTRUCTION, SUCCEEDED)], [], "completed"),
    ],
)
def test_the_state_says_what_the_status_alone_does_not(
    status: OrderStatus, sub_tasks: list[SubTask], lines: list[OrderEvent], state: str
) -> None:
    order = new_order(status=status)

    body = to_service_order(order, sub_tasks, lines, f"/x/{order.id}")

    assert body["state"] == state
    assert body["serviceOrderItem"][0]["state"] == state


def test_every_state_of_ours_is_a_state_of_the_contract() -> None:
    from tests.api.test_tmf641 import DEFINITIONS  # (it imports this module)

    assert {
        "acknowledged",
        "inProgress",
        "pending",
        "held",
        "pendingCancellation",
        "completed",
        "failed",
        "partial",
        "cancelled",
    } == STATES
    assert set(DEFINITIONS["ServiceOrderStateType"]["enum"]) >= STATES
    every = {
        state_of(s, cancelling=c, waiting=w, partly_done=p)
        for s in OrderStatus
        for c in (False, True)
        for w in (False, True)
        for p in (False, True)
    }
    assert every == STATES


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
