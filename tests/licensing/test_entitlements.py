"""Entitlements (issue 16, item 1): the plan's features, sorted, at the top of the
activation answer, of every validation answer (fast path and documented route) and of the
signed license file, where ``plan.entitlements`` stays for older SDKs."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from licensor.licensing import formats
from licensor.models import CodeOrigin
from tests.conftest import OpenUnit
from tests.licensing.factories import (
    activate,
    device,
    license_file_verifies,
    signing_keys,
    validate,
)

MakePlan = Callable[..., str]


@pytest.fixture
def entitled_code(open_unit: OpenUnit, make_plan: MakePlan) -> str:
    """A code of a plan with two features, given unsorted and in mixed case."""
    make_plan("suite", entitlements=["vpn", "Password-Manager"])
    with open_unit() as unit:
        _, canonical = unit.codes.create_code(unit.plans.by_code("suite"), CodeOrigin.MANUAL)
    return formats.format_code(canonical)


def test_the_activation_answer_and_its_license_file_carry_the_entitlements(
    api: httpx.Client, entitled_code: str
) -> None:
    activated = activate(api, entitled_code, device())
    assert activated["entitlements"] == ["password-manager", "vpn"]
    license_file = activated["license_file"]
    assert license_file_verifies(license_file, signing_keys(api))
    assert license_file["payload"]["entitlements"] == ["password-manager", "vpn"]
    assert license_file["payload"]["plan"]["entitlements"] == ["password-manager", "vpn"]


def test_every_validation_answer_carries_the_entitlements(
    api: httpx.Client, entitled_code: str
) -> None:
    laptop = device()
    license_key = activate(api, entitled_code, laptop)["license_key"]

    valid = validate(api, license_key, laptop["fingerprint"])
    assert valid["valid"] is True
    assert valid["entitlements"] == ["password-manager", "vpn"]
    assert valid["license_file"]["payload"]["entitlements"] == ["password-manager", "vpn"]
    # Asked again, the license file is the cached one: the answer still says them.
    assert validate(api, license_key, laptop["fingerprint"])["entitlements"] == [
        "password-manager",
        "vpn",
    ]

    # Another device has no seat: not valid, the plan's features said but not unlocked.
    elsewhere = validate(api, license_key, device()["fingerprint"])
    assert (elsewhere["valid"], elsewhere["status"]) == (False, "not_activated")
    assert elsewhere["entitlements"] == ["password-manager", "vpn"]


def test_an_unknown_license_has_no_entitlements(api: httpx.Client) -> None:
    unknown = validate(api, "0" * 32, device()["fingerprint"])
    assert (unknown["valid"], unknown["entitlements"]) == (False, [])


def test_a_plan_without_entitlements_says_an_empty_list(
    api: httpx.Client, make_code: Callable[..., str]
) -> None:
    laptop = device()
    activated = activate(api, make_code(), laptop)
    assert activated["entitlements"] == []
    assert activated["license_file"]["payload"]["entitlements"] == []
    answer = validate(api, activated["license_key"], laptop["fingerprint"])
    assert answer["entitlements"] == []
