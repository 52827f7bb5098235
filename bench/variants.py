"""The worker with tuning options the production worker does not have, to measure what
each would buy before anyone changes ``worker.py`` or the workflow.

``python -m bench.variants OPTION[,OPTION...]`` runs the worker as ``workorders worker``
does (the same activities, clients, metrics and settings), built with:

- ``production``: nothing changed (for a comparison on equal terms);
- ``passthrough``: the workflow sandbox passes every module through instead of
  importing the workflow's modules afresh for each workflow run;
- ``unsandboxed``: no sandbox at all;
- ``local_db``: every database write of the workflow (the activities with the
  30-second ``DATABASE`` options) runs as a local activity, in the workflow task that
  asks for it, instead of a round trip through the server's activity task queue. The
  workflow is not edited: ``workflow.execute_activity_method`` is wrapped in this
  process only. Not replay-compatible with histories of the production worker;
- ``cache200``: at most 200 workflows kept in the worker's cache (1000 by default);
- ``slots``: twice the default pollers for workflow and activity tasks.

``bench.throughput``, ``bench.latency`` and ``bench.capacity`` take ``--worker
OPTIONS`` to run the system with such a worker in place of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Callable
from typing import Any

import httpx
from temporalio import workflow
from temporalio.worker import UnsandboxedWorkflowRunner, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

import worker as production
from workflows import WorkOrderWorkflow
from workflows.work_order import DATABASE
from workorders.config import Settings, get_settings
from workorders.db import Database
from workorders.logs import configure_logging
from workorders.metrics import ActivityMetricsInterceptor, WorkerMetrics, serve_metrics
from workorders.nms.http import HttpNms
from workorders.reference import load_catalog, load_regions
from workorders.store import WorkOrderStore

OPTIONS = ("production", "passthrough", "unsandboxed", "local_db", "cache200", "slots")
log = logging.getLogger("bench.variants")


def database_writes_as_local_activities() -> None:
    """Make ``workflow.execute_activity_method`` run activities with the ``DATABASE``
    options as local activities (in this process only)."""
    remote: Callable[..., Any] = workflow.execute_activity_method

    def execute(activity: Any, *args: Any, **options: Any) -> Any:
        if options.get("start_to_close_timeout") == DATABASE["start_to_close_timeout"]:
            return workflow.execute_local_activity_method(activity, *args, **options)
        return remote(activity, *args, **options)

    setattr(workflow, "execute_activity_method", execute)  # noqa: B010


def worker_options(options: set[str]) -> dict[str, Any]:
    built: dict[str, Any] = {}
    if "passthrough" in options:
        restrictions = SandboxRestrictions.default.with_passthrough_all_modules()
        built["workflow_runner"] = SandboxedWorkflowRunner(restrictions=restrictions)
    if "unsandboxed" in options:
        built["workflow_runner"] = UnsandboxedWorkflowRunner()
    if "cache200" in options:
        built["max_cached_workflows"] = 200
    if "slots" in options:
        built["max_concurrent_workflow_task_polls"] = 10
        built["max_concurrent_activity_task_polls"] = 10
    return built


async def run(settings: Settings, options: set[str]) -> None:
    """As :func:`worker.run`, with the NMS over HTTP, but the worker built with
    ``options``."""
    if "local_db" in options:
        database_writes_as_local_activities()
    regions, catalog = load_regions(), load_catalog()
    db = Database.from_url(settings.effective_database_url)
    await db.migrate()
    await db.seed(regions)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(db.dispose)
        http = httpx.AsyncClient(
            base_url=settings.nms_url, transport=httpx.AsyncHTTPTransport(retries=0)
        )
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
        client = await production.connect(settings, production.temporal_runtime(settings))
        store = WorkOrderStore(db)
        worker = Worker(
            client,
            task_queue=settings.task_queue,
            workflows=[WorkOrderWorkflow],
            activities=production.activities_for(
                store, nms, regions, catalog, production.waker(client)
            ),
            interceptors=[ActivityMetricsInterceptor(metrics, store)],
            **worker_options(options),
        )
        log.info("worker variant %s polling %r", sorted(options), settings.task_queue)
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
        asyncio.run(run(settings, options))


if __name__ == "__main__":
    main()
