"""Layers point one way, also where import-linter cannot see: a service asked of the unit
of work by name (``unit.subscriptions``) is a dependency on that service's domain, and a
domain may ask only for its own services and those of the domains below it
(licensing ← accounts ← store ← support; pyproject.toml's contracts and docs/adr/0009)."""

from __future__ import annotations

import re
from pathlib import Path

from licensor.units import SERVICES

# From the ground up; webhooks sit below licensing: every domain emits events.
DOMAINS = ["webhooks", "licensing", "accounts", "store", "support"]
SOURCE = Path(__file__).resolve().parent.parent / "src" / "licensor"
_ASKED = re.compile(r"\bunit\.(\w+)\b")


def _domain_of_service(name: str) -> str:
    module = SERVICES[name].split(":", 1)[0]
    return module.split(".")[1]


def test_every_service_the_unit_names_is_a_domains() -> None:
    assert {_domain_of_service(name) for name in SERVICES} <= set(DOMAINS)


def test_no_domain_asks_the_unit_for_a_service_of_a_domain_above_it() -> None:
    upward = []
    for domain in DOMAINS:
        rank = DOMAINS.index(domain)
        for path in sorted((SOURCE / domain).rglob("*.py")):
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                for name in _ASKED.findall(line):
                    if name in SERVICES and DOMAINS.index(_domain_of_service(name)) > rank:
                        upward.append(f"{path.relative_to(SOURCE)}:{number} asks for {name}")
    assert upward == []
