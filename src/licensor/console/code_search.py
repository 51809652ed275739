"""The Codes and licenses search's table (``console/codes.py``): what the desk's lookup found
as one row per code, or per license, account or order found without a code; and where
the orders section shows an order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from licensor.support.desk.lookup import LookupResult


@dataclass(frozen=True)
class Hit:
    """One line of the search's table: a code (with its license), or a license, account
    or order found without one."""

    kind: str  # "code", "license", "account", "order"
    code_id: int | None = None
    masked: str | None = None
    plan: str | None = None
    state: str | None = None
    public_id: str | None = None
    account_id: int | None = None
    account_email: str | None = None
    order_number: str | None = None


def hits(found: LookupResult) -> list[Hit]:
    """The lookup's orders, accounts, licenses and codes as one table, each code once."""
    rows: list[Hit] = []
    seen: set[int] = set()

    def add_codes(kind: str, codes: Any) -> None:
        for code in codes:
            if code.id not in seen:
                seen.add(code.id)
                rows.append(
                    Hit(
                        kind,
                        code.id,
                        code.masked,
                        code.plan,
                        code.state,
                        code.license_public_id,
                        code.account_id,
                        code.account_email,
                        code.order_number,
                    )
                )

    add_codes("code", found.codes)
    for license in found.licenses:
        if not any(row.public_id == license.public_id for row in rows):
            rows.append(Hit("license", plan=license.plan, state=license.status,
                            public_id=license.public_id))  # fmt: skip
    for account_row in found.accounts:
        if not account_row.codes:
            account = account_row.account
            rows.append(Hit("account", account_id=account.id, account_email=account.email))
        add_codes("account", account_row.codes)
    for order_row in found.orders:
        if not order_row.codes:
            order = order_row.order
            rows.append(Hit("order", account_email=order_row.account_email,
                            account_id=order.account_id, order_number=order.number))  # fmt: skip
        add_codes("order", order_row.codes)
    return rows


def order_link(number: str | None, partner_id: int | None = None) -> str | None:
    """Where the orders section shows an order: a store order's own page; a partner's
    numbers are only unique within the partner, so its order is found by the list's
    filter (as is any order a search names only by its number)."""
    if not number:
        return None
    if partner_id is None:
        return f"/console/orders/{quote(number, safe='')}"
    return orders_named(number)


def orders_named(number: str) -> str:
    """The orders section's list of the orders with this number."""
    return "/console/orders?" + urlencode({"number": number})
