from __future__ import annotations

from playwright.sync_api import Page, expect


def test_the_home_page_links_to_sign_in_and_sign_up(page: Page) -> None:
    page.goto("/")
    page.get_by_role("link", name="Sign in").first.click()
    expect(page.locator("input[type=password]")).to_be_visible()
    page.goto("/")
    page.get_by_role("link", name="Create an account").first.click()
    expect(page).to_have_url("/sign-up")
