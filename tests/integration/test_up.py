"""The whole system as a user starts it: ``workorders up``, then ``workorders demo``,
then a restart that must keep every order."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.system import Up, system_env
from tests.factories import order_request
from tests.listener import Listener, Received, listening
from workorders.auth import Role, issue_token
from workorders.config import Settings

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.integration
OPERATIONS = {
    "Authorization": f"Bearer {issue_token(Settings(_env_file=None), Role.OPERATIONS, 'test')}"
}
"""The development secret signs it, as ``workorders up`` uses it."""
DESK = {"Authorization": f"Bearer {issue_token(Settings(_env_file=None), Role.FRONT_DESK, 'crm')}"}


@contextlib.contextmanager
def crm_listener() -> Iterator[Listener]:
    """The suite's TMF641 listener (:mod:`tests.listener`) on a free port, its event
    loop in a thread of its own while ``workorders up`` runs in this one."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    block = listening()
    try:
        yield asyncio.run_coroutine_threadsafe(block.__aenter__(), loop).result(10)
    finally:
        asyncio.run_coroutine_threadsafe(block.__aexit__(None, None, None), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def completed(events: list[Received]) -> list[dict[str, Any]]:
    return [e.json for e in events if e.json["event"]["serviceOrder"]["state"] == "completed"]


@pytest.fixture
def env(tmp_path: Path, new_database_url: Callable[[], str]) -> dict[str, str]:
    """The environment of ``workorders up``: free ports, a data folder of its own and,
    with ``WORKORDERS_TEST_BACKEND=postgres``, a fresh PostgreSQL database."""
    return system_env(
        tmp_path / "data",
        database_url=new_database_url(),
        WORKORDERS_NMS_LATENCY_MIN_S="0.01",
        WORKORDERS_NMS_LATENCY_MAX_S="0.1",
    )


@pytest.fixture
def system(env: dict[str, str], tmp_path: Path) -> Iterator[Up]:
    up = Up(env, tmp_path)
    try:
        up.wait_ready()
        yield up
    finally:
        up.stop()


def demo(env: dict[str, str], orders: int, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "workorders"), "demo", "--orders", str(orders), "--timeout", "240", *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def cancel_an_activated_order(system: Up, env: dict[str, str]) -> str:
    """Create an order, wait for its activation, and cancel it with the command line:
    it ends cancelled, its service deactivated. Returns its id."""
    desk = {
        "Authorization": f"Bearer {issue_token(Settings(_env_file=None), Role.FRONT_DESK, 'a')}"
    }
    created = httpx.post(f"{system.api}/orders", json=order_request(), headers=desk)
    assert created.status_code == 201, created.text
    order_id: str = created.json()["id"]
    deadline = time.monotonic() + 60
    while True:
        order = httpx.get(f"{system.api}/orders/{order_id}", headers=desk).json()
        activation: dict[str, Any] = next(
            (t for t in order["sub_tasks"] if t["kind"] == "activation"), {}
        )
        if activation.get("status") == "succeeded":
            break
        assert time.monotonic() < deadline, order
        time.sleep(0.2)
    cancelled = subprocess.run(
        [str(BIN / "workorders"), "orders", "cancel", order_id, "--reason", "customer moved"],
        env={**env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert cancelled.returncode == 0, cancelled.stdout + cancelled.stderr
    assert "cancelled" in cancelled.stdout
    history = httpx.get(f"{system.api}/orders/{order_id}/history", headers=desk).json()
    actors = {e["actor"] for e in history["events"]}
    assert f"operations:{getpass.getuser()}" in actors, history["events"]
    return order_id


def test_up_demo_restart_keeps_every_order(system: Up, env: dict[str, str], tmp_path: Path) -> None:
    assert "Credentials (development only" in system.output()
    result = demo(env, 6, "--cannot-complete", "1", "--absent", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    summary = result.stdout.strip().splitlines()[-1]
    assert summary.startswith("orders=6 completed=5 failed=1 unfinished=0 expected_failed=1")
    metrics_url = f"http://127.0.0.1:{env['WORKORDERS_WORKER_METRICS_PORT']}/metrics"
    worker_metrics = httpx.get(metrics_url).text
    assert 'workorders_orders_ended_total{status="completed"} 5.0' in worker_metrics
    assert "workorders_activity_duration_seconds_count" in worker_metrics

    listed_by_cli = subprocess.run(
        [str(BIN / "workorders"), "orders", "list", "--status", "failed"],
        env={**env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "1 of 1 orders" in listed_by_cli.stdout

    nms = f"http://127.0.0.1:{env['WORKORDERS_NMS_SIM_PORT']}"
    assert httpx.get(f"{nms}/sim/stats").json()["duplicate_activations"] == 0

    # A rough day in the network: outages, taken slots and VLANs, old firmware,
    # busy and congested test servers. Every order still ends as it should, and
    # nothing is activated twice.
    rough = {
        "latency_min_s": 0.01,
        "latency_max_s": 0.2,
        "outage_rate": 0.25,
        "port_conflict_rate": 0.3,
        "faulty_port_rate": 0.05,
        "vlan_conflict_rate": 0.2,
        "legacy_olt_rate": 0.5,
        "busy_server_rate": 0.1,
        "congested_server_rate": 0.3,
    }
    assert httpx.put(f"{nms}/sim/faults", json=rough).status_code == 200
    result = demo(env, 8)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("orders=8 completed=8 failed=0")
    stats = httpx.get(f"{nms}/sim/stats").json()
    assert stats["duplicate_activations"] == 0
    assert len(stats["activations"]) == 14

    listed = subprocess.run(
        [
            str(BIN / "temporal"),
            "workflow",
            "count",
            "--address",
            env["WORKORDERS_TEMPORAL_ADDRESS"],
            "--query",
            "WorkflowType='WorkOrderWorkflow'",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "Total: 14" in listed.stdout

    # A calm network again for the cancellation: under the rough one an activation may
    # fail six revisions in a row and wait for operations (seen once in a clean-clone run).
    calm = {name: 0 if name.endswith("_rate") else value for name, value in rough.items()}
    assert httpx.put(f"{nms}/sim/faults", json=calm).status_code == 200
    active = httpx.get(f"{nms}/sim/stats").json()["active_services"]
    cancelled = cancel_an_activated_order(system, env)
    stats = httpx.get(f"{nms}/sim/stats").json()
    assert stats["deactivations"] == {cancelled: 1}
    assert stats["activations"][cancelled] == 1
    assert stats["active_services"] == active  # activated, then deactivated

    before = httpx.get(f"{system.api}/orders", params={"limit": 100}, headers=OPERATIONS).json()
    assert before["total"] == 15
    assert system.stop() == 0
    assert "stopped temporal" in system.output()

    again = Up(env, tmp_path)
    try:
        again.wait_ready()
        after = httpx.get(f"{again.api}/orders", params={"limit": 100}, headers=OPERATIONS).json()
        assert after["total"] == 15
        assert {(o["id"], o["status"]) for o in after["items"]} == {
            (o["id"], o["status"]) for o in before["items"]
        }
        result = demo(env, 2)
        assert result.returncode == 0, result.stdout + result.stderr

        # A crashed worker is restarted, and the orders go on; a CRM's TMF641 listener
        # is told of those that completed (the worker's deliverer sends the events).
        with crm_listener() as listener:
            registered = httpx.post(
                f"{again.api}/tmf-api/serviceOrdering/v4/hub",
                json={"callback": listener.url, "query": "eventType=ServiceOrderStateChangeEvent"},
                headers=DESK,
            )
            assert registered.status_code == 201, registered.text
            worker = again.children()["worker"]
            os.kill(worker, signal.SIGKILL)
            deadline = time.monotonic() + 60
            while "worker restarted" not in again.output():
                assert time.monotonic() < deadline, again.output()
                assert again.proc.poll() is None, again.output()
                time.sleep(0.2)
            assert "worker exited with code -9; restarting in 1 s" in again.output()
            assert again.children()["worker"] != worker
            result = demo(env, 2)
            assert result.returncode == 0, result.stdout + result.stderr
            assert again.proc.poll() is None
            deadline = time.monotonic() + 60
            while len({e["correlationId"] for e in completed(listener.received)}) < 2:
                assert time.monotonic() < deadline, (again.output(), listener.received)
                time.sleep(0.2)
            assert {e.json["eventType"] for e in listener.received} == {
                "ServiceOrderStateChangeEvent"
            }
    finally:
        again.stop()

    # The tokens are on the terminal only; the data folder is its owner's.
    data = Path(env["WORKORDERS_DATA_DIR"])
    api_log = data / "logs" / "api.log"
    assert "Credentials" not in api_log.read_text()
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE(api_log.stat().st_mode) == 0o600
    assert stat.S_IMODE((data / "temporal.db").stat().st_mode) == 0o600
