"""``workorders migrate`` and the processes that refuse a database it has not migrated:
the worker and the API (each builds its database through :mod:`workorders.startup`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from api import create_app
from workorders.config import Settings
from workorders.db import NotMigrated
from workorders.startup import database, migrate, open_database

BIN = Path(sys.executable).parent


def env_for(data: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WORKORDERS_")}
    return {**clean, "WORKORDERS_DATA_DIR": str(data)}


def test_migrate_command_is_idempotent_and_the_worker_refuses_before_it(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    refused = subprocess.run(
        [sys.executable, "-m", "worker"], env=env, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "database not migrated" in refused.stderr
    assert "run `workorders migrate`" in refused.stderr

    for _ in range(2):  # the second finds the database at head and changes nothing
        done = subprocess.run(
            [str(BIN / "workorders"), "migrate"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr


async def test_migrate_seeds_and_open_database_takes_it_then(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path)
    with pytest.raises(NotMigrated):
        await open_database(settings)

    await migrate(settings)
    await migrate(settings)

    db = await open_database(settings)
    try:
        technicians = await db.run_on_connection(
            lambda c: c.exec_driver_sql("SELECT count(*) FROM technician").scalar_one()
        )
        assert technicians > 0
    finally:
        await db.dispose()


async def test_the_api_does_not_start_on_an_unmigrated_database(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path)
    app = create_app(settings)
    with pytest.raises(NotMigrated, match="run `workorders migrate`"):
        async with app.router.lifespan_context(app):
            pass
    db = database(settings)  # and it made no table
    try:
        assert (
            await db.run_on_connection(
                lambda c: c.exec_driver_sql("SELECT name FROM sqlite_master").all()
            )
            == []
        )
    finally:
        await db.dispose()
