"""Orders remember the Idempotency-Key they were created with; the order list gets
indexes for its filters and keyset pages.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 23:20:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("work_order") as batch:
        batch.add_column(sa.Column("idempotency_key", sa.String(length=255), nullable=True))
    op.create_index(
        op.f("ix_work_order_idempotency_key"), "work_order", ["idempotency_key"], unique=True
    )
    op.create_index("ix_work_order_status_created", "work_order", ["status", "created_at", "id"])
    op.create_index("ix_work_order_region_created", "work_order", ["region", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_work_order_region_created", table_name="work_order")
    op.drop_index("ix_work_order_status_created", table_name="work_order")
    op.drop_index(op.f("ix_work_order_idempotency_key"), table_name="work_order")
    with op.batch_alter_table("work_order") as batch:
        batch.drop_column("idempotency_key")
