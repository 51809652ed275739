"""The built-in test payment provider, the embedded default (docs/payments.md): a card form
of ours, clearly in TEST MODE, that takes only the test cards and signs what it decides as
a real provider signs its webhooks, so the checkout trusts it no more than one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from licensor.config import Settings
from licensor.errors import CallbackRejected, FormInvalid
from licensor.keys import Keyring
from licensor.logging import log
from licensor.store.payments import (
    TEST_PROVIDER,
    Callback,
    CardOnFile,
    PaymentOutcome,
    PaymentRequest,
    PaymentResult,
    PaymentStart,
    RecurringCharge,
    RefundRequest,
    SetupRequest,
    SetupResult,
)

TEST_CARD_PAYS = "4242424242424242"
TEST_CARD_DECLINED = "4000000000000002"
# Pays now, and is saved; every later charge to it (a renewal) is declined.
TEST_CARD_RENEWALS_DECLINED = "4000000000000341"
TEST_CARDS = (TEST_CARD_PAYS, TEST_CARD_DECLINED, TEST_CARD_RENEWALS_DECLINED)
TEST_METHOD_PREFIX = "tpm_"
SIGNATURE_HEADER = "licensor-test-signature"
SIGNATURE_TOLERANCE_SECONDS = 300  # a callback older (or newer) than this is a replay
_EXPIRY = re.compile(r"^\s*(\d{1,2})\s*/\s*(\d{2}|\d{4})\s*$")
_CVC = re.compile(r"^\d{3,4}$")


@dataclass(frozen=True)
class CardForm:
    """The test card form, as typed."""

    number: str = ""
    expiry: str = ""  # MM/YY
    cvc: str = ""


def card_problems(card: CardForm, today: date) -> dict[str, str]:
    """What is wrong with a test card form, by field; a declined card is not a problem
    here, it is an outcome."""
    errors: dict[str, str] = {}
    number = re.sub(r"[\s-]", "", card.number)
    if not number:
        errors["number"] = "required"
    elif not number.isdigit() or len(number) != 16:
        errors["number"] = "card_number_invalid"
    elif number not in TEST_CARDS:
        errors["number"] = "card_not_a_test_card"
    match = _EXPIRY.match(card.expiry)
    if not card.expiry.strip():
        errors["expiry"] = "required"
    elif match is None or not 1 <= int(match[1]) <= 12:
        errors["expiry"] = "card_expiry_invalid"
    else:
        year = int(match[2]) + (2000 if len(match[2]) == 2 else 0)
        if (year, int(match[1])) < (today.year, today.month):
            errors["expiry"] = "card_expired"
    if not card.cvc.strip():
        errors["cvc"] = "required"
    elif not _CVC.match(card.cvc.strip()):
        errors["cvc"] = "card_cvc_invalid"
    return errors


class TestProvider:
    """The embedded default: a card form of ours, clearly in TEST MODE, where
    4242 4242 4242 4242 pays (and so do its renewals), 4000 0000 0000 0002 is declined,
    and 4000 0000 0000 0341 pays now but declines every renewal."""

    __test__ = False  # not a pytest test class, whatever its name
    name = TEST_PROVIDER
    test_mode = True

    def __init__(self, settings: Settings, keyring: Keyring, now: Callable[[], datetime]):
        self.settings = settings
        self._key = keyring.derive(b"test-payment-callbacks")
        self._now = now

    def start(self, payment: PaymentRequest) -> PaymentStart:
        return PaymentStart(
            redirect_url=self.settings.url(f"/store/pay/test/{payment.reference}"),
            provider_payment_id=None,
        )

    def start_setup(self, setup: SetupRequest) -> PaymentStart:
        return PaymentStart(
            redirect_url=self.settings.url(f"/store/pay/test/card/{setup.reference}")
        )

    def save_card(self, *, reference: str, card: CardForm) -> Callback:
        """Save a test card for a setup: the signed callback this provider sends about it.

        A mistyped card is ``FormInvalid``, and so is the declined test card: a provider
        checks a card with its bank before saving it."""
        errors = card_problems(card, self._now().date())
        number = re.sub(r"[\s-]", "", card.number)
        if not errors and number == TEST_CARD_DECLINED:
            errors["number"] = "card_declined"
        if errors:
            raise FormInvalid(errors)
        event = {
            "type": "setup",
            "reference": reference,
            "payment_method": _test_method(number),
            "brand": _brand(number),
            "last4": number[-4:],
        }
        body = json.dumps(event, sort_keys=True).encode()
        return Callback(body=body, headers={SIGNATURE_HEADER: self.sign(body)})

    def pay(
        self,
        *,
        reference: str,
        amount_cents: int,
        currency: str,
        card: CardForm,
        save_payment_method: bool = False,
    ) -> Callback:
        """Charge a test card: the signed callback this provider sends about it.

        A mistyped card is ``FormInvalid`` (nothing happens, the form says why); a test
        card pays or is declined. Asked to, a paid card is saved for renewals: the saved
        method's reference names the card's last four digits, which is all ``charge``
        needs to answer the same way every time."""
        errors = card_problems(card, self._now().date())
        if errors:
            raise FormInvalid(errors)
        number = re.sub(r"[\s-]", "", card.number)
        paid = number != TEST_CARD_DECLINED
        event: dict[str, object] = {
            "reference": reference,
            "outcome": PaymentOutcome.PAID if paid else PaymentOutcome.FAILED,
            "amount_cents": amount_cents,
            "currency": currency,
            "payment_id": "tp_" + secrets.token_hex(8),
        }
        if paid and save_payment_method:
            event["payment_method"] = _test_method(number)
            event["brand"], event["last4"] = _brand(number), number[-4:]
        body = json.dumps(event, sort_keys=True).encode()
        return Callback(body=body, headers={SIGNATURE_HEADER: self.sign(body)})

    def sign(self, body: bytes, timestamp: int | None = None) -> str:
        """``t=<unix time>,v1=<HMAC-SHA256 of "t.body">``, as Stripe-like providers sign."""
        moment = int(self._now().timestamp()) if timestamp is None else timestamp
        digest = hmac.new(self._key, f"{moment}.".encode() + body, hashlib.sha256).hexdigest()
        return f"t={moment},v1={digest}"

    def verify(self, callback: Callback) -> PaymentResult | SetupResult:
        fields = dict(
            part.split("=", 1)
            for part in callback.headers.get(SIGNATURE_HEADER, "").split(",")
            if "=" in part
        )
        timestamp, signature = fields.get("t", ""), fields.get("v1", "")
        if not timestamp.isdigit() or not signature:
            raise CallbackRejected("the signature header is missing or malformed")
        if abs(self._now().timestamp() - int(timestamp)) > SIGNATURE_TOLERANCE_SECONDS:
            raise CallbackRejected("the signature is too old or too new")
        expected = self.sign(callback.body, int(timestamp)).split("v1=", 1)[1]
        if not hmac.compare_digest(expected, signature):
            raise CallbackRejected("the signature does not match")
        try:
            event = json.loads(callback.body)
            card = (
                CardOnFile(str(event["brand"]), str(event["last4"])) if "last4" in event else None
            )
            if event.get("type") == "setup":
                return SetupResult(
                    reference=str(event["reference"]),
                    payment_method=str(event["payment_method"]),
                    card=card,
                )
            return PaymentResult(
                reference=str(event["reference"]),
                outcome=PaymentOutcome(event["outcome"]),
                amount_cents=int(event["amount_cents"]),
                currency=str(event["currency"]),
                provider_payment_id=str(event.get("payment_id", "")),
                payment_method=str(event.get("payment_method", "")),
                card=card,
            )
        except (ValueError, KeyError, TypeError):
            raise CallbackRejected("the callback body is not a payment event") from None

    def verify_payment(self, callback: Callback) -> PaymentResult:
        """``verify`` for a callback that must be a payment's (this provider's card page)."""
        result = self.verify(callback)
        if not isinstance(result, PaymentResult):
            raise CallbackRejected("the callback is not a payment's")
        return result

    def verify_setup(self, callback: Callback) -> SetupResult:
        """``verify`` for a callback that must be a saved card's."""
        result = self.verify(callback)
        if not isinstance(result, SetupResult):
            raise CallbackRejected("the callback is not a saved card's")
        return result

    def charge(self, charge: RecurringCharge) -> PaymentResult:
        """A renewal, decided by the saved card alone, so the same reference always gets
        the same answer: 4242 pays; 0341 (and anything this provider never saved) is
        declined."""
        method = charge.payment_method
        paid = (
            method.startswith(TEST_METHOD_PREFIX)
            and method[len(TEST_METHOD_PREFIX) :].split("_", 1)[0] == TEST_CARD_PAYS[-4:]
        )
        digest = hashlib.sha256(charge.reference.encode()).hexdigest()[:16]
        return PaymentResult(
            reference=charge.reference,
            outcome=PaymentOutcome.PAID if paid else PaymentOutcome.FAILED,
            amount_cents=charge.amount_cents,
            currency=charge.currency,
            provider_payment_id="tp_" + digest,  # one reference, one payment
        )

    def refund(self, refund: RefundRequest) -> None:
        """No money moved, so none goes back: the refund is accepted, and logged."""
        log.info(
            "payments.test_refund", order=refund.order_number, amount_cents=refund.amount_cents
        )


def _test_method(number: str) -> str:
    # The saved method names the card's last four digits: all ``charge`` needs to answer.
    return f"{TEST_METHOD_PREFIX}{number[-4:]}_{secrets.token_hex(6)}"


def _brand(number: str) -> str:
    return "Visa" if number.startswith("4") else "Card"
