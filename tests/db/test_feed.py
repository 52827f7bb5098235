"""The order feed wakes an order's followers when its timeline grows: by PostgreSQL's
LISTEN/NOTIFY from any process's commit, by polling on SQLite."""

from __future__ import annotations

import asyncio

from models.tables import utcnow
from tests.factories import new_order
from workorders.db import Database
from workorders.feed import POLL_S, SAFETY_POLL_S, OrderFeed
from workorders.store import Stores
from workorders.store.base import add_event


async def test_a_new_line_of_the_timeline_wakes_its_followers(
    database: Database, stores: Stores
) -> None:
    order, _ = await stores.orders.create_order(new_order())
    other, _ = await stores.orders.create_order(new_order())
    feed = OrderFeed(str(database.engine.url.render_as_string(hide_password=False)))
    postgres = database.engine.dialect.name == "postgresql"
    assert feed.poll_s == (SAFETY_POLL_S if postgres else POLL_S)
    try:
        async with feed.following(order.id) as woken, feed.following(other.id) as unrelated:
            await asyncio.sleep(0.5)  # the LISTEN connection is up
            woken.clear()
            unrelated.clear()
            await database.transaction(
                lambda c: add_event(c, order.id, "operations:test", "order.note", utcnow())
            )
            if postgres:  # told at once, and only the order's own followers
                await asyncio.wait_for(woken.wait(), timeout=30)
                assert not unrelated.is_set()
            else:  # nothing tells SQLite's followers: they look again after poll_s
                await feed.wait(woken)
            events = await stores.orders.timeline(order.id)
            assert events[-1].kind == "order.note"
    finally:
        await feed.close()
