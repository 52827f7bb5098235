"""How the work-order workflow calls its activities: the option presets, the limits of
its retries, and how an activity's failure reaches it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypedDict, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.errors import NON_RETRYABLE

MAX_ACTIVATION_ATTEMPTS = 6
"""Activation attempts in a row, each with data revised from the history, before the
activation is handed to operations."""
MAX_QUALITY_CHECK_ATTEMPTS = 6
QUEUE_POLL = timedelta(hours=1)
"""How often a queued job asks again, besides being woken: when a technician frees up
(their job ended, or moved) or gains room (added, activated, given a higher job
limit), the longest waiting jobs they could take are woken. The poll is only for a
wake-up that was lost (a signal to a worker that crashed before it was handled), so it
can be rare: with 10,000 jobs queued, each asking every 5 minutes kept a CPU busy."""


class ActivityOptions(TypedDict, total=False):
    start_to_close_timeout: timedelta
    schedule_to_close_timeout: timedelta
    retry_policy: RetryPolicy


NMS_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    maximum_interval=timedelta(minutes=1),
    non_retryable_error_types=NON_RETRYABLE,
)
"""How a call to the NMS is retried while it is unreachable."""

DATABASE: ActivityOptions = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=1),
        maximum_interval=timedelta(seconds=30),
        non_retryable_error_types=NON_RETRYABLE,
    ),
}
"""Database writes: retried until the database is back."""

NMS: ActivityOptions = {
    "start_to_close_timeout": timedelta(minutes=2),
    "schedule_to_close_timeout": timedelta(hours=1),
    "retry_policy": NMS_RETRY,
}
"""NMS calls: the same data is retried while the NMS is unreachable or the line not
ready, for up to an hour; then operations decide."""

DEACTIVATION: ActivityOptions = {
    "start_to_close_timeout": timedelta(minutes=2),
    "retry_policy": NMS_RETRY,
}
"""A cancelled order's deactivation: retried until the NMS answers, however long that
takes (nobody else would deactivate the service)."""

ACTIVITY_FAILED = (ActivityError, ApplicationError)
"""How an activity's failure reaches the workflow: an ``ActivityError`` with the
activity's error as its cause or, from a local activity, that error itself."""

_Arg = TypeVar("_Arg")
_Ret = TypeVar("_Ret")


async def call_database(activity: Callable[[Any, _Arg], Awaitable[_Ret]], arg: _Arg) -> _Ret:
    """Run a database write (or read) of the order, an activity with the
    :data:`DATABASE` options: a local activity, in the workflow task that asks for it
    (which saves a round trip through the server), unless an update handler asks.

    An update is durable only once the workflow task that accepts it completes; a
    Temporal server that restarts before that forgets it, and its caller gets an
    error. A local activity's write would already be in the database, where the
    technician sees it, while the workflow never learned of it (found by
    ``bench.faults``, Temporal restarted). An activity is scheduled by that same
    workflow task, so both happen or neither.
    """
    if workflow.current_update_info() is None:
        return await workflow.execute_local_activity_method(activity, arg, **DATABASE)
    return await workflow.execute_activity_method(activity, arg, **DATABASE)


def cause_of(error: BaseException) -> BaseException:
    """The activity's own error behind an activity's failure."""
    return error.cause if isinstance(error, ActivityError) and error.cause else error


def reason_of(error: BaseException) -> str:
    """An activity's failure in words, for an outcome's reason."""
    cause = cause_of(error)
    return str(cause) or type(cause).__name__


def refusal_of(error: BaseException) -> ApplicationError | None:
    """What an update handler tells its caller when an activity refused: the
    activity's message and error type (``None`` if it did not refuse, but failed)."""
    cause = cause_of(error)
    if isinstance(cause, ApplicationError):
        return ApplicationError(cause.message, type=cause.type)
    return None
