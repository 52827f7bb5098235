"""Who is signed in to the console, and the CSRF token of their forms.

The session is Starlette's signed cookie (``SessionMiddleware``, HttpOnly, SameSite=Lax,
Secure outside development), expiring ``console_session_minutes`` after the last
request. It holds the user's name and a CSRF token; every request reads the user again,
so a user disabled or removed is signed out at once. Every form carries the token, and
every POST is refused without it.

The session also lets the Temporal UI decode in development
(:func:`require_codec_session`, :mod:`api.routes.codec`).
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import FormData

from api.deps import SettingsDep, get_users
from api.errors import ProblemError
from api.security import Forbidden
from workorders.auth import Principal, Role
from workorders.store import UserStore
from workorders.users import principal_of

USER, CSRF = "user", "csrf"
CONSOLE_CODEC = "/console/codec"
"""The Temporal UI's codec in development (:mod:`api.routes.codec`), under the console's
path so that the browser sends the session's cookie to it."""


class NotSignedIn(Exception):
    """No valid session: the console sends the browser to the sign-in page."""


class BadCsrf(Exception):
    """A form without the session's CSRF token."""


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made at its first use."""
    token = request.session.get(CSRF)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session[CSRF] = token
    return token


def check_csrf(request: Request, form: FormData) -> None:
    """Raises:
    BadCsrf: the form's token is missing or not the session's.
    """
    sent, expected = form.get(CSRF), request.session.get(CSRF)
    if not isinstance(sent, str) or not isinstance(expected, str):
        raise BadCsrf
    if not secrets.compare_digest(sent.encode(), expected.encode()):
        raise BadCsrf


def sign_in(request: Request, name: str) -> None:
    """A new session for ``name`` (a new CSRF token too: nothing of the session before
    the sign-in is kept)."""
    request.session.clear()
    request.session[USER] = name
    csrf_token(request)


def sign_out(request: Request) -> None:
    request.session.clear()


async def signed_in(request: Request, users: Annotated[UserStore, Depends(get_users)]) -> Principal:
    """The principal of the session's user.

    Raises:
        NotSignedIn: no session, or its user is gone or disabled.
    """
    name = request.session.get(USER)
    if not isinstance(name, str):
        raise NotSignedIn
    user = await users.get_user(name)
    if user is None or user.disabled:
        request.session.clear()
        raise NotSignedIn
    principal = principal_of(user)
    request.state.principal = principal
    return principal


class SignInForCodec(ProblemError):
    def __init__(self, detail: str) -> None:
        super().__init__(401, "Not signed in", detail, code="NOT_SIGNED_IN")


async def require_codec_session(
    request: Request, settings: SettingsDep, users: Annotated[UserStore, Depends(get_users)]
) -> Principal:
    """The Temporal UI's codec calls in development: a console session of an operations
    user, sent by a browser page of one of the allowed origins (``cors_origins``, the
    Temporal UI of ``workorders up``). Never outside development.

    The session cookie is what no other local client can send: it is HttpOnly, set only
    after an operator's name and password, and a browser sends it only from a page of
    the same site; only the allowed origins may read the answers (CORS). See
    :mod:`api.routes.codec` for why the UI decodes this way.
    """
    if settings.environment != "development":
        raise Forbidden(
            "the console's codec is for development only: use /codec with an operations token"
        )
    origin = request.headers.get("origin")
    if origin is None or origin not in settings.cors_origins:
        raise Forbidden("the console's codec answers only the Temporal UI's pages (its Origin)")
    try:
        principal = await signed_in(request, users)
    except NotSignedIn:
        raise SignInForCodec(
            f"sign in to the console ({settings.api_url}/console) as an operations user, and"
            " have the Temporal UI include cross-origin credentials"
        ) from None
    if principal.role is not Role.OPERATIONS:
        raise Forbidden("only operations may encode or decode payloads")
    return principal


SignedIn = Annotated[Principal, Depends(signed_in)]
CodecSession = Depends(require_codec_session)
