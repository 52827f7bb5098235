"""The people's web console, served by the API process under ``/console``:
server-rendered pages (Jinja2, htmx shipped as a pinned static file), live over
Server-Sent Events, signed in with a name and password in a session cookie.

:func:`install` adds it to the API app: its routes, static files, session and error
pages. The bearer-token API is untouched; the console's routes read the session. The
Temporal UI's codec in development (``/console/codec``, :mod:`api.routes.codec`) reads
it too, and answers problem documents, not pages.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import Response

from api.console import board, jobs, technicians, users, visits
from api.console.pages import HANDLERS, console_problem, router
from api.console.session import CONSOLE_CODEC
from api.errors import ProblemError
from workorders.config import Settings
from workorders.feed import OrderFeed

PREFIX = "/console"
SESSION_COOKIE = "workorders_console"


def install(app: FastAPI, settings: Settings) -> None:
    """The console's routes, static files, session and error pages on ``app``; its
    order feed (``app.state.order_feed``) is closed by the app's lifespan."""
    app.state.order_feed = OrderFeed(settings.effective_database_url)
    app.state.boards = board.Boards()
    for pages in (
        router,
        jobs.router,
        board.router,
        technicians.router,
        users.router,
        visits.router,
    ):
        app.include_router(pages)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=Path(__file__).parent / "static"), "static")
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.auth_secret.get_secret_value(),
        session_cookie=SESSION_COOKIE,
        max_age=settings.console_session_minutes * 60,
        path=PREFIX,
        same_site="lax",
        https_only=settings.environment == "production",
    )
    for error, handler in HANDLERS.items():
        app.add_exception_handler(error, handler)
    api_problem = app.exception_handlers[ProblemError]

    async def problem_or_page(request: Request, exc: Exception) -> Response:
        path = request.url.path
        page = path.startswith(PREFIX) and not path.startswith(CONSOLE_CODEC + "/")
        if page and isinstance(exc, ProblemError):
            return console_problem(request, exc)
        response: Response = await api_problem(request, exc)  # type: ignore[misc]
        return response

    app.add_exception_handler(ProblemError, problem_or_page)
