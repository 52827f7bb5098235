"""Long fault runs: faults in the middle of ``--orders`` orders (100), each on a
system of its own, then every order must complete, none be activated twice in the NMS
and nothing be half-written (:func:`bench.checks.audit`).

- ``kill_worker``: the only worker is killed with SIGKILL once every order is in
  flight, and a new one started (as an orchestrator would); what the dead worker was
  doing is retried once its activities' timeouts pass (2 minutes for an NMS call);
- ``temporal_restart``: the Temporal dev server (state in a file) is stopped in the
  middle of the run and started again 5 s later;
- ``nms_down``: the NMS simulator process is stopped for ``--outage`` seconds (30) in
  the middle of the run, then started again (its state survives: a real NMS's would);
- ``database_down``: the work-order database (a fresh PostgreSQL database) refuses
  every connection for ``--outage`` seconds; skipped when PostgreSQL does not answer.

Prints per scenario what it checked and the count lost, then a summary line; exits 1
when an order was lost, activated twice or half-written. The fast versions of the last
three are ``tests/integration/test_faults.py``.

    .venv/bin/python -m bench.faults [--quick] [--orders 100] [--only kill_worker,...]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from temporalio.api.enums.v1 import PendingActivityState

from bench import exit_at_once
from bench.checks import Audit, audit
from bench.stats import summary, verdict
from bench.system import (
    Api,
    Processes,
    Technicians,
    api_url,
    drop_postgres,
    fresh_postgres,
    make_room,
    nms_url,
    parties_client,
    refuse_connections,
    settings_for,
    start_processes,
    system_env,
    until,
)
from workorders.startup import connect

NMS_ACTIVITIES = frozenset({"activate_resources", "run_quality_check", "deactivate_resources"})
HEALTHY_NMS = {
    "WORKORDERS_NMS_OUTAGE_RATE": "0",
    "WORKORDERS_NMS_PORT_CONFLICT_RATE": "0",
    "WORKORDERS_NMS_FAULTY_PORT_RATE": "0",
    "WORKORDERS_NMS_VLAN_CONFLICT_RATE": "0",
    "WORKORDERS_NMS_LEGACY_OLT_RATE": "0",
    "WORKORDERS_NMS_BUSY_SERVER_RATE": "0",
    "WORKORDERS_NMS_CONGESTED_SERVER_RATE": "0",
    "WORKORDERS_NMS_POLL_INTERVAL_S": "0.1",
    "WORKORDERS_RESUME_INTERVAL_S": "1",  # orders stored while Temporal was down
}
"""An NMS that refuses nothing (every order is expected to complete) but takes its
time (``latency``), so that calls are in flight when the fault strikes."""


@dataclass
class Cluster:
    """A running system: its processes, the API as its users reach it, its database."""

    processes: Processes
    env: dict[str, str]
    api: Api
    technicians: list[str]
    database_url: str
    postgres: str | None
    """The PostgreSQL database's name, when it is one."""

    @property
    def nms(self) -> str:
        return nms_url(self.env)

    @property
    def data(self) -> Path:
        return Path(self.env["WORKORDERS_DATA_DIR"])

    def process(self, name: str) -> Any:
        (found,) = [p for p in self.processes.started if p.name == name]
        return found

    async def faults(self, **faults: float) -> None:
        """Change the NMS simulator's faults (a healthy NMS with its latency, plus these)."""
        latency = {
            "latency_min_s": float(self.env["WORKORDERS_NMS_LATENCY_MIN_S"]),
            "latency_max_s": float(self.env["WORKORDERS_NMS_LATENCY_MAX_S"]),
        }
        response = await self.api.http.put(f"{self.nms}/sim/faults", json={**latency, **faults})
        response.raise_for_status()

    async def create(self, count: int, prefix: str, concurrency: int = 20) -> list[str]:
        rng = random.Random(prefix)
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int) -> str:
            async with gate:
                return await self.api.create_order(rng, f"{prefix}-{i:04d}")

        return list(await asyncio.gather(*(one(i) for i in range(count))))

    async def statuses(self, order_ids: list[str]) -> dict[str, dict[str, Any]]:
        gate = asyncio.Semaphore(20)

        async def one(order_id: str) -> dict[str, Any]:
            async with gate:
                return await self.api.order(order_id)

        orders = await asyncio.gather(*(one(o) for o in order_ids))
        return {o["id"]: o for o in orders}

    async def sub_tasks_done(self, order_ids: list[str], kind: str) -> bool | None:
        orders = await self.statuses(order_ids)
        done = all(
            t["status"] == "succeeded"
            for o in orders.values()
            for t in o["sub_tasks"]
            if t["kind"] == kind
        )
        return True if done else None

    async def all_completed(self, order_ids: list[str], timeout_s: float) -> float:
        """Wait until every order has completed; the seconds that took."""
        started = time.monotonic()

        async def done() -> bool | None:
            orders = await self.statuses(order_ids)
            return True if all(o["status"] == "completed" for o in orders.values()) else None

        try:
            await until(
                "every order completed", done, timeout_s, interval_s=1, alive=self.processes.dead
            )
        except (TimeoutError, RuntimeError) as e:
            raise AssertionError(f"{e}\n{self.processes.report()}") from None
        return time.monotonic() - started

    async def activity_errors(self, activity: str | None = None) -> float:
        """Activity attempts that raised, by the worker's metrics (0 if it has none)."""
        port = self.env["WORKORDERS_WORKER_METRICS_PORT"]
        try:
            text = (await self.api.http.get(f"http://127.0.0.1:{port}/metrics")).text
        except httpx.HTTPError:
            return 0.0
        total = 0.0
        for line in text.splitlines():
            if line.startswith("workorders_activity_errors_total{") and (
                activity is None or f'activity="{activity}"' in line
            ):
                total += float(line.rpartition(" ")[2])
        return total

    async def audit(self, order_ids: list[str]) -> Audit:
        return await audit(self.database_url, order_ids, self.nms)


