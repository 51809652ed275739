"""VAT inside our prices: plans are priced tax included, so an order's tax is the part of
its total that is VAT at ``LICENSOR_VAT_PERCENT``, worked out once when the order is made
and kept with it (``orders.tax_cents``): a later change of rate changes no past order.

Rounding: the tax is total x rate / (100 + rate), rounded half up to the cent; the net
is the total less the tax, so the two always add up to what was paid (docs/orders.md).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from babel.numbers import format_percent

from licensor.models import Order


def tax_part(total_cents: int, vat_percent: Decimal) -> int:
    """The VAT inside a tax-included total, in whole cents (39.99 at 22% holds 7.21); 0
    where no VAT is set."""
    if vat_percent <= 0 or total_cents <= 0:
        return 0
    tax = Decimal(total_cents) * vat_percent / (100 + vat_percent)
    return int(tax.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def vat_rate(order: Order, configured: Decimal) -> Decimal | None:
    """The rate the order's tax was worked out at: today's, where it gives the same tax,
    else the rate its amounts show (the order keeps the tax, not the rate). None: no VAT."""
    if order.tax_cents <= 0 or order.total_cents <= order.tax_cents:
        return None
    if tax_part(order.total_cents, configured) == order.tax_cents:
        return configured
    shown = Decimal(order.tax_cents) * 100 / Decimal(order.total_cents - order.tax_cents)
    return shown.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def vat_rate_text(order: Order, configured: Decimal, language: str) -> str | None:
    """The rate as the reader's language writes it ("22%", "20,5%"), or None."""
    rate = vat_rate(order, configured)
    if rate is None:
        return None
    return format_percent(rate / 100, format="#,##0.##%", locale=language)
