"""What the console's pages share: their templates, rendered in the reader's language
with the session's CSRF token, the role a page needs, and a form read only with its
token."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.sse import ServerSentEvent
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from api.console import i18n
from api.console.session import check_csrf, csrf_token
from api.errors import ProblemError
from workorders.auth import Principal, Role
from workorders.feed import ANY_ORDER, OrderFeed

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def language_of(request: Request) -> str:
    return i18n.choose(request.cookies.get(i18n.COOKIE), request.headers.get("accept-language"))


def render(
    request: Request,
    template: str,
    principal: Principal | None = None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    language = language_of(request)
    return templates.TemplateResponse(
        request,
        template,
        {
            "t": i18n.translator(language),
            "lang": language,
            "languages": i18n.LANGUAGES,
            "csrf": csrf_token(request),
            "principal": principal,
            "Role": Role,
            "path": request.url.path,
            "operator_zone": operator_zone(request),
            **context,
        },
        status_code=status_code,
    )


def operator_zone(request: Request) -> ZoneInfo:
    """The operator's time zone (``Settings.time_zone``), in which pages show times."""
    return _zone(request.app.state.settings.time_zone)


@functools.cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def require(principal: Principal, *roles: Role) -> None:
    if principal.role not in roles:
        raise ProblemError(403, "Forbidden", f"{principal.role.value} may not do this")


async def form_data(request: Request) -> FormData:
    """The form, every value of each field (checkboxes), once its CSRF token is checked."""
    form = await request.form()
    check_csrf(request, form)
    return form


async def form_of(request: Request) -> dict[str, str]:
    """The form's text fields, one value each, once its CSRF token is checked."""
    form = await form_data(request)
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def moves(
    request: Request,
    since: int,
    last_event_id: Callable[[], Awaitable[int]],
    read: Callable[[int], Awaitable[object]],
) -> AsyncIterator[ServerSentEvent]:
    """An event each time what a page shows (``read``) may have changed since it was
    rendered at timeline line ``since``: woken by any order's new line, it reads again
    (as of the newest line, ``read(last)``)
    and says so only if the page would differ. Each event's id is the line it saw, so
    a browser that reconnects (``Last-Event-ID``) hears of what passed meanwhile."""
    header = request.headers.get("last-event-id", "")
    seen = int(header) if header.isdecimal() else since
    shown: object = None
    feed: OrderFeed = request.app.state.order_feed
    async with feed.following(ANY_ORDER) as woken:
        while not await request.is_disconnected():
            last = await last_event_id()
            if last > seen:
                seen = last
                now = await read(last)
                if now != shown:
                    shown = now
                    yield ServerSentEvent(event="moved", id=str(seen), data={"at": seen})
            await feed.wait(woken)
