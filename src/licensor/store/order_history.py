"""An account's orders as My Account shows them: the orders that joined it (bought signed
in, or placed with an address it verified: accounts/purchases.py), each with its items,
price and tax, status and codes; and one of them, for its receipt (store/receipts.py).

Only the account's own orders are ever read here, by account and number together, so
someone else's order number finds nothing, exactly as a number that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from licensor.errors import NotFound
from licensor.licensing import formats
from licensor.models import (
    Account,
    ActivationCode,
    Channel,
    ItemKind,
    Order,
    OrderStatus,
)
from licensor.store.orders import ORDER_IN_FULL, order_number_key
from licensor.store.tax import vat_rate
from licensor.units import Service

SHOWN = (OrderStatus.PAID, OrderStatus.REFUNDED)


@dataclass(frozen=True)
class OrderLine:
    plan: str
    subscription: bool
    quantity: int
    unit_price_cents: int

    @property
    def amount_cents(self) -> int:
        return self.unit_price_cents * self.quantity


@dataclass(frozen=True)
class OrderCode:
    plan: str
    code: str  # in full when it is in this account; masked when it went to another
    in_account: bool


@dataclass(frozen=True)
class OrderView:
    """One order of the account, with what its page row and its receipt show."""

    number: str
    purchased_at: datetime
    status: OrderStatus
    partner: str | None  # a partner's sale: the partner sold it, and gives its receipts
    customer_name: str
    customer_email: str
    currency: str
    total_cents: int
    tax_cents: int
    vat_percent: Decimal | None
    lines: list[OrderLine]
    codes: list[OrderCode]

    @property
    def net_cents(self) -> int:
        return self.total_cents - self.tax_cents

    @property
    def has_receipt(self) -> bool:
        """Receipts are ours to give for our store's sales only."""
        return self.partner is None


class OrderHistory(Service):
    """The orders of one account, newest first."""

    def of_account(self, account: Account) -> list[OrderView]:
        orders = self.session.scalars(
            select(Order)
            .where(Order.account_id == account.id, Order.status.in_(SHOWN))
            .options(*ORDER_IN_FULL)
            .order_by(Order.purchased_at.desc(), Order.id.desc())
        ).all()
        return self._views(account, list(orders))

    def receipt_order(self, account: Account, number: str) -> OrderView:
        """The account's own store order with this number; ``NotFound`` otherwise, the
        same whether the number is someone else's or nobody's."""
        order = self.session.scalar(
            select(Order)
            .where(
                Order.number_key == order_number_key(number),
                Order.partner_id.is_(None),
                Order.account_id == account.id,
                Order.status.in_(SHOWN),
            )
            .options(*ORDER_IN_FULL)
        )
        if order is None:
            raise NotFound()
        return self._views(account, [order])[0]

    def _views(self, account: Account, orders: list[Order]) -> list[OrderView]:
        codes = self.session.scalars(
            select(ActivationCode)
            .where(ActivationCode.order_id.in_([order.id for order in orders]))
            .options(joinedload(ActivationCode.plan, innerjoin=True))
            .order_by(ActivationCode.id)
        ).all()
        reveal = self.unit.codes.reveal_code
        by_order: dict[int, list[OrderCode]] = {}
        for code in codes:
            assert code.order_id is not None
            canonical = reveal(code)
            mine = code.account_id == account.id
            shown = formats.format_code(canonical) if mine else formats.mask_code(canonical)
            by_order.setdefault(code.order_id, []).append(OrderCode(code.plan.name, shown, mine))
        configured = self.settings.vat_percent
        return [
            OrderView(
                number=order.number,
                purchased_at=order.purchased_at,
                status=order.status,
                partner=(
                    order.partner.name
                    if order.channel == Channel.PARTNER and order.partner
                    else None
                ),
                customer_name=order.customer_name,
                customer_email=order.customer_email,
                currency=order.currency,
                total_cents=order.total_cents,
                tax_cents=order.tax_cents,
                vat_percent=vat_rate(order, configured),
                lines=[
                    OrderLine(
                        item.plan.name,
                        item.kind == ItemKind.SUBSCRIPTION,
                        item.quantity,
                        item.unit_price_cents,
                    )
                    for item in order.items
                ],
                codes=by_order.get(order.id, []),
            )
            for order in orders
        ]
