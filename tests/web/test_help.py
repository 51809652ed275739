"""Help articles, as a customer finds and reads them: reached by links from the home page
and from My Account, in English and Italian, naming the app's windows and buttons exactly
as the app does, and working without JavaScript.
"""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from licensor.web import i18n
from licensor.web.help import ARTICLES, body_template
from tests.accounts.factories import PASSWORD, MakeAccount, fresh_email
from tests.web.conftest import sign_in

# slug: (English title, Italian title); the paths are fixed, other pages link to them.
TITLES = {
    "save-license": (
        "Save your license before reinstalling the operating system",
        "Salva la licenza prima di reinstallare il sistema operativo",
    ),
    "restore-license": (
        "Restore your license after reinstalling the operating system",
        "Ripristina la licenza dopo aver reinstallato il sistema operativo",
    ),
    "transfer-license": (
        "Move your license to another device",
        "Trasferisci la licenza su un altro dispositivo",
    ),
    "connect-device": (
        "Connect a device to My Account",
        "Collega un dispositivo al tuo account",
    ),
    "license-details": (
        "Find your 32-digit license key",
        "Trova la chiave di licenza di 32 cifre",
    ),
    "purchases": ("Find your purchases in My Account", "Trova i tuoi acquisti nel tuo account"),
    "renew": ("Renew a license before it ends", "Rinnovare una licenza prima che scada"),
}

# The app's windows and buttons, as the app names them in each language.
ITALIAN = {
    "License": "Licenza",
    "Licensing": "Gestione della licenza",
    "Enter activation code": "Inserisci il codice di attivazione",
    "Show details": "Mostra dettagli",
    "License details": "Dettagli licenza",
    "Recover my activation codes": "Recupera i miei codici di attivazione",
    "Remove license from this device": "Rimuovi la licenza da questo dispositivo",
    "Save license backup": "Salva un backup della licenza",
    "Restore license": "Ripristina la licenza",
    "Connect to My Account": "Collegati al tuo account",
    "Save screenshot": "Salva screenshot",
    "Export proof…": "Esporta prova…",
    "QR code": "Codice QR",
    "Sign in": "Accedi",
}

# What each article must name: the app's labels, and the command lines.
NAMES = {
    "save-license": ["License", "Licensing", "Save license backup"],
    "restore-license": ["License", "Licensing", "Restore license", "Recover my activation codes"],
    "transfer-license": [
        "License",
        "Licensing",
        "Remove license from this device",
        "Enter activation code",
    ],
    "connect-device": [
        "License",
        "Licensing",
        "Recover my activation codes",
        "Connect to My Account",
        "Sign in",
    ],
    "license-details": [
        "License",
        "Licensing",
        "Show details",
        "License details",
        "Save screenshot",
        "Export proof…",
        "QR code",
    ],
    "purchases": [],  # pages of My Account, not the app's windows
    "renew": ["License", "Enter activation code"],
}
COMMANDS = {
    "save-license": "licensor-client export FILE",
    "restore-license": "licensor-client import FILE",
}
# My Account pages an article sends the customer to.
ACCOUNT_LINKS = {
    "restore-license": "/account/licenses",
    "transfer-license": "/account/devices",
    "connect-device": "/account/connect",
}


def label(main: Locator, name: str) -> Locator:
    """A window or button named in the text: an emphasised label holding exactly ``name``."""
    return main.locator("strong").filter(has_text=re.compile(rf"^\s*{re.escape(name)}\s*$"))


@pytest.fixture
def customer(make_account: MakeAccount) -> str:
    """A verified customer; their email."""
    return make_account(fresh_email("help")).email


def open_help_from_the_site_navigation(page: Page) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Help").click()
    expect(page).to_have_url(re.compile(r"/help$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Help")


# --- finding the articles -----------------------------------------------------------------


def test_the_help_pages_are_the_ones_other_pages_link_to() -> None:
    assert [article.slug for article in ARTICLES] == list(TITLES)


def test_every_article_is_reached_by_following_links_from_the_home_page(page: Page) -> None:
    for slug, (title, _italian) in TITLES.items():
        page.goto("/")
        open_help_from_the_site_navigation(page)
        page.locator("main").get_by_role("link", name=title, exact=True).click()
        expect(page).to_have_url(re.compile(rf"/help/{slug}$"))
        expect(page.get_by_role("heading", level=1)).to_have_text(title)
        # The breadcrumb leads back to the index.
        page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name="Help").click()
        expect(page).to_have_url(re.compile(r"/help$"))


