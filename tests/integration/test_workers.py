"""Two workers on one task queue, and one of them is killed in the middle of an NMS call.

Every process is the real command, as in production (``docker-compose.temporal.yml``
runs the same ones): a Temporal dev server, ``workorders nms-sim``, ``workorders api``
and two ``workorders worker`` sharing one task queue and one SQLite database, and
``workorders demo`` as the client and the technicians. While the demo runs, the test
waits until one worker is in the middle of an NMS call, freezes it, makes sure the call
is still its own, and kills it with SIGKILL. The other worker must take the call over
(Temporal retries it once its start-to-close timeout has passed, with the same
idempotency key), every order must complete, and the NMS must have activated nothing
twice.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from temporalio.api.enums.v1 import EventType, PendingActivityState, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from bench.system import Processes, free_port
from workflows.search_attributes import cli_flags

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.integration
T = TypeVar("T")

ORDERS = 10
NMS_ACTIVITIES = frozenset({"activate_resources", "run_quality_check"})
"""The activities that call the NMS: killing a worker in one of them is the hard case."""
STARTUP_S = 90
DEMO_TIMEOUT_S = 420
"""The demo's own limit. An NMS call of the killed worker is retried only once its
start-to-close timeout (2 minutes) has passed, so the demo takes a few minutes."""


async def until(
    what: str,
    check: Callable[[], Awaitable[T | None]],
    processes: Processes,
    timeout_s: float,
    *,
    interval_s: float = 0.2,
) -> T:
    """Poll ``check`` until it returns a value; fail once ``timeout_s`` has passed or
    one of the processes has exited."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = await check()
        if result is not None:
            return result
        dead = [p.name for p in processes.started if not p.alive()]
        assert not dead, f"{dead} exited while waiting for {what}\n{processes.report()}"
        await asyncio.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s: {what}\n{processes.report()}")


async def answers(http: httpx.AsyncClient, url: str) -> bool | None:
    try:
        return True if (await http.get(url)).status_code == 200 else None
    except httpx.TransportError:
        return None


async def connect(address: str) -> Client | None:
    try:
        return await Client.connect(address)
    except RuntimeError:  # not serving yet
        return None


async def pollers(client: Client, task_queue: str) -> set[tuple[str, int]]:
    """The identities polling the task queue, with the kind of task they poll."""
    found: set[tuple[str, int]] = set()
    for kind in (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY):
        response = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=task_queue),
                task_queue_type=kind,
            )
        )
        found |= {(p.identity, kind) for p in response.pollers}
    return found


def worker_pid(identity: str) -> int | None:
    """The process id in a Python worker's default identity, ``pid@hostname``."""
    pid, at, _ = identity.partition("@")
    return int(pid) if at and pid.isdigit() else None


@dataclass(frozen=True)
class Call:
    """An NMS activity in the middle of its attempt on a worker."""

    workflow_id: str
    activity_id: str
    activity_type: str
    attempt: int
    pid: int


async def nms_calls(client: Client, task_queue: str) -> list[Call]:
    """The NMS activities that some worker has started and not yet finished."""
    calls: list[Call] = []
    query = f"TaskQueue = '{task_queue}' AND ExecutionStatus = 'Running'"
    async for execution in client.list_workflows(query):
        description = await client.get_workflow_handle(execution.id).describe()
        for activity in description.raw_description.pending_activities:
            pid = worker_pid(activity.last_worker_identity)
            if (
                activity.activity_type.name in NMS_ACTIVITIES
                and activity.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
                and pid is not None
            ):
                calls.append(
                    Call(
                        execution.id,
                        activity.activity_id,
                        activity.activity_type.name,
                        activity.attempt,
                        pid,
                    )
                )
    return calls


