"""The whole system for a benchmark or a fault run, driven as its users drive it.

- :func:`system_env`: the environment of ``workorders up`` on free ports with a data
  folder of its own (the same as ``tests/integration/test_up.py`` uses);
- :class:`Up`: ``workorders up`` as a child process, with the process ids of its four
  children (Temporal dev server, NMS simulator, worker, API);
- :class:`Processes`: the same commands started one by one, for the fault runs that
  stop or kill one of them (``workorders up`` stops everything when a child dies);
- :class:`System`: ``workorders up`` for a benchmark, or its commands one by one with
  a worker of :mod:`bench.variants` in place of the production one;
- :class:`Api` and :class:`Technicians`: the front desk, operations and the
  technicians over HTTP with their bearer tokens, as ``workorders demo`` does;
- :func:`cpu_seconds`, :func:`rss_mib`: what a process used, from ``/proc``;
- :func:`fresh_postgres`, :func:`refuse_connections`: a PostgreSQL database of its
  own, and cutting it off.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
from httpx_aiohttp import AiohttpTransport
from sqlalchemy.engine import make_url

from workflows.search_attributes import cli_flags
from workorders.auth import Role, issue_token
from workorders.config import Settings
from workorders.demo import NEXT_STEP, order_request

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent
"""The project's folder, where ``bench`` is a package."""
T = TypeVar("T")

ZERO_LATENCY_NMS = {
    "WORKORDERS_NMS_LATENCY_MIN_S": "0",
    "WORKORDERS_NMS_LATENCY_MAX_S": "0",
    "WORKORDERS_NMS_OUTAGE_RATE": "0",
    "WORKORDERS_NMS_PORT_CONFLICT_RATE": "0",
    "WORKORDERS_NMS_FAULTY_PORT_RATE": "0",
    "WORKORDERS_NMS_VLAN_CONFLICT_RATE": "0",
    "WORKORDERS_NMS_LEGACY_OLT_RATE": "0",
    "WORKORDERS_NMS_BUSY_SERVER_RATE": "0",
    "WORKORDERS_NMS_CONGESTED_SERVER_RATE": "0",
    "WORKORDERS_NMS_DEGRADED_LINE_RATE": "0",
    # The simulator answers every call with work in progress; the worker looks again
    # after this pause (0.5 s by default), which would be most of a call's time.
    "WORKORDERS_NMS_POLL_INTERVAL_S": "0.02",
}
"""An NMS simulator that answers at once and never fails, for throughput and latency."""

