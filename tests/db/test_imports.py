"""Imports of regions, technicians and OLTs, on SQLite and on PostgreSQL: all or
nothing, the same file twice changes nothing, a dry run writes nothing, an OLT's active
lines are never lost, and a region in use is never removed."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import update

from models.enums import OrderStatus
from models.tables import utcnow
from tests.db.test_inventory import data, hold, order_for
from tests.factories import CALENDAR, new_order
from workorders.importing import (
    ImportKind,
    ImportRow,
    InvalidFile,
    OltRow,
    RegionRow,
    TechnicianRow,
)
from workorders.reference import Regions, UnknownRegion
from workorders.store import LinesInUse, RegionInUse, RegionStore, Stores
from workorders.store.base import TABLES


def olt(olt_id: str, **changes: object) -> OltRow:
    values: dict[str, object] = {
        "id": olt_id,
        "region": "haidian",
        "pon_ports": 2,
        "onts_per_port": 4,
        "vlan_low": 100,
        "vlan_high": 103,
    }
    return OltRow.model_validate({**values, **changes})


def technician(tech_id: str, **changes: object) -> TechnicianRow:
    values: dict[str, object] = {
        "id": tech_id,
        "name": "赵敏",
        "regions": ["haidian"],
        "skills": ["fibre"],
        "active": False,
    }
    return TechnicianRow.model_validate({**values, **changes})


def numbered(*rows: ImportRow) -> list[tuple[int, ImportRow]]:
    return list(enumerate(rows, start=2))


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_technicians_are_added_then_the_same_file_changes_nothing(stores: Stores) -> None:
    a, b = new_id("tech"), new_id("tech")
    rows = numbered(technician(a), technician(b, skills=["fibre", "copper"]))

    first = await stores.imports.apply(ImportKind.TECHNICIANS, rows, dry_run=False)
    second = await stores.imports.apply(ImportKind.TECHNICIANS, rows, dry_run=False)

    assert (first.added, first.changed) == ([a, b], [])
    assert (second.added, second.changed, second.unchanged) == ([], [], [a, b])
    stored = await stores.technicians.get_technician(b)
    assert stored is not None
    assert (stored.name, sorted(stored.skills), stored.open_jobs) == (
        "赵敏",
        ["copper", "fibre"],
        0,
    )


async def test_a_changed_row_is_changed_field_by_field(stores: Stores) -> None:
    a = new_id("tech")
    await stores.imports.apply(ImportKind.TECHNICIANS, numbered(technician(a)), dry_run=False)

    result = await stores.imports.apply(
        ImportKind.TECHNICIANS, numbered(technician(a, max_open_jobs=6)), dry_run=False
    )

    assert [(c.id, c.fields) for c in result.changed] == [(a, {"max_open_jobs": (4, 6)})]
    stored = await stores.technicians.get_technician(a)
    assert stored is not None and stored.max_open_jobs == 6


async def test_working_hours_are_imported_once_and_the_free_slots_follow_them(
    stores: Stores,
) -> None:
    a = new_id("tech")
    code = new_id("hours")
    await stores.imports.apply(ImportKind.REGIONS, numbered(region(code)), dry_run=False)
    mornings = {"mon": ["08:00-12:00"], "days_off": ["2026-12-25"]}
    rows = numbered(technician(a, regions=[code], active=True, working_hours=mornings))

    first = await stores.imports.apply(ImportKind.TECHNICIANS, rows, dry_run=False)
    second = await stores.imports.apply(ImportKind.TECHNICIANS, rows, dry_run=False)

    assert (first.added, second.unchanged) == ([a], [a])
    monday = next(
        d for d in (utcnow().date() + timedelta(days=n) for n in range(7, 14)) if d.weekday() == 0
    )
    found = await stores.appointments.free_slots(
        code, "fibre", CALENDAR.grid, monday, 7, after=utcnow()
    )
    assert [(s.start.weekday(), s.start.hour, free) for s, free in found] == [
        (0, 8, [a]),
        (0, 10, [a]),
    ]
    afternoons = {"mon": ["14:00-18:00"]}
    changed = await stores.imports.apply(
        ImportKind.TECHNICIANS,
        numbered(technician(a, regions=[code], active=True, working_hours=afternoons)),
        dry_run=False,
    )
    assert [set(c.fields) for c in changed.changed] == [{"working_hours"}]
    found = await stores.appointments.free_slots(
        code, "fibre", CALENDAR.grid, monday, 7, after=utcnow()
    )
    assert [s.start.hour for s, _ in found] == [14, 16]


async def test_a_dry_run_says_what_would_change_and_writes_nothing(stores: Stores) -> None:
    a, o = new_id("tech"), new_id("olt")

    tech_plan = await stores.imports.apply(
        ImportKind.TECHNICIANS, numbered(technician(a)), dry_run=True
    )
    olt_plan = await stores.imports.apply(ImportKind.INVENTORY, numbered(olt(o)), dry_run=True)

    assert (tech_plan.added, olt_plan.added) == ([a], [o])
    assert await stores.technicians.get_technician(a) is None
    assert o not in [x.id for x in await stores.inventory.olts("haidian")]


async def test_olts_are_added_changed_and_removed(stores: Stores) -> None:
    o = new_id("olt")
    await stores.imports.apply(ImportKind.INVENTORY, numbered(olt(o)), dry_run=False)
    changed = await stores.imports.apply(
        ImportKind.INVENTORY, numbered(olt(o, pon_ports=8)), dry_run=False
    )
    assert [c.fields for c in changed.changed] == [{"pon_ports": (2, 8)}]
    assert {x.id: x.pon_ports for x in await stores.inventory.olts("haidian")}[o] == 8

    removed = await stores.imports.apply(
        ImportKind.INVENTORY, numbered(olt(o, pon_ports=8, remove=True)), dry_run=False
    )

    assert removed.removed == [o]
    assert o not in [x.id for x in await stores.inventory.olts("haidian")]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"remove": True}, "remove"),
        ({"region": "chaoyang"}, "region"),
        ({"pon_ports": 1}, "pon_ports"),
        ({"onts_per_port": 2}, "onts_per_port"),
        ({"vlan_low": 103}, "vlan_low"),
        ({"vlan_high": 101}, "vlan_high"),
    ],
)
async def test_an_olt_change_that_would_lose_a_line_changes_nothing(
    stores: Stores, change: dict[str, object], field: str
) -> None:
    o = new_id("olt")
    await stores.imports.apply(ImportKind.INVENTORY, numbered(olt(o)), dry_run=False)
    order = await order_for(stores)
    await hold(stores, order, data(o, port=2, ont=3, vlan=102))
    rows: list[tuple[int, ImportRow]] = [(7, olt(new_id("olt"))), (8, olt(o, **change))]

    with pytest.raises(LinesInUse) as refused:
        await stores.imports.apply(ImportKind.INVENTORY, rows, dry_run=False)

    assert [(e.line, e.field) for e in refused.value.errors] == [(8, field)]
    assert "carries 1 line" in str(refused.value)
    # Nothing of the file was written, not even the row that was fine.
    assert rows[0][1].id not in [x.id for x in await stores.inventory.olts("haidian")]


async def test_an_olt_change_that_keeps_every_line_is_made(stores: Stores) -> None:
    o = new_id("olt")
    await stores.imports.apply(ImportKind.INVENTORY, numbered(olt(o)), dry_run=False)
    order = await order_for(stores)
    await hold(stores, order, data(o, port=1, ont=1, vlan=100))

    result = await stores.imports.apply(
        ImportKind.INVENTORY, numbered(olt(o, pon_ports=4, vlan_high=110)), dry_run=False
    )

    assert [c.fields for c in result.changed] == [{"pon_ports": (2, 4), "vlan_high": (103, 110)}]


# Regions -------------------------------------------------------------------------


def region(code: str, **changes: object) -> RegionRow:
    """A Beijing region of a district of its own (the database is shared by the tests)."""
    values: dict[str, object] = {
        "id": code,
        "name": f"{code} 区",
        "country": "CN",
        "province": "北京市",
        "city": "北京市",
        "districts": [f"{code}区"],
        "vlan_low": 2000,
        "vlan_high": 2099,
        "installation_hours": 72,
        "jeopardy_hours": 48,
        "test_servers": ["speedtest-bj-core-1"],
    }
    return RegionRow.model_validate({**values, **changes})


def placed(regions: Regions, district: str) -> str:
    return regions.for_address(
        "CN", "100000", province="北京市", city="北京市", district=district
    ).code


async def test_regions_are_added_then_the_same_file_changes_nothing(stores: Stores) -> None:
    a, b = new_id("region"), new_id("region")
    rows = numbered(region(a), region(b, installation_hours=24.5, jeopardy_hours=12))
    elsewhere = RegionStore(stores.db, refresh_s=0)  # another process's
    await elsewhere.current()

    first = await stores.imports.apply(ImportKind.REGIONS, rows, dry_run=False)
    second = await stores.imports.apply(ImportKind.REGIONS, rows, dry_run=False)

    assert (first.added, first.changed) == ([a, b], [])
    assert (second.added, second.changed, second.unchanged) == ([], [], [a, b])
    # The importing process places addresses by the new regions at once, another
    # process once it reads them again.
    assert placed(await stores.regions.current(), f"{b}区") == b
    assert placed(await elsewhere.current(), f"{a}区") == a
    assert (await elsewhere.region(b)).installation_limit == timedelta(hours=24.5)


async def test_a_region_unknown_to_a_process_is_read_at_once(stores: Stores) -> None:
    a = new_id("region")
    slow = RegionStore(stores.db, refresh_s=3600)
    await slow.current()

    await stores.imports.apply(ImportKind.REGIONS, numbered(region(a)), dry_run=False)

    assert a not in await slow.current()  # kept for an hour
    assert (await slow.region(a)).code == a  # an order's region is looked up again
    with pytest.raises(KeyError):
        await slow.region(new_id("region"))


async def test_a_changed_region_is_changed_field_by_field(stores: Stores) -> None:
    a = new_id("region")
    await stores.imports.apply(ImportKind.REGIONS, numbered(region(a)), dry_run=False)

    result = await stores.imports.apply(
        ImportKind.REGIONS,
        numbered(region(a, installation_hours=60, districts=[f"{a}区", f"{a}新区"])),
        dry_run=False,
    )

    assert [(c.id, c.fields) for c in result.changed] == [
        (
            a,
            {
                "districts": ([f"{a}区"], [f"{a}区", f"{a}新区"]),
                "installation_hours": (72, 60),
            },
        )
    ]
    now = await stores.regions.current()
    assert placed(now, f"{a}新区") == a and now.get(a).installation_hours == 60


async def test_a_region_dry_run_says_what_would_change_and_writes_nothing(stores: Stores) -> None:
    a = new_id("region")

    result = await stores.imports.apply(ImportKind.REGIONS, numbered(region(a)), dry_run=True)

    assert result.added == [a]
    assert a not in await RegionStore(stores.db).current()


async def test_a_region_that_claims_what_another_covers_changes_nothing(stores: Stores) -> None:
    good, bad, twin = new_id("region"), new_id("region"), new_id("region")
    rows: list[tuple[int, ImportRow]] = [
        (2, region(good)),
        (3, region(bad, districts=["海淀区"])),  # the shipped haidian's
        (4, region(twin, districts=[f"{good}区"])),  # line 2's
    ]

    with pytest.raises(InvalidFile) as refused:
        await stores.imports.apply(ImportKind.REGIONS, rows, dry_run=False)

    assert [(e.line, e.field) for e in refused.value.errors] == [(3, "districts"), (4, "districts")]
    assert "region haidian (in the database)" in str(refused.value)
    assert good not in await RegionStore(stores.db).current()


async def test_a_region_in_use_is_not_removed(stores: Stores) -> None:
    a, b = new_id("region"), new_id("region")
    await stores.imports.apply(ImportKind.REGIONS, numbered(region(a), region(b)), dry_run=False)
    tech, o = new_id("tech"), new_id("olt")
    await stores.imports.apply(
        ImportKind.TECHNICIANS, numbered(technician(tech, regions=[a])), dry_run=False
    )
    await stores.imports.apply(ImportKind.INVENTORY, numbered(olt(o, region=a)), dry_run=False)
    order, _ = await stores.orders.create_order(new_order(region=a))
    rows = numbered(region(b, remove=True), region(a, remove=True))

    with pytest.raises(RegionInUse) as refused:
        await stores.imports.apply(ImportKind.REGIONS, rows, dry_run=False)
    with pytest.raises(RegionInUse):  # a dry run says so too
        await stores.imports.apply(ImportKind.REGIONS, rows, dry_run=True)

    assert [(e.line, e.field) for e in refused.value.errors] == [(3, "remove")]
    message = str(refused.value)
    assert f"technicians {tech}" in message and f"OLTs {o}" in message
    assert "1 open order(s)" in message
    # b, which nothing used, is not removed either: all or nothing.
    assert {a, b} <= {r.code for r in await RegionStore(stores.db).current()}

    # Once nothing uses it, it goes; its district places no address any more.
    await stores.imports.apply(
        ImportKind.TECHNICIANS, numbered(technician(tech, regions=["haidian"])), dry_run=False
    )
    await stores.imports.apply(
        ImportKind.INVENTORY, numbered(olt(o, region=a, remove=True)), dry_run=False
    )
    await stores.db.transaction(
        lambda c: c.execute(
            update(TABLES["work_order"])
            .where(TABLES["work_order"].c.id == order.id)
            .values(status=OrderStatus.CANCELLED)
        )
    )

    removed = await stores.imports.apply(ImportKind.REGIONS, rows, dry_run=False)

    assert removed.removed == [b, a]
    regions = await stores.regions.current()
    assert a not in regions
    with pytest.raises(UnknownRegion):
        placed(regions, f"{a}区")