@contextlib.asynccontextmanager
async def open_cluster(
    root: Path, *, postgres: bool = False, latency: tuple[float, float] = (0.2, 0.5)
) -> AsyncIterator[Cluster]:
    """Start a system in ``root`` (Temporal with its state in a file, the NMS
    simulator, the API, one worker) on SQLite, or on a fresh PostgreSQL database
    (dropped at the end); every technician may hold 50 jobs.

    Raises:
        LookupError: ``postgres`` and the PostgreSQL server does not answer.
    """
    database = fresh_postgres() if postgres else None
    if postgres and database is None:
        raise LookupError("the PostgreSQL server at 127.0.0.1:5432 does not answer")
    env = system_env(
        root / "data",
        database_url=database[1] if database else "",
        WORKORDERS_NMS_LATENCY_MIN_S=str(latency[0]),
        WORKORDERS_NMS_LATENCY_MAX_S=str(latency[1]),
        **HEALTHY_NMS,
    )
    processes = Processes(env, root)
    try:
        await start_processes(processes)
        async with parties_client(api_url(env), timeout=30, connections=50) as http:
            api = Api(settings_for(env), http)
            technicians = await until("the technicians", lambda: make_room(api), 60)
            yield Cluster(
                processes,
                env,
                api,
                technicians,
                settings_for(env).effective_database_url,
                database[0] if database else None,
            )
    finally:
        processes.stop_all()
        if database is not None:
            drop_postgres(database[0])


# The scenarios ----------------------------------------------------------------------


@dataclass
class Run:
    what: str
    audit: Audit
    seconds: float


async def kill_worker(cluster: Cluster, orders: int, outage_s: float) -> str:
    """SIGKILL to the only worker with every order in flight; a new worker 2 s later."""
    async with Technicians(cluster.api, cluster.technicians):
        order_ids = await cluster.create(orders, "kill-worker")
        in_flight = orders - sum(
            o["status"] == "completed" for o in (await cluster.statuses(order_ids)).values()
        )
        worker = cluster.process("worker-1")
        os.kill(worker.pid, signal.SIGSTOP)  # frozen: what it runs now is what dies
        running = await running_activities(cluster)
        cluster.processes.stop(worker, signal.SIGKILL)
        await asyncio.sleep(2)
        cluster.processes.worker("worker-2")
        took = await cluster.all_completed(order_ids, 900)
    return await report(
        cluster,
        f"kill_worker orders_in_flight={in_flight} activities_killed={sum(running.values())}"
        f" nms_calls_killed={running['nms']} recovered_s={took:.0f}",
        order_ids,
    )


async def running_activities(cluster: Cluster) -> Counter[str]:
    """Activities started on a worker and not yet finished: NMS calls, database writes."""
    client = await connect(settings_for(cluster.env))
    found: Counter[str] = Counter()
    async for execution in client.list_workflows("ExecutionStatus = 'Running'"):
        description = await client.get_workflow_handle(execution.id).describe()
        for pending in description.raw_description.pending_activities:
            if pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED:
                nms = pending.activity_type.name in NMS_ACTIVITIES
                found["nms" if nms else "database"] += 1
    return found


