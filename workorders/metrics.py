"""The worker's Prometheus metrics, counted around the activities, never in workflows.

:class:`ActivityMetricsInterceptor` wraps every activity the worker runs: it times
each attempt, counts retries (attempts after the first) and failures, and reads the
outcomes the activities return or receive, without touching activity code:

- an NMS activity's result with an error code (a deactivation's refused slots too), or
  its retryable failure, is an NMS error (by the NMS's code);
- ``mark_construction_sla`` marks an installation in jeopardy or breached;
- ``record_order_status`` with a final status (completed, failed or cancelled) ends the
  order; the order's history (its events in the database) then gives each sub-task's
  duration.

Each process owns its registry (:func:`new_registry`), so tests can build as many as
they like without duplicate registrations.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    start_http_server,
)
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from activities.errors import LINE_NOT_READY, NMS_UNAVAILABLE
from models.enums import OrderStatus, SlaState, SubTaskKind, SubTaskStatus
from models.payloads import (
    ActivationInput,
    ActivationResult,
    DeactivateResourcesInput,
    DeactivateResourcesResult,
    QualityCheckInput,
    QualityCheckResult,
    RecordOrderStatusInput,
    SlaInput,
    SubTaskOutcome,
)
from workorders.nms.base import ERROR_CLASSES
from workorders.store import EventSpan, OrderStore

__all__ = [
    "ENDED_STATUSES",
    "ActivityMetricsInterceptor",
    "WorkerMetrics",
    "new_registry",
    "serve_metrics",
    "sub_task_durations",
]

log = logging.getLogger("workorders.metrics")

ENDED_STATUSES = tuple(s.value for s in OrderStatus if s.is_final)
"""The final statuses an order can end with: completed, failed and cancelled."""

ACTIVITY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
"""Seconds: database activities take milliseconds, an NMS call up to two minutes."""

SUB_TASK_BUCKETS = tuple(
    float(s)
    for s in (
        1,
        10,
        30,
        60,
        300,
        900,
        1800,
        3600,
        2 * 3600,
        4 * 3600,
        8 * 3600,
        24 * 3600,
        2 * 24 * 3600,
        3 * 24 * 3600,
        7 * 24 * 3600,
    )
)
"""Seconds: activations take seconds, installations hours or days."""

_NMS_CODE_OF_ERROR_TYPE = {NMS_UNAVAILABLE: "NMS_UNAVAILABLE", LINE_NOT_READY: "LINE_NOT_READY"}
"""Error types NMS activities raise for an NMS code under another name."""


def new_registry() -> CollectorRegistry:
    """A registry of one's own, with the process, platform and GC collectors."""
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


