"""The worker's entry point and composition root: the one place where the worker's real
clients are built (:mod:`workorders.startup`), injected (:mod:`workorders.worker`) and
run. Nothing imports this module; ``workorders worker`` and ``python -m worker`` run
it."""

from __future__ import annotations

import contextlib
import logging

import uvloop

from workorders.appointments import Calendar
from workorders.config import Settings, get_settings
from workorders.db import NotMigrated
from workorders.hub import delivering
from workorders.logs import configure_logging
from workorders.metrics import WorkerMetrics, serve_metrics
from workorders.process import freeze_startup_objects
from workorders.reference import load_catalog
from workorders.startup import connect, open_database, open_nms, temporal_runtime
from workorders.store import Stores
from workorders.worker import build_worker

log = logging.getLogger("workorders.worker")


async def run(settings: Settings) -> None:
    """Run the worker until cancelled, on a database that ``workorders migrate`` has
    brought to the newest migration (else :class:`workorders.db.NotMigrated`)."""
    catalog = load_catalog()
    db = await open_database(settings)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(db.dispose)
        nms = open_nms(settings, catalog, stack)
        metrics = WorkerMetrics()
        if settings.worker_metrics_port:
            stop_serving = serve_metrics(
                metrics.registry, settings.metrics_host, settings.worker_metrics_port
            )
            if stop_serving is not None:
                stack.callback(stop_serving)
        client = await connect(settings, temporal_runtime(settings))
        stores = Stores.of(db)
        await stack.enter_async_context(delivering(settings, stores.hub))
        worker = build_worker(
            client,
            settings.task_queue,
            stores,
            nms,
            catalog=catalog,
            metrics=metrics,
            cache_size=settings.workflow_cache_size,
            calendar=Calendar.of(settings),
        )
        log.info(
            "worker polling task queue %r on %s", settings.task_queue, settings.temporal_address
        )
        freeze_startup_objects()
        await worker.run()


def main() -> None:
    settings = get_settings()
    configure_logging(settings)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            uvloop.run(run(settings))
    except NotMigrated as e:
        raise SystemExit(f"workorders worker: {e}") from None


if __name__ == "__main__":
    main()
