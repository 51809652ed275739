"""My Account end to end, as a customer clicks it: real Chromium, real server, real SMTP.

Each test walks one whole flow of issue 3 (SPEC F4, F8, F10): mail is read from the
SMTP server on loopback that the outbox worker delivers to, and devices are played by
plain HTTP calls to the API, as the app would make them.
"""

from __future__ import annotations

import re
from email.message import EmailMessage

import httpx
from playwright.sync_api import Browser, Locator, Page, Response, ViewportSize, expect

from licensor.accounts import totp
from licensor.clock import Clock
from tests.accounts.factories import (
    PASSWORD,
    TOTP_SECRET,
    Customer,
    MakeAccount,
    fresh_email,
    link,
    two_factor_code,
)
from tests.conftest import OpenUnit
from tests.licensing.factories import MakeCode, activate, device, validate
from tests.mail_support import SmtpServer, text_of
from tests.web.conftest import sign_in

PHONE: ViewportSize = {"width": 375, "height": 740}
CODE_SHAPE = re.compile(r"^[0-9A-Z]{5}(-[0-9A-Z]{5}){3}$")


# --- what the customer does -------------------------------------------------------------


def link_from(message: EmailMessage, server: str, path: str) -> str:
    """The one link to ``path`` in a mail's plain text; it must lead to the test server."""
    links: list[str] = re.findall(r"https?://\S+", text_of(message))
    matching = [found for found in links if found.startswith(f"{server}{path}")]
    assert len(matching) == 1, links
    return matching[0]


def submit(page: Page, button: str) -> Response:
    """Click a form's button and return the answer to its POST."""
    with page.expect_response(lambda response: response.request.method == "POST") as answer:
        page.get_by_role("button", name=button).click()
    return answer.value


def open_section(page: Page, name: str) -> None:
    """Follow a link in My Account's section navigation."""
    page.get_by_role("navigation", name="My Account").get_by_role("link", name=name).click()
    expect(page.get_by_role("heading", name=name, level=2)).to_be_visible()


def license_card(page: Page, code: str) -> Locator:
    """The card of a code in the Licenses section."""
    return page.get_by_role("listitem").filter(has=page.get_by_text(code, exact=True))


def expect_card(card: Locator, plan: str, status: str, expires: str, devices: str) -> None:
    """A license card's plan, status badge, expiry (a date, or the words for none yet:
    ``expires`` is an ISO date or those words) and seats in use."""
    expect(card.get_by_role("heading")).to_contain_text(plan)
    expect(card.locator(".badge")).to_have_text(status)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", expires):
        expect(card.locator("time")).to_have_attribute("datetime", re.compile(f"^{expires}"))
    else:
        expect(card).to_contain_text(expires)
    expect(card).to_contain_text(devices)


# --- F4: sign up, confirm, sign in, link from the app -----------------------------------


def test_a_new_customer_signs_up_and_finds_the_code_the_app_linked_in_licenses(
    page: Page, api: httpx.Client, server: str, mail_worker: SmtpServer, make_code: MakeCode
) -> None:
    email = fresh_email("new")
    newcomer = Customer(0, email, PASSWORD)  # signed up on the pages below; no id is needed

    page.goto("/")
    page.get_by_role("link", name="Create an account").first.click()
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create my account").click()
    expect(page.get_by_role("heading", name="Check your mail")).to_be_visible()

    verification = mail_worker.inbox.to(email, "Confirm your email address")
    page.goto(link_from(verification, server, "/verify-email?token="))
    page.get_by_role("button", name="Confirm my email address").click()
    expect(page.get_by_role("heading", name="Your email address is confirmed")).to_be_visible()

    page.get_by_role("main").get_by_role("link", name="Sign in").click()
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{server}/account/licenses")
    expect(page.get_by_text("No activation codes yet.")).to_be_visible()

    code = make_code("plus", devices_max=3)
    laptop = device("Laptop")
    activated = activate(api, code, laptop)
    linked = link(api, newcomer, activated["license_key"], laptop["fingerprint"])
    assert linked.status_code == 200, linked.text
    assert linked.json()["status"] == "linked"
    assert linked.json()["licenses_url"] == f"{server}/account/licenses"

    page.reload()
    assert CODE_SHAPE.match(code)
    card = license_card(page, code)
    expect(card).to_have_count(1)
    expect_card(card, "Plus", "Active", activated["expires_at"][:10], "1 of 3")
    page.screenshot(path="/tmp/licenses.png", full_page=True)

    added = mail_worker.inbox.to(email, "A license was added")
    assert activated["public_id"] in text_of(added)
    assert '"Laptop"' in text_of(added)
    assert link_from(added, server, "/account/licenses")


