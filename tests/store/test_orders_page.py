"""My Account's Orders (issue 14, item 2) over HTTP: each order with its items, price and
tax, status and codes; its receipt as a PDF, read back with pypdf; someone else's order
number answered as one that does not exist; VAT worked out when the order is made and
shown in the confirmation mail.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from decimal import Decimal

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring
from licensor.mail.outbox import bodies
from licensor.models import Order
from licensor.store.tax import tax_part
from tests.accounts.factories import MakeAccount, OpenBrowser, outbox, signed_in
from tests.store.factories import MakeOrder, MakePartner

SELLER = {
    "seller_name": "Sicurezza Rossi S.r.l.",
    "seller_address": "Via Roma 1; 00100 Roma; Italia",
    "seller_vat_id": "IT01234567890",
}


@pytest.fixture
def vat(settings: Settings) -> Iterator[None]:
    """The test server's settings with 22% VAT and a seller of its own (the server reads
    its settings object as each request runs)."""
    saved = {name: getattr(settings, name) for name in [*SELLER, "vat_percent"]}
    for name, value in SELLER.items():
        setattr(settings, name, value)
    settings.vat_percent = Decimal(22)
    yield
    for name, value in saved.items():
        setattr(settings, name, value)


def pdf_text(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    return "\n".join(page.extract_text() for page in reader.pages)


@pytest.mark.parametrize(
    ("total", "rate", "tax"),
    [(3999, 22, 721), (100, 22, 18), (1, 22, 0), (2999, Decimal("20.5"), 510), (3999, 0, 0)],
)
def test_the_tax_inside_a_tax_included_price_is_rounded_half_up_to_the_cent(
    total: int, rate: Decimal, tax: int
) -> None:
    assert tax_part(total, Decimal(rate)) == tax


def test_the_orders_page_lists_each_order_with_price_tax_status_and_codes(
    vat: None,
    form_browser: OpenBrowser,
    make_account: MakeAccount,
    make_order: MakeOrder,
    database: Database,
) -> None:
    customer = make_account()
    order = make_order("plus", email=customer.email, quantity=2)
    with database.transaction() as session:
        row = session.scalar(select(Order).where(Order.number == order.number))
        assert row is not None
        assert (row.total_cents, row.tax_cents) == (7998, 1442)

    page = signed_in(form_browser, customer).get("/account/orders").text
    assert order.number in page
    assert all(code in page for code in order.codes)
    assert "2 \N{MULTIPLICATION SIGN} Plus activation codes" in page
    assert "€79.98" in page
    assert "including VAT of €14.42" in page
    assert "Paid" in page
    assert f"/account/orders/{order.number}/receipt.pdf" in page


def test_the_receipt_names_seller_buyer_items_vat_and_total(
    vat: None,
    form_browser: OpenBrowser,
    make_account: MakeAccount,
    make_order: MakeOrder,
) -> None:
    customer = make_account()
    order = make_order("plus", email=customer.email, name="Giulia Bianchi")
    response = signed_in(form_browser, customer).get(f"/account/orders/{order.number}/receipt.pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert "no-store" in response.headers["cache-control"]
    text = pdf_text(response.content)
    for expected in [
        "Receipt",
        order.number,
        "Sicurezza Rossi S.r.l.",
        "Via Roma 1",
        "VAT ID: IT01234567890",
        "Giulia Bianchi",
        customer.email,
        "Plus activation code",
        "€39.99",
        "Subtotal (excluding VAT)",
        "€32.78",
        "VAT at 22%",
        "€7.21",
        "Total",
        "EUR",
    ]:
        assert expected in text, (expected, text)


def test_the_receipt_in_italian_keeps_the_euro_sign_and_accents(
    vat: None,
    form_browser: OpenBrowser,
    make_account: MakeAccount,
    make_order: MakeOrder,
) -> None:
    customer = make_account(language="it")
    order = make_order("plus", email=customer.email, name="Niccolò Città")
    browser = signed_in(form_browser, customer)
    text = pdf_text(browser.get(f"/account/orders/{order.number}/receipt.pdf").content)
    for expected in ["Ricevuta", "Niccolò Città", "39,99", "€", "IVA al 22%", "Totale"]:
        assert expected in text, (expected, text)
    page = browser.get("/account/orders").text
    assert "Ordini" in page
    assert "Trova i miei acquisti" in page


def test_someone_elses_order_number_is_answered_as_one_that_does_not_exist(
    form_browser: OpenBrowser,
    make_account: MakeAccount,
    make_order: MakeOrder,
) -> None:
    owner, stranger = make_account(), make_account()
    order = make_order("plus", email=owner.email)
    browser = signed_in(form_browser, stranger)
    theirs = browser.get(f"/account/orders/{order.number}/receipt.pdf")
    nobodys = browser.get("/account/orders/ORD-0000-0000/receipt.pdf")
    assert theirs.status_code == nobodys.status_code == 404
    assert theirs.text == nobodys.text
    assert order.number not in browser.get("/account/orders").text
    signed_out = form_browser().get(f"/account/orders/{order.number}/receipt.pdf")
    assert signed_out.status_code == 303
    assert signed_out.headers["location"].startswith("/sign-in")


def test_a_partner_sale_is_listed_without_a_receipt_of_ours(
    form_browser: OpenBrowser,
    make_account: MakeAccount,
    make_order: MakeOrder,
    make_partner: MakePartner,
) -> None:
    customer = make_account()
    partner = make_partner(name="Negozio Verdi")
    sale = make_order("plus", email=customer.email, partner=partner.slug)
    browser = signed_in(form_browser, customer)
    page = browser.get("/account/orders").text
    assert sale.number in page
    assert "Negozio Verdi" in page
    assert f"/account/orders/{sale.number}/receipt.pdf" not in page
    assert browser.get(f"/account/orders/{sale.number}/receipt.pdf").status_code == 404


def test_the_confirmation_mail_gives_the_price_and_the_vat_in_it(
    vat: None, make_order: MakeOrder, database: Database, keyring: Keyring
) -> None:
    english = make_order("plus")
    italian = make_order("plus", language="it")
    text, _ = bodies(keyring, outbox(database, english.email, "order_confirmation")[0])
    assert "Total paid: €39.99 (including VAT at 22%: €7.21)" in text
    text, _ = bodies(keyring, outbox(database, italian.email, "order_confirmation")[0])
    assert "Totale pagato: 39,99\xa0€ (di cui IVA al 22%: 7,21\xa0€)" in text


def test_without_vat_the_mail_and_the_receipt_say_no_tax(
    form_browser: OpenBrowser,
    make_account: MakeAccount,
    make_order: MakeOrder,
    database: Database,
    keyring: Keyring,
) -> None:
    customer = make_account()
    order = make_order("plus", email=customer.email)
    text, _ = bodies(keyring, outbox(database, customer.email, "order_confirmation")[0])
    assert "Total paid: €39.99\n" in text
    assert "VAT" not in text
    receipt = signed_in(form_browser, customer).get(f"/account/orders/{order.number}/receipt.pdf")
    pdf = pdf_text(receipt.content)
    assert "No VAT is charged on this order." in pdf
    assert "VAT at" not in pdf
