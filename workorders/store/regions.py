"""The regions of the service area as the database has them: the one source of truth
for placing an address, a region's time limits, VLAN pool and test servers.

Each process keeps what it read for at most ``refresh_s``, so an import made through
the API is seen by every process (the API's workers and the Temporal workers) within
that time, without a restart; the process that imported sees it at once.
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection
from typing import Any

from sqlalchemy import Connection, func, select

from models.enums import OrderStatus
from workorders.db import Database
from workorders.reference import Region, Regions
from workorders.store.base import ORDER, TABLES, TECHNICIANS, Store

REGIONS = TABLES["region"]
_OLTS = TABLES["olt"]
_ALL = select(REGIONS).order_by(REGIONS.c.id)

_FINAL = [s for s in OrderStatus if s.is_final]

REFRESH_S = 1.0
"""How long a process keeps the regions it read before it reads them again."""


def region_of(row: dict[str, Any]) -> Region:
    """A row of the region table as the reference model."""
    return Region(
        code=row["id"],
        name=row["name"],
        country=row["country"],
        province=row["province"],
        city=row["city"],
        districts=row["districts"],
        postcode_prefixes=row["postcode_prefixes"],
        vlan_range=(row["vlan_low"], row["vlan_high"]),
        installation_hours=row["installation_hours"],
        jeopardy_hours=row["jeopardy_hours"],
        test_servers=row["test_servers"],
    )


class RegionStore(Store):
    """The database's regions, read again at most every ``refresh_s`` seconds."""

    def __init__(self, db: Database, refresh_s: float = REFRESH_S) -> None:
        super().__init__(db)
        self.refresh_s = refresh_s
        self._rows: list[dict[str, Any]] | None = None
        self._regions = Regions([])
        self._read_at = -math.inf

    async def current(self) -> Regions:
        """The regions as they stand (as read at most ``refresh_s`` ago)."""
        if time.monotonic() - self._read_at < self.refresh_s:
            return self._regions
        read_at = time.monotonic()
        rows = await self.db.transaction(
            lambda connection: [dict(r._mapping) for r in connection.execute(_ALL)]
        )
        if rows != self._rows:
            self._regions = Regions([region_of(r) for r in rows])
            self._rows = rows
        self._read_at = read_at
        return self._regions

    async def region(self, code: str) -> Region:
        """The region of this code: an order's region that this process has not read
        yet (imported within ``refresh_s`` by another process) is read at once.

        Raises:
            KeyError: the database has no such region.
        """
        regions = await self.current()
        if code not in regions:
            self.forget()
            regions = await self.current()
        return regions.get(code)

    def forget(self) -> None:
        """Read the regions again on the next :meth:`current` (after an import)."""
        self._read_at = -math.inf


def users_of(connection: Connection, codes: Collection[str]) -> dict[str, list[str]]:
    """What uses each of these regions, said in words (``"technicians tech-1, tech-2"``,
    ``"OLTs olt-1"``, ``"3 open order(s)"``); a region nothing uses is not in the answer.
    Any technician who names it counts (an inactive one could be made active again)."""
    wanted = set(codes)
    technicians: dict[str, list[str]] = {}
    for tech_id, regions in connection.execute(select(TECHNICIANS.c.id, TECHNICIANS.c.regions)):
        for code in set(regions) & wanted:
            technicians.setdefault(code, []).append(tech_id)
    olts: dict[str, list[str]] = {}
    for olt_id, code in connection.execute(
        select(_OLTS.c.id, _OLTS.c.region).where(_OLTS.c.region.in_(wanted))
    ):
        olts.setdefault(code, []).append(olt_id)
    open_orders = (
        select(ORDER.region, func.count())
        .where(ORDER.region.in_(wanted), ORDER.status.not_in(_FINAL))
        .group_by(ORDER.region)
    )
    orders: dict[str, int] = dict(connection.execute(open_orders).all())
    uses: dict[str, list[str]] = {}
    for code in sorted(wanted):
        said = [
            f"{what} {_some(ids)}"
            for what, ids in (("technicians", technicians.get(code)), ("OLTs", olts.get(code)))
            if ids
        ]
        if orders.get(code):
            said.append(f"{orders[code]} open order(s)")
        if said:
            uses[code] = said
    return uses


def _some(ids: list[str], shown: int = 5) -> str:
    ids = sorted(ids)
    return ", ".join(ids[:shown]) + (f" and {len(ids) - shown} more" if len(ids) > shown else "")