def test_linking_from_the_app_before_confirming_the_email_is_refused_and_resends_the_link(
    page: Page, api: httpx.Client, server: str, mail_worker: SmtpServer, make_code: MakeCode
) -> None:
    email = fresh_email("early")
    newcomer = Customer(0, email, PASSWORD)  # signed up on the pages below; no id is needed
    page.goto("/sign-up")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create my account").click()
    expect(page.get_by_role("heading", name="Check your mail")).to_be_visible()

    laptop = device()
    activated = activate(api, make_code(), laptop)
    refused = link(api, newcomer, activated["license_key"], laptop["fingerprint"])

    assert refused.status_code == 403
    assert refused.json()["code"] == "email_not_verified"
    first_link = link_from(
        mail_worker.inbox.to(email, "Confirm your email"), server, "/verify-email"
    )
    again = mail_worker.inbox.wait_for(
        lambda message: (
            str(message["To"]) == email
            and "Confirm your email" in str(message["Subject"])
            and first_link not in text_of(message)
        )
    )
    page.goto(link_from(again, server, "/verify-email?token="))
    page.get_by_role("button", name="Confirm my email address").click()
    expect(page.get_by_role("heading", name="Your email address is confirmed")).to_be_visible()
    linked = link(api, newcomer, activated["license_key"], laptop["fingerprint"])
    assert linked.status_code == 200, linked.text


# --- password reset -------------------------------------------------------------------------


def test_a_password_reset_by_mail_replaces_the_password_and_signs_out_other_sessions(
    page: Page, browser: Browser, server: str, mail_worker: SmtpServer, make_account: MakeAccount
) -> None:
    email = make_account().email
    new_password = "a brand new passphrase"
    other = browser.new_context(base_url=server, locale="en-GB")
    try:
        elsewhere = other.new_page()
        sign_in(elsewhere, email, PASSWORD)
        expect(elsewhere).to_have_url(f"{server}/account/licenses")

        page.goto("/sign-in")
        page.get_by_role("link", name="Forgot your password?").click()
        expect(page).to_have_url(f"{server}/reset-password")
        page.get_by_label("Email address").fill(email)
        page.get_by_role("button", name="Send me a link").click()
        expect(page.get_by_role("heading", name="Check your mail")).to_be_visible()

        reset_link = link_from(
            mail_worker.inbox.to(email, "Reset your password"), server, "/reset-password/choose"
        )
        page.goto(reset_link)
        page.get_by_label("New password").fill(new_password)
        page.get_by_role("button", name="Save my new password").click()
        expect(page.get_by_role("heading", name="Your password was changed")).to_be_visible()
        told = mail_worker.inbox.to(email, "Your password was changed")
        assert link_from(told, server, "/reset-password")  # in case it was not the owner

        elsewhere.goto("/account/licenses")
        expect(elsewhere).to_have_url(re.compile(r"/sign-in\?next=/account/licenses$"))
    finally:
        other.close()

    sign_in(page, email, PASSWORD)
    expect(page.get_by_role("alert")).to_have_text("The email or password is not correct.")
    expect(page).to_have_url(f"{server}/sign-in")

    sign_in(page, email, new_password)
    expect(page).to_have_url(f"{server}/account/licenses")

    page.goto(reset_link)
    expect(
        page.get_by_role("heading", name="This link has expired or was already used")
    ).to_be_visible()


# --- F8: removing a device in My Account frees its seat -----------------------------------


def test_removing_a_device_in_my_account_frees_its_seat_for_a_new_device(
    page: Page, api: httpx.Client, server: str, make_account: MakeAccount, make_code: MakeCode
) -> None:
    customer = make_account()
    code = make_code("solo", devices_max=1)
    old_pc = device("Old PC")
    new_pc = device("New PC")
    activated = activate(api, code, old_pc)
    linked = link(api, customer, activated["license_key"], old_pc["fingerprint"])
    assert linked.status_code == 200, linked.text
    taken = api.post("/api/v1/activations", json={"activation_code": code, "device": new_pc})
    assert taken.status_code == 409
    assert taken.json()["code"] == "device_limit_reached"

    sign_in(page, customer.email, PASSWORD)
    open_section(page, "Devices")
    old_entry = page.get_by_role("listitem").filter(has=page.get_by_role("heading", name="Old PC"))
    expect(old_entry).to_contain_text(f"Solo ({activated['public_id']})")
    old_entry.get_by_role("link", name="Remove Old PC").click()
    page.get_by_role("button", name="Remove Old PC").click()
    expect(page.get_by_role("status")).to_have_text(
        "The device was removed; 1 license seat is free again."
    )
    expect(page.get_by_role("heading", name="Old PC")).to_have_count(0)

    moved = activate(api, code, new_pc)
    assert moved["license_key"] == activated["license_key"]
    assert moved["devices_used"] == 1
    assert validate(api, activated["license_key"], old_pc["fingerprint"])["status"] == "released"
    assert validate(api, activated["license_key"], new_pc["fingerprint"])["valid"] is True

    open_section(page, "Licenses")
    expect(license_card(page, code)).to_contain_text("1 of 1")


