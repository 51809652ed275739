"""F1 in the app: the first start of an app downloaded from My Account activates the
subscription with the download's one-time token, no code typed."""

from __future__ import annotations

import pytest

from licensor_app.app import LicensorApp
from tests.accounts.factories import MakeAccount
from tests.app.conftest import MakeMachine
from tests.app.screens import SIZE, message, open_licensing, settle, text
from tests.store.factories import EnrollmentTokenFor, MakeSubscription

pytestmark = pytest.mark.anyio


async def test_the_first_start_activates_the_subscription_without_a_code(
    machine: MakeMachine,
    make_account: MakeAccount,
    make_subscription: MakeSubscription,
    enrollment_token: EnrollmentTokenFor,
) -> None:
    customer = make_account()
    subscription_id = make_subscription(customer.id, "premium")
    token = enrollment_token(customer.id, subscription_id)
    app: LicensorApp = machine()
    app.enrollment_token = token

    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert message(pilot) == "Activated with your subscription: no code needed."
        await open_licensing(pilot)
        assert text(pilot, "#plan") == "Premium"
        assert text(pilot, "#status") == "Active"

    # The token is spent: the same download on another computer is refused, clearly.
    other: LicensorApp = machine("desktop")
    other.enrollment_token = token
    async with other.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert message(pilot).startswith("This download was already used to activate")
        assert not other.client.has_license()
