"""Every table, imported here so Alembic and the app see one metadata."""

from licensor.models.accounts import (
    Account,
    AccountToken,
    DeviceAuthorization,
    RecoveryCode,
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
from licensor.models.support import (
    Attachment,
    Author,
    Job,
    OcrStatus,
    RequestStatus,
    SupportMessage,
    SupportRequest,
    Topic,
)

__all__ = [
    "Account",
    "AccountToken",
    "Activation",
    "ActivationCode",
    "Attachment",
    "AuditEvent",
    "Author",
    "Base",
    "Batch",
    "Channel",
    "CodeOrigin",
    "CodeState",
    "Device",
    "DeviceAuthorization",
    "EnrollmentToken",
    "ItemKind",
    "Job",
    "License",
    "OcrStatus",
    "Order",
    "OrderItem",
    "OrderStatus",
    "OutboxMessage",
    "Partner",
    "PartnerApiKey",
    "Plan",
    "RecoveryCode",
    "RequestStatus",
    "Role",
    "Subscription",
    "SubscriptionStatus",
    "SupportMessage",
    "SupportRequest",
    "Topic",
    "WebSession",
]
