"""The access-network inventory: OLTs with their PON ports and VLAN pools, what each
order holds, and what the NMS refused.

Activation data is allocated from it: a terminal slot (an ONT id on a PON port) and a
VLAN on that port, held by one order at a time (unique constraints, so concurrent
orders cannot take the same). A refusal teaches it: a slot in use by someone it did
not know, a faulty port, a VLAN taken on a port are never offered again. Resources are
released when the activation fails for good, and kept (``active``) when it succeeded,
until the order is cancelled: then they are deactivated in the NMS and given back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from sqlalchemy import bindparam, insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, col, delete, func, select, update

from models.payloads import ActivationData
from models.tables import BlockedResource, OltRecord, ResourceAllocation, utcnow
from workorders.db import Database
from workorders.planning import Occupancy
from workorders.reference import Olt

Reserve = Callable[[Session, dict[str, Any]], None]
"""Holds the resources of planned activation data, inside the caller's transaction."""

BLOCKING_CODES = {"ONT_ID_IN_USE", "PORT_FAULTY", "VLAN_TAKEN", "NOT_OWNER"}
SLOT_CODES = {"ONT_ID_IN_USE", "NOT_OWNER"}
"""Refusals that say someone else uses the terminal slot: an activation's, or a
deactivation's (the active service on the slot is not the order's)."""


_ALLOCATIONS = SQLModel.metadata.tables["resource_allocation"]
RELEASE = delete(_ALLOCATIONS).where(_ALLOCATIONS.c.order_id == bindparam("order"))
"""Gives back everything the order (parameter ``order``) holds: built once, a Core
statement (the rows are deleted in the database only; no ORM objects are kept in step)."""
_HOLD = insert(_ALLOCATIONS)
_ALLOCATED = ResourceAllocation.model_fields["state"].default


class Usage(BaseModel):
    """How full a region's access network is."""

    region: str
    olts: int
    slots: int
    allocated: int
    active: int
    blocked_slots: int
    faulty_ports: int


class Inventory:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def olts(self, region: str) -> list[Olt]:
        """The region's OLTs, as the database has them."""

        def work(session: Session) -> list[Olt]:
            rows = (
                session.exec(
                    select(OltRecord).where(OltRecord.region == region).order_by(col(OltRecord.id))
                )
            ).all()
            return [
                Olt(id=r.id, pon_ports=r.pon_ports, onts_per_port=r.onts_per_port) for r in rows
            ]

        return await self.db.run(work)

    async def occupancy(self, olt_ids: list[str], order_id: str) -> Occupancy:
        """What is not free on these OLTs for ``order_id``: what other orders hold and
        what the NMS refused."""

        # Plain rows, not ORM objects: a region's OLTs hold a slot for every customer.
        def work(session: Session) -> Occupancy:
            allocation, blocked = ResourceAllocation, BlockedResource
            held = (
                session.exec(
                    select(
                        allocation.olt_id, allocation.pon_port, allocation.ont_id, allocation.vlan
                    ).where(col(allocation.olt_id).in_(olt_ids), allocation.order_id != order_id)
                )
            ).all()
            refused = (
                session.exec(
                    select(blocked.olt_id, blocked.pon_port, blocked.ont_id, blocked.vlan).where(
                        col(blocked.olt_id).in_(olt_ids)
                    )
                )
            ).all()
            return Occupancy(
                slots=frozenset(
                    {(olt, port, ont) for olt, port, ont, _ in held}
                    | {(olt, port, ont) for olt, port, ont, _ in refused if ont}
                ),
                ports=frozenset(
                    (olt, port) for olt, port, ont, vlan in refused if not ont and not vlan
                ),
                vlans=frozenset(
                    {(olt, port, vlan) for olt, port, _, vlan in held}
                    | {(olt, port, vlan) for olt, port, _, vlan in refused if vlan}
                ),
            )

        return await self.db.run(work)

    @staticmethod
    def reserver(order_id: str) -> Reserve:
        """Hold the planned data's slot and VLAN for the order, giving back what it held
        before; raises IntegrityError when another order holds them. Prebuilt Core
        statements: the ORM's delete, add and flush were 2.3 % of the worker's time
        holding the GIL."""

        def reserve(session: Session, data: dict[str, Any]) -> None:
            planned = ActivationData.model_validate(data)
            session.execute(RELEASE, {"order": order_id})
            session.execute(
                _HOLD,
                {
                    "order_id": order_id,
                    "olt_id": planned.olt_id,
                    "pon_port": planned.pon_port,
                    "ont_id": planned.ont_id,
                    "vlan": planned.vlan,
                    "state": _ALLOCATED,
                    "updated_at": utcnow(),
                },
            )

        return reserve

    async def learn(self, order_id: str, data: ActivationData, error_code: str) -> None:
        """Remember what the NMS refused, so that no order is offered it again."""

        def work(session: Session) -> None:
            if error_code not in BLOCKING_CODES:
                return
            block = BlockedResource(
                olt_id=data.olt_id,
                pon_port=data.pon_port,
                ont_id=data.ont_id if error_code in SLOT_CODES else 0,
                vlan=data.vlan if error_code == "VLAN_TAKEN" else 0,
                reason=error_code,
                order_id=order_id,
            )
            session.add(block)
            try:
                session.commit()
            except IntegrityError:  # known already (the activity ran again)
                session.rollback()

        return await self.db.run(work)

    async def confirm(self, order_id: str) -> None:
        """The NMS activated the order's resources: they stay with it."""

        def work(session: Session) -> None:
            session.exec(
                update(ResourceAllocation)
                .where(col(ResourceAllocation.order_id) == order_id)
                .values(state="active", updated_at=utcnow())
            )
            session.commit()

        return await self.db.run(work)

    async def release(self, order_id: str) -> int:
        """Give back what the order holds. Returns how many allocations were freed."""

        def work(session: Session) -> int:
            result = session.connection().execute(RELEASE, {"order": order_id})
            session.commit()
            return int(result.rowcount or 0)

        return await self.db.run(work)

    async def usage(self, region: str) -> Usage:
        """The region's slots, what is allocated, active and blocked."""
        olts = await self.olts(region)
        ids = [o.id for o in olts]

        def work(session: Session) -> tuple[dict[str, int], list[BlockedResource]]:
            states = dict(
                session.exec(
                    select(ResourceAllocation.state, func.count())
                    .where(col(ResourceAllocation.olt_id).in_(ids))
                    .group_by(col(ResourceAllocation.state))
                ).all()
            )
            blocked = session.exec(
                select(BlockedResource).where(col(BlockedResource.olt_id).in_(ids))
            ).all()
            return states, list(blocked)

        states, blocked = await self.db.run(work)
        return Usage(
            region=region,
            olts=len(olts),
            slots=sum(o.pon_ports * o.onts_per_port for o in olts),
            allocated=int(states.get("allocated", 0)),
            active=int(states.get("active", 0)),
            blocked_slots=sum(1 for b in blocked if b.ont_id),
            faulty_ports=sum(1 for b in blocked if not b.ont_id and not b.vlan),
        )
