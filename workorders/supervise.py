"""The child processes of ``workorders up``: started, watched, restarted when they
crash, and stopped in reverse order.

A process that exits while the system is up is started again after a pause that
doubles with each crash (1, 2, 4 ... seconds, at most 30); the terminal and the
process's own log say so. One that keeps crashing (``give_up_after`` crashes within
``window_s``) stops the whole system: restarting it again would only hide the fault.
Orders lose nothing meanwhile: they wait in Temporal and the database, and the other
processes retry what they need of the one that is down.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from models.tables import utcnow


@dataclass
class Child:
    """One supervised process: how to start it, and what it did."""

    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    crashes: deque[float] = field(default_factory=deque)
    """When it crashed (monotonic seconds), within the supervisor's window."""
    restart_at: float | None = None

    def start(self) -> None:
        with self.log.open("ab") as handle:
            self.proc = subprocess.Popen(
                self.args,
                stdout=handle,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            )
        self.restart_at = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def note(self, message: str) -> None:
        """A line in the process's own log, beside what it wrote itself."""
        with self.log.open("a", encoding="utf-8") as handle:
            handle.write(f"{utcnow().isoformat()} workorders up: {message}\n")

    def stop(self, timeout_s: float = 15) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class KeepsCrashing(Exception):
    """A process crashed too often in too short a time."""


@dataclass
class Supervisor:
    say: Callable[[str], None]
    """Tells the terminal."""
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    give_up_after: int = 5
    window_s: float = 120.0
    children: list[Child] = field(default_factory=list)

    def start(self, child: Child) -> Child:
        child.start()
        self.children.append(child)
        return child

    def check(self, now: float | None = None) -> None:
        """Restart what crashed, when its pause is over; :class:`KeepsCrashing` when
        one has crashed too often."""
        now = time.monotonic() if now is None else now
        for child in self.children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    child.start()
                    child.note("restarted")
                    self.say(f"{child.name} restarted")
                continue
            if child.running or child.proc is None:
                continue
            code = child.proc.returncode
            child.crashes.append(now)
            while child.crashes and child.crashes[0] < now - self.window_s:
                child.crashes.popleft()
            if len(child.crashes) >= self.give_up_after:
                message = (
                    f"{child.name} exited with code {code}, {len(child.crashes)} times"
                    f" within {self.window_s:.0f} s: stopping; see {child.log}"
                )
                child.note(message)
                raise KeepsCrashing(message)
            pause = min(self.backoff_s * 2 ** (len(child.crashes) - 1), self.max_backoff_s)
            child.restart_at = now + pause
            message = f"{child.name} exited with code {code}; restarting in {pause:.0f} s"
            child.note(message)
            self.say(f"{message} (see {child.log})")

    def stop(self) -> list[str]:
        """Stop every process, the last started first; the names, in that order."""
        stopped = []
        for child in reversed(self.children):
            child.stop()
            stopped.append(child.name)
        return stopped
