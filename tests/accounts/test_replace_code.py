"""The owner's "Replace this code" (issue 14, item 4), through the pages as a browser posts
them and the API as devices call it: the old code is refused, the new one takes over the
same license, the devices keep their seats, the owner is mailed and the action audited.
It needs the password (or the second factor), and another account's license is a 404."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx

from licensor.clock import Clock
from licensor.db import Database
from licensor.keys import Keyring
from licensor.mail.outbox import bodies
from tests.accounts.factories import (
    TOTP_SECRET,
    LinkCode,
    MakeAccount,
    OpenBrowser,
    next_two_factor_code,
    outbox,
    signed_in,
)
from tests.licensing.factories import activate, activation, device, validate
from tests.support import audit_events

CODE = re.compile(r"\b[0-9A-Z]{5}(?:-[0-9A-Z]{5}){3}\b")


def codes_on(page: str) -> list[str]:
    return CODE.findall(page)


def test_the_owner_replaces_a_code_the_old_is_refused_the_new_activates_devices_keep_seats(
    api: httpx.Client,
    make_account: MakeAccount,
    linked_code: LinkCode,
    form_browser: OpenBrowser,
    database: Database,
    keyring: Keyring,
) -> None:
    owner = make_account()
    linked = linked_code(owner)
    browser = signed_in(form_browser, owner)
    address = f"/account/licenses/{linked.public_id}"

    confirm = browser.get(f"{address}/replace")
    assert confirm.status_code == 200
    assert confirm.headers["cache-control"] == "no-store"
    assert 'name="password"' in confirm.text
    replaced = browser.post(
        f"{address}/replace", {"password": owner.password}, token=browser.csrf_token(address)
    )
    assert replaced.status_code == 303, replaced.text
    assert replaced.headers["location"] == f"{address}?done=replaced"

    page = browser.get(replaced.headers["location"]).text
    [new_code] = set(codes_on(page))
    assert new_code != linked.code
    assert "The old code no longer works." in page

    refused = api.post("/api/v1/activations", json=activation(linked.code, device()))
    assert refused.status_code == 403
    assert refused.json()["code"] == "code_blocked"
    assert validate(api, linked.license_key, linked.fingerprint)["valid"] is True
    moved = activate(api, new_code, device("Second laptop"))
    assert moved["license_key"] == linked.license_key
    assert moved["public_id"] == linked.public_id
    assert moved["devices_used"] == 2

    [mail] = outbox(database, owner.email, "code_replaced")
    text, _ = bodies(keyring, mail)
    assert f"ending in {linked.code[-5:]}" in text
    assert f"/account/licenses/{linked.public_id}" in text
    assert new_code not in text  # the mail says where the new code is, not what it is

    [event] = audit_events(database, "accounts.code_replaced")
    assert event.actor == f"account:{owner.id}"
    assert event.details["public_id"] == linked.public_id
    assert event.details["code"].endswith(linked.code[-5:])
    assert event.details["replacement"].endswith(new_code[-5:])
    [handed_on] = audit_events(database, "licensing.code_replaced")
    assert handed_on.reason == "replaced by owner"
    [blocked] = audit_events(database, "licensing.code_blocked")
    assert blocked.reason == "replaced by owner"

    licenses = browser.get("/account/licenses").text
    assert new_code in licenses  # the new code is listed in full with its license
    history = browser.get(address).text
    assert "The activation code was replaced in My Account" in history


def test_a_wrong_password_is_refused_beside_the_field_and_changes_nothing(
    api: httpx.Client,
    make_account: MakeAccount,
    linked_code: LinkCode,
    form_browser: OpenBrowser,
    database: Database,
) -> None:
    owner = make_account()
    linked = linked_code(owner)
    browser = signed_in(form_browser, owner)
    address = f"/account/licenses/{linked.public_id}/replace"

    refused = browser.post(
        address, {"password": "not my password"}, token=browser.csrf_token(address)
    )
    assert refused.status_code == 422
    assert 'id="password-error"' in refused.text
    assert "This password is not correct." in refused.text
    assert audit_events(database, "accounts.code_replaced") == []
    assert activate(api, linked.code, device())["license_key"] == linked.license_key
    [failed] = audit_events(database, "accounts.sign_in_failed")
    assert failed.details["form"] == "replace_code"


def test_with_two_factor_the_code_from_the_app_is_asked_instead(
    api: httpx.Client,
    make_account: MakeAccount,
    linked_code: LinkCode,
    form_browser: OpenBrowser,
    clock: Clock,
) -> None:
    owner = make_account(totp_secret=TOTP_SECRET)
    linked = linked_code(owner)
    browser = form_browser()
    browser.sign_in(owner)
    second = browser.post("/sign-in/two-factor", {"code": next_two_factor_code(TOTP_SECRET, clock)})
    assert second.status_code == 303, second.text
    address = f"/account/licenses/{linked.public_id}/replace"

    form = browser.get(address).text
    assert 'name="second_factor"' in form
    assert 'name="password"' not in form
    wrong = browser.post(address, {"second_factor": "000000"}, token=browser.csrf_token(address))
    assert wrong.status_code == 422
    assert 'id="second_factor-error"' in wrong.text
    right = browser.post(
        address,
        {"second_factor": next_two_factor_code(TOTP_SECRET, clock)},
        token=browser.csrf_token(address),
    )
    assert right.status_code == 303, right.text
    refused = api.post("/api/v1/activations", json=activation(linked.code, device()))
    assert refused.json()["code"] == "code_blocked"


def test_another_accounts_license_is_the_same_404_as_one_that_does_not_exist(
    api: httpx.Client,
    make_account: MakeAccount,
    linked_code: LinkCode,
    form_browser: OpenBrowser,
) -> None:
    owner, stranger = make_account(), make_account()
    theirs = linked_code(owner)
    browser = signed_in(form_browser, stranger)

    for path in ("", "/replace"):
        foreign = browser.get(f"/account/licenses/{theirs.public_id}{path}")
        unknown = browser.get(f"/account/licenses/LIC-NONE-NONE{path}")
        assert foreign.status_code == unknown.status_code == 404
        assert theirs.code not in foreign.text
        assert theirs.public_id not in foreign.text
        assert foreign.text == unknown.text.replace("LIC-NONE-NONE", theirs.public_id)
    token = browser.csrf_token("/account/licenses")
    posted = browser.post(
        f"/account/licenses/{theirs.public_id}/replace",
        {"password": stranger.password},
        token=token,
    )
    assert posted.status_code == 404
    assert activate(api, theirs.code, device())["public_id"] == theirs.public_id


def test_an_account_replaces_at_most_so_many_codes(
    make_account: MakeAccount, linked_code: LinkCode, form_browser: OpenBrowser
) -> None:
    owner = make_account()
    linked = linked_code(owner)
    browser = signed_in(form_browser, owner)
    address = f"/account/licenses/{linked.public_id}/replace"
    token = browser.csrf_token("/account/licenses")
    answers = [
        browser.post(address, {"password": owner.password}, token=token).status_code
        for _ in range(11)
    ]
    assert answers == [303] * 10 + [429]


def test_two_replacements_at_once_leave_one_working_code_and_no_error(
    api: httpx.Client,
    make_account: MakeAccount,
    linked_code: LinkCode,
    form_browser: OpenBrowser,
    database: Database,
) -> None:
    owner = make_account()
    linked = linked_code(owner)
    tabs = [signed_in(form_browser, owner) for _ in range(2)]
    address = f"/account/licenses/{linked.public_id}/replace"
    tokens = [tab.csrf_token(address) for tab in tabs]
    start = threading.Barrier(len(tabs))

    def replace(index: int) -> int:
        start.wait()
        tab = tabs[index]
        return tab.post(address, {"password": owner.password}, token=tokens[index]).status_code

    with ThreadPoolExecutor(len(tabs)) as pool:
        answers = sorted(pool.map(replace, range(len(tabs))))
    # PostgreSQL: the second waits for the first's lock, then finds its code gone (404);
    # SQLite takes them one after the other, and the second replaces the new code again.
    assert answers in ([303, 303], [303, 404]), answers
    replaced = audit_events(database, "accounts.code_replaced")
    assert len(replaced) == answers.count(303)
    page = signed_in(form_browser, owner).get(f"/account/licenses/{linked.public_id}").text
    [current] = set(codes_on(page))
    assert activate(api, current, device())["license_key"] == linked.license_key
    refused = api.post("/api/v1/activations", json=activation(linked.code, device()))
    assert refused.json()["code"] == "code_blocked"


def test_the_owner_is_told_in_the_accounts_language(
    make_account: MakeAccount,
    linked_code: LinkCode,
    form_browser: OpenBrowser,
    database: Database,
    keyring: Keyring,
) -> None:
    owner = make_account(language="it")
    linked = linked_code(owner)
    browser = signed_in(form_browser, owner)
    address = f"/account/licenses/{linked.public_id}/replace"
    replaced = browser.post(
        address, {"password": owner.password}, token=browser.csrf_token(address)
    )
    assert replaced.status_code == 303, replaced.text
    [mail] = outbox(database, owner.email, "code_replaced")
    text, html = bodies(keyring, mail)
    assert f"il codice di attivazione che termina con {linked.code[-5:]}" in text
    assert "Vedi il nuovo codice" in (html or "")
