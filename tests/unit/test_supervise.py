"""``workorders up``'s supervision: a crashed process is restarted after a pause, said
on the terminal and in its log; one that keeps crashing stops the system."""

from __future__ import annotations

import os
import stat
import sys
import time
from pathlib import Path

import pytest

from workorders.supervise import Child, KeepsCrashing, Supervisor
from workorders.up import make_private

SLEEP = [sys.executable, "-c", "import time; time.sleep(60)"]
CRASH = [sys.executable, "-c", "import sys; sys.exit(3)"]


def _child(tmp_path: Path, name: str, args: list[str]) -> Child:
    return Child(name, args, dict(os.environ), tmp_path / f"{name}.log")


def _exited(child: Child) -> None:
    assert child.proc is not None
    child.proc.wait(timeout=30)


@pytest.fixture
def said() -> list[str]:
    return []


@pytest.fixture
def supervisor(said: list[str]) -> Supervisor:
    return Supervisor(say=said.append, backoff_s=1.0, give_up_after=3, window_s=100.0)


def test_a_killed_process_is_restarted_after_a_pause_and_the_others_keep_running(
    tmp_path: Path, supervisor: Supervisor, said: list[str]
) -> None:
    api = supervisor.start(_child(tmp_path, "api", SLEEP))
    worker = supervisor.start(_child(tmp_path, "worker", SLEEP))
    try:
        assert worker.proc is not None
        first = worker.proc.pid
        worker.proc.kill()
        _exited(worker)
        supervisor.check(now=10.0)
        assert said == [f"worker exited with code -9; restarting in 1 s (see {worker.log})"]
        assert not worker.running  # the pause first
        supervisor.check(now=10.5)
        assert not worker.running
        supervisor.check(now=11.0)
        assert worker.running and worker.proc.pid != first
        assert said[-1] == "worker restarted"
        assert api.running
        log = worker.log.read_text()
        assert "workorders up: worker exited with code -9; restarting in 1 s" in log
        assert "workorders up: restarted" in log
    finally:
        assert supervisor.stop() == ["worker", "api"]
    assert not api.running and not worker.running


def test_the_pause_doubles_with_each_crash_and_a_process_that_keeps_crashing_stops_all(
    tmp_path: Path, supervisor: Supervisor, said: list[str]
) -> None:
    crashing = supervisor.start(_child(tmp_path, "nms-sim", CRASH))
    now = 0.0
    try:
        pauses = []
        for _ in range(2):
            _exited(crashing)
            supervisor.check(now=now)
            assert crashing.restart_at is not None
            pauses.append(crashing.restart_at - now)
            now = crashing.restart_at
            supervisor.check(now=now)  # restarted: crashes again
        _exited(crashing)
        with pytest.raises(KeepsCrashing, match="nms-sim exited with code 3, 3 times"):
            supervisor.check(now=now)
        assert pauses == [1.0, 2.0]
        assert "3 times within 100 s: stopping" in crashing.log.read_text()
    finally:
        supervisor.stop()


def test_crashes_long_ago_do_not_count(tmp_path: Path, supervisor: Supervisor) -> None:
    crashing = supervisor.start(_child(tmp_path, "worker", CRASH))
    try:
        for now in (0.0, 200.0, 400.0, 600.0):  # each outside the last one's window
            _exited(crashing)
            supervisor.check(now=now)
            assert crashing.restart_at == now + 1.0
            supervisor.check(now=now + 1.0)
    finally:
        supervisor.stop()


def test_stop_stops_a_process_that_ignores_the_interrupt(
    tmp_path: Path, supervisor: Supervisor
) -> None:
    stubborn = [
        sys.executable,
        "-c",
        "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN);"
        " print('ready', flush=True); time.sleep(60)",
    ]
    child = supervisor.start(_child(tmp_path, "stubborn", stubborn))
    deadline = time.monotonic() + 30
    while "ready" not in child.log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    child.stop(timeout_s=0.5)
    assert not child.running


def test_the_data_folder_is_for_its_owner_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "logs").mkdir(parents=True)
    old_log = data / "logs" / "api.log"
    old_log.write_text("from an earlier run")
    old_log.chmod(0o644)
    before = os.umask(0o022)
    try:
        make_private(data)
        new = data / "workorders.db"
        new.write_text("")
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (data, data / "logs")}
        assert modes == {"data": 0o700, "logs": 0o700}
        assert stat.S_IMODE(old_log.stat().st_mode) == 0o600
        assert stat.S_IMODE(new.stat().st_mode) == 0o600
    finally:
        os.umask(before)
