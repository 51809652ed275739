"""Connecting a device by a short code (F10) needs proof of possession (issue 11, item 2).

The fingerprint travels in every validation and license file: it is an identifier, not a
secret. So ``POST /api/v1/device/authorize`` with a fingerprint alone joins nothing to the
account that enters the code; only a license whose key the app sends, with a live seat on
that fingerprint, joins. Whenever a code joins an account, its order's own address is told
(``license_joined_account``) when it is not the account's, and the audit row says so."""

from __future__ import annotations

from typing import Any

import httpx

from licensor.db import Database
from licensor.keys import Keyring
from licensor.licensing import formats
from licensor.mail.outbox import bodies
from tests.accounts.factories import (
    Browser,
    MakeAccount,
    OpenBrowser,
    link,
    outbox,
    signed_in,
)
from tests.licensing.factories import MakeCode, activate, device
from tests.store.factories import MakeOrder, MakeSubscription
from tests.support import audit_events


def authorize(
    api: httpx.Client, machine: dict[str, str], license_keys: list[str] | None = None
) -> dict[str, Any]:
    """``POST /api/v1/device/authorize`` as an app (or anyone who knows the fingerprint)."""
    body: dict[str, Any] = dict(machine)
    if license_keys is not None:
        body["license_keys"] = license_keys
    response = api.post("/api/v1/device/authorize", json=body)
    assert response.status_code == 200, response.text
    grant: dict[str, Any] = response.json()
    return grant


def enter_code(browser: Browser, user_code: str) -> httpx.Response:
    """The signed-in customer types the app's code on My Account → Connect a device."""
    token = browser.csrf_token("/account/connect")
    response = browser.post("/account/connect", {"code": user_code}, token=token)
    assert response.status_code == 200, response.text
    assert "The device is connected to your account." in response.text
    return response


