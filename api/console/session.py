"""Who is signed in to the console, and the CSRF token of their forms.

The session is Starlette's signed cookie (``SessionMiddleware``, HttpOnly, SameSite=Lax,
Secure outside development), expiring ``console_session_minutes`` after the last
request. It holds the user's name and a CSRF token; every request reads the user again,
so a user disabled or removed is signed out at once. Every form carries the token, and
every POST is refused without it.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import FormData

from api.deps import get_users
from workorders.auth import Principal
from workorders.store import UserStore
from workorders.users import principal_of

USER, CSRF = "user", "csrf"


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


SignedIn = Annotated[Principal, Depends(signed_in)]
