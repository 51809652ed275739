"""An order's receipt as a PDF (My Account → Orders): the seller, the buyer, the items at
their unit price and quantity, the VAT in the total where there is any, the total and its
currency, the order number and date.

Drawn with fpdf2's built-in Helvetica in Windows-1252, which holds the euro sign and every
Italian letter, so the package needs no font file of its own or the system's. A character
outside it (a name in another script) is drawn as "?": the receipt still opens.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from babel.dates import format_date
from babel.numbers import format_percent
from fpdf import FPDF

from licensor.config import Settings
from licensor.models import OrderStatus
from licensor.store.order_history import OrderView
from licensor.store.orders import money

ENCODING = "cp1252"
# Babel writes some numbers with a narrow no-break space (not in Windows-1252).
_SPACES = str.maketrans({"\u202f": "\u00a0"})


@dataclass(frozen=True)
class Seller:
    name: str
    address_lines: list[str]
    vat_id: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Seller:
        lines = [line.strip() for line in settings.seller_address.split(";") if line.strip()]
        return cls(settings.seller_name or settings.product_name, lines, settings.seller_vat_id)


def _text(value: str) -> str:
    return value.translate(_SPACES).encode(ENCODING, "replace").decode(ENCODING)


def receipt_pdf(
    order: OrderView,
    seller: Seller,
    *,
    language: str,
    gettext: Callable[[str], str],
    compress: bool = True,
) -> bytes:
    """The receipt of one order, in ``language`` (``gettext`` translates its labels)."""

    def price(cents: int) -> str:
        return _text(money(cents, order.currency, language))

    pdf = FPDF(format="A4")
    pdf.core_fonts_encoding = ENCODING
    pdf.set_compression(compress)
    pdf.set_title(_text(gettext("Receipt") + " " + order.number))
    pdf.set_author(_text(seller.name))
    pdf.set_margins(20, 20, 20)
    pdf.add_page()
    width = pdf.epw

    pdf.set_font("helvetica", "B", 20)
    pdf.cell(width, 12, _text(gettext("Receipt")), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", "", 10)
    facts = [
        (gettext("Order number"), order.number),
        (gettext("Date"), format_date(order.purchased_at, format="long", locale=language)),
        (gettext("Currency"), order.currency),
    ]
    if order.status == OrderStatus.REFUNDED:
        facts.append((gettext("Status"), gettext("Refunded")))
    for label, value in facts:
        pdf.cell(40, 6, _text(label))
        pdf.cell(width - 40, 6, _text(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)

    top = pdf.get_y()
    half = width / 2
    seller_lines = [seller.name, *seller.address_lines]
    if seller.vat_id:
        seller_lines.append(gettext("VAT ID: {vat_id}").format(vat_id=seller.vat_id))
    for column, (title, lines) in enumerate(
        [
            (gettext("Seller"), seller_lines),
            (gettext("Billed to"), [order.customer_name, order.customer_email]),
        ]
    ):
        pdf.set_xy(pdf.l_margin + column * half, top)
        pdf.set_font("helvetica", "B", 10)
        pdf.cell(half, 6, _text(title), new_x="LEFT", new_y="NEXT")
        pdf.set_font("helvetica", "", 10)
        for text in lines:
            pdf.multi_cell(half - 4, 5, _text(text), new_x="LEFT", new_y="NEXT")
    pdf.set_xy(pdf.l_margin, max(pdf.get_y(), top + 30) + 6)

    columns = (width - 75, 20, 27.5, 27.5)
    pdf.set_font("helvetica", "B", 10)
    headings = [gettext("Item"), gettext("Quantity"), gettext("Unit price"), gettext("Amount")]
    for size, heading, align in zip(columns, headings, "LRRR", strict=True):
        pdf.cell(size, 8, _text(heading), border="B", align=align)
    pdf.ln()
    pdf.set_font("helvetica", "", 10)
    for line in order.lines:
        name = (
            gettext("{plan} subscription").format(plan=line.plan)
            if line.subscription
            else gettext("{plan} activation code").format(plan=line.plan)
        )
        cells = [name, str(line.quantity), price(line.unit_price_cents), price(line.amount_cents)]
        for size, value, align in zip(columns, cells, "LRRR", strict=True):
            pdf.cell(size, 8, _text(value), align=align)
        pdf.ln()
    pdf.ln(2)

    totals: list[tuple[str, str]] = []
    if order.vat_percent is not None:
        rate = format_percent(order.vat_percent / 100, format="#,##0.##%", locale=language)
        totals.append((gettext("Subtotal (excluding VAT)"), price(order.net_cents)))
        totals.append((gettext("VAT at {rate}").format(rate=rate), price(order.tax_cents)))
    totals.append((gettext("Total"), price(order.total_cents)))
    label_width = width - columns[-1]
    for index, (label, value) in enumerate(totals):
        last = index == len(totals) - 1
        pdf.set_font("helvetica", "B" if last else "", 11 if last else 10)
        pdf.cell(label_width, 7, _text(label), align="R", border="T" if last else 0)
        pdf.cell(columns[-1], 7, _text(value), align="R", border="T" if last else 0)
        pdf.ln()
    pdf.ln(6)
    pdf.set_font("helvetica", "", 9)
    note = (
        gettext("Prices include VAT.")
        if order.vat_percent is not None
        else gettext("No VAT is charged on this order.")
    )
    pdf.multi_cell(width, 5, _text(note))
    return bytes(pdf.output())
