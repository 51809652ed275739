"""support requests attachments jobs

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import licensor.models.base

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", licensor.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "next_attempt_at", licensor.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("claimed_until", licensor.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("done_at", licensor.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("failed_at", licensor.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_jobs_done_at"), ["done_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_jobs_next_attempt_at"), ["next_attempt_at"], unique=False
        )

    op.create_table(
        "support_requests",
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("topic", sa.String(length=30), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("language", sa.String(length=5), nullable=False),
        sa.Column("customer_name", sa.String(length=200), nullable=False),
        sa.Column("customer_email", sa.String(length=320), nullable=False),
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("purchase_date", sa.Date(), nullable=True),
        sa.Column("order_number", sa.String(length=60), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column(
            "assignee_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("access_token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", licensor.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", licensor.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("solved_at", licensor.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_support_requests_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["assignee_id"], ["accounts.id"], name=op.f("fk_support_requests_assignee_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_requests")),
        sa.UniqueConstraint(
            "access_token_hash", name=op.f("uq_support_requests_access_token_hash")
        ),
        sa.UniqueConstraint("number", name=op.f("uq_support_requests_number")),
    )
    with op.batch_alter_table("support_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_support_requests_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_support_requests_assignee_id"), ["assignee_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_support_requests_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_support_requests_customer_email"), ["customer_email"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_support_requests_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_support_requests_topic"), ["topic"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_support_requests_updated_at"), ["updated_at"], unique=False
        )

    op.create_table(
        "support_messages",
        sa.Column(
            "request_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("author", sa.String(length=20), nullable=False),
        sa.Column(
            "author_account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("internal", sa.Boolean(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", licensor.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_account_id"],
            ["accounts.id"],
            name=op.f("fk_support_messages_author_account_id_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["support_requests.id"],
            name=op.f("fk_support_messages_request_id_support_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_messages")),
    )
    with op.batch_alter_table("support_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_support_messages_request_id"), ["request_id"], unique=False
        )

    op.create_table(
        "support_attachments",
        sa.Column(
            "request_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "message_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("storage_name", sa.String(length=100), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=40), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", licensor.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ocr_status", sa.String(length=20), nullable=False),
        sa.Column("ocr_ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("ocr_verified", sa.Boolean(), nullable=False),
        sa.Column("ocr_error", sa.Text(), nullable=True),
        sa.Column("ocr_at", licensor.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["support_messages.id"],
            name=op.f("fk_support_attachments_message_id_support_messages"),
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["support_requests.id"],
            name=op.f("fk_support_attachments_request_id_support_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_attachments")),
        sa.UniqueConstraint("storage_name", name=op.f("uq_support_attachments_storage_name")),
    )
    with op.batch_alter_table("support_attachments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_support_attachments_request_id"), ["request_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("support_attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_support_attachments_request_id"))

    op.drop_table("support_attachments")
    with op.batch_alter_table("support_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_support_messages_request_id"))

    op.drop_table("support_messages")
    with op.batch_alter_table("support_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_support_requests_updated_at"))
        batch_op.drop_index(batch_op.f("ix_support_requests_topic"))
        batch_op.drop_index(batch_op.f("ix_support_requests_status"))
        batch_op.drop_index(batch_op.f("ix_support_requests_customer_email"))
        batch_op.drop_index(batch_op.f("ix_support_requests_created_at"))
        batch_op.drop_index(batch_op.f("ix_support_requests_assignee_id"))
        batch_op.drop_index(batch_op.f("ix_support_requests_account_id"))

    op.drop_table("support_requests")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_jobs_next_attempt_at"))
        batch_op.drop_index(batch_op.f("ix_jobs_done_at"))

    op.drop_table("jobs")
