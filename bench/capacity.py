"""Capacity: 10,000 open orders waiting for technicians, and the order list over
100,000 stored orders.

1. The order list. A fresh database is filled with ``--stored`` orders (100,000; three
   sub-tasks each, a year of history, most of them ended) by direct inserts, then
   :meth:`OrderStore.list_orders` is timed: the first page (limit 50) unfiltered,
   by status, by region, by both, by technician, and ten pages followed by cursor. On
   SQLite (the default) and, when it answers, on a fresh database of the PostgreSQL
   server at 127.0.0.1:5432 (dropped afterwards; ``--no-postgres`` skips it).
2. The system. ``workorders up`` starts on the filled SQLite database with a
   zero-latency NMS simulator; ``GET /orders`` is timed with the same filters. Every
   technician may then hold one job only, and the front desk creates ``--open``
   orders (10,000) through the API: a few get a technician, the others wait in their
   region's queue, activated, their quality check waiting for the installation. Once
   all wait (or ``--timeout`` has passed), the worker's resident memory is read from
   ``/proc/<pid>/status``, and the CPU each process uses while nothing happens but
   waiting (each queued order asks for a technician again about hourly) is
   measured for ``--idle`` seconds, with the dispatches per second.

Targets: worker RSS at most 300 MiB; order list p99 at most 50 ms (store and HTTP).

    .venv/bin/python -m bench.capacity [--quick] [--stored N] [--open N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Connection, insert
from sqlmodel import col, func, select

from bench import exit_at_once
from bench.stats import percentile, summary, verdict
from bench.system import (
    ZERO_LATENCY_NMS,
    Api,
    System,
    cpu_seconds,
    drop_postgres,
    fresh_postgres,
    parties_client,
    rss_mib,
    settings_for,
    system_env,
)
from models.enums import (
    Channel,
    JobState,
    OrderStatus,
    ServiceType,
    SubTaskKind,
    SubTaskStatus,
)
from models.tables import SubTask, WorkOrder
from workorders.auth import Role
from workorders.db import Database
from workorders.reference import load_regions
from workorders.store import OrderStore

TARGET_RSS_MIB = 300.0
TARGET_LIST_P99_MS = 50.0
STATUSES = [
    (OrderStatus.COMPLETED, 0.80),
    (OrderStatus.FAILED, 0.07),
    (OrderStatus.CANCELLED, 0.03),
    (OrderStatus.IN_PROGRESS, 0.07),
    (OrderStatus.WAITING_FOR_OPERATIONS, 0.03),
]
SUB_TASK_STATUS = {
    OrderStatus.COMPLETED: SubTaskStatus.SUCCEEDED,
    OrderStatus.FAILED: SubTaskStatus.FAILED,
    OrderStatus.CANCELLED: SubTaskStatus.CANCELLED,
    OrderStatus.IN_PROGRESS: SubTaskStatus.IN_PROGRESS,
    OrderStatus.WAITING_FOR_OPERATIONS: SubTaskStatus.WAITING_FOR_OPERATIONS,
}


# 1. The order list over stored orders ------------------------------------------------


Rows = tuple[dict[str, Any], list[dict[str, Any]]]


def stored_orders(count: int, seed: int = 3) -> Iterator[Rows]:
    """``count`` orders of the last year with their three sub-tasks, as table rows."""
    rng = random.Random(seed)
    regions = list(load_regions())
    now = datetime.now(UTC)
    statuses, weights = zip(*STATUSES, strict=True)
    for i in range(count):
        region = rng.choice(regions)
        status: OrderStatus = rng.choices(statuses, weights)[0]
        created = now - timedelta(seconds=rng.uniform(3600, 365 * 86400))
        order_id = str(uuid.UUID(int=rng.getrandbits(128)))
        fibre = rng.random() < 0.8
        order = {
            "id": order_id,
            "external_reference": f"STORED-{i:07d}",
            "channel": rng.choice(list(Channel)),
            "request_fingerprint": f"{i:064x}",
            "customer_name": "Stored Customer",
            "customer_phone": "+86 138 0000 0000",
            "street": "Jianguo Road",
            "house_number": str(1 + i % 300),
            "postcode": f"{region.postcode_prefixes[0]}15"[:5],
            "city": "Springfield",
            "service_type": ServiceType.FTTH if fibre else ServiceType.VDSL,
            "download_mbps": 300 if fibre else 100,
            "upload_mbps": 100 if fibre else 40,
            "profile": "FTTH_300_100" if fibre else "VDSL_100_40",
            "region": region.code,
            "status": status,
            "workflow_id": f"work-order-{order_id}",
            "created_at": created,
            "updated_at": created + timedelta(hours=rng.uniform(1, 48)),
            "completed_at": created + timedelta(hours=48) if status.is_final else None,
        }
        sub_status = SUB_TASK_STATUS[status]
        technician = rng.choice(region.technicians).id
        order["technician_id"] = technician
        tasks = [
            {
                "order_id": order_id,
                "kind": kind,
                "status": sub_status,
                "attempts": 1,
                "technician_id": technician if kind is SubTaskKind.CONSTRUCTION else None,
                "job_state": JobState.COMPLETED
                if kind is SubTaskKind.CONSTRUCTION and sub_status is SubTaskStatus.SUCCEEDED
                else None,
                "visit": 1 if kind is SubTaskKind.CONSTRUCTION else 0,
                "updated_at": order["updated_at"],
            }
            for kind in SubTaskKind
        ]
        yield order, tasks


async def fill(db: Database, count: int, batch: int = 5000) -> float:
    """Insert ``count`` stored orders; the seconds it took."""
    started = time.monotonic()
    orders: list[dict[str, Any]] = []
    tasks: list[dict[str, Any]] = []

    def insert_rows(connection: Connection) -> None:
        with connection.begin():
            connection.execute(insert(WorkOrder), orders)
            connection.execute(insert(SubTask), tasks)

    async def flush() -> None:
        await db.run_on_connection(insert_rows)
        orders.clear()
        tasks.clear()

    for order, sub_tasks in stored_orders(count):
        orders.append(order)
        tasks.extend(sub_tasks)
        if len(orders) >= batch:
            await flush()
    if orders:
        await flush()
    if db.engine.dialect.name == "postgresql":
        # What autovacuum does to a live table after so many inserts, at once: the
        # statistics, and the visibility map that lets a count read an index alone.
        def vacuum(connection: Connection) -> None:
            autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
            autocommit.exec_driver_sql("VACUUM ANALYZE work_order")
            autocommit.exec_driver_sql("VACUUM ANALYZE sub_task")

        await db.run_on_connection(vacuum)
    return time.monotonic() - started


LIST_QUERIES: dict[str, dict[str, Any]] = {
    "all": {},
    "status": {"status": OrderStatus.IN_PROGRESS},
    "rare_status": {"status": OrderStatus.WAITING_FOR_OPERATIONS},
    "region": {"region": "north"},
    "status_region": {"status": OrderStatus.COMPLETED, "region": "east"},
    "technician": {"technician_id": "tech-north-1"},
}


async def timed(times: list[float], call: Callable[[], Awaitable[Any]]) -> Any:
    started = time.perf_counter()
    result = await call()
    times.append((time.perf_counter() - started) * 1000)
    return result


async def time_store(store: OrderStore, repeat: int) -> dict[str, list[float]]:
    """Milliseconds of each kind of order-list query, ``repeat`` times each, and of
    ten pages followed by cursor (``pages``)."""
    times: dict[str, list[float]] = {name: [] for name in [*LIST_QUERIES, "pages"]}
    for _ in range(repeat):
        for name, filters in LIST_QUERIES.items():
            await timed(times[name], lambda f=filters: store.list_orders(limit=50, **f))  # type: ignore[misc]
    for _ in range(max(1, repeat // 10)):
        after = None
        for _page in range(10):
            orders, _total = await timed(
                times["pages"],
                lambda a=after: store.list_orders(status=OrderStatus.COMPLETED, after=a, limit=50),  # type: ignore[misc]
            )
            if len(orders) < 50:
                break
            after = (orders[-1].created_at, orders[-1].id)
    return times


async def time_http(api: Api, repeat: int) -> dict[str, list[float]]:
    """The same over ``GET /orders``, and ``GET /healthz`` as the floor."""
    headers = api.auth(Role.FRONT_DESK, "bench-desk")
    times: dict[str, list[float]] = {name: [] for name in [*LIST_QUERIES, "pages", "healthz"]}

    async def get(path: str, params: dict[str, Any]) -> dict[str, Any]:
        response = await api.http.get(path, params=params, headers=headers)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    for _ in range(3):  # connections, caches: not counted
        await get("/orders", {"limit": 50})
    for _ in range(repeat):
        for name, filters in LIST_QUERIES.items():
            query = {
                ("technician" if k == "technician_id" else k): str(v) for k, v in filters.items()
            }
            await timed(times[name], lambda q=query: get("/orders", {**q, "limit": 50}))  # type: ignore[misc]
        await timed(times["healthz"], lambda: get("/healthz", {}))
    for _ in range(max(1, repeat // 10)):
        cursor = None
        for _page in range(10):
            params: dict[str, Any] = {"status": "completed", "limit": 50}
            if cursor:
                params["cursor"] = cursor
            page = await timed(times["pages"], lambda p=params: get("/orders", p))  # type: ignore[misc]
            cursor = page["next_cursor"]
            if cursor is None:
                break
    return times


def report(where: str, times: dict[str, list[float]]) -> dict[str, float]:
    """Print p50/p99 of each query; the p99 over all list queries."""
    figures: dict[str, object] = {"list": where}
    for name, values in times.items():
        figures[f"{name}_p50_ms"] = percentile(values, 50)
        figures[f"{name}_p99_ms"] = percentile(values, 99)
    print(summary(**figures))
    every = [v for name, values in times.items() if name != "healthz" for v in values]
    return {"p50": percentile(every, 50), "p99": percentile(every, 99)}


async def store_figures(url: str, stored: int, repeat: int, where: str) -> dict[str, float]:
    db = Database.from_url(url)
    try:
        await db.migrate()
        await db.seed(load_regions())
        took = await fill(db, stored)
        print(summary(list=where, stored=stored, fill_s=took))
        return report(where, await time_store(OrderStore(db), repeat))
    finally:
        await db.dispose()


# 2. Open orders in the running system -------------------------------------------------


async def waiting(db: Database, prefix: str = "open-") -> tuple[int, int, int]:
    """Of the orders whose reference starts with ``prefix``: construction jobs waiting
    in a queue, activations that have succeeded, and activations handed to operations
    (the region's access network has no free slot left for them)."""

    async def count(*where: Any) -> int:
        query = (
            select(func.count())
            .select_from(SubTask)
            .join(WorkOrder, col(WorkOrder.id) == col(SubTask.order_id))
            .where(col(WorkOrder.external_reference).startswith(prefix), *where)
        )
        return int(await db.transaction(lambda connection: connection.execute(query).scalar_one()))

    queued = await count(
        SubTask.kind == SubTaskKind.CONSTRUCTION, col(SubTask.queued_at).is_not(None)
    )
    activated = await count(
        SubTask.kind == SubTaskKind.ACTIVATION, SubTask.status == SubTaskStatus.SUCCEEDED
    )
    handed = await count(
        SubTask.kind == SubTaskKind.ACTIVATION,
        SubTask.status == SubTaskStatus.WAITING_FOR_OPERATIONS,
    )
    return queued, activated, handed


@dataclass
class Fill:
    """How the open orders came to wait."""

    seconds: float
    peak_rss_mib: float
    queued: int
    """Construction jobs waiting in their region's queue."""
    activated: int
    to_operations: int
    """Activations handed to operations: no free slot left in the region's network."""
    settled: bool
    """Whether every order had its technician or waited for one, and its activation
    had ended (done, or handed to operations), in time."""


async def open_orders(
    api: Api, db: Database, count: int, concurrency: int, worker_pid: int, timeout_s: float
) -> Fill:
    """Create ``count`` orders and wait (up to ``timeout_s``) until every one has its
    technician or waits for one, with its activation ended (the seeded regions have
    slots for about 6,500 customers: the others wait for operations); the worker's RSS
    is sampled meanwhile."""
    technicians = await api.technicians()
    await asyncio.gather(*(api.change_technician(t["id"], max_open_jobs=1) for t in technicians))
    rng = random.Random(5)
    gate = asyncio.Semaphore(concurrency)
    started = time.monotonic()
    peak = rss_mib(worker_pid)

    async def create(i: int) -> None:
        async with gate:
            await api.create_order(rng, f"open-{i:06d}")

    creating = asyncio.gather(*(create(i) for i in range(count)))
    queued = activated = handed = 0
    settled = False
    while time.monotonic() - started < timeout_s:
        await asyncio.sleep(2)
        peak = max(peak, rss_mib(worker_pid))
        queued, activated, handed = await waiting(db)
        if creating.done() and creating.exception() is not None:
            raise RuntimeError("an order could not be created") from creating.exception()
        ended = activated + handed
        if creating.done() and ended >= count and queued >= count - len(technicians):
            settled = True
            break
    if not creating.done():
        creating.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await creating
    return Fill(time.monotonic() - started, peak, queued, activated, handed, settled)


async def activity_count(http: httpx.AsyncClient, url: str, activity: str) -> float:
    """How many times the worker has run the activity, by its metrics."""
    text = (await http.get(url)).text
    prefix = "workorders_activity_duration_seconds_count{"
    return sum(
        float(line.rpartition(" ")[2])
        for line in text.splitlines()
        if line.startswith(prefix) and f'activity="{activity}"' in line
    )


async def system_figures(
    system: System, env: dict[str, str], args: argparse.Namespace
) -> dict[str, Any]:
    settings = settings_for(env)
    children = system.pids()
    db = Database.from_url(settings.effective_database_url)
    try:
        async with parties_client(system.api, timeout=60, connections=100) as http:
            api = Api(settings, http)
            http_list = report("http", await time_http(api, args.repeat))
            worker = children["worker"]
            rss_before = rss_mib(worker)
            opened = await open_orders(api, db, args.open, 32, worker, args.timeout)
            await asyncio.sleep(5)
            rss = rss_mib(worker)
            cpu_before = {name: cpu_seconds(pid) for name, pid in children.items()}
            metrics_url = f"http://127.0.0.1:{env['WORKORDERS_WORKER_METRICS_PORT']}/metrics"
            dispatched = await activity_count(http, metrics_url, "dispatch_construction")
            await asyncio.sleep(args.idle)
            dispatched = (
                await activity_count(http, metrics_url, "dispatch_construction") - dispatched
            )
            idle_cpu = {
                name: (cpu_seconds(pid) - cpu_before[name]) / args.idle * 100
                for name, pid in children.items()
            }
            busy = await time_http(api, max(5, args.repeat // 4))
            http_busy = report("http_with_open_orders", busy)
    finally:
        await db.dispose()
    return {
        "http_list": http_list,
        "http_busy": http_busy,
        "rss_before": rss_before,
        "rss": rss,
        "peak": max(opened.peak_rss_mib, rss_mib(worker, "VmHWM")),
        "opened": opened,
        "dispatch_per_s": dispatched / args.idle,
        "idle_cpu": idle_cpu,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10,000 stored, 500 open")
    parser.add_argument("--stored", type=int, default=None, help="default 100,000")
    parser.add_argument("--open", type=int, default=None, help="default 10,000")
    parser.add_argument("--repeat", type=int, default=None, help="each query (default 100)")
    parser.add_argument("--idle", type=float, default=30, help="seconds of idle CPU measured")
    parser.add_argument(
        "--timeout", type=float, default=1800, help="seconds for the open orders to settle"
    )
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument(
        "--worker", default=None, help="a bench.variants worker, e.g. full_sandbox or cache200"
    )
    args = parser.parse_args(argv)
    args.stored = args.stored or (10_000 if args.quick else 100_000)
    args.open = args.open or (500 if args.quick else 10_000)
    args.repeat = args.repeat or (30 if args.quick else 100)

    with tempfile.TemporaryDirectory(prefix="bench-capacity-") as tmp:
        data = Path(tmp) / "data"
        env = system_env(data, **ZERO_LATENCY_NMS)
        sqlite = asyncio.run(
            store_figures(
                settings_for(env).effective_database_url, args.stored, args.repeat, "sqlite"
            )
        )
        postgres = None
        if not args.no_postgres:
            created = fresh_postgres()
            if created is None:
                print("PostgreSQL at 127.0.0.1:5432 does not answer: SQLite only")
            else:
                try:
                    postgres = asyncio.run(
                        store_figures(created[1], args.stored, args.repeat, "postgres")
                    )
                finally:
                    drop_postgres(created[0])
        with System(env, Path(tmp), args.worker) as running:
            system = asyncio.run(system_figures(running, env, args))

    print(
        summary(
            where="after_open_orders",
            seconds=args.idle,
            dispatch_construction_per_s=system["dispatch_per_s"],
            **{f"{name}_cpu_pct": pct for name, pct in system["idle_cpu"].items()},
        )
    )
    figures: dict[str, object] = {
        "stored": args.stored,
        "open_orders": args.open,
        "settled": system["opened"].settled,
        "activated": system["opened"].activated,
        "activation_to_operations": system["opened"].to_operations,
        "queued": system["opened"].queued,
        "open_s": system["opened"].seconds,
        "worker_rss_mib": system["rss"],
        "worker_peak_rss_mib": system["peak"],
        "worker_rss_before_mib": system["rss_before"],
        "sqlite_list_p50_ms": sqlite["p50"],
        "sqlite_list_p99_ms": sqlite["p99"],
    }
    if postgres is not None:
        figures.update(postgres_list_p50_ms=postgres["p50"], postgres_list_p99_ms=postgres["p99"])
    figures.update(
        http_list_p50_ms=system["http_list"]["p50"],
        http_list_p99_ms=system["http_list"]["p99"],
        http_list_busy_p99_ms=system["http_busy"]["p99"],
        target_rss_mib=TARGET_RSS_MIB,
        target_list_p99_ms=TARGET_LIST_P99_MS,
    )
    print(summary(**figures))
    missed = []
    if not system["opened"].settled:
        missed.append(
            f"the {args.open} open orders were not all waiting after {args.timeout:.0f} s"
            f" ({system['opened'].activated} activated)"
        )
    if not system["rss"] <= TARGET_RSS_MIB:
        missed.append(f"worker_rss_mib={system['rss']:.0f} > {TARGET_RSS_MIB}")
    for name in ("sqlite_list_p99_ms", "postgres_list_p99_ms", "http_list_p99_ms"):
        value = figures.get(name)
        if isinstance(value, float) and not value <= TARGET_LIST_P99_MS:
            missed.append(f"{name}={value:.1f} > {TARGET_LIST_P99_MS}")
    return verdict(missed)


if __name__ == "__main__":
    exit_at_once(main())
