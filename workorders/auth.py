"""Who may do what: the API's roles and its bearer tokens.

Tokens are JWTs signed with ``WORKORDERS_AUTH_SECRET`` (HS256). Each names its holder
(``sub``: a user name, or the technician's id) and their role (``role``). Tokens are
issued by ``workorders token`` (and, in development, printed at start); the API reads
them from ``Authorization: Bearer <token>``.

The roles:

- ``front_desk``: creates orders, follows them, cancels them on the customer's behalf;
- ``technician``: reads their own jobs and reports on them, nothing else;
- ``operations``: everything, including technicians, inventory and decisions on orders
  waiting for operations.
"""

from __future__ import annotations

import functools
import time
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import jwt
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from workorders.config import Settings

ISSUER = "workorders"
AUDIENCE = "workorders-api"
ALGORITHM = "HS256"


class Role(StrEnum):
    FRONT_DESK = "front_desk"
    TECHNICIAN = "technician"
    OPERATIONS = "operations"


class Principal(BaseModel):
    """The holder of a valid token."""

    model_config = ConfigDict(frozen=True)

    subject: str = Field(min_length=1, max_length=100)
    """A user name; for a technician, their technician id."""
    role: Role

    @property
    def actor(self) -> str:
        """How the order's timeline names them: ``operations:alice``."""
        return f"{self.role.value}:{self.subject}"


class InvalidToken(Exception):
    """A token that is malformed, forged, expired or for another audience."""


def issue_token(
    settings: Settings, role: Role, subject: str, *, ttl: timedelta | None = None
) -> str:
    """A signed token for ``subject`` in ``role``, valid for ``ttl`` (the settings'
    ``token_ttl_h`` by default)."""
    principal = Principal(subject=subject, role=role)
    now = datetime.now(UTC)
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": principal.subject,
        "role": principal.role.value,
        "iat": now,
        "exp": now + (ttl or timedelta(hours=settings.token_ttl_h)),
    }
    return jwt.encode(claims, settings.auth_secret.get_secret_value(), algorithm=ALGORITHM)


def read_token(settings: Settings, token: str) -> Principal:
    """The principal a token names.

    A token once verified is remembered (a technician's app sends the same one with
    every request) until it expires; its signature is checked again only when it has
    been forgotten among many others.

    Raises:
        InvalidToken: the token is not one this system issued, or has expired.
    """
    principal, expires = _verified(settings.auth_secret.get_secret_value(), token)
    if time.time() >= expires:
        raise InvalidToken("the token has expired")
    return principal


@functools.lru_cache(maxsize=4096)
def _verified(secret: str, token: str) -> tuple[Principal, float]:
    """The principal of a token this system signed with ``secret``, and when the token
    expires (an invalid token raises, and is not remembered)."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "sub", "aud", "iss"]},
        )
        return Principal(subject=claims["sub"], role=claims.get("role")), float(claims["exp"])
    except jwt.ExpiredSignatureError:
        raise InvalidToken("the token has expired") from None
    except (jwt.InvalidTokenError, ValidationError, KeyError, TypeError, ValueError):
        raise InvalidToken("the token is not valid") from None


DEVELOPMENT_USERS = (
    (Role.FRONT_DESK, "front-desk"),
    (Role.OPERATIONS, "operations"),
)
"""Whom development mode prints tokens for at start, besides the seeded technicians."""


def development_principals(technician_ids: list[str]) -> list[Principal]:
    """Whom development mode prints tokens for: the front desk, operations and each
    technician shipped with the regions."""
    return [
        *(Principal(role=role, subject=subject) for role, subject in DEVELOPMENT_USERS),
        *(Principal(role=Role.TECHNICIAN, subject=t) for t in technician_ids),
    ]


def development_credentials(settings: Settings, technician_ids: list[str]) -> list[str]:
    """The lines that show development tokens (valid 30 days); nothing outside
    development."""
    if settings.environment != "development":
        return []
    lines = [
        "Credentials (development only; `workorders token ROLE NAME` issues more):",
    ]
    for principal in development_principals(technician_ids):
        token = issue_token(settings, principal.role, principal.subject, ttl=timedelta(days=30))
        lines.append(f"  {principal.role.value:<11} {principal.subject:<14} {token}")
    return lines
