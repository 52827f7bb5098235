"""Addresses have a country, and the fields of a Chinese address: province, district,
building and room (issue 21).

Orders taken before are of the format they were validated against then (street and
house number, five-digit postcode, city): DE.

Revision ID: 0009
Revises: 0006
Create Date: 2026-12-06 04:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("work_order") as batch:
        batch.add_column(
            sa.Column("country", sa.String(length=2), nullable=False, server_default="DE")
        )
        batch.add_column(sa.Column("province", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("district", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("building", sa.String(length=50), nullable=True))
        batch.add_column(sa.Column("room", sa.String(length=50), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("work_order") as batch:
        batch.drop_column("room")
        batch.drop_column("building")
        batch.drop_column("district")
        batch.drop_column("province")
        batch.drop_column("country")
