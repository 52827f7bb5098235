"""Pure ASGI middleware that guards every request before a route sees it.

- :class:`SecurityHeaders`: ``X-Content-Type-Options: nosniff`` on every response and
  ``Cache-Control: no-store`` on all but the probes' (what the API answers names
  customers);
- :class:`BodyLimit`: a body larger than ``max_request_body_bytes`` is a 413, told
  from its Content-Length or counted as it streams in, before anything reads it;
- :class:`Cors`: the browser origins of ``cors_origins`` may call the API, without
  credentials; in development they may also call the console's codec with them (the
  Temporal UI with the console's session, see :mod:`api.routes.codec`);
- :class:`RefuseNul`: a path or query holding U+0000 (``%00``) is a 422 (TMF641: 400),
  as a body holding one is (:mod:`models.text`): PostgreSQL cannot compare such a text;
- :class:`RequireToken`: a request to a route that needs a token and sends none (or
  one that is not valid) is a 401 before its body is parsed: FastAPI reads a route's
  JSON body before it resolves the route's dependencies, authentication among them.

Each answers with an error body of its own (:func:`api.errors.error_for`): a TMF
``Error`` under the TMF641 interface, a problem document elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.console.session import CONSOLE_CODEC
from api.errors import TMF641_BASE, error_for
from api.security import MISSING_TOKEN, Unauthenticated
from models.text import NUL
from workorders.auth import InvalidToken, read_token
from workorders.config import Settings

PROBES = frozenset({"/healthz", "/metrics"})
"""Paths that need no token and name no customer."""
PUBLIC = PROBES | {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
"""Paths that need no token."""
CONSOLE = "/console"
"""The web console's paths: signed in with a session, not a token."""


class SecurityHeaders:
    """``nosniff`` on every response; ``no-store`` on every one but the probes'."""

    def __init__(self, app: ASGIApp, uncached: Iterable[str] = PROBES) -> None:
        self.app = app
        self.cacheable = frozenset(uncached)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        store = scope["path"] not in self.cacheable

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Content-Type-Options"] = "nosniff"
                if store:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimit:
    """Refuses a request body larger than ``max_bytes`` with a 413.

    A Content-Length above the limit is refused before a byte is read; a body without
    one (chunked) is read up to the limit and refused as soon as it passes it.
    Otherwise the body, read in full, is handed on as it came.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await self._refuse(scope, receive, send, declared=length.isdigit())
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break  # the client left; the app hears it as it would have
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._refuse(scope, receive, send, declared=True)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, *, declared: bool) -> None:
        if declared:
            response = error_for(
                scope["path"],
                413,
                "Request body too large",
                f"a request body may have at most {self.max_bytes} bytes",
                code="BODY_TOO_LARGE",
            )
        else:
            response = error_for(
                scope["path"], 400, "Invalid Content-Length", "Content-Length is not a number"
            )
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


class RefuseNul:
    """Refuses a request whose path or query string holds U+0000 with a 422
    ``NUL_CHARACTER`` (400 under the TMF641 interface, as it answers bad input), before
    a route looks anything up with it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _holds_nul(scope):
            tmf = scope["path"].startswith(TMF641_BASE)  # TMF641 answers bad input with 400
            response = error_for(
                scope["path"],
                400 if tmf else 422,
                "NUL character",
                "a path or query may not contain the NUL character (U+0000, %00)",
                code="NUL_CHARACTER",
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _holds_nul(scope: Scope) -> bool:
    query: bytes = scope.get("query_string", b"")
    return NUL in scope["path"] or b"%00" in query or b"\x00" in query


class Cors:
    """CORS for ``cors_origins``: the API without credentials (it reads bearer tokens,
    never cookies); in development, the console's codec with credentials, answering
    the exact origin and ``Access-Control-Allow-Credentials: true``, so that the
    Temporal UI's fetch carries the console's session cookie. Outside development no
    route answers a credentialed cross-origin call."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        origins = settings.cors_origins
        self.api: ASGIApp = app
        self.codec: ASGIApp = app
        if origins:
            self.api = CORSMiddleware(
                app,
                allow_origins=origins,
                allow_methods=["GET", "POST", "PATCH"],
                allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Namespace"],
            )
        if origins and settings.environment == "development":
            self.codec = CORSMiddleware(
                app,
                allow_origins=origins,
                allow_methods=["POST"],
                allow_headers=["Content-Type", "X-Namespace"],
                allow_credentials=True,
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(CONSOLE_CODEC + "/"):
            await self.codec(scope, receive, send)
        else:
            await self.api(scope, receive, send)


class RequireToken:
    """A 401 for a request to a route that needs a token, without one that is valid.

    The routes still check the token's role (:mod:`api.security`); this only keeps a
    caller without a token from reaching them, and their body parsing, at all. The
    console's routes (the Temporal UI's codec among them) read the console's session
    instead.
    """

    def __init__(self, app: ASGIApp, settings: Settings, public: Iterable[str] = PUBLIC) -> None:
        self.app = app
        self.settings = settings
        self.public = frozenset(public)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] in self.public
            or scope["path"] == CONSOLE
            or scope["path"].startswith(CONSOLE + "/")
        ):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        scheme, _, token = headers.get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            await self._refuse(scope, receive, send, Unauthenticated(MISSING_TOKEN))
            return
        try:
            read_token(self.settings, token)
        except InvalidToken as e:
            await self._refuse(scope, receive, send, Unauthenticated(str(e)))
            return
        await self.app(scope, receive, send)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, error: Unauthenticated) -> None:
        response = error_for(
            scope["path"], error.status, error.title, error.detail, code=error.code
        )
        response.headers.update(error.headers)
        await response(scope, receive, send)
