"""CSRF protection for every form: a signed double-submit token.

Each browser gets a random cookie; forms carry HMAC(key, cookie) in a hidden field. A
cross-site page can neither read the cookie nor compute the field, and a token from one
browser is useless in another. Checked on every unsafe request to a page.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.requests import Request

from licensor.errors import LicensorError

COOKIE = "licensor_csrf"
FIELD = "csrf_token"


class CsrfFailed(LicensorError):
    status = 403
    code = "csrf_failed"
    title = "This form has expired or did not come from this site; reload the page and try again"


def browser_secret(request: Request) -> str:
    """The browser's CSRF cookie value, made on first use (render sets the cookie)."""
    secret = getattr(request.state, "csrf_secret", None)
    if secret is None:
        cookie = request.cookies.get(COOKIE, "")
        secret = cookie if 20 <= len(cookie) <= 64 else secrets.token_urlsafe(32)
        request.state.csrf_secret = secret
    return str(secret)


def token_for(key: bytes, secret: str) -> str:
    return hmac.new(key, secret.encode(), hashlib.sha256).hexdigest()


def check(request: Request, key: bytes, submitted: str | None) -> None:
    cookie = request.cookies.get(COOKIE)
    if not cookie or not submitted:
        raise CsrfFailed()
    if not hmac.compare_digest(token_for(key, cookie), submitted):
        raise CsrfFailed()
