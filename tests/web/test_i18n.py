"""Italian pages: every page string has a translation, and Italian visitors see Italian.

The catalog checks run the extraction of ``scripts/extract_messages.py`` in-process, so a
page string added without its Italian fails here; the browser tests open the pages as an
Italian visitor would (``?lang=it``, an Italian browser, a signed-in Italian customer).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from playwright.sync_api import Page, expect

from licensor.web import i18n
from scripts import extract_messages
from tests.accounts.factories import PASSWORD, MakeAccount, fresh_email
from tests.licensing.factories import MakeCode

PLACEHOLDER = re.compile(r"\{[^{}]*\}")
FIX = "run `.venv/bin/python scripts/extract_messages.py` and translate in "


# --- the catalog ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def template() -> Catalog:
    return extract_messages.extract()


@pytest.fixture(scope="module")
def italian() -> Catalog:
    return extract_messages.read_catalog("it")


def _translations(catalog: Catalog) -> Iterator[tuple[str, str]]:
    for message in catalog:
        if not message.id or not message.string:
            continue
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        strings = [message.string] if isinstance(message.string, str) else list(message.string)
        yield from zip(ids, strings, strict=False)


def test_every_page_string_has_an_italian_translation(template: Catalog, italian: Catalog) -> None:
    missing = extract_messages.untranslated(italian, template)
    listing = "\n".join(
        f"  {message.id!r} ({', '.join(path for path, _line in message.locations)})"
        for message in missing
    )
    path = extract_messages.catalog_path("it").relative_to(extract_messages.ROOT)
    assert not missing, f"no Italian for {len(missing)} page strings ({FIX}{path}):\n{listing}"


def test_the_catalog_holds_the_strings_of_templates_code_and_error_pages(
    template: Catalog,
) -> None:
    assert "Add an activation code" in template  # a template
    assert "The code was added to your account." in template  # unit._() in a view
    assert "This password is too short: use at least 8 characters." in template  # N_() in MESSAGES
    assert "Too many requests; try again later" in template  # an error's title
    assert "code_wrong" not in template  # the key in unit._(MESSAGES["code_wrong"])


def test_translations_keep_every_placeholder_of_their_message(italian: Catalog) -> None:
    wrong = [
        (message_id, string)
        for message_id, string in _translations(italian)
        if sorted(PLACEHOLDER.findall(message_id)) != sorted(PLACEHOLDER.findall(string))
    ]
    assert not wrong, "placeholders differ:\n" + "\n".join(f"  {pair!r}" for pair in wrong)


def test_translations_add_no_percent_sign_that_jinja_would_take_for_a_format(
    italian: Catalog,
) -> None:
    # Newstyle gettext applies `%` to every translated string in a template.
    wrong = [
        (message_id, string)
        for message_id, string in _translations(italian)
        if string.count("%") != message_id.count("%")
    ]
    assert not wrong, "write 'per cento', not '%':\n" + "\n".join(f"  {pair!r}" for pair in wrong)


def test_the_extractor_finds_marked_strings_and_skips_lookups(tmp_path: Path) -> None:
    module = tmp_path / "views.py"
    module.write_text(
        "MESSAGES = {'too_short': N_('Use at least 10 characters.')}\n"
        "\n"
        "class Gone(LicensorError):\n"
        "    code = 'gone'\n"
        "    title = 'This page is gone'\n"
        "\n"
        "def view(unit, count):\n"
        "    # Translators: shown after a device is removed.\n"
        "    unit._('Removed {name}')\n"
        "    unit._(MESSAGES['too_short'])\n"
        "    ngettext('One seat', '{count} seats', count)\n",
        encoding="utf-8",
    )
    found = {item.message: item for item in extract_messages.from_python(module)}
    assert set(found) == {
        "Use at least 10 characters.",
        "This page is gone",
        "Removed {name}",
        ("One seat", "{count} seats"),
    }
    assert found["Removed {name}"].comments == ("shown after a device is removed.",)
    assert found["Removed {name}"].line == 9


def test_the_extractor_refuses_an_f_string_which_could_never_be_translated(
    tmp_path: Path,
) -> None:
    module = tmp_path / "views.py"
    module.write_text("def view(unit, name):\n    unit._(f'Hello {name}')\n", encoding="utf-8")
    with pytest.raises(extract_messages.ExtractionError, match=r"views\.py:2"):
        list(extract_messages.from_python(module))


def test_the_italian_translator_reads_the_catalog() -> None:
    translator = i18n.translator("it")
    assert translator.gettext("Licenses") == "Licenze"
    assert translator.gettext("A string nobody translated") == "A string nobody translated"


# --- pages, as an Italian visitor sees them ----------------------------------------------

# path, heading, submit button (or, on the home page, the main link)
ITALIAN_PAGES = [
    ("/", "Le tue licenze, sempre a portata di mano", "Accedi"),
    ("/sign-in", "Accedi al tuo account", "Accedi"),
    ("/sign-up", "Crea un account", "Crea il mio account"),
    ("/reset-password", "Reimposta la password", "Inviami un link"),
]


def _expect_italian(page: Page, heading: str, action: str) -> None:
    expect(page.locator("html")).to_have_attribute("lang", "it")
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    main = page.locator("main")
    control = main.get_by_role("button", name=action, exact=True).or_(
        main.get_by_role("link", name=action, exact=True)
    )
    expect(control.first).to_be_visible()


@pytest.mark.parametrize(("path", "heading", "action"), ITALIAN_PAGES)
def test_lang_it_in_the_address_shows_the_page_in_italian(
    page: Page, path: str, heading: str, action: str
) -> None:
    page.goto(f"{path}?lang=it")
    _expect_italian(page, heading, action)


@pytest.mark.parametrize(("path", "heading", "action"), ITALIAN_PAGES)
def test_an_italian_browser_gets_the_page_in_italian(
    italian_page: Page, path: str, heading: str, action: str
) -> None:
    italian_page.goto(path)
    _expect_italian(italian_page, heading, action)


def test_the_language_chosen_sticks_across_pages(page: Page) -> None:
    page.goto("/?lang=it")
    page.locator("main").get_by_role("link", name="Crea un account").click()
    expect(page).to_have_url(re.compile(r"/sign-up$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Crea un account")
    page.goto("/reset-password")
    expect(page.locator("html")).to_have_attribute("lang", "it")
    expect(page.get_by_role("heading", level=1)).to_have_text("Reimposta la password")
    cookies = {cookie["name"]: cookie.get("value") for cookie in page.context.cookies()}
    assert cookies.get(i18n.LANGUAGE_COOKIE) == "it"


def test_an_italian_browser_can_switch_to_english_for_good(italian_page: Page) -> None:
    italian_page.goto("/sign-in")
    expect(italian_page.get_by_role("heading", level=1)).to_have_text("Accedi al tuo account")
    italian_page.get_by_role("link", name="English").click()
    expect(italian_page.get_by_role("heading", level=1)).to_have_text("Sign in to My Account")
    italian_page.goto("/sign-up")
    expect(italian_page.locator("html")).to_have_attribute("lang", "en")
    expect(italian_page.get_by_role("heading", level=1)).to_have_text("Create an account")


def test_a_form_problem_from_the_service_is_explained_in_italian(italian_page: Page) -> None:
    italian_page.goto("/sign-up")
    italian_page.get_by_label("Indirizzo email").fill("nuovo@example.com")
    italian_page.get_by_label("Password", exact=True).fill("breve")
    italian_page.get_by_role("button", name="Crea il mio account").click()
    expect(italian_page.locator("#password-error")).to_have_text(
        "Questa password è troppo corta per il tuo account: usa almeno 15 caratteri."
    )


# --- signed in -----------------------------------------------------------------------------


@pytest.fixture
def italian_customer(make_account: MakeAccount) -> str:
    """A verified customer who chose Italian; their email."""
    return make_account(fresh_email("cliente"), language="it").email


@pytest.fixture
def activation_code(make_code: MakeCode) -> str:
    return make_code("plus", devices_max=3)


def test_an_italian_customer_signs_in_and_adds_a_code_in_italian(
    italian_page: Page, italian_customer: str, activation_code: str
) -> None:
    page = italian_page
    page.goto("/")
    page.locator("main").get_by_role("link", name="Accedi", exact=True).click()
    page.get_by_label("Indirizzo email").fill(italian_customer)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.locator("main").get_by_role("button", name="Accedi", exact=True).click()

    expect(page).to_have_url(re.compile(r"/account/licenses$"))
    expect(page.locator("html")).to_have_attribute("lang", "it")
    expect(page.get_by_role("heading", level=1)).to_have_text("Il mio account")
    expect(page.get_by_role("heading", level=2, name="Licenze")).to_be_visible()
    expect(page.get_by_role("heading", name="Aggiungi un codice di attivazione")).to_be_visible()

    page.get_by_label("Codice di attivazione").fill("12345")
    page.get_by_role("button", name="Aggiungi al mio account").click()
    expect(page.get_by_role("alert")).to_have_text(
        "Questo non è un codice di attivazione valido; controlla di averlo digitato correttamente."
    )

    page.get_by_label("Codice di attivazione").fill(activation_code)
    page.get_by_role("button", name="Aggiungi al mio account").click()
    expect(page.get_by_role("status")).to_have_text("Il codice è stato aggiunto al tuo account.")
    card = page.get_by_role("listitem").filter(has_text=activation_code)
    expect(card).to_contain_text("Non ancora attivato")
    expect(card).to_contain_text("Decorre dalla prima attivazione")
    expect(card).to_contain_text("0 di 3")

    page.get_by_role("navigation", name="Il mio account").get_by_role(
        "link", name="Dispositivi"
    ).click()
    expect(page.get_by_role("heading", level=2)).to_have_text("Dispositivi")
    expect(page.locator("html")).to_have_attribute("lang", "it")
