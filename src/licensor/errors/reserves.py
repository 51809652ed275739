"""What reserve codes refuse (licensor/licensing/reserves.py): a code that cannot wait in
reserve for a license, a second reserve, a withdrawal too late."""

from __future__ import annotations

from licensor.errors.base import LicensorError


class CodeReserved(LicensorError):
    """Said to whoever types the code, as ``code_blocked`` is: they hold it, and an
    activation of it would otherwise make a second license of a term already given."""

    status = 409
    code = "code_reserved"
    title = "This activation code is kept in reserve for a license"


class CodeInUse(LicensorError):
    status = 409
    code = "code_in_use"
    title = "This activation code is already in use; only an unused code can be a reserve code"


class ReservePlanMismatch(LicensorError):
    status = 409
    code = "reserve_plan_mismatch"
    title = "A reserve code must be of the same plan as the license"


class ReserveExists(LicensorError):
    status = 409
    code = "reserve_exists"
    title = "This license already has a reserve code"


class ReserveUnknown(LicensorError):
    status = 404
    code = "reserve_unknown"
    title = "This license has no reserve code"


class ReserveStarted(LicensorError):
    status = 409
    code = "reserve_started"
    title = "The reserve code's term has started; it can no longer be withdrawn"


class ReserveNotForSubscription(LicensorError):
    status = 409
    code = "reserve_subscription"
    title = "A subscription renews by itself; it takes no reserve code"
