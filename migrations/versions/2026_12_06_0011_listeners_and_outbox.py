"""TMF641 notifications: the hub's listeners, the outbox of events and their deliveries
(issue 19).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 13:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "hub_listener",
        sa.Column("id", sa.String(length=36), primary_key=True),
        sa.Column("callback", sa.String(length=2000), nullable=False),
        sa.Column("query", sa.String(length=1000), nullable=True),
        sa.Column("secret", sa.String(length=200), nullable=True),
        sa.Column("owner", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "hub_event",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("event_id", sa.String(length=36), nullable=False, unique=True),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.String(length=36), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("fanned_out", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_hub_event_order", "hub_event", ["order_id", "id"])
    op.create_index("ix_hub_event_fanned_out", "hub_event", ["fanned_out", "id"])
    op.create_table(
        "hub_delivery",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "listener_id",
            sa.String(length=36),
            sa.ForeignKey("hub_listener.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("event_id", sa.Integer(), sa.ForeignKey("hub_event.id"), nullable=False),
        sa.Column("order_id", sa.String(length=36), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.UniqueConstraint("listener_id", "event_id", name="uq_hub_delivery_listener_event"),
    )
    op.create_index("ix_hub_delivery_due", "hub_delivery", ["delivered_at", "next_attempt_at"])
    op.create_index(
        "ix_hub_delivery_listener_order", "hub_delivery", ["listener_id", "order_id", "event_id"]
    )


def downgrade() -> None:
    op.drop_table("hub_delivery")
    op.drop_table("hub_event")
    op.drop_table("hub_listener")
