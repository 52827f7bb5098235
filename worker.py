"""The worker: the one place where the real clients are built and injected."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.worker import Worker

from activities import (
    ActivationActivities,
    ConstructionActivities,
    OrderActivities,
    QualityCheckActivities,
)
from activities.construction import Wake
from workflows import WorkOrderWorkflow
from workorders.config import Settings, get_settings
from workorders.db import Database
from workorders.inventory import Inventory
from workorders.nms import NetworkManagementSystem, NmsSimulator, SimulatorConfig
from workorders.nms.http import HttpNms
from workorders.reference import Catalog, Regions, load_catalog, load_regions
from workorders.store import WorkOrderStore

log = logging.getLogger("workorders.worker")


def activities_for(
    store: WorkOrderStore,
    nms: NetworkManagementSystem,
    regions: Regions,
    catalog: Catalog,
    wake: Wake | None = None,
) -> Sequence[Callable[..., Any]]:
    """Every activity of the work-order workflow, bound to its dependencies."""
    inventory = Inventory(store.db)
    orders = OrderActivities(store, regions, inventory)
    construction = ConstructionActivities(store, catalog, wake)
    activation = ActivationActivities(store, nms, regions, catalog, inventory)
    quality = QualityCheckActivities(store, nms, regions, catalog)
    return [
        orders.start_order,
        orders.hand_to_operations,
        orders.prepare_attempt,
        orders.record_order_status,
        construction.dispatch_construction,
        construction.assign_technician_by_hand,
        construction.release_construction,
        construction.reschedule_construction,
        construction.record_construction_report,
        construction.mark_construction_sla,
        activation.activate_resources,
        quality.schedule_quality_check,
        quality.run_quality_check,
    ]


def build_worker(
    client: Client,
    task_queue: str,
    store: WorkOrderStore,
    nms: NetworkManagementSystem,
    *,
    regions: Regions | None = None,
    catalog: Catalog | None = None,
) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[WorkOrderWorkflow],
        activities=activities_for(
            store, nms, regions or load_regions(), catalog or load_catalog(), waker(client)
        ),
    )


def waker(client: Client) -> Wake:
    """Wakes a work order whose construction job waits in the technicians' queue."""

    async def wake(workflow_id: str) -> None:
        handle = client.get_workflow_handle_for(WorkOrderWorkflow.run, workflow_id)
        try:
            await handle.signal(WorkOrderWorkflow.technician_available)
        except RPCError as e:  # it ended meanwhile: nobody to wake
            log.info("could not wake %s: %s", workflow_id, e)

    return wake


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


async def connect(settings: Settings) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
    )


async def run(settings: Settings) -> None:
    """Run the worker until cancelled."""
    regions, catalog = load_regions(), load_catalog()
    db = Database.from_url(settings.effective_database_url, echo=settings.database_echo)
    await db.create_schema()
    await db.seed(regions)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(db.dispose)
        nms: NetworkManagementSystem
        if settings.nms_url:
            http = httpx.AsyncClient(
                base_url=settings.nms_url, transport=httpx.AsyncHTTPTransport(retries=0)
            )
            stack.push_async_callback(http.aclose)
            nms = HttpNms(
                http,
                timeout_s=settings.nms_timeout_s,
                poll_interval_s=settings.nms_poll_interval_s,
            )
            log.info("NMS at %s", settings.nms_url)
        else:
            simulator = NmsSimulator(
                simulator_config(settings, catalog),
                state_path=settings.data_dir / "nms-simulator.db",
            )
            stack.callback(simulator.close)
            nms = simulator
        client = await connect(settings)
        worker = build_worker(
            client, settings.task_queue, WorkOrderStore(db), nms, regions=regions, catalog=catalog
        )
        log.info(
            "worker polling task queue %r on %s", settings.task_queue, settings.temporal_address
        )
        await worker.run()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(get_settings()))


if __name__ == "__main__":
    main()
