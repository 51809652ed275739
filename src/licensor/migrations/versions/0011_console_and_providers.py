"""The vendor console and real payment providers

Card batches say how far a background issue has got, who downloaded the printer's file and
when, and whether they were blocked whole; accounts can be disabled and erased; orders
name the provider that took the money (Stripe, or a merchant-of-record store: Paddle,
Lemon Squeezy, FastSpring), its order and payment ids, and a refund; a subscription the
provider bills itself names it; each provider event is acted on once (``payment_events``);
the dashboard counts validations a day (``usage_days``) and reads activations, new
licenses and orders by day (indexes); the audit log is filtered by actor.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import licensor.models.base

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = licensor.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("batches") as batch_op:
        batch_op.add_column(
            sa.Column("issued_count", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("created_by", sa.String(length=200), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("csv_downloaded_at", When, nullable=True))
        batch_op.add_column(sa.Column("csv_downloaded_by", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("blocked_at", When, nullable=True))
        batch_op.add_column(sa.Column("blocked_reason", sa.Text(), nullable=True))
    # A batch from before was issued whole (or is being resumed by ``codes issue``).
    op.execute(
        "UPDATE batches SET issued_count = "
        "(SELECT count(*) FROM activation_codes WHERE activation_codes.batch_id = batches.id)"
    )

    with op.batch_alter_table("accounts") as batch_op:
        batch_op.add_column(sa.Column("disabled_at", When, nullable=True))
        batch_op.add_column(sa.Column("erased_at", When, nullable=True))

    with op.batch_alter_table("orders") as batch_op:
        batch_op.add_column(sa.Column("provider", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("provider_order_id", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("provider_payment_id", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("refunded_at", When, nullable=True))
        batch_op.add_column(sa.Column("refund_reason", sa.Text(), nullable=True))
        batch_op.create_index(
            "uq_orders_provider_order", ["provider", "provider_order_id"], unique=True
        )
        batch_op.create_index(
            op.f("ix_orders_provider_payment_id"), ["provider_payment_id"], unique=False
        )

    with op.batch_alter_table("subscriptions") as batch_op:
        batch_op.add_column(sa.Column("provider", sa.String(length=40), nullable=True))
        batch_op.add_column(
            sa.Column("provider_subscription_id", sa.String(length=200), nullable=True)
        )
        batch_op.create_unique_constraint(
            op.f("uq_subscriptions_provider_subscription_id"), ["provider_subscription_id"]
        )

    op.create_table(
        "payment_events",
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("order_id", Id, nullable=True),
        sa.Column("received_at", When, nullable=False),
        sa.Column("id", Id, nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_payment_events_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_events")),
    )
    op.create_index(
        "uq_payment_events_event", "payment_events", ["provider", "event_id"], unique=True
    )

    op.create_table(
        "usage_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("metric", sa.String(length=40), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "metric", name=op.f("pk_usage_days")),
    )

    op.create_index(op.f("ix_audit_events_actor"), "audit_events", ["actor"], unique=False)
    # The dashboard's series and the console's lists read these by day.
    op.create_index(
        op.f("ix_activations_activated_at"), "activations", ["activated_at"], unique=False
    )
    op.create_index(op.f("ix_licenses_created_at"), "licenses", ["created_at"], unique=False)
    op.create_index(op.f("ix_orders_purchased_at"), "orders", ["purchased_at"], unique=False)
    op.create_index(op.f("ix_orders_refunded_at"), "orders", ["refunded_at"], unique=False)
    op.create_index(op.f("ix_orders_status"), "orders", ["status"], unique=False)
    op.create_index(
        op.f("ix_payment_events_order_id"), "payment_events", ["order_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_payment_events_order_id"), table_name="payment_events")
    op.drop_index(op.f("ix_orders_status"), table_name="orders")
    op.drop_index(op.f("ix_orders_refunded_at"), table_name="orders")
    op.drop_index(op.f("ix_orders_purchased_at"), table_name="orders")
    op.drop_index(op.f("ix_licenses_created_at"), table_name="licenses")
    op.drop_index(op.f("ix_activations_activated_at"), table_name="activations")
    op.drop_index(op.f("ix_audit_events_actor"), table_name="audit_events")
    op.drop_table("usage_days")
    op.drop_index("uq_payment_events_event", table_name="payment_events")
    op.drop_table("payment_events")
    with op.batch_alter_table("subscriptions") as batch_op:
        batch_op.drop_constraint(op.f("uq_subscriptions_provider_subscription_id"), type_="unique")
        batch_op.drop_column("provider_subscription_id")
        batch_op.drop_column("provider")
    with op.batch_alter_table("orders") as batch_op:
        batch_op.drop_index(op.f("ix_orders_provider_payment_id"))
        batch_op.drop_index("uq_orders_provider_order")
        batch_op.drop_column("refund_reason")
        batch_op.drop_column("refunded_at")
        batch_op.drop_column("provider_payment_id")
        batch_op.drop_column("provider_order_id")
        batch_op.drop_column("provider")
    with op.batch_alter_table("accounts") as batch_op:
        batch_op.drop_column("erased_at")
        batch_op.drop_column("disabled_at")
    with op.batch_alter_table("batches") as batch_op:
        batch_op.drop_column("blocked_reason")
        batch_op.drop_column("blocked_at")
        batch_op.drop_column("csv_downloaded_by")
        batch_op.drop_column("csv_downloaded_at")
        batch_op.drop_column("created_by")
        batch_op.drop_column("issued_count")
