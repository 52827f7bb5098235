"""``workorders users``: who may sign in to the web console (on the database directly,
for whoever runs the system)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from workorders.auth import Role
from workorders.config import get_settings
from workorders.db import NotMigrated
from workorders.store import UnknownUser, UserExists, UserStore
from workorders.users import InvalidUser, WeakPassword, check_new_user, hash_password

app = typer.Typer(help="Who may sign in to the web console.", no_args_is_help=True)
console = Console()
T = TypeVar("T")

PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input.")
]


def _run(work: Callable[[UserStore], Awaitable[T]]) -> T:
    from workorders.startup import open_database  # only for the commands that need it

    async def run() -> T:
        try:
            db = await open_database(get_settings())
        except NotMigrated as e:
            raise _fail(str(e)) from None
        try:
            return await work(UserStore(db))
        finally:
            await db.dispose()

    return asyncio.run(run())


def _fail(message: str) -> typer.Exit:
    console.print(Text(message, style="red"))
    return typer.Exit(1)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        return hash_password(password)
    except WeakPassword as e:
        raise _fail(str(e)) from None


@app.command()
def add(
    name: Annotated[str, typer.Argument(help="The name they sign in with.")],
    role: Annotated[Role, typer.Option(help="What they may do.")],
    technician_id: Annotated[
        str | None, typer.Option(help="A technician's id (for the technician role).")
    ] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Add a user."""
    try:
        check_new_user(name, role, technician_id)
    except InvalidUser as e:
        raise _fail(str(e)) from None
    hashed = _password(password_stdin)
    try:
        _run(lambda users: users.add_user(name, role, hashed, technician_id=technician_id))
    except UserExists as e:
        raise _fail(str(e)) from None
    console.print(Text(f"added {name} ({role.value})"))


@app.command("reset-password")
def reset_password(name: str, password_stdin: PasswordStdin = False) -> None:
    """Give a user a new password (and lift a lockout)."""
    hashed = _password(password_stdin)
    _change(name, "password changed", password_hash=hashed)


@app.command()
def disable(name: str) -> None:
    """Stop a user from signing in (their open sessions end at their next request)."""
    _change(name, "disabled", disabled=True)


@app.command()
def enable(name: str) -> None:
    """Let a disabled user sign in again."""
    _change(name, "enabled", disabled=False)


def _change(
    name: str, done: str, *, password_hash: str | None = None, disabled: bool | None = None
) -> None:
    try:
        _run(lambda users: users.change_user(name, password_hash=password_hash, disabled=disabled))
    except UnknownUser as e:
        raise _fail(str(e)) from None
    console.print(Text(f"{name}: {done}"))


@app.command("list")
def list_users() -> None:
    """Every user, their role and whether they may sign in."""
    table = Table("name", "role", "technician", "state")
    for user in _run(lambda users: users.list_users()):
        state = "disabled" if user.disabled else ("locked" if user.locked_until else "active")
        table.add_row(*(Text(c) for c in (user.name, user.role, user.technician_id or "", state)))
    console.print(table)
