"""Record the histories the replay test checks: ``python -m tests.workflows.record_histories``.

Re-record only when a change to the workflow is meant to be incompatible (and then
version the workflow, since running orders would break); the point of the stored
histories is that the current code must still replay them.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from models.enums import CannotCompleteReason, JobState
from models.payloads import ConstructionReport
from tests.workflows.fakes import (
    FakeActivities,
    activation_fails,
    activation_ok,
    by_attempt,
    qc_by_attempt,
    quality_fails,
    quality_ok,
    start,
    transient,
    wait_for_job,
)
from tests.workflows.test_work_order import Handle, install
from workflows import WorkOrderWorkflow

HISTORIES = Path(__file__).resolve().parent.parent / "histories"


async def cannot_complete(handle: Handle) -> None:
    await wait_for_job(handle)
    await handle.execute_update(
        WorkOrderWorkflow.report_construction,
        ConstructionReport(
            technician_id="tech-north-1",
            state=JobState.CANNOT_COMPLETE,
            reason_code=CannotCompleteReason.ACCESS_DENIED,
        ),
    )


SCENARIOS: dict[str, tuple[Callable[[], FakeActivities], Callable[[Handle], Awaitable[None]]]] = {
    "completed": (FakeActivities, install),
    "activation_revised_twice": (
        lambda: FakeActivities(
            activation=by_attempt(
                activation_fails("ONT_ID_IN_USE", revisable=True),
                activation_fails("VLAN_TAKEN", revisable=True),
                activation_ok,
            ),
            quality=qc_by_attempt(
                quality_fails("SPEED_BELOW_THRESHOLD", revisable=True), quality_ok
            ),
        ),
        install,
    ),
    "nms_unreachable_then_back": (
        lambda: FakeActivities(activation_errors=[transient(), transient()]),
        install,
    ),
    "technician_cannot_complete": (FakeActivities, cannot_complete),
}


async def record(directory: Path = HISTORIES) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=str(Path(sys.executable).parent / "temporal-test-server"),
    )
    written = []
    try:
        for name, (make, drive) in SCENARIOS.items():
            fakes = make()
            task_queue = f"record-{uuid.uuid4()}"
            async with fakes.worker(env.client, task_queue):
                handle = await start(env.client, task_queue, f"{name}-{uuid.uuid4().hex[:8]}")
                await drive(handle)
                await handle.result()
                history = await handle.fetch_history()
            path = directory / f"{name}.json"
            path.write_text(history.to_json())
            written.append(path)
    finally:
        await env.shutdown()
    return written


if __name__ == "__main__":
    for path in asyncio.run(record()):
        print(path)
