"""Bearer authentication and the role each route needs (see :mod:`workorders.auth`).

No token, or one that is not valid: 401 with ``WWW-Authenticate: Bearer``. A valid
token whose role may not do this, or a technician asking for another technician's
job: 403.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.deps import SettingsDep
from api.errors import ProblemError
from workorders.auth import InvalidToken, Principal, Role, read_token

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="A token from `workorders token ROLE NAME` (development mode prints some"
    " at start): `Authorization: Bearer <token>`.",
)


MISSING_TOKEN = "send a bearer token: Authorization: Bearer <token>"


class Unauthenticated(ProblemError):
    def __init__(self, detail: str) -> None:
        super().__init__(
            401,
            "Not authenticated",
            detail,
            code="UNAUTHENTICATED",
            headers={"WWW-Authenticate": 'Bearer realm="workorders"'},
        )


class Forbidden(ProblemError):
    def __init__(self, detail: str) -> None:
        super().__init__(403, "Forbidden", detail, code="FORBIDDEN")


async def authenticate(
    request: Request,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The principal of the request's bearer token."""
    if credentials is None:
        raise Unauthenticated(MISSING_TOKEN)
    try:
        principal = read_token(settings, credentials.credentials)
    except InvalidToken as e:
        raise Unauthenticated(str(e)) from None
    request.state.principal = principal
    return principal


def require_roles(*roles: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets only these roles through."""
    allowed = ", ".join(r.value for r in roles)

    async def check(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if principal.role not in roles:
            raise Forbidden(f"{principal.role.value} may not do this; it needs {allowed}")
        return principal

    return check


async def require_technician_self(
    technician_id: str, principal: Annotated[Principal, Depends(authenticate)]
) -> Principal:
    """Operations, or the technician ``technician_id`` themself."""
    if principal.role is Role.OPERATIONS:
        return principal
    if principal.role is Role.TECHNICIAN and principal.subject == technician_id:
        return principal
    raise Forbidden(f"only {technician_id} or operations may see these jobs")


async def require_codec_access(principal: Annotated[Principal, Depends(authenticate)]) -> None:
    """Operations may encode and decode payloads through ``/codec``, with a bearer token
    only: the CLI's ``--codec-auth``. (The Temporal UI's way in development is the
    console's session: :func:`api.console.session.require_codec_session`.)"""
    if principal.role is not Role.OPERATIONS:
        raise Forbidden("only operations may encode or decode payloads")


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]
Operations = Annotated[Principal, Depends(require_roles(Role.OPERATIONS))]
FrontDeskOrOperations = Annotated[
    Principal, Depends(require_roles(Role.FRONT_DESK, Role.OPERATIONS))
]
TechnicianSelf = Annotated[Principal, Depends(require_technician_self)]
CodecAccess = Depends(require_codec_access)
