"""Account factories, and a browser as the pages see one: a cookie jar and form posts.

Accounts are made through the service, as ``licensor users create`` makes them; codes and
activations come from ``tests/licensing/factories.py``. The fixtures reach every test
directory through ``pytest_plugins`` in ``tests/conftest.py``; the plain helpers are
imported from here by the tests that use them.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from licensor.accounts import totp
from licensor.clock import Clock
from licensor.db import Database
from licensor.keys import Keyring
from licensor.mail.outbox import bodies
from licensor.models import OutboxMessage
from tests.conftest import OpenUnit
from tests.licensing.factories import MakeCode, activate, device

PASSWORD = "correct horse battery staple"
SESSION_COOKIE = "licensor_session"  # the name over plain HTTP, as the test server speaks
CSRF_COOKIE = "licensor_csrf"
CSRF_FIELD = "csrf_token"

_CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]*)"')


# --- accounts -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Customer:
    id: int
    email: str
    password: str


MakeAccount = Callable[..., Customer]


def fresh_email(who: str = "customer", domain: str = "example.com") -> str:
    """An address no other test uses: ``customer-1a2b3c4d@example.com``."""
    return f"{who}-{secrets.token_hex(4)}@{domain}"


@pytest.fixture
def make_account(open_unit: OpenUnit) -> MakeAccount:
    """An account that can sign in at once (verified unless told otherwise)."""

    def make(
        email: str | None = None,
        password: str = PASSWORD,
        *,
        roles: tuple[str, ...] = ("customer",),
        language: str = "en",
        verified: bool = True,
        totp_secret: str | None = None,
    ) -> Customer:
        with open_unit() as unit:
            account = unit.accounts.create(
                email or fresh_email(),
                password,
                roles=list(roles),
                language=language,
                verified=verified,
                totp_secret=totp_secret,
            )
            return Customer(account.id, account.email, password)

    return make


# --- two-factor -----------------------------------------------------------------------------

# The secret enrolled by ``make_account(totp_secret=TOTP_SECRET)``, as an authenticator holds it.
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def two_factor_code(secret: str, clock: Clock) -> str:
    """The 6-digit code an authenticator shows now, by the server's (test) clock."""
    return totp.code_at(secret, totp.step_of(clock.now()))


def next_two_factor_code(secret: str, clock: Clock) -> str:
    """A code of a later step, the clock moved on to it (each code is accepted once)."""
    clock.advance(timedelta(seconds=2 * totp.STEP_SECONDS))
    return two_factor_code(secret, clock)


# --- linking a license to an account --------------------------------------------------------


def link(
    api: httpx.Client, customer: Customer, license_key: str, fingerprint: str
) -> httpx.Response:
    """``POST /api/v1/account/licenses`` as the app's "Connect to My Account" sends it."""
    return api.post(
        "/api/v1/account/licenses",
        json={
            "email": customer.email,
            "password": customer.password,
            "license_key": license_key,
            "fingerprint": fingerprint,
        },
    )


@dataclass(frozen=True)
class LinkedCode:
    code: str
    license_key: str
    public_id: str
    fingerprint: str


LinkCode = Callable[[Customer], LinkedCode]


@pytest.fixture
def linked_code(api: httpx.Client, make_code: MakeCode) -> LinkCode:
    """A code activated on a device of its own and joined to the customer's account."""

    def make(customer: Customer) -> LinkedCode:
        code = make_code()
        machine = device()
        activated = activate(api, code, machine)
        response = link(api, customer, activated["license_key"], machine["fingerprint"])
        assert response.status_code == 200, response.text
        return LinkedCode(
            code, activated["license_key"], activated["public_id"], machine["fingerprint"]
        )

    return make


# --- mail, read from the outbox -------------------------------------------------------------


def outbox(database: Database, to: str, template: str | None = None) -> list[OutboxMessage]:
    with database.transaction() as session:
        query = select(OutboxMessage).where(OutboxMessage.recipient == to)
        if template is not None:
            query = query.where(OutboxMessage.template == template)
        return list(session.scalars(query.order_by(OutboxMessage.id)))


def link_in_mail(keyring: Keyring, message: OutboxMessage, path: str) -> str:
    """The path and query of the first link to ``path`` in a queued message."""
    text, _ = bodies(keyring, message)
    match = re.search(r"https?://[^/\s]+(" + re.escape(path) + r"[^\s]*)", text)
    assert match, text
    return match.group(1)


# --- family sharing -------------------------------------------------------------------------

ShareLicense = Callable[[Customer, str, Customer], None]
InviteToShare = Callable[[Customer, str, str], str]


