"""A license page's history (issue 14, item 3) gathers what happened through every channel:
the order lookup that sent the confirmation again, support sending the code, the app
activating and releasing, the owner removing a device in My Account and replacing the
code; each entry with its date. Driven through the pages and the API as each actor uses
them; the page is read as a browser gets it."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import timedelta

import httpx

from licensor.clock import Clock
from tests.accounts.factories import Browser, MakeAccount, OpenBrowser, signed_in
from tests.conftest import OpenUnit
from tests.licensing.factories import activate, device
from tests.store.factories import MakeOrder
from tests.support.factories import MakeRequest, SignInStaff

LOOKUP = "/orders/lookup"
MINUTE = timedelta(minutes=1)
ENTRY = re.compile(r'<li><time datetime="([^"]+)">[^<]*</time>\s*(.*?)\s*</li>', re.S)


def history(browser: Browser, public_id: str) -> list[tuple[str, str]]:
    """(ISO date, text) of each history entry on the license's page, newest first."""
    page = browser.get(f"/account/licenses/{public_id}")
    assert page.status_code == 200, page.text
    section = page.text.split('id="history-heading"', 1)[1]
    return [(when, html.unescape(text)) for when, text in ENTRY.findall(section)]


def test_the_history_names_each_recovery_release_and_replacement_with_its_date(
    api: httpx.Client,
    make_account: MakeAccount,
    make_order: MakeOrder,
    make_request: MakeRequest,
    sign_in_staff: SignInStaff,
    form_browser: OpenBrowser,
    open_unit: OpenUnit,
    run_jobs: Callable[[], None],
    clock: Clock,
) -> None:
    owner = make_account()
    order = make_order("plus", email=owner.email)
    [code] = order.codes
    laptop, tablet = device("Laptop"), device("Tablet")
    activated = activate(api, code, laptop)
    activate(api, code, tablet)
    public_id = activated["public_id"]
    with open_unit() as unit:
        account = unit.accounts.by_email(owner.email)
        assert account is not None
        unit.account_licenses.link_code(account, code)
        code_row = unit.codes.find_code(code).id

    clock.advance(MINUTE)  # each step a minute after the last: the order is theirs
    visitor = form_browser()
    looked_up = visitor.post(
        LOOKUP,
        {
            "where": "store",
            "order_number": order.number,
            "purchased_on": order.purchased_at.date().isoformat(),
            "name": "Mario Rossi",
            "email": order.email,
        },
        token=visitor.csrf_token(LOOKUP),
    )
    assert looked_up.status_code == 200, looked_up.text
    run_jobs()

    clock.advance(MINUTE)
    request = make_request(email=owner.email, account_id=owner.id)
    agent, _ = sign_in_staff()
    sent = agent.post(
        f"/desk/requests/{request.number}/send-code",
        {"code_id": str(code_row), "destination": "request", "reason": "lost it", "then": "solved"},
    )
    assert sent.status_code == 303, sent.text

    clock.advance(MINUTE)
    released = api.post(
        "/api/v1/activations/release",
        json={"license_key": activated["license_key"], "fingerprint": tablet["fingerprint"]},
    )
    assert released.status_code == 200, released.text

    clock.advance(MINUTE)
    browser = signed_in(form_browser, owner)
    address = f"/account/licenses/{public_id}/replace"
    replaced = browser.post(
        address, {"password": owner.password}, token=browser.csrf_token(address)
    )
    assert replaced.status_code == 303, replaced.text

    entries = history(browser, public_id)
    texts = [text for _, text in entries]
    masked = owner.email[:2] + "***@" + owner.email.split("@")[1]
    for expected in (
        "Activated on Laptop.",
        "Activated on Tablet.",
        f"Added to your account with its order {order.number}.",
        "Recovered: the order lookup sent the order confirmation again.",
        f"Recovered: support sent the activation code to {masked}.",
        "Released from Tablet, in the app.",
        "The activation code was replaced in My Account; the old one was blocked.",
    ):
        assert texts.count(expected) == 1, (expected, texts)
    assert owner.email not in " ".join(texts)  # addresses are shown masked
    assert all(re.match(r"\d{4}-\d{2}-\d{2}T", when) for when, _ in entries)
    assert [when for when, _ in entries] == sorted((when for when, _ in entries), reverse=True)
    assert texts[0] == "The activation code was replaced in My Account; the old one was blocked."
