"""Setting up a Temporal namespace for work orders: the custom search attributes, on a
server the tests or the benchmarks started themselves (``workorders up`` gives them to
its dev server as flags, the production setup to its namespace job)."""

from __future__ import annotations

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from workflows.search_attributes import ALL


async def ensure_search_attributes(client: Client, namespace: str) -> list[str]:
    """Register the work-order search attributes that the namespace lacks.

    ``workorders up`` registers them as it starts the dev server and the production
    setup as it creates the namespace; this serves servers started otherwise (tests).

    Returns:
        The names it registered.
    """
    try:
        known = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        existing = set(known.custom_attributes)
    except RPCError as e:
        if e.status is not RPCStatusCode.UNIMPLEMENTED:  # the time-skipping test server
            raise
        existing = set()
    missing = {
        key.name: IndexedValueType.ValueType(int(key.indexed_value_type))
        for key in ALL
        if key.name not in existing
    }
    if missing:
        try:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
            )
        except RPCError as e:
            if e.status is not RPCStatusCode.ALREADY_EXISTS:
                raise
    return sorted(missing)
