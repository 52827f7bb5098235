"""TMF641 notifications, pure: which events a line of an order's timeline causes, their
bodies as the spec shapes them, and a listener's ``query`` (docs/tmf641.md). The store
writes them to the outbox (:mod:`workorders.store.outbox`); the deliverer sends them
(:mod:`workorders.hub`)."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from models.enums import OrderStatus
from workorders.tmf641.mapping import CANCELLATION_REQUESTED, state_of

BASE = "/tmf-api/serviceOrdering/v4"
CREATE = "ServiceOrderCreateEvent"
STATE_CHANGE = "ServiceOrderStateChangeEvent"
MILESTONE = "ServiceOrderMilestoneEvent"
JEOPARDY = "ServiceOrderJeopardyEvent"
INFORMATION_REQUIRED = "ServiceOrderInformationRequiredEvent"
CANCEL_CREATE = "CancelServiceOrderCreateEvent"
CANCEL_STATE_CHANGE = "CancelServiceOrderStateChangeEvent"
EVENT_TYPES = (
    CREATE,
    STATE_CHANGE,
    MILESTONE,
    JEOPARDY,
    INFORMATION_REQUIRED,
    CANCEL_CREATE,
    CANCEL_STATE_CHANGE,
)
QUERY_KEYS = ("eventType", "serviceOrder.id")
"""What a listener's ``query`` may filter on."""

ORDER_RECEIVED = "order.received"
JEOPARDY_KINDS = ("construction.sla_jeopardy", "construction.sla_breached")
SIGNATURE_HEADER = "X-Hub-Signature-256"


@dataclass(frozen=True)
class OrderSnapshot:
    """What an event tells of its order, as the order is in the event's transaction;
    ``cancelling``, ``waiting`` and ``partly_done`` refine its state
    (:func:`workorders.tmf641.mapping.state_of`)."""

    id: str
    external_id: str
    status: OrderStatus
    reason: str | None
    cancelling: bool = False
    waiting: bool = False
    partly_done: bool = False

    @property
    def state(self) -> str:
        return state_of(
            self.status,
            cancelling=self.cancelling,
            waiting=self.waiting,
            partly_done=self.partly_done,
        )


@dataclass(frozen=True)
class Notification:
    """One event for the outbox: ``body`` is the exact JSON sent."""

    event_id: str
    event_type: str
    state: str
    body: str


def notifications(
    kind: str,
    at: datetime,
    order: OrderSnapshot,
    told_state: str | None,
    detail: dict[str, Any] | None = None,
    *,
    event_seq: int | None = None,
) -> list[Notification]:
    """The events of one timeline line ``kind`` of ``order``, in the order they are
    told: the line's own event (creation, milestone, jeopardy, information required,
    cancellation), then a state change when the order's state is not ``told_state``
    (the state the order's last event told), and the cancellation's end with it.

    Args:
        kind: the timeline line (``order_event.kind``).
        at: when it happened.
        order: the order in the transaction that wrote the line.
        told_state: the state its last notification told; ``None`` before any.
        detail: the line's detail (a reason, a technician).
        event_seq: the timeline line's id, the milestone's id.
    """
    detail = detail or {}
    out: list[tuple[str, dict[str, Any]]] = []
    reason = detail.get("reason")
    if kind == ORDER_RECEIVED:
        out.append((CREATE, {"serviceOrder": _order(order)}))
    elif kind in JEOPARDY_KINDS:
        alert = {
            "id": "construction-sla",
            "name": kind.removeprefix("construction."),
            "jeopardyType": kind.removeprefix("construction.sla_"),
            "alertDate": at.isoformat(),
            "message": f"installation due {detail.get('due_at')}",
            "@type": "ServiceOrderJeopardyAlert",
        }
        out.append((JEOPARDY, {"serviceOrder": {**_order(order), "jeopardyAlert": [alert]}}))
    elif kind.startswith("construction."):
        milestone = {
            "id": str(event_seq) if event_seq is not None else kind,
            "name": kind,
            "milestoneDate": at.isoformat(),
            "status": "reached",
            "@type": "ServiceOrderMilestone",
        }
        if isinstance(reason, str):
            milestone["message"] = reason
        out.append((MILESTONE, {"serviceOrder": {**_order(order), "milestone": [milestone]}}))
    elif kind.endswith(".waiting_for_operations"):
        out.append((INFORMATION_REQUIRED, {"serviceOrder": _order(order)}))
    elif kind == CANCELLATION_REQUESTED:
        out.append((CANCEL_CREATE, {"cancelServiceOrder": _cancel(order, "inProgress", reason)}))
    if told_state is not None and order.state != told_state:
        out.append((STATE_CHANGE, {"serviceOrder": _order(order)}))
        if order.status is OrderStatus.CANCELLED:
            out.append(
                (CANCEL_STATE_CHANGE, {"cancelServiceOrder": _cancel(order, "done", None, at)})
            )
    return [_notification(t, at, order, payload) for t, payload in out]


