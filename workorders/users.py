"""The people who sign in to the web console: their passwords and their lockout.

Passwords are hashed with argon2 (pwdlib's recommended hasher); a hash made with
older parameters is replaced at the next good sign-in. After ``MAX_FAILURES`` failed
sign-ins in a row a name is locked for ``LOCKOUT``, across every API process (the
count is in the database). A person signs in as a :class:`workorders.auth.Principal`
of their role, so the console decides what they may do exactly as the API does.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pwdlib import PasswordHash

from models.tables import ConsoleUser
from workorders.auth import Principal, Role

MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=5)
MIN_PASSWORD = 8
MAX_PASSWORD = 200

_hasher = PasswordHash.recommended()
_NOBODY = _hasher.hash("a password of nobody, to answer an unknown name as slowly")


class WeakPassword(ValueError):
    """A password too short or too long."""


class InvalidUser(ValueError):
    """A new user's name, or role and technician, that cannot be."""


def check_new_user(name: str, role: Role, technician_id: str | None) -> None:
    """Raises:
    InvalidUser: a name of other than 1 to 100 printable characters (or with spaces
        around), or a technician id given for another role than technician, or not
        given for it.
    """
    if not 1 <= len(name) <= 100 or not name.isprintable() or name != name.strip():
        raise InvalidUser("a name has 1 to 100 printable characters, without spaces around")
    if (role is Role.TECHNICIAN) != (technician_id is not None):
        raise InvalidUser("a technician id is given for the technician role, and only for it")


def hash_password(password: str) -> str:
    """Raises:
    WeakPassword: shorter than MIN_PASSWORD or longer than MAX_PASSWORD characters.
    """
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise WeakPassword(f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    return _hasher.hash(password)


def check_password(password: str, user: ConsoleUser | None) -> tuple[bool, str | None]:
    """Whether ``password`` is the user's, and a new hash for it when the stored one
    was made with older parameters. An unknown user (``None``) costs as much time as a
    known one, so the answer's time tells nobody which names exist."""
    if user is None:
        _hasher.verify(password[:MAX_PASSWORD], _NOBODY)
        return False, None
    return _hasher.verify_and_update(password[:MAX_PASSWORD], user.password_hash)


def locked(user: ConsoleUser, now: datetime) -> bool:
    return user.locked_until is not None and user.locked_until > now


def principal_of(user: ConsoleUser) -> Principal:
    """Whom the user acts as: a technician as their technician id (as their token
    names them), anyone else by their name."""
    role = Role(user.role)
    subject = user.technician_id if role is Role.TECHNICIAN and user.technician_id else user.name
    return Principal(subject=subject, role=role)


def demo_users(technician_ids: list[str]) -> list[tuple[str, Role, str | None, str]]:
    """The users development seeds: ``(name, role, technician id, password)``, one of
    each role (the technician is the first seeded one). Never outside development."""
    users: list[tuple[str, Role, str | None, str]] = [
        ("front-desk", Role.FRONT_DESK, None, "front-desk-demo"),
        ("operations", Role.OPERATIONS, None, "operations-demo"),
    ]
    if technician_ids:
        first = technician_ids[0]
        users.append((first, Role.TECHNICIAN, first, "technician-demo"))
    return users


def console_lines(console_url: str, technician_ids: list[str]) -> list[str]:
    """What ``workorders up`` shows of the console in development."""
    lines = [f"Console {console_url}  (development users, name / password):"]
    for name, role, _, password in demo_users(technician_ids):
        lines.append(f"  {role.value:<11} {name:<18} {password}")
    return lines
