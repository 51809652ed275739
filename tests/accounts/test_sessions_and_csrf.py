"""Sessions, CSRF, rate limits and password storage: what keeps a signed-in browser safe."""

from __future__ import annotations

import html
import importlib
import pkgutil
import re
import secrets
from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import APIRouter
from fastapi.routing import APIRoute
from sqlalchemy import select
from starlette.routing import BaseRoute

import licensor
from licensor.accounts import passwords, totp
from licensor.accounts.licenses import code_page
from licensor.api import create_app
from licensor.clock import Clock
from licensor.config import Settings
from licensor.db import Database
from licensor.errors import CsrfFailed
from licensor.keys import Keyring
from licensor.models import Account, Base, Device
from tests.accounts.factories import (
    SESSION_COOKIE,
    Browser,
    Customer,
    LinkCode,
    MakeAccount,
    OpenBrowser,
    cookie_attributes,
    link_in_mail,
    outbox,
    set_cookie_headers,
    two_factor_code,
)
from tests.conftest import OpenUnit
from tests.licensing.factories import MakeCode
from tests.limits import StartLimitedServer
from tests.store.factories import MakeSubscription
from tests.support import assert_problem, serve
from tests.support.factories import SignInStaff

# The forms posted with fields that would succeed, so that only the token refuses them.
# Every other page that takes a POST is swept with the token missing or foreign
# (``test_every_post_route_refuses_a_missing_or_foreign_csrf_token``): the list of those
# is the app's own, so a new form cannot be left out.
FORM_ROUTES = {
    "/sign-in",
    "/sign-in/two-factor",
    "/sign-in/two-factor/enrol",
    "/sign-up",
    "/verify-email",
    "/sign-out",
    "/reset-password",
    "/reset-password/choose",
    "/account/licenses",
    "/account/devices/{device_id}/remove",
    "/account/devices/{device_id}/rename",
    "/account/security/sign-out-others",
    "/account/connect",
    "/account/settings/language",
    "/account/settings/password",
    "/account/settings/email",
    "/account/settings/two-factor",
    "/account/settings/two-factor/disable",
    "/account/settings/two-factor/recovery-codes",
    "/account/email/confirm",
    "/account/subscriptions/{subscription_id}/cancel",
    "/account/subscriptions/{subscription_id}/download",
    "/account/subscriptions/{subscription_id}/resume",
    "/account/subscriptions/{subscription_id}/card",
    "/account/licenses/{public_id}/replace",
    "/account/licenses/{public_id}/reminders",
    "/account/licenses/codes/{handle}/replace",
    "/account/emails",
    "/account/orders/find",
}
# JSON API routes are not browser forms: bearer keys, device proofs, provider signatures.
NOT_FORMS = ("/api/",)
PARAMETER = re.compile(r"{[^}]+}")


def _api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI >= 0.16x wraps routers
        if included is not None:
            yield from _api_routes(included.routes)
        elif isinstance(route, APIRoute):
            yield route


def post_routes(settings: Settings, database: Database, keyring: Keyring) -> set[str]:
    """Every page of the app that takes a POST, from the app itself."""
    app = create_app(settings, database=database, keyring=keyring)
    return {
        route.path
        for route in _api_routes(app.routes)
        if "POST" in (route.methods or set()) and not route.path.startswith(NOT_FORMS)
    }


def _routers_in_the_source() -> Iterator[APIRouter]:
    """Every router a module of the server defines, whether the app mounts it or not."""
    for module_info in pkgutil.walk_packages(licensor.__path__, "licensor."):
        if ".migrations" in module_info.name:
            continue
        module = importlib.import_module(module_info.name)
        for value in vars(module).values():
            if isinstance(value, APIRouter):
                yield value


# Validations a day: written by the server's validation writer up to a second after an
# earlier test's answers, whatever this test's forms do.
WRITTEN_BEHIND = frozenset({"usage_days"})


