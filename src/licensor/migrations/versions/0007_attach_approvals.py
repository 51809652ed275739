"""attaching an order or a code to an account, confirmed by its owner or a second agent

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import licensor.models.base

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "attach_approvals",
        sa.Column("request_id", _ID, nullable=False),
        sa.Column("account_id", _ID, nullable=False),
        sa.Column("order_id", _ID, nullable=True),
        sa.Column("code_id", _ID, nullable=True),
        sa.Column("owner_email", sa.String(length=320), nullable=True),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("requested_by_id", _ID, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", licensor.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", licensor.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", licensor.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_by_id", _ID, nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("id", _ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_attach_approvals_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["code_id"],
            ["activation_codes.id"],
            name=op.f("fk_attach_approvals_code_id_activation_codes"),
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["accounts.id"],
            name=op.f("fk_attach_approvals_decided_by_id_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_attach_approvals_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["support_requests.id"],
            name=op.f("fk_attach_approvals_request_id_support_requests"),
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["accounts.id"],
            name=op.f("fk_attach_approvals_requested_by_id_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attach_approvals")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_attach_approvals_token_hash")),
    )
    with op.batch_alter_table("attach_approvals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_attach_approvals_code_id"), ["code_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_attach_approvals_order_id"), ["order_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_attach_approvals_request_id"), ["request_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_attach_approvals_state"), ["state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("attach_approvals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_attach_approvals_state"))
        batch_op.drop_index(batch_op.f("ix_attach_approvals_request_id"))
        batch_op.drop_index(batch_op.f("ix_attach_approvals_order_id"))
        batch_op.drop_index(batch_op.f("ix_attach_approvals_code_id"))

    op.drop_table("attach_approvals")
