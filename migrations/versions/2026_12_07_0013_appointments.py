"""Booked appointments (issue 21): technicians' working hours, and the installation
slots booked with them; a partial unique index on each makes a technician's slot, and
an order's booking, single under any concurrency.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 08:20:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPOINTMENT_STATUS = sa.Enum(
    "BOOKED", "RESCHEDULED", "MISSED", "KEPT", "CANCELLED", name="appointmentstatus"
)
BOOKED = sa.text("status = 'BOOKED'")


def upgrade() -> None:
    with op.batch_alter_table("technician") as batch:
        batch.add_column(sa.Column("working_hours", sa.JSON(), nullable=True))
    op.create_table(
        "appointment",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("order_id", sa.String(36), sa.ForeignKey("work_order.id"), nullable=False),
        sa.Column("technician_id", sa.String(50), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", APPOINTMENT_STATUS, nullable=False),
        sa.Column("booked_by", sa.String(100), nullable=False),
        sa.Column("booked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index(
        "ux_appointment_technician_slot",
        "appointment",
        ["technician_id", "start"],
        unique=True,
        sqlite_where=BOOKED,
        postgresql_where=BOOKED,
    )
    op.create_index(
        "ux_appointment_order_booked",
        "appointment",
        ["order_id"],
        unique=True,
        sqlite_where=BOOKED,
        postgresql_where=BOOKED,
    )
    op.create_index("ix_appointment_start", "appointment", ["start"])


def downgrade() -> None:
    op.drop_table("appointment")
    APPOINTMENT_STATUS.drop(op.get_bind(), checkfirst=True)
    with op.batch_alter_table("technician") as batch:
        batch.drop_column("working_hours")
