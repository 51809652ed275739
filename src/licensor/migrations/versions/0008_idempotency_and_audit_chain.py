"""idempotency keys of the API, the audit trail's hash chain

The audit table becomes append-only (the database refuses UPDATE, DELETE and TRUNCATE) and
chained: each new row carries its place in the chain and a keyed hash (licensor/audit.py).
Rows written before this revision stay outside the chain; `licensor audit verify` counts
them apart.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import licensor.models.base

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_POSTGRES_GUARD = """
CREATE FUNCTION licensor_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$ LANGUAGE plpgsql
"""
_POSTGRES_TRIGGERS = (
    "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
    "FOR EACH ROW EXECUTE FUNCTION licensor_audit_append_only()",
    "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
    "FOR EACH STATEMENT EXECUTE FUNCTION licensor_audit_append_only()",
)
_SQLITE_TRIGGERS = (
    "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
    "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
    "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
    "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
)


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("scope_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("request_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response_ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", licensor.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("locked_until", licensor.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", licensor.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint("scope_hash", name=op.f("uq_idempotency_keys_scope_hash")),
    )
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_idempotency_keys_expires_at"), ["expires_at"], unique=False
        )

    chain = op.create_table(
        "audit_chain",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("mac", sa.LargeBinary(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain")),
    )
    # The head before the first chained row: nothing yet, the zero hash, no MAC (the first
    # row written makes one; the keys are not at hand here).
    op.bulk_insert(chain, [{"id": 1, "seq": 0, "last_hash": bytes(32), "mac": None}])

    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chain_seq", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("chain_hash", sa.LargeBinary(length=32), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_audit_events_chain_seq"), ["chain_seq"])

    if op.get_bind().dialect.name == "postgresql":
        op.execute(_POSTGRES_GUARD)
        for statement in _POSTGRES_TRIGGERS:
            op.execute(statement)
    else:
        for statement in _SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_events_no_truncate ON audit_events")
        op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION licensor_audit_append_only()")
    else:
        op.execute("DROP TRIGGER audit_events_no_delete")
        op.execute("DROP TRIGGER audit_events_no_update")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_audit_events_chain_seq"), type_="unique")
        batch_op.drop_column("chain_hash")
        batch_op.drop_column("chain_seq")
    op.drop_table("audit_chain")
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotency_keys_expires_at"))
    op.drop_table("idempotency_keys")