POSTGRES_ADMIN_URL = os.environ.get(
    "WORKORDERS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)
"""The PostgreSQL server where fresh databases are made (as ``tests/conftest.py``)."""


def parties_client(base_url: str, *, timeout: float, connections: int) -> httpx.AsyncClient:
    """The HTTP client of the parties a benchmark plays (front desk, technicians,
    operations): httpx's interface on aiohttp's transport, so that the load, which
    shares the machine's cores with the system, takes as little of them as it can
    (a third of the CPU per request of httpx's own transport)."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(
        base_url=base_url, timeout=timeout, transport=AiohttpTransport(limits=limits)
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def system_env(data_dir: Path, *, database_url: str = "", **settings: str) -> dict[str, str]:
    """The environment of ``workorders up`` (or of its commands one by one): free ports,
    ``data_dir`` for its files, none of this shell's ``WORKORDERS_*`` settings, then
    ``settings`` (``WORKORDERS_NMS_OUTAGE_RATE="0"``, ...)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WORKORDERS_")}
    env = {
        **clean,
        "WORKORDERS_DATA_DIR": str(data_dir),
        "WORKORDERS_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "WORKORDERS_TEMPORAL_UI_PORT": str(free_port()),
        "WORKORDERS_API_PORT": str(free_port()),
        "WORKORDERS_NMS_SIM_PORT": str(free_port()),
        "WORKORDERS_WORKER_METRICS_PORT": str(free_port()),
        "WORKORDERS_TEMPORAL_METRICS_PORT": str(free_port()),
        **settings,
    }
    if database_url:
        env["WORKORDERS_DATABASE_URL"] = database_url
    return env


def settings_for(env: dict[str, str]) -> Settings:
    """The settings the processes started with ``env`` read (to issue their tokens,
    reach their Temporal server with their payload codec, ...)."""
    values = {
        key.removeprefix("WORKORDERS_").lower(): value
        for key, value in env.items()
        if key.startswith("WORKORDERS_")
    }
    # Validated as given, without reading this process's environment or a .env file.
    return Settings.model_validate(values)


def api_url(env: dict[str, str]) -> str:
    return f"http://127.0.0.1:{env['WORKORDERS_API_PORT']}"


def nms_url(env: dict[str, str]) -> str:
    return f"http://127.0.0.1:{env['WORKORDERS_NMS_SIM_PORT']}"


# Processes -----------------------------------------------------------------------


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after its ")".
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _cmdline(pid: int) -> list[str]:
    try:
        return (Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")).split("\0")
    except OSError:
        return []


def cpu_seconds(pid: int) -> float:
    """User and system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def rss_mib(pid: int, field_name: str = "VmRSS") -> float:
    """The process's resident memory (``VmRSS``; ``VmHWM`` for its peak), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field_name}:"):
            return int(line.split()[1]) / 1024
    raise LookupError(f"no {field_name} for process {pid}")


class Up:
    """``workorders up`` with ``env``, its output in ``cwd``."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env = env
        self.log = cwd / f"up-{time.monotonic_ns()}.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [str(BIN / "workorders"), "up"],
                env=env,
                cwd=cwd,
                start_new_session=True,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.api = api_url(env)
        self.nms = nms_url(env)

    def wait_ready(self, timeout_s: float = 180) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"workorders up exited:\n{self.output()}")
            # The banner's last line: the addresses and credentials above it are all
            # printed once it is.
            if "Ctrl-C stops" in self.output():
                return
            time.sleep(0.3)
        raise RuntimeError(f"workorders up: not up in {timeout_s:.0f} s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def children(self) -> dict[str, int]:
        """The process id of each child: ``temporal``, ``nms-sim``, ``worker``, ``api``."""
        named = {}
        for pid in _children_of(self.proc.pid):
            line = " ".join(_cmdline(pid))
            if "start-dev" in line:
                named["temporal"] = pid
            elif "nms-sim" in line:
                named["nms-sim"] = pid
            elif "-m worker" in line:
                named["worker"] = pid
            elif line.endswith(" api") or " api " in line:
                named["api"] = pid
        return named

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self) -> Up:
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class Process:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self, tail: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-tail:]


@dataclass
class Processes:
    """The commands of ``workorders up``, started one at a time, so that one of them can
    be stopped, killed or started again; stopped in reverse order."""

    env: dict[str, str]
    logs: Path
    started: list[Process] = field(default_factory=list)

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> Process:
        log = self.logs / f"{name}.log"
        with log.open("ab") as out:
            proc = subprocess.Popen(
                args,
                env=env or self.env,
                cwd=self.logs,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        process = Process(name, proc, log)
        self.started.append(process)
        return process

    def temporal(self, db_file: Path) -> Process:
        """The Temporal dev server, its state in ``db_file``."""
        return self.start(
            "temporal",
            str(BIN / "temporal"),
            "server",
            "start-dev",
            "--headless",
            "--db-filename",
            str(db_file),
            "--ip",
            "127.0.0.1",
            "--port",
            self.env["WORKORDERS_TEMPORAL_ADDRESS"].rpartition(":")[2],
            "--log-level",
            "error",
            *cli_flags(),
        )

    def migrate(self, timeout_s: float = 300) -> None:
        """``workorders migrate``, to its end, as ``workorders up`` runs it before the API
        and the workers (which refuse an unmigrated database); not kept in ``started``."""
        log = self.logs / "migrate.log"
        with log.open("ab") as out:
            done = subprocess.run(
                [str(BIN / "workorders"), "migrate"],
                env=self.env,
                cwd=self.logs,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout_s,
                check=False,
            )
        if done.returncode != 0:
            raise RuntimeError(
                f"workorders migrate exited with {done.returncode}: {log.read_text()[-2000:]}"
            )

    def workorders(self, name: str, command: str, env: dict[str, str] | None = None) -> Process:
        """``workorders <command>`` (``nms-sim``, ``api``, ``worker``)."""
        return self.start(name, str(BIN / "workorders"), command, env=env)

    def worker(self, name: str = "worker", variant: str | None = None) -> Process:
        """A worker that talks to the NMS simulator service over HTTP; with ``variant``,
        :mod:`bench.variants`'s worker with those options."""
        env = {**self.env, "WORKORDERS_NMS_URL": nms_url(self.env)}
        if variant is None:
            return self.workorders(name, "worker", env)
        path = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
        return self.start(
            name, sys.executable, "-m", "bench.variants", variant, env={**env, "PYTHONPATH": path}
        )

    def stop(self, process: Process, sig: int = signal.SIGINT, timeout_s: float = 30) -> int:
        """Send ``sig`` to the process's group and wait for it to end; SIGKILL after
        ``timeout_s``. It is forgotten: stop_all will not touch it."""
        if process.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGCONT)
                os.killpg(process.pid, sig)
            try:
                process.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.proc.wait(timeout=timeout_s)
        if process in self.started:
            self.started.remove(process)
        return process.proc.returncode

    def stop_all(self) -> None:
        for process in reversed(list(self.started)):
            self.stop(process, timeout_s=20)

    def dead(self) -> list[str]:
        return [p.name for p in self.started if not p.alive()]

    def report(self) -> str:
        """Each process's state and the end of its log."""
        return "\n".join(
            f"--- {p.name} (pid {p.pid}, exit {p.proc.poll()}):\n{p.output(1500)}"
            for p in self.started
        )

    @contextlib.contextmanager
    def running(self) -> Iterator[Processes]:
        try:
            yield self
        finally:
            self.stop_all()


class System:
    """The whole system for a benchmark: ``workorders up``, or, to measure a worker of
    :mod:`bench.variants`, the same commands one by one with that worker instead."""

    def __init__(self, env: dict[str, str], root: Path, variant: str | None = None) -> None:
        self.env = env
        self.root = root
        self.variant = variant
        self.api = api_url(env)
        self._up: Up | None = None
        self._processes: Processes | None = None

    def __enter__(self) -> System:
        if self.variant is None:
            self._up = Up(self.env, self.root).__enter__()
        else:
            self._processes = Processes(self.env, self.root)
            try:
                asyncio.run(start_processes(self._processes, variant=self.variant))
            except BaseException:
                self._processes.stop_all()
                raise
        return self

    def pids(self) -> dict[str, int]:
        """The process id of ``temporal``, ``nms-sim``, ``worker`` and ``api``."""
        if self._up is not None:
            return self._up.children()
        assert self._processes is not None
        return {p.name.removesuffix("-1"): p.pid for p in self._processes.started}

    def __exit__(self, *exc: object) -> None:
        if self._up is not None:
            self._up.stop()
        if self._processes is not None:
            self._processes.stop_all()


async def until(
    what: str,
    check: Callable[[], Awaitable[T | None]],
    timeout_s: float,
    *,
    interval_s: float = 0.2,
    alive: Callable[[], list[str]] | None = None,
) -> T:
    """Poll ``check`` until it returns something; raise once ``timeout_s`` has passed
    or (with ``alive``) a process has died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            result = await check()
            if result is not None:
                return result
        if alive is not None and (dead := alive()):
            raise RuntimeError(f"{dead} exited while waiting for {what}")
        await asyncio.sleep(interval_s)
    raise TimeoutError(f"timed out after {timeout_s:.0f} s: {what}")


async def start_processes(
    processes: Processes, *, workers: int = 1, variant: str | None = None
) -> list[Process]:
    """Temporal (state in the data folder), the NMS simulator, the API, then the
    workers, after ``workorders migrate``; returns once each answers."""
    env = processes.env
    data = Path(env["WORKORDERS_DATA_DIR"])
    await asyncio.to_thread(data.mkdir, parents=True, exist_ok=True)
    processes.temporal(data / "temporal.db")
    async with httpx.AsyncClient(timeout=5) as http:
        await until(
            "the Temporal server", lambda: _port_open(env["WORKORDERS_TEMPORAL_ADDRESS"]), 90
        )
        processes.workorders("nms-sim", "nms-sim")
        await until("the NMS simulator", lambda: _answers(http, f"{nms_url(env)}/sim/faults"), 90)
        await asyncio.to_thread(processes.migrate)
        processes.workorders("api", "api")
        await until("the API", lambda: _answers(http, f"{api_url(env)}/healthz"), 90)
    started = [processes.worker(f"worker-{i}", variant) for i in range(1, workers + 1)]
    await until(
        f"{workers} workers polling",
        lambda: _polling(settings_for(env), workers),
        120,
        alive=processes.dead,
    )
    return started


async def _polling(settings: Settings, workers: int) -> bool | None:
    """Whether ``workers`` workers poll the task queue for workflow and activity tasks."""
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    from workorders.startup import connect

    client = await connect(settings)
    for kind in (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY):
        response = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=settings.task_queue),
                task_queue_type=kind,
            )
        )
        if len({p.identity for p in response.pollers}) < workers:
            return None
    return True


async def _port_open(address: str) -> bool | None:
    host, _, port = address.rpartition(":")
    try:
        _, writer = await asyncio.open_connection(host, int(port))
    except OSError:
        return None
    writer.close()
    return True


async def _answers(http: httpx.AsyncClient, url: str) -> bool | None:
    return True if (await http.get(url)).status_code == 200 else None


# The users -------------------------------------------------------------------------


class Api:
    """The API as the front desk, operations and each technician use it, each with a
    bearer token of their own."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.http = http
        self._tokens: dict[tuple[Role, str], dict[str, str]] = {}

    def auth(self, role: Role, name: str) -> dict[str, str]:
        key = (role, name)
        if key not in self._tokens:
            token = issue_token(self.settings, role, name)
            self._tokens[key] = {"Authorization": f"Bearer {token}"}
        return self._tokens[key]

    async def create_order(self, rng: random.Random, reference: str) -> str:
        response = await self.http.post(
            "/orders",
            json=order_request(rng, reference),
            headers=self.auth(Role.FRONT_DESK, "bench-desk"),
        )
        response.raise_for_status()
        order_id: str = response.json()["id"]
        return order_id

    async def order(self, order_id: str) -> dict[str, Any]:
        response = await self.http.get(
            f"/orders/{order_id}", headers=self.auth(Role.FRONT_DESK, "bench-desk")
        )
        response.raise_for_status()
        order: dict[str, Any] = response.json()
        return order

    async def count(self, status: str) -> int:
        """How many orders have this status (the order list's ``total``)."""
        response = await self.http.get(
            "/orders",
            params={"status": status, "limit": 1},
            headers=self.auth(Role.FRONT_DESK, "bench-desk"),
        )
        response.raise_for_status()
        total: int = response.json()["total"]
        return total

    async def ended(self, statuses: tuple[str, ...] = ("completed", "failed")) -> int:
        """How many orders have ended (cancelled ones only if asked for)."""
        counts = await asyncio.gather(*(self.count(s) for s in statuses))
        return sum(counts)

    async def technicians(self) -> list[dict[str, Any]]:
        response = await self.http.get("/technicians", headers=self.auth(Role.OPERATIONS, "bench"))
        response.raise_for_status()
        technicians: list[dict[str, Any]] = response.json()
        return technicians

    async def change_technician(self, technician_id: str, **changes: Any) -> None:
        response = await self.http.patch(
            f"/technicians/{technician_id}",
            json=changes,
            headers=self.auth(Role.OPERATIONS, "bench"),
        )
        response.raise_for_status()

    async def jobs(self, technician_id: str) -> list[dict[str, Any]]:
        response = await self.http.get(
            f"/technicians/{technician_id}/jobs",
            headers=self.auth(Role.TECHNICIAN, technician_id),
        )
        response.raise_for_status()
        jobs: list[dict[str, Any]] = response.json()
        return jobs

    async def report(self, technician_id: str, order_id: str, state: str) -> int:
        """One report on a job; the answer's status (200, or 409 when the job has
        moved on meanwhile)."""
        body: dict[str, Any] = {"state": state}
        if state == "completed":
            body["ont_serial"] = f"BNCH{random.randrange(16**8):08X}"
        response = await self.http.post(
            f"/orders/{order_id}/construction/reports",
            json=body,
            headers=self.auth(Role.TECHNICIAN, technician_id),
        )
        if response.status_code not in (200, 409):
            response.raise_for_status()
        return response.status_code


class Technicians:
    """Every technician works their own queue: they look at their jobs every
    ``poll_s`` and take each new one from assigned to completed, one report after
    the other, several jobs at once (a simulated technician needs no travel)."""

    def __init__(self, api: Api, ids: list[str], poll_s: float = 0.5) -> None:
        self.api = api
        self.ids = ids
        self.poll_s = poll_s
        self.reports = 0
        self._working: set[str] = set()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._jobs: set[asyncio.Task[None]] = set()

    async def _queue(self, technician_id: str) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(httpx.HTTPError):
                for job in await self.api.jobs(technician_id):
                    if job["job_state"] in NEXT_STEP and job["order_id"] not in self._working:
                        self._working.add(job["order_id"])
                        task = asyncio.create_task(self._work(technician_id, job))
                        self._jobs.add(task)
                        task.add_done_callback(self._jobs.discard)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.poll_s)

    async def _work(self, technician_id: str, job: dict[str, Any]) -> None:
        order_id, state = job["order_id"], job["job_state"]
        try:
            while state in NEXT_STEP:
                state = NEXT_STEP[state]
                if await self.api.report(technician_id, order_id, state) != 200:
                    return  # it moved on: the next look at the queue tells where to
                self.reports += 1
        except httpx.HTTPError:
            return
        finally:
            self._working.discard(order_id)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._queue(t)) for t in self.ids]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks, *self._jobs, return_exceptions=True)

    async def __aenter__(self) -> Technicians:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


