"""Licensing factories: plans and codes made through the service, as the CLI makes them."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import pytest

from licensor.clock import Clock
from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring
from licensor.licensing import formats
from licensor.licensing.service import Licensing
from licensor.models import CodeOrigin


@pytest.fixture
def make_plan(
    database: Database, keyring: Keyring, settings: Settings, clock: Clock
) -> Callable[..., str]:
    def make(code: str = "plus", *, term_days: int = 365, devices_max: int = 3) -> str:
        with database.transaction() as session:
            Licensing(session, keyring, settings, clock.now()).create_plan(
                code=code, name=code.title(), term_days=term_days, devices_max=devices_max
            )
        return code

    return make


@pytest.fixture
def make_code(
    database: Database, keyring: Keyring, settings: Settings, clock: Clock, make_plan: Any
) -> Callable[..., str]:
    """A fresh activation code (formatted) for a plan, made if it does not exist yet."""
    made: set[str] = set()

    def make(plan: str = "plus", *, devices_max: int = 3, term_days: int = 365) -> str:
        if plan not in made:
            make_plan(plan, devices_max=devices_max, term_days=term_days)
            made.add(plan)
        with database.transaction() as session:
            licensing = Licensing(session, keyring, settings, clock.now())
            _, canonical = licensing.create_code(licensing.plan(plan), CodeOrigin.MANUAL)
        return formats.format_code(canonical)

    return make


def device(name: str = "Laptop") -> dict[str, str]:
    return {"fingerprint": secrets.token_hex(16), "name": name, "platform": "linux"}
