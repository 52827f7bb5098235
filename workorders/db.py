"""The database engine: SQLite by default, PostgreSQL in production. Its schema is
kept by the Alembic migrations in ``migrations/``.

The code that reads and writes it is synchronous SQLAlchemy Core on the drivers
pysqlite and psycopg, and :meth:`Database.transaction` runs each unit of work (one
transaction on one connection) in a thread of the database's own, off the event loop.
Through SQLAlchemy's asyncio layer and the aiosqlite driver every statement paid for
several hops between the loop and a driver thread: measured on this project's 2-core
machine, a primary-key read of an order took 1.9 ms of CPU that way against 0.5 ms
synchronously (0.15 ms without the ORM)."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, event, insert, inspect, select, text
from sqlalchemy import create_engine as sqlalchemy_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

import models.tables  # noqa: F401  (registers the tables on SQLModel.metadata)
from migrations import SCRIPT_LOCATION
from models.tables import OltRecord, RegionRecord, Technician
from workorders.reference import Region, Regions

log = logging.getLogger("workorders.db")
T = TypeVar("T")

MIGRATION_LOCK = 0x776F726B6F72
"""The PostgreSQL advisory lock under which one process at a time changes the schema."""


class MigrationError(RuntimeError):
    """The schema cannot be brought to head: a database made without migrations whose
    tables differ from the models, or a migration that broke foreign keys."""


class NotMigrated(RuntimeError):
    """The database is not at the newest migration: a process refuses to start on it.
    ``workorders migrate`` brings it there."""


SYNCHRONOUS_DRIVERS = {
    "sqlite+aiosqlite": "sqlite",
    "postgresql": "postgresql+psycopg",
    "postgresql+asyncpg": "postgresql+psycopg",
}
"""Drivers named in a URL that the engine reads as these (the asyncio ones of earlier
versions, and PostgreSQL's default, psycopg2, which is not installed)."""


def engine_url(url: str) -> URL:
    """The URL the engine uses for ``url``: the same database, on a synchronous driver."""
    parsed = make_url(url)
    driver = SYNCHRONOUS_DRIVERS.get(parsed.drivername)
    return parsed.set(drivername=driver) if driver else parsed


def create_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for ``url``; SQLite gets WAL and a busy timeout, since the API and the
    worker write to the same file from two processes."""
    parsed = engine_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sqlalchemy_engine(
            parsed, echo=echo, connect_args={"timeout": 30, "check_same_thread": False}
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            _switch_to_wal(cursor)
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return sqlalchemy_engine(parsed, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _switch_to_wal(cursor: Any, tries: int = 100) -> None:
    """Put the database in WAL mode. The first connections to a new database race to
    switch it, and SQLite answers the loser "database is locked" at once instead of
    waiting out the busy timeout: try again, briefly."""
    for attempt in range(tries):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except Exception as e:
            if "database is locked" not in str(e) or attempt == tries - 1:
                raise
            time.sleep(0.05)


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration without ``alembic.ini``: the shipped migrations, run on
    ``connection`` when one is given (else on the settings' database)."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@contextmanager
def schema_lock(connection: Connection) -> Iterator[None]:
    """One transaction on ``connection`` in which this process alone changes the schema.

    Two ``workorders migrate`` may run at the same moment (two hosts deploying):
    PostgreSQL serialises them with an advisory lock, SQLite with ``BEGIN IMMEDIATE``.
    Both run the DDL in that transaction, so a migration that fails leaves nothing
    behind. SQLite's foreign keys are off meanwhile (Alembic's batch mode copies
    tables), and checked before the commit.
    """
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:  # a no-op inside a transaction: before it
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
    try:
        with connection.begin():
            if sqlite:
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            elif connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK}
                )
            yield
            if sqlite and (broken := connection.exec_driver_sql("PRAGMA foreign_key_check").all()):
                raise MigrationError(f"the migration broke foreign keys: {broken}")
    finally:
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()


def _upgrade(connection: Connection) -> None:
    config = alembic_config(connection)
    with schema_lock(connection):
        _adopt_unversioned(connection, config)
        command.upgrade(config, "head")


def _revisions(connection: Connection) -> tuple[str | None, str | None]:
    """The database's Alembic revision (None when it has none) and the newest one."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    return MigrationContext.configure(connection).get_current_revision(), head


def _adopt_unversioned(connection: Connection, config: Config) -> None:
    """Stamp a database made by ``create_all`` before there were migrations.

    Such a database has the work-order tables and no ``alembic_version``. Missing
    tables are added first, as ``create_all`` used to on every start; then, if the
    schema is exactly the models', it is stamped as the newest revision. A schema that
    differs is refused: nothing guesses which revision it stands at.
    """
    tables = set(inspect(connection).get_table_names())
    if "alembic_version" in tables or not tables & set(SQLModel.metadata.tables):
        return
    SQLModel.metadata.create_all(connection)
    differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    if differences:
        raise MigrationError(
            "the database has work-order tables but no Alembic version, and they differ"
            f" from the models: {differences}. Bring them in line and run"
            " `alembic stamp head`, or start from an empty database."
        )
    command.stamp(config, "head")
    log.warning("a database without migration history matches the models: stamped head")


