"""till batches, proven licenses of a device connection

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A card batch whose codes activate only once a till (or a partner) records the sale.
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sold_at_till", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    # The licenses an app proved it holds when it asked to connect by a short code (F10).
    with op.batch_alter_table("device_authorizations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("proven_license_ids", sa.JSON(), nullable=False, server_default="[]")
        )


def downgrade() -> None:
    with op.batch_alter_table("device_authorizations", schema=None) as batch_op:
        batch_op.drop_column("proven_license_ids")
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.drop_column("sold_at_till")
