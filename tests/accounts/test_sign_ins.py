"""Sign-ins as the security page and the owner's mail see them (issue 14, item 14), over
HTTP as a browser signs in: each full sign-in is recorded with its browser and address
(the proxy's forwarded one, from a trusted proxy), a browser new to an account that has
signed in before is told to the owner by mail, and "sign out everywhere else" ends every
other session."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from licensor.accounts.places import place_of
from licensor.accounts.security import BROWSER_COOKIE
from licensor.accounts.user_agents import parse
from licensor.clock import Clock
from licensor.db import Database
from licensor.keys import Keyring
from licensor.mail.outbox import bodies
from licensor.models import SignIn, WebSession
from tests.accounts.factories import (
    TOTP_SECRET,
    Browser,
    MakeAccount,
    OpenBrowser,
    cookie_attributes,
    outbox,
    set_cookie_headers,
    signed_in,
    two_factor_code,
)
from tests.support import audit_events

FIREFOX_ON_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
)
SAFARI_ON_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)


def browser_with(open_browser: OpenBrowser, user_agent: str, forwarded_for: str) -> Browser:
    """A browser with its own User-Agent, behind the (trusted, loopback) proxy that says
    it comes from ``forwarded_for``."""
    return open_browser(headers={"user-agent": user_agent, "x-forwarded-for": forwarded_for})


def sign_ins(database: Database, account_id: int) -> list[SignIn]:
    with database.transaction() as session:
        return list(
            session.scalars(
                select(SignIn).where(SignIn.account_id == account_id).order_by(SignIn.id)
            )
        )


def test_a_sign_in_is_recorded_with_the_browser_and_the_forwarded_address(
    make_account: MakeAccount, form_browser: OpenBrowser, database: Database
) -> None:
    customer = make_account()
    visitor = browser_with(form_browser, FIREFOX_ON_WINDOWS, "203.0.113.7")

    visitor.sign_in(customer)

    (recorded,) = sign_ins(database, customer.id)
    assert (recorded.ip_address, recorded.user_agent) == ("203.0.113.7", FIREFOX_ON_WINDOWS)
    assert recorded.new_browser is False  # the account's first: no browser is "new" yet
    with database.transaction() as session:
        live = session.scalars(
            select(WebSession).where(
                WebSession.account_id == customer.id, WebSession.revoked_at.is_(None)
            )
        ).one()
        assert (live.ip_address, live.user_agent) == ("203.0.113.7", FIREFOX_ON_WINDOWS)
    page = visitor.get("/account/security").text
    assert "Firefox 133 on Windows" in page
    assert "Address 203.0.113.7" in page


def test_a_wrong_password_or_a_half_sign_in_records_no_sign_in(
    make_account: MakeAccount, form_browser: OpenBrowser, database: Database, clock: Clock
) -> None:
    customer = make_account()
    wrong = form_browser().post("/sign-in", {"email": customer.email, "password": "not it"})
    assert wrong.status_code == 401
    assert sign_ins(database, customer.id) == []

    # With two-factor sign-in, the password alone is not a sign-in; the code makes it one.
    guarded = make_account(totp_secret=TOTP_SECRET)
    visitor = form_browser()
    half = visitor.sign_in(guarded)
    assert half.headers["location"].startswith("/sign-in/two-factor")
    assert sign_ins(database, guarded.id) == []
    done = visitor.post("/sign-in/two-factor", {"code": two_factor_code(TOTP_SECRET, clock)})
    assert done.status_code == 303
    assert len(sign_ins(database, guarded.id)) == 1


def test_a_new_browser_is_mailed_to_the_owner_and_a_known_one_is_not(
    make_account: MakeAccount, form_browser: OpenBrowser, database: Database, keyring: Keyring
) -> None:
    customer = make_account()
    usual = browser_with(form_browser, FIREFOX_ON_WINDOWS, "192.168.1.20")
    usual.sign_in(customer)
    assert outbox(database, customer.email, "new_sign_in") == []  # a new account's first

    usual.client.post("/sign-out", data={"csrf_token": usual.csrf_token("/account/security")})
    usual.sign_in(customer)
    assert outbox(database, customer.email, "new_sign_in") == []  # the same browser

    phone = browser_with(form_browser, SAFARI_ON_IPHONE, "198.51.100.23")
    phone.sign_in(customer)

    (mail,) = outbox(database, customer.email, "new_sign_in")
    text, _ = bodies(keyring, mail)
    assert "Browser: Safari 18 on iOS" in text
    assert "Where: address 198.51.100.23" in text
    assert "/account/security" in text
    assert "/reset-password" in text
    flags = [(row.ip_address, row.new_browser) for row in sign_ins(database, customer.id)]
    assert flags == [("192.168.1.20", False), ("192.168.1.20", False), ("198.51.100.23", True)]
    assert len(audit_events(database, "accounts.new_browser_signed_in")) == 1


def test_the_mail_is_in_the_owners_language(
    make_account: MakeAccount, form_browser: OpenBrowser, database: Database, keyring: Keyring
) -> None:
    customer = make_account(language="it")
    signed_in(form_browser, customer)

    signed_in(form_browser, customer)

    (mail,) = outbox(database, customer.email, "new_sign_in")
    text, _ = bodies(keyring, mail)
    assert "è stato effettuato un accesso al tuo account da un browser" in text
    assert "Da dove: rete locale (127.0.0.1)" in text


def test_the_browser_cookie_is_http_only_and_long_lived_and_only_its_keyed_hash_is_stored(
    make_account: MakeAccount, visitor: Browser, database: Database
) -> None:
    customer = make_account()

    answer = visitor.sign_in(customer)

    (header,) = set_cookie_headers(answer, BROWSER_COOKIE)
    attributes = cookie_attributes(header)
    assert "httponly" in attributes
    assert attributes["samesite"].lower() == "lax"
    assert int(attributes["max-age"]) >= 365 * 86400
    cookie = visitor.client.cookies[BROWSER_COOKIE]
    (recorded,) = sign_ins(database, customer.id)
    assert recorded.browser_hash not in (cookie.encode(), hashlib.sha256(cookie.encode()).digest())


def test_a_browser_cookie_not_of_our_making_counts_as_a_new_browser(
    make_account: MakeAccount, form_browser: OpenBrowser, database: Database
) -> None:
    customer = make_account()
    signed_in(form_browser, customer)
    forger = form_browser()
    forger.client.cookies.set(BROWSER_COOKIE, "x" * 42)

    answer = forger.sign_in(customer)

    assert set_cookie_headers(answer, BROWSER_COOKIE)  # replaced
    assert len(outbox(database, customer.email, "new_sign_in")) == 1


def test_sign_out_everywhere_else_ends_every_other_session_and_is_audited(
    make_account: MakeAccount, form_browser: OpenBrowser, database: Database
) -> None:
    customer = make_account()
    here = signed_in(form_browser, customer)
    there = signed_in(form_browser, customer)
    elsewhere = signed_in(form_browser, customer)
    someone_else = signed_in(form_browser, make_account())

    answer = here.post(
        "/account/security/sign-out-others", token=here.csrf_token("/account/security")
    )

    assert answer.status_code == 303
    assert answer.headers["location"] == "/account/security"
    assert here.signed_in()
    assert not there.signed_in()
    assert not elsewhere.signed_in()
    assert someone_else.signed_in()
    assert "2 other sessions were signed out." in here.get("/account/security").text
    (event,) = [
        event
        for event in audit_events(database, "accounts.sessions_revoked")
        if event.reason == "sign_out_others"
    ]
    assert (event.subject_id, event.details["sessions"]) == (customer.id, 2)


# --- how a browser and a place are named ----------------------------------------------------


@pytest.mark.parametrize(
    ("user_agent", "named"),
    [
        (FIREFOX_ON_WINDOWS, ("Firefox", "133", "Windows")),
        (SAFARI_ON_IPHONE, ("Safari", "18", "iOS")),
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36",
            ("Chrome", "131", "Linux"),
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86",
            ("Edge", "131", "Windows"),
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/18.1 Safari/605.1.15",
            ("Safari", "18", "macOS"),
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
            "SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
            ("Samsung Internet", "26", "Android"),
        ),
        ("curl/8.5.0", (None, None, None)),
        ("", (None, None, None)),
    ],
)
def test_a_user_agent_is_named_by_browser_version_and_system(
    user_agent: str, named: tuple[str | None, str | None, str | None]
) -> None:
    browser = parse(user_agent)
    assert (browser.name, browser.version, browser.system) == named


class FakeLocations:
    """A location file's answers, in GeoLite2's shape."""

    def get(self, address: str) -> object:
        if address == "198.51.100.23":
            return {
                "city": {"names": {"en": "Milan", "it": "Milano"}},
                "country": {"names": {"en": "Italy", "it": "Italia"}},
            }
        return None


@pytest.mark.parametrize(
    ("address", "local", "located"),
    [
        ("127.0.0.1", True, None),
        ("10.1.2.3", True, None),
        ("192.168.0.4", True, None),
        ("fe80::1", True, None),
        ("::ffff:192.168.0.4", True, None),
        ("198.51.100.23", False, "Milano, Italia"),
        ("203.0.113.9", False, None),
        ("unknown", False, None),
    ],
)
def test_a_place_is_the_local_network_or_what_a_location_file_says(
    address: str, local: bool, located: str | None
) -> None:
    place = place_of(address, FakeLocations(), "it")
    assert (place.address, place.local, place.located) == (address, local, located)
    assert place_of(address, None).located is None
