"""The Alembic migrations against the models, on SQLite and on PostgreSQL: from an empty
database to head and back, again and again, started by several engines at once (as the
API and the worker do), from the command line, and for databases made by ``create_all``
before there were migrations."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text
from sqlmodel import SQLModel, func, select

from models.enums import OrderStatus, SubTaskKind, SubTaskStatus
from models.payloads import OrderDecision, SubTaskOutcome
from models.tables import Technician
from tests.conftest import PostgresDatabases
from tests.factories import new_order
from workorders.db import Database, MigrationError, NotMigrated, alembic_config, schema_lock
from workorders.reference import load_regions
from workorders.store import Stores

ROOT = Path(__file__).resolve().parents[2]
ALEMBIC = Path(sys.executable).parent / "alembic"
HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()
TABLES = set(SQLModel.metadata.tables)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_databases: PostgresDatabases
) -> str:
    """A new empty database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'workorders.db'}"
    return postgres_databases.create()


@pytest.fixture
async def empty(empty_url: str) -> AsyncIterator[Database]:
    db = Database.from_url(empty_url)
    yield db
    await db.dispose()


async def on(db: Database, fn: Callable[[Connection], Any]) -> Any:
    def in_transaction(connection: Connection) -> Any:
        with connection.begin():
            return fn(connection)

    return await db.run_on_connection(in_transaction)


async def alembic(db: Database, run: Callable[[Config], None]) -> None:
    """Run an Alembic command on ``db``, as ``Database.migrate`` does."""

    def locked(connection: Connection) -> None:
        with schema_lock(connection):
            run(alembic_config(connection))

    await db.run_on_connection(locked)


def differences(connection: Connection) -> list[Any]:
    """What autogenerate would write to bring the database to the models."""
    return list(compare_metadata(MigrationContext.configure(connection), SQLModel.metadata))


def tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def version(connection: Connection) -> str | None:
    if "alembic_version" not in tables(connection):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one_or_none()


def enum_types(connection: Connection) -> set[str]:
    if connection.dialect.name != "postgresql":
        return set()
    rows = connection.execute(text("SELECT typname FROM pg_type WHERE typtype = 'e'"))
    return set(rows.scalars())


async def technicians(db: Database) -> int:
    query = select(func.count()).select_from(Technician)
    return int(await db.transaction(lambda connection: connection.execute(query).scalar_one()))


def test_the_migrations_have_one_head() -> None:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert heads == [HEAD], "merge the branches: alembic merge heads"


async def test_upgrade_from_empty_matches_the_models(empty: Database) -> None:
    await empty.migrate()

    assert await on(empty, version) == HEAD
    assert await on(empty, tables) == {*TABLES, "alembic_version"}
    assert await on(empty, differences) == [], (
        "the models changed: alembic revision --autogenerate -m '...', then read it"
    )


async def test_upgrade_again_changes_nothing(empty: Database) -> None:
    await empty.migrate()
    await empty.seed(load_regions())
    seeded = await technicians(empty)
    assert seeded > 0

    await empty.migrate()
    await empty.migrate()

    assert await on(empty, version) == HEAD
    assert await technicians(empty) == seeded
    assert await on(empty, differences) == []


async def test_downgrade_to_base_removes_everything_and_upgrade_rebuilds(empty: Database) -> None:
    await empty.migrate()

    await alembic(empty, lambda config: command.downgrade(config, "base"))

    assert await on(empty, tables) == {"alembic_version"}
    assert await on(empty, version) is None
    assert await on(empty, enum_types) == set()  # PostgreSQL's

    await empty.migrate()
    assert await on(empty, version) == HEAD
    assert await on(empty, differences) == []


async def test_only_a_database_at_head_is_taken(empty: Database) -> None:
    """What the worker and the API check as they start (they migrate nothing)."""
    with pytest.raises(NotMigrated, match=r"database not migrated .*run `workorders migrate`"):
        await empty.require_migrated()

    await empty.migrate()
    await empty.require_migrated()

    await alembic(empty, lambda config: command.downgrade(config, "-1"))
    with pytest.raises(NotMigrated, match="at revision "):
        await empty.require_migrated()