async def worker_of_attempt(client: Client, workflow_id: str, activity_id: str) -> tuple[str, int]:
    """The identity of the worker that ran the activity's last attempt, and its number
    (a retried activity's history records only its last attempt)."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    scheduled = {
        event.event_id
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and event.activity_task_scheduled_event_attributes.activity_id == activity_id
    }
    started = [
        event.activity_task_started_event_attributes
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        and event.activity_task_started_event_attributes.scheduled_event_id in scheduled
    ]
    assert len(started) == 1, f"{workflow_id}: activity {activity_id} started {started}"
    return started[0].identity, started[0].attempt


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


async def test_a_worker_killed_in_an_nms_call_loses_no_order(
    tmp_path: Path, http: httpx.AsyncClient
) -> None:
    temporal_address = f"127.0.0.1:{free_port()}"
    api_port, nms_port = free_port(), free_port()
    task_queue = f"workers-{uuid.uuid4().hex[:8]}"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WORKORDERS_")}
    env = {
        **clean,
        "WORKORDERS_DATA_DIR": str(tmp_path / "data"),  # one SQLite file for all
        "WORKORDERS_TEMPORAL_ADDRESS": temporal_address,
        "WORKORDERS_TASK_QUEUE": task_queue,
        "WORKORDERS_API_PORT": str(api_port),
        "WORKORDERS_NMS_SIM_PORT": str(nms_port),
        "WORKORDERS_NMS_URL": f"http://127.0.0.1:{nms_port}",
        # Two workers on one machine: no metrics ports for them to contend for.
        "WORKORDERS_WORKER_METRICS_PORT": "0",
        "WORKORDERS_TEMPORAL_METRICS_PORT": "0",
    }
    (tmp_path / "data").mkdir()
    processes = Processes(env, tmp_path)
    api, nms = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{nms_port}"
    workorders = str(BIN / "workorders")
    try:
        processes.start(
            "temporal",
            str(BIN / "temporal"),
            "server",
            "start-dev",
            "--headless",
            "--ip",
            "127.0.0.1",
            "--port",
            temporal_address.rpartition(":")[2],
            "--log-level",
            "error",
            *cli_flags(),
        )
        client = await until(
            "the Temporal server", lambda: connect(temporal_address), processes, STARTUP_S
        )
        processes.start("nms-sim", workorders, "nms-sim")
        await until(
            "the NMS simulator", lambda: answers(http, f"{nms}/sim/faults"), processes, STARTUP_S
        )
        # The shared database's schema first, as `workorders up` does.
        await asyncio.to_thread(processes.migrate)
        processes.start("api", workorders, "api")
        await until("the API", lambda: answers(http, f"{api}/healthz"), processes, STARTUP_S)
        workers = [processes.start(f"worker-{i}", workorders, "worker") for i in (1, 2)]

        async def both_polling() -> bool | None:
            polling = {
                (worker_pid(identity), kind) for identity, kind in await pollers(client, task_queue)
            }
            wanted = {
                (w.pid, kind)
                for w in workers
                for kind in (
                    TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
                    TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
                )
            }
            return True if wanted <= polling else None

        await until("both workers polling", both_polling, processes, STARTUP_S)

        demo = processes.start(
            "demo",
            workorders,
            "demo",
            "--orders",
            str(ORDERS),
            "--api-url",
            api,
            "--timeout",
            str(DEMO_TIMEOUT_S),
        )
        by_pid = {w.pid: w for w in workers}

        async def orphaned_call() -> Call | None:
            """Freeze the worker of an NMS call in progress; keep it frozen only if the
            call is still its own once nothing more can come from it."""
            for call in await nms_calls(client, task_queue):
                if call.pid not in by_pid:
                    continue
                os.kill(call.pid, signal.SIGSTOP)
                await asyncio.sleep(0.5)  # whatever it sent before has arrived
                if call in await nms_calls(client, task_queue):
                    return call
                os.kill(call.pid, signal.SIGCONT)
            return None

        call = await until(
            "a worker in the middle of an NMS call", orphaned_call, processes, 120, interval_s=0.05
        )
        killed = by_pid[call.pid]
        (survivor,) = (w for w in workers if w is not killed)
        os.kill(killed.pid, signal.SIGKILL)
        assert killed.proc.wait(timeout=20) == -signal.SIGKILL
        processes.started.remove(killed)  # its death is expected from now on

        async def demo_done() -> int | None:
            return demo.proc.poll()

        await until("the demo", demo_done, processes, DEMO_TIMEOUT_S + 60, interval_s=1)
        assert demo.proc.returncode == 0, processes.report()
        summary = [line for line in demo.output().splitlines() if line.startswith("orders=")]
        assert summary, processes.report()
        assert summary[-1].startswith(f"orders={ORDERS} completed={ORDERS} failed=0"), summary
        assert survivor.alive(), processes.report()

        # The call of the killed worker was finished by the other one, in a later attempt.
        identity, attempt = await worker_of_attempt(client, call.workflow_id, call.activity_id)
        assert worker_pid(identity) == survivor.pid, (call, identity)
        assert attempt > call.attempt, (call, attempt)

        stats = (await http.get(f"{nms}/sim/stats")).raise_for_status().json()
        assert stats["duplicate_activations"] == 0, stats
        assert len(stats["activations"]) == ORDERS, stats
    finally:
        processes.stop_all()
