"""Alembic's environment for the work-order tables of ``models.tables``.

The database is, first found: the connection ``Database.migrate`` hands over (it holds
the schema lock already), ``alembic -x url=...``, the ``sqlalchemy.url`` option, or the
settings' database (``WORKORDERS_DATABASE_URL``, else the SQLite file in the data
folder): ``sqlite:///path`` or ``postgresql+psycopg://user@host/db``.
"""

from __future__ import annotations

from logging.config import fileConfig
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection
from sqlalchemy.engine import make_url
from sqlalchemy.types import TypeDecorator
from sqlmodel import SQLModel

import models.tables  # noqa: F401  (registers the tables on SQLModel.metadata)
from workorders.config import get_settings
from workorders.db import create_engine, schema_lock

config = context.config
target_metadata = SQLModel.metadata

if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Render the models' own column types (``UtcDateTime``, sqlmodel's ``AutoString``)
    as the SQLAlchemy type they store, so that no revision imports application code."""
    if type_ == "type" and isinstance(obj, TypeDecorator):
        return f"sa.{obj.impl_instance!r}"
    return False


def configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        render_item=render_item,
        compare_type=True,
        **kwargs,
    )


def database_url() -> str:
    url: str | None = context.get_x_argument(as_dictionary=True).get("url")
    return url or config.get_main_option("sqlalchemy.url") or get_settings().effective_database_url


def run_migrations(connection: Connection) -> None:
    """Run the migrations in the transaction of :func:`~workorders.db.schema_lock`,
    whose DDL is transactional on SQLite too."""
    configure(
        connection=connection,
        render_as_batch=connection.dialect.name == "sqlite",
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_locked(connection: Connection) -> None:
    with schema_lock(connection):
        run_migrations(connection)


def run_online(url: str) -> None:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            run_locked(connection)
    finally:
        engine.dispose()


def main() -> None:
    connection: Connection | None = config.attributes.get("connection")
    if connection is not None:
        run_migrations(connection)
    elif context.is_offline_mode():
        url = database_url()
        configure(
            url=url,
            literal_binds=True,
            dialect_opts={"paramstyle": "named"},
            render_as_batch=make_url(url).get_backend_name() == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    else:
        run_online(database_url())


main()
