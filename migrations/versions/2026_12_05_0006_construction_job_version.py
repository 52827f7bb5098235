"""The construction job counts every change of it, not only its technicians' reports:
``sub_task.report_seq`` becomes ``sub_task.version``.

The workflow holds the job at a version and is told of newer ones; the database's
record is the one truth (docs/architecture.md, "The construction job").

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 19:30:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sub_task") as batch:
        batch.alter_column("report_seq", new_column_name="version")


def downgrade() -> None:
    with op.batch_alter_table("sub_task") as batch:
        batch.alter_column("version", new_column_name="report_seq")
