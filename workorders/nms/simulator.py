"""An NMS simulator: a stand-in for the operator's network management system.

It behaves like a real one as far as the work-order system can tell: every call
takes time; it is sometimes unreachable; it refuses terminal slots (ONT ids on a PON
port) that are already in use, ports that are faulty, VLANs that are taken on the
port and profile names that an OLT's firmware does not know; it deactivates only the
service of the order that asks (nothing active is nothing to do); it measures a line
only once it is activated, and its measurements follow the activated profile, lower
when the test server is congested or the line degraded. All chance is drawn from a seeded
generator, and the faults that belong to the network (occupied slots, faulty ports,
old firmware, degraded lines) are fixed by the seed, so a run can be repeated. Its
state lives in SQLite (a file, or memory for tests), so it survives a restart of the
process that hosts it, as a real NMS would. Calls can also be worked in the
background as jobs, kept with that state: they are what the HTTP simulator's
monitors and service tests are (:mod:`workorders.nms.server`).
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import sqlite3
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from workorders.nms.base import (
    ActivationRequest,
    ActivationResponse,
    DeactivationRequest,
    DeactivationResponse,
    NmsUnavailable,
    ServiceTestRequest,
    ServiceTestResponse,
)


@dataclass(frozen=True)
class SimulatorConfig:
    """How the simulated network behaves. Rates are probabilities from 0 to 1."""

    seed: int = 2018
    latency_min_s: float = 0.0
    latency_max_s: float = 0.0
    outage_rate: float = 0.0
    """Chance that a call fails as if the NMS were down (HTTP 5xx, timeout)."""
    port_conflict_rate: float = 0.0
    """Share of terminal slots already used by customers the work-order system does not
    know."""
    faulty_port_rate: float = 0.0
    vlan_conflict_rate: float = 0.0
    legacy_olt_rate: float = 0.0
    """Share of OLTs whose old firmware knows only each profile's legacy (last) name."""
    busy_server_rate: float = 0.0
    congested_server_rate: float = 0.0
    degraded_line_rate: float = 0.0
    profiles: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Profile names the NMS knows, with their download and upload speed in Mbps."""
    legacy_names: frozenset[str] = frozenset()
    """The names an OLT with old firmware still knows."""


_SCHEMA = """
CREATE TABLE IF NOT EXISTS service (
    olt_id TEXT NOT NULL, pon_port INTEGER NOT NULL, ont_id INTEGER NOT NULL,
    vlan INTEGER NOT NULL, order_id TEXT NOT NULL, profile_name TEXT NOT NULL,
    service_id TEXT NOT NULL,
    PRIMARY KEY (olt_id, pon_port, ont_id)
);
CREATE TABLE IF NOT EXISTS reply (
    idempotency_key TEXT PRIMARY KEY, kind TEXT NOT NULL, body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS effect (
    order_id TEXT NOT NULL, kind TEXT NOT NULL, idempotency_key TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS job (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL,
    idempotency_key TEXT NOT NULL, request TEXT NOT NULL, result TEXT
);
CREATE INDEX IF NOT EXISTS job_by_key ON job (kind, idempotency_key);
CREATE INDEX IF NOT EXISTS job_by_idempotency_key ON job (idempotency_key);
"""
"""Run at every start, so a state file of an older version gains what it lacks.

Deactivations need no table of their own: they delete the ``service`` row and are
recorded as ``effect``, ``reply`` and ``job`` rows of their own ``kind``."""


@dataclass(frozen=True)
class Job:
    """A call worked on in the background (the HTTP simulator's monitors and tests)."""

    id: str
    kind: str
    """``activation``, ``deactivation`` or ``service_test``."""
    idempotency_key: str
    request: str
    """The request, as JSON."""
    result: str | None
    """The response, as JSON; ``None`` while the job is in progress."""


class NmsSimulator:
    """A simulated NMS; implements :class:`~workorders.nms.NetworkManagementSystem`."""

    def __init__(self, config: SimulatorConfig, state_path: Path | None = None) -> None:
        self.config = config
        self._rng = random.Random(config.seed)
        self._lock = threading.Lock()
        if state_path is not None:
            state_path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            str(state_path) if state_path else ":memory:", check_same_thread=False
        )
        self._db.executescript(_SCHEMA)
        self._db.commit()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # The network's fixed faults: the same for every run with the same seed.

    def _chance(self, *parts: object) -> float:
        digest = hashlib.sha256(repr((self.config.seed, *parts)).encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    def slot_occupied_outside(self, olt_id: str, pon_port: int, ont_id: int) -> bool:
        return self._chance("slot", olt_id, pon_port, ont_id) < self.config.port_conflict_rate

    def port_faulty(self, olt_id: str, pon_port: int) -> bool:
        return self._chance("faulty", olt_id, pon_port) < self.config.faulty_port_rate

    def vlan_taken_outside(self, olt_id: str, pon_port: int, vlan: int) -> bool:
        return self._chance("vlan", olt_id, pon_port, vlan) < self.config.vlan_conflict_rate

    def olt_is_legacy(self, olt_id: str) -> bool:
        return self._chance("legacy", olt_id) < self.config.legacy_olt_rate

    def line_degraded(self, olt_id: str, pon_port: int, ont_id: int) -> bool:
        return self._chance("degraded", olt_id, pon_port, ont_id) < self.config.degraded_line_rate

    # Proof of effects

    def duplicate_activations(self) -> int:
        """Activations beyond the first for any order: 0 unless something went wrong."""
        return self._count(
            "SELECT COALESCE(SUM(n - 1), 0) FROM (SELECT COUNT(*) AS n FROM effect"
            " WHERE kind = 'activate' GROUP BY order_id)"
        )

    def activations_per_order(self) -> dict[str, int]:
        """How many times each order's service was actually activated."""
        with self._lock:
            rows = self._db.execute(
                "SELECT order_id, COUNT(*) FROM effect WHERE kind = 'activate' GROUP BY order_id"
            ).fetchall()
        return {str(order_id): int(n) for order_id, n in rows}

    def deactivations_per_order(self) -> dict[str, int]:
        """How many times each order's service was actually deactivated (ended)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT order_id, COUNT(*) FROM effect WHERE kind = 'deactivate' GROUP BY order_id"
            ).fetchall()
        return {str(order_id): int(n) for order_id, n in rows}

    def _count(self, sql: str, *args: object) -> int:
        with self._lock:
            return int(self._db.execute(sql, args).fetchone()[0])

    # The API

    async def activate(self, request: ActivationRequest) -> ActivationResponse:
        await self._call()
        return await asyncio.to_thread(self._activate, request)

    async def deactivate(self, request: DeactivationRequest) -> DeactivationResponse:
        await self._call()
        return await asyncio.to_thread(self._deactivate, request)

    async def run_service_test(self, request: ServiceTestRequest) -> ServiceTestResponse:
        await self._call()
        return await asyncio.to_thread(self._service_test, request)

    async def _call(self) -> None:
        await self.delay()
        if self.outage():
            raise NmsUnavailable("NMS simulator: 503 Service Unavailable (simulated outage)")

    async def delay(self) -> None:
        """Take as long as a call takes (the configured latency)."""
        low, high = self.config.latency_min_s, self.config.latency_max_s
        if high > 0:
            await asyncio.sleep(self._rng.uniform(low, high))

    def outage(self) -> bool:
        """Whether this call finds the NMS down (the configured outage rate)."""
        return self._rng.random() < self.config.outage_rate

    async def perform_activation(self, request: ActivationRequest) -> ActivationResponse:
        """The work of :meth:`activate`, without its latency and outage."""
        return await asyncio.to_thread(self._activate, request)

    async def perform_deactivation(self, request: DeactivationRequest) -> DeactivationResponse:
        """The work of :meth:`deactivate`, without its latency and outage."""
        return await asyncio.to_thread(self._deactivate, request)

    async def perform_service_test(self, request: ServiceTestRequest) -> ServiceTestResponse:
        """The work of :meth:`run_service_test`, without its latency and outage."""
        return await asyncio.to_thread(self._service_test, request)

    # Jobs: calls worked on in the background, kept with the rest of the state

    def open_job(self, kind: str, idempotency_key: str, request: str) -> tuple[Job, bool]:
        """The job of an idempotency key, and whether it is new.

        A key's job is reused while it is in progress and once its answer is
        remembered; an answer that is not (a line that was not ready) gets a new job.
        A key names one request whatever its kind: the job found may be of another
        kind (and its request then differs from ``request``).
        """
        with self._lock:
            row = self._db.execute(
                "SELECT id, kind, idempotency_key, request, result FROM job"
                " WHERE idempotency_key = ? ORDER BY seq DESC LIMIT 1",
                (idempotency_key,),
            ).fetchone()
            if row is not None and (row[4] is None or self._replayed(idempotency_key) is not None):
                return Job(*row), False
            job = Job(uuid.uuid4().hex, kind, idempotency_key, request, None)
            self._db.execute(
                "INSERT INTO job (id, kind, idempotency_key, request) VALUES (?, ?, ?, ?)",
                (job.id, kind, idempotency_key, request),
            )
            self._db.commit()
            return job, True

    def job(self, job_id: str) -> Job | None:
        """A job by its id."""
        with self._lock:
            row = self._db.execute(
                "SELECT id, kind, idempotency_key, request, result FROM job WHERE id = ?",
                (job_id,),
            ).fetchone()
        return None if row is None else Job(*row)

    def finish_job(self, job_id: str, result: str) -> None:
        """Store a job's response."""
        with self._lock:
            self._db.execute("UPDATE job SET result = ? WHERE id = ?", (result, job_id))
            self._db.commit()

    def jobs_in_progress(self) -> list[Job]:
        """Every job without a response yet, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, kind, idempotency_key, request, result FROM job"
                " WHERE result IS NULL ORDER BY seq"
            ).fetchall()
        return [Job(*row) for row in rows]

    def _replayed(self, key: str) -> str | None:
        row = self._db.execute(
            "SELECT body FROM reply WHERE idempotency_key = ?", (key,)
        ).fetchone()
        return None if row is None else str(row[0])

    def _remember(self, key: str, kind: str, body: str) -> None:
        self._db.execute(
            "INSERT INTO reply (idempotency_key, kind, body) VALUES (?, ?, ?)", (key, kind, body)
        )

    def _activate(self, req: ActivationRequest) -> ActivationResponse:
        with self._lock:
            replay = self._replayed(req.idempotency_key)
            if replay is not None:
                return ActivationResponse.model_validate_json(replay)
            response = self._decide_activation(req)
            if response.state == "completed":
                self._db.execute("DELETE FROM service WHERE order_id = ?", (req.order_id,))
                self._db.execute(
                    "INSERT INTO service VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        req.olt_id,
                        req.pon_port,
                        req.ont_id,
                        req.vlan,
                        req.order_id,
                        req.profile_name,
                        response.service_id,
                    ),
                )
                self._db.execute(
                    "INSERT INTO effect VALUES (?, 'activate', ?)",
                    (req.order_id, req.idempotency_key),
                )
            self._remember(req.idempotency_key, "activate", response.model_dump_json())
            self._db.commit()
            return response

    def _decide_activation(self, req: ActivationRequest) -> ActivationResponse:
        def refuse(code: str, message: str) -> ActivationResponse:
            return ActivationResponse(state="failed", error_code=code, message=message)

        known = self.config.legacy_names if self.olt_is_legacy(req.olt_id) else self.config.profiles
        if req.profile_name not in known:
            return refuse("UNKNOWN_PROFILE", f"{req.olt_id} has no profile {req.profile_name!r}")
        port = f"{req.olt_id} port {req.pon_port}"
        if self.port_faulty(req.olt_id, req.pon_port):
            return refuse("PORT_FAULTY", f"{port} reports loss of signal")
        holder = self._db.execute(
            "SELECT order_id FROM service WHERE olt_id = ? AND pon_port = ? AND ont_id = ?",
            (req.olt_id, req.pon_port, req.ont_id),
        ).fetchone()
        if (holder is not None and holder[0] != req.order_id) or self.slot_occupied_outside(
            req.olt_id, req.pon_port, req.ont_id
        ):
            return refuse("ONT_ID_IN_USE", f"ONT id {req.ont_id} on {port} is in use")
        vlan_holder = self._db.execute(
            "SELECT order_id FROM service WHERE olt_id = ? AND pon_port = ? AND vlan = ?",
            (req.olt_id, req.pon_port, req.vlan),
        ).fetchone()
        if (vlan_holder is not None and vlan_holder[0] != req.order_id) or (
            self.vlan_taken_outside(req.olt_id, req.pon_port, req.vlan)
        ):
            return refuse("VLAN_TAKEN", f"VLAN {req.vlan} is taken on {port}")
        service_id = "svc-" + hashlib.sha256(req.idempotency_key.encode()).hexdigest()[:12]
        return ActivationResponse(state="completed", service_id=service_id)

    def _deactivate(self, req: DeactivationRequest) -> DeactivationResponse:
        with self._lock:
            replay = self._replayed(req.idempotency_key)
            if replay is not None:
                return DeactivationResponse.model_validate_json(replay)
            slot = f"{req.olt_id}/{req.pon_port}/{req.ont_id}"
            holder = self._db.execute(
                "SELECT order_id FROM service WHERE olt_id = ? AND pon_port = ? AND ont_id = ?",
                (req.olt_id, req.pon_port, req.ont_id),
            ).fetchone()
            if holder is not None and holder[0] == req.order_id:
                self._db.execute(
                    "DELETE FROM service WHERE olt_id = ? AND pon_port = ? AND ont_id = ?",
                    (req.olt_id, req.pon_port, req.ont_id),
                )
                self._db.execute(
                    "INSERT INTO effect VALUES (?, 'deactivate', ?)",
                    (req.order_id, req.idempotency_key),
                )
                response = DeactivationResponse(state="completed")
            elif holder is not None or self.slot_occupied_outside(
                req.olt_id, req.pon_port, req.ont_id
            ):
                response = DeactivationResponse(
                    state="failed",
                    error_code="NOT_OWNER",
                    message=f"the active service on {slot} is not {req.order_id}'s",
                )
            else:
                response = DeactivationResponse(
                    state="completed",
                    message=f"nothing to deactivate: no active service of {req.order_id} on {slot}",
                )
            self._remember(req.idempotency_key, "deactivate", response.model_dump_json())
            self._db.commit()
            return response

    def _service_test(self, req: ServiceTestRequest) -> ServiceTestResponse:
        with self._lock:
            replay = self._replayed(req.idempotency_key)
            if replay is not None:
                return ServiceTestResponse.model_validate_json(replay)
            row = self._db.execute(
                "SELECT order_id, profile_name FROM service"
                " WHERE olt_id = ? AND pon_port = ? AND ont_id = ?",
                (req.olt_id, req.pon_port, req.ont_id),
            ).fetchone()
            if row is None or row[0] != req.order_id:
                # Not stored: the line may become ready, and the same key be asked again.
                return ServiceTestResponse(
                    state="failed",
                    error_code="LINE_NOT_READY",
                    message=f"no active service for {req.order_id} on"
                    f" {req.olt_id}/{req.pon_port}/{req.ont_id}",
                )
            response = self._measure(req, str(row[1]))
            self._remember(req.idempotency_key, "test", response.model_dump_json())
            self._db.commit()
            return response

    def _measure(self, req: ServiceTestRequest, profile_name: str) -> ServiceTestResponse:
        rng = self._rng
        if rng.random() < self.config.busy_server_rate:
            return ServiceTestResponse(
                state="failed",
                error_code="TEST_SERVER_BUSY",
                message=f"{req.test_server} has no free test slot",
            )
        down, up = self.config.profiles[profile_name]
        factor = rng.uniform(0.93, 0.995)
        latency, jitter, loss = rng.uniform(2, 8), rng.uniform(0.2, 2.0), rng.uniform(0, 0.1)
        if rng.random() < self.config.congested_server_rate:
            factor *= rng.uniform(0.4, 0.7)
            latency += rng.uniform(10, 40)
        if self.line_degraded(req.olt_id, req.pon_port, req.ont_id):
            factor *= 0.5
            loss += rng.uniform(1, 3)
        return ServiceTestResponse(
            state="completed",
            download_mbps=round(down * factor, 1),
            upload_mbps=round(up * factor, 1),
            latency_ms=round(latency, 2),
            jitter_ms=round(jitter, 2),
            loss_pct=round(loss, 3),
        )

    def active_services(self) -> list[tuple[str, int, int, int, str, str]]:
        """Every activated service: OLT, port, ONT id, VLAN, order and profile name."""
        with self._lock:
            rows = self._db.execute(
                "SELECT olt_id, pon_port, ont_id, vlan, order_id, profile_name FROM service"
            ).fetchall()
        return [(str(a), int(b), int(c), int(d), str(e), str(f)) for a, b, c, d, e, f in rows]
