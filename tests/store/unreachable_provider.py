"""A payment provider that never answers a refund, for ``LICENSOR_PAYMENT_PROVIDER`` in a
command's environment: ``tests.store.unreachable_provider:factory``."""

from __future__ import annotations

from licensor.clock import Clock
from licensor.config import Settings
from licensor.errors import PaymentUnavailable
from licensor.keys import Keyring
from licensor.store.payments import RefundRequest
from licensor.store.testmode import TestProvider


class UnreachableProvider(TestProvider):
    def refund(self, refund: RefundRequest) -> None:
        raise PaymentUnavailable("no answer from the provider")


def factory(settings: Settings, keyring: Keyring, clock: Clock) -> UnreachableProvider:
    return UnreachableProvider(settings, keyring, clock.now)
