"""My Account: further verified emails, sign-ins, devices' own names, seat-release links,
expiry reminders, tax and the thanks page's once-only codes on orders, the card on a
subscription

A verified address pulls in the orders placed with it (``account_emails``); the security
page lists sign-ins and the open sessions' browsers; the owner renames a device; an
activation that met the device limit can mail a one-time link that frees a seat; expiry
reminders are sent once per license, term and days-before, and can be turned off per
license. Licenses are indexed by their term's end, which the reminders' scan reads, and
audit events by their subject, which a license's history reads.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import licensor.models.base

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = licensor.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "account_emails",
        sa.Column("account_id", Id, nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("verified_at", When, nullable=True),
        sa.Column("created_at", When, nullable=False),
        sa.Column("id", Id, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_account_emails_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_emails")),
        sa.UniqueConstraint("email", name=op.f("uq_account_emails_email")),
    )
    op.create_index(
        op.f("ix_account_emails_account_id"), "account_emails", ["account_id"], unique=False
    )
    op.create_table(
        "sign_ins",
        sa.Column("account_id", Id, nullable=False),
        sa.Column("occurred_at", When, nullable=False),
        sa.Column("ip_address", sa.String(length=45), nullable=False),
        sa.Column("user_agent", sa.String(length=300), nullable=False),
        sa.Column("browser_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("new_browser", sa.Boolean(), nullable=False),
        sa.Column("id", Id, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_sign_ins_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_ins")),
    )
    op.create_index(op.f("ix_sign_ins_account_id"), "sign_ins", ["account_id"], unique=False)
    op.create_index(
        "ix_sign_ins_account_browser", "sign_ins", ["account_id", "browser_hash"], unique=False
    )
    op.create_table(
        "seat_release_tokens",
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("license_id", Id, nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("expires_at", When, nullable=False),
        sa.Column("used_at", When, nullable=True),
        sa.Column("id", Id, nullable=False),
        sa.ForeignKeyConstraint(
            ["license_id"],
            ["licenses.id"],
            name=op.f("fk_seat_release_tokens_license_id_licenses"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seat_release_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_seat_release_tokens_token_hash")),
    )
    op.create_index(
        op.f("ix_seat_release_tokens_license_id"),
        "seat_release_tokens",
        ["license_id"],
        unique=False,
    )
    op.create_table(
        "expiry_reminders",
        sa.Column("license_id", Id, nullable=False),
        sa.Column("expires_at", When, nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("sent_at", When, nullable=False),
        sa.Column("id", Id, nullable=False),
        sa.ForeignKeyConstraint(
            ["license_id"], ["licenses.id"], name=op.f("fk_expiry_reminders_license_id_licenses")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_expiry_reminders")),
        sa.UniqueConstraint(
            "license_id", "expires_at", "days", name="uq_expiry_reminders_license_term_days"
        ),
    )
    op.create_index(
        op.f("ix_expiry_reminders_license_id"), "expiry_reminders", ["license_id"], unique=False
    )

    with op.batch_alter_table("web_sessions") as batch_op:
        batch_op.add_column(
            sa.Column("user_agent", sa.String(length=300), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("ip_address", sa.String(length=45), server_default="", nullable=False)
        )
    with op.batch_alter_table("orders") as batch_op:
        batch_op.add_column(
            sa.Column("tax_cents", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("thanks_token_hash", sa.LargeBinary(length=32), nullable=True)
        )
        batch_op.add_column(sa.Column("codes_shown_at", When, nullable=True))
        batch_op.create_unique_constraint(
            op.f("uq_orders_thanks_token_hash"), ["thanks_token_hash"]
        )
    with op.batch_alter_table("subscriptions") as batch_op:
        batch_op.add_column(sa.Column("payment_method", sa.String(length=100), nullable=True))
    with op.batch_alter_table("licenses") as batch_op:
        batch_op.add_column(sa.Column("reminders_off_at", When, nullable=True))
    op.create_index(op.f("ix_licenses_expires_at"), "licenses", ["expires_at"], unique=False)
    op.create_index(
        "ix_audit_events_subject", "audit_events", ["subject_type", "subject_id"], unique=False
    )
    with op.batch_alter_table("devices") as batch_op:
        batch_op.add_column(sa.Column("display_name", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("devices") as batch_op:
        batch_op.drop_column("display_name")
    op.drop_index("ix_audit_events_subject", table_name="audit_events")
    op.drop_index(op.f("ix_licenses_expires_at"), table_name="licenses")
    with op.batch_alter_table("licenses") as batch_op:
        batch_op.drop_column("reminders_off_at")
    with op.batch_alter_table("subscriptions") as batch_op:
        batch_op.drop_column("payment_method")
    with op.batch_alter_table("orders") as batch_op:
        batch_op.drop_constraint(op.f("uq_orders_thanks_token_hash"), type_="unique")
        batch_op.drop_column("codes_shown_at")
        batch_op.drop_column("thanks_token_hash")
        batch_op.drop_column("tax_cents")
    with op.batch_alter_table("web_sessions") as batch_op:
        batch_op.drop_column("ip_address")
        batch_op.drop_column("user_agent")
    op.drop_table("expiry_reminders")
    op.drop_table("seat_release_tokens")
    op.drop_table("sign_ins")
    op.drop_table("account_emails")
