"""Migration 0012: the regions move into the database, seeded with the shipped ones, so
the orders, technicians and OLTs of a database from before keep their regions; a
database made otherwise gets them on its first start, and never again once it has
regions of its own."""

from __future__ import annotations

from alembic import command
from sqlalchemy import delete, insert, select

from tests.db.test_migrations import alembic, differences, empty, empty_url, on
from tests.factories import new_order
from workorders.db import Database
from workorders.reference import load_regions
from workorders.store import RegionStore, Stores
from workorders.store.base import TABLES

__all__ = ["empty", "empty_url"]  # the fixtures, used by name

SHIPPED = load_regions()


async def test_the_shipped_regions_are_the_databases_after_0012(empty: Database) -> None:
    await empty.migrate()
    await alembic(empty, lambda config: command.downgrade(config, "0011"))
    order = new_order(region="north")
    await on(empty, lambda c: c.execute(insert(TABLES["work_order"]), [order.model_dump()]))

    await empty.migrate()

    assert await on(empty, differences) == []
    regions = await RegionStore(empty).current()
    assert [r.model_dump() for r in regions] == [
        r.model_copy(update={"olts": [], "technicians": []}).model_dump()
        for r in sorted(SHIPPED, key=lambda r: r.code)
    ]
    read = await Stores.of(empty).orders.get_order(order.id)
    assert regions.get(read.region).installation_hours == SHIPPED.get("north").installation_hours
    assert regions.for_postcode(read.postcode, read.country).code == "north"


async def test_the_first_start_seeds_regions_only_into_a_database_without(
    empty: Database,
) -> None:
    await empty.migrate()
    region = TABLES["region"]
    await on(empty, lambda c: c.execute(delete(region)))

    await empty.seed(SHIPPED)  # a database made without the migration's rows
    seeded = await on(empty, lambda c: set(c.execute(select(region.c.id)).scalars()))
    await on(empty, lambda c: c.execute(delete(region).where(region.c.id != "haidian")))
    await empty.seed(SHIPPED)  # the operator's regions stay as they are
    kept = await on(empty, lambda c: set(c.execute(select(region.c.id)).scalars()))

    assert seeded == {r.code for r in SHIPPED}
    assert kept == {"haidian"}