def _notification(
    event_type: str, at: datetime, order: OrderSnapshot, payload: dict[str, Any]
) -> Notification:
    event_id = str(uuid.uuid4())
    body = {
        "eventId": event_id,
        "eventTime": at.isoformat(),
        "eventType": event_type,
        "correlationId": order.id,
        "domain": "serviceOrdering",
        "title": f"{event_type} of service order {order.id}",
        "timeOcurred": at.isoformat(),
        "event": payload,
    }
    if event_type == INFORMATION_REQUIRED:
        body["fieldPath"] = "state"
        if order.reason:
            body["description"] = order.reason
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    return Notification(event_id, event_type, order.state, text)


def _order(order: OrderSnapshot) -> dict[str, Any]:
    return {
        "id": order.id,
        "href": f"{BASE}/serviceOrder/{order.id}",
        "@type": "ServiceOrder",
        "externalId": order.external_id,
        "state": order.state,
    }


def _cancel(
    order: OrderSnapshot, state: str, reason: Any, at: datetime | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": order.id,
        "href": f"{BASE}/cancelServiceOrder/{order.id}",
        "@type": "CancelServiceOrder",
        "state": state,
        "serviceOrder": {
            "id": order.id,
            "href": f"{BASE}/serviceOrder/{order.id}",
            "@referredType": "ServiceOrder",
        },
    }
    if isinstance(reason, str):
        body["cancellationReason"] = reason
    if at is not None:
        body["effectiveCancellationDate"] = at.isoformat()
    return body


class InvalidQuery(ValueError):
    """A registration's ``query`` this hub cannot apply."""


def parse_query(query: str | None) -> dict[str, set[str]]:
    """A listener's ``query`` as the values each key may have: ``key=value`` terms
    joined by ``&``, a key's values comma-separated or repeated (either matches);
    ``eventType`` names one of :data:`EVENT_TYPES`.

    Raises:
        InvalidQuery: an unknown key, an empty value, or an unknown event type.
    """
    wanted: dict[str, set[str]] = {}
    if not query or not query.strip():
        return wanted
    try:
        terms = parse_qsl(query.strip(), keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise InvalidQuery(f"query must be key=value terms joined by '&', got {query!r}") from None
    for key, value in terms:
        if key not in QUERY_KEYS:
            raise InvalidQuery(f"unknown query key {key!r}; known: {', '.join(QUERY_KEYS)}")
        values = {v.strip() for v in value.split(",") if v.strip()}
        if not values:
            raise InvalidQuery(f"query key {key!r} has no value")
        if key == "eventType" and not values <= set(EVENT_TYPES):
            unknown = ", ".join(sorted(values - set(EVENT_TYPES)))
            raise InvalidQuery(f"unknown eventType {unknown}; known: {', '.join(EVENT_TYPES)}")
        wanted.setdefault(key, set()).update(values)
    return wanted


def matches(query: dict[str, set[str]], event_type: str, order_id: str) -> bool:
    """Whether an event passes a parsed query: every key given matches one of its values."""
    have = {"eventType": event_type, "serviceOrder.id": order_id}
    return all(have[key] in values for key, values in query.items())


def sign(secret: str, body: bytes) -> str:
    """The signature header's value: ``sha256=`` and the HMAC-SHA256 of ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


MAX_CALLBACK = 2000


class InvalidCallback(ValueError):
    """A callback this hub will not call."""


def check_callback(callback: str, allowed_hosts: Sequence[str] | None) -> None:
    """Refuse a callback that is not an absolute ``http``/``https`` URL of at most
    :data:`MAX_CALLBACK` characters, without credentials or fragment, or (with
    ``allowed_hosts``, given outside development) whose host is not one of them: an
    exact name, or ``*.example.com`` for any name under ``example.com``.

    Raises:
        InvalidCallback: why it is refused.
    """
    if len(callback) > MAX_CALLBACK:
        raise InvalidCallback(f"callback is longer than {MAX_CALLBACK} characters")
    try:
        parts = urlsplit(callback)
        host = parts.hostname
        parts.port  # noqa: B018 (a port out of range raises)
    except ValueError as e:
        raise InvalidCallback(f"callback is not a URL: {e}") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidCallback("callback must be an http or https URL")
    if not host:
        raise InvalidCallback("callback has no host")
    if parts.username is not None or parts.password is not None:
        raise InvalidCallback("callback may not carry credentials; use the secret")
    if parts.fragment:
        raise InvalidCallback("callback may not have a fragment")
    if allowed_hosts is not None and not any(_host_allowed(host, a) for a in allowed_hosts):
        raise InvalidCallback(f"callback host {host!r} is not in the hub's allow-list")


def _host_allowed(host: str, allowed: str) -> bool:
    allowed = allowed.lower().rstrip(".")
    host = host.lower().rstrip(".")
    if allowed.startswith("*."):
        return host.endswith(allowed[1:])
    return host == allowed


_RELATIVE_HREF = f'"href":"{BASE}/'


def absolute_hrefs(body: str, base_url: str) -> str:
    """The outbox's body with its hrefs (written relative, since the store does not know
    where clients reach the API) made absolute under ``base_url``, as the spec's URIs
    are. Only keys match: inside a JSON string a quote is escaped."""
    return body.replace(_RELATIVE_HREF, f'"href":"{base_url.rstrip("/")}{BASE}/')
