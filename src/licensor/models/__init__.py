"""Every table, imported here so Alembic and the app see one metadata."""

from licensor.models.accounts import (
    Account,
    AccountToken,
    DeviceAuthorization,
    Role,
    WebSession,
)
from licensor.models.audit import AuditEvent
from licensor.models.base import Base
from licensor.models.licensing import (
    Activation,
    ActivationCode,
    Batch,
    CodeOrigin,
    CodeState,
    Device,
    License,
    Plan,
)
from licensor.models.mail import OutboxMessage
from licensor.models.store import (
    Channel,
    EnrollmentToken,
    ItemKind,
    Order,
    OrderItem,
    OrderStatus,
    Partner,
    PartnerApiKey,
    Subscription,
    SubscriptionStatus,
)

__all__ = [
    "Account",
    "AccountToken",
    "Activation",
    "ActivationCode",
    "AuditEvent",
    "Base",
    "Batch",
    "Channel",
    "CodeOrigin",
    "CodeState",
    "Device",
    "DeviceAuthorization",
    "EnrollmentToken",
    "ItemKind",
    "License",
    "Order",
    "OrderItem",
    "OrderStatus",
    "OutboxMessage",
    "Partner",
    "PartnerApiKey",
    "Plan",
    "Role",
    "Subscription",
    "SubscriptionStatus",
    "WebSession",
]