# --- adding a code by hand ------------------------------------------------------------------


def mistype(code: str) -> str:
    """The code with one symbol changed: the check value must catch it."""
    first = code[0]
    replacement = "7" if first != "7" else "8"
    return replacement + code[1:]


def test_adding_a_code_by_hand_explains_typos_lists_good_codes_and_keeps_others_codes(
    page: Page,
    server: str,
    mail_worker: SmtpServer,
    open_unit: OpenUnit,
    make_account: MakeAccount,
    make_code: MakeCode,
) -> None:
    email = make_account().email
    mine = make_code("plus", devices_max=3)
    theirs = make_code("plus")
    other_email = make_account().email
    with open_unit() as unit:
        accounts = unit.accounts
        other = accounts.by_email(other_email)
        assert other is not None
        unit.account_licenses.link_code(other, theirs)
        owners = {"me": accounts.by_email(email), "other": other}
        ids = {name: account.id for name, account in owners.items() if account is not None}

    sign_in(page, email, PASSWORD)
    field = page.get_by_label("Activation code")

    field.fill(mistype(mine))
    answer = submit(page, "Add to my account")
    assert answer.status == 422
    typo_message = "This is not a valid activation code; check it for typing mistakes."
    expect(page.get_by_role("alert")).to_have_text(typo_message)
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_accessible_description(typo_message)
    expect(field).to_have_value(mistype(mine))
    expect(page.locator(".license-card")).to_have_count(0)

    field.fill(mine.lower().replace("-", " "))  # as typed from a card: case and spaces
    answer = submit(page, "Add to my account")
    assert answer.status == 200
    expect(page.get_by_role("status")).to_have_text("The code was added to your account.")
    expect_card(
        license_card(page, mine),
        "Plus",
        "Not activated yet",
        "Starts at first activation",
        "0 of 3",
    )
    added = text_of(mail_worker.inbox.to(email, "A license was added"))
    assert "The Plus license was added to your account on " in added
    assert "from the Licenses page." in added
    assert "—" not in added  # no placeholder for the public ID a new code does not have yet

    field.fill(theirs)
    answer = submit(page, "Add to my account")
    assert answer.status == 422
    expect(page.get_by_role("alert")).to_contain_text("belongs to another account")
    expect(page.get_by_role("alert")).to_contain_text("contact support")
    expect(license_card(page, theirs)).to_have_count(0)
    expect(license_card(page, mine)).to_have_count(1)
    with open_unit() as unit:
        assert unit.codes.find_code(theirs).account_id == ids["other"]
        assert unit.codes.find_code(mine).account_id == ids["me"]


# --- F10: connect a device by the short code its app shows --------------------------------


def test_a_device_connects_by_the_code_it_shows_and_its_license_joins_the_account(
    page: Page, api: httpx.Client, server: str, make_account: MakeAccount, make_code: MakeCode
) -> None:
    email = make_account().email
    code = make_code("premium")
    laptop = device("Kitchen laptop")
    activated = activate(api, code, laptop)

    # The app proves the license it holds with its key; the fingerprint alone joins nothing.
    started = api.post(
        "/api/v1/device/authorize", json={**laptop, "license_keys": [activated["license_key"]]}
    )
    assert started.status_code == 200, started.text
    grant = started.json()
    assert grant["verification_uri"] == f"{server}/account/connect"
    assert re.fullmatch(r"[A-Z]{4}-[A-Z]{4}", grant["user_code"])

    pending = api.post("/api/v1/device/token", json={"device_code": grant["device_code"]})
    assert pending.status_code == 400
    assert pending.json()["code"] == "authorization_pending"

    sign_in(page, email, PASSWORD)
    open_section(page, "Connect a device")
    page.get_by_label("Code shown by the app").fill(grant["user_code"].lower())
    page.get_by_role("button", name="Connect").click()
    expect(page.get_by_role("status")).to_contain_text("The device is connected to your account.")
    expect(page.get_by_role("status")).to_contain_text(activated["public_id"])

    connected = api.post("/api/v1/device/token", json={"device_code": grant["device_code"]})
    assert connected.status_code == 200, connected.text
    assert connected.json()["status"] == "connected"
    assert connected.json()["licenses_linked"] == [activated["public_id"]]

    open_section(page, "Licenses")
    expect_card(
        license_card(page, code), "Premium", "Active", activated["expires_at"][:10], "1 of 3"
    )
    open_section(page, "Devices")
    expect(page.get_by_role("heading", name="Kitchen laptop")).to_be_visible()