@pytest.fixture
def invite_to_share(open_unit: OpenUnit, database: Database, keyring: Keyring) -> InviteToShare:
    """``invite_to_share(owner, public_id, email)``: the path of the invitation link mailed
    to ``email`` for a seat of the owner's license, as the sharing page sends it."""

    def invite(owner: Customer, public_id: str, email: str) -> str:
        with open_unit() as unit:
            unit.license_sharing.invite(unit.accounts.get(owner.id), public_id, email)
        [*_, mail] = outbox(database, email, "share_invitation")
        return link_in_mail(keyring, mail, "/share/")

    return invite


@pytest.fixture
def share_license(open_unit: OpenUnit, invite_to_share: InviteToShare) -> ShareLicense:
    """``share_license(owner, public_id, invitee)``: the owner's license shared with the
    invitee's account and accepted, through the services the pages call (the invitation's
    token read from its mail)."""

    def share(owner: Customer, public_id: str, invitee: Customer) -> None:
        token = invite_to_share(owner, public_id, invitee.email).rsplit("/", 1)[1]
        with open_unit() as unit:
            unit.license_sharing.accept(unit.accounts.get(invitee.id), token)

    return share


# --- a browser --------------------------------------------------------------------------------


class Browser:
    """What the pages see of a browser: its own cookie jar, forms posted with its token."""

    def __init__(self, base_url: str, **client_options: Any) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=30, **client_options)

    def close(self) -> None:
        self.client.close()

    def get(self, path: str) -> httpx.Response:
        return self.client.get(path)

    def csrf_token(self, path: str = "/sign-in") -> str:
        """The hidden field of a form on ``path`` (which also sets the CSRF cookie)."""
        response = self.client.get(path)
        assert response.status_code == 200, response.text
        match = _CSRF_INPUT.search(response.text)
        assert match, f"no CSRF field on {path}"
        return match.group(1)

    def post(
        self, path: str, data: dict[str, str] | None = None, *, token: str | None = None
    ) -> httpx.Response:
        """Post a form with this browser's token (or the ``token`` given, "" for none)."""
        fields = dict(data or {})
        if token is None:
            token = self.csrf_token()
        if token:
            fields[CSRF_FIELD] = token
        return self.client.post(path, data=fields)

    def sign_in(self, customer: Customer) -> httpx.Response:
        response = self.post("/sign-in", {"email": customer.email, "password": customer.password})
        assert response.status_code == 303, response.text
        return response

    @property
    def session_token(self) -> str | None:
        return self.client.cookies.get(SESSION_COOKIE)

    def signed_in(self) -> bool:
        """Whether My Account opens (a signed-out visitor is sent to sign in)."""
        response = self.client.get("/account/licenses")
        if response.status_code == 303:
            assert response.headers["location"].startswith("/sign-in")
            return False
        assert response.status_code == 200, response.text
        return True


OpenBrowser = Callable[..., Browser]


@pytest.fixture
def form_browser(server: str) -> Iterator[OpenBrowser]:
    """Open fresh browsers on the test server (each with its own cookies), closed after.

    Not ``browser``: that is the real Chromium of ``tests/web/conftest.py``.
    """
    opened: list[Browser] = []

    def open_browser(base_url: str | None = None, **client_options: Any) -> Browser:
        opened.append(Browser(base_url or server, **client_options))
        return opened[-1]

    yield open_browser
    for each in opened:
        each.close()


@pytest.fixture
def visitor(form_browser: OpenBrowser) -> Browser:
    """A fresh browser on the test server, signed in to nothing."""
    return form_browser()


def signed_in(open_browser: OpenBrowser, customer: Customer) -> Browser:
    """A fresh browser signed in as the customer (with no second factor to give)."""
    browser = open_browser()
    browser.sign_in(customer)
    return browser


def browser_from(open_browser: OpenBrowser, url: str, address: str) -> Browser:
    """A browser on ``url`` whose connections come from another loopback address
    (127.0.0.0/8), as another client would."""
    return open_browser(url, transport=httpx.HTTPTransport(local_address=address))


def set_cookie_headers(response: httpx.Response, name: str) -> list[str]:
    """The ``Set-Cookie`` headers of a response that set the named cookie."""
    return [
        header
        for header in response.headers.get_list("set-cookie")
        if header.split("=", 1)[0].strip() == name
    ]


def cookie_attributes(header: str) -> dict[str, str]:
    """``Set-Cookie`` attributes by lower-case name (flags map to "")."""
    _, *attributes = header.split(";")
    pairs = (attribute.strip().partition("=") for attribute in attributes if attribute.strip())
    return {name.lower(): value for name, _, value in pairs}
