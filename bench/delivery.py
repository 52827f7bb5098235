"""TMF641 event delivery: latency from the state change to the listener, and what the
listeners cost the orders' throughput (issue 19).

The stores make ``--orders`` orders go through their life (created, started, in
jeopardy, waiting for operations and back, completed: seven outbox events each),
``--concurrency`` at a time, first with no listener registered, then with
``--listeners`` real HTTP listeners (a process of their own, one port each) and the
deliverer running as the worker process runs it (:func:`workorders.hub.delivering`,
a process of its own), then again without. Figures:

- ``p95_s``: from each event's recorded time (``eventTime``, written in the
  transaction of the change) to its arrival at a listener; target at most 1 s;
- ``throughput_ratio``: orders/s with listeners over orders/s without (the faster of
  the two runs without, so that a slow run of the machine does not raise the figure);
  target at least 0.9.

    .venv/bin/python -m bench.delivery [--quick] [--orders N] [--listeners L]
        [--rate ORDERS_PER_S] [--database-url URL]

``--floor`` measures what no design of the deliverer can do without: the CPU of the
POSTs alone. The deliverer's own :meth:`~workorders.hub.Deliverer.send_run` sends
``--orders`` orders' real outbox events to the listeners (100 runs at once, as a round
does), with no claim and no record; it prints the CPU a POST costs the sender and the
listeners' process.

A PostgreSQL URL names the server: the benchmark makes a database of its own there
and drops it after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from itertools import groupby
from pathlib import Path
from typing import Any

import uvloop
from sqlalchemy import create_engine, make_url, select, text

from bench import exit_at_once
from bench.stats import percentile, summary, verdict
from bench.system import cpu_seconds
from models.enums import OrderStatus, ServiceType, SlaState, SubTaskKind, SubTaskStatus
from models.payloads import OrderDecision, SubTaskOutcome
from models.tables import WorkOrder, utcnow
from workflows import workflow_id_for
from workorders.config import Settings
from workorders.db import Database
from workorders.hub import Deliverer, delivering, sending_session
from workorders.store import Stores
from workorders.store.hub import HUB_EVENT, Claimed

TARGET_P95_S = 1.0
TARGET_RATIO = 0.9
EVENTS_PER_ORDER = 7


def an_order() -> WorkOrder:
    order_id = str(uuid.uuid4())
    return WorkOrder(
        id=order_id,
        external_reference=f"bench-{order_id}",
        request_fingerprint="f" * 64,
        customer_name="Wang Xiaoming",
        customer_phone="+86 138 0013 8000",
        street="Jianguo Road",
        house_number="88",
        postcode="10115",
        city="Springfield",
        service_type=ServiceType.FTTH,
        download_mbps=300,
        upload_mbps=100,
        profile="FTTH_300_100",
        region="north",
        workflow_id=workflow_id_for(order_id),
    )


async def one_life(stores: Stores) -> None:
    """An order's life in the stores: seven outbox events."""
    order, _ = await stores.orders.create_order(an_order())
    await stores.progress.start_order(order.id)
    await stores.progress.set_sla_state(order.id, SlaState.JEOPARDY)
    await stores.progress.hand_to_operations(order.id, SubTaskKind.ACTIVATION, "no port free")
    await stores.progress.hand_to_operations(order.id, SubTaskKind.ACTIVATION, None)
    await stores.progress.complete_order(
        order.id,
        OrderDecision(status=OrderStatus.COMPLETED),
        [SubTaskOutcome(kind=k, status=SubTaskStatus.SUCCEEDED) for k in SubTaskKind],
    )


async def orders_per_second(
    stores: Stores, orders: int, concurrency: int, rate: float | None = None
) -> float:
    """Orders/s of ``orders`` lives, ``concurrency`` at a time; with ``rate``, the
    i-th starts no earlier than i/rate seconds in (a paced run)."""
    todo = iter(range(orders))
    started = time.perf_counter()

    async def lane() -> None:
        for n in todo:
            if rate:
                await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
            await one_life(stores)

    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return orders / (time.perf_counter() - started)


# --- the listeners' process -------------------------------------------------------


