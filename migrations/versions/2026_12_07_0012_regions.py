"""Regions in the database, the one source of truth for region resolution, time limits
and the access network's VLAN pools, so that operations can import their own
(issue 21); seeded with the regions shipped in ``workorders/data/regions.toml``, which
every order stored so far belongs to.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 03:30:00+00:00
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Sequence
from importlib import resources
from typing import Any

import sqlalchemy as sa
from alembic import context, op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _shipped() -> list[dict[str, Any]]:
    """The shipped regions as rows; read from the data file, not through the
    application's models, so that this revision keeps the meaning it has today."""
    text = resources.files("workorders").joinpath("data", "regions.toml").read_text("utf-8")
    return [
        {
            "id": r["code"],
            "name": r["name"],
            "country": r.get("country", "DE"),
            "province": r.get("province"),
            "city": r.get("city"),
            "districts": r.get("districts", []),
            "postcode_prefixes": r.get("postcode_prefixes", []),
            "vlan_low": r["vlan_range"][0],
            "vlan_high": r["vlan_range"][1],
            "installation_hours": float(r.get("installation_hours", 72)),
            "jeopardy_hours": float(r.get("jeopardy_hours", 48)),
            "test_servers": r["test_servers"],
        }
        for r in tomllib.loads(text)["regions"]
    ]


def upgrade() -> None:
    region = op.create_table(
        "region",
        sa.Column("id", sa.String(length=50), primary_key=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("province", sa.String(length=100), nullable=True),
        sa.Column("city", sa.String(length=100), nullable=True),
        sa.Column("districts", sa.JSON(), nullable=False),
        sa.Column("postcode_prefixes", sa.JSON(), nullable=False),
        sa.Column("vlan_low", sa.Integer(), nullable=False),
        sa.Column("vlan_high", sa.Integer(), nullable=False),
        sa.Column("installation_hours", sa.Float(), nullable=False),
        sa.Column("jeopardy_hours", sa.Float(), nullable=False),
        sa.Column("test_servers", sa.JSON(), nullable=False),
    )
    rows = _shipped()
    if not context.is_offline_mode():
        op.bulk_insert(region, rows)
        return
    # SQL for a DBA: the lists as JSON text, which both databases take into JSON columns.
    lists = [c.name for c in region.columns if isinstance(c.type, sa.JSON)]
    as_text = sa.table(
        "region",
        *(sa.column(c.name, sa.Text() if c.name in lists else c.type) for c in region.columns),
    )
    op.bulk_insert(
        as_text,
        [
            {k: json.dumps(v, ensure_ascii=False) if k in lists else v for k, v in r.items()}
            for r in rows
        ],
    )


def downgrade() -> None:
    op.drop_table("region")
