"""Orders (``/console/orders``): list and filter; a page per order; resend its confirmation;
refund it (admins): through the provider for an order paid in our checkout, recorded for a
partner's sale or an order entered by hand, and pointed to its store's dashboard for a
merchant-of-record order. The rules are in ``store/order_admin.py`` and ``store/refunds.py``,
which ``licensor orders`` calls too.

A store order's page is ``/console/orders/{number}`` (other sections link there); a
partner's, whose numbers are its own, ``/console/orders/partner/{slug}/{number}``.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, Response

from licensor.console.pages import is_admin, render
from licensor.errors import (
    FormInvalid,
    OrderNotRefundable,
    OrderUnknown,
    PartnerUnknown,
    PaymentUnavailable,
)
from licensor.models import Channel, Order, OrderStatus
from licensor.store.order_admin import (
    MERCHANTS_OF_RECORD,
    PROVIDERS,
    OrderAdmin,
    OrderFilters,
    refund_way,
)
from licensor.store.orders import money
from licensor.store.payments import Payments
from licensor.store.refunds import Refunds
from licensor.store.tax import vat_rate_text
from licensor.web.access import AdminPage, StaffPage
from licensor.web.i18n import N_
from licensor.web.messages import FIELD_MESSAGES
from licensor.web.pages import PageUnit

router = APIRouter(include_in_schema=False)

Field = Annotated[str, Form()]

PROBLEMS = {
    **FIELD_MESSAGES,
    "choice_invalid": N_("Choose one of the values offered."),
    "reason_too_long": N_("Use at most 500 characters."),
    "phone_too_long": N_("Use at most 60 characters."),
}
STATUS_LABELS = {
    OrderStatus.PENDING: N_("Pending"),
    OrderStatus.PAID: N_("Paid"),
    OrderStatus.FAILED: N_("Failed"),
    OrderStatus.REFUNDED: N_("Refunded"),
}
# Ids the customer's page already uses, so both pages name a state alike.
CODE_STATE_LABELS = {
    "issued": N_("Not activated yet"),
    "active": N_("Active"),
    "expired": N_("Expired"),
    "blocked": N_("Blocked"),
}
SUBSCRIPTION_LABELS = {
    "active": N_("Active"),
    "past_due": N_("Renewal payment failed"),
    "canceled": N_("Canceled"),
    "expired": N_("Expired"),
}
CHANNEL_LABELS = {Channel.STORE: N_("Our store"), Channel.PARTNER: N_("Partner")}
PROVIDER_LABELS = {"test": N_("Test provider"), "stripe": "Stripe", **MERCHANTS_OF_RECORD}
NOTICES = {
    "resent": N_("The confirmation mail is on its way to the order's email address."),
    "refunded": N_("The order is refunded: its codes are blocked and the buyer is told."),
    "already_refunded": N_("This order was already refunded: nothing changed."),
}


def path_of(number: str, partner_slug: str | None) -> str:
    """An order's console page (a partner's numbers are only unique within the partner)."""
    if partner_slug:
        return f"/console/orders/partner/{quote(partner_slug, safe='')}/{quote(number, safe='')}"
    return f"/console/orders/{quote(number, safe='')}"


def order_path(order: Order, partner_slug: str | None) -> str:
    """The order's console page."""
    return path_of(order.number, partner_slug if order.partner_id is not None else None)


def _money(unit: PageUnit) -> Any:
    return lambda cents, currency: money(cents, currency, unit.language)


# --- the list --------------------------------------------------------------------------------


@router.get("/console/orders", response_class=HTMLResponse)
def orders_list(
    page: StaffPage,
    number: str = "",
    email: str = "",
    status: str = "",
    channel: str = "",
    partner: str = "",
    provider: str = "",
    since: str = "",
    until: str = "",
    before: str = "",
) -> Response:
    filters = OrderFilters(number, email, status, channel, partner, provider, since, until)
    # A page's keyset from a link; anything else (typed in the address) is the first page.
    after_id = int(before) if before.isascii() and before.isdigit() and len(before) < 19 else None
    with page.open() as unit:
        admin = unit.service(OrderAdmin)
        errors: dict[str, str] = {}
        result = None
        try:
            result = admin.search(filters, before=after_id)
        except FormInvalid as error:
            errors = unit.field_messages(error.fields, PROBLEMS)
        except PartnerUnknown as error:
            errors = {"partner": unit._(error.title)}
        given = {key: value for key, value in vars(filters).items() if value}
        next_link = None
        if result is not None and result.next_before is not None:
            next_link = "/console/orders?" + urlencode({**given, "before": result.next_before})
        return render(
            unit,
            "console/orders.html",
            422 if errors else 200,
            filters=filters,
            filtered=bool(given),
            errors=errors,
            rows=result.rows if result else [],
            next_link=next_link,
            first_link=("/console/orders?" + urlencode(given)) if after_id else None,
            partners=unit.partners.all(),
            statuses=STATUS_LABELS,
            channels=CHANNEL_LABELS,
            providers={name: PROVIDER_LABELS[name] for name in PROVIDERS},
            money=_money(unit),
            order_link=lambda row: path_of(row.number, row.partner),
        )


# --- one order ---------------------------------------------------------------------------------


