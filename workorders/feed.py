"""Waking the followers of an order when its timeline grows: the console's live pages.

On PostgreSQL every new timeline line NOTIFYs the order's id on commit
(:data:`workorders.store.base.ORDER_EVENTS_CHANNEL`), whichever process wrote it; one
LISTEN connection per process wakes the followers of that order at once. SQLite has
nothing of the kind: followers look again every ``poll_s``. Either way a follower reads
the new events from the table itself, so a wake-up lost (a connection that dropped) costs
at most one poll interval, never an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator

import psycopg
from sqlalchemy.engine import make_url

from workorders.store.base import ORDER_EVENTS_CHANNEL

log = logging.getLogger("workorders.feed")

POLL_S = 0.25
"""How often a follower looks without a wake-up (SQLite)."""
SAFETY_POLL_S = 5.0
"""How often it looks anyway while LISTEN wakes it (PostgreSQL)."""
ANY_ORDER = "*"
"""Follow this to be woken when any order's timeline grows (the boards, the job lists)."""


class OrderFeed:
    """Wake-ups of the followers of each order."""

    def __init__(self, database_url: str) -> None:
        url = make_url(database_url)
        self._listen_url = (
            url.set(drivername="postgresql").render_as_string(hide_password=False)
            if url.get_backend_name() == "postgresql"
            else None
        )
        self._followers: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None

    @property
    def poll_s(self) -> float:
        return SAFETY_POLL_S if self._listen_url else POLL_S

    @contextlib.asynccontextmanager
    async def following(self, order_id: str) -> AsyncIterator[asyncio.Event]:
        """An event set when the order's timeline may have grown; clear it after reading."""
        self._start()
        woken = asyncio.Event()
        self._followers[order_id].add(woken)
        try:
            yield woken
        finally:
            self._followers[order_id].discard(woken)
            if not self._followers[order_id]:
                del self._followers[order_id]

    async def wait(self, woken: asyncio.Event) -> None:
        """Until a wake-up, or the poll interval."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(woken.wait(), self.poll_s)
        woken.clear()

    def _start(self) -> None:
        if self._listen_url is not None and self._task is None:
            self._task = asyncio.create_task(self._listen(self._listen_url))

    async def _listen(self, url: str) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(url, autocommit=True) as db:
                    await db.execute(f"LISTEN {ORDER_EVENTS_CHANNEL}")
                    for followers in self._followers.values():  # what passed unheard
                        for woken in followers:
                            woken.set()
                    async for notice in db.notifies():
                        for key in (notice.payload, ANY_ORDER):
                            for woken in self._followers.get(key, ()):
                                woken.set()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("the order feed lost PostgreSQL; listening again", exc_info=True)
                await asyncio.sleep(1)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
