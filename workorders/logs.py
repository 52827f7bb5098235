"""Logging for every process: plain text, or JSON lines that carry the order's id.

``WORKORDERS_LOG_FORMAT=json`` writes one JSON object a line: ``time`` (UTC, ISO
8601), ``level``, ``logger``, ``message``, and when known ``order_id`` and
``workflow_id``, the activity and its attempt, ``exception``, and the record's
``extra`` fields. The order id comes from, first to last: ``extra={"order_id": ...}``,
the API request's context (:func:`order_context`, :func:`bind_order_id`), the running
activity's workflow (``activity.info()``), or the workflow that logged through
``workflow.logger``.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

from temporalio import activity

from workorders.config import Settings

__all__ = [
    "TEXT_FORMAT",
    "WORKFLOW_ID_PREFIX",
    "JsonFormatter",
    "bind_order_id",
    "configure_logging",
    "order_context",
    "order_id_of_workflow",
]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

WORKFLOW_ID_PREFIX = "work-order-"
"""What :func:`workflows.workflow_id_for` puts before the order id."""

_order_id: ContextVar[str | None] = ContextVar("workorders_order_id", default=None)

_RECORD_FIELDS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's coloured copy of the message
    "temporal_activity",  # the Temporal SDK's context, read below
    "temporal_workflow",
    "temporal_log",  # the SDK core's own record, forwarded (its fields are in the message)
}


def order_id_of_workflow(workflow_id: str) -> str | None:
    """The order id in a work-order workflow's id, or ``None`` for another workflow."""
    if workflow_id.startswith(WORKFLOW_ID_PREFIX):
        return workflow_id[len(WORKFLOW_ID_PREFIX) :] or None
    return None


def bind_order_id(order_id: str | None) -> None:
    """Name the order that the current task (an API request) is about, in its logs."""
    _order_id.set(order_id)


@contextmanager
def order_context(order_id: str | None) -> Iterator[None]:
    """Within the block, logs name ``order_id``; afterwards, what they named before."""
    token = _order_id.set(order_id)
    try:
        yield
    finally:
        _order_id.reset(token)


def _temporal_context(record: logging.LogRecord) -> dict[str, Any]:
    """The activity's or workflow's details: from ``activity.info()`` when an
    activity logs, else from what the SDK's loggers put on the record."""
    if activity.in_activity():
        info = activity.info()
        return {
            "workflow_id": info.workflow_id,
            "activity": info.activity_type,
            "attempt": info.attempt,
        }
    for attribute in ("temporal_activity", "temporal_workflow"):
        details = getattr(record, attribute, None)
        if isinstance(details, dict) and details.get("workflow_id"):
            return {"workflow_id": details["workflow_id"]}
    return {}


class JsonFormatter(logging.Formatter):
    """One JSON object a line; see the module's docstring for its fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        temporal = _temporal_context(record)
        order_id = getattr(record, "order_id", None) or _order_id.get()
        if order_id is None and "workflow_id" in temporal:
            order_id = order_id_of_workflow(temporal["workflow_id"])
        if order_id is not None:
            entry["order_id"] = order_id
        entry.update(temporal)
        for key, value in record.__dict__.items():
            if key not in _RECORD_FIELDS and key not in entry and not key.startswith("_"):
                entry[key] = value  # an extra; private markers (the SDK's) are left out
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(
    settings: Settings, *, level: int | str | None = None, stream: TextIO | None = None
) -> None:
    """Send every log record to one handler in the configured format.

    Replaces the root logger's handlers, so call it once, when the process starts.

    Args:
        settings: ``log_format`` (``text`` or ``json``) and ``log_level``.
        level: overrides ``settings.log_level`` (the demo keeps to warnings).
        stream: where to write; standard error by default.
    """
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    formatter = JsonFormatter() if settings.log_format == "json" else logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(formatter)
    logging.basicConfig(
        level=level if level is not None else settings.log_level, handlers=[handler], force=True
    )
