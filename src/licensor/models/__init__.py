"""Every table, imported here so Alembic and the app see one metadata."""

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

__all__ = [
    "Activation",
    "ActivationCode",
    "AuditEvent",
    "Base",
    "Batch",
    "CodeOrigin",
    "CodeState",
    "Device",
    "License",
    "Plan",
]
