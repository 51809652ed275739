"""What floating licenses refuse (licensor/licensing/leases.py): a lease beyond the
license's limit, a heartbeat for a lease that was freed, a lease asked of a license
that counts devices."""

from __future__ import annotations

from licensor.errors.base import LicensorError


class LeaseLimitReached(LicensorError):
    """Every lease of a floating license is held: the body says when the soonest lapses
    (``retry_at``, ISO 8601; ``retry_after``, seconds), and ``leases_used``/``leases_max``."""

    status = 409
    code = "lease_limit_reached"
    title = "Every seat of this floating license is in use; try again later"

    def headers(self) -> dict[str, str]:
        retry_after = self.extra.get("retry_after")
        return {"Retry-After": str(retry_after)} if retry_after is not None else {}


class LeaseNotHeld(LicensorError):
    """A heartbeat for a lease that was checked in, or freed by the license's owner or
    staff: it is not renewed; the app checks out again if it still needs a seat."""

    status = 409
    code = "lease_not_held"
    title = "This device no longer holds a seat of the floating license; check out again"


class LicenseNotFloating(LicensorError):
    status = 409
    code = "license_not_floating"
    title = "This license counts devices, not leases: activation is all it needs"
