"""Demo data for ``make demo``: plans, a printed-card batch, a customer, an admin, and a
support request about a lost printed card."""

from __future__ import annotations

import io
import secrets
from pathlib import Path

from sqlalchemy import select

from licensor.clock import clock
from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring
from licensor.licensing import formats
from licensor.licensing.batches import issue_codes
from licensor.licensing.service import DeviceInfo
from licensor.models import ActivationCode, Batch, CodeState, Role, SupportRequest, Topic
from licensor.support.service import RequestForm
from licensor.support.uploads import Upload, check_uploads
from licensor.units import UnitOfWork, open_unit

# code, name, term days, devices, entitlements, code price, subscription price (cents)
DEMO_PLANS = [
    ("standard", "Standard", 365, 1, ["antivirus"], 2999, 2499),
    ("plus", "Plus", 365, 3, ["antivirus", "firewall", "vpn"], 4999, 3999),
    (
        "premium",
        "Premium",
        730,
        5,
        ["antivirus", "firewall", "vpn", "password-manager"],
        8999,
        6999,
    ),
]
DEMO_BATCH_LABEL = "demo printed cards"
DEMO_PASSWORD = "licensor-demo-password"  # demo data only: printed in the guide
DEMO_CUSTOMER = "customer@example.com"
DEMO_ADMIN = "admin@example.com"
DEMO_ADMIN_TOTP = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
DEMO_CARD_OWNER = "maria.rossi@example.com"  # wrote to support about a lost printed card


def seed(database: Database, keyring: Keyring, settings: Settings, *, base_url: str) -> str:
    """Add what is missing of the demo data; return a guide for the newcomer."""
    with open_unit(database, keyring, settings, clock.now(), actor="demo") as unit:
        existing = {plan.code for plan in unit.plans.all()}
        for code, name, days, devices, entitlements, price, subscription in DEMO_PLANS:
            if code not in existing:
                unit.plans.create(
                    code=code,
                    name=name,
                    term_days=days,
                    devices_max=devices,
                    entitlements=entitlements,
                    price_cents=price,
                    subscription_price_cents=subscription,
                )
        has_batch = unit.session.scalar(select(Batch.id).where(Batch.label == DEMO_BATCH_LABEL))
    cards = settings.var_dir / "demo-cards.csv"
    if has_batch is None:
        issue_codes(
            database,
            keyring,
            settings,
            plan_code="plus",
            count=50,
            out=cards,
            label=DEMO_BATCH_LABEL,
            actor="demo",
        )
    with open_unit(database, keyring, settings, clock.now(), actor="demo") as unit:
        batch_id = unit.session.scalar(select(Batch.id).where(Batch.label == DEMO_BATCH_LABEL))
        fresh = unit.session.scalars(
            select(ActivationCode)
            .where(
                ActivationCode.batch_id == batch_id,
                ActivationCode.state == CodeState.ISSUED,
                ActivationCode.account_id.is_(None),
            )
            .order_by(ActivationCode.id)
            .limit(5)
        ).all()
        samples = [formats.format_code(unit.codes.reveal_code(code)) for code in fresh[:3]]
        _demo_accounts(unit, fresh[3] if len(fresh) > 3 else None)
        if len(fresh) > 4:
            _demo_support_request(unit, fresh[4])
    return _guide(base_url, samples, cards)


def _demo_support_request(unit: UnitOfWork, card: ActivationCode) -> None:
    """F6 ready to try on the desk: a customer who lost a printed card writes with a
    screenshot of License details; the worker reads the key from it."""
    if unit.session.scalar(select(SupportRequest.id).limit(1)) is not None:
        return
    try:
        from licensor_app.screenshot import render_license_details
    except ImportError:  # the reference app's extra is not installed: no screenshot to make
        return
    view = unit.licensing.activate(
        unit.codes.reveal_code(card),
        DeviceInfo(fingerprint="demo-" + secrets.token_hex(12), name="Laptop", platform="linux"),
    )
    picture = io.BytesIO()
    render_license_details(view.license_key, view.public_id, view.plan_name, view.expires_at).save(
        picture, "PNG"
    )
    uploads = check_uploads([Upload("license-details.png", picture.getvalue())])
    unit.support.open_request(
        RequestForm(
            topic=Topic.RECOVER_CARD_CODE,
            name="Maria Rossi",
            email=DEMO_CARD_OWNER,
            message="I lost the card with my activation code. Here is the License details window.",
        ),
        uploads,
        account=None,
        language="en",
        actor="demo",
    )


def _demo_accounts(unit: UnitOfWork, code_for_customer: ActivationCode | None) -> None:
    """A customer with one code in Licenses and a Premium subscription, and an admin with
    two-factor enrolled."""
    accounts = unit.accounts
    if accounts.by_email(DEMO_CUSTOMER) is None:
        customer = accounts.create(
            DEMO_CUSTOMER, DEMO_PASSWORD, roles=[Role.CUSTOMER], verified=True
        )
        if code_for_customer is not None:
            unit.account_licenses.link_code(customer, unit.codes.reveal_code(code_for_customer))
        # A subscription too, so My Account → Subscriptions can download a self-activating app.
        unit.subscriptions.start(customer, unit.plans.by_code("premium"), actor="demo")
    if accounts.by_email(DEMO_ADMIN) is None:
        accounts.create(
            DEMO_ADMIN,
            DEMO_PASSWORD,
            roles=[Role.ADMIN, Role.AGENT],
            verified=True,
            totp_secret=DEMO_ADMIN_TOTP,
        )


def _guide(base_url: str, samples: list[str], cards: Path) -> str:
    fingerprint = "demo-" + secrets.token_hex(12)
    first = samples[0] if samples else "XXXXX-XXXXX-XXXXX-XXXXX"
    lines = [
        "",
        "[bold green]Licensor demo[/bold green] — plans standard, plus, premium; "
        f"50 printed-card codes (plan plus, 3 devices) in {cards}",
        "",
        "Unused codes to try:",
        *[f"  {code}" for code in samples],
        "",
        f"My Account: {base_url}/  — sign in as {DEMO_CUSTOMER} / {DEMO_PASSWORD}",
        f"            staff: {DEMO_ADMIN} / {DEMO_PASSWORD}, two-factor secret {DEMO_ADMIN_TOTP}",
        f"Mail:       {base_url}/dev/mail  (no SMTP configured: the dev mailbox)",
        f"Support:    {base_url}/support  (the customer's form)",
        f"Desk:       {base_url}/desk  (staff: a lost printed card waits there, with its"
        " screenshot)",
        f"Store:      {base_url}/store  (test payments: card 4242 4242 4242 4242 pays,"
        " 4000 0000 0000 0002 is declined, 4000 0000 0000 0341 pays once and declines renewals)",
        f"API docs:   {base_url}/api/docs",
        f"OpenAPI:    {base_url}/api/openapi.json",
        "",
        "Activate a code on a pretend device:",
        f"  curl -s -X POST {base_url}/api/v1/activations -H 'content-type: application/json' \\",
        f'    -d \'{{"activation_code": "{first}", "device": {{"fingerprint": "{fingerprint}",'
        ' "name": "Demo laptop", "platform": "linux"}}\'',
        "Look it up as the vendor:",
        f"  .venv/bin/licensor codes show {first}",
        "Or activate it as a customer would, in the reference app or on the command line:",
        f"  .venv/bin/licensor-app --server {base_url}",
        f"  .venv/bin/licensor-client --server {base_url} --state-dir var/device activate {first}",
        "",
    ]
    return "\n".join(lines)
