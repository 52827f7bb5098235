"""A real HTTP listener for the TMF641 notification tests: a small HTTP/1.1 server on
a free local port that records each request and answers with the status it is set to."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Listener:
    """What the server got, and what it answers (``status``); ``arrived`` is set at
    each request."""

    port: int
    status: int = 201
    answers: list[int] = field(default_factory=list)
    """The statuses of the next requests, in turn, before ``status`` again."""
    hang: bool = False
    """Whether it takes requests without ever answering (a listener stuck)."""
    received: list[Received] = field(default_factory=list)
    """The requests it answered 2xx (took)."""
    requests: int = 0
    """Every request, taken or not."""
    connections: set[asyncio.StreamWriter] = field(default_factory=set)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    closing: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/listener"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections.add(writer)
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                _, path, _ = line.decode().split(" ", 2)
                headers: dict[str, str] = {}
                while (header := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = header.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                status = self.answers.pop(0) if self.answers else self.status
                self.requests += 1
                self.arrived.set()
                if self.hang:
                    await self.closing.wait()
                    return
                if 200 <= status < 300:
                    self.received.append(Received(path, headers, body))
                writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n".encode())
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        except asyncio.CancelledError:  # the test's loop ends with a connection open
            return
        finally:
            self.connections.discard(writer)
            writer.close()


@asynccontextmanager
async def listening(port: int = 0) -> AsyncIterator[Listener]:
    """A :class:`Listener` on ``port`` (a free one by default) until the block ends."""
    listener = Listener(port)
    server = await asyncio.start_server(listener.handle, "127.0.0.1", port)
    listener.port = server.sockets[0].getsockname()[1]
    try:
        yield listener
    finally:
        listener.closing.set()
        server.close()
        for writer in list(listener.connections):
            writer.close()
        await server.wait_closed()
