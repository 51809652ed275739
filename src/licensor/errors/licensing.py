"""What the licensing rules refuse: codes, licenses, plans (licensor/licensing)."""

from __future__ import annotations

from licensor.errors.base import LicensorError, ValidationFailed


class CodeMalformed(LicensorError):
    status = 422
    code = "code_malformed"
    title = "This is not a valid activation code; check it for typing mistakes"


class CodeUnknown(LicensorError):
    status = 404
    code = "code_unknown"
    title = "This activation code is not known"


class CodeBlocked(LicensorError):
    status = 403
    code = "code_blocked"
    title = "This activation code is blocked"


class CodeNotSold(LicensorError):
    """A code whose sale must be recorded first (a partner's allocation, or a card batch
    sold at the till) activates only once the partner or the till has recorded it."""

    status = 403
    code = "code_not_sold"
    title = (
        "This activation code has not been sold yet; the shop that sold it must register "
        "the sale first"
    )


class DeviceLimitReached(LicensorError):
    status = 409
    code = "device_limit_reached"
    title = "The license is in use on the maximum number of devices"


class TransferLimitReached(LicensorError):
    """A plan's cap on moving seats between devices in a period is used up: the body says
    when the next move is allowed (``retry_at``, ISO 8601, and ``retry_after``, seconds)."""

    status = 409
    code = "transfer_limit_reached"
    title = "The license has been moved between devices too often; try again later"


class LicenseExpired(LicensorError):
    status = 403
    code = "license_expired"
    title = "The license has expired"


class LicenseKeyMalformed(LicensorError):
    status = 422
    code = "license_key_malformed"
    title = "This is not a valid license key"


class LicenseUnknown(LicensorError):
    status = 404
    code = "license_unknown"
    title = "This license is not known"


class PlanExists(LicensorError):
    status = 409
    code = "plan_exists"
    title = "A plan with this code already exists"


class PlanUnknown(LicensorError):
    status = 404
    code = "plan_unknown"
    title = "There is no plan with this code"


class PlanRetired(LicensorError):
    """A retired plan makes no new codes, orders or subscriptions; what it made before
    keeps working."""

    status = 409
    code = "plan_retired"
    title = "This plan is retired: it is no longer sold"


class BatchUnknown(LicensorError):
    status = 404
    code = "batch_unknown"
    title = "There is no batch with this number"


class BatchComplete(LicensorError):
    status = 409
    code = "batch_complete"
    title = "This batch is complete: it holds every code it was issued for"


class BatchInUse(LicensorError):
    """An incomplete batch is removed only while none of its codes has gone anywhere."""

    status = 409
    code = "batch_in_use"
    title = "Some codes of this batch are sold, linked, activated or blocked"


class BatchCsvTaken(LicensorError):
    """The printer's CSV of a batch is handed out once; an admin may allow one more."""

    status = 409
    code = "batch_csv_downloaded"
    title = "This batch's CSV was already downloaded"


class BatchBlocked(LicensorError):
    status = 409
    code = "batch_blocked"
    title = "This batch is blocked"


class PlanFieldInvalid(ValidationFailed):
    """A plan's field breaks its rules: ``detail`` says it for the CLI, ``fields`` names the
    field and its message key for a page (which raises them as ``FormInvalid``)."""

    def __init__(self, field: str, key: str, detail: str) -> None:
        super().__init__(detail, fields={field: key})
        self.fields = {field: key}


class LicenseActionRefused(LicensorError):
    """Staff asked for something a code or license cannot take (unblocking a code whose
    batch is blocked whole or whose order was refunded, extending a subscription's term);
    ``why`` names the case for a page's message, ``detail`` says it for the CLI."""

    status = 409
    code = "action_refused"
    title = "This cannot be done to this code or license"

    def __init__(self, why: str, detail: str) -> None:
        super().__init__(detail, why=why)
        self.why = why
