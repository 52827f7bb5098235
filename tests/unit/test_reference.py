"""Reference data: postcode to region, the product catalog, and the shipped data."""

from __future__ import annotations

import re
from collections import Counter
from itertools import pairwise

import pytest

from models.enums import ServiceType
from workorders.reference import (
    Catalog,
    NoProfile,
    Olt,
    Profile,
    Region,
    Regions,
    Service,
    UnknownRegion,
    load_catalog,
    load_regions,
)

FTTH, VDSL = ServiceType.FTTH, ServiceType.VDSL


def region(code: str, prefixes: list[str]) -> Region:
    return Region(
        code=code,
        name=code.title(),
        postcode_prefixes=prefixes,
        vlan_range=(100, 199),
        test_servers=["ts-1"],
        olts=[Olt(id=f"olt-{code}", pon_ports=4)],
    )


def profile(name: str, service: ServiceType, down: int, up: int) -> Profile:
    return Profile(
        name=name, service_type=service, download_mbps=down, upload_mbps=up, nms_names=[name]
    )


# Postcode to region ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("postcode", "code"),
    [
        ("10115", "north"),
        ("20199", "east"),
        ("30111", "south"),
        ("30311", "south"),
        ("40210", "west"),
        (" 10115 ", "north"),
    ],
)
def test_shipped_postcodes_find_their_region(postcode: str, code: str) -> None:
    assert load_regions().for_postcode(postcode).code == code


@pytest.mark.parametrize("postcode", ["99999", "30321", "303", "", "1"])
def test_an_uncovered_postcode_raises(postcode: str) -> None:
    with pytest.raises(UnknownRegion, match="no region covers postcode"):
        load_regions().for_postcode(postcode)


@pytest.mark.parametrize("reverse", [False, True])
def test_the_longest_prefix_wins(reverse: bool) -> None:
    regions = [region("wide", ["303"]), region("narrow", ["3031"])]
    found = Regions(regions[::-1] if reverse else regions)
    assert found.for_postcode("30311").code == "narrow"
    assert found.for_postcode("30321").code == "wide"


def test_regions_by_code() -> None:
    regions = load_regions()
    assert regions.get("south").name == "South District"
    assert sorted(r.code for r in regions if r.country == "DE") == [
        "east",
        "north",
        "south",
        "west",
    ]
    assert sorted(r.code for r in regions if r.country == "CN") == [
        "chaoyang",
        "dongcheng",
        "fengtai",
        "haidian",
        "xicheng",
    ]
    with pytest.raises(KeyError):
        regions.get("nowhere")


# Profile choice ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "down", "up", "name"),
    [
        (FTTH, 100, 50, "FTTH_100_50"),
        (FTTH, 1, 1, "FTTH_100_50"),
        (FTTH, 200, 50, "FTTH_300_100"),
        (FTTH, 100, 60, "FTTH_300_100"),
        (FTTH, 1000, 500, "FTTH_1000_500"),
        (VDSL, 60, 10, "VDSL_100_40"),
        (VDSL, 50, 10, "VDSL_50_10"),
    ],
)
def test_the_smallest_fitting_profile_is_chosen(
    service: ServiceType, down: int, up: int, name: str
) -> None:
    assert load_catalog().profile_for(service, down, up).name == name


def test_the_smallest_fit_does_not_depend_on_the_catalog_order() -> None:
    catalog = Catalog(
        [Service(type=FTTH, name="Fibre", skill="fibre")],
        [
            profile("big", FTTH, 1000, 500),
            profile("small", FTTH, 100, 50),
            profile("mid", FTTH, 300, 100),
        ],
    )
    assert catalog.profile_for(FTTH, 150, 20).name == "mid"


@pytest.mark.parametrize(
    ("service", "down", "up"), [(FTTH, 2000, 100), (FTTH, 100, 600), (VDSL, 300, 10)]
)
def test_too_much_bandwidth_raises_a_clear_error(service: ServiceType, down: int, up: int) -> None:
    best = {FTTH: "1000/500", VDSL: "100/40"}[service]
    with pytest.raises(NoProfile, match=f"^{service.value} offers at most {best} Mbps$"):
        load_catalog().profile_for(service, down, up)


# The shipped data ----------------------------------------------------------------------


def test_every_region_has_what_an_order_needs() -> None:
    for r in load_regions():
        assert r.postcode_prefixes, r.code
        assert r.technicians, r.code
        assert r.olts, r.code
        assert r.test_servers, r.code
        low, high = r.vlan_range
        assert 1 <= low <= high <= 4094, r.code


