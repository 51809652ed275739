"""The family's root, and the answers any part may give: a request or a form not valid,
nothing found, too many requests, a store the answer depends on away."""

from __future__ import annotations

from typing import Any, ClassVar


class LicensorError(Exception):
    """The root: an HTTP ``status``, a stable machine ``code``, and a ``title`` pages show
    (translated: scripts/extract_messages.py collects it); ``detail`` says more, if given."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        self.detail = detail or self.title
        self.extra = extra
        super().__init__(self.detail)

    def headers(self) -> dict[str, str]:
        return {}


class ValidationFailed(LicensorError):
    status = 422
    code = "validation_failed"
    title = "The request is not valid"


class FormInvalid(LicensorError):
    """Fields with problems, by field name; each problem is a message key for the page."""

    status = 422
    code = "validation_failed"
    title = "Some fields need attention"

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__(None, fields=fields)
        self.fields = fields


class NotFound(LicensorError):
    status = 404
    code = "not_found"
    title = "Not found"


class RateLimited(LicensorError):
    status = 429
    code = "rate_limited"
    title = "Too many requests; try again later"

    def __init__(self, retry_after: int, detail: str | None = None) -> None:
        super().__init__(detail, retry_after=retry_after)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class ServiceUnavailable(LicensorError):
    """A store the answer depends on is away: the database, or the rate-limit store where a
    limit protects a guessable secret (failing closed)."""

    status = 503
    code = "service_unavailable"
    title = "The service is briefly unavailable; try again shortly"

    def __init__(self, retry_after: int = 5, detail: str | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class RateLimitStoreDown(ServiceUnavailable):
    """The shared rate-limit store (Redis) did not answer in time. Uncaught, it is the 503
    of a limit that protects a guessable secret (failing closed); ``ratelimit.enforce``
    lets validation through instead (failing open)."""


class DatabaseUnavailable(ServiceUnavailable):
    """The database did not answer in time, refused the connection, or lost it (licensor/
    db.py says which errors mean this). Nothing was done; the same request later will
    work, without the process being restarted."""
