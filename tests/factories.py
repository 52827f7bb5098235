"""Small builders of test data."""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from models.enums import ServiceType
from models.tables import ResourceAllocation, WorkOrder
from workflows import workflow_id_for
from workorders.config import Settings
from workorders.db import Database
from workorders.nms import NmsSimulator
from workorders.reference import load_catalog
from workorders.startup import simulator_config


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

    def work(session: Session) -> list[ResourceAllocation]:
        rows = session.exec(
            select(ResourceAllocation).where(ResourceAllocation.order_id == order_id)
        )
        return list(rows.all())

    return await db.run(work)


def activations(nms: NmsSimulator, order_id: str) -> int:
    """How many times the simulator activated the order's service."""
    return nms.activations_per_order().get(order_id, 0)


def deactivations(nms: NmsSimulator, order_id: str) -> int:
    """How many times the simulator deactivated (ended) the order's service."""
    return nms.deactivations_per_order().get(order_id, 0)
