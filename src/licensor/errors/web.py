"""What a page refuses its visitor (web/pages.py, web/csrf.py): not signed in, no second
factor, not for this account, a form without its CSRF token. The app's handler answers a
``SignInRequired`` with a redirect (303) to its ``location``."""

from __future__ import annotations

from urllib.parse import quote

from licensor.errors.base import LicensorError


class SignInRequired(LicensorError):
    status = 401
    code = "sign_in_required"
    title = "Sign in to continue"

    def __init__(self, next_path: str) -> None:
        super().__init__(None)
        self.next_path = next_path

    @property
    def location(self) -> str:
        """Where the visitor is sent (303) to get on: sign-in, then back to ``next_path``."""
        return f"/sign-in?next={quote(self.next_path)}"


class SecondFactorPending(SignInRequired):
    """A half-signed-in session (the password, not yet the second factor) reaches only
    the second step: the code, or for staff without one, enrolment."""

    @property
    def location(self) -> str:
        return f"/sign-in/two-factor?next={quote(self.next_path)}"


class PasswordChangeRequired(SignInRequired):
    """Signed in with a password today's policy refuses: settings first, to change it."""

    @property
    def location(self) -> str:
        return "/account/settings#password"


class TwoFactorRequired(LicensorError):
    """Staff pages open only to accounts with two-factor sign-in (issue 3)."""

    status = 403
    code = "two_factor_required"
    title = "Turn on two-factor sign-in in your account settings to open staff pages"


class Forbidden(LicensorError):
    status = 403
    code = "forbidden"
    title = "This page is not for your account"


class CsrfFailed(LicensorError):
    status = 403
    code = "csrf_failed"
    title = "This form has expired or did not come from this site; reload the page and try again"
