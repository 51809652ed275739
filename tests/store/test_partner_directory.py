"""The partner directory: every partner a customer may have bought from, how to reach it,
and what to give it to get a code again (seed 002's "contact the seller")."""

from __future__ import annotations

import html
import re

import httpx

from licensor.web import i18n
from tests.store.factories import MakePartner

DIRECTORY = "/partners"


def test_every_partner_is_listed_with_its_contact_details(
    api: httpx.Client, make_partner: MakePartner
) -> None:
    roma = make_partner(name="Negozio Roma", phone="+39 06 1234 5678")
    milano = make_partner(name="Shop Milano & Co")

    response = api.get(DIRECTORY)

    assert response.status_code == 200
    page = response.text
    for partner in (roma, milano):
        assert f">{html.escape(partner.name)}</h2>" in page
        assert f'<a href="mailto:{partner.email}">{partner.email}</a>' in page
        assert f'href="{partner.url}"' in page
    assert 'href="tel:+390612345678"' in page
    assert page.count("Phone") == 1  # only the partner that has a phone shows one
    assert page.index("Negozio Roma") < page.index("Shop Milano")  # by name
    assert page.count("<h1") == 1


def test_the_directory_says_what_to_give_a_partner(api: httpx.Client) -> None:
    page = api.get(DIRECTORY).text

    for needed in (
        "The purchase date",
        "The name and email address used for the purchase",
        "The order number",
    ):
        assert needed in page


def test_the_directory_says_so_when_there_are_no_partners(api: httpx.Client) -> None:
    page = api.get(DIRECTORY).text

    assert "We have no partners at the moment" in page
    assert "mailto:" not in page


def test_the_directory_is_linked_from_home_and_from_the_lookup_form(api: httpx.Client) -> None:
    for path in ("/", "/orders/lookup"):
        assert re.search(r'<a href="/partners">[^<]+</a>', api.get(path).text), path


def test_the_directory_leads_store_buyers_to_the_order_lookup(api: httpx.Client) -> None:
    assert '<a href="/orders/lookup">' in api.get(DIRECTORY).text


def test_a_partners_name_is_shown_as_text_not_markup(
    api: httpx.Client, make_partner: MakePartner
) -> None:
    make_partner(name="<script>alert(1)</script> Shop")

    page = api.get(DIRECTORY).text

    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Shop" in page


def test_an_italian_visitor_gets_the_italian_directory(
    api: httpx.Client, make_partner: MakePartner
) -> None:
    partner = make_partner(name="Negozio Roma")

    response = api.get(DIRECTORY, headers={"Accept-Language": "it"})

    assert '<html lang="it">' in response.text
    italian = i18n.translator("it")
    for english in ("Our partners", "What to give them", "The purchase date"):
        translated = italian.gettext(english)
        assert translated != english, f"no Italian for {english!r}"
        assert translated in html.unescape(response.text)
    assert partner.name in response.text  # names are not translated
