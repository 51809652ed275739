"""The look at a phone's width (issue 14, item 10): every main kind of page fits 390 px
without scrolling sideways (a wide table scrolls inside itself), in English and Italian,
signed out and as a customer with a license and an order; at 1280 px too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.accounts.factories import PASSWORD, LinkCode, MakeAccount
from tests.store.factories import MakeOrder

SIGNED_OUT = ["/", "/sign-in", "/sign-up", "/reset-password", "/store", "/orders/lookup",
              "/partners", "/support", "/help", "/help/transfer-license"]  # fmt: skip
CUSTOMER = ["/account/licenses", "/account/devices", "/account/subscriptions",
            "/account/orders", "/account/connect", "/account/settings", "/support"]  # fmt: skip

OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const wider = [...document.querySelectorAll("body *")]
    .filter(element => element.getBoundingClientRect().right > width + 1
      && !element.closest(".table-scroll, nav.sections ul, .visually-hidden, .skip"))
    .map(element => `${element.tagName.toLowerCase()}.${element.className}`);
  return {scroll: document.documentElement.scrollWidth - width, wider: wider.slice(0, 5)};
}"""


def _fits(page: Page, path: str) -> None:
    response = page.goto(path)
    assert response is not None, path
    assert response.status == 200, path
    found = page.evaluate(OVERFLOW)
    assert found["scroll"] <= 0, f"{path} scrolls sideways: {found}"
    assert not found["wider"], f"{path} has content wider than the screen: {found}"


@pytest.fixture
def phone(browser: Browser, server: str) -> Iterator[Page]:
    context = browser.new_context(base_url=server, viewport={"width": 390, "height": 844})
    yield context.new_page()
    context.close()


@pytest.mark.parametrize("language", ["en", "it"])
def test_the_signed_out_pages_fit_a_phone(phone: Page, language: str) -> None:
    phone.goto(f"/?lang={language}")
    for path in SIGNED_OUT:
        _fits(phone, path)


@pytest.mark.parametrize("language", ["en", "it"])
def test_my_account_fits_a_phone(
    phone: Page,
    make_account: MakeAccount,
    linked_code: LinkCode,
    make_order: MakeOrder,
    language: str,
) -> None:
    customer = make_account(language=language)
    linked_code(customer)
    make_order(email=customer.email, account_id=customer.id, quantity=2)
    phone.goto("/sign-in")
    phone.locator("#email").fill(customer.email)
    phone.locator("#password").fill(PASSWORD)
    phone.locator("main").get_by_role("button").first.click()
    expect(phone).to_have_url(re.compile(r"/account/"))
    for path in CUSTOMER:
        _fits(phone, path)


def test_a_wide_screen_keeps_the_content_to_a_readable_width(browser: Browser, server: str) -> None:
    context = browser.new_context(base_url=server, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    for path in ("/", "/store", "/orders/lookup"):
        _fits(page, path)
        width = page.locator("main").evaluate("main => main.getBoundingClientRect().width")
        assert width <= 1024 + 1  # 64rem: lines a reader can follow
    context.close()
