"""The order names its installation's technician, and the order list gets indexes for
status and region together and for the technician.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 03:10:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("work_order") as batch:
        batch.add_column(sa.Column("technician_id", sa.String(length=50), nullable=True))
    op.execute(
        "UPDATE work_order SET technician_id = ("
        " SELECT sub_task.technician_id FROM sub_task"
        " WHERE sub_task.order_id = work_order.id AND sub_task.kind = 'CONSTRUCTION')"
    )
    op.create_index(
        "ix_work_order_status_region_created",
        "work_order",
        ["status", "region", "created_at", "id"],
    )
    op.create_index(
        "ix_work_order_technician_created", "work_order", ["technician_id", "created_at", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_work_order_technician_created", table_name="work_order")
    op.drop_index("ix_work_order_status_region_created", table_name="work_order")
    with op.batch_alter_table("work_order") as batch:
        batch.drop_column("technician_id")
