"""TMF641 pruning (issue 19): an index of deliveries by event, so that removing the
events no delivery waits for (and PostgreSQL's check of the foreign key to them) does
not read every delivery.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 08:10:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_hub_delivery_event", "hub_delivery", ["event_id"])


def downgrade() -> None:
    op.drop_index("ix_hub_delivery_event", table_name="hub_delivery")
