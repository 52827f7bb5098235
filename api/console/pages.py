"""The console's pages: sign-in, the orders list, the create-order form, and the order
page whose sub-tasks and timeline follow the order live.

Every decision goes through the same code as the API's (:mod:`api.ordering`,
:mod:`api.access`), so the workflow, the timeline and the Temporal UI show the same
thing whichever door a person used.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import ValidationError

from api import ordering
from api.access import order_or_404, technicians_own
from api.console import i18n
from api.console.session import (
    BadCsrf,
    NotSignedIn,
    SignedIn,
    sign_in,
    sign_out,
)
from api.console.visits import BOOKING_REFUSALS, Visits, VisitsDep
from api.console.web import form_of, language_of, operator_zone, render, require
from api.deps import (
    CalendarDep,
    CatalogDep,
    OrdersDep,
    RegionsDep,
    SettingsDep,
    TemporalDep,
    UsersDep,
)
from api.errors import ProblemError
from models.api import OrderCreateRequest
from models.enums import OrderStatus, SubTaskKind
from workorders.auth import Principal, Role
from workorders.feed import OrderFeed
from workorders.users import check_password, locked

router = APIRouter(prefix="/console", include_in_schema=False)

FORM_FIELDS = (
    "external_reference",
    "customer.name",
    "customer.phone",
    "customer.email",
    "address.country",
    "address.province",
    "address.city",
    "address.district",
    "address.street",
    "address.house_number",
    "address.building",
    "address.unit",
    "address.room",
    "address.postcode",
    "appointment.start",
    "demand.service_type",
    "demand.download_mbps",
    "demand.upload_mbps",
    "demand.installation_window.start",
    "demand.installation_window.end",
)
NUMBERS = {"demand.download_mbps", "demand.upload_mbps"}


# Sign-in ------------------------------------------------------------------------------


HOME = {Role.TECHNICIAN: "/console/jobs", Role.OPERATIONS: "/console/board"}
"""Where each role starts (the front desk, and anyone else: the orders)."""


@router.get("", response_class=RedirectResponse)
async def home(principal: SignedIn) -> RedirectResponse:
    return RedirectResponse(HOME.get(principal.role, "/console/orders"), status_code=303)


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str = "/console") -> HTMLResponse:
    return render(request, "login.html", next=_local(next))


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    users: UsersDep,
    name: Annotated[str, Form(max_length=100)] = "",
    password: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=500)] = "/console",
) -> Response:
    """A good name and password start a session; five failures in a row lock the name
    for a while, whatever the password tried next."""
    await form_of(request)
    user = await users.get_user(name)
    now = datetime.now(UTC)
    if user is not None and locked(user, now):
        await asyncio.to_thread(check_password, password, None)  # as slow as a real try
        return render(request, "login.html", status_code=429, error="locked", name=name, next=next)
    good, new_hash = await asyncio.to_thread(check_password, password, user)
    if user is None or not good or user.disabled:
        if user is not None and not good:
            until = await users.failed(user.name, now)
            if until is not None:
                return render(
                    request, "login.html", status_code=429, error="locked", name=name, next=next
                )
        return render(
            request, "login.html", status_code=401, error="bad_login", name=name, next=next
        )
    await users.signed_in(user.name, new_hash)
    sign_in(request, user.name)
    return RedirectResponse(_local(next), status_code=303)


@router.post("/logout")
async def logout(request: Request) -> RedirectResponse:
    await form_of(request)
    sign_out(request)
    return RedirectResponse("/console/login", status_code=303)


@router.get("/lang/{language}")
async def switch_language(language: str, next: str = "/console/orders") -> RedirectResponse:
    response = RedirectResponse(_local(next), status_code=303)
    if language in i18n.LANGUAGES:
        response.set_cookie(i18n.COOKIE, language, max_age=365 * 86400, samesite="lax")
    return response


def _local(path: str) -> str:
    """Only a path of the console: never a redirect to another site."""
    return (
        path
        if path.startswith("/console") and "//" not in path and "\\" not in path
        else "/console"
    )


# Orders ------------------------------------------------------------------------------


@router.get("/orders", response_class=HTMLResponse)
async def orders_page(
    request: Request,
    principal: SignedIn,
    orders: OrdersDep,
    q: Annotated[str, Query(max_length=100)] = "",
    status: Annotated[OrderStatus | None, Query()] = None,
    region: Annotated[str, Query(max_length=50)] = "",
    technician: Annotated[str, Query(max_length=50)] = "",
    page: Annotated[int, Query(ge=0, le=10_000)] = 0,
) -> HTMLResponse:
    """Orders, newest first, found by what the front desk types (``q``: reference,
    customer name, phone, street) and filtered; a technician sees their own jobs only."""
    if principal.role is Role.TECHNICIAN:
        technician = principal.subject
    size = 50
    found, total = await orders.list_orders(
        status=status,
        region=region or None,
        technician_id=technician.strip() or None,
        text=q.strip() or None,
        offset=page * size,
        limit=size,
    )
    return render(
        request,
        "orders.html",
        principal,
        orders=found,
        total=total,
        q=q,
        status=status.value if status else "",
        region=region,
        technician=technician,
        statuses=[s.value for s in OrderStatus],
        page=page,
        more=(page + 1) * size < total,
    )


@router.get("/orders/new", response_class=HTMLResponse)
async def new_order_page(request: Request, principal: SignedIn) -> HTMLResponse:
    require(principal, Role.FRONT_DESK, Role.OPERATIONS)
    reference = f"FD-{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(4).upper()}"
    values = {"external_reference": reference, "address.country": "CN"}
    return render(request, "order_new.html", principal, values=values, errors={})


@router.post("/orders", response_class=HTMLResponse)
async def create_order(
    request: Request,
    principal: SignedIn,
    orders: OrdersDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    regions: RegionsDep,
    catalog: CatalogDep,
    calendar: CalendarDep,
) -> Response:
    """The form's order, validated as ``POST /orders`` validates it and created by the
    same code (its visit booked with it if a slot was chosen); an error is shown at its
    field, with every value kept."""
    require(principal, Role.FRONT_DESK, Role.OPERATIONS)
    form = await form_of(request)
    values = {name: form.get(name, "").strip() for name in FORM_FIELDS}
    zone = form.get("timezone", "")
    try:
        body = OrderCreateRequest.model_validate_json(
            json.dumps(_nested(values, zone, operator_zone(request)))
        )
    except ValidationError as e:
        errors = i18n.field_errors(language_of(request), e)
        return render(
            request, "order_new.html", principal, 422, values=values, errors=errors, zone=zone
        )
    try:
        created = await ordering.create_order(
            body,
            actor=principal.actor,
            idempotency_key=None,
            orders=orders,
            temporal=temporal,
            task_queue=settings.task_queue,
            regions=regions,
            catalog=catalog,
            calendar=calendar,
        )
    except ProblemError as e:
        said = i18n.refusal(language_of(request), e)
        at_slot = e.code in BOOKING_REFUSALS  # the slot's refusals, told at the slot
        return render(
            request,
            "order_new.html",
            principal,
            e.status,
            values=values,
            errors={"appointment.start": said} if at_slot else {},
            refusal=None if at_slot else said,
            zone=zone,
        )
    return RedirectResponse(f"/console/orders/{created.order.id}", status_code=303)


def _nested(values: dict[str, str], zone: str, default: ZoneInfo) -> dict[str, Any]:
    """The form's flat fields as the API's JSON body: empty fields left out, numbers
    as numbers (anything else is left for the model to refuse), the window's local
    times in the browser's time zone (``default``, the operator's, if it sent none)."""
    body: dict[str, Any] = {}
    for name, value in values.items():
        if value == "":
            continue
        converted: Any = value
        if name in NUMBERS and value.isdecimal():
            converted = int(value)
        elif name.startswith("demand.installation_window."):
            converted = _instant(value, zone, default)
        *parents, leaf = name.split(".")
        target = body
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = converted
    return body


def _instant(local: str, zone: str, default: ZoneInfo) -> str:
    """A ``datetime-local`` value in the zone as an ISO instant (unchanged if it is not
    one, for the model to refuse)."""
    try:
        tz = ZoneInfo(zone) if zone else default
    except (ZoneInfoNotFoundError, ValueError):
        tz = default
    try:
        return datetime.fromisoformat(local).replace(tzinfo=tz).isoformat()
    except ValueError:
        return local


@router.get("/orders/{order_id}", response_class=HTMLResponse)
async def order_page(
    request: Request,
    order_id: str,
    principal: SignedIn,
    orders: OrdersDep,
    visits: VisitsDep,
) -> HTMLResponse:
    context = await _order_context(orders, principal, order_id)
    card = await visits.card(principal, context["order"], context["tasks"])
    return render(request, "order.html", principal, visit=card, **context)


@router.get("/orders/{order_id}/live", response_class=HTMLResponse)
async def order_live_part(
    request: Request, order_id: str, principal: SignedIn, orders: OrdersDep
) -> HTMLResponse:
    """The part of the order page that follows the order: what the page re-reads when
    the live feed says the order moved."""
    context = await _order_context(orders, principal, order_id)
    return render(request, "_order_live.html", principal, **context)


async def _order_context(orders: OrdersDep, principal: Principal, order_id: str) -> dict[str, Any]:
    order = await order_or_404(orders, order_id)
    await technicians_own(orders, principal, order_id)
    tasks = {t.kind: t for t in await orders.get_sub_tasks(order.id)}
    events = await orders.timeline(order.id)
    return {
        "order": order,
        "tasks": [tasks[k] for k in SubTaskKind if k in tasks],
        "events": events,
        "last_event": events[-1].id if events else 0,
        "open": order.status
        not in (OrderStatus.COMPLETED, OrderStatus.FAILED, OrderStatus.CANCELLED),
    }


async def _readable(order_id: str, principal: SignedIn, orders: OrdersDep) -> str:
    """The order's id, if the principal may read it (checked before a stream starts,
    while a refusal can still be answered)."""
    await order_or_404(orders, order_id)
    await technicians_own(orders, principal, order_id)
    return order_id


@router.get("/orders/{order_id}/events", response_class=EventSourceResponse)
async def order_events(
    request: Request,
    order_id: Annotated[str, Depends(_readable)],
    orders: OrdersDep,
    after: Annotated[int, Query(ge=0)] = 0,
) -> AsyncIterator[ServerSentEvent]:
    """The order's new events as they are recorded, each with its id: a browser that
    reconnects sends the last one it saw (``Last-Event-ID``) and misses nothing."""
    header = request.headers.get("last-event-id", "")
    seen = int(header) if header.isdecimal() else after
    feed: OrderFeed = request.app.state.order_feed
    async with feed.following(order_id) as woken:
        while not await request.is_disconnected():
            for event in await orders.timeline(order_id, after=seen):
                assert event.id is not None
                seen = event.id
                yield ServerSentEvent(
                    event="order",
                    id=str(event.id),
                    data={"kind": event.kind, "actor": event.actor, "at": event.at.isoformat()},
                )
            await feed.wait(woken)


@router.post("/orders/{order_id}/cancel")
async def cancel_order(
    request: Request,
    order_id: str,
    principal: SignedIn,
    orders: OrdersDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> Response:
    require(principal, Role.FRONT_DESK, Role.OPERATIONS)
    form = await form_of(request)
    reason = form.get("reason", "").strip()
    if not 1 <= len(reason) <= 1000:
        context = await _order_context(orders, principal, order_id)
        return render(request, "order.html", principal, 422, cancel_error="reason", **context)
    await ordering.cancel_order(
        await order_or_404(orders, order_id),
        reason=reason,
        actor=principal.actor,
        orders=orders,
        temporal=temporal,
        task_queue=settings.task_queue,
    )
    return RedirectResponse(f"/console/orders/{order_id}", status_code=303)


@router.post("/orders/{order_id}/visit")
async def book_visit(
    request: Request, order_id: str, principal: SignedIn, orders: OrdersDep, visits: VisitsDep
) -> Response:
    """Book the visit in the chosen slot, or move it there (as ``PUT
    /orders/{id}/appointment``); a refusal is shown on the card, the order page kept."""
    require(principal, Role.FRONT_DESK, Role.OPERATIONS)
    form = await form_of(request)
    try:
        await visits.book(order_id, form.get("start", ""), principal.actor)
    except ProblemError as e:
        return await _visit_refused(request, principal, order_id, e, orders, visits)
    return RedirectResponse(f"/console/orders/{order_id}", status_code=303)


@router.post("/orders/{order_id}/visit/withdraw")
async def withdraw_visit(
    request: Request, order_id: str, principal: SignedIn, orders: OrdersDep, visits: VisitsDep
) -> Response:
    """Withdraw the booked visit (as ``DELETE /orders/{id}/appointment``)."""
    require(principal, Role.FRONT_DESK, Role.OPERATIONS)
    await form_of(request)
    try:
        await visits.withdraw(order_id, principal.actor)
    except ProblemError as e:
        return await _visit_refused(request, principal, order_id, e, orders, visits)
    return RedirectResponse(f"/console/orders/{order_id}", status_code=303)


async def _visit_refused(
    request: Request,
    principal: Principal,
    order_id: str,
    refused: ProblemError,
    orders: OrdersDep,
    visits: Visits,
) -> HTMLResponse:
    """The order page again, the card saying why (and offering the slots free now); an
    unknown order is the 404 page."""
    if refused.status == 404:
        raise refused
    context = await _order_context(orders, principal, order_id)
    card = await visits.card(principal, context["order"], context["tasks"])
    message = i18n.refusal(language_of(request), refused)
    return render(
        request, "order.html", principal, refused.status, visit=card, visit_error=message, **context
    )


# Errors ------------------------------------------------------------------------------


async def not_signed_in(request: Request, exc: Exception) -> Response:
    target = f"/console/login?next={quote(request.url.path)}"
    if request.headers.get("hx-request"):
        return Response(status_code=401, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


async def bad_csrf(request: Request, exc: Exception) -> Response:
    return render(request, "error.html", status_code=403, message="csrf")


def console_problem(request: Request, exc: ProblemError) -> Response:
    """A console page's refusal (404, 403, 409) as a page, not a problem document."""
    message = {404: "not_found", 403: "forbidden"}.get(exc.status, "conflict")
    return render(
        request,
        "error.html",
        getattr(request.state, "principal", None),
        exc.status,
        message=message,
        detail=exc.detail if language_of(request) == i18n.DEFAULT else None,  # English
    )


HANDLERS = {NotSignedIn: not_signed_in, BadCsrf: bad_csrf}