async def make_room(api: Api, max_open_jobs: int = 50) -> list[str]:
    """Let every technician hold ``max_open_jobs`` jobs (simulated technicians are not
    the bottleneck under test); their ids."""
    technicians = await api.technicians()
    await asyncio.gather(
        *(api.change_technician(t["id"], max_open_jobs=max_open_jobs) for t in technicians)
    )
    return [t["id"] for t in technicians]


# PostgreSQL ------------------------------------------------------------------------


def fresh_postgres(admin_url: str = POSTGRES_ADMIN_URL) -> tuple[str, str] | None:
    """A new empty database on the PostgreSQL server: its name and its async URL for
    ``WORKORDERS_DATABASE_URL``; ``None`` when the server does not answer."""
    name = f"workorders_bench_{os.urandom(5).hex()}"
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError:
        return None
    url = make_url(admin_url).set(drivername="postgresql+psycopg", database=name)
    return name, url.render_as_string(hide_password=False)


def drop_postgres(name: str, admin_url: str = POSTGRES_ADMIN_URL) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def refuse_connections(name: str, refuse: bool, admin_url: str = POSTGRES_ADMIN_URL) -> None:
    """Make the database unreachable (new connections refused, open ones cut), or
    reachable again."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {not refuse}')
        if refuse:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
