"""My Account's Orders: the account's orders with their items, price and tax, status and
codes; each store order's receipt as a PDF; and "find my purchases", which joins what has
not joined yet and mails each verified address the list of its orders.

In My Account, but the store's rules (orders, receipts), so the store's pages; joining is
the accounts domain's, below the store (accounts/purchases.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from babel.dates import format_date
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from licensor.store.orders import money
from licensor.store.receipts import Seller, receipt_pdf
from licensor.web.access import CustomerPage
from licensor.web.pages import Pages, PageUnit

router = APIRouter(include_in_schema=False)


def orders_page(unit: PageUnit, *, notice: str | None = None) -> Response:
    language = unit.language

    def price(cents: int, currency: str) -> str:
        return money(cents, currency, language)

    def day(moment: datetime) -> str:
        return format_date(moment, format="medium", locale=language)

    context: dict[str, Any] = {"price": price, "day": day}
    return unit.render(
        "account/orders.html",
        orders=unit.order_history.of_account(unit.account),
        notice=notice,
        **context,
    )


@router.get("/account/orders", response_class=HTMLResponse)
def orders(request: Request, page: CustomerPage, done: str = "") -> Response:
    with page.open() as unit:
        notice = None
        if done == "found":
            notice = unit._(
                "We have looked for your purchases and sent a list to each of your "
                "confirmed email addresses."
            )
        return orders_page(unit, notice=notice)


@router.post("/account/orders/find")
def find_purchases(request: Request, web: Pages, page: CustomerPage) -> Response:
    """Join what has not joined yet from each verified address, and mail each its list."""
    with page.open() as unit:
        web.limit("find_purchases", f"account:{unit.account.id}")
        unit.account_purchases.find(unit.account)
        return unit.redirect("/account/orders?done=found")


@router.get("/account/orders/{number}/receipt.pdf")
def receipt(request: Request, page: CustomerPage, number: str) -> Response:
    """The receipt of one of the account's store orders; any other number is 404."""
    with page.open() as unit:
        order = unit.order_history.receipt_order(unit.account, number)
        pdf = receipt_pdf(
            order,
            Seller.from_settings(unit.settings),
            language=unit.language,
            gettext=unit._,
        )
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="receipt-{order.number}.pdf"',
            "Cache-Control": "private, no-store",
        },
    )