class WorkerMetrics:
    """The worker's series, in a registry it owns.

    Args:
        registry: where to register them; a new one (:func:`new_registry`) by default.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else new_registry()
        r = self.registry
        self.activity_duration = Histogram(
            "workorders_activity_duration_seconds",
            "Time one activity attempt took, by activity and outcome.",
            ["activity", "outcome"],
            buckets=ACTIVITY_BUCKETS,
            registry=r,
        )
        self.activity_retries = Counter(
            "workorders_activity_retries",
            "Activity attempts after the first one (Temporal retrying), by activity.",
            ["activity"],
            registry=r,
        )
        self.activity_errors = Counter(
            "workorders_activity_errors",
            "Activity attempts that raised, by activity and error type.",
            ["activity", "error_type"],
            registry=r,
        )
        self.nms_errors = Counter(
            "workorders_nms_errors",
            "NMS calls that did not succeed, by activity and the NMS's error code.",
            ["activity", "error_code"],
            registry=r,
        )
        self.sla_marks = Counter(
            "workorders_construction_sla_marks",
            "Installations marked in jeopardy or past their region's time limit.",
            ["state"],
            registry=r,
        )
        self.orders_ended = Counter(
            "workorders_orders_ended",
            "Work orders that reached a final status, by status.",
            ["status"],
            registry=r,
        )
        self.sub_task_duration = Histogram(
            "workorders_sub_task_duration_seconds",
            "How long a sub-task took, from when its work began to its last event.",
            ["kind", "status"],
            buckets=SUB_TASK_BUCKETS,
            registry=r,
        )
        for status in ENDED_STATUSES:
            self.orders_ended.labels(status=status)
        for state in (SlaState.JEOPARDY, SlaState.BREACHED):
            self.sla_marks.labels(state=state.value)


class ActivityMetricsInterceptor(Interceptor):
    """Times and counts every activity the worker runs.

    Args:
        metrics: the series to update.
        store: reads an ended order's history for its sub-tasks' durations; without
            it, no durations are observed.
    """

    def __init__(self, metrics: WorkerMetrics, store: OrderStore | None = None) -> None:
        self._metrics = metrics
        self._store = store

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _MeteredActivity(next, self._metrics, self._store)


class _MeteredActivity(ActivityInboundInterceptor):
    def __init__(
        self,
        next: ActivityInboundInterceptor,
        metrics: WorkerMetrics,
        store: OrderStore | None,
    ) -> None:
        super().__init__(next)
        self._metrics = metrics
        self._store = store

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        name = info.activity_type
        if info.attempt > 1:
            self._metrics.activity_retries.labels(activity=name).inc()
        outcome = "failed"
        started = time.perf_counter()
        try:
            result = await self.next.execute_activity(input)
            outcome = "succeeded"
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        except Exception as e:
            self._guarded(self._count_failure, name, input.args, e)
            raise
        finally:
            elapsed = time.perf_counter() - started
            self._metrics.activity_duration.labels(activity=name, outcome=outcome).observe(elapsed)
        self._guarded(self._count_result, name, input.args, result)
        if self._store is not None:
            ended = _ended_order(input.args)
            if ended is not None:
                try:
                    await self._observe_durations(self._store, ended)
                except Exception:
                    log.warning(
                        "could not measure the sub-tasks of %s", ended.order_id, exc_info=True
                    )
        return result

    @staticmethod
    def _guarded(count: Callable[[str, Sequence[Any], Any], None], *args: Any) -> None:
        """Count, but never fail an activity because of a metric."""
        try:
            count(*args)
        except Exception:
            log.warning("could not count an activity", exc_info=True)

    def _count_failure(self, name: str, args: Sequence[Any], error: Exception) -> None:
        error_type = (
            error.type
            if isinstance(error, ApplicationError) and error.type
            else type(error).__name__
        )
        self._metrics.activity_errors.labels(activity=name, error_type=error_type).inc()
        if any(
            isinstance(a, ActivationInput | QualityCheckInput | DeactivateResourcesInput)
            for a in args
        ):
            code = _NMS_CODE_OF_ERROR_TYPE.get(error_type, error_type)
            if code in ERROR_CLASSES:
                self._metrics.nms_errors.labels(activity=name, error_code=code).inc()

    def _count_result(self, name: str, args: Sequence[Any], result: Any) -> None:
        # A result without data sent nothing to the NMS (no alternative was left).
        if (
            isinstance(result, ActivationResult | QualityCheckResult)
            and result.error_code
            and result.data is not None
        ):
            self._metrics.nms_errors.labels(activity=name, error_code=result.error_code).inc()
        if isinstance(result, DeactivateResourcesResult):
            for slot in result.refused:
                code = slot.error_code or "UNKNOWN"
                self._metrics.nms_errors.labels(activity=name, error_code=code).inc()
        for arg in args:
            if isinstance(arg, SlaInput) and arg.state is not SlaState.ON_TIME:
                self._metrics.sla_marks.labels(state=arg.state.value).inc()
        ended = _ended_order(args)
        if ended is not None:
            self._metrics.orders_ended.labels(status=ended.decision.status.value).inc()

    async def _observe_durations(self, store: OrderStore, ended: RecordOrderStatusInput) -> None:
        spans = await store.event_spans(ended.order_id)
        for outcome, seconds in sub_task_durations(spans, ended.outcomes):
            self._metrics.sub_task_duration.labels(
                kind=outcome.kind.value, status=outcome.status.value
            ).observe(seconds)


def _ended_order(args: Sequence[Any]) -> RecordOrderStatusInput | None:
    """The ``record_order_status`` input among ``args`` when it ends the order."""
    for arg in args:
        if isinstance(arg, RecordOrderStatusInput) and arg.decision.status.is_final:
            return arg
    return None


def sub_task_durations(
    spans: Mapping[str, EventSpan], outcomes: Sequence[SubTaskOutcome]
) -> list[tuple[SubTaskOutcome, float]]:
    """Each ended sub-task's duration, in seconds, from the order's history.

    A sub-task's work begins at the order's dispatch for construction and activation
    (both start at once), and at its first attempt for the quality check (until then
    it only waits for the line). It ends at its latest event (``<kind>.*``) in the
    history. Skipped sub-tasks, and sub-tasks without such events, have no duration.

    Args:
        spans: when each kind of the order's events first and last happened
            (:meth:`OrderStore.event_spans`).
        outcomes: how each sub-task ended.
    """
    dispatched = spans.get("order.dispatched")
    durations: list[tuple[SubTaskOutcome, float]] = []
    for outcome in outcomes:
        if outcome.status not in (SubTaskStatus.SUCCEEDED, SubTaskStatus.FAILED):
            continue
        prefix = f"{outcome.kind.value}."
        own = [span.last for kind, span in spans.items() if kind.startswith(prefix)]
        began = dispatched
        if outcome.kind is SubTaskKind.QUALITY_CHECK:
            began = spans.get(f"{prefix}attempt_started")
        if not own or began is None:
            continue
        durations.append((outcome, max(0.0, (max(own) - began.first).total_seconds())))
    return durations


def serve_metrics(registry: CollectorRegistry, host: str, port: int) -> Callable[[], None] | None:
    """Serve ``registry`` at ``http://host:port/metrics`` from a thread of its own.

    Returns:
        What stops the server, or ``None`` when the port could not be bound (logged:
        a worker without its metrics still works its task queue).
    """
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as e:
        log.error("cannot serve the worker's metrics on %s:%d: %s", host, port, e)
        return None
    log.info("worker metrics at http://%s:%d/metrics", host, port)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop
