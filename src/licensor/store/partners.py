"""Partners (resellers): who they are, their keys for the partner API, their allocations.

A partner is where a customer who bought from it is sent to recover a code (F5). Its API
key is shown once and kept as a keyed hash; its allocations are card batches issued to it
(``licensor codes issue --partner``), whose codes activate once it records their sale
(``store/sales.py``).
"""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from licensor.accounts.service import email_problem
from licensor.errors import FormInvalid, InvalidPartnerKey, NotFound, PartnerExists, PartnerUnknown
from licensor.models import (
    ActivationCode,
    Batch,
    CodeState,
    Order,
    Partner,
    PartnerApiKey,
    Plan,
)
from licensor.units import Service

KEY_PREFIX = "lp_"
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,58}[a-z0-9]$")


@dataclass(frozen=True)
class Allocation:
    """A batch of codes issued to a partner, and how many of them it has sold."""

    batch_id: int
    plan: str
    plan_name: str
    label: str
    count: int
    sold: int
    created_at: datetime


def contact_problems(*, name: str, email: str, url: str, phone: str) -> dict[str, str]:
    """What is wrong with a partner's contact details, by field: message keys for forms."""
    errors: dict[str, str] = {}
    if not name.strip():
        errors["name"] = "required"
    elif len(name.strip()) > 200:
        errors["name"] = "name_too_long"
    problem = email_problem(email.strip())
    if problem:
        errors["email"] = problem
    if not re.match(r"^https?://[^\s/]+", url.strip()) or len(url.strip()) > 500:
        errors["url"] = "url_invalid"
    if len(phone.strip()) > 60:
        errors["phone"] = "phone_too_long"
    return errors


class Partners(Service):
    def create(
        self, *, slug: str, name: str, email: str, url: str, phone: str = "", actor: str = "cli"
    ) -> Partner:
        """A new partner; its slug names it in commands, forms and the partner API."""
        slug = slug.strip().lower()
        errors = contact_problems(name=name, email=email, url=url, phone=phone)
        if not _SLUG.match(slug):
            errors = {"slug": "slug_invalid", **errors}
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
        self.unit.audit(
            "store.partner_created",
            subject_type="partner",
            subject_id=partner.id,
            actor=actor,
            slug=slug,
        )
        return partner

    def update(
        self, partner: Partner, *, name: str, email: str, url: str, phone: str, actor: str
    ) -> list[str]:
        """Change the partner's contact details (its slug stays: commands and the partner
        API's sales name it); the names of the fields changed, audited."""
        errors = contact_problems(name=name, email=email, url=url, phone=phone)
        if errors:
            raise FormInvalid(errors)
        given = {"name": name, "email": email, "url": url, "phone": phone}
        changed = [
            field for field, value in given.items() if getattr(partner, field) != value.strip()
        ]
        for field in changed:
            setattr(partner, field, given[field].strip())
        if changed:
            self.unit.audit(
                "store.partner_updated",
                subject_type="partner",
                subject_id=partner.id,
                actor=actor,
                slug=partner.slug,
                fields=changed,
            )
        self.session.flush()
        return changed

    def by_slug(self, slug: str) -> Partner:
        """The partner with this slug (``PartnerUnknown`` if none)."""
        partner = self.session.scalar(select(Partner).where(Partner.slug == slug.strip().lower()))
        if partner is None:
            raise PartnerUnknown(f"there is no partner {slug!r}")
        return partner

    def all(self) -> list[Partner]:
        """Every partner, by name: the directory, the lookup form's choices."""
        return list(self.session.scalars(select(Partner).order_by(Partner.name)))

    # API keys ---------------------------------------------------------------------------

    def _key_hash(self, secret: str) -> bytes:
        return self.keyring.mac(secret, purpose=b"partner-api-key")

    def create_key(self, partner: Partner, label: str = "", actor: str = "cli") -> str:
        """A new key for the partner API, ``lp_<prefix>_<secret>``; shown once, kept hashed."""
        label = label.strip()
        if len(label) > 200:
            raise FormInvalid({"label": "name_too_long"})
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
        self.unit.audit(
            "store.partner_key_created",
            subject_type="partner",
            subject_id=partner.id,
            actor=actor,
            prefix=prefix,
        )
        return f"{KEY_PREFIX}{prefix}_{secret}"

    def revoke_key(self, prefix: str, actor: str = "cli") -> PartnerApiKey:
        """Revoke a key, named by its prefix (or the whole key); revoking twice is harmless."""
        prefix = prefix.removeprefix(KEY_PREFIX).split("_", 1)[0]
        key = self.session.scalar(select(PartnerApiKey).where(PartnerApiKey.prefix == prefix))
        if key is None:
            raise NotFound(f"there is no partner key {prefix!r}")
        if key.revoked_at is None:
            key.revoked_at = self.now
            self.unit.audit(
                "store.partner_key_revoked",
                subject_type="partner",
                subject_id=key.partner_id,
                actor=actor,
                prefix=prefix,
            )
        return key

    def key(self, partner: Partner, prefix: str) -> PartnerApiKey:
        """The partner's key with this prefix (``NotFound`` if it is none of the partner's)."""
        key = self.session.scalar(
            select(PartnerApiKey).where(
                PartnerApiKey.prefix == prefix, PartnerApiKey.partner_id == partner.id
            )
        )
        if key is None:
            raise NotFound(f"partner {partner.slug!r} has no key {prefix!r}")
        return key

    def keys(self, partner: Partner) -> list[PartnerApiKey]:
        """The partner's keys, oldest first, revoked ones included."""
        return list(
            self.session.scalars(
                select(PartnerApiKey)
                .where(PartnerApiKey.partner_id == partner.id)
                .order_by(PartnerApiKey.created_at)
            )
        )

    def authenticate(self, presented: str) -> Partner:
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
        return self.session.get_one(Partner, key.partner_id)

    # allocations ------------------------------------------------------------------------

    def allocations(self, partner: Partner) -> list[Allocation]:
        """The batches issued to the partner, oldest first, each with its codes sold."""
        sold = {
            batch_id: count
            for batch_id, count in self.session.execute(
                select(ActivationCode.batch_id, func.count())
                .join(Order, Order.id == ActivationCode.order_id)
                .where(Order.partner_id == partner.id)
                .group_by(ActivationCode.batch_id)
            )
        }
        rows = self.session.execute(
            select(Batch, Plan)
            .join(Plan, Plan.id == Batch.plan_id)
            .where(Batch.partner_id == partner.id)
            .order_by(Batch.created_at, Batch.id)
        )
        return [
            Allocation(
                batch_id=batch.id,
                plan=plan.code,
                plan_name=plan.name,
                label=batch.label,
                count=batch.count,
                sold=sold.get(batch.id, 0),
                created_at=batch.created_at,
            )
            for batch, plan in rows
        ]

    def unsold_allocated(self, partner_slug: str, plan_code: str) -> int:
        """How many codes of the plan in the partner's allocations wait for their sale to
        be recorded."""
        partner = self.by_slug(partner_slug)
        plan = self.unit.plans.by_code(plan_code)
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
