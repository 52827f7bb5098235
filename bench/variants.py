"""The worker with tuning options the production worker does not have, to measure what
each would buy before anyone changes the worker (:mod:`workorders.worker`) or the
workflow.

``python -m bench.variants OPTION[,OPTION...]`` runs the worker as ``workorders worker``
does (the same activities, clients, metrics and settings), built with:

- ``production``: nothing changed (for a comparison on equal terms);
- ``full_sandbox``: the workflow sandbox imports the workflow's modules afresh for
  each workflow run (the SDK's default) instead of passing them through;
- ``unsandboxed``: no sandbox at all;
- ``cache200``: at most 200 workflows kept in the worker's cache (500 by default);
- ``slots``: twice the default pollers for workflow and activity tasks;
- ``pollers``: as many pollers of the task queue as of the worker's sticky queue;
- ``asyncio``: the standard library's event loop instead of uvloop's (the production
  worker's since the TMF641 deliverer's POSTs were measured on both).

Database writes as local activities, once measured here as a variant, are the
production worker's since (``workflows.options.call_database``), as is the
pass-through sandbox.

``bench.throughput``, ``bench.latency`` and ``bench.capacity`` take ``--worker
OPTIONS`` to run the system with such a worker in place of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from typing import Any

import uvloop
from temporalio.worker import UnsandboxedWorkflowRunner, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from workflows import WorkOrderWorkflow
from workorders.config import Settings, get_settings
from workorders.logs import configure_logging
from workorders.metrics import ActivityMetricsInterceptor, WorkerMetrics, serve_metrics
from workorders.nms.http import HttpNms, nms_client
from workorders.process import freeze_startup_objects
from workorders.reference import load_catalog, load_regions
from workorders.startup import connect, open_database, temporal_runtime
from workorders.store import Stores
from workorders.wake import waker
from workorders.worker import activities_for, workflow_runner

OPTIONS = (
    "production",
    "full_sandbox",
    "unsandboxed",
    "cache200",
    "slots",
    "pollers",
    "asyncio",
)
log = logging.getLogger("bench.variants")


def worker_options(options: set[str], settings: Settings) -> dict[str, Any]:
    built: dict[str, Any] = {
        "workflow_runner": workflow_runner(),
        "max_cached_workflows": settings.workflow_cache_size,
    }
    if "full_sandbox" in options:
        built["workflow_runner"] = SandboxedWorkflowRunner()
    if "unsandboxed" in options:
        built["workflow_runner"] = UnsandboxedWorkflowRunner()
    if "cache200" in options:
        built["max_cached_workflows"] = 200
    if "slots" in options:
        built["max_concurrent_workflow_task_polls"] = 10
        built["max_concurrent_activity_task_polls"] = 10
    if "pollers" in options:
        built["nonsticky_to_sticky_poll_ratio"] = 1.0
    return built


async def run(settings: Settings, options: set[str]) -> None:
    """As ``worker.run``, with the NMS over HTTP, but the worker built with
    ``options``."""
    regions, catalog = load_regions(), load_catalog()
    db = await open_database(settings)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(db.dispose)
        http = nms_client(settings.nms_url)
        stack.push_async_callback(http.aclose)
        nms = HttpNms(
            http, timeout_s=settings.nms_timeout_s, poll_interval_s=settings.nms_poll_interval_s
        )
        metrics = WorkerMetrics()
        if settings.worker_metrics_port:
            stop = serve_metrics(
                metrics.registry, settings.metrics_host, settings.worker_metrics_port
            )
            if stop is not None:
                stack.callback(stop)
        client = await connect(settings, temporal_runtime(settings))
        stores = Stores.of(db)
        worker = Worker(
            client,
            task_queue=settings.task_queue,
            workflows=[WorkOrderWorkflow],
            activities=activities_for(stores, nms, regions, catalog, waker(client)),
            interceptors=[ActivityMetricsInterceptor(metrics, stores.orders)],
            **worker_options(options, settings),
        )
        log.info("worker variant %s polling %r", sorted(options), settings.task_queue)
        freeze_startup_objects()
        await worker.run()


def main() -> None:
    options = {o.strip() for o in (sys.argv[1] if len(sys.argv) > 1 else "production").split(",")}
    unknown = options - set(OPTIONS)
    if unknown:
        raise SystemExit(f"unknown options {sorted(unknown)}; pick from {OPTIONS}")
    settings = get_settings()
    if not settings.nms_url:
        raise SystemExit("WORKORDERS_NMS_URL must name the NMS (simulator service)")
    configure_logging(settings)
    with contextlib.suppress(KeyboardInterrupt):
        if "asyncio" in options:
            asyncio.run(run(settings, options))
        else:
            uvloop.run(run(settings, options))


if __name__ == "__main__":
    main()
