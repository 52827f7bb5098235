"""Record the histories the replay test checks:
``python -m tests.workflows.record_histories [SCENARIO ...]``.

Re-record only with a release (``docs/versioning.md``): between releases the point of
the stored histories is that the current code must still replay them, so a change
that alters the workflow's commands goes behind ``workflow.patched`` instead.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from bench.temporal_setup import ensure_search_attributes
from models.enums import CannotCompleteReason, JobState, SubTaskKind
from models.payloads import (
    CancelOrder,
    ConstructionOperation,
    ConstructionReport,
    NetworkOperation,
)
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
from tests.workflows.test_work_order import Handle, decide, install
from workflows import WorkOrderWorkflow
from workorders.codec import data_converter
from workorders.config import Settings

HISTORIES = Path(__file__).resolve().parent.parent / "histories"


async def customer_declines(
    env: WorkflowEnvironment, fakes: FakeActivities, handle: Handle
) -> None:
    await wait_for_job(handle)
    await fakes.report(
        handle,
        ConstructionReport(
            technician_id="tech-north-1",
            state=JobState.CANNOT_COMPLETE,
            reason_code=CannotCompleteReason.CUSTOMER_DECLINED,
        ),
    )


async def installed(env: WorkflowEnvironment, fakes: FakeActivities, handle: Handle) -> None:
    await install(fakes, handle)


async def declined_then_reassigned(
    env: WorkflowEnvironment, fakes: FakeActivities, handle: Handle
) -> None:
    await wait_for_job(handle)
    await fakes.report(
        handle,
        ConstructionReport(
            technician_id="tech-north-1",
            state=JobState.CANNOT_COMPLETE,
            reason_code=CannotCompleteReason.TECHNICIAN_DECLINED,
        ),
    )
    await install(fakes, handle, technician="tech-north-2")


async def time_limit_passed(
    env: WorkflowEnvironment, fakes: FakeActivities, handle: Handle
) -> None:
    await wait_for_job(handle)
    await env.sleep(timedelta(hours=49))  # jeopardy, then escalation to tech-north-2
    await install(fakes, handle, technician="tech-north-2")


async def operations_assign(
    env: WorkflowEnvironment, fakes: FakeActivities, handle: Handle
) -> None:
    for _ in range(100):
        if (await handle.query(WorkOrderWorkflow.state)).construction.waiting_for_operations:
            break
        await asyncio.sleep(0.05)
    await handle.execute_update(
        WorkOrderWorkflow.operate_construction,
        ConstructionOperation(action="assign", technician_id="tech-west-2"),
    )
    await install(fakes, handle, technician="tech-west-2")


async def operations_retry_activation(
    env: WorkflowEnvironment, fakes: FakeActivities, handle: Handle
) -> None:
    await install(fakes, handle)
    await decide(
        handle,
        NetworkOperation(
            kind=SubTaskKind.ACTIVATION,
            action="retry",
            data={
                "olt_id": "olt-north-02",
                "pon_port": 3,
                "ont_id": 7,
                "vlan": 150,
                "profile": "FTTH_300_100",
                "nms_profile_name": "FTTH_300_100",
            },
        ),
    )


async def cancelled(env: WorkflowEnvironment, fakes: FakeActivities, handle: Handle) -> None:
    await wait_for_job(handle)
    await handle.execute_update(
        WorkOrderWorkflow.cancel_order,
        CancelOrder(actor="operations:alice", reason="customer moved"),
    )


async def cancelled_while_activation_waits(
    env: WorkflowEnvironment, fakes: FakeActivities, handle: Handle
) -> None:
    for _ in range(100):
        if (await handle.query(WorkOrderWorkflow.state)).waiting_for_operations:
            break
        await asyncio.sleep(0.05)
    await cancelled(env, fakes, handle)


async def cancelled_in_temporal(
    env: WorkflowEnvironment, fakes: FakeActivities, handle: Handle
) -> None:
    await wait_for_job(handle)
    await handle.cancel()


async def report_read_again(
    env: WorkflowEnvironment, fakes: FakeActivities, handle: Handle
) -> None:
    """A report signalled while the dispatch is in flight: the job is read again."""
    await fakes.started("dispatch_construction")
    technician = "tech-north-1"
    await fakes.report(
        handle, ConstructionReport(technician_id=technician, state=JobState.ACCEPTED)
    )
    await asyncio.sleep(2)  # the workflow task, held by the dispatch, is heartbeaten
    fakes.gates["dispatch_construction"].set()
    await wait_for_job(handle, technician)
    for state in (JobState.EN_ROUTE, JobState.ON_SITE):
        await fakes.report(handle, ConstructionReport(technician_id=technician, state=state))
    await fakes.report(
        handle,
        ConstructionReport(technician_id=technician, state=JobState.COMPLETED, ont_serial="HWTC1"),
    )


Drive = Callable[[WorkflowEnvironment, FakeActivities, Handle], Awaitable[None]]

SCENARIOS: dict[str, tuple[Callable[[], FakeActivities], Drive]] = {
    "completed": (FakeActivities, installed),
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
        installed,
    ),
    "nms_unreachable_then_back": (
        lambda: FakeActivities(activation_errors=[transient(), transient()]),
        installed,
    ),
    "customer_declines": (FakeActivities, customer_declines),
    "declined_then_reassigned": (FakeActivities, declined_then_reassigned),
    "time_limit_passed": (FakeActivities, time_limit_passed),
    "activation_operations_retry": (
        lambda: FakeActivities(
            activation=by_attempt(activation_fails("UNKNOWN_OLT", revisable=False), activation_ok)
        ),
        operations_retry_activation,
    ),
    "no_technician_operations_assign": (
        lambda: FakeActivities(technicians=[]),
        operations_assign,
    ),
    "cancelled": (FakeActivities, cancelled),
    "cancelled_while_activation_waits": (
        lambda: FakeActivities(activation=activation_fails("UNKNOWN_OLT", revisable=False)),
        cancelled_while_activation_waits,
    ),
    "cancelled_in_temporal": (FakeActivities, cancelled_in_temporal),
    "report_read_again": (
        lambda: FakeActivities(gates={"dispatch_construction": asyncio.Event()}),
        report_read_again,
    ),
}


async def record(names: list[str], directory: Path = HISTORIES) -> list[Path]:
    """Record the named scenarios (all when none is named)."""
    directory.mkdir(parents=True, exist_ok=True)
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter(Settings(_env_file=None)),
        test_server_existing_path=str(Path(sys.executable).parent / "temporal-test-server"),
    )
    written = []
    await ensure_search_attributes(env.client, env.client.namespace)
    try:
        for name, (make, drive) in SCENARIOS.items():
            if names and name not in names:
                continue
            fakes = make()
            task_queue = f"record-{uuid.uuid4()}"
            async with fakes.worker(env.client, task_queue):
                handle = await start(env.client, task_queue, f"{name}-{uuid.uuid4().hex[:8]}")
                await drive(env, fakes, handle)
                await handle.result()
                history = await handle.fetch_history()
            path = directory / f"{name}.json"
            path.write_text(history.to_json())
            written.append(path)
    finally:
        await env.shutdown()
    return written


if __name__ == "__main__":
    for path in asyncio.run(record(sys.argv[1:])):
        print(path)
