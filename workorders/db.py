"""The database engine: SQLite by default, PostgreSQL in production."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel import SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

import models.tables  # noqa: F401  (registers the tables on SQLModel.metadata)
from models.tables import OltRecord, Technician
from workorders.reference import Regions


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """An async engine for ``url``; SQLite gets WAL and a busy timeout, since the API
    and the worker write to the same file from two processes."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_async_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20)


class Database:
    """The engine and its sessions; one per process."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)

    @classmethod
    def from_url(cls, url: str, *, echo: bool = False) -> Database:
        return cls(create_engine(url, echo=echo))

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session:
            yield session

    async def create_schema(self) -> None:
        """Create missing tables."""
        async with self.engine.begin() as conn:
            await conn.run_sync(SQLModel.metadata.create_all)

    async def seed(self, regions: Regions) -> None:
        """Add the shipped technicians and OLTs that the database does not have yet."""
        async with self.session() as session:
            technicians = set((await session.exec(select(Technician.id))).all())
            olts = set((await session.exec(select(OltRecord.id))).all())
            for region in regions:
                for tech in region.technicians:
                    if tech.id not in technicians:
                        session.add(
                            Technician(
                                id=tech.id,
                                name=tech.name,
                                regions=[region.code],
                                skills=tech.skills,
                            )
                        )
                low, high = region.vlan_range
                for olt in region.olts:
                    if olt.id not in olts:
                        session.add(
                            OltRecord(
                                id=olt.id,
                                region=region.code,
                                pon_ports=olt.pon_ports,
                                onts_per_port=olt.onts_per_port,
                                vlan_low=low,
                                vlan_high=high,
                            )
                        )
            try:
                await session.commit()
            except IntegrityError:  # another process seeded them at the same moment
                await session.rollback()

    async def dispose(self) -> None:
        await self.engine.dispose()