async def test_cancelled_orders_become_failed_on_the_way_down_and_stay_so(
    empty: Database,
) -> None:
    await empty.migrate()
    stores = Stores.of(empty)
    order, _ = await stores.orders.create_order(new_order())
    await stores.progress.start_order(order.id)
    decision = OrderDecision(status=OrderStatus.CANCELLED, reason="cancelled by ops:a: moved")
    outcomes = [SubTaskOutcome(kind=k, status=SubTaskStatus.CANCELLED) for k in SubTaskKind]
    await stores.progress.complete_order(order.id, decision, outcomes)

    await alembic(empty, lambda config: command.downgrade(config, "0001"))

    def statuses(connection: Connection) -> tuple[list[str], list[str]]:
        orders = connection.execute(text("SELECT status FROM work_order")).scalars()
        tasks = connection.execute(text("SELECT status FROM sub_task")).scalars()
        return [str(s) for s in orders], sorted(str(s) for s in tasks)

    assert await on(empty, statuses) == (["FAILED"], ["SKIPPED"] * 3)
    await empty.migrate()
    assert await on(empty, differences) == []
    assert await on(empty, statuses) == (["FAILED"], ["SKIPPED"] * 3)


async def test_migrations_started_together_run_one_after_the_other(empty_url: str) -> None:
    databases = [Database.from_url(empty_url) for _ in range(4)]
    try:
        # The limit only catches a deadlock; a busy machine may take a while.
        await asyncio.wait_for(asyncio.gather(*(db.migrate() for db in databases)), 180)
        assert await on(databases[0], version) == HEAD
        assert await on(databases[0], differences) == []
    finally:
        for db in databases:
            await db.dispose()


async def test_a_failed_migration_leaves_nothing_behind(empty: Database) -> None:
    def half_done(connection: Connection) -> None:
        with schema_lock(connection):
            connection.execute(text("CREATE TABLE half_done (id INTEGER PRIMARY KEY)"))
            raise RuntimeError("a migration failed half way")

    with pytest.raises(RuntimeError, match="half way"):
        await empty.run_on_connection(half_done)

    assert await on(empty, tables) == set()
    if empty.engine.dialect.name == "sqlite":  # the foreign keys are on again
        keys = await empty.run_on_connection(
            lambda connection: connection.exec_driver_sql("PRAGMA foreign_keys").scalar()
        )
        assert keys == 1


# Databases made by create_all, before there were migrations --------------------------


async def test_a_database_made_by_create_all_is_stamped_and_keeps_its_rows(
    empty: Database,
) -> None:
    await on(empty, SQLModel.metadata.create_all)
    await empty.seed(load_regions())
    seeded = await technicians(empty)

    await empty.migrate()

    assert await on(empty, version) == HEAD
    assert await technicians(empty) == seeded
    assert await on(empty, differences) == []


async def test_a_table_create_all_did_not_make_yet_is_added_before_stamping(
    empty: Database,
) -> None:
    older = [t for name, t in SQLModel.metadata.tables.items() if name != "blocked_resource"]
    await on(empty, lambda connection: SQLModel.metadata.create_all(connection, tables=older))

    await empty.migrate()

    assert await on(empty, version) == HEAD
    assert await on(empty, differences) == []


async def test_a_database_made_by_create_all_that_differs_is_refused_untouched(
    empty: Database,
) -> None:
    older = [t for name, t in SQLModel.metadata.tables.items() if name != "blocked_resource"]

    def made_by_hand(connection: Connection) -> None:
        SQLModel.metadata.create_all(connection, tables=older)
        connection.execute(text("DROP INDEX ix_work_order_region"))

    await on(empty, made_by_hand)

    with pytest.raises(MigrationError, match="ix_work_order_region"):
        await empty.migrate()

    assert await on(empty, version) is None
    assert await on(empty, tables) == TABLES - {"blocked_resource"}


# The command line ------------------------------------------------------------------


def run_alembic(*args: str, url: str, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKORDERS_")}
    result = subprocess.run(
        [str(ALEMBIC), "-c", str(ROOT / "alembic.ini"), *args],
        env={**env, "WORKORDERS_DATABASE_URL": url},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


async def test_alembic_command_line_upgrades_to_the_models(
    empty: Database, empty_url: str, tmp_path: Path
) -> None:
    run_alembic("upgrade", "head", url=empty_url, cwd=tmp_path)
    assert "No new upgrade operations detected" in run_alembic("check", url=empty_url, cwd=tmp_path)
    assert await on(empty, version) == HEAD


def test_alembic_writes_the_sql_for_a_dba(tmp_path: Path) -> None:
    url = "postgresql+psycopg://nobody@127.0.0.1:1/nowhere"  # offline: never connected
    sql = run_alembic("upgrade", "head", "--sql", url=url, cwd=tmp_path)
    assert "CREATE TYPE subtaskkind AS ENUM" in sql
    assert "CREATE TABLE work_order" in sql
    assert "ALTER TYPE orderstatus ADD VALUE IF NOT EXISTS 'CANCELLED'" in sql
    assert sql.index("CREATE TYPE orderstatus") < sql.index("ALTER TYPE orderstatus")
    # The first revision inserts its version, each later one updates it, to head.
    assert f"VALUES ('{HEAD}')" in sql or f"SET version_num='{HEAD}'" in sql
