"""Small builders of test data."""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from activities import (
    ActivationActivities,
    ConstructionActivities,
    OrderActivities,
    QualityCheckActivities,
)
from models.enums import ServiceType
from models.tables import ResourceAllocation, WorkOrder
from workflows import workflow_id_for
from workorders.appointments import Calendar
from workorders.config import Settings
from workorders.db import Database
from workorders.nms import NmsSimulator
from workorders.reference import Catalog, Regions, load_catalog, load_regions
from workorders.startup import simulator_config
from workorders.store import Stores
from workorders.store.base import TABLES, load
from workorders.wake import Wake

REGIONS, CATALOG = load_regions(), load_catalog()
CALENDAR = Calendar.of(Settings(_env_file=None))
"""The booking rules of the default settings (Asia/Shanghai, two-hour slots)."""


def new_order(**overrides: Any) -> WorkOrder:
    """A stored-order row for the north region, FTTH 300/100, with a fresh id."""
    order_id = overrides.pop("id", None) or str(uuid.uuid4())
    values: dict[str, Any] = {
        "id": order_id,
        "external_reference": f"test-{order_id}",
        "request_fingerprint": "f" * 64,
        "customer_name": "Wang Xiaoming",
        "customer_phone": "+86 138 0013 8000",
        "street": "Jianguo Road",
        "house_number": "88",
        "postcode": "10115",
        "city": "Springfield",
        "service_type": ServiceType.FTTH,
        "download_mbps": 300,
        "upload_mbps": 100,
        "profile": "FTTH_300_100",
        "region": "north",
        "workflow_id": workflow_id_for(order_id),
    }
    values.update(overrides)
    return WorkOrder(**values)


def order_request(reference: str | None = None, **demand: Any) -> dict[str, Any]:
    """A valid ``POST /orders`` body."""
    return {
        "external_reference": reference or f"test-{uuid.uuid4()}",
        "channel": "crm",
        "customer": {
            "name": "Wang Xiaoming",
            "phone": "+86 138 0013 8000",
            "email": "wang@example.com",
        },
        "address": {
            "street": "Jianguo Road",
            "house_number": "88",
            "postcode": "10115",
            "city": "Springfield",
        },
        "demand": {"service_type": "FTTH", "download_mbps": 300, "upload_mbps": 100, **demand},
    }


def quiet_simulator(state: Path | None = None, **overrides: Any) -> NmsSimulator:
    """An NMS simulator without latency or faults (``overrides`` switch some on), its
    state in memory or in ``state``."""
    quiet = Settings(
        _env_file=None,
        nms_latency_min_s=0,
        nms_latency_max_s=0,
        nms_outage_rate=0,
        nms_port_conflict_rate=0,
        nms_faulty_port_rate=0,
        nms_vlan_conflict_rate=0,
        nms_legacy_olt_rate=0,
        nms_busy_server_rate=0,
        nms_congested_server_rate=0,
    )
    config = simulator_config(quiet, load_catalog())
    return NmsSimulator(replace(config, **overrides), state_path=state)


async def held_by(db: Database, order_id: str) -> list[ResourceAllocation]:
    """The inventory's slots and VLANs that the order holds (allocated or active)."""

    allocations = TABLES["resource_allocation"]
    query = select(allocations).where(allocations.c.order_id == order_id)

    def work(connection: Connection) -> list[ResourceAllocation]:
        return [load(ResourceAllocation, row) for row in connection.execute(query)]

    return await db.transaction(work)


def activations(nms: NmsSimulator, order_id: str) -> int:
    """How many times the simulator activated the order's service."""
    return nms.activations_per_order().get(order_id, 0)


def deactivations(nms: NmsSimulator, order_id: str) -> int:
    """How many times the simulator deactivated (ended) the order's service."""
    return nms.deactivations_per_order().get(order_id, 0)


def order_activities(stores: Stores, regions: Regions = REGIONS) -> OrderActivities:
    """The order activities over ``stores``, as the worker builds them."""
    return OrderActivities(
        stores.orders,
        stores.progress,
        stores.attempts,
        stores.cancellation,
        stores.inventory,
        regions,
    )


def construction_activities(
    stores: Stores, wake: Wake | None = None, catalog: Catalog = CATALOG
) -> ConstructionActivities:
    """The construction activities over ``stores``, as the worker builds them."""
    return ConstructionActivities(
        stores.orders,
        stores.assignment,
        stores.technicians,
        stores.reports,
        stores.progress,
        stores.cancellation,
        stores.appointments,
        catalog,
        CALENDAR,
        wake,
    )


def activation_activities(
    stores: Stores, nms: NmsSimulator, regions: Regions = REGIONS
) -> ActivationActivities:
    """The activation activities over ``stores``, as the worker builds them."""
    return ActivationActivities(
        stores.orders, stores.attempts, nms, regions, CATALOG, stores.inventory
    )


def quality_activities(stores: Stores, nms: NmsSimulator) -> QualityCheckActivities:
    """The quality-check activities over ``stores``, as the worker builds them."""
    return QualityCheckActivities(stores.orders, stores.attempts, nms, REGIONS, CATALOG)
