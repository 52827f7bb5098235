"""A deliverer process killed with SIGKILL in the middle of a TMF641 delivery loses
nothing: the deliveries it held are sent by another once its lease has run out, and the
order's events all arrive, in order (at least once)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import Connection, select, update

from models.tables import utcnow
from tests.db.test_construction_store import region_with, started
from tests.listener import listening
from workorders.db import Database
from workorders.hub import Backoff, Deliverer
from workorders.reference import load_regions
from workorders.store import Stores
from workorders.store.hub import DELIVERIES, DELIVERY, HUB_EVENT

pytestmark = pytest.mark.integration

DELIVERER = textwrap.dedent(
    """
    import asyncio, datetime, sys
    import aiohttp
    from workorders.db import Database
    from workorders.hub import Deliverer
    from workorders.store import Stores

    async def main() -> None:
        db = Database.from_url(sys.argv[1])
        async with aiohttp.ClientSession() as http:
            lease = datetime.timedelta(hours=1)
            await Deliverer(Stores.of(db).hub, http, lease=lease).run()

    asyncio.run(main())
    """
)


async def test_a_deliverer_process_killed_mid_delivery_loses_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'workorders.db'}"
    db = Database.from_url(url)
    await db.migrate()
    await db.seed(load_regions())
    stores = Stores.of(db)
    region, _ = await region_with(stores, ("a", 1))
    async with listening() as listener:
        listener.hang = True
        registered = await stores.hub.register(listener.url, None, None, "operations:o")
        order = await started(stores, region)
        await stores.cancellation.record_cancellation(order.id, "operations:o", "moved")

        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            DELIVERER,
            url,
            env={**os.environ, "PYTHONPATH": str(Path.cwd())},
        )
        try:
            await asyncio.wait_for(listener.arrived.wait(), timeout=60)
        finally:
            process.send_signal(signal.SIGKILL)
            await process.wait()
        assert listener.received == []  # it was killed before the listener answered

        # The order's four events were claimed as one run, sent one after another: the
        # first never answered, so the others were not sent; all are held.
        held = [x for x in await stores.hub.deliveries(registered.id) if x.lease_until]
        assert len(held) == 4 and not any(x.delivered_at for x in held)
        assert listener.requests == 1

        def lease_ends(connection: Connection) -> None:  # its hour has passed
            connection.execute(
                update(DELIVERIES)
                .where(DELIVERY.listener_id == registered.id)
                .values(lease_until=datetime(2000, 1, 1, tzinfo=UTC))
            )

        await db.transaction(lease_ends)
        listener.hang = False
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
            d = Deliverer(stores.hub, http, backoff=Backoff(0.001, 0.001))
            for _ in range(500):
                await d.run_once()
                deliveries = await stores.hub.deliveries(registered.id)
                if all(x.delivered_at for x in deliveries):
                    break
                await asyncio.sleep(0.005)

        def told(connection: Connection) -> list[str]:
            query = select(HUB_EVENT.event_id).where(HUB_EVENT.order_id == order.id)
            return list(connection.execute(query.order_by(HUB_EVENT.id)).scalars())

        expected = await db.run_on_connection(told)
        got = [r.json["eventId"] for r in listener.received if r.json["correlationId"] == order.id]
        assert got == expected
        # created, in progress, cancellation requested, pendingCancellation
        assert len(expected) == 4
        assert all(x.delivered_at and x.delivered_at <= utcnow() for x in deliveries)
    await db.dispose()
