"""Initial schema: the work-order tables as create_all made them before migrations.

Work orders with their sub-tasks, attempts and events; technicians; the access-network
inventory (OLTs, allocated and blocked resources). ``Database.migrate`` adopts a
database that ``SQLModel.metadata.create_all`` made, once its schema is checked.

Revision ID: 0001
Revises:
Create Date: 2026-11-25 21:29:59.958178+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The enums store the members' names; on PostgreSQL each is a type of its own, created
# with the first table that uses it.
CHANNEL = sa.Enum("FRONT_DESK", "CRM", "WEB_SHOP", name="channel")
SERVICE_TYPE = sa.Enum("FTTH", "VDSL", name="servicetype")
ORDER_STATUS = sa.Enum(
    "RECEIVED", "IN_PROGRESS", "WAITING_FOR_OPERATIONS", "COMPLETED", "FAILED", name="orderstatus"
)
SUB_TASK_KIND = sa.Enum("CONSTRUCTION", "ACTIVATION", "QUALITY_CHECK", name="subtaskkind")
SUB_TASK_STATUS = sa.Enum(
    "PENDING",
    "IN_PROGRESS",
    "SUCCEEDED",
    "FAILED",
    "SKIPPED",
    "WAITING_FOR_OPERATIONS",
    name="subtaskstatus",
)
JOB_STATE = sa.Enum(
    "ASSIGNED", "ACCEPTED", "EN_ROUTE", "ON_SITE", "COMPLETED", "CANNOT_COMPLETE", name="jobstate"
)
SLA_STATE = sa.Enum("ON_TIME", "JEOPARDY", "BREACHED", name="slastate")
ATTEMPT_OUTCOME = sa.Enum("PENDING", "SUCCEEDED", "FAILED", name="attemptoutcome")
ENUMS = (
    CHANNEL,
    SERVICE_TYPE,
    ORDER_STATUS,
    SUB_TASK_KIND,
    SUB_TASK_STATUS,
    JOB_STATE,
    SLA_STATE,
    ATTEMPT_OUTCOME,
)

TABLES = (  # parents first
    "work_order",
    "sub_task",
    "sub_task_attempt",
    "order_event",
    "technician",
    "olt",
    "resource_allocation",
    "blocked_resource",
)


def upgrade() -> None:
    op.create_table(
        "work_order",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("external_reference", sa.String(length=100), nullable=False),
        sa.Column("channel", CHANNEL, nullable=False),
        sa.Column("request_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("customer_name", sa.String(length=200), nullable=False),
        sa.Column("customer_phone", sa.String(length=32), nullable=False),
        sa.Column("customer_email", sa.String(length=254), nullable=True),
        sa.Column("street", sa.String(length=200), nullable=False),
        sa.Column("house_number", sa.String(length=20), nullable=False),
        sa.Column("unit", sa.String(length=50), nullable=True),
        sa.Column("postcode", sa.String(length=10), nullable=False),
        sa.Column("city", sa.String(length=100), nullable=False),
        sa.Column("service_type", SERVICE_TYPE, nullable=False),
        sa.Column("download_mbps", sa.Integer(), nullable=False),
        sa.Column("upload_mbps", sa.Integer(), nullable=False),
        sa.Column("profile", sa.String(length=50), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("region", sa.String(length=50), nullable=False),
        sa.Column("status", ORDER_STATUS, nullable=False),
        sa.Column("status_reason", sa.String(length=1000), nullable=True),
        sa.Column("workflow_id", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_work_order_external_reference"), "work_order", ["external_reference"], unique=True
    )
    op.create_index(op.f("ix_work_order_region"), "work_order", ["region"])
    op.create_index(op.f("ix_work_order_status"), "work_order", ["status"])
    op.create_index(op.f("ix_work_order_created_at"), "work_order", ["created_at"])

    op.create_table(
        "sub_task",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.String(length=36), nullable=False),
        sa.Column("kind", SUB_TASK_KIND, nullable=False),
        sa.Column("status", SUB_TASK_STATUS, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("technician_id", sa.String(length=50), nullable=True),
        sa.Column("job_state", JOB_STATE, nullable=True),
        sa.Column("visit", sa.Integer(), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("excluded", sa.JSON(), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sla_state", SLA_STATE, nullable=True),
        sa.Column("detail", sa.String(length=1000), nullable=True),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["work_order.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("order_id", "kind"),
    )
    op.create_index(op.f("ix_sub_task_order_id"), "sub_task", ["order_id"])
    op.create_index(op.f("ix_sub_task_technician_id"), "sub_task", ["technician_id"])
    op.create_index(op.f("ix_sub_task_queued_at"), "sub_task", ["queued_at"])

    op.create_table(
        "sub_task_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.String(length=36), nullable=False),
        sa.Column("kind", SUB_TASK_KIND, nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("outcome", ATTEMPT_OUTCOME, nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["order_id"], ["work_order.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("order_id", "kind", "attempt"),
    )
    op.create_index(op.f("ix_sub_task_attempt_order_id"), "sub_task_attempt", ["order_id"])

    op.create_table(
        "order_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.String(length=36), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["order_id"], ["work_order.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_order_event_order_at", "order_event", ["order_id", "id"])

    op.create_table(
        "technician",
        sa.Column("id", sa.String(length=50), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("regions", sa.JSON(), nullable=False),
        sa.Column("skills", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("max_open_jobs", sa.Integer(), nullable=False),
        sa.Column("open_jobs", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )

    op.create_table(
        "olt",
        sa.Column("id", sa.String(length=50), nullable=False),
        sa.Column("region", sa.String(length=50), nullable=False),
        sa.Column("pon_ports", sa.Integer(), nullable=False),
        sa.Column("onts_per_port", sa.Integer(), nullable=False),
        sa.Column("vlan_low", sa.Integer(), nullable=False),
        sa.Column("vlan_high", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_olt_region"), "olt", ["region"])

    op.create_table(
        "resource_allocation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.String(length=36), nullable=False),
        sa.Column("olt_id", sa.String(length=50), nullable=False),
        sa.Column("pon_port", sa.Integer(), nullable=False),
        sa.Column("ont_id", sa.Integer(), nullable=False),
        sa.Column("vlan", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["work_order.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("olt_id", "pon_port", "ont_id"),
        sa.UniqueConstraint("olt_id", "pon_port", "vlan"),
    )
    op.create_index(op.f("ix_resource_allocation_order_id"), "resource_allocation", ["order_id"])
    op.create_index(op.f("ix_resource_allocation_olt_id"), "resource_allocation", ["olt_id"])

    op.create_table(
        "blocked_resource",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("olt_id", sa.String(length=50), nullable=False),
        sa.Column("pon_port", sa.Integer(), nullable=False),
        sa.Column("ont_id", sa.Integer(), nullable=False),
        sa.Column("vlan", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.String(length=36), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("olt_id", "pon_port", "ont_id", "vlan"),
    )
    op.create_index(op.f("ix_blocked_resource_olt_id"), "blocked_resource", ["olt_id"])


def downgrade() -> None:
    for table in reversed(TABLES):  # with their indexes
        op.drop_table(table)
    if op.get_context().dialect.name == "postgresql":
        for enum in ENUMS:
            op.execute(f"DROP TYPE {enum.name}")
