"""A region's board is read once per timeline line, however many boards follow it."""

from __future__ import annotations

import asyncio

import pytest

from api.console.board import Boards
from workorders.store import Board


class CountingStore:
    def __init__(self) -> None:
        self.last = 1
        self.reads = 0
        self.fail = False

    async def board(self, region: str) -> Board:
        self.reads += 1
        await asyncio.sleep(0.01)
        if self.fail:
            raise ConnectionError("database gone")
        return Board(region=region, queue=[], technicians=[], late=[], waiting=[])


async def test_followers_share_one_read_per_line() -> None:
    store, boards = CountingStore(), Boards()
    read = await asyncio.gather(*(boards.board(store, "north", store.last) for _ in range(50)))  # type: ignore[arg-type]
    assert store.reads == 1 and {b.region for b in read} == {"north"}
    await boards.board(store, "north", store.last)  # type: ignore[arg-type]
    assert store.reads == 1  # nothing new: the same board
    await boards.board(store, "south", store.last)  # type: ignore[arg-type]
    assert store.reads == 2  # another region, its own read
    store.last = 2
    await asyncio.gather(*(boards.board(store, "north", store.last) for _ in range(50)))  # type: ignore[arg-type]
    assert store.reads == 3


async def test_a_failed_read_is_not_kept() -> None:
    store, boards = CountingStore(), Boards()
    store.fail = True
    for _ in range(2):
        with pytest.raises(ConnectionError):
            await boards.board(store, "north", store.last)  # type: ignore[arg-type]
    assert store.reads == 2
    store.fail = False
    assert (await boards.board(store, "north", store.last)).region == "north"  # type: ignore[arg-type]


class LastLine:
    """A store whose newest timeline line grows while a read of it is under way."""

    def __init__(self) -> None:
        self.line = 1
        self.reads = 0
        self.gate = asyncio.Event()

    async def last_event_id(self) -> int:
        self.reads += 1
        seen = self.line  # read at the start: a line committed later is not seen
        await self.gate.wait()
        return seen


async def test_followers_asking_at_once_share_one_read_of_the_newest_line() -> None:
    store, boards = LastLine(), Boards()
    asking = [asyncio.ensure_future(boards.last_event_id(store)) for _ in range(50)]  # type: ignore[arg-type]
    await asyncio.sleep(0)
    store.gate.set()
    assert await asyncio.gather(*asking) == [1] * 50
    assert store.reads == 1


async def test_a_follower_woken_during_a_read_gets_a_read_begun_after_it_asked() -> None:
    store, boards = LastLine(), Boards()
    early = asyncio.ensure_future(boards.last_event_id(store))  # type: ignore[arg-type]
    for _ in range(3):
        await asyncio.sleep(0)
    assert store.reads == 1  # under way, and blind to what comes next
    store.line = 2  # a line committed; its wake-up makes two followers ask
    woken = [asyncio.ensure_future(boards.last_event_id(store)) for _ in range(2)]  # type: ignore[arg-type]
    await asyncio.sleep(0)
    store.gate.set()
    assert await early == 1
    assert await asyncio.gather(*woken) == [2, 2]  # never the read under way when asked
    assert store.reads == 2
