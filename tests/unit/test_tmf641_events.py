"""TMF641 notifications, pure: what each timeline line tells, the bodies against the
official document's event definitions, queries, callbacks, signatures and backoff."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from datetime import UTC, datetime

import pytest

from models.enums import OrderStatus
from tests.api.test_tmf641 import conforms
from workorders.hub import Backoff, proxy_for
from workorders.tmf641.events import (
    CANCEL_CREATE,
    CANCEL_STATE_CHANGE,
    CREATE,
    EVENT_TYPES,
    INFORMATION_REQUIRED,
    JEOPARDY,
    MILESTONE,
    STATE_CHANGE,
    InvalidCallback,
    InvalidQuery,
    OrderSnapshot,
    absolute_hrefs,
    check_callback,
    matches,
    notifications,
    parse_query,
    sign,
)

AT = datetime(2026, 12, 6, 9, 30, tzinfo=UTC)


def order(
    status: OrderStatus = OrderStatus.IN_PROGRESS, reason: str | None = None, **facts: bool
) -> OrderSnapshot:
    return OrderSnapshot(id="o-1", external_id="CRM-1", status=status, reason=reason, **facts)


def types(kind: str, snapshot: OrderSnapshot, told: str | None, **detail: object) -> list[str]:
    return [n.event_type for n in notifications(kind, AT, snapshot, told, dict(detail))]


def test_each_timeline_line_tells_its_events() -> None:
    received = order(OrderStatus.RECEIVED)
    assert types("order.received", received, None) == [CREATE]
    assert types("order.dispatched", order(), "acknowledged") == [STATE_CHANGE]
    assert types("construction.assigned", order(), "inProgress") == [MILESTONE]
    assert types("construction.sla_jeopardy", order(), "inProgress") == [JEOPARDY]
    assert types("construction.sla_breached", order(), "inProgress") == [JEOPARDY]
    waiting = order(OrderStatus.WAITING_FOR_OPERATIONS, "no port free")
    assert types("activation.waiting_for_operations", waiting, "inProgress") == [
        INFORMATION_REQUIRED,
        STATE_CHANGE,
    ]
    assert types("order.cancellation_requested", order(), "inProgress") == [CANCEL_CREATE]
    cancelled = order(OrderStatus.CANCELLED)
    assert types("order.cancelled", cancelled, "inProgress") == [STATE_CHANGE, CANCEL_STATE_CHANGE]
    # A line that changes nothing the CRM is told of tells nothing.
    assert types("activation.attempt_started", order(), "inProgress") == []


@pytest.mark.parametrize(
    ("kind", "status", "told"),
    [
        ("order.received", OrderStatus.RECEIVED, None),
        ("order.dispatched", OrderStatus.IN_PROGRESS, "acknowledged"),
        ("construction.reported", OrderStatus.IN_PROGRESS, "inProgress"),
        ("construction.sla_jeopardy", OrderStatus.IN_PROGRESS, "inProgress"),
        ("quality_check.waiting_for_operations", OrderStatus.WAITING_FOR_OPERATIONS, "inProgress"),
        ("order.cancellation_requested", OrderStatus.IN_PROGRESS, "inProgress"),
        ("order.cancelled", OrderStatus.CANCELLED, "inProgress"),
        ("order.completed", OrderStatus.COMPLETED, "inProgress"),
    ],
)
def test_bodies_are_the_contracts_events(kind: str, status: OrderStatus, told: str | None) -> None:
    told_events = notifications(
        kind, AT, order(status, "why"), told, {"reason": "moved"}, event_seq=7
    )

    assert told_events
    for n in told_events:
        body = json.loads(absolute_hrefs(n.body, "https://api.example.com"))
        conforms(n.event_type, body)
        assert body["eventType"] == n.event_type
        assert body["eventId"] == n.event_id
        assert n.state == order(status).state
        resource = body["event"].get("serviceOrder") or body["event"]["cancelServiceOrder"]
        conforms(
            "ServiceOrder" if "serviceOrder" in body["event"] else "CancelServiceOrder", resource
        )
        assert resource["id"] == "o-1"


@pytest.mark.parametrize(
    ("kind", "snapshot", "state"),
    [
        ("construction.queued", order(waiting=True), "pending"),
        ("construction.rescheduled", order(waiting=True), "pending"),
        ("order.cancellation_requested", order(cancelling=True), "pendingCancellation"),
        ("order.failed", order(OrderStatus.FAILED, "x", partly_done=True), "partial"),
    ],
)
def test_the_new_states_are_told_as_state_changes(
    kind: str, snapshot: OrderSnapshot, state: str
) -> None:
    told = notifications(kind, AT, snapshot, "inProgress", {"reason": "moved"}, event_seq=3)

    changes = [n for n in told if n.event_type == STATE_CHANGE]
    assert [n.state for n in changes] == [state]
    body = json.loads(absolute_hrefs(changes[0].body, "https://api.example.com"))
    conforms(STATE_CHANGE, body)
    assert body["event"]["serviceOrder"]["state"] == state
    # Told that state already: no change to tell.
    assert STATE_CHANGE not in types(kind, snapshot, state)


def test_hrefs_are_made_absolute_and_nothing_else() -> None:
    (n,) = notifications("order.received", AT, order(OrderStatus.RECEIVED), None)
    body = json.loads(absolute_hrefs(n.body, "https://api.example.com/"))
    assert body["event"]["serviceOrder"]["href"] == (
        "https://api.example.com/tmf-api/serviceOrdering/v4/serviceOrder/o-1"
    )
    sneaky = OrderSnapshot(
        "o-2", '"href":"/tmf-api/serviceOrdering/v4/x', OrderStatus.RECEIVED, None
    )
    (n,) = notifications("order.received", AT, sneaky, None)
    body = json.loads(absolute_hrefs(n.body, "https://api.example.com"))
    assert body["event"]["serviceOrder"]["externalId"] == sneaky.external_id


def test_every_event_has_its_own_id() -> None:
    ids = {
        n.event_id
        for _ in range(50)
        for n in notifications("order.cancelled", AT, order(OrderStatus.CANCELLED), "held")
    }
    assert len(ids) == 100


def test_milestones_and_alerts_say_what_happened() -> None:
    (milestone,) = notifications(
        "construction.reported", AT, order(), "inProgress", {"reason": "cable laid"}, event_seq=12
    )
    (entry,) = json.loads(milestone.body)["event"]["serviceOrder"]["milestone"]
    assert (entry["id"], entry["name"], entry["message"]) == (
        "12",
        "construction.reported",
        "cable laid",
    )
    (alert,) = notifications(
        "construction.sla_breached", AT, order(), "inProgress", {"due_at": "2026-12-07"}
    )
    (entry,) = json.loads(alert.body)["event"]["serviceOrder"]["jeopardyAlert"]
    assert (entry["jeopardyType"], entry["message"]) == ("breached", "installation due 2026-12-07")


def test_queries_filter_by_event_type_and_order() -> None:
    assert parse_query(None) == {} and parse_query("  ") == {}
    query = parse_query(f"eventType={STATE_CHANGE},{MILESTONE}&serviceOrder.id=o-1")
    assert matches(query, STATE_CHANGE, "o-1")
    assert matches(query, MILESTONE, "o-1")
    assert not matches(query, CREATE, "o-1")
    assert not matches(query, STATE_CHANGE, "o-2")
    assert matches(parse_query(f"eventType={CREATE}&eventType={JEOPARDY}"), JEOPARDY, "x")
    assert all(matches({}, t, "any") for t in EVENT_TYPES)


@pytest.mark.parametrize(
    "query",
    ["eventType=Nonsense", "state=held", "eventType=", "eventType", "a=b&&", "=x"],
)
def test_queries_the_hub_cannot_apply_are_refused(query: str) -> None:
    with pytest.raises(InvalidQuery):
        parse_query(query)


def test_callbacks_are_checked() -> None:
    check_callback("https://crm.example.com/tmf/listener", None)
    check_callback("http://127.0.0.1:9000/x?y=1", None)
    check_callback("https://crm.example.com/l", ["crm.example.com"])
    check_callback("https://a.crm.example.com/l", ["*.crm.example.com"])
    for bad, allowed in [
        ("ftp://crm.example.com/l", None),
        ("file:///etc/passwd", None),
        ("javascript:alert(1)", None),
        ("crm.example.com/l", None),
        ("https:///nohost", None),
        ("https://user:pw@crm.example.com/l", None),
        ("https://crm.example.com/l#x", None),
        ("https://crm.example.com:99999/l", None),
        ("https://crm.example.com/" + "a" * 2000, None),
        ("https://evil.example.org/l", ["crm.example.com"]),
        ("https://crm.example.com.evil.org/l", ["*.crm.example.com"]),
        ("https://crm.example.com/l", []),
    ]:
        with pytest.raises(InvalidCallback):
            check_callback(bad, allowed)


def test_the_signature_is_the_hmac_of_the_exact_body() -> None:
    body = b'{"eventId":"1"}'
    expected = hmac.new(b"a-secret-of-16-chars", body, hashlib.sha256).hexdigest()
    assert sign("a-secret-of-16-chars", body) == f"sha256={expected}"
    assert sign("a-secret-of-16-chars", body + b" ") != f"sha256={expected}"


def test_backoff_doubles_up_to_its_most_with_jitter() -> None:
    backoff = Backoff(base_s=1, most_s=60, rng=random.Random(5))
    for attempts, ceiling in [(0, 1), (1, 2), (3, 8), (10, 60), (100, 60)]:
        delay = backoff.delay(attempts).total_seconds()
        assert ceiling / 2 <= delay <= ceiling


def test_the_proxy_is_the_environments_for_the_callbacks_scheme_unless_bypassed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    proxy_for.cache_clear()
    assert proxy_for("http://crm.example.com/events") is None

    monkeypatch.setenv("HTTP_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("HTTPS_PROXY", "http://tls-proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "crm.example.com,.corp")
    proxy_for.cache_clear()
    assert proxy_for("http://bss.example.org/events") == "http://proxy.internal:3128"
    assert proxy_for("https://bss.example.org/events") == "http://tls-proxy.internal:3128"
    assert proxy_for("https://crm.example.com/events") is None
    assert proxy_for("https://hub.crm.corp/events") is None
    proxy_for.cache_clear()