SQLITE_THREADS = 2
"""Database threads of a process on SQLite: it has one writer, and more threads than the
cores only contend for the GIL (measured: ~10% more orders/s than with 10)."""
SERVER_THREADS = 10
"""Database threads of a process on PostgreSQL, whose round trips release the GIL."""


def _region_record(region: Region) -> RegionRecord:
    return RegionRecord(
        id=region.code,
        name=region.name,
        country=region.country,
        province=region.province,
        city=region.city,
        districts=region.districts,
        postcode_prefixes=region.postcode_prefixes,
        vlan_low=region.vlan_range[0],
        vlan_high=region.vlan_range[1],
        installation_hours=region.installation_hours,
        jeopardy_hours=region.jeopardy_hours,
        test_servers=region.test_servers,
    )


class Database:
    """The engine, its sessions and the threads they run in; one per process."""

    def __init__(self, engine: Engine, threads: int | None = None) -> None:
        self.engine = engine
        if threads is None:
            threads = SQLITE_THREADS if engine.dialect.name == "sqlite" else SERVER_THREADS
        self._threads = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="database")

    @classmethod
    def from_url(cls, url: str, *, echo: bool = False, threads: int | None = None) -> Database:
        return cls(create_engine(url, echo=echo), threads)

    async def transaction(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` as one transaction on a connection of its own, in one of the
        database's threads (with this task's context variables, so its log lines name
        the order): committed when ``work`` returns, rolled back if it raises. ``work``
        may roll back itself to start over (``connection.rollback()``), as a unit that
        lost a race does before it looks again."""

        def unit() -> T:
            with self.engine.connect() as connection:
                done = work(connection)
                connection.commit()
                return done

        return await self._in_thread(unit)

    async def run_on_connection(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` on a connection of its own, in one of the database's threads."""

        def unit() -> T:
            with self.engine.connect() as connection:
                return work(connection)

        return await self._in_thread(unit)

    async def _in_thread(self, unit: Callable[[], T]) -> T:
        context = contextvars.copy_context()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, functools.partial(context.run, unit))

    async def migrate(self) -> None:
        """Bring the schema to the newest migration (``alembic upgrade head``).

        Safe to call from several processes at once, and again: a database at head is
        left alone (``workorders migrate`` runs it once before the processes start). A
        database made by ``create_all`` before there were migrations is stamped if its
        schema matches the models, else refused (:class:`MigrationError`).
        """
        await self.run_on_connection(_upgrade)

    async def require_migrated(self) -> None:
        """Refuse a database that is not at the newest migration.

        Raises:
            NotMigrated: it has no migration history, or an older (or unknown) revision.
        """
        current, head = await self.run_on_connection(_revisions)
        if current != head:
            raise NotMigrated(
                f"database not migrated (at revision {current or 'none'}, the code needs"
                f" {head}): run `workorders migrate`"
            )

    async def seed(self, regions: Regions) -> None:
        """Add the shipped regions to a database that has none (the migration adds
        them; a database made otherwise lacks them), then the shipped technicians that
        the database does not have yet, of the regions it has (a technician is never
        removed, only deactivated), and the shipped OLTs of each of its regions that
        has no OLT yet. A region the operator removed is not brought back, nor an OLT
        the operator took out of a region that still has others (``remove = true``: a
        later ``workorders migrate`` must not put a decommissioned OLT back to work)."""
        tables = SQLModel.metadata.tables
        technician, olt, region_table = tables["technician"], tables["olt"], tables["region"]

        def work(connection: Connection) -> None:
            known = set(connection.execute(select(region_table.c.id)).scalars())
            new_regions = [] if known else [_region_record(r) for r in regions]
            known |= {r.id for r in new_regions}
            technicians = set(connection.execute(select(technician.c.id)).scalars())
            olts = set(connection.execute(select(olt.c.id)).scalars())
            equipped = set(connection.execute(select(olt.c.region).distinct()).scalars())
            new_technicians = [
                Technician(id=t.id, name=t.name, regions=[region.code], skills=t.skills)
                for region in regions
                if region.code in known
                for t in region.technicians
                if t.id not in technicians
            ]
            new_olts = [
                OltRecord(
                    id=o.id,
                    region=region.code,
                    pon_ports=o.pon_ports,
                    onts_per_port=o.onts_per_port,
                    vlan_low=region.vlan_range[0],
                    vlan_high=region.vlan_range[1],
                )
                for region in regions
                if region.code in known and region.code not in equipped
                for o in region.olts
                if o.id not in olts
            ]
            try:
                if new_regions:
                    connection.execute(insert(region_table), [r.model_dump() for r in new_regions])
                if new_technicians:
                    connection.execute(
                        insert(technician), [t.model_dump() for t in new_technicians]
                    )
                if new_olts:
                    connection.execute(insert(olt), [o.model_dump() for o in new_olts])
            except IntegrityError:  # another process seeded them at the same moment
                connection.rollback()

        await self.transaction(work)

    async def dispose(self) -> None:
        """Close the engine's connections once the work in the threads has ended."""
        await asyncio.get_running_loop().run_in_executor(None, self._close)

    def _close(self) -> None:
        self._threads.shutdown(wait=True)
        self.engine.dispose()
