"""Every table, imported here so Alembic and the app see one metadata."""

from licensor.models.accounts import (
    Account,
    AccountToken,
    DeviceAuthorization,
    RecoveryCode,
    Role,
    WebSession,
)
from licensor.models.audit import AuditChain, AuditEvent
from licensor.models.base import Base
from licensor.models.idempotency import IdempotencyKey
from licensor.models.jobs import Job
from licensor.models.licensing import (
    Activation,
    ActivationCode,
    Batch,
    CodeOrigin,
    CodeState,
    Device,
    License,
    LicenseStatus,
    Plan,
)
from licensor.models.mail import OutboxMessage
from licensor.models.operations import AttachmentContent, KeyCheck
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
    ApprovalState,
    AttachApproval,
    Attachment,
    Author,
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
    "ApprovalState",
    "AttachApproval",
    "Attachment",
    "AttachmentContent",
    "AuditChain",
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
    "IdempotencyKey",
    "ItemKind",
    "Job",
    "KeyCheck",
    "License",
    "LicenseStatus",
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
