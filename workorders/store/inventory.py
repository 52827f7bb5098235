"""The access-network inventory in the database: the OLTs, what each order holds,
what the NMS refused (the rules are :mod:`workorders.inventory`'s)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from models.payloads import ActivationData
from models.tables import ResourceAllocation, UtcDateTime, utcnow
from workorders.inventory import Usage, blocked_by, usage_of
from workorders.planning import Occupancy
from workorders.reference import Olt
from workorders.store.base import TABLES, Store

Reserve = Callable[[Connection, dict[str, Any]], None]
"""Holds the resources of planned activation data, inside the caller's transaction."""

_ALLOCATIONS = TABLES["resource_allocation"]
_BLOCKED = TABLES["blocked_resource"]
_OLTS = TABLES["olt"]
_HELD, _REFUSED, _OLT = _ALLOCATIONS.c, _BLOCKED.c, _OLTS.c
RELEASE = delete(_ALLOCATIONS).where(_HELD.order_id == bindparam("order"))
"""Gives back everything the order (parameter ``order``) holds, built once."""
_HOLD = insert(_ALLOCATIONS)
_ALLOCATED = ResourceAllocation.model_fields["state"].default
_OLTS_OF_REGION = (
    select(_OLT.id, _OLT.pon_ports, _OLT.onts_per_port)
    .where(_OLT.region == bindparam("region"))
    .order_by(_OLT.id)
)
_HELD_BY_OTHERS = select(_HELD.olt_id, _HELD.pon_port, _HELD.ont_id, _HELD.vlan).where(
    _HELD.olt_id.in_(bindparam("olts", expanding=True)), _HELD.order_id != bindparam("order")
)
_REFUSED_ON = select(_REFUSED.olt_id, _REFUSED.pon_port, _REFUSED.ont_id, _REFUSED.vlan).where(
    _REFUSED.olt_id.in_(bindparam("olts", expanding=True))
)
_LEARN = insert(_BLOCKED)
_CONFIRM = (
    update(_ALLOCATIONS)
    .where(_HELD.order_id == bindparam("order"))
    .values(state="active", updated_at=bindparam("at", type_=UtcDateTime))
)
_STATES = (
    select(_HELD.state, func.count())
    .where(_HELD.olt_id.in_(bindparam("olts", expanding=True)))
    .group_by(_HELD.state)
)


class InventoryStore(Store):
    """The inventory: OLTs with their PON ports and VLAN pools, what each order holds,
    and what the NMS refused."""

    async def olts(self, region: str) -> list[Olt]:
        """The region's OLTs, as the database has them."""
        return await self.db.transaction(
            lambda connection: [
                Olt(id=olt_id, pon_ports=ports, onts_per_port=onts)
                for olt_id, ports, onts in connection.execute(_OLTS_OF_REGION, {"region": region})
            ]
        )

    async def occupancy(self, olt_ids: list[str], order_id: str) -> Occupancy:
        """What is not free on these OLTs for ``order_id``: what other orders hold and
        what the NMS refused."""

        def work(connection: Connection) -> Occupancy:
            held = connection.execute(_HELD_BY_OTHERS, {"olts": olt_ids, "order": order_id}).all()
            refused = connection.execute(_REFUSED_ON, {"olts": olt_ids}).all()
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

        return await self.db.transaction(work)

    @staticmethod
    def reserver(order_id: str) -> Reserve:
        """Hold the planned data's slot and VLAN for the order, giving back what it held
        before; raises IntegrityError when another order holds them."""

        def reserve(connection: Connection, data: dict[str, Any]) -> None:
            planned = ActivationData.model_validate(data)
            connection.execute(RELEASE, {"order": order_id})
            connection.execute(
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
        block = blocked_by(order_id, data, error_code)
        if block is None:
            return

        def work(connection: Connection) -> None:
            try:
                connection.execute(_LEARN, block)
            except IntegrityError:  # known already (the activity ran again)
                connection.rollback()

        await self.db.transaction(work)

    async def confirm(self, order_id: str) -> None:
        """The NMS activated the order's resources: they stay with it."""
        await self.db.transaction(
            lambda connection: connection.execute(_CONFIRM, {"order": order_id, "at": utcnow()})
        )

    async def release(self, order_id: str) -> int:
        """Give back what the order holds. Returns how many allocations were freed."""
        return await self.db.transaction(
            lambda connection: int(connection.execute(RELEASE, {"order": order_id}).rowcount or 0)
        )

    async def usage(self, region: str) -> Usage:
        """The region's slots, what is allocated, active and blocked."""
        olts = await self.olts(region)
        ids = [o.id for o in olts]

        def work(connection: Connection) -> tuple[dict[str, int], list[tuple[int, int]]]:
            states = {state: int(n) for state, n in connection.execute(_STATES, {"olts": ids})}
            blocked = [
                (ont, vlan) for _, _, ont, vlan in connection.execute(_REFUSED_ON, {"olts": ids})
            ]
            return states, blocked

        states, blocked = await self.db.transaction(work)
        return usage_of(region, olts, states, blocked)