async def listen(ports_file: Path, out_file: Path, count: int) -> None:
    """``count`` HTTP listeners on free ports (written to ``ports_file``); at SIGTERM,
    the latencies they saw go to ``out_file`` as JSON."""
    latencies: list[float] = []
    open_writers: set[asyncio.StreamWriter] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        open_writers.add(writer)
        try:
            while line := await reader.readline():
                del line
                length = 0
                while (header := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = header.decode().partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                body = await reader.readexactly(length)
                arrived = time.time()
                sent = datetime.fromisoformat(json.loads(body)["eventTime"]).timestamp()
                latencies.append(arrived - sent)
                writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            open_writers.discard(writer)
            writer.close()

    servers = [await asyncio.start_server(handle, "127.0.0.1", 0) for _ in range(count)]
    ports = [s.sockets[0].getsockname()[1] for s in servers]
    await asyncio.to_thread(ports_file.write_text, json.dumps(ports))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    for server in servers:
        server.close()
    for writer in list(open_writers):  # a kept-alive connection's reader then ends
        writer.transport.abort()
    await asyncio.sleep(0)
    await asyncio.to_thread(out_file.write_text, json.dumps(latencies))


async def start_listeners(
    tmp: Path, out_file: Path, count: int
) -> tuple[asyncio.subprocess.Process, list[int]]:
    """The listeners' process (:func:`listen`), once it listens, and its ports."""
    ports_file = tmp / "ports.json"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.delivery",
        "--listen",
        str(ports_file),
        str(out_file),
        str(count),
    )
    while not await asyncio.to_thread(ports_file.exists):  # noqa: ASYNC110 (another process)
        await asyncio.sleep(0.05)
    return process, json.loads(await asyncio.to_thread(ports_file.read_text))


# --- the deliverer's process ------------------------------------------------------


async def deliver(database_url: str, ready_file: Path) -> None:
    """The worker process's deliverer; ``ready_file`` is written once it runs."""
    settings = Settings(_env_file=None, database_url=database_url)
    db = Database.from_url(database_url)
    async with delivering(settings, Stores.of(db).hub):
        await asyncio.to_thread(ready_file.write_text, "running")
        await asyncio.Event().wait()


# --- the run ----------------------------------------------------------------------