def order_page(
    unit: PageUnit, order: Order, provider_name: str, status: int = 200, notice: str = ""
) -> HTMLResponse:
    detail = unit.service(OrderAdmin).detail(order)
    slug = order.partner.slug if order.partner else None
    return render(
        unit,
        "console/order.html",
        status,
        detail=detail,
        order=order,
        here=order_path(order, slug),
        way=refund_way(order, provider_name),
        admin=is_admin(unit),
        notice=unit._(NOTICES[notice]) if notice in NOTICES else "",
        statuses=STATUS_LABELS,
        channels=CHANNEL_LABELS,
        providers=PROVIDER_LABELS,
        code_states=CODE_STATE_LABELS,
        subscription_states=SUBSCRIPTION_LABELS,
        money=_money(unit),
        vat_rate=vat_rate_text(order, unit.settings.vat_percent, unit.language),
        store_name=MERCHANTS_OF_RECORD.get(order.provider or "", order.provider or ""),
    )


@router.get("/console/orders/{number}", response_class=HTMLResponse)
def order_view(page: StaffPage, provider: Payments, number: str, done: str = "") -> Response:
    with page.open() as unit:
        admin = unit.service(OrderAdmin)
        try:
            order = admin.order(number)
        except OrderUnknown:
            # Other pages link every order by its number alone: a partner's sale is found
            # under its partner when only one partner has that number.
            partners = admin.partners_with_number(number)
            if len(partners) != 1:
                raise
            return unit.redirect(path_of(number, partners[0]), status=307)
        return order_page(unit, order, provider.name, notice=done)


@router.get("/console/orders/partner/{slug}/{number}", response_class=HTMLResponse)
def partner_order_view(
    page: StaffPage, provider: Payments, slug: str, number: str, done: str = ""
) -> Response:
    with page.open() as unit:
        order = unit.service(OrderAdmin).order(number, slug)
        return order_page(unit, order, provider.name, notice=done)


@router.post("/console/orders/{number}/resend", response_class=HTMLResponse)
def resend(page: StaffPage, number: str) -> Response:
    with page.open() as unit:
        admin = unit.service(OrderAdmin)
        order = admin.order(number, lock=True)
        admin.resend_confirmation(order, actor=unit.actor)
        return unit.redirect(order_path(order, None) + "?done=resent")


# --- refunds ---------------------------------------------------------------------------------


def refund_page(
    unit: PageUnit,
    order: Order,
    provider_name: str,
    status: int = 200,
    *,
    errors: dict[str, str] | None = None,
    error: str = "",
    reason: str = "",
) -> HTMLResponse:
    slug = order.partner.slug if order.partner else None
    return render(
        unit,
        "console/order_refund.html",
        status,
        order=order,
        here=order_path(order, slug),
        way=refund_way(order, provider_name),
        errors=errors or {},
        error=error,
        reason=reason,
        money=_money(unit),
        store_name=MERCHANTS_OF_RECORD.get(order.provider or "", order.provider or ""),
    )


@router.get("/console/orders/{number}/refund", response_class=HTMLResponse)
def refund_form(page: AdminPage, provider: Payments, number: str) -> Response:
    with page.open() as unit:
        return refund_page(unit, unit.service(OrderAdmin).order(number), provider.name)


@router.get("/console/orders/partner/{slug}/{number}/refund", response_class=HTMLResponse)
def partner_refund_form(page: AdminPage, provider: Payments, slug: str, number: str) -> Response:
    with page.open() as unit:
        return refund_page(unit, unit.service(OrderAdmin).order(number, slug), provider.name)


@router.post("/console/orders/{number}/refund", response_class=HTMLResponse)
def refund(page: AdminPage, provider: Payments, number: str, reason: Field = "") -> Response:
    return _refund(page, provider, number, None, reason)


@router.post("/console/orders/partner/{slug}/{number}/refund", response_class=HTMLResponse)
def partner_refund(
    page: AdminPage, provider: Payments, slug: str, number: str, reason: Field = ""
) -> Response:
    return _refund(page, provider, number, slug, reason)


def _refund(
    page: AdminPage, provider: Payments, number: str, slug: str | None, reason: str
) -> Response:
    # Three steps (store/refunds.py): no transaction is open while the provider answers.
    with page.open() as unit:
        order = unit.service(OrderAdmin).order(number, slug)
        try:
            request = unit.service(Refunds).prepare(
                order, reason=reason, provider_name=provider.name
            )
        except FormInvalid as error:
            messages = unit.field_messages(error.fields, PROBLEMS)
            return refund_page(unit, order, provider.name, 422, errors=messages, reason=reason)
        except OrderNotRefundable as error:
            return refund_page(unit, order, provider.name, 409, error=unit._(error.title))
        order_id, back = order.id, order_path(order, slug)
    if request is not None:
        try:
            provider.refund(request)
        except PaymentUnavailable:
            with page.open() as unit:
                order = unit.service(OrderAdmin).order(number, slug)
                message = unit._(
                    "The payment provider did not refund it (no answer, or a refusal): "
                    "nothing has changed. Try again in a moment, or refund it in the "
                    "provider's dashboard."
                )
                return refund_page(unit, order, provider.name, 503, error=message, reason=reason)
    with page.open() as unit:
        done = unit.service(Refunds).complete(order_id, reason=reason, actor=unit.actor)
        return unit.redirect(back + ("?done=refunded" if done else "?done=already_refunded"))
