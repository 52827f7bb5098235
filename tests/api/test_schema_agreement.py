"""The OpenAPI document and the models that check requests say the same: every body
here is taken by both or refused by both (the document read by a JSON Schema 2020-12
validator, with formats, as schemathesis reads it)."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import jsonschema_rs
import pytest
from pydantic import BaseModel, ValidationError

from api import create_app
from api.routes.codec import PayloadsJson
from models.api import (
    ActivationOperationRequest,
    ConstructionOperationRequest,
    ConstructionReportRequest,
    Customer,
    OrderCancelRequest,
    OrderCreateRequest,
    QualityCheckDataEdit,
    TechnicianCreateRequest,
    TechnicianUpdateRequest,
)
from tests.factories import order_request
from workorders.config import Settings


@cache
def components() -> dict[str, Any]:
    document = create_app(Settings(_env_file=None)).openapi()
    return {"components": document["components"]}


def document_takes(model: type[BaseModel], body: Any) -> bool:
    schema = {"$ref": f"#/components/schemas/{model.__name__}", **components()}
    return jsonschema_rs.Draft202012Validator(schema, validate_formats=True).is_valid(body)


def model_takes(model: type[BaseModel], body: Any) -> bool:
    try:
        model.model_validate_json(json.dumps(body))
    except ValidationError:
        return False
    return True


def with_address(**changes: Any) -> dict[str, Any]:
    body = order_request()
    body["address"] = {k: v for k, v in {**body["address"], **changes}.items() if v is not ...}
    return body


def with_demand(service: str, down: int, up: int) -> dict[str, Any]:
    body = order_request()
    body["demand"] = {"service_type": service, "download_mbps": down, "upload_mbps": up}
    return body


def with_email(email: str) -> dict[str, Any]:
    body = order_request()
    body["customer"]["email"] = email
    return body


BEIJING = {
    "country": "CN",
    "province": "北京市",
    "city": "北京市",
    "district": "海淀区",
    "street": "中关村大街",
    "house_number": "27号",
    "postcode": "100080",
}
DATA = {
    "olt_id": "olt-north-02",
    "pon_port": 3,
    "ont_id": 7,
    "vlan": 150,
    "profile": "FTTH_300_100",
    "nms_profile_name": "FTTH_300_100",
}
CHECK = {
    "olt_id": "olt-north-02",
    "pon_port": 3,
    "ont_id": 7,
    "profile": "FTTH_300_100",
    "test_server": "speedtest-north-1",
    "expected_download_mbps": 300,
    "expected_upload_mbps": 100,
}

CASES: list[tuple[str, type[BaseModel], Any, bool]] = [
    # a report gives a state a technician can report; completion and refusal need evidence
    ("reported on site", ConstructionReportRequest, {"state": "on_site"}, True),
    ("reported assigned", ConstructionReportRequest, {"state": "assigned"}, False),
    # an action needs what it acts with, and a reason that is not null
    ("assign", ConstructionOperationRequest, {"action": "assign", "technician_id": "t-1"}, True),
    ("assign nobody", ConstructionOperationRequest, {"action": "assign"}, False),
    ("fail, null reason", ConstructionOperationRequest, {"action": "fail", "reason": None}, False),
    ("fail, a reason", ConstructionOperationRequest, {"action": "fail", "reason": "gone"}, True),
    ("abort, null reason", ActivationOperationRequest, {"action": "abort", "reason": None}, False),
    ("abort, a reason", ActivationOperationRequest, {"action": "abort", "reason": "x"}, True),
    (
        "abort with data",
        ActivationOperationRequest,
        {"action": "abort", "reason": "x", "data": DATA},
        False,
    ),
    ("retry with data", ActivationOperationRequest, {"action": "retry", "data": DATA}, True),
    ("retry, null reason", ActivationOperationRequest, {"action": "retry", "reason": None}, True),
    # white space: a text is checked as sent, and must show something
    ("reason of white space", OrderCancelRequest, {"reason": "\r"}, False),
    ("reason of ideographic space", OrderCancelRequest, {"reason": "\u3000"}, False),
    ("reason padded", OrderCancelRequest, {"reason": " moved away "}, True),
    ("reason padded past its length", OrderCancelRequest, {"reason": "x" * 500 + " "}, False),
    ("reason of U+001C", OrderCancelRequest, {"reason": "\x1c"}, True),
    # integers are JSON numbers without a fraction; floats JSON numbers
    ("bandwidth 300.0", QualityCheckDataEdit, {**CHECK, "expected_download_mbps": 300.0}, True),
    ("bandwidth 300.5", QualityCheckDataEdit, {**CHECK, "expected_download_mbps": 300.5}, False),
    ("bandwidth true", QualityCheckDataEdit, {**CHECK, "expected_download_mbps": True}, False),
    ("bandwidth '300'", QualityCheckDataEdit, {**CHECK, "expected_download_mbps": "300"}, False),
    ("ratio '0.9'", QualityCheckDataEdit, {**CHECK, "min_speed_ratio": "0.9"}, False),
    ("ratio true", QualityCheckDataEdit, {**CHECK, "min_speed_ratio": True}, False),
    ("ratio 1", QualityCheckDataEdit, {**CHECK, "min_speed_ratio": 1}, True),
    (
        "vlan 4095",
        ActivationOperationRequest,
        {"action": "retry", "data": {**DATA, "vlan": 4095}},
        False,
    ),
    ("job limit 0", TechnicianUpdateRequest, {"max_open_jobs": 0}, False),
    ("job limit 50.0", TechnicianUpdateRequest, {"max_open_jobs": 50.0}, True),
    # a bandwidth some profile of the service offers
    ("FTTH 1000/500", OrderCreateRequest, with_demand("FTTH", 1000, 500), True),
    ("FTTH 1000/501", OrderCreateRequest, with_demand("FTTH", 1000, 501), False),
    ("VDSL 100/40", OrderCreateRequest, with_demand("VDSL", 100, 40), True),
    ("VDSL 300/40", OrderCreateRequest, with_demand("VDSL", 300, 40), False),
    # region codes are codes
    ("region ''", TechnicianUpdateRequest, {"regions": [""]}, False),
    ("region 'North'", TechnicianUpdateRequest, {"regions": ["North"]}, False),
    ("region 'north'", TechnicianUpdateRequest, {"regions": ["north"]}, True),
    (
        "technician of white space",
        TechnicianCreateRequest,
        {"id": "t-9", "name": " ", "regions": ["north"], "skills": ["fibre"]},
        False,
    ),
    # an address as its country writes it
    ("a DE address", OrderCreateRequest, with_address(), True),
    ("a CN postcode in DE", OrderCreateRequest, with_address(postcode="100080"), False),
    (
        "a DE postcode in CN",
        OrderCreateRequest,
        with_address(**{**BEIJING, "postcode": "10115"}),
        False,
    ),
    ("a CN address", OrderCreateRequest, with_address(**BEIJING, unit=...), True),
    (
        "a CN address without district",
        OrderCreateRequest,
        with_address(**{**BEIJING, "district": ...}),
        False,
    ),
    ("a district in DE", OrderCreateRequest, with_address(district="Mitte"), False),
    ("a country not served", OrderCreateRequest, with_address(country="FR"), False),
    # email: as email-validator takes it, international ones included
    ("an international email", OrderCreateRequest, with_email("用户@例子.广告"), True),
    ("an email", OrderCreateRequest, with_email("wang@example.com"), True),
    ("an email at .test", OrderCreateRequest, with_email("wang@mail.test"), False),
    ("an email without a dot", OrderCreateRequest, with_email("wang@localhost"), False),
    ("a quoted email", OrderCreateRequest, with_email('"wang xm"@example.com'), False),
    ("not an email", OrderCreateRequest, with_email("wang"), False),
    # codec bodies: base64 (standard or URL-safe, padded or not), known fields only
    ("base64", PayloadsJson, {"payloads": [{"metadata": {"e": "YQ=="}, "data": "YWJj"}]}, True),
    ("unpadded", PayloadsJson, {"payloads": [{"metadata": {"e": "YQ"}, "data": "a-_b"}]}, True),
    ("metadata not base64", PayloadsJson, {"payloads": [{"metadata": {"e": "Y Q=="}}]}, False),
    ("data only padding", PayloadsJson, {"payloads": [{"data": "=="}]}, False),
    ("data of 5 characters", PayloadsJson, {"payloads": [{"data": "abcde"}]}, False),
    ("unknown payload field", PayloadsJson, {"payloads": [{"À": 1}]}, False),
    ("unknown field", PayloadsJson, {"payloads": [], "x": 1}, False),
    ("customer", Customer, {"name": "张伟", "phone": "+86 138 0013 8000"}, True),
]


@pytest.mark.parametrize(
    ("model", "body", "taken"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_the_document_and_the_model_agree(model: type[BaseModel], body: Any, taken: bool) -> None:
    assert (document_takes(model, body), model_takes(model, body)) == (taken, taken)


def test_a_padded_text_is_kept_without_its_white_space() -> None:
    assert OrderCancelRequest.model_validate({"reason": "\u3000moved away\r\n"}).reason == (
        "moved away"
    )


def test_an_integral_json_number_is_an_integer() -> None:
    edit = QualityCheckDataEdit.model_validate_json(
        json.dumps({**CHECK, "expected_download_mbps": 3e2})
    )
    assert edit.expected_download_mbps == 300
    assert type(edit.expected_download_mbps) is int


def test_the_served_countries_are_the_shipped_formats() -> None:
    country = components()["components"]["schemas"]["Address"]["properties"]["country"]
    assert country["enum"] == ["CN", "DE"]
