"""Imports of technicians and OLTs, on SQLite and on PostgreSQL: all or nothing, the
same file twice changes nothing, a dry run writes nothing, and an OLT's active lines
are never lost."""

from __future__ import annotations

import uuid

import pytest

from tests.db.test_inventory import data, hold, order_for
from workorders.importing import ImportKind, ImportRow, OltRow, TechnicianRow
from workorders.store import LinesInUse, Stores


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