def fresh_database(url: str | None, tmp: Path) -> tuple[str, str | None]:
    """The URL to run on, and the PostgreSQL database to drop after (if one was made)."""
    if not url:
        return f"sqlite:///{tmp / 'delivery.db'}", None
    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql"):
        return url, None
    name = f"bench_delivery_{uuid.uuid4().hex[:8]}"
    admin = create_engine(parsed.set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return parsed.set(drivername="postgresql+psycopg", database=name).render_as_string(
        hide_password=False
    ), name


def drop_database(url: str, name: str) -> None:
    admin = create_engine(
        make_url(url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


async def run(args: argparse.Namespace, tmp: Path) -> int:
    url, made = fresh_database(args.database_url, tmp)
    db = Database.from_url(url)
    children: list[asyncio.subprocess.Process] = []
    try:
        await db.migrate()
        stores = Stores.of(db)
        await orders_per_second(stores, max(2, args.orders // 10), args.concurrency)  # warm
        without = [await orders_per_second(stores, args.orders, args.concurrency, args.rate)]

        out_file = tmp / "latencies.json"
        listeners, ports = await start_listeners(tmp, out_file, args.listeners)
        children.append(listeners)
        for port in ports:
            await stores.hub.register(f"http://127.0.0.1:{port}/listener", None, "s" * 16, "b")
        ready_file = tmp / "delivering"
        children.append(
            await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.delivery", "--deliver", url, str(ready_file)
            )
        )
        # Its imports alone take 2 to 5 s on a busy 2-core machine: the orders start
        # once it runs (as a worker's deliverer does before orders come), and once it
        # has had a second to connect.
        while not await asyncio.to_thread(ready_file.exists):
            if children[1].returncode is not None:
                print("the deliverer's process ended before it ran")
                return 1
            await asyncio.sleep(0.05)
        await asyncio.sleep(1)
        with_listeners = await orders_per_second(stores, args.orders, args.concurrency, args.rate)
        expected = args.orders * EVENTS_PER_ORDER * args.listeners
        deadline = time.monotonic() + 600
        while await stores.hub.undelivered() or not await all_fanned_out(db):
            if time.monotonic() > deadline:
                print("deliveries did not finish in 10 min")
                return 1
            await asyncio.sleep(0.2)
        children[1].terminate()
        await children[1].wait()
        for listener_id in await _listeners(db):
            await stores.hub.remove(listener_id)
        without.append(await orders_per_second(stores, args.orders, args.concurrency, args.rate))
        children[0].terminate()
        await children[0].wait()
        latencies = json.loads(await asyncio.to_thread(out_file.read_text))
    finally:
        for child in children:
            if child.returncode is None:
                child.kill()
                await child.wait()
        await db.dispose()
        if made is not None and args.database_url:
            drop_database(args.database_url, made)

    p95 = percentile(latencies, 95)
    ratio = with_listeners / max(without)
    backend = make_url(url).get_backend_name()
    print(
        summary(
            database=backend,
            orders=args.orders,
            paced_orders_per_s=args.rate or "no",
            listeners=args.listeners,
            deliveries=len(latencies),
            expected=expected,
            p50_s=percentile(latencies, 50),
            p95_s=p95,
            max_s=max(latencies, default=float("nan")),
            orders_per_s_without=max(without),
            orders_per_s_with=with_listeners,
            throughput_ratio=ratio,
        )
    )
    missed = []
    if len(latencies) < expected:
        missed.append(f"{len(latencies)} deliveries of {expected}")
    if not p95 <= TARGET_P95_S:
        missed.append(f"p95 {p95:.3f} s > {TARGET_P95_S} s")
    if ratio < TARGET_RATIO:
        missed.append(f"throughput ratio {ratio:.3f} < {TARGET_RATIO}")
    return verdict(missed)


async def floor(args: argparse.Namespace, tmp: Path) -> int:
    """The CPU of the POSTs alone (``--floor``)."""
    url = f"sqlite:///{tmp / 'floor.db'}"
    db = Database.from_url(url)
    try:
        await db.migrate()
        stores = Stores.of(db)
        for _ in range(args.orders):
            await one_life(stores)

        def bodies(connection: Any) -> list[Any]:
            query = select(
                HUB_EVENT.order_id, HUB_EVENT.event_id, HUB_EVENT.event_type, HUB_EVENT.body
            )
            return list(connection.execute(query.order_by(HUB_EVENT.id)))

        events = await db.run_on_connection(bodies)
        listeners, ports = await start_listeners(tmp, tmp / "latencies.json", args.listeners)
        try:
            far = utcnow() + timedelta(hours=1)
            lives = [list(life) for _, life in groupby(events, key=lambda e: e.order_id)]
            runs = [
                [
                    Claimed(
                        0,
                        str(port),
                        order_id,
                        f"http://127.0.0.1:{port}/listener",
                        "s" * 16,
                        event_id,
                        event_type,
                        body,
                        0,
                        far,
                    )
                    for order_id, event_id, event_type, body in life
                ]
                for life in lives
                for port in ports  # each round's runs to every listener, as claimed
            ]
            settings = Settings(_env_file=None, database_url=url)
            async with sending_session(settings) as session:
                deliverer = Deliverer.of(settings, stores.hub, session)
                until = asyncio.get_running_loop().time() + 3600
                await asyncio.gather(*(deliverer.send_run(run, until) for run in runs[:100]))
                listener_before, before = cpu_seconds(listeners.pid), time.process_time()
                for start in range(0, len(runs), 100):
                    await asyncio.gather(
                        *(deliverer.send_run(run, until) for run in runs[start : start + 100])
                    )
                sender = time.process_time() - before
                listener = cpu_seconds(listeners.pid) - listener_before
        finally:
            listeners.terminate()
            await listeners.wait()
    finally:
        await db.dispose()
    posts = sum(len(run) for run in runs)
    print(
        summary(
            listeners=args.listeners,
            posts=posts,
            sender_ms_per_post=sender / posts * 1000,
            listeners_ms_per_post=listener / posts * 1000,
        )
    )
    return 0


async def all_fanned_out(db: Database) -> bool:
    def work(connection: Any) -> bool:
        query = text("SELECT count(*) FROM hub_event WHERE NOT fanned_out")
        return int(connection.execute(query).scalar_one()) == 0

    return await db.run_on_connection(work)


async def _listeners(db: Database) -> list[str]:
    def work(connection: Any) -> list[str]:
        return list(connection.execute(text("SELECT id FROM hub_listener")).scalars())

    return await db.run_on_connection(work)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small run: 20 orders")
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--rate",
        type=float,
        help="orders/s to pace the orders at (e.g. bench.throughput's end-to-end rate);"
        " then the throughput ratio only says whether the rate was kept",
    )
    parser.add_argument("--listeners", type=int, default=20)
    parser.add_argument("--database-url", default=os.environ.get("WORKORDERS_BENCH_DATABASE_URL"))
    parser.add_argument("--floor", action="store_true", help="the CPU of the POSTs alone")
    parser.add_argument("--listen", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--deliver", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.listen:
        ports_file, out_file, count = args.listen
        asyncio.run(listen(Path(ports_file), Path(out_file), int(count)))
        return
    if args.deliver:
        database_url, ready_file = args.deliver
        uvloop.run(deliver(database_url, Path(ready_file)))  # as the worker runs it
        return
    if args.quick:
        args.orders = 20
    with tempfile.TemporaryDirectory() as tmp:
        code = uvloop.run((floor if args.floor else run)(args, Path(tmp)))  # as the worker
    exit_at_once(code)


if __name__ == "__main__":
    main()