def test_the_apps_connect_link_keeps_its_code_through_sign_in(
    page: Page, api: httpx.Client, server: str, make_account: MakeAccount
) -> None:
    email = make_account().email
    grant = api.post("/api/v1/device/authorize", json=device()).json()

    page.goto(grant["verification_uri_complete"])  # signed out: sign in first
    expect(page).to_have_url(re.compile(r"/sign-in\?next="))
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(grant["verification_uri_complete"])
    code_field = page.get_by_label("Code shown by the app")
    expect(code_field).to_have_value(grant["user_code"].replace("-", ""))
    page.get_by_role("button", name="Connect").click()
    expect(page.get_by_role("status")).to_contain_text("The device is connected to your account.")
    connected = api.post("/api/v1/device/token", json={"device_code": grant["device_code"]})
    assert connected.status_code == 200, connected.text
    assert connected.json()["licenses_linked"] == []


def test_a_wrong_connect_code_is_refused_beside_the_field(
    page: Page, server: str, make_account: MakeAccount
) -> None:
    sign_in(page, make_account().email, PASSWORD)
    page.goto("/account/connect")
    page.get_by_label("Code shown by the app").fill("BCDF-GHJK")
    answer = submit(page, "Connect")
    assert answer.status == 422
    expect(page.get_by_role("alert")).to_contain_text("This code is not valid, or has expired.")
    expect(page.get_by_label("Code shown by the app")).to_have_attribute("aria-invalid", "true")


# --- two-factor sign-in --------------------------------------------------------------------


def test_two_factor_sign_in_asks_for_the_current_code_and_refuses_a_wrong_one(
    page: Page, server: str, clock: Clock, make_account: MakeAccount
) -> None:
    email = make_account(totp_secret=TOTP_SECRET).email
    wanted = "/account/connect?code=BCDFGHJK"

    page.goto(wanted)
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/sign-in/two-factor\?next="))
    expect(page.get_by_role("heading", name="Enter your sign-in code")).to_be_visible()
    second_tab = page.context.new_page()
    second_tab.goto("/account/licenses")  # the password alone is not enough
    expect(second_tab).to_have_url(re.compile(r"/sign-in/two-factor\?next=/account/licenses"))
    second_tab.close()

    step = totp.step_of(clock.now())
    valid_now = {totp.code_at(TOTP_SECRET, s) for s in range(step - 2, step + 3)}
    wrong = next(c for c in ("000000", "123456", "999999") if c not in valid_now)
    page.get_by_label("6-digit code").fill(wrong)
    answer = submit(page, "Continue")
    assert answer.status == 401
    expect(page.get_by_role("alert")).to_have_text(
        "This code is not correct; enter the current 6-digit code from your authenticator "
        "app, or one of your recovery codes."
    )

    page.get_by_label("6-digit code").fill(two_factor_code(TOTP_SECRET, clock))
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(server + wanted)  # back where the sign-in began, query and all
    expect(page.get_by_label("Code shown by the app")).to_have_value("BCDFGHJK")


# --- layout ----------------------------------------------------------------------------------


def test_the_licenses_page_fits_a_phone_with_each_code_on_one_line(
    browser: Browser, server: str, api: httpx.Client, make_account: MakeAccount, make_code: MakeCode
) -> None:
    customer = make_account()
    code = make_code("premium")
    phone = device("Phone")
    activated = activate(api, code, phone)
    assert link(api, customer, activated["license_key"], phone["fingerprint"]).is_success
    context = browser.new_context(base_url=server, locale="en-GB", viewport=PHONE)
    try:
        page = context.new_page()
        sign_in(page, customer.email, PASSWORD)
        shown = page.get_by_text(code, exact=True)
        expect(shown).to_be_visible()

        page_width = page.evaluate("document.documentElement.scrollWidth")
        assert page_width <= PHONE["width"]  # the table scrolls, not the page
        box = shown.bounding_box()
        line_height = shown.evaluate("element => parseFloat(getComputedStyle(element).lineHeight)")
        assert box is not None
        assert box["height"] < 1.5 * line_height  # not broken at its hyphens
    finally:
        context.close()
