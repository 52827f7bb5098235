"""Cancellation: orders and sub-tasks can end ``cancelled``.

The enums store the members' names. On PostgreSQL each enum is a type of its own, which
gains the value ``CANCELLED`` (allowed inside the migration's transaction since
PostgreSQL 12, as long as nothing uses the value before the commit); SQLite stores the
names as strings (no constraint, and ``WAITING_FOR_OPERATIONS`` still sets the
length), so it needs nothing.

Downgrading turns cancelled orders into failed ones (their reason still says who
cancelled them and why) and cancelled sub-tasks into skipped ones, then rebuilds the
PostgreSQL types without the value, which PostgreSQL cannot drop from a type.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 22:40:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ORDER_STATUSES = ("RECEIVED", "IN_PROGRESS", "WAITING_FOR_OPERATIONS", "COMPLETED", "FAILED")
SUB_TASK_STATUSES = (
    "PENDING",
    "IN_PROGRESS",
    "SUCCEEDED",
    "FAILED",
    "SKIPPED",
    "WAITING_FOR_OPERATIONS",
)
CHANGED = (
    # type, its values before this revision, the table and column that use it, and
    # what a cancelled row becomes on the way down
    ("orderstatus", ORDER_STATUSES, "work_order", "status", "FAILED"),
    ("subtaskstatus", SUB_TASK_STATUSES, "sub_task", "status", "SKIPPED"),
)


def _postgresql() -> bool:
    return op.get_context().dialect.name == "postgresql"


def upgrade() -> None:
    if not _postgresql():
        return
    for type_name, *_ in CHANGED:
        op.execute(f"ALTER TYPE {type_name} ADD VALUE IF NOT EXISTS 'CANCELLED'")


def downgrade() -> None:
    for type_name, values, table, column, instead in CHANGED:
        cast = f"::{type_name}" if _postgresql() else ""
        op.execute(
            f"UPDATE {table} SET {column} = '{instead}'{cast}"
            f" WHERE {column}{'::text' if cast else ''} = 'CANCELLED'"
        )
        if not _postgresql():
            continue
        listed = ", ".join(f"'{v}'" for v in values)
        op.execute(f"ALTER TYPE {type_name} RENAME TO {type_name}_with_cancelled")
        op.execute(f"CREATE TYPE {type_name} AS ENUM ({listed})")
        op.execute(
            f"ALTER TABLE {table} ALTER COLUMN {column} TYPE {type_name}"
            f" USING {column}::text::{type_name}"
        )
        op.execute(f"DROP TYPE {type_name}_with_cancelled")
