"""Throughput: orders completed end to end per second, against the floor.

``workorders up`` runs the whole system with a zero-latency NMS simulator; the front
desk creates orders through the API, keeping ``--concurrency`` of them open at a
time, and simulated technicians (:class:`bench.system.Technicians`) take each job
from assigned to completed through the API. On the same Temporal server, in the same
run, the floor (:mod:`bench.floor`: three parallel no-op activities, its worker a
process of its own) runs the same number of workflows at the same concurrency, once
before the system and once after. The figure is ``ratio_vs_floor``: the system's
orders/s over the floor's workflows/s (the faster of both floor runs, so that a floor
run slowed by the machine, as the first one sometimes is, does not raise the figure);
target at least 0.5.

Also prints the CPU seconds each process used per order (or floor workflow), and the
worker's Temporal SDK latencies, to show where the time goes.

With ``--listeners L`` (issue 19), the system runs three times: without a TMF641 listener,
with ``L`` real HTTP listeners registered through the hub (a process of their own,
:func:`bench.delivery.listen`; the worker's deliverer sends them every order's events),
and without again. Then ``listeners_ratio`` is the orders/s with listeners over the
faster run without (target at least 0.9), and ``delivery_p95_s`` the 95th percentile
from each event's time to its arrival at a listener (target at most 1 s).

    .venv/bin/python -m bench.throughput [--quick] [--orders N] [--concurrency C]
        [--listeners L]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from temporalio.client import Client

from bench import exit_at_once
from bench.delivery import all_fanned_out
from bench.floor import FloorWorkflow
from bench.stats import percentile, summary, verdict
from bench.system import (
    ZERO_LATENCY_NMS,
    Api,
    System,
    Technicians,
    cpu_seconds,
    make_room,
    parties_client,
    settings_for,
    system_env,
)
from workorders.auth import Role
from workorders.db import Database
from workorders.startup import connect
from workorders.store import Stores

TARGET_RATIO = 0.5
TARGET_LISTENERS_RATIO = 0.9
TARGET_DELIVERY_P95_S = 1.0
HUB = "/tmf-api/serviceOrdering/v4/hub"
TIMEOUT_S = 1800
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Phase:
    """One measured run: how many, how long, and the CPU each process used."""

    name: str
    count: int
    elapsed_s: float
    cpu_s: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.count / self.elapsed_s


class Cpu:
    """CPU seconds used by each process between two snapshots."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids

    def snapshot(self) -> dict[str, float]:
        used = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        times = os.times()
        used["bench"] = times.user + times.system
        return used

    @staticmethod
    def between(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        return {name: after[name] - before[name] for name in before}


async def measured(name: str, count: int, cpu: Cpu, work: Callable[[], Awaitable[None]]) -> Phase:
    before, started = cpu.snapshot(), time.monotonic()
    await work()
    elapsed = time.monotonic() - started
    return Phase(name, count, elapsed, Cpu.between(before, cpu.snapshot()))


async def run_orders(api: Api, count: int, concurrency: int, prefix: str) -> None:
    """Create ``count`` orders, at most ``concurrency`` open at a time, and return once
    all have ended; raise if one did not complete."""
    rng = random.Random(7)
    base = await api.ended()
    created = 0
    creating: list[asyncio.Task[str]] = []
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        ended = await api.ended() - base
        if ended >= count:
            break
        for task in creating:
            if task.done() and task.exception() is not None:
                raise RuntimeError("an order could not be created") from task.exception()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{count - ended} of {count} orders still open after {TIMEOUT_S} s")
        while created < count and created - ended < concurrency:
            creating.append(asyncio.create_task(api.create_order(rng, f"{prefix}-{created:06d}")))
            created += 1
        await asyncio.sleep(0.25)
    await asyncio.gather(*creating)
    failed = await api.count("failed")
    if failed:
        raise RuntimeError(f"{failed} orders failed; a zero-fault NMS should fail none")


async def run_floor(client: Client, task_queue: str, count: int, concurrency: int) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            await client.execute_workflow(
                FloorWorkflow.run, id=f"floor-{uuid.uuid4()}", task_queue=task_queue
            )

    await asyncio.gather(*(one() for _ in range(count)))


async def sdk_latencies(http: httpx.AsyncClient, url: str) -> dict[str, float]:
    """The mean of some of the worker's Temporal SDK latency histograms, in ms."""
    wanted = (
        "temporal_workflow_task_schedule_to_start_latency",
        "temporal_workflow_task_execution_latency",
        "temporal_workflow_endtoend_latency",
        "temporal_activity_schedule_to_start_latency",
        "temporal_activity_execution_latency",
    )
    try:
        text = (await http.get(url)).text
    except httpx.HTTPError:
        return {}
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        series, _, value = line.rpartition(" ")
        metric = series.split("{", 1)[0]
        name = next((w for w in wanted if metric.startswith(w)), None)
        if name is None:
            continue
        scale = 1000.0 if "_seconds" in metric else 1.0  # milliseconds unless said
        if metric.endswith("_sum"):
            sums[name] = sums.get(name, 0) + float(value) * scale
        elif metric.endswith("_count"):
            counts[name] = counts.get(name, 0) + float(value)
    return {
        name.removeprefix("temporal_").removesuffix("_latency"): sums[name] / counts[name]
        for name in wanted
        if counts.get(name)
    }


async def measure(running: System, settings_env: dict[str, str], args: argparse.Namespace) -> int:
    settings = settings_for(settings_env)
    client = await connect(settings)
    floor_queue = f"floor-{uuid.uuid4().hex[:8]}"
    delivery_latencies: list[float] = []
    floor = subprocess.Popen(  # noqa: ASYNC220 (started once, before anything is measured)
        [sys.executable, "-m", "bench.floor", floor_queue],
        env=settings_env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        pids = {**running.pids(), "floor-worker": floor.pid}
        cpu = Cpu(pids)
        async with parties_client(running.api, timeout=60, connections=200) as http:
            api = Api(settings, http)
            technicians = await make_room(api)
            n, c = args.orders, args.concurrency
            warm = max(10, n // 5)  # imports, caches, connections
            await run_floor(client, floor_queue, warm, c)
            phases = [await measured("floor", n, cpu, lambda: run_floor(client, floor_queue, n, c))]
            # The technicians look at their queues only while the system runs.
            async with Technicians(api, technicians):
                await run_orders(api, warm, c, "warm")
                phases.append(
                    await measured("system", n, cpu, lambda: run_orders(api, n, c, "bench"))
                )
                if args.listeners:
                    async with Listeners(api, args.listeners, Path(args.tmp)) as listeners:
                        listened = await measured(
                            "listened", n, cpu, lambda: run_orders(api, n, c, "listened")
                        )
                        await listeners.drained()
                    delivery_latencies = listeners.latencies
                    listened.cpu_s["listeners"] = listeners.cpu_s
                    again = await measured("again", n, cpu, lambda: run_orders(api, n, c, "again"))
                    phases += [listened, again]
            phases.append(
                await measured("floor", n, cpu, lambda: run_floor(client, floor_queue, n, c))
            )
            metrics_port = settings_env["WORKORDERS_TEMPORAL_METRICS_PORT"]
            latencies = await sdk_latencies(http, f"http://127.0.0.1:{metrics_port}/metrics")
    finally:
        floor.terminate()
        floor.wait(timeout=30)

    system = phases[1]
    floors = [phases[0], phases[-1]]
    floor_rate = max(p.rate for p in floors)
    ratio = system.rate / floor_rate
    for phase in phases:
        per = {
            f"cpu_ms_per_{phase.name}_{k}": v / phase.count * 1000 for k, v in phase.cpu_s.items()
        }
        print(
            summary(
                phase=phase.name,
                count=phase.count,
                elapsed_s=phase.elapsed_s,
                per_s=phase.rate,
                **per,
            )
        )
    if latencies:
        print(summary(**{f"worker_sdk_{k}_ms": v for k, v in latencies.items()}))
    print(
        summary(
            orders=system.count,
            concurrency=args.concurrency,
            system_orders_per_s=system.rate,
            floor_workflows_per_s=floor_rate,
            floor_before_per_s=floors[0].rate,
            floor_after_per_s=floors[1].rate,
            ratio_vs_floor=ratio,
            target_ratio=TARGET_RATIO,
        )
    )
    missed = [] if ratio >= TARGET_RATIO else [f"ratio_vs_floor={ratio:.3f} < {TARGET_RATIO}"]
    if args.listeners:
        listened, again = phases[2], phases[3]
        without = max(system.rate, again.rate)
        listeners_ratio = listened.rate / without
        p95 = percentile(delivery_latencies, 95)
        print(
            summary(
                listeners=args.listeners,
                deliveries=len(delivery_latencies),
                delivery_p50_s=percentile(delivery_latencies, 50),
                delivery_p95_s=p95,
                orders_per_s_with=listened.rate,
                orders_per_s_without=system.rate,
                orders_per_s_without_again=again.rate,
                listeners_ratio=listeners_ratio,
            )
        )
        if listeners_ratio < TARGET_LISTENERS_RATIO:
            missed.append(f"listeners_ratio={listeners_ratio:.3f} < {TARGET_LISTENERS_RATIO}")
        if p95 > TARGET_DELIVERY_P95_S:
            missed.append(f"delivery_p95_s={p95:.2f} > {TARGET_DELIVERY_P95_S}")
    return verdict(missed)


class Listeners:
    """``count`` TMF641 listeners in a process of their own, registered through the
    hub for the run's length; ``latencies`` once it ends: each event's arrival at a
    listener after its ``eventTime``."""

    def __init__(self, api: Api, count: int, tmp: Path) -> None:
        self.api, self.count = api, count
        self.ports, self.out = tmp / "listener-ports.json", tmp / "listener-latencies.json"
        self.latencies: list[float] = []
        self.cpu_s = 0.0
        """The CPU the listeners' process used once they were registered: the
        deliveries of the run with listeners, to the last."""
        self._cpu_at_start = 0.0
        self._ids: list[str] = []

    async def __aenter__(self) -> Listeners:
        self._process = subprocess.Popen(  # noqa: ASYNC220 (started before the phase)
            [
                sys.executable,
                "-m",
                "bench.delivery",
                "--listen",
                str(self.ports),
                str(self.out),
                str(self.count),
            ],
            cwd=ROOT,
            start_new_session=True,
        )
        while not self.ports.exists():  # noqa: ASYNC110 (another process writes it)
            await asyncio.sleep(0.1)
        auth = self.api.auth(Role.FRONT_DESK, "bench-crm")
        for port in json.loads(self.ports.read_text()):
            response = await self.api.http.post(
                HUB,
                json={"callback": f"http://127.0.0.1:{port}/listener", "secret": "s" * 16},
                headers=auth,
            )
            response.raise_for_status()
            self._ids.append(response.json()["id"])
        self._cpu_at_start = cpu_seconds(self._process.pid)
        return self

    async def drained(self) -> None:
        """Until the deliverer has sent every event (at most a minute more)."""
        db = Database.from_url(self.api.settings.effective_database_url)
        try:
            hub = Stores.of(db).hub
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not await all_fanned_out(db):  # noqa: ASYNC110
                await asyncio.sleep(0.5)  # the worker's deliverer sends them
            while time.monotonic() < deadline and await hub.undelivered():  # noqa: ASYNC110
                await asyncio.sleep(0.5)
        finally:
            await db.dispose()

    async def __aexit__(self, *_: object) -> None:
        auth = self.api.auth(Role.FRONT_DESK, "bench-crm")
        for listener_id in self._ids:
            await self.api.http.delete(f"{HUB}/{listener_id}", headers=auth)
        self.cpu_s = cpu_seconds(self._process.pid) - self._cpu_at_start
        self._process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(self._process.wait, 30)
        self.latencies = json.loads(self.out.read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="40 orders, 20 at a time")
    parser.add_argument("--orders", type=int, default=None, help="default 300 (quick: 40)")
    parser.add_argument("--concurrency", type=int, default=None, help="default 50 (quick: 20)")
    parser.add_argument("--database-url", default="", help="default: SQLite in a temp folder")
    parser.add_argument(
        "--worker", default=None, help="a bench.variants worker, e.g. full_sandbox or cache200"
    )
    parser.add_argument(
        "--listeners", type=int, default=0, help="TMF641 listeners for a run of their own"
    )
    args = parser.parse_args(argv)
    args.orders = args.orders or (40 if args.quick else 300)
    args.concurrency = args.concurrency or (20 if args.quick else 50)
    with tempfile.TemporaryDirectory(prefix="bench-throughput-") as tmp:
        args.tmp = tmp
        env = system_env(Path(tmp) / "data", database_url=args.database_url, **ZERO_LATENCY_NMS)
        with System(env, Path(tmp), args.worker) as system:
            return asyncio.run(measure(system, env, args))


if __name__ == "__main__":
    exit_at_once(main())