def test_every_region_has_a_technician_for_every_service() -> None:
    skills = {s.skill for s in load_catalog().services.values()}
    for r in load_regions():
        held = {skill for t in r.technicians for skill in t.skills}
        assert skills <= held, f"{r.code} lacks {skills - held}"


def test_vlan_ranges_do_not_overlap() -> None:
    ranges = sorted((r.vlan_range, r.code) for r in load_regions())
    for ((_, high), code), ((low, _), next_code) in pairwise(ranges):
        assert high < low, f"{code} and {next_code} share VLANs"


def test_ids_and_prefixes_are_unique() -> None:
    regions = list(load_regions())
    for what, values in {
        "technician": [t.id for r in regions for t in r.technicians],
        "olt": [o.id for r in regions for o in r.olts],
        "postcode prefix": [p for r in regions for p in r.postcode_prefixes],
    }.items():
        repeated = [v for v, n in Counter(values).items() if n > 1]
        assert not repeated, f"{what} repeated: {repeated}"


def test_every_profile_belongs_to_a_service_on_sale() -> None:
    catalog = load_catalog()
    for p in catalog.profiles.values():
        assert p.service_type in catalog.services, p.name
        assert p.nms_names, p.name
    assert {p.service_type for p in catalog.profiles.values()} == set(catalog.services)


def test_nms_names_name_one_profile_each() -> None:
    names = [n for p in load_catalog().profiles.values() for n in p.nms_names]
    assert len(names) == len(set(names))


# Address to region ---------------------------------------------------------------------

BEIJING = {"province": "北京市", "city": "北京市"}


@pytest.mark.parametrize(
    ("district", "postcode", "code"),
    [
        ("海淀区", "100080", "haidian"),
        ("朝阳区", "100020", "chaoyang"),
        ("东城区", "100010", "dongcheng"),
        ("西城区", "100032", "xicheng"),
        ("丰台区", "100071", "fengtai"),
        # The district decides, not a postcode of another district.
        ("朝阳区", "100080", "chaoyang"),
    ],
)
def test_a_beijing_address_finds_the_region_of_its_district(
    district: str, postcode: str, code: str
) -> None:
    found = load_regions().for_address("CN", postcode, district=district, **BEIJING)
    assert found.code == code
    assert found.country == "CN"


@pytest.mark.parametrize(
    ("where", "message"),
    [
        (
            {"district": "密云区", **BEIJING},
            "no region covers district '密云区' of 北京市 北京市, CN",
        ),
        # 朝阳区 of Changchun is not Beijing's.
        (
            {"district": "朝阳区", "province": "吉林省", "city": "长春市"},
            "no region covers district '朝阳区' of 吉林省 长春市, CN",
        ),
    ],
)
def test_a_district_no_region_covers_raises_naming_it(where: dict[str, str], message: str) -> None:
    with pytest.raises(UnknownRegion, match=f"^{re.escape(message)}$"):
        load_regions().for_address("CN", "100080", **where)


def test_an_address_without_district_is_placed_by_its_postcode_in_its_country() -> None:
    regions = load_regions()
    assert regions.for_address("DE", "10115").code == "north"
    assert regions.for_address("CN", "100080").code == "haidian"
    with pytest.raises(UnknownRegion, match=r"^no region covers postcode '100080' in DE$"):
        regions.for_address("DE", "100080")
    with pytest.raises(UnknownRegion, match=r"^no region covers postcode '10115' in CN$"):
        regions.for_address("CN", "10115")


def test_two_regions_cannot_share_a_district() -> None:
    one = region("one", ["1"]).model_copy(update={"country": "CN", "districts": ["海淀区"]})
    two = region("two", ["2"]).model_copy(update={"country": "CN", "districts": ["海淀区"]})
    with pytest.raises(ValueError, match="one and two share district '海淀区'"):
        Regions([one, two])


def test_every_beijing_district_has_fibre_technicians_with_chinese_names() -> None:
    beijing = [r for r in load_regions() if r.country == "CN"]
    assert {d for r in beijing for d in r.districts} >= {
        "海淀区",
        "朝阳区",
        "东城区",
        "西城区",
        "丰台区",
    }
    for r in beijing:
        assert (r.province, r.city) == ("北京市", "北京市"), r.code
        assert all(len(p) >= 5 and p.startswith("10") for p in r.postcode_prefixes), r.code
        assert all(not t.name.isascii() for t in r.technicians), r.code
