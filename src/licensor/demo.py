"""Demo data for ``make demo``: three plans and a printed-card batch, added once."""

from __future__ import annotations

import secrets
from pathlib import Path

from sqlalchemy import select

from licensor.clock import clock
from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring
from licensor.licensing import formats
from licensor.licensing.batches import issue_codes
from licensor.licensing.service import Licensing
from licensor.models import ActivationCode, Batch, CodeState

DEMO_PLANS = [
    ("standard", "Standard", 365, 1, ["antivirus"]),
    ("plus", "Plus", 365, 3, ["antivirus", "firewall", "vpn"]),
    ("premium", "Premium", 730, 5, ["antivirus", "firewall", "vpn", "password-manager"]),
]
DEMO_BATCH_LABEL = "demo printed cards"


def seed(database: Database, keyring: Keyring, settings: Settings, *, base_url: str) -> str:
    """Add what is missing of the demo data; return a guide for the newcomer."""
    with database.transaction() as session:
        licensing = Licensing(session, keyring, settings, clock.now())
        existing = {plan.code for plan in licensing.plans()}
        for code, name, days, devices, entitlements in DEMO_PLANS:
            if code not in existing:
                licensing.create_plan(
                    code=code,
                    name=name,
                    term_days=days,
                    devices_max=devices,
                    entitlements=entitlements,
                )
        has_batch = session.scalar(select(Batch.id).where(Batch.label == DEMO_BATCH_LABEL))
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
    with database.transaction() as session:
        licensing = Licensing(session, keyring, settings, clock.now())
        batch_id = session.scalar(select(Batch.id).where(Batch.label == DEMO_BATCH_LABEL))
        fresh = session.scalars(
            select(ActivationCode)
            .where(ActivationCode.batch_id == batch_id, ActivationCode.state == CodeState.ISSUED)
            .order_by(ActivationCode.id)
            .limit(3)
        ).all()
        samples = [formats.format_code(licensing.reveal_code(code)) for code in fresh]
    return _guide(base_url, samples, cards)


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
        f"API docs:   {base_url}/api/docs",
        f"OpenAPI:    {base_url}/api/openapi.json",
        "",
        "Activate a code on a pretend device:",
        f"  curl -s -X POST {base_url}/api/v1/activations -H 'content-type: application/json' \\",
        f'    -d \'{{"activation_code": "{first}", "device": {{"fingerprint": "{fingerprint}",'
        ' "name": "Demo laptop", "platform": "linux"}}\'',
        "Look it up as the vendor:",
        f"  .venv/bin/licensor codes show {first}",
        "",
    ]
    return "\n".join(lines)
