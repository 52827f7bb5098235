"""Migration 0009: orders taken before addresses had a country read as DE addresses,
as they were validated then; Chinese addresses are stored field by field."""

from __future__ import annotations

from alembic import command
from sqlalchemy import Connection, text

from api.routes.orders import address_of
from tests.db.test_migrations import alembic, differences, empty, empty_url, on
from tests.factories import new_order
from workorders.db import Database
from workorders.store import Stores

__all__ = ["empty", "empty_url"]  # the fixtures, used by name


async def test_an_order_stored_before_0009_reads_as_a_de_address(empty: Database) -> None:
    await empty.migrate()
    await alembic(empty, lambda config: command.downgrade(config, "0006"))

    def insert_old(connection: Connection) -> None:
        connection.execute(
            text(
                "INSERT INTO work_order (id, external_reference, channel, request_fingerprint,"
                " customer_name, customer_phone, street, house_number, unit, postcode, city,"
                " service_type, download_mbps, upload_mbps, profile, region, status,"
                " workflow_id, created_at, updated_at) VALUES ('old-1', 'OLD-1', 'CRM', :f,"
                " 'Wang Xiaoming', '+86 138 0013 8000', 'Jianguo Road', '88', 'Flat 1203',"
                " '10115', 'Springfield', 'FTTH', 300, 100, 'FTTH_300_100', 'north',"
                " 'RECEIVED', 'work-order-old-1', :at, :at)"
            ),
            {"f": "f" * 64, "at": "2026-12-01 10:00:00+00:00"},
        )

    await on(empty, insert_old)
    await empty.migrate()
    assert await on(empty, differences) == []

    order = await Stores.of(empty).orders.get_order("old-1")
    address = address_of(order)
    assert address.model_dump() == {
        "country": "DE",
        "province": None,
        "city": "Springfield",
        "district": None,
        "street": "Jianguo Road",
        "house_number": "88",
        "building": None,
        "unit": "Flat 1203",
        "room": None,
        "postcode": "10115",
    }


async def test_a_chinese_address_is_kept_field_by_field(empty: Database) -> None:
    await empty.migrate()
    stores = Stores.of(empty)
    chinese = {
        "country": "CN",
        "province": "北京市",
        "city": "北京市",
        "district": "海淀区",
        "street": "中关村大街",
        "house_number": "27号",
        "building": "5号楼",
        "unit": "3单元",
        "room": "502室",
        "postcode": "100080",
    }
    order, _ = await stores.orders.create_order(new_order(region="haidian", **chinese))
    read = await stores.orders.get_order(order.id)
    assert address_of(read).model_dump() == chinese
