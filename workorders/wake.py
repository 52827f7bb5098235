"""Waking the work orders whose construction job waits in the technicians' queue.

A queued job is woken when a technician who could take it has room: their job ended or
moved on (the construction activities), or operations added them, activated them or
raised their job limit (the API). The workflow then asks for a technician again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from temporalio.client import Client
from temporalio.service import RPCError

from workorders.reference import Catalog
from workorders.store import TechnicianStore

log = logging.getLogger("workorders.wake")

TECHNICIAN_AVAILABLE = "technician_available"
"""The name of the work-order workflow's signal that a technician has room (its
``technician_available`` handler). Named, not imported: the workflow module imports the
activities, which import this one, so a typed handle here would close an import
circle; ``tests/unit/test_wake.py`` checks that the workflow answers to this name."""

Wake = Callable[[str], Awaitable[None]]
"""Tells the workflow with this id that a technician has room for its job."""


def waker(client: Client) -> Wake:
    """Signals ``technician_available`` to a work order's workflow."""

    async def wake(workflow_id: str) -> None:
        try:
            await client.get_workflow_handle(workflow_id).signal(TECHNICIAN_AVAILABLE)
        except RPCError as e:  # it ended meanwhile: nobody to wake
            log.info("could not wake %s: %s", workflow_id, e)

    return wake


async def offer_room(
    technicians: TechnicianStore,
    catalog: Catalog,
    wake: Wake,
    technician_id: str,
    count: int = 1,
) -> None:
    """Wake the ``count`` queued jobs that have waited longest for this technician,
    after a change that is stored already: a failure is only logged, since a queued job
    also asks again by itself, hourly."""
    if count <= 0:
        return
    try:
        await wake_queued(technicians, catalog, wake, technician_id, count)
    except Exception:
        log.warning("could not offer queued jobs to %s", technician_id, exc_info=True)


async def wake_queued(
    technicians: TechnicianStore,
    catalog: Catalog,
    wake: Wake,
    technician_id: str,
    count: int = 1,
) -> int:
    """Wake the ``count`` orders that have waited longest for a job this technician
    could take; how many were woken."""
    by_skill = catalog.service_types_by_skill()
    woken = await technicians.next_in_queue(technician_id, by_skill, count)
    for workflow_id in woken:
        await wake(workflow_id)
    return len(woken)