def poll(api: httpx.Client, grant: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/api/v1/device/token", json={"device_code": grant["device_code"]})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def masked(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:2]}***@{domain}"


# --- the attack -------------------------------------------------------------------------------


def test_a_fingerprint_alone_joins_nothing_and_the_owner_still_connects_with_the_key(
    api: httpx.Client,
    make_account: MakeAccount,
    make_code: MakeCode,
    form_browser: OpenBrowser,
    database: Database,
) -> None:
    code = make_code()
    laptop = device("Victim laptop")
    activated = activate(api, code, laptop)  # the victim has no account yet
    attacker = make_account()

    # The fingerprint is in every validation the victim's app sends: no secret.
    stolen = authorize(api, {**laptop, "name": "Attacker PC"})
    attacker_browser = signed_in(form_browser, attacker)
    enter_code(attacker_browser, stolen["user_code"])
    answer = poll(api, stolen)

    assert answer["licenses_linked"] == []
    assert answer["license"] is None
    assert code not in attacker_browser.get("/account/licenses").text
    assert activated["public_id"] not in attacker_browser.get("/account/licenses").text
    assert "Victim laptop" not in attacker_browser.get("/account/devices").text
    assert audit_events(database, "accounts.license_linked") == []

    victim = make_account()
    proven = authorize(api, laptop, [activated["license_key"]])
    victim_browser = signed_in(form_browser, victim)
    entered = enter_code(victim_browser, proven["user_code"])

    assert activated["public_id"] in entered.text
    assert poll(api, proven)["licenses_linked"] == [activated["public_id"]]
    assert code in victim_browser.get("/account/licenses").text
    assert "Victim laptop" in victim_browser.get("/account/devices").text
    (joined,) = audit_events(database, "accounts.license_linked")
    assert joined.actor == f"account:{victim.id}"
    assert joined.details["via"] == "device_code"


def test_a_key_of_a_license_not_seated_on_the_device_proves_nothing(
    api: httpx.Client,
    make_account: MakeAccount,
    make_code: MakeCode,
    form_browser: OpenBrowser,
    database: Database,
) -> None:
    elsewhere_code, here_code = make_code(), make_code()
    elsewhere = activate(api, elsewhere_code, device("Other machine"))
    machine = device("This machine")
    activate(api, here_code, machine)
    customer = make_account()

    # A key seated on another machine, a mistyped key, a key nobody holds: the same 200.
    grant = authorize(
        api,
        machine,
        [elsewhere["license_key"], "0" * 32, formats.generate_license_key(), "not a key"],
    )
    browser = signed_in(form_browser, customer)
    enter_code(browser, grant["user_code"])

    assert poll(api, grant)["licenses_linked"] == []
    page = browser.get("/account/licenses").text
    assert elsewhere_code not in page
    assert here_code not in page
    assert audit_events(database, "accounts.license_linked") == []


def test_up_to_twenty_keys_are_taken_and_more_or_longer_ones_are_a_bad_request(
    api: httpx.Client,
) -> None:
    machine = device()

    def keys(license_keys: list[str]) -> int:
        body = {**machine, "license_keys": license_keys}
        return api.post("/api/v1/device/authorize", json=body).status_code

    assert keys(["A" * 64] * 20) == 200
    assert keys(["A" * 32] * 21) == 422
    assert keys(["A" * 65]) == 422


# --- what approval does with the device row --------------------------------------------------


def test_a_subscription_seat_never_takes_or_renames_another_accounts_machine(
    api: httpx.Client,
    make_account: MakeAccount,
    make_code: MakeCode,
    make_subscription: MakeSubscription,
    form_browser: OpenBrowser,
) -> None:
    victim, attacker = make_account(), make_account()
    laptop = device("Victim laptop")
    activated = activate(api, code := make_code(), laptop)
    assert link(api, victim, activated["license_key"], laptop["fingerprint"]).status_code == 200
    released = api.post(
        "/api/v1/activations/release",
        json={"license_key": activated["license_key"], "fingerprint": laptop["fingerprint"]},
    )
    assert released.status_code == 200, released.text  # the laptop is the victim's, unseated
    make_subscription(attacker.id, "premium")

    grant = authorize(api, {**laptop, "name": "Attacker PC"})
    enter_code(signed_in(form_browser, attacker), grant["user_code"])
    answer = poll(api, grant)

    assert answer["license"] is None
    devices_page = signed_in(form_browser, victim).get("/account/devices").text
    assert "Victim laptop" in devices_page
    assert "Attacker PC" not in devices_page
    assert code in signed_in(form_browser, victim).get("/account/licenses").text


def test_a_seat_of_ones_own_license_on_another_machine_does_not_connect_that_machine(
    api: httpx.Client, make_account: MakeAccount, make_code: MakeCode, form_browser: OpenBrowser
) -> None:
    laptop = device("Victim laptop")
    activate(api, victim_code := make_code(), laptop)
    attacker = make_account()
    # The attacker's own code, activated under the victim's fingerprint.
    own = activate(api, make_code(), laptop)

    grant = authorize(api, laptop, [own["license_key"]])
    browser = signed_in(form_browser, attacker)
    enter_code(browser, grant["user_code"])
    assert poll(api, grant)["licenses_linked"] == [own["public_id"]]  # its own: fine
    released = api.post(
        "/api/v1/activations/release",
        json={"license_key": own["license_key"], "fingerprint": laptop["fingerprint"]},
    )
    assert released.status_code == 200, released.text

    assert "Victim laptop" not in browser.get("/account/devices").text
    assert victim_code not in browser.get("/account/licenses").text


# --- the order's own address is told -----------------------------------------------------------


def test_a_proven_connect_joins_the_license_and_tells_the_orders_own_address(
    api: httpx.Client,
    make_account: MakeAccount,
    make_order: MakeOrder,
    form_browser: OpenBrowser,
    database: Database,
    keyring: Keyring,
) -> None:
    order = make_order(email="buyer@example.com", language="it")
    (code,) = order.codes
    machine = device("Kitchen laptop")
    activated = activate(api, code, machine)
    customer = make_account()

    grant = authorize(api, machine, [activated["license_key"]])
    browser = signed_in(form_browser, customer)
    enter_code(browser, grant["user_code"])

    assert poll(api, grant)["licenses_linked"] == [activated["public_id"]]
    assert code in browser.get("/account/licenses").text
    (told,) = outbox(database, "buyer@example.com", "license_joined_account")
    text, html = bodies(keyring, told)
    assert "aggiunto a un account" in told.subject  # in the order's language
    assert masked(customer.email) in text
    assert customer.email not in text + html
    assert formats.mask_code(formats.normalize_code(code)) in text
    assert code not in text + html  # the code itself is never mailed again
    assert activated["public_id"] in text
    assert order.number in text
    assert "/support" in text
    (joined,) = audit_events(database, "accounts.license_linked")
    assert joined.details["via"] == "device_code"
    assert joined.details["told"] == "bu***@example.com"
    assert len(outbox(database, customer.email, "license_added")) == 1


def test_every_way_a_code_joins_an_account_tells_the_orders_address_unless_it_is_the_owner(
    api: httpx.Client,
    make_account: MakeAccount,
    make_order: MakeOrder,
    form_browser: OpenBrowser,
    database: Database,
) -> None:
    customer = make_account()
    browser = signed_in(form_browser, customer)

    # Typed on the Licenses page.
    typed = make_order(email="typed-buyer@example.com").codes[0]
    token = browser.csrf_token("/account/licenses")
    assert browser.post("/account/licenses", {"activation_code": typed}, token=token).is_success
    # Sent by the app (F4).
    sent = make_order(email="app-buyer@example.com").codes[0]
    machine = device()
    activated = activate(api, sent, machine)
    assert link(api, customer, activated["license_key"], machine["fingerprint"]).is_success
    # Bought with the account's own (verified) address: it joined when it was made
    # (accounts/purchases.py), so adding it again moves nothing and tells nobody.
    own = make_order(email=customer.email).codes[0]
    token = browser.csrf_token("/account/licenses")
    assert browser.post("/account/licenses", {"activation_code": own}, token=token).is_success

    assert len(outbox(database, "typed-buyer@example.com", "license_joined_account")) == 1
    assert len(outbox(database, "app-buyer@example.com", "license_joined_account")) == 1
    assert outbox(database, customer.email, "license_joined_account") == []
    rows = audit_events(database, "accounts.license_linked")
    assert [(row.details["via"], row.details["told"]) for row in rows] == [
        ("web", "ty***@example.com"),
        ("app", "ap***@example.com"),
    ]