async def temporal_restart(cluster: Cluster, orders: int, outage_s: float) -> str:
    """The Temporal dev server stopped with every order in flight, started 5 s later;
    orders created meanwhile are stored, and started once it is back."""
    async with Technicians(cluster.api, cluster.technicians):
        order_ids = await cluster.create(orders, "temporal-restart")
        cluster.processes.stop(cluster.process("temporal"), signal.SIGTERM)
        order_ids += await cluster.create(max(1, orders // 10), "temporal-down")
        await asyncio.sleep(5)
        cluster.processes.temporal(cluster.data / "temporal.db")
        took = await cluster.all_completed(order_ids, 900)
    return await report(cluster, f"temporal_restart recovered_s={took:.0f}", order_ids)


async def nms_down(cluster: Cluster, orders: int, outage_s: float) -> str:
    """The NMS simulator process stopped for ``outage_s`` with every order in flight."""
    async with Technicians(cluster.api, cluster.technicians):
        order_ids = await cluster.create(orders, "nms-down")
        cluster.processes.stop(cluster.process("nms-sim"))
        await asyncio.sleep(outage_s)
        orders_now = await cluster.statuses(order_ids)
        waiting = sum(o["status"] == "in_progress" for o in orders_now.values())
        cluster.processes.workorders("nms-sim", "nms-sim")
        took = await cluster.all_completed(order_ids, 900)
    retried = await cluster.activity_errors()
    return await report(
        cluster,
        f"nms_down outage_s={outage_s:.0f} waited={waiting} retries={retried:.0f}"
        f" recovered_s={took:.0f}",
        order_ids,
    )


async def database_down(cluster: Cluster, orders: int, outage_s: float) -> str:
    """Every connection to the database refused for ``outage_s`` with every order in
    flight."""
    assert cluster.postgres is not None
    async with Technicians(cluster.api, cluster.technicians):
        order_ids = await cluster.create(orders, "db-down")
        refuse_connections(cluster.postgres, True)
        try:
            await asyncio.sleep(outage_s)
        finally:
            refuse_connections(cluster.postgres, False)
        took = await cluster.all_completed(order_ids, 900)
    retried = await cluster.activity_errors()
    return await report(
        cluster,
        f"database_down outage_s={outage_s:.0f} retries={retried:.0f} recovered_s={took:.0f}",
        order_ids,
    )


async def report(cluster: Cluster, what: str, order_ids: list[str]) -> str:
    result = await cluster.audit(order_ids)
    RESULTS.append(result)
    for problem in result.problems[:10]:
        print(f"  {problem}")
    return result.line(what)


RESULTS: list[Audit] = []
Scenario = Callable[[Cluster, int, float], Awaitable[str]]
SCENARIOS: dict[str, tuple[Scenario, bool]] = {
    "kill_worker": (kill_worker, False),
    "temporal_restart": (temporal_restart, False),
    "nms_down": (nms_down, False),
    "database_down": (database_down, True),
}
"""Each scenario, and whether it needs PostgreSQL."""


async def run(names: list[str], orders: int, outage_s: float) -> int:
    for name in names:
        scenario, postgres = SCENARIOS[name]
        with tempfile.TemporaryDirectory(prefix=f"bench-faults-{name}-") as tmp:
            try:
                async with open_cluster(Path(tmp), postgres=postgres) as cluster:
                    print(await scenario(cluster, orders, outage_s), flush=True)
            except LookupError as e:
                print(f"skipped={name} ({e})")
    lost = sum(r.lost for r in RESULTS)
    duplicates = sum(r.duplicate_activations for r in RESULTS)
    half = sum(len(r.problems) for r in RESULTS) - lost
    print(
        summary(
            scenarios=len(RESULTS),
            orders=sum(r.orders for r in RESULTS),
            lost=lost,
            duplicate_activations=duplicates,
            half_written=half,
        )
    )
    missed = []
    if lost or duplicates or half:
        missed.append(f"lost={lost} duplicate_activations={duplicates} half_written={half}")
    return verdict(missed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20 orders, a 10 s outage")
    parser.add_argument("--orders", type=int, default=None, help="default 100")
    parser.add_argument("--outage", type=float, default=None, help="seconds, default 30")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = set(names) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}; pick from {list(SCENARIOS)}")
    orders = args.orders or (20 if args.quick else 100)
    outage = args.outage or (10 if args.quick else 30)
    return asyncio.run(run(names, orders, outage))


if __name__ == "__main__":
    exit_at_once(main())
