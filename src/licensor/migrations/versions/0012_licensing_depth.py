"""Licensing depth: webhooks to the vendor's systems, transfer limits, per-license limits

Endpoints that receive events (Standard Webhooks) and each event's delivery to each, an
outbox of its own; a plan may cap how often a license's seats move between devices in a
period, support may grant a license more; an admin may give one license its own device
limit.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import licensor.models.base

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = licensor.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "webhook_endpoints",
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("secret_ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("description", sa.String(length=200), server_default="", nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("created_by", sa.String(length=200), server_default="", nullable=False),
        sa.Column("disabled_at", When, nullable=True),
        sa.Column("id", Id, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("endpoint_id", Id, nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=60), nullable=False),
        sa.Column("payload_ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("delivered_at", When, nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", When, nullable=False),
        sa.Column("claimed_until", When, nullable=True),
        sa.Column("failed_at", When, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("id", Id, nullable=False),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoints.id"],
            name=op.f("fk_webhook_deliveries_endpoint_id_webhook_endpoints"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sa.UniqueConstraint("message_id", name=op.f("uq_webhook_deliveries_message_id")),
    )
    for column in ("endpoint_id", "created_at", "delivered_at", "next_attempt_at"):
        op.create_index(
            op.f(f"ix_webhook_deliveries_{column}"), "webhook_deliveries", [column], unique=False
        )

    with op.batch_alter_table("plans") as batch_op:
        batch_op.add_column(sa.Column("transfer_limit", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("transfer_period_days", sa.Integer(), nullable=True))
    with op.batch_alter_table("licenses") as batch_op:
        batch_op.add_column(sa.Column("devices_max", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("extra_transfers", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("licenses") as batch_op:
        batch_op.drop_column("extra_transfers")
        batch_op.drop_column("devices_max")
    with op.batch_alter_table("plans") as batch_op:
        batch_op.drop_column("transfer_period_days")
        batch_op.drop_column("transfer_limit")
    for column in ("next_attempt_at", "delivered_at", "created_at", "endpoint_id"):
        op.drop_index(op.f(f"ix_webhook_deliveries_{column}"), table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_endpoints")