def _snapshot(database: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table: what a refused form must leave as it was."""
    with database.transaction() as session:
        return {
            table.name: sorted((tuple(row) for row in session.execute(select(table))), key=repr)
            for table in Base.metadata.sorted_tables
            if table.name not in WRITTEN_BEHIND
        }


def _account(database: Database, customer: Customer) -> Account:
    with database.transaction() as session:
        return session.get_one(Account, customer.id)


# --- CSRF ---------------------------------------------------------------------------------------


def test_the_list_of_form_routes_covers_every_page_that_takes_a_post(
    settings: Settings, database: Database, keyring: Keyring
) -> None:
    posted = post_routes(settings, database, keyring)
    # The app's list holds every form any module defines (none left unmounted, none
    # missed by the walk over the app's routes)...
    defined = {
        route.path
        for router in _routers_in_the_source()
        for route in router.routes
        if isinstance(route, APIRoute)
        and "POST" in (route.methods or set())
        and not route.path.startswith(NOT_FORMS)
    }
    assert defined <= posted, sorted(defined - posted)
    for expected in (
        "/account/subscriptions/{subscription_id}/card",
        "/account/subscriptions/{subscription_id}/resume",
        "/store/pay/test/card/{reference}",
        "/account/licenses/{public_id}/replace",
        "/account/licenses/codes/{handle}/replace",
        "/account/emails",
        "/account/orders/find",
        "/account/security/sign-out-others",
        "/account/devices/{device_id}/rename",
        "/seat-release/{token}",
        "/account/licenses/{public_id}/reminders",
        "/account/requests/{number}",
        "/desk/requests/{number}/replace-code",
    ):
        assert expected in posted, expected
    # ...and the forms posted with real fields are forms the app has.
    assert posted >= FORM_ROUTES, sorted(FORM_ROUTES - posted)


def test_every_post_route_refuses_a_missing_or_foreign_csrf_token(
    settings: Settings,
    database: Database,
    keyring: Keyring,
    sign_in_staff: SignInStaff,
    form_browser: OpenBrowser,
) -> None:
    # Signed in as staff, so that no role check answers before the token's; the fields
    # are a guess, the refusal must be the CSRF one, and nothing may change.
    routes = sorted(post_routes(settings, database, keyring))
    agent, _ = sign_in_staff()
    agent.csrf_token()  # the browser holds its CSRF cookie
    foreign = form_browser().csrf_token()
    before = _snapshot(database)
    for path in routes:
        concrete = PARAMETER.sub("1", path)
        for token in ("", foreign):
            response = agent.post(concrete, {"message": "x", "password": "x"}, token=token)
            assert response.status_code == 403, f"{path} {token!r}: {response.status_code}"
            assert html.escape(CsrfFailed.title, quote=True) in response.text, path
    assert _snapshot(database) == before


@pytest.fixture
def every_form(
    api: httpx.Client,
    database: Database,
    keyring: Keyring,
    clock: Clock,
    open_unit: OpenUnit,
    make_account: MakeAccount,
    make_code: MakeCode,
    linked_code: LinkCode,
    form_browser: OpenBrowser,
    make_subscription: MakeSubscription,
) -> tuple[Browser, dict[str, dict[str, str]]]:
    """A signed-in browser, and for each form route the fields that would succeed."""
    customer = make_account()
    subscription_id = make_subscription(customer.id)
    linked = linked_code(customer)
    unverified = make_account(verified=False)
    unused_code = make_code()  # joins the account below, never activated: a page of its own
    with open_unit() as unit:
        accounts = unit.accounts
        accounts.send_verification(accounts.get(unverified.id))
        unit.authentication.request_password_reset(customer.email, "en")
        accounts.request_email_change(
            accounts.get(customer.id), customer.password, "new-address@example.com"
        )
        device_id = unit.session.scalars(
            select(Device.id).where(Device.fingerprint == linked.fingerprint)
        ).one()
        unit.account_licenses.link_code(accounts.get(customer.id), unused_code)
        unused_id = unit.codes.find_code(unused_code).id
    verify = link_in_mail(
        keyring, outbox(database, unverified.email, "verify_email")[-1], "/verify-email"
    )
    reset = link_in_mail(
        keyring, outbox(database, customer.email, "reset_password")[-1], "/reset-password/choose"
    )
    change = link_in_mail(
        keyring,
        outbox(database, "new-address@example.com", "email_change_confirm")[-1],
        "/account/email/confirm",
    )
    authorized = api.post(
        "/api/v1/device/authorize", json={"fingerprint": secrets.token_hex(16), "name": "PC"}
    ).json()
    secret = totp.new_secret()
    visitor = form_browser()
    visitor.sign_in(customer)
    forms = {
        "/sign-in": {"email": customer.email, "password": customer.password},
        "/sign-in/two-factor": {"code": "123456"},
        "/sign-in/two-factor/enrol": {"secret": secret, "code": "123456"},
        "/sign-up": {"email": "someone-new@example.com", "password": "a fine new password"},
        "/verify-email": {"token": verify.partition("token=")[2]},
        "/sign-out": {},
        "/reset-password": {"email": customer.email},
        "/reset-password/choose": {
            "token": reset.partition("token=")[2],
            "password": "a brand new password",
        },
        "/account/licenses": {"activation_code": make_code()},
        f"/account/devices/{device_id}/remove": {},
        f"/account/devices/{device_id}/rename": {"name": "Office PC"},
        "/account/security/sign-out-others": {},
        "/account/connect": {"code": authorized["user_code"]},
        "/account/settings/language": {"language": "it"},
        "/account/settings/password": {
            "current_password": customer.password,
            "new_password": "a brand new password",
        },
        "/account/settings/email": {
            "new_email": "other@example.com",
            "password": customer.password,
        },
        "/account/settings/two-factor": {
            "secret": secret,
            "enrol_password": customer.password,
            "enrol_code": two_factor_code(secret, clock),
        },
        "/account/settings/two-factor/disable": {
            "disable_password": customer.password,
            "disable_code": "123456",
        },
        "/account/settings/two-factor/recovery-codes": {
            "codes_password": customer.password,
            "codes_code": "123456",
        },
        "/account/email/confirm": {"token": change.partition("token=")[2]},
        f"/account/subscriptions/{subscription_id}/cancel": {},
        f"/account/subscriptions/{subscription_id}/download": {},
        f"/account/subscriptions/{subscription_id}/resume": {},
        f"/account/subscriptions/{subscription_id}/card": {},
        f"/account/licenses/{linked.public_id}/replace": {"password": customer.password},
        f"/account/licenses/{linked.public_id}/reminders": {"reminders": "on"},
        code_page(keyring, unused_id) + "/replace": {"password": customer.password},
        "/account/emails": {"email": "another-address@example.com"},
        "/account/orders/find": {},
    }
    templates = {
        f"/account/devices/{device_id}/remove": "/account/devices/{device_id}/remove",
        f"/account/devices/{device_id}/rename": "/account/devices/{device_id}/rename",
        f"/account/subscriptions/{subscription_id}/cancel": (
            "/account/subscriptions/{subscription_id}/cancel"
        ),
        f"/account/subscriptions/{subscription_id}/download": (
            "/account/subscriptions/{subscription_id}/download"
        ),
        f"/account/subscriptions/{subscription_id}/resume": (
            "/account/subscriptions/{subscription_id}/resume"
        ),
        f"/account/subscriptions/{subscription_id}/card": (
            "/account/subscriptions/{subscription_id}/card"
        ),
        f"/account/licenses/{linked.public_id}/replace": "/account/licenses/{public_id}/replace",
        f"/account/licenses/{linked.public_id}/reminders": (
            "/account/licenses/{public_id}/reminders"
        ),
        code_page(keyring, unused_id) + "/replace": "/account/licenses/codes/{handle}/replace",
    }
    assert {templates.get(path, path) for path in forms} == FORM_ROUTES
    return visitor, forms


def test_a_form_posted_without_its_csrf_token_is_refused_and_changes_nothing(
    every_form: tuple[Browser, dict[str, dict[str, str]]], database: Database
) -> None:
    visitor, forms = every_form
    visitor.csrf_token()  # the browser has its CSRF cookie; only the field is missing
    for path, fields in forms.items():
        before = _snapshot(database)

        response = visitor.post(path, fields, token="")

        assert response.status_code == 403, path
        assert _snapshot(database) == before, path
    assert visitor.signed_in()


def test_a_form_posted_with_another_browsers_token_is_refused_and_changes_nothing(
    every_form: tuple[Browser, dict[str, dict[str, str]]],
    database: Database,
    form_browser: OpenBrowser,
) -> None:
    visitor, forms = every_form
    visitor.csrf_token()
    foreign_token = form_browser().csrf_token()
    for path, fields in forms.items():
        before = _snapshot(database)

        response = visitor.post(path, fields, token=foreign_token)

        assert response.status_code == 403, path
        assert _snapshot(database) == before, path
    assert visitor.signed_in()


def test_a_form_posted_with_its_token_but_without_the_csrf_cookie_is_refused(
    form_browser: OpenBrowser, make_account: MakeAccount
) -> None:
    # What a cross-site POST looks like: SameSite=Lax keeps the cookie home.
    customer = make_account()
    visitor = form_browser()
    token = visitor.csrf_token()
    visitor.client.cookies.clear()

    response = visitor.post(
        "/sign-in", {"email": customer.email, "password": customer.password}, token=token
    )

    assert response.status_code == 403
    assert visitor.session_token is None


# --- the session cookie ---------------------------------------------------------------------------


def test_the_session_cookie_is_http_only_and_same_site_lax(
    form_browser: OpenBrowser, make_account: MakeAccount
) -> None:
    visitor = form_browser()

    response = visitor.sign_in(make_account())

    (header,) = set_cookie_headers(response, SESSION_COOKIE)
    attributes = cookie_attributes(header)
    assert "httponly" in attributes
    assert attributes["samesite"].lower() == "lax"
    assert attributes["path"] == "/"
    assert "domain" not in attributes
    assert "expires" not in attributes  # a browser session: gone when the browser closes
    assert "secure" not in attributes  # plain HTTP here; see the HTTPS case below


def test_over_https_the_session_cookie_is_host_prefixed_and_secure(
    server: str, make_account: MakeAccount
) -> None:
    # The TLS proxy in front says https (uvicorn trusts it from loopback). A Secure cookie
    # is not sent back over plain HTTP, so the cookies travel by hand here.
    customer = make_account()
    https = {"x-forwarded-proto": "https"}
    with httpx.Client(base_url=server, timeout=30, headers=https) as client:
        form = client.get("/sign-in")
        csrf_secret = form.cookies["__Host-licensor_csrf"]
        token = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        signed_in = client.post(
            "/sign-in",
            data={"email": customer.email, "password": customer.password, "csrf_token": token},
            headers={"cookie": f"__Host-licensor_csrf={csrf_secret}"},
        )

    assert signed_in.status_code == 303, signed_in.text
    assert set_cookie_headers(signed_in, SESSION_COOKIE) == []
    (header,) = set_cookie_headers(signed_in, "__Host-licensor_session")
    attributes = cookie_attributes(header)
    assert "secure" in attributes
    assert "httponly" in attributes
    assert attributes["samesite"].lower() == "lax"
    assert attributes["path"] == "/"
    assert "domain" not in attributes


def test_behind_an_https_base_url_cookies_are_secure_even_if_the_proxy_says_nothing(
    settings: Settings, database: Database, keyring: Keyring, make_account: MakeAccount
) -> None:
    """A proxy whose X-Forwarded-Proto is not trusted (no --forwarded-allow-ips): the
    request looks like plain HTTP, but the deployment is https, so cookies are Secure."""
    customer = make_account()
    https = settings.model_copy(update={"base_url": "https://licensor.example"})
    with serve(create_app(https, database=database, keyring=keyring)) as url:
        with httpx.Client(base_url=url, timeout=30) as client:
            form = client.get("/sign-in")
            csrf_secret = form.cookies["__Host-licensor_csrf"]
            token = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
            signed_in = client.post(
                "/sign-in",
                data={"email": customer.email, "password": customer.password, "csrf_token": token},
                headers={"cookie": f"__Host-licensor_csrf={csrf_secret}"},
            )

    assert signed_in.status_code == 303, signed_in.text
    assert set_cookie_headers(signed_in, SESSION_COOKIE) == []
    (header,) = set_cookie_headers(signed_in, "__Host-licensor_session")
    assert "secure" in cookie_attributes(header)
    (csrf_header,) = [
        header
        for header in form.headers.get_list("set-cookie")
        if header.startswith("__Host-licensor_csrf=")
    ]
    assert "secure" in cookie_attributes(csrf_header)


def test_a_session_token_planted_before_sign_in_is_replaced_and_worthless(
    form_browser: OpenBrowser, make_account: MakeAccount
) -> None:
    planted = secrets.token_urlsafe(32)
    visitor = form_browser()
    visitor.client.cookies.set(SESSION_COOKIE, planted, domain="127.0.0.1")

    visitor.sign_in(make_account())

    assert visitor.session_token not in (None, planted)
    attacker = form_browser()
    attacker.client.cookies.set(SESSION_COOKIE, planted)
    assert not attacker.signed_in()
    assert visitor.signed_in()


def test_signing_in_again_rotates_the_session_and_the_earlier_token_is_dead(
    form_browser: OpenBrowser, make_account: MakeAccount
) -> None:
    customer = make_account()
    visitor = form_browser()
    visitor.sign_in(customer)
    earlier = visitor.session_token
    assert earlier is not None

    visitor.sign_in(customer)

    assert visitor.session_token not in (None, earlier)
    assert visitor.signed_in()
    stolen = form_browser()
    stolen.client.cookies.set(SESSION_COOKIE, earlier)
    assert not stolen.signed_in()


def test_the_half_signed_in_token_before_the_second_factor_dies_when_it_is_given(
    form_browser: OpenBrowser, make_account: MakeAccount, clock: Clock
) -> None:
    secret = totp.new_secret()
    customer = make_account(totp_secret=secret)
    visitor = form_browser()
    asked = visitor.sign_in(customer)
    assert asked.headers["location"].startswith("/sign-in/two-factor")
    pending = visitor.session_token
    assert pending is not None
    assert not visitor.signed_in()  # a password alone does not open My Account

    done = visitor.post(
        "/sign-in/two-factor",
        {"code": two_factor_code(secret, clock), "next": "/account/licenses"},
        token=visitor.csrf_token("/sign-in/two-factor"),
    )

    assert done.status_code == 303, done.text
    assert visitor.session_token not in (None, pending)
    assert visitor.signed_in()
    stolen = form_browser()
    stolen.client.cookies.set(SESSION_COOKIE, pending)
    assert not stolen.signed_in()


def test_a_session_ends_after_the_idle_timeout_and_activity_keeps_it_alive(
    form_browser: OpenBrowser, make_account: MakeAccount, clock: Clock, settings: Settings
) -> None:
    idle = timedelta(minutes=settings.session_idle_minutes)
    visitor = form_browser()
    visitor.sign_in(make_account())

    clock.advance(idle - timedelta(minutes=2))
    assert visitor.signed_in()
    clock.advance(idle - timedelta(minutes=2))  # measured from the last visit, not sign-in
    assert visitor.signed_in()

    clock.advance(idle + timedelta(minutes=1))
    assert not visitor.signed_in()


def test_a_session_ends_after_its_absolute_lifetime_however_active(
    form_browser: OpenBrowser, make_account: MakeAccount, clock: Clock, settings: Settings
) -> None:
    lifetime = timedelta(hours=settings.session_absolute_hours)
    step = timedelta(minutes=settings.session_idle_minutes - 15)
    visitor = form_browser()
    visitor.sign_in(make_account())

    elapsed = timedelta(0)
    while elapsed + step < lifetime - timedelta(minutes=5):
        clock.advance(step)
        elapsed += step
        assert visitor.signed_in(), f"signed out after {elapsed}"
    remaining = lifetime - elapsed + timedelta(minutes=1)
    assert remaining < timedelta(minutes=settings.session_idle_minutes)  # not an idle end
    clock.advance(remaining)

    assert not visitor.signed_in()


def test_a_password_reset_ends_every_session_of_the_account(
    form_browser: OpenBrowser, make_account: MakeAccount, database: Database, keyring: Keyring
) -> None:
    customer = make_account()
    signed_in = form_browser()
    signed_in.sign_in(customer)
    old_token = signed_in.session_token
    assert old_token is not None
    forgetful = form_browser()
    assert forgetful.post("/reset-password", {"email": customer.email}).status_code == 200
    choose = link_in_mail(
        keyring, outbox(database, customer.email, "reset_password")[-1], "/reset-password/choose"
    )

    done = forgetful.post(
        "/reset-password/choose",
        {"token": choose.partition("token=")[2], "password": "a brand new password"},
        token=forgetful.csrf_token(choose),
    )

    assert done.status_code == 200, done.text
    assert not signed_in.signed_in()
    replayed = form_browser()
    replayed.client.cookies.set(SESSION_COOKIE, old_token)
    assert not replayed.signed_in()
    assert (
        form_browser()
        .post("/sign-in", {"email": customer.email, "password": customer.password})
        .status_code
        == 401
    )
    form_browser().sign_in(Customer(customer.id, customer.email, "a brand new password"))


def test_a_password_change_ends_other_sessions_but_keeps_the_current_one(
    form_browser: OpenBrowser, make_account: MakeAccount
) -> None:
    customer = make_account()
    here = form_browser()
    here.sign_in(customer)
    elsewhere = form_browser()
    elsewhere.sign_in(customer)

    changed = here.post(
        "/account/settings/password",
        {"current_password": customer.password, "new_password": "a brand new password"},
        token=here.csrf_token("/account/settings"),
    )

    assert changed.status_code == 200, changed.text
    assert here.signed_in()
    assert not elsewhere.signed_in()


# --- rate limits ---------------------------------------------------------------------------------


def _assert_rate_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert 0 < int(response.headers["retry-after"]) <= 60


def test_sign_in_is_rate_limited_per_address(
    limited_server: StartLimitedServer, form_browser: OpenBrowser
) -> None:
    with limited_server(signin_rate="3/minute") as server:
        visitor = form_browser(server.url)
        token = visitor.csrf_token()
        for attempt in range(3):
            guess = {"email": f"guess-{attempt}@example.com", "password": "a guessed password"}
            assert visitor.post("/sign-in", guess, token=token).status_code == 401

        blocked = visitor.post(
            "/sign-in", {"email": "guess-4@example.com", "password": "x" * 12}, token=token
        )

    _assert_rate_limited(blocked)


def test_sign_up_is_rate_limited(
    limited_server: StartLimitedServer, form_browser: OpenBrowser
) -> None:
    with limited_server(signup_rate="3/minute") as server:
        visitor = form_browser(server.url)
        token = visitor.csrf_token("/sign-up")
        for attempt in range(3):
            fields = {"email": f"new-{attempt}@example.com", "password": "a fine new password"}
            assert visitor.post("/sign-up", fields, token=token).status_code == 200

        blocked = visitor.post(
            "/sign-up",
            {"email": "new-4@example.com", "password": "a fine new password"},
            token=token,
        )

    _assert_rate_limited(blocked)


def test_password_reset_is_rate_limited_per_address(
    limited_server: StartLimitedServer, form_browser: OpenBrowser
) -> None:
    with limited_server(signup_rate="3/minute") as server:
        visitor = form_browser(server.url)
        token = visitor.csrf_token("/reset-password")
        for attempt in range(3):
            fields = {"email": f"who-{attempt}@example.com"}
            assert visitor.post("/reset-password", fields, token=token).status_code == 200

        blocked = visitor.post("/reset-password", {"email": "who-4@example.com"}, token=token)

    _assert_rate_limited(blocked)


def _link_guess(email: str) -> dict[str, str]:
    return {
        "email": email,
        "password": "a guessed password",
        "license_key": "0" * 32,
        "fingerprint": "f" * 32,
    }


def test_the_link_api_is_rate_limited_with_a_problem(limited_server: StartLimitedServer) -> None:
    with limited_server(link_rate="3/minute") as server:
        client = server.api
        for attempt in range(3):
            answer = client.post("/api/v1/account/licenses", json=_link_guess(f"g{attempt}@x.io"))
            assert answer.status_code == 401

        blocked = client.post("/api/v1/account/licenses", json=_link_guess("g4@x.io"))

    body = assert_problem(blocked, 429, "rate_limited")
    assert 0 < int(blocked.headers["retry-after"]) <= 60
    assert body["retry_after"] == int(blocked.headers["retry-after"])


# --- password storage --------------------------------------------------------------------------


@pytest.mark.real_password_cost
def test_passwords_are_stored_as_argon2id(form_browser: OpenBrowser, database: Database) -> None:
    visitor = form_browser()
    answer = visitor.post(
        "/sign-up", {"email": "fresh@example.com", "password": "a fine new password"}
    )
    assert answer.status_code == 200

    with database.transaction() as session:
        stored = session.scalars(
            select(Account.password_hash).where(Account.email == "fresh@example.com")
        ).one()

    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")  # RFC 9106, low memory
    assert "a fine new password" not in stored
    assert not passwords.needs_rehash(stored)


@pytest.fixture
def weak_hash(database: Database, make_account: MakeAccount) -> tuple[Customer, str]:
    """An account whose stored hash was made with weaker parameters than today's."""
    customer = make_account()
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(customer.password)
    with database.transaction() as session:
        session.get_one(Account, customer.id).password_hash = weak
    assert passwords.needs_rehash(weak)
    return customer, weak


@pytest.mark.real_password_cost
def test_a_password_is_rehashed_at_sign_in_when_the_parameters_changed(
    weak_hash: tuple[Customer, str], form_browser: OpenBrowser, database: Database
) -> None:
    customer, weak = weak_hash

    form_browser().sign_in(customer)

    stored = _account(database, customer).password_hash
    assert stored != weak
    assert stored.startswith("$argon2id$")
    assert not passwords.needs_rehash(stored)
    assert passwords.verify_password(stored, customer.password)
    form_browser().sign_in(customer)  # and the new hash still opens the account


def test_a_wrong_password_does_not_rehash(
    weak_hash: tuple[Customer, str], form_browser: OpenBrowser, database: Database
) -> None:
    customer, weak = weak_hash

    refused = form_browser().post(
        "/sign-in", {"email": customer.email, "password": "wrong password"}
    )

    assert refused.status_code == 401
    assert _account(database, customer).password_hash == weak
