"""Account factories, and a browser as the pages see one: a cookie jar and form posts.

Accounts are made through the service, as ``licensor users create`` makes them; codes
and activations as the licensing tests make them (re-created here so the two domains'
fixtures stay independent).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from licensor.accounts.service import Accounts
from licensor.api import create_app
from licensor.clock import Clock
from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring
from licensor.licensing import formats
from licensor.licensing.service import Licensing
from licensor.mail.outbox import bodies
from licensor.models import CodeOrigin, OutboxMessage
from licensor.ratelimit import MemoryRateLimiter
from tests.support import serve

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


@pytest.fixture
def make_account(
    database: Database, keyring: Keyring, settings: Settings, clock: Clock
) -> MakeAccount:
    """An account that can sign in at once (verified unless told otherwise)."""

    def make(
        email: str | None = None,
        password: str = PASSWORD,
        *,
        roles: tuple[str, ...] = ("customer",),
        verified: bool = True,
        totp_secret: str | None = None,
    ) -> Customer:
        email = email or f"customer-{secrets.token_hex(4)}@example.com"
        with database.transaction() as session:
            account = Accounts(session, keyring, settings, clock.now()).create(
                email, password, roles=list(roles), verified=verified, totp_secret=totp_secret
            )
            return Customer(account.id, account.email, password)

    return make


# --- licensing (as in tests/licensing/conftest.py) ------------------------------------------


MakeCode = Callable[..., str]


@pytest.fixture
def make_code(database: Database, keyring: Keyring, settings: Settings, clock: Clock) -> MakeCode:
    """A fresh activation code (formatted) for a plan, made if it does not exist yet."""
    made: set[str] = set()

    def make(plan: str = "plus", *, devices_max: int = 3, term_days: int = 365) -> str:
        with database.transaction() as session:
            licensing = Licensing(session, keyring, settings, clock.now())
            if plan not in made:
                licensing.create_plan(
                    code=plan, name=plan.title(), term_days=term_days, devices_max=devices_max
                )
                made.add(plan)
            _, canonical = licensing.create_code(licensing.plan(plan), CodeOrigin.MANUAL)
        return formats.format_code(canonical)

    return make


def device(name: str = "Laptop") -> dict[str, str]:
    return {"fingerprint": secrets.token_hex(16), "name": name, "platform": "linux"}


def activate(api: httpx.Client, code: str, machine: dict[str, str]) -> dict[str, Any]:
    """Activate as an app does and insist it worked; the 201 body."""
    response = api.post("/api/v1/activations", json={"activation_code": code, "device": machine})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


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
def browser(server: str) -> Iterator[OpenBrowser]:
    """Open fresh browsers on the test server (each with its own cookies), closed after."""
    opened: list[Browser] = []

    def open_browser(base_url: str | None = None, **client_options: Any) -> Browser:
        opened.append(Browser(base_url or server, **client_options))
        return opened[-1]

    yield open_browser
    for each in opened:
        each.close()


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


# --- a server with tight rate limits ----------------------------------------------------------


@dataclass
class LimiterTime:
    """The rate limiter's clock, held still so a window cannot end mid-test."""

    now: float = 60.0 * 28_000_000 + 15  # 15 s into a minute: 45 s left in its window

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def limited_server(
    settings: Settings, database: Database, keyring: Keyring, clock: Clock
) -> Callable[..., AbstractContextManager[str]]:
    """Serve an app of its own with the given rates, e.g. ``signin_rate="3/minute"``."""

    @contextmanager
    def start(**rates: str) -> Iterator[str]:
        app = create_app(
            settings.model_copy(update=rates),
            database=database,
            keyring=keyring,
            limiter=MemoryRateLimiter(now=LimiterTime()),
            app_clock=clock,
        )
        with serve(app) as url:
            yield url

    return start
