"""Reading Stripe's webhook events, once verified (``StripeProvider.verify``): the few the
store acts on become the payment interface's notices (docs/payments.md, "What each event
does"), everything else None.

The payload is read as plain JSON, as Stripe renders it for the endpoint's API version;
the fields that moved between versions (an invoice's subscription) are read where either
puts them. A card, or the payment of a subscription's invoice, is not in the payload: it
is read from Stripe's API (``StripeReader``), which the webhook may do since it runs
outside any transaction.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Protocol

from licensor.logging import log
from licensor.store.payments import (
    BilledRenewal,
    BilledSubscriptionEnded,
    CardOnFile,
    PaymentOutcome,
    PaymentResult,
    PaymentReversed,
    ProviderNotice,
    SetupResult,
)

# Set on a payment-mode session whose card is kept for renewals our worker charges.
KEEPS_CARD = "keeps_card"

_SESSION_OUTCOMES = {
    "checkout.session.completed": PaymentOutcome.PAID,
    "checkout.session.async_payment_succeeded": PaymentOutcome.PAID,
    "checkout.session.async_payment_failed": PaymentOutcome.FAILED,
    "checkout.session.expired": PaymentOutcome.FAILED,
}


class StripeReader(Protocol):
    """Stripe's API, for what an event names but does not carry."""

    def kept_card(self, payment_intent_id: str) -> tuple[str, CardOnFile | None]:
        """The card a payment kept: (``customer:payment_method``, the card to show)."""
        ...

    def saved_card(self, setup_intent_id: str) -> tuple[str, CardOnFile | None]:
        """The card a setup saved, as ``kept_card`` answers."""
        ...

    def invoice_payment(self, invoice_id: str) -> str:
        """The payment intent that paid an invoice ("" if none): what a refund names."""
        ...


def notice_of(kind: str, data: dict[str, Any], cards: StripeReader) -> ProviderNotice | None:
    """What the event of type ``kind`` about the object ``data`` tells the store; None
    for what it does not act on. ``KeyError``, ``TypeError`` or ``ValueError`` for a
    payload not shaped as Stripe sends it."""
    if kind.startswith("checkout.session."):
        return _session_notice(kind, data, cards)
    if kind == "charge.refunded":
        if not data.get("refunded"):  # a part refunded: the codes stay
            log.info("payments.stripe_partial_refund", payment=data.get("payment_intent"))
            return None
        return PaymentReversed(
            provider_payment_id=str(data["payment_intent"]), reason="refunded in Stripe"
        )
    if kind == "charge.dispute.created":
        return PaymentReversed(
            provider_payment_id=str(data["payment_intent"]),
            reason=f"dispute {data['id']} ({data.get('reason') or 'no reason given'})",
        )
    if kind in ("invoice.paid", "invoice.payment_failed"):
        return _invoice_notice(kind, data, cards)
    if kind == "customer.subscription.deleted":
        return BilledSubscriptionEnded(provider_subscription_id=str(data["id"]))
    return None


def with_event(notice: ProviderNotice, event_id: str, event_type: str) -> ProviderNotice:
    """The notice, naming the event that said it (acted on once by its id)."""
    return replace(notice, event_id=event_id, event_type=event_type)


def card_of(method: object) -> CardOnFile | None:
    """What a page shows of an expanded payment method: brand and last four digits."""
    card = getattr(method, "card", None)
    brand, last4 = getattr(card, "brand", ""), getattr(card, "last4", "")
    return CardOnFile(str(brand).title(), str(last4)) if brand and last4 else None


def _session_notice(
    kind: str, session: dict[str, Any], cards: StripeReader
) -> PaymentResult | SetupResult | None:
    reference = session.get("client_reference_id")
    if not reference:  # a session some other integration opened on the account
        return None
    if session.get("mode") == "setup":
        if kind != "checkout.session.completed":
            return None
        method, card = cards.saved_card(str(session["setup_intent"]))
        return SetupResult(reference=str(reference), payment_method=method, card=card)
    if kind == "checkout.session.completed" and session.get("payment_status") == "unpaid":
        return None  # a delayed method (a bank debit): async_payment_* tells the outcome
    outcome = _SESSION_OUTCOMES.get(kind)
    if outcome is None:
        return None
    payment_id = str(session.get("payment_intent") or "")
    subscription_id = str(session.get("subscription") or "")
    method, card = "", None
    if outcome == PaymentOutcome.PAID and subscription_id:
        method = subscription_id  # what renews it is Stripe's subscription
        if not payment_id and session.get("invoice"):  # paid through its first invoice
            payment_id = cards.invoice_payment(str(session["invoice"]))
    elif outcome == PaymentOutcome.PAID and (session.get("metadata") or {}).get(KEEPS_CARD):
        method, card = cards.kept_card(payment_id)
    return PaymentResult(
        reference=str(reference),
        outcome=outcome,
        amount_cents=int(session["amount_total"]),
        currency=str(session["currency"]).upper(),
        provider_payment_id=payment_id,
        payment_method=method,
        card=card,
        provider_subscription_id=subscription_id,
    )


def _invoice_notice(
    kind: str, invoice: dict[str, Any], cards: StripeReader
) -> BilledRenewal | None:
    # The subscription is named at the top (older API versions) or under parent.
    subscription_id = invoice.get("subscription") or (
        (invoice.get("parent") or {}).get("subscription_details") or {}
    ).get("subscription")
    if not subscription_id or invoice.get("billing_reason") != "subscription_cycle":
        # Not a subscription's; its first (the Checkout Session settles it); or not a new
        # period (a change's proration, a manual invoice), which must not add a term.
        return None
    paid = kind == "invoice.paid"
    # Older API versions name the payment intent; newer ones list the invoice's payments.
    payment_id = str(invoice.get("payment_intent") or "")
    if paid and not payment_id:
        payment_id = cards.invoice_payment(str(invoice["id"]))
    ends = [
        line["period"]["end"]
        for line in (invoice.get("lines") or {}).get("data", [])
        if isinstance(line.get("period"), dict)
    ]
    return BilledRenewal(
        provider_subscription_id=str(subscription_id),
        invoice_id=str(invoice["id"]),
        outcome=PaymentOutcome.PAID if paid else PaymentOutcome.FAILED,
        amount_cents=int(invoice["amount_paid"] if paid else invoice["amount_due"]),
        currency=str(invoice["currency"]).upper(),
        provider_payment_id=payment_id,
        period_end=datetime.fromtimestamp(max(ends), UTC) if ends else None,
    )
