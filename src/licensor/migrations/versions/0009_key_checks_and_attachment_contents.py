"""key check values, attachments' contents in the database, retired plans, request ids

Hosts share nothing but the database and Redis: a screenshot's encrypted bytes move from
``var/attachments`` into ``attachment_contents`` (files found there are read in by
``licensor migrate``), and each key's check value is kept in ``key_checks`` so that a
host started with other keys refuses to start. A plan may be retired; the outbox's
messages and the jobs carry the id of the request that queued them, for the logs.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import licensor.models.base

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "key_checks",
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("key_id", sa.String(length=100), nullable=False),
        sa.Column("check_value", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", licensor.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_key_checks")),
        sa.UniqueConstraint("kind", "key_id", name="uq_key_checks_kind_key_id"),
    )
    op.create_table(
        "attachment_contents",
        sa.Column(
            "attachment_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["attachment_id"],
            ["support_attachments.id"],
            name=op.f("fk_attachment_contents_attachment_id_support_attachments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("attachment_id", name=op.f("pk_attachment_contents")),
    )

    with op.batch_alter_table("plans") as batch_op:
        batch_op.add_column(
            sa.Column("retired_at", licensor.models.base.UTCDateTime(timezone=True), nullable=True)
        )
    for table in ("jobs", "outbox"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column("request_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    for table in ("jobs", "outbox"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column("request_id")
    with op.batch_alter_table("plans") as batch_op:
        batch_op.drop_column("retired_at")
    op.drop_table("attachment_contents")
    op.drop_table("key_checks")
