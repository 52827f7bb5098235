"""Address formats: which fields each country's addresses have, its postcodes, and
how an address is written on one line (workorders/data/address_formats.toml)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import ValidationError

from activities.orders import one_line_address
from models.api import Address
from tests.factories import new_order
from workorders.reference import (
    ADDRESS_FIELDS,
    AddressFormat,
    UnknownCountry,
    load_address_formats,
)

ZHANG_WEI = {
    "country": "CN",
    "province": "北京市",
    "city": "北京市",
    "district": "海淀区",
    "street": "中关村大街",
    "house_number": "27号",
    "unit": "3单元",
    "room": "502室",
    "postcode": "100080",
}
SPRINGFIELD = {
    "street": "Jianguo Road",
    "house_number": "88",
    "postcode": "10115",
    "city": "Springfield",
}


def faults(address: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as raised:
        Address.model_validate(address)
    return {str(e["loc"][-1]): e["msg"] for e in raised.value.errors()}


def test_a_chinese_address_is_valid_as_written() -> None:
    address = Address.model_validate(ZHANG_WEI)
    assert address.model_dump(exclude_none=True) == ZHANG_WEI


def test_an_address_without_country_is_of_the_default_country() -> None:
    assert Address.model_validate(SPRINGFIELD).country == "DE"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"postcode": "10008"}, "postcode", "a CN postcode matches ^[0-9]{6}$, e.g. 100080"),
        ({"postcode": "10008a"}, "postcode", "a CN postcode matches"),
        ({"district": None}, "district", "required in a CN address"),
        ({"street": None}, "street", "required in a CN address"),
        ({"country": "FR"}, "country", "no address format for country 'FR' (served: CN, DE)"),
        ({"country": "China"}, "country", "should match pattern"),
    ],
)
def test_a_chinese_address_that_breaks_its_format_names_the_field(
    change: dict[str, Any], field: str, message: str
) -> None:
    address = {k: v for k, v in {**ZHANG_WEI, **change}.items() if v is not None}
    found = faults(address)
    assert list(found) == [field]
    assert message in found[field]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"postcode": "100080"}, "postcode", "a DE postcode matches ^[0-9]{5}$"),
        ({"district": "海淀区"}, "district", "not part of a DE address"),
        ({"room": "502"}, "room", "not part of a DE address"),
        ({"city": None}, "city", "required in a DE address"),
    ],
)
def test_a_springfield_address_keeps_its_format(
    change: dict[str, Any], field: str, message: str
) -> None:
    address = {k: v for k, v in {**SPRINGFIELD, **change}.items() if v is not None}
    found = faults(address)
    assert list(found) == [field]
    assert message in found[field]


def test_unknown_countries_are_said_so() -> None:
    with pytest.raises(UnknownCountry, match="no address format for country 'ZZ'"):
        load_address_formats().get("ZZ")


@pytest.mark.parametrize(
    ("address", "line"),
    [
        (ZHANG_WEI, "北京市海淀区中关村大街27号3单元502室"),
        (
            {**ZHANG_WEI, "house_number": "27", "building": "5", "unit": "3", "room": "502"},
            "北京市海淀区中关村大街27号5号楼3单元502室",
        ),
        (
            {**ZHANG_WEI, "province": "河北省", "city": "石家庄市", "district": "长安区"},
            "河北省石家庄市长安区中关村大街27号3单元502室",
        ),
        ({**SPRINGFIELD, "unit": "Flat 1203"}, "Jianguo Road 88, Flat 1203, 10115 Springfield"),
        (SPRINGFIELD, "Jianguo Road 88, 10115 Springfield"),
    ],
)
def test_the_one_line_address_is_in_its_countrys_order(address: dict[str, str], line: str) -> None:
    country = address.get("country", "DE")
    assert load_address_formats().get(country).one_line(address) == line
    order = new_order(**{**address, "country": country})
    assert one_line_address(order) == line


def test_an_order_stored_before_addresses_had_a_country_reads_as_before() -> None:
    order = new_order(unit="Flat 1203")
    assert order.country == "DE"
    assert one_line_address(order) == "Jianguo Road 88, Flat 1203, 10115 Springfield"


def format_(**changes: Any) -> dict[str, Any]:
    return {
        "country": "XA",
        "name": "Test",
        "required": ["street", "house_number", "postcode", "city"],
        "optional": ["unit"],
        "postcode_pattern": "^[0-9]{4}$",
        "postcode_example": "1234",
        "line": [["street", "house_number"], ["postcode", "city"]],
        **changes,
    }


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"optional": ["floor"]}, "unknown address fields ['floor']"),
        ({"optional": ["city"]}, "both required and optional"),
        ({"required": ["street", "house_number", "postcode"]}, "must require"),
        ({"line": [["street", "room"]]}, "line names fields it does not have: ['room']"),
        ({"postcode_example": "12345"}, "postcode_example does not fit"),
    ],
)
def test_a_format_that_contradicts_itself_is_refused(changes: dict[str, Any], message: str) -> None:
    AddressFormat.model_validate(format_())
    with pytest.raises(ValidationError, match=re.escape(message)):
        AddressFormat.model_validate(format_(**changes))


def test_the_shipped_formats_serve_china_and_springfield() -> None:
    formats = load_address_formats()
    assert formats.countries() == ["CN", "DE"]
    for country in formats.countries():
        assert set(formats.get(country).fields) <= set(ADDRESS_FIELDS)
