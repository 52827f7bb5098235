"""The web console's users in the database (the rules are :mod:`workorders.users`')."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from models.tables import ConsoleUser, utcnow
from workorders.auth import Role
from workorders.store.base import TABLES, Store, load
from workorders.users import LOCKOUT, MAX_FAILURES

_USERS = TABLES["console_user"]
_USER = _USERS.c


class UserExists(ValueError):
    """A user of that name exists already."""


class UnknownUser(LookupError):
    """No user of that name."""


class UserStore(Store):
    """Who may sign in to the console."""

    async def add_user(
        self, name: str, role: Role, password_hash: str, *, technician_id: str | None = None
    ) -> ConsoleUser:
        """Raises:
        UserExists: the name is taken.
        """
        user = ConsoleUser(
            name=name, role=role.value, password_hash=password_hash, technician_id=technician_id
        )

        def work(connection: Connection) -> ConsoleUser:
            try:
                connection.execute(insert(_USERS), user.model_dump())
            except IntegrityError:
                raise UserExists(f"user {name!r} exists already") from None
            return user

        return await self.db.transaction(work)

    async def get_user(self, name: str) -> ConsoleUser | None:
        def work(connection: Connection) -> ConsoleUser | None:
            row = connection.execute(select(_USERS).where(_USER.name == name)).first()
            return load(ConsoleUser, row) if row is not None else None

        return await self.db.transaction(work)

    async def list_users(self) -> list[ConsoleUser]:
        return await self.db.transaction(
            lambda connection: [
                load(ConsoleUser, row)
                for row in connection.execute(select(_USERS).order_by(_USER.name))
            ]
        )

    async def change_user(
        self,
        name: str,
        *,
        password_hash: str | None = None,
        disabled: bool | None = None,
    ) -> ConsoleUser:
        """A new password (which also lifts a lockout), or the user disabled / enabled.

        Raises:
            UnknownUser: no such user.
        """
        values: dict[str, object] = {"updated_at": utcnow()}
        if password_hash is not None:
            values.update(password_hash=password_hash, failed_logins=0, locked_until=None)
        if disabled is not None:
            values["disabled"] = disabled

        def work(connection: Connection) -> ConsoleUser:
            row = connection.execute(
                update(_USERS).where(_USER.name == name).values(values).returning(_USERS)
            ).first()
            if row is None:
                raise UnknownUser(f"no user {name!r}")
            return load(ConsoleUser, row)

        return await self.db.transaction(work)

    async def signed_in(self, name: str, new_hash: str | None) -> None:
        """A good sign-in: the failures are forgotten (and an outdated hash replaced)."""
        values: dict[str, object] = {"failed_logins": 0, "locked_until": None}
        if new_hash is not None:
            values["password_hash"] = new_hash
        await self.db.transaction(
            lambda connection: connection.execute(
                update(_USERS).where(_USER.name == name).values(values)
            )
        )

    async def failed(self, name: str, now: datetime) -> datetime | None:
        """A failed sign-in of an existing user; when the name is now locked until, if
        this was the failure too many."""

        def work(connection: Connection) -> datetime | None:
            count = connection.execute(
                update(_USERS)
                .where(_USER.name == name)
                .values(failed_logins=_USER.failed_logins + 1)
                .returning(_USER.failed_logins)
            ).scalar_one()
            if count < MAX_FAILURES:
                return None
            until = now + LOCKOUT
            connection.execute(
                update(_USERS).where(_USER.name == name).values(failed_logins=0, locked_until=until)
            )
            return until

        return await self.db.transaction(work)
