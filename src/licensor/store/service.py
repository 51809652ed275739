"""The store's rules: partners and their keys, orders and what they deliver, order lookup.

A store order's codes go to the buyer in a confirmation mail (written to the outbox in the
same transaction); a partner's order is recorded here but delivered by the partner.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from babel.numbers import format_currency
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from licensor.accounts.service import email_problem, normalize_email
from licensor.audit import audit
from licensor.clock import isoformat
from licensor.errors import (
    CodeMalformed,
    CodeNotAllocated,
    CodeUnavailable,
    CodeUnknown,
    FormInvalid,
    InvalidPartnerKey,
    NotFound,
    OrderExists,
    PartnerExists,
    PartnerUnknown,
    ValidationFailed,
)
from licensor.licensing import formats
from licensor.licensing.service import Licensing
from licensor.models import (
    ActivationCode,
    Batch,
    Channel,
    CodeOrigin,
    CodeState,
    ItemKind,
    Order,
    OrderItem,
    OrderStatus,
    Partner,
    PartnerApiKey,
    Plan,
    Subscription,
)
from licensor.units import Service

ORDER_PREFIX = "ORD"
_CROCKFORD_READING = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SEPARATORS = re.compile(r"[\s\-_./#]+")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,58}[a-z0-9]$")
KEY_PREFIX = "lp_"
MAX_QUANTITY = 100
MAX_NAME = 200  # as the orders table keeps it
# A partner's server clock may run a little ahead of ours; a sale just made is not "future".
PURCHASE_CLOCK_SKEW = timedelta(minutes=5)


def money(cents: int, currency: str, language: str) -> str:
    """A price as the reader's language writes it: "€39.99", "39,99 €"."""
    return format_currency(Decimal(cents) / 100, currency, locale=language)


def generate_order_number() -> str:
    """``ORD-7K3M-9QXT``: 40 random bits, read aloud without ambiguity, not sequential."""
    return formats.readable_number(ORDER_PREFIX)


def order_number_key(text: str) -> str:
    """What two spellings of one order number share: case, spaces and dashes aside
    (and, for our own numbers, O read as 0 and I or L as 1)."""
    key = _SEPARATORS.sub("", text.strip().upper())
    if key.startswith(ORDER_PREFIX):
        key = ORDER_PREFIX + key[len(ORDER_PREFIX) :].translate(_CROCKFORD_READING)
    return key[:60]


def _sellable_by(batch: Batch, partner: Partner) -> bool:
    """A partner sells its own allocations, and cards of till batches that are no
    partner's (a point-of-sale network: any partner's till registers them)."""
    if batch.partner_id is not None:
        return batch.partner_id == partner.id
    return batch.sold_at_till


def buyer_problems(name: str, email: str) -> dict[str, str]:
    """What is wrong with a buyer's name and email, by field: message keys for forms."""
    errors: dict[str, str] = {}
    problem = email_problem(email.strip())
    if problem:
        errors["email"] = problem
    if not name.strip():
        errors["name"] = "required"
    elif len(name.strip()) > MAX_NAME:
        errors["name"] = "name_too_long"
    return errors


@dataclass(frozen=True)
class PlacedOrder:
    number: str
    purchased_at: datetime
    codes: list[str]
    channel: str
    partner: str | None
    email: str

    def as_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "purchased_at": isoformat(self.purchased_at),
            "codes": self.codes,
        }