def test_the_home_page_sends_a_printed_card_owner_to_the_license_key_article(page: Page) -> None:
    page.goto("/")
    page.locator("main").get_by_role("link", name="Bought a printed card?").click()
    expect(page).to_have_url(re.compile(r"/help/license-details$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLES["license-details"][0])


def test_the_home_page_help_card_links_to_articles_and_the_index(page: Page) -> None:
    page.goto("/")
    card = page.locator("main section").filter(has=page.get_by_role("heading", name="Help"))
    card.get_by_role("link", name="Move your license to another device").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLES["transfer-license"][0])
    page.goto("/")
    card.get_by_role("link", name="All help articles").click()
    expect(page).to_have_url(re.compile(r"/help$"))


def test_a_signed_in_customer_reaches_help_from_my_account(page: Page, customer: str) -> None:
    sign_in(page, customer, PASSWORD)
    expect(page).to_have_url(re.compile(r"/account/licenses$"))
    open_help_from_the_site_navigation(page)
    page.get_by_role("link", name=TITLES["connect-device"][0], exact=True).click()
    page.locator("main").get_by_role("link", name="Connect a device", exact=True).click()
    expect(page).to_have_url(re.compile(r"/account/connect$"))
    expect(page.get_by_role("heading", level=2)).to_have_text("Connect a device")


def test_related_articles_lead_to_other_articles(page: Page, api: httpx.Client) -> None:
    for slug in TITLES:
        page.goto(f"/help/{slug}")
        links = page.get_by_role("navigation", name="Related articles").get_by_role("link")
        hrefs = [str(links.nth(i).get_attribute("href")) for i in range(links.count())]
        articles = [href for href in hrefs if href.startswith("/help/")]
        assert len(articles) >= 2, hrefs
        assert f"/help/{slug}" not in articles
        assert "/help" in hrefs  # and back to every article
        for href in articles:
            assert api.get(href).status_code == 200, href


# --- what they say ----------------------------------------------------------------------


@pytest.mark.parametrize("slug", list(TITLES))
def test_each_article_names_the_apps_windows_and_buttons_exactly(page: Page, slug: str) -> None:
    page.goto(f"/help/{slug}")
    article = page.locator("main article")
    for name in NAMES[slug]:
        expect(label(article, name).first, f"{slug} names {name!r}").to_be_visible()
    if slug in COMMANDS:
        expect(article.locator("code", has_text=COMMANDS[slug]).first).to_be_visible()
    if slug in ACCOUNT_LINKS:
        expect(article.locator(f'a[href="{ACCOUNT_LINKS[slug]}"]').first).to_be_visible()


def test_the_license_key_article_tells_the_key_from_the_activation_code(page: Page) -> None:
    page.goto("/help/license-details")
    article = page.locator("main article")
    expect(article).to_contain_text("32 digits")
    expect(article).to_contain_text("The license key is not your activation code")
    expect(article).to_contain_text("public license ID")
    expect(article).to_contain_text("PNG")


@pytest.mark.parametrize("slug", list(TITLES))
def test_an_italian_browser_reads_each_article_with_the_apps_italian_names(
    italian_page: Page, slug: str
) -> None:
    page = italian_page
    page.goto(f"/help/{slug}")
    expect(page.locator("html")).to_have_attribute("lang", "it")
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLES[slug][1])
    article = page.locator("main article")
    for name in NAMES[slug]:
        expect(label(article, ITALIAN[name]).first, f"{slug} names {name!r}").to_be_visible()
        if " " in name:  # a one-word English label may be part of a command or a file name
            expect(article).not_to_contain_text(name)
    if slug in COMMANDS:
        expect(article.locator("code", has_text=COMMANDS[slug]).first).to_be_visible()
    expect(page.get_by_role("navigation", name="Articoli correlati")).to_be_visible()


def test_an_italian_browser_finds_the_articles_from_the_home_page(italian_page: Page) -> None:
    page = italian_page
    page.goto("/")
    page.get_by_role("navigation", name="Menu principale").get_by_role("link", name="Aiuto").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Aiuto")
    for _english, italian in TITLES.values():
        expect(page.locator("main").get_by_role("link", name=italian, exact=True)).to_be_visible()
    page.locator("main").get_by_role("link", name=TITLES["license-details"][1]).click()
    expect(label(page.locator("main article"), "Salva screenshot").first).to_be_visible()


def test_the_language_switch_turns_an_article_into_italian(page: Page) -> None:
    page.goto("/help/transfer-license")
    expect(
        label(page.locator("main article"), "Remove license from this device").first
    ).to_be_visible()
    page.get_by_role("link", name="Italiano").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLES["transfer-license"][1])
    article = page.locator("main article")
    expect(label(article, "Rimuovi la licenza da questo dispositivo").first).to_be_visible()
    expect(article).not_to_contain_text("Remove license from this device")
    # The choice sticks: the next article is Italian too.
    page.get_by_role("link", name=TITLES["connect-device"][1]).first.click()
    expect(label(page.locator("main article"), "Collegati al tuo account").first).to_be_visible()


# --- the pages themselves -----------------------------------------------------------------


def test_an_unknown_article_is_the_not_found_page(api: httpx.Client) -> None:
    response = api.get("/help/reinstall-windows")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>Not found</h1>" in response.text
    assert "There is no help article at this address." in response.text

    italian = api.get("/help/reinstall-windows", headers={"Accept-Language": "it"})
    assert italian.status_code == 404
    assert "<h1>Non trovato</h1>" in italian.text


@pytest.mark.parametrize("language", list(i18n.LANGUAGES))
def test_help_pages_need_no_javascript_and_post_nothing(api: httpx.Client, language: str) -> None:
    for path in ["/help", *(f"/help/{slug}" for slug in TITLES)]:
        response = api.get(path, headers={"Accept-Language": language})
        assert response.status_code == 200, path
        assert f'<html lang="{language}">' in response.text, path
        html = response.text.lower()
        assert "<script" not in html, path
        assert "javascript:" not in html, path
        assert "<form" not in html, path  # a signed-out visitor: not even the sign-out form
        assert api.post(path).status_code == 405, path


def test_every_article_is_written_in_every_language() -> None:
    for article in ARTICLES:
        for language in i18n.LANGUAGES:
            assert body_template(article.slug, language) == (f"help/{language}/{article.slug}.html")
