"""What a request may see of a work order: the order itself, or a 404; and, for a
technician, only the orders whose installation job is theirs."""

from __future__ import annotations

from api.errors import ProblemError
from api.security import Forbidden
from models.enums import SubTaskKind
from models.tables import WorkOrder
from workorders.auth import Principal, Role
from workorders.store import OrderNotFound, OrderStore


async def order_or_404(orders: OrderStore, order_id: str) -> WorkOrder:
    try:
        return await orders.get_order(order_id)
    except OrderNotFound:
        raise ProblemError(404, "Order not found", f"no work order {order_id}") from None


async def technicians_own(orders: OrderStore, principal: Principal, order_id: str) -> None:
    """A technician may touch only the orders whose installation job is theirs (an
    order that does not exist is not theirs either: 403, so ids cannot be probed)."""
    if principal.role is not Role.TECHNICIAN:
        return
    for task in await orders.get_sub_tasks(order_id):
        if task.kind is SubTaskKind.CONSTRUCTION and task.technician_id == principal.subject:
            return
    raise Forbidden(f"order {order_id} is not one of {principal.subject}'s jobs")
