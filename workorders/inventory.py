"""The access-network inventory's rules: OLTs with their PON ports and VLAN pools,
what each order holds, and what the NMS refused.

Activation data is allocated from it: a terminal slot (an ONT id on a PON port) and a
VLAN on that port, held by one order at a time (unique constraints, so concurrent
orders cannot take the same). A refusal teaches it: a slot in use by someone it did
not know, a faulty port, a VLAN taken on a port are never offered again. Resources are
released when the activation fails for good, and kept (``active``) when it succeeded,
until the order is cancelled: then they are deactivated in the NMS and given back.
The database side is :class:`workorders.store.InventoryStore`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from models.payloads import ActivationData
from models.tables import utcnow
from workorders.reference import Olt

BLOCKING_CODES = {"ONT_ID_IN_USE", "PORT_FAULTY", "VLAN_TAKEN", "NOT_OWNER"}
SLOT_CODES = {"ONT_ID_IN_USE", "NOT_OWNER"}
"""Refusals that say someone else uses the terminal slot: an activation's, or a
deactivation's (the active service on the slot is not the order's)."""


class Usage(BaseModel):
    """How full a region's access network is."""

    region: str
    olts: int
    slots: int
    allocated: int
    active: int
    blocked_slots: int
    faulty_ports: int


def blocked_by(order_id: str, data: ActivationData, error_code: str) -> dict[str, Any] | None:
    """What the NMS's refusal ``error_code`` of ``data`` blocks for every order (a
    ``blocked_resource`` row), or ``None`` if the refusal blocks nothing: the slot
    (``ont_id``), the VLAN on the port (``vlan``), or the whole port (both 0)."""
    if error_code not in BLOCKING_CODES:
        return None
    return {
        "olt_id": data.olt_id,
        "pon_port": data.pon_port,
        "ont_id": data.ont_id if error_code in SLOT_CODES else 0,
        "vlan": data.vlan if error_code == "VLAN_TAKEN" else 0,
        "reason": error_code,
        "order_id": order_id,
        "at": utcnow(),
    }


def usage_of(
    region: str,
    olts: Sequence[Olt],
    states: Mapping[str, int],
    blocked: Sequence[tuple[int, int]],
) -> Usage:
    """The region's usage from its OLTs, its allocations counted by state, and the
    ``(ont_id, vlan)`` of each resource blocked on them."""
    return Usage(
        region=region,
        olts=len(olts),
        slots=sum(o.pon_ports * o.onts_per_port for o in olts),
        allocated=int(states.get("allocated", 0)),
        active=int(states.get("active", 0)),
        blocked_slots=sum(1 for ont, _ in blocked if ont),
        faulty_ports=sum(1 for ont, vlan in blocked if not ont and not vlan),
    )