class Store(Service):
    @property
    def licensing(self) -> Licensing:
        return self.unit.licensing

    # partners --------------------------------------------------------------------------

    def create_partner(
        self, *, slug: str, name: str, email: str, url: str, phone: str = "", actor: str = "cli"
    ) -> Partner:
        slug = slug.strip().lower()
        errors: dict[str, str] = {}
        if not _SLUG.match(slug):
            errors["slug"] = "slug_invalid"
        if not name.strip():
            errors["name"] = "required"
        problem = email_problem(email.strip())
        if problem:
            errors["email"] = problem
        if not re.match(r"^https?://[^\s/]+", url.strip()):
            errors["url"] = "url_invalid"
        if errors:
            raise FormInvalid(errors)
        if self.session.scalar(select(Partner.id).where(Partner.slug == slug)) is not None:
            raise PartnerExists(f"there is already a partner {slug!r}")
        partner = Partner(
            slug=slug,
            name=name.strip(),
            email=email.strip(),
            url=url.strip(),
            phone=phone.strip(),
            created_at=self.now,
        )
        self.session.add(partner)
        self.session.flush()
        audit(
            self.session,
            self.now,
            actor=actor,
            action="store.partner_created",
            subject_type="partner",
            subject_id=partner.id,
            slug=slug,
        )
        return partner

    def partner(self, slug: str) -> Partner:
        partner = self.session.scalar(select(Partner).where(Partner.slug == slug.strip().lower()))
        if partner is None:
            raise PartnerUnknown(f"there is no partner {slug!r}")
        return partner

    def partners(self) -> list[Partner]:
        return list(self.session.scalars(select(Partner).order_by(Partner.name)))

    # partner API keys ------------------------------------------------------------------

    def _key_hash(self, secret: str) -> bytes:
        return hmac.new(
            self.keyring.derive(b"partner-api-key"), secret.encode(), hashlib.sha256
        ).digest()

    def create_api_key(self, partner: Partner, label: str = "", actor: str = "cli") -> str:
        """A new key for the partner API, ``lp_<prefix>_<secret>``; shown once, kept hashed."""
        prefix = secrets.token_hex(4)
        secret = secrets.token_urlsafe(32)
        key = PartnerApiKey(
            partner_id=partner.id,
            prefix=prefix,
            secret_hash=self._key_hash(secret),
            label=label,
            created_at=self.now,
        )
        self.session.add(key)
        self.session.flush()
        audit(
            self.session,
            self.now,
            actor=actor,
            action="store.partner_key_created",
            subject_type="partner",
            subject_id=partner.id,
            prefix=prefix,
        )
        return f"{KEY_PREFIX}{prefix}_{secret}"

    def revoke_api_key(self, prefix: str, actor: str = "cli") -> PartnerApiKey:
        prefix = prefix.removeprefix(KEY_PREFIX).split("_", 1)[0]
        key = self.session.scalar(select(PartnerApiKey).where(PartnerApiKey.prefix == prefix))
        if key is None:
            raise NotFound(f"there is no partner key {prefix!r}")
        if key.revoked_at is None:
            key.revoked_at = self.now
            audit(
                self.session,
                self.now,
                actor=actor,
                action="store.partner_key_revoked",
                subject_type="partner",
                subject_id=key.partner_id,
                prefix=prefix,
            )
        return key

    def api_keys(self, partner: Partner) -> list[PartnerApiKey]:
        return list(
            self.session.scalars(
                select(PartnerApiKey)
                .where(PartnerApiKey.partner_id == partner.id)
                .order_by(PartnerApiKey.created_at)
            )
        )

    def authenticate_partner(self, presented: str) -> Partner:
        """The partner a key belongs to; any wrong, unknown or revoked key is the same 401."""
        body = presented.strip().removeprefix(KEY_PREFIX)
        prefix, _, secret = body.partition("_")
        key = self.session.scalar(select(PartnerApiKey).where(PartnerApiKey.prefix == prefix))
        digest = self._key_hash(secret)
        if (
            key is None
            or not hmac.compare_digest(key.secret_hash, digest)
            or key.revoked_at is not None
        ):
            raise InvalidPartnerKey()
        key.last_used_at = self.now
        return key.partner

    # orders ----------------------------------------------------------------------------

    def _new_store_number(self) -> tuple[str, str]:
        while True:
            number = generate_order_number()
            key = order_number_key(number)
            taken = self.session.scalar(
                select(Order.id).where(Order.number_key == key, Order.partner_id.is_(None))
            )
            if taken is None:
                return number, key

    def create_order(
        self,
        *,
        plan_code: str,
        email: str,
        name: str,
        quantity: int = 1,
        partner_slug: str | None = None,
        account_id: int | None = None,
        language: str = "en",
        actor: str = "cli",
    ) -> PlacedOrder:
        """An order of ``quantity`` new codes for a plan: one code per unit. A store order's
        confirmation (number and codes) goes to the buyer; a partner delivers its own."""
        errors = buyer_problems(name, email)
        if not 1 <= quantity <= MAX_QUANTITY:
            errors["quantity"] = "quantity_range"
        if errors:
            raise FormInvalid(errors)
        plan = self.licensing.plan(plan_code)
        partner = self.partner(partner_slug) if partner_slug else None
        order = self.open_order(
            plan,
            quantity=quantity,
            name=name,
            email=email,
            partner=partner,
            account_id=account_id,
            language=language,
            status=OrderStatus.PAID,
        )
        codes = self.deliver_codes(order)
        audit(
            self.session,
            self.now,
            actor=actor,
            action="store.order_created",
            subject_type="order",
            subject_id=order.id,
            number=order.number,
            channel=order.channel,
            plan=plan.code,
            quantity=quantity,
        )
        if partner is None:
            self.send_confirmation(order)
        return PlacedOrder(
            order.number,
            order.purchased_at,
            codes,
            order.channel,
            partner.slug if partner else None,
            order.customer_email,
        )

    def open_order(
        self,
        plan: Plan,
        *,
        quantity: int,
        name: str,
        email: str,
        partner: Partner | None = None,
        account_id: int | None = None,
        language: str = "en",
        status: OrderStatus = OrderStatus.PAID,
        kind: ItemKind = ItemKind.CODE,
    ) -> Order:
        """A new order for ``quantity`` codes of a plan at its price (or one subscription
        to it, at its subscription price), with its number and item, nothing delivered
        yet: paid (the back office) or pending (a checkout)."""
        unit_price = (
            plan.subscription_price_cents if kind == ItemKind.SUBSCRIPTION else plan.price_cents
        ) or 0
        if partner is None:
            number, key = self._new_store_number()
        else:
            number = generate_order_number()
            key = order_number_key(number)
        order = Order(
            number=number,
            number_key=key,
            channel=Channel.PARTNER if partner else Channel.STORE,
            partner_id=partner.id if partner else None,
            status=status,
            purchased_at=self.now,
            customer_name=name.strip(),
            customer_email=normalize_email(email),
            language=language,
            account_id=account_id,
            currency=plan.currency,
            total_cents=unit_price * quantity,
            created_at=self.now,
        )
        order.items.append(
            OrderItem(plan_id=plan.id, kind=kind, quantity=quantity, unit_price_cents=unit_price)
        )
        self.session.add(order)
        self.session.flush()
        return order

    def deliver_codes(self, order: Order) -> list[str]:
        """New codes for the order, one per unit of each code item, formatted: each tied to
        the order, and joined to the order's account when it has one."""
        origin = CodeOrigin.PARTNER_ORDER if order.partner_id else CodeOrigin.STORE_ORDER
        codes: list[str] = []
        for item in order.items:
            if item.kind != ItemKind.CODE:
                continue
            for _ in range(item.quantity):
                code, canonical = self.licensing.create_code(item.plan, origin)
                code.order_id = order.id
                if order.account_id is not None:
                    code.account_id, code.linked_at = order.account_id, self.now
                codes.append(formats.format_code(canonical))
        self.session.flush()
        return codes

    def order_codes(self, order: Order) -> list[tuple[Plan, str]]:
        rows = self.session.scalars(
            select(ActivationCode)
            .where(ActivationCode.order_id == order.id)
            .order_by(ActivationCode.id)
        )
        return [(code.plan, formats.format_code(self.licensing.reveal_code(code))) for code in rows]

    def send_confirmation(self, order: Order, *, again: bool = False) -> None:
        """The confirmation mail, with the order number and every code, to the order's
        own email address (never to an address typed elsewhere). A subscription order's
        has no code: it says where the subscription is and when it renews."""
        if any(item.kind == ItemKind.SUBSCRIPTION for item in order.items):
            self._send_subscription_confirmation(order, again=again)
            return
        codes = self.order_codes(order)
        self.send_mail(
            order.customer_email,
            order.language,
            "order_confirmation",
            number=order.number,
            name=order.customer_name,
            purchased_on=order.purchased_at.strftime("%Y-%m-%d"),
            codes=[{"plan": plan.name, "code": code} for plan, code in codes],
            again=again,
            licenses_url=self.settings.url("/account/licenses"),
            help_url=self.settings.url("/help"),
        )

    def order_subscription(self, order: Order) -> Subscription | None:
        """The subscription a paid subscription order started."""
        return self.session.scalar(
            select(Subscription).where(Subscription.order_id == order.id).order_by(Subscription.id)
        )

    def _send_subscription_confirmation(self, order: Order, *, again: bool) -> None:
        subscription = self.order_subscription(order)
        item = next(item for item in order.items if item.kind == ItemKind.SUBSCRIPTION)
        self.send_mail(
            order.customer_email,
            order.language,
            "subscription_confirmation",
            number=order.number,
            name=order.customer_name,
            purchased_on=order.purchased_at.strftime("%Y-%m-%d"),
            plan=item.plan.name,
            amount=money(order.total_cents, order.currency, order.language),
            term_days=item.plan.term_days,
            status=subscription.status if subscription else "",
            renews_on=(
                subscription.current_period_end.strftime("%Y-%m-%d") if subscription else ""
            ),
            again=again,
            subscriptions_url=self.settings.url("/account/subscriptions"),
            help_url=self.settings.url("/help"),
        )

    def find_order(self, number: str, partner: Partner | None = None) -> Order | None:
        query = select(Order).where(Order.number_key == order_number_key(number))
        query = query.where(
            Order.partner_id == partner.id if partner else Order.partner_id.is_(None)
        )
        return self.session.scalar(query)

    # partner sales ---------------------------------------------------------------------

    def record_partner_sale(
        self,
        partner: Partner,
        *,
        number: str,
        purchased_at: datetime,
        name: str,
        email: str,
        codes: list[str],
        plan_code: str | None = None,
        actor: str | None = None,
    ) -> Order:
        """A sale the partner made from its allocation, or of cards from a till batch that
        belongs to no partner (any partner's till may sell those): each code must be one of
        these and not sold before. The order is the partner's; recording it twice is
        refused. Recording the sale is what lets the code activate (``CodeNotSold``).

        A code that is not the partner's is ``CodeNotAllocated`` whether it is another
        partner's, ours or was never issued, so the answer tells a partner nothing about
        codes it does not hold. ``plan_code`` (the back office's ``--plan``), when given,
        must be every code's plan."""
        errors: dict[str, str] = {}
        key = order_number_key(number)
        if not key:
            errors["number"] = "required"
        problem = email_problem(email.strip())
        if problem:
            errors["customer.email"] = problem
        if not name.strip():
            errors["customer.name"] = "required"
        if not codes or len(codes) > MAX_QUANTITY:
            errors["codes"] = "codes_range"
        if purchased_at > self.now + PURCHASE_CLOCK_SKEW:
            errors["purchased_at"] = "date_future"
        if errors:
            raise FormInvalid(errors)
        if self.find_order(number, partner) is not None:
            raise OrderExists(f"order {number.strip()} is already recorded")
        canonicals: list[str] = []
        for text in codes:
            try:
                canonicals.append(formats.normalize_code(text))
            except formats.MalformedError as error:
                raise CodeMalformed(str(error)) from None
        if len(set(canonicals)) != len(canonicals):
            raise FormInvalid({"codes": "codes_repeated"})
        rows: list[ActivationCode] = []
        # Locked in one order (by blind index), so two sales sharing codes cannot deadlock.
        for canonical in sorted(canonicals, key=self.licensing.code_index):
            masked = formats.mask_code(canonical)
            try:
                code = self.licensing.find_code(canonical, lock=True)
            except CodeUnknown:
                raise CodeNotAllocated(f"{masked} is not in your allocation") from None
            batch = self.session.get(Batch, code.batch_id) if code.batch_id else None
            if batch is None or not _sellable_by(batch, partner):
                raise CodeNotAllocated(f"{masked} is not in your allocation")
            if plan_code is not None and code.plan.code != plan_code.strip().lower():
                raise ValidationFailed(f"{masked} is a {code.plan.code} code, not {plan_code}")
            if code.order_id is not None or code.state == CodeState.BLOCKED:
                raise CodeUnavailable(f"{masked} is already sold or blocked")
            rows.append(code)
        order = Order(
            number=number.strip(),
            number_key=key,
            channel=Channel.PARTNER,
            partner_id=partner.id,
            status=OrderStatus.PAID,
            purchased_at=purchased_at,
            customer_name=name.strip(),
            customer_email=normalize_email(email),
            created_at=self.now,
        )
        try:
            with self.session.begin_nested():
                self.session.add(order)
        except IntegrityError:
            # The same number, recorded by a concurrent request a moment ago.
            raise OrderExists(f"order {number.strip()} is already recorded") from None
        per_plan: dict[int, int] = {}
        for code in rows:
            code.order_id = order.id
            per_plan[code.plan_id] = per_plan.get(code.plan_id, 0) + 1
        for plan_id, quantity in per_plan.items():
            self.session.add(
                OrderItem(order_id=order.id, plan_id=plan_id, kind=ItemKind.CODE, quantity=quantity)
            )
        self.session.flush()
        audit(
            self.session,
            self.now,
            actor=actor or f"partner:{partner.slug}",
            action="store.partner_sale_recorded",
            subject_type="order",
            subject_id=order.id,
            number=order.number,
            codes=len(rows),
            partner=partner.slug,
        )
        return order

    def unsold_allocated(self, partner_slug: str, plan_code: str) -> int:
        """How many codes of the plan in the partner's allocations wait for their sale to
        be recorded."""
        partner = self.partner(partner_slug)
        plan = self.licensing.plan(plan_code)
        return (
            self.session.scalar(
                select(func.count(ActivationCode.id))
                .join(Batch, Batch.id == ActivationCode.batch_id)
                .where(
                    Batch.partner_id == partner.id,
                    ActivationCode.plan_id == plan.id,
                    ActivationCode.order_id.is_(None),
                    ActivationCode.state == CodeState.ISSUED,
                )
            )
            or 0
        )

    def record_sale_of_codes(
        self,
        *,
        partner_slug: str,
        codes: list[str],
        email: str,
        name: str,
        plan_code: str | None = None,
        language: str = "en",
        actor: str = "cli",
    ) -> PlacedOrder:
        """The back office records a partner's (or a till's) sale of codes it already holds
        (``licensor orders create --partner SLUG --code CODE``): the same rules as the
        partner API, under an order number of ours."""
        partner = self.partner(partner_slug)
        if plan_code is not None:
            self.licensing.plan(plan_code)  # an unknown plan is said as such
        try:
            order = self.record_partner_sale(
                partner,
                number=generate_order_number(),
                purchased_at=self.now,
                name=name,
                email=email,
                codes=codes,
                plan_code=plan_code,
                actor=actor,
            )
        except FormInvalid as error:  # named as the command's options: --email, --name
            raise FormInvalid(
                {
                    field.removeprefix("customer."): problem
                    for field, problem in error.fields.items()
                }
            ) from None
        order.language = language
        return PlacedOrder(
            order.number,
            order.purchased_at,
            [code for _plan, code in self.order_codes(order)],
            order.channel,
            partner.slug,
            order.customer_email,
        )

    def send_partner_pointer(self, order: Order, partner: Partner) -> None:
        """Tell a partner order's buyer which partner sold it and how to reach it."""
        self.send_mail(
            order.customer_email,
            order.language,
            "order_partner_pointer",
            number=order.number,
            name=order.customer_name,
            purchased_on=order.purchased_at.strftime("%Y-%m-%d"),
            partner={
                "name": partner.name,
                "email": partner.email,
                "url": partner.url,
                "phone": partner.phone,
            },
        )
