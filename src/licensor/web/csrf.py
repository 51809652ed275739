"""CSRF protection for every form: a signed double-submit token bound to the session.

Each browser gets a random cookie; forms carry HMAC(key, cookie, session) in a hidden
field, where the session is the digest of the browser's session cookie (or "anonymous"
when signed out). A cross-site page can neither read the cookie nor compute the field; a
token from one browser is useless in another, and a token from before sign-in (which
rotates the session) is useless after it. Checked on every unsafe request to a page; the
edge (``licensor.edge``) also refuses such requests from another origin.

Over HTTPS the cookie is ``__Host-licensor_csrf``: Secure, Path=/, no Domain, so neither
a sibling subdomain nor a plain-HTTP page can plant one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.requests import Request

from licensor.errors import CsrfFailed

SECURE_COOKIE = "__Host-licensor_csrf"
PLAIN_COOKIE = "licensor_csrf"
COOKIE = PLAIN_COOKIE  # the name over plain HTTP
FIELD = "csrf_token"
ANONYMOUS = b"anonymous"


def cookie_name(secure: bool) -> str:
    # The __Host- prefix needs the Secure attribute, which needs HTTPS.
    return SECURE_COOKIE if secure else PLAIN_COOKIE


def browser_secret(request: Request, secure: bool) -> str:
    """The browser's CSRF cookie value, made on first use (render sets the cookie)."""
    secret = getattr(request.state, "csrf_secret", None)
    if secret is None:
        cookie = request.cookies.get(cookie_name(secure), "")
        secret = cookie if 20 <= len(cookie) <= 64 else secrets.token_urlsafe(32)
        request.state.csrf_secret = secret
    return str(secret)


def token_for(key: bytes, secret: str, session_token: str | None) -> str:
    """The form field for this browser's cookie in this session (None: signed out)."""
    session = hashlib.sha256(session_token.encode()).digest() if session_token else ANONYMOUS
    return hmac.new(key, secret.encode() + b"\x00" + session, hashlib.sha256).hexdigest()


def check(
    request: Request, key: bytes, submitted: str | None, *, secure: bool, session_token: str | None
) -> None:
    cookie = request.cookies.get(cookie_name(secure))
    if not cookie or not submitted:
        raise CsrfFailed()
    expected = token_for(key, cookie, session_token).encode()
    if not hmac.compare_digest(expected, submitted.encode()):  # bytes: any text compares
        raise CsrfFailed()
