"""TMF641 delivery (issue 19): the deliveries still to make, by listener, order and
event, in an index of their own, so that a claim finds each (listener, order)'s first
undelivered event and the run of due events after it in one descent each, however many
delivered rows wait for the pruning. It replaces the index of every delivery by listener,
order and event, which only the claim read.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 12:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNDELIVERED = sa.text("delivered_at IS NULL")


def upgrade() -> None:
    op.create_index(
        "ix_hub_delivery_waiting",
        "hub_delivery",
        ["listener_id", "order_id", "event_id"],
        postgresql_where=UNDELIVERED,
        sqlite_where=UNDELIVERED,
    )
    op.drop_index("ix_hub_delivery_listener_order", table_name="hub_delivery")


def downgrade() -> None:
    op.create_index(
        "ix_hub_delivery_listener_order", "hub_delivery", ["listener_id", "order_id", "event_id"]
    )
    op.drop_index("ix_hub_delivery_waiting", table_name="hub_delivery")
