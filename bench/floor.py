"""The throughput floor: a minimal workflow of three parallel no-op activities.

``bench.throughput`` runs it on the same Temporal server as the system, with the same
number of workflows and the same concurrency, to tell what the server and a Python
worker on this machine can do at best. ``python -m bench.floor TASK_QUEUE`` runs its
worker with the settings of the environment (the system's Temporal address and
payload codec), as a process of its own like the system's worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.worker import Worker


@activity.defn
async def noop(part: int) -> int:
    return part


@workflow.defn
class FloorWorkflow:
    @workflow.run
    async def run(self) -> list[int]:
        return list(
            await asyncio.gather(
                *(
                    workflow.execute_activity(
                        noop, part, start_to_close_timeout=timedelta(seconds=30)
                    )
                    for part in range(3)
                )
            )
        )


async def run_worker(task_queue: str) -> None:
    from workorders.config import get_settings
    from workorders.startup import connect

    client = await connect(get_settings())
    worker = Worker(client, task_queue=task_queue, workflows=[FloorWorkflow], activities=[noop])
    await worker.run()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_worker(sys.argv[1]))
