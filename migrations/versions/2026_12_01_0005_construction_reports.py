"""The construction job counts its technicians' reports, and says since when the latest
waits for its signal to reach the workflow.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 20:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sub_task") as batch:
        batch.add_column(sa.Column("report_seq", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("report_unsignalled_since", sa.DateTime(timezone=True), nullable=True)
        )
    op.create_index(
        "ix_sub_task_report_unsignalled_since", "sub_task", ["report_unsignalled_since"]
    )


def downgrade() -> None:
    op.drop_index("ix_sub_task_report_unsignalled_since", table_name="sub_task")
    with op.batch_alter_table("sub_task") as batch:
        batch.drop_column("report_unsignalled_since")
        batch.drop_column("report_seq")
