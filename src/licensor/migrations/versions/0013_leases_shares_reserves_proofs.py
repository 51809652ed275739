"""Licensing depth, second part: floating leases, family shares, reserve codes, device
keys and license proofs, fingerprint components

A plan may count concurrent leases (``plans.lease_seconds``) held in ``leases``; a
license's seats may be shared with family (``license_shares``, a seat taken through one
is marked on the activation); a code may wait in reserve to extend a license's term; a
seat keeps its device's public key, which verifies the license proof a customer sends to
support (``support_proofs``); a device keeps the hashed parts of its fingerprint; a
webhook endpoint's rotated secret keeps signing for a while.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import licensor.models.base

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = licensor.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("plans") as batch_op:
        batch_op.add_column(sa.Column("lease_seconds", sa.Integer(), nullable=True))
    op.create_table(
        "leases",
        sa.Column("license_id", Id, nullable=False),
        sa.Column("device_id", Id, nullable=False),
        sa.Column("checked_out_at", When, nullable=False),
        sa.Column("renewed_at", When, nullable=False),
        sa.Column("expires_at", When, nullable=False),
        sa.Column("released_at", When, nullable=True),
        sa.Column("released_by", sa.String(length=20), nullable=True),
        sa.Column("id", Id, nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_leases_device_id_devices")
        ),
        sa.ForeignKeyConstraint(
            ["license_id"], ["licenses.id"], name=op.f("fk_leases_license_id_licenses")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leases")),
        sa.UniqueConstraint("license_id", "device_id", name="uq_leases_license_device"),
    )
    for column in ("license_id", "device_id", "expires_at"):
        op.create_index(op.f(f"ix_leases_{column}"), "leases", [column], unique=False)

    op.create_table(
        "license_shares",
        sa.Column("license_id", Id, nullable=False),
        sa.Column("owner_account_id", Id, nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("created_at", When, nullable=False),
        sa.Column("expires_at", When, nullable=False),
        sa.Column("accepted_at", When, nullable=True),
        sa.Column("account_id", Id, nullable=True),
        sa.Column("revoked_at", When, nullable=True),
        sa.Column("revoked_by", sa.String(length=200), nullable=True),
        sa.Column("id", Id, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_license_shares_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["license_id"], ["licenses.id"], name=op.f("fk_license_shares_license_id_licenses")
        ),
        sa.ForeignKeyConstraint(
            ["owner_account_id"],
            ["accounts.id"],
            name=op.f("fk_license_shares_owner_account_id_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_license_shares")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_license_shares_token_hash")),
    )
    for column in ("license_id", "owner_account_id", "account_id"):
        op.create_index(
            op.f(f"ix_license_shares_{column}"), "license_shares", [column], unique=False
        )

    with op.batch_alter_table("activations") as batch_op:
        batch_op.add_column(sa.Column("share_id", Id, nullable=True))
        batch_op.add_column(sa.Column("device_key", sa.LargeBinary(length=32), nullable=True))
        batch_op.create_index(batch_op.f("ix_activations_share_id"), ["share_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_activations_share_id_license_shares"),
            "license_shares",
            ["share_id"],
            ["id"],
        )
    with op.batch_alter_table("activation_codes") as batch_op:
        batch_op.add_column(sa.Column("reserved_for_id", Id, nullable=True))
        batch_op.add_column(sa.Column("reserved_at", When, nullable=True))
        batch_op.add_column(sa.Column("reserve_starts_at", When, nullable=True))
        batch_op.create_index(
            batch_op.f("ix_activation_codes_reserved_for_id"), ["reserved_for_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_activation_codes_reserved_for_id_licenses"),
            "licenses",
            ["reserved_for_id"],
            ["id"],
        )
    with op.batch_alter_table("devices") as batch_op:
        batch_op.add_column(sa.Column("components", sa.JSON(), nullable=True))
    with op.batch_alter_table("webhook_endpoints") as batch_op:
        batch_op.add_column(
            sa.Column("previous_secret_ciphertext", sa.LargeBinary(), nullable=True)
        )
        batch_op.add_column(sa.Column("previous_secret_until", When, nullable=True))

    op.create_table(
        "support_proofs",
        sa.Column("request_id", Id, nullable=False),
        sa.Column("proof_ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("license_id", Id, nullable=True),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("verify_error", sa.String(length=60), nullable=True),
        sa.Column("id", Id, nullable=False),
        sa.ForeignKeyConstraint(
            ["license_id"], ["licenses.id"], name=op.f("fk_support_proofs_license_id_licenses")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["support_requests.id"],
            name=op.f("fk_support_proofs_request_id_support_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_proofs")),
    )
    for column in ("request_id", "license_id"):
        op.create_index(
            op.f(f"ix_support_proofs_{column}"), "support_proofs", [column], unique=False
        )


def downgrade() -> None:
    for column in ("license_id", "request_id"):
        op.drop_index(op.f(f"ix_support_proofs_{column}"), table_name="support_proofs")
    op.drop_table("support_proofs")
    with op.batch_alter_table("webhook_endpoints") as batch_op:
        batch_op.drop_column("previous_secret_until")
        batch_op.drop_column("previous_secret_ciphertext")
    with op.batch_alter_table("devices") as batch_op:
        batch_op.drop_column("components")
    with op.batch_alter_table("activation_codes") as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_activation_codes_reserved_for_id_licenses"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_activation_codes_reserved_for_id"))
        batch_op.drop_column("reserve_starts_at")
        batch_op.drop_column("reserved_at")
        batch_op.drop_column("reserved_for_id")
    with op.batch_alter_table("activations") as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_activations_share_id_license_shares"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_activations_share_id"))
        batch_op.drop_column("device_key")
        batch_op.drop_column("share_id")
    for column in ("account_id", "owner_account_id", "license_id"):
        op.drop_index(op.f(f"ix_license_shares_{column}"), table_name="license_shares")
    op.drop_table("license_shares")
    for column in ("expires_at", "device_id", "license_id"):
        op.drop_index(op.f(f"ix_leases_{column}"), table_name="leases")
    op.drop_table("leases")
    with op.batch_alter_table("plans") as batch_op:
        batch_op.drop_column("lease_seconds")
