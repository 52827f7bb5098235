"""API latency: p50 and p99 of creating an order and of a technician's report under a
steady offered load, with the whole system running.

``workorders up`` runs the system with a zero-latency NMS simulator. The load is open
(requests leave on a fixed schedule, whether or not earlier ones have answered) at
``--rate`` requests/s, in the mix real work has: one ``POST /orders`` to four
``POST /orders/{id}/construction/reports`` (accepted, en route, on site, completed),
each report by the technician whose job it is, with their own token. A report is
timed from request to answer: the API records it in the database, and a completion
is signalled to the order's workflow before the answer. ``GET /healthz`` is timed
alongside as the floor of this machine's noise. The first ``--warmup`` seconds are not counted.

Target: p99 at most 100 ms for both. Exits 1 when missed.

    .venv/bin/python -m bench.latency [--quick] [--rate 20] [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench import exit_at_once
from bench.stats import percentile, summary, verdict
from bench.system import (
    ZERO_LATENCY_NMS,
    Api,
    System,
    make_room,
    parties_client,
    settings_for,
    system_env,
)
from workorders.demo import NEXT_STEP

TARGET_P99_MS = 100.0
REPORTS_PER_ORDER = 4


@dataclass
class Load:
    api: Api
    warm_until: float
    creates: list[float] = field(default_factory=list)
    reports: list[float] = field(default_factory=list)
    health: list[float] = field(default_factory=list)
    errors: int = 0
    skipped: int = 0
    ready: deque[tuple[str, str, str]] = field(default_factory=deque)
    """Jobs whose next report is due: (technician, order, state it is in)."""
    busy: set[str] = field(default_factory=set)
    rng: random.Random = field(default_factory=lambda: random.Random(11))
    created: int = 0

    def record(self, into: list[float], started: float) -> None:
        if started >= self.warm_until:
            into.append((time.perf_counter() - started) * 1000)

    async def create(self) -> None:
        started = time.perf_counter()
        self.created += 1
        try:
            await self.api.create_order(self.rng, f"latency-{self.created:06d}")
        except httpx.HTTPError:
            self.errors += 1
            return
        self.record(self.creates, started)

    async def report(self) -> None:
        if not self.ready:
            self.skipped += 1  # no job is due a report: the technicians wait for work
            return
        technician, order, state = self.ready.popleft()
        nxt = NEXT_STEP[state]
        started = time.perf_counter()
        try:
            status = await self.api.report(technician, order, nxt)
        except httpx.HTTPError:
            self.errors += 1
            self.busy.discard(order)
            return
        if status != 200:
            self.errors += 1
            self.busy.discard(order)
            return
        self.record(self.reports, started)
        if nxt in NEXT_STEP:
            self.ready.append((technician, order, nxt))
        else:
            self.busy.discard(order)

    async def healthz(self) -> None:
        started = time.perf_counter()
        try:
            (await self.api.http.get("/healthz")).raise_for_status()
        except httpx.HTTPError:
            self.errors += 1
            return
        self.record(self.health, started)

    async def find_jobs(self, technicians: list[str], stop: asyncio.Event) -> None:
        """What the technicians' apps show: new jobs, polled (not timed)."""
        while not stop.is_set():
            for technician in technicians:
                try:
                    jobs = await self.api.jobs(technician)
                except httpx.HTTPError:
                    continue
                for job in jobs:
                    if job["job_state"] in NEXT_STEP and job["order_id"] not in self.busy:
                        self.busy.add(job["order_id"])
                        self.ready.append((technician, job["order_id"], job["job_state"]))
            await asyncio.sleep(0.5)


async def offer(load: Load, rate: float, seconds: float, technicians: list[str]) -> None:
    """Send requests on a fixed schedule for ``seconds``: of every five, one creates an
    order and four are reports; a health check twice a second besides."""
    stop = asyncio.Event()
    finder = asyncio.create_task(load.find_jobs(technicians, stop))
    tasks: set[asyncio.Task[None]] = set()
    start = time.perf_counter()
    interval = 1 / rate
    tick = 0
    while (now := time.perf_counter()) - start < seconds:
        due = start + tick * interval
        if now < due:
            await asyncio.sleep(due - now)
        kind = load.create() if tick % (REPORTS_PER_ORDER + 1) == 0 else load.report()
        for coro in (kind, *([load.healthz()] if tick % max(1, round(rate / 2)) == 0 else [])):
            task = asyncio.create_task(coro)
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        tick += 1
    await asyncio.gather(*tasks)
    stop.set()
    await finder


async def measure(system: System, env: dict[str, str], args: argparse.Namespace) -> int:
    settings = settings_for(env)
    async with parties_client(system.api, timeout=30, connections=200) as http:
        api = Api(settings, http)
        technicians = await make_room(api)
        load = Load(api, warm_until=time.perf_counter() + args.warmup)
        await offer(load, args.rate, args.warmup + args.seconds, technicians)
    figures = {
        "create": load.creates,
        "report": load.reports,
        "healthz": load.health,
    }
    line: dict[str, object] = {"rate_per_s": args.rate, "seconds": args.seconds}
    for name, values in figures.items():
        line[f"{name}_n"] = len(values)
        line[f"{name}_p50_ms"] = percentile(values, 50)
        line[f"{name}_p99_ms"] = percentile(values, 99)
    line.update(errors=load.errors, reports_skipped=load.skipped, target_p99_ms=TARGET_P99_MS)
    print(summary(**line))
    missed = []
    for name in ("create", "report"):
        p99 = percentile(figures[name], 99)
        if not figures[name] or not p99 <= TARGET_P99_MS:
            missed.append(f"{name}_p99_ms={p99:.1f} > {TARGET_P99_MS}")
    if load.errors:
        missed.append(f"{load.errors} requests failed")
    return verdict(missed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="15 s at the same rate")
    parser.add_argument("--rate", type=float, default=20, help="requests/s (default 20)")
    parser.add_argument("--seconds", type=float, default=None, help="measured (default 60)")
    parser.add_argument("--warmup", type=float, default=5, help="seconds not counted")
    parser.add_argument("--database-url", default="", help="default: SQLite in a temp folder")
    parser.add_argument(
        "--worker", default=None, help="a bench.variants worker, e.g. full_sandbox or cache200"
    )
    args = parser.parse_args(argv)
    args.seconds = args.seconds or (15 if args.quick else 60)
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        env = system_env(Path(tmp) / "data", database_url=args.database_url, **ZERO_LATENCY_NMS)
        with System(env, Path(tmp), args.worker) as system:
            return asyncio.run(measure(system, env, args))


if __name__ == "__main__":
    exit_at_once(main())
