"""What every page shares: templates, language, the visitor, CSRF, redirects, errors.

Routes are sync functions running in a worker thread; each opens one transaction with
``web.unit(request, ...)`` and renders inside it (docs/adr/0001).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session

from licensor.clock import Clock
from licensor.config import Settings
from licensor.db import Database
from licensor.errors import (
    Forbidden,
    NulRefused,
    PasswordChangeRequired,
    SecondFactorPending,
    SignInRequired,
    TwoFactorRequired,
)
from licensor.keys import Keyring
from licensor.mail import dev_mailbox
from licensor.models import Account, WebSession
from licensor.ratelimit import RateLimiter, Rule, enforce
from licensor.units import UnitOfWork
from licensor.web import brand, csrf, i18n, sessions

PACKAGE = Path(__file__).resolve().parent.parent
TEMPLATE_DIRS = [
    PACKAGE / "web" / "templates",
    PACKAGE / "accounts" / "templates",
    PACKAGE / "store" / "templates",
    PACKAGE / "support" / "templates",
    PACKAGE / "console" / "templates",
]


def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader([str(path) for path in TEMPLATE_DIRS]),
        autoescape=select_autoescape(("html",)),
        extensions=["jinja2.ext.i18n"],
    )
    # base.html's head and header: the brand's files and each kind of page's description.
    environment.globals["brand_assets"] = brand.assets
    environment.globals["page_description"] = brand.description
    return environment


@lru_cache
def language_environment(language: str) -> Environment:
    """The templates in ``language``, made once (made per request, every page would cost
    its templates' compile)."""
    # A whole environment, not an overlay: an overlay shares its parent's globals and
    # filters (the same dicts, and the i18n extension bound to the parent), so each
    # language installed there spoke on every page, the last one made winning.
    environment = _environment()
    environment.globals.update(ENVIRONMENT.globals)  # what domains registered there
    install_language(environment, language)
    return environment


def install_language(environment: Environment, language: str) -> None:
    """Page text, plurals and dates in ``language``: ``_()``, ``ngettext()``, the filters
    ``date`` (``Dec 5, 2026``/``5 dic 2026``), ``datetime`` (with the time, UTC) and
    ``entitlement`` (a plan's ``vpn`` as "VPN")."""
    # An overlay shares its parent's globals and filters (the same dicts): installing a
    # language into them would change every other overlay's, a concurrent request's too.
    environment.globals = dict(environment.globals)
    environment.filters = dict(environment.filters)
    translator = i18n.translator(language)
    environment.install_gettext_callables(  # type: ignore[attr-defined]
        translator.gettext, translator.ngettext, newstyle=True
    )
    environment.filters["date"] = lambda value: i18n.format_date(value, language)
    environment.filters["datetime"] = lambda value: i18n.format_datetime(value, language)
    environment.filters["entitlement"] = lambda name: i18n.entitlement_label(name, language)
    environment.globals["date_example"] = i18n.date_example(language)


ENVIRONMENT = _environment()


SIGNED_IN = "signed_in"  # require= any signed-in account, whatever its roles


# What a session that must change its password may open: the settings page and its forms.
PASSWORD_CHANGE_PATHS = ("/account/settings",)

STAFF_ROLES = ("agent", "admin")
STAFF = "staff"  # require= either staff role (the support desk: agents and admins)


@dataclass
class Visitor:
    account: Account | None
    web_session: WebSession | None

    @property
    def signed_in(self) -> bool:
        return self.account is not None and not self.half_signed_in

    @property
    def half_signed_in(self) -> bool:
        """The password was right; the second factor (or its enrolment) is still due."""
        return self.web_session is not None and self.web_session.second_factor_pending

    @property
    def must_change_password(self) -> bool:
        return self.web_session is not None and self.web_session.password_change_required


class PageUnit(UnitOfWork):
    """One page request's unit of work (its services by name: ``unit.accounts``), with its
    visitor, language and the cookies its answer sets."""

    def __init__(
        self, request: Request, session: Session, visitor: Visitor, language: str, web: Web
    ) -> None:
        actor = (
            f"account:{visitor.account.id}"
            if visitor.account is not None
            else f"web:{request.client.host if request.client else 'unknown'}"
        )
        super().__init__(session, web.keyring, web.settings, web.now, actor=actor)
        self.request = request
        self.visitor = visitor
        self.language = language
        self.web = web
        self.cookies: list[tuple[str, str, dict[str, Any]]] = []

    @property
    def account(self) -> Account:
        assert self.visitor.account is not None
        return self.visitor.account

    def _(self, message: str) -> str:
        return i18n.translator(self.language).gettext(message)

    def ngettext(self, singular: str, plural: str, count: int) -> str:
        """The form of a message for ``count`` in the page's language (format it after:
        ``unit.ngettext("{count} seat", "{count} seats", n).format(count=n)``)."""
        return i18n.translator(self.language).ngettext(singular, plural, count)

    def format_date(self, value: date | datetime | None) -> str:
        """A day as the page's language writes it (``Dec 5, 2026``, ``5 dic 2026``)."""
        return i18n.format_date(value, self.language)

    def typed_date(self, text: str) -> str:
        """A date field as typed in the page's language, as ISO for a service (or as it
        came, when it is no date, for the service to refuse beside the field)."""
        return i18n.typed_date(text, self.language)

    def field_messages(
        self, fields: dict[str, str], catalog: dict[str, str], prefix: str = ""
    ) -> dict[str, str]:
        """A service's field problems (``FormInvalid`` keys) as the page shows them, by
        field, translated from ``catalog``; ``prefix`` names the form where a page has
        several."""
        return {prefix + name: self._(catalog.get(key, key)) for name, key in fields.items()}

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        environment = language_environment(self.language)
        secure = self.web.is_secure(self.request)
        secret = csrf.browser_secret(self.request, secure)
        html = environment.get_template(template).render(
            request=self.request,
            visitor=self.visitor,
            language=self.language,
            languages=i18n.LANGUAGES,
            csrf_field=csrf.FIELD,
            csrf_token=csrf.token_for(self.web.csrf_key, secret, self._session_after()),
            settings=self.web.settings,
            dev_mailbox=dev_mailbox.reachable(self.web.settings, self.request.scope),
            path=self.request.url.path,
            **context,
        )
        response = HTMLResponse(html, status_code=status)
        self.web.set_cookie(self.request, response, csrf.cookie_name(secure), secret, max_age=None)
        self._apply_cookies(response)
        return response

    def _session_after(self) -> str | None:
        """The session cookie the browser holds once this answer arrives (a form on it is
        posted in that session): one this answer sets or deletes, else the request's."""
        name = sessions.cookie_name(self.web.is_secure(self.request))
        for cookie, value, _ in reversed(self.cookies):
            if cookie == name:
                return value or None
        return self.web.session_token(self.request)

    def redirect(self, location: str, status: int = 303) -> RedirectResponse:
        response = RedirectResponse(location, status_code=status)
        self._apply_cookies(response)
        return response

    def set_cookie(self, name: str, value: str, **options: Any) -> None:
        self.cookies.append((name, value, options))

    def _apply_cookies(self, response: Response) -> None:
        for name, value, options in self.cookies:
            if value == "":
                self.web.delete_cookie(self.request, response, name)
            else:
                self.web.set_cookie(self.request, response, name, value, **options)


class Web:
    """The app's page machinery, reached through the ``Pages`` dependency."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        keyring: Keyring,
        clock: Clock,
        limiter: RateLimiter,
        rules: dict[str, Rule],
    ) -> None:
        self.settings = settings
        self.database = database
        self.keyring = keyring
        self.clock = clock
        self.limiter = limiter
        self.rules = rules
        self.csrf_key = keyring.derive(b"csrf")
        self.https = settings.base_url.lower().startswith("https://")

    @property
    def now(self) -> datetime:
        return self.clock.now()

    @contextmanager
    def unit(
        self, request: Request, *, require: str | None = None, check_csrf: bool = False
    ) -> Iterator[PageUnit]:
        """Open the page's transaction; ``require`` a role to be signed in with it."""
        if check_csrf:
            self.check_csrf(request)
        with self.database.transaction() as session:
            visitor = self._visitor(request, session)
            account_language = visitor.account.language if visitor.account else None
            language = i18n.negotiate(request, account_language)
            if require is not None:
                # Keep the query: the app's connect link carries its code in it (F10).
                query = request.url.query
                here = request.url.path + (f"?{query}" if query else "")
                if visitor.half_signed_in:
                    raise SecondFactorPending(here)
                if not visitor.signed_in:
                    raise SignInRequired(here)
                if visitor.must_change_password and not request.url.path.startswith(
                    PASSWORD_CHANGE_PATHS
                ):
                    raise PasswordChangeRequired(here)
                assert visitor.account is not None
                allowed = STAFF_ROLES if require == STAFF else (require,)
                if require != SIGNED_IN and not any(map(visitor.account.has_role, allowed)):
                    raise Forbidden()
                staff = require == STAFF or require in STAFF_ROLES
                if staff and visitor.account.totp_secret_ciphertext is None:
                    raise TwoFactorRequired()
            unit = PageUnit(request, session, visitor, language, self)
            requested = request.query_params.get("lang")
            if requested in i18n.LANGUAGES:
                unit.set_cookie(i18n.LANGUAGE_COOKIE, requested, max_age=365 * 86400)
            yield unit

    def check_csrf(self, request: Request) -> None:
        """The form's token, for this browser and session; then no NUL in any field
        (PostgreSQL refuses it in text): every form route calls this first."""
        # Starlette caches the parsed form, so the route can read it again.
        form = getattr(request.state, "form_cache", None)
        submitted = form.get(csrf.FIELD) if form is not None else None
        csrf.check(
            request,
            self.csrf_key,
            str(submitted) if submitted is not None else None,
            secure=self.is_secure(request),
            session_token=self.session_token(request),
        )
        if form is not None and any(
            isinstance(value, str) and "\x00" in value for _, value in form.multi_items()
        ):
            raise NulRefused()

    def limit(self, rule: str, key: str) -> None:
        enforce(self.limiter, self.rules[rule], key)

    def _visitor(self, request: Request, session: Session) -> Visitor:
        token = request.cookies.get(sessions.cookie_name(self.is_secure(request)))
        web_session = sessions.load(session, self.settings, token, self.now)
        if web_session is None:
            return Visitor(None, None)
        return Visitor(web_session.account, web_session)

    def session_token(self, request: Request) -> str | None:
        return request.cookies.get(sessions.cookie_name(self.is_secure(request)))

    def is_secure(self, request: Request) -> bool:
        """Whether cookies must be Secure (and ``__Host-``): the request came over https,
        or the deployment is https (LICENSOR_BASE_URL) even if the proxy's word on the
        scheme did not reach us (``--forwarded-allow-ips`` unset)."""
        return request.url.scheme == "https" or self.https

    def set_cookie(
        self, request: Request, response: Response, name: str, value: str, **options: Any
    ) -> None:
        options.setdefault("httponly", True)
        options.setdefault("samesite", "lax")
        response.set_cookie(name, value, secure=self.is_secure(request), path="/", **options)

    def delete_cookie(self, request: Request, response: Response, name: str) -> None:
        response.delete_cookie(
            name, path="/", secure=self.is_secure(request), httponly=True, samesite="lax"
        )


async def page_web(request: Request) -> Web:
    web: Web = request.app.state.web
    # Parse the form once here, on the event loop, so CSRF can be checked in the route.
    if request.method == "POST" and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        request.state.form_cache = await request.form()
    return web


Pages = Annotated[Web, Depends(page_web)]


def sign_in_location(next_path: str) -> str:
    """The sign-in page, then back to ``next_path`` (where ``SignInRequired`` sends)."""
    return SignInRequired(next_path).location


def safe_next(value: str | None, default: str = "/account/licenses") -> str:
    """Only local paths: an open redirect would let phishing borrow our domain."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return default
