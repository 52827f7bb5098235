"""What every process of the system builds as it starts, from the settings alone.

The worker (``worker.py``), the API's lifespan (``api/main.py``) and the ``workorders``
command build their clients here, so that each is made one way: the Temporal client
with the payload codec, the database (refused when it is not migrated), the NMS (the
operator's over HTTP, or the simulator) and the worker's SDK runtime. Nothing here
migrates: that is ``workorders migrate`` (:func:`migrate`), run once before the
processes start.
"""

from __future__ import annotations

import contextlib
import logging

from temporalio.client import Client
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
)

from workorders.codec import data_converter
from workorders.config import Settings
from workorders.db import Database
from workorders.nms import NetworkManagementSystem, NmsSimulator, SimulatorConfig
from workorders.nms.http import HttpNms, nms_client
from workorders.reference import Catalog, Regions, load_regions
from workorders.store import UserExists, UserStore
from workorders.users import demo_users, hash_password

log = logging.getLogger("workorders.worker")
"""Only the worker logs here (its NMS, its SDK runtime), under its own name."""


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """A client of the configured Temporal server, on ``runtime`` or the default one;
    its payloads are encrypted with the settings' payload key (:mod:`workorders.codec`)."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings),
        runtime=runtime,
    )


def database(settings: Settings) -> Database:
    """The settings' work-order database (not checked: see :func:`open_database`)."""
    return Database.from_url(
        settings.effective_database_url,
        echo=settings.database_echo,
        threads=settings.database_threads,
    )


async def open_database(settings: Settings) -> Database:
    """The settings' work-order database, once it is known to be at the newest migration.

    Raises:
        NotMigrated: it is not; ``workorders migrate`` brings it there.
    """
    db = database(settings)
    try:
        await db.require_migrated()
    except BaseException:
        await db.dispose()
        raise
    return db


async def migrate(settings: Settings, regions: Regions | None = None) -> None:
    """``workorders migrate``: the schema to the newest migration (``alembic upgrade
    head``), then the shipped technicians and OLTs the database lacks. Safe to repeat,
    and from several processes at once."""
    db = database(settings)
    try:
        await db.migrate()
        await db.seed(regions or load_regions())
        if settings.environment == "development":
            await seed_demo_users(UserStore(db), regions or load_regions())
    finally:
        await db.dispose()


async def seed_demo_users(users: UserStore, regions: Regions) -> None:
    """The console's development users (:func:`workorders.users.demo_users`) that the
    database does not have yet; one whose password was changed keeps it."""
    technicians = [t.id for region in regions for t in region.technicians]
    for name, role, technician_id, password in demo_users(technicians):
        if await users.get_user(name) is None:
            with contextlib.suppress(UserExists):  # another process at the same moment
                await users.add_user(
                    name, role, hash_password(password), technician_id=technician_id
                )


def simulator_config(settings: Settings, catalog: Catalog) -> SimulatorConfig:
    """The NMS simulator's behaviour from the settings, its profiles from the catalog."""
    return SimulatorConfig(
        seed=settings.nms_seed,
        latency_min_s=settings.nms_latency_min_s,
        latency_max_s=settings.nms_latency_max_s,
        outage_rate=settings.nms_outage_rate,
        port_conflict_rate=settings.nms_port_conflict_rate,
        faulty_port_rate=settings.nms_faulty_port_rate,
        vlan_conflict_rate=settings.nms_vlan_conflict_rate,
        legacy_olt_rate=settings.nms_legacy_olt_rate,
        busy_server_rate=settings.nms_busy_server_rate,
        congested_server_rate=settings.nms_congested_server_rate,
        degraded_line_rate=settings.nms_degraded_line_rate,
        profiles={
            name: (p.download_mbps, p.upload_mbps)
            for p in catalog.profiles.values()
            for name in p.nms_names
        },
        legacy_names=frozenset(p.nms_names[-1] for p in catalog.profiles.values()),
    )


def simulator(settings: Settings, catalog: Catalog) -> NmsSimulator:
    """The NMS simulator of the settings, its state in the data folder."""
    return NmsSimulator(
        simulator_config(settings, catalog), state_path=settings.data_dir / "nms-simulator.db"
    )


def open_nms(
    settings: Settings, catalog: Catalog, stack: contextlib.AsyncExitStack
) -> NetworkManagementSystem:
    """The NMS at ``WORKORDERS_NMS_URL``, or a simulator in this process when that is
    empty; closed by ``stack``."""
    if settings.nms_url:
        http = nms_client(settings.nms_url)
        stack.push_async_callback(http.aclose)
        log.info("NMS at %s", settings.nms_url)
        return HttpNms(
            http, timeout_s=settings.nms_timeout_s, poll_interval_s=settings.nms_poll_interval_s
        )
    nms = simulator(settings, catalog)
    stack.callback(nms.close)
    return nms


def temporal_runtime(settings: Settings) -> Runtime:
    """The SDK runtime of the worker: the SDK's core logs go through Python's logging
    (so they share its format), and its metrics are served for Prometheus on
    ``temporal_metrics_port`` unless that is 0 or taken (then logged, and none)."""
    logging_config = LoggingConfig(
        filter=LoggingConfig.default.filter,
        forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
    )
    if settings.temporal_metrics_port:
        address = f"{settings.metrics_host}:{settings.temporal_metrics_port}"
        try:
            runtime = Runtime(
                telemetry=TelemetryConfig(
                    logging=logging_config, metrics=PrometheusConfig(bind_address=address)
                )
            )
        except ValueError as e:
            log.error("cannot serve the Temporal SDK's metrics on %s: %s", address, e)
        else:
            log.info("Temporal SDK metrics at http://%s/metrics", address)
            return runtime
    return Runtime(telemetry=TelemetryConfig(logging=logging_config))
