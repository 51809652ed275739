"""What a signed verdict means once the network is gone: a "not valid" answer keeps
counting offline, an answer counts only for the license asked about, a clock wound back
behind a time it already showed is caught, and a malformed signed date is reported as
such."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from licensor_client import (
    ClockTampered,
    LicenseNotActive,
    NetworkError,
    SignatureInvalid,
    VerificationError,
    check_license_file,
)
from licensor_client._signing import parse_time
from tests.client.conftest import (
    CODE,
    FINGERPRINT,
    NOW,
    DeviceClock,
    FakeServer,
    MakeClient,
    RunCli,
    Signer,
    license_payload,
)

OFFLINE = httpx.ConnectError("[Errno 101] Network is unreachable")


def _state(state_dir: Path) -> dict[str, Any]:
    state: dict[str, Any] = json.loads((state_dir / "license.json").read_text())
    return state


# --- the last signed verdict counts offline -----------------------------------------------


@pytest.mark.parametrize("status", ["blocked", "released", "expired"])
def test_a_signed_not_valid_answer_still_counts_when_offline(
    make_client: MakeClient, fake_server: FakeServer, device_clock: DeviceClock, status: str
) -> None:
    client = make_client()
    client.activate(CODE)
    device_clock.advance(timedelta(hours=1))
    fake_server.status = status
    assert client.status().valid is False

    fake_server.error = OFFLINE
    device_clock.advance(timedelta(hours=1))  # the license file alone would still hold
    with pytest.raises(LicenseNotActive) as offline:
        client.validate_offline()
    assert offline.value.status == status
    assert status.replace("_", " ") in str(offline.value)
    with pytest.raises(LicenseNotActive):
        client.status()

    shown = client.details()  # the License details window (and its screenshot) still work
    assert (shown.status, shown.valid, shown.public_id) == (status, False, "LIC-PP2T-PPD4")


def test_a_valid_answer_after_a_refusal_makes_the_license_hold_offline_again(
    make_client: MakeClient, fake_server: FakeServer, device_clock: DeviceClock
) -> None:
    client = make_client()
    client.activate(CODE)
    fake_server.status = "blocked"
    device_clock.advance(timedelta(hours=1))
    client.status()

    fake_server.status = "active"  # unblocked by support
    device_clock.advance(timedelta(hours=1))
    assert client.status().valid
    fake_server.error = OFFLINE
    assert client.status().source == "offline"


def test_the_kept_refusal_is_signed_and_cannot_be_edited_away_into_a_pass(
    make_client: MakeClient, fake_server: FakeServer, state_dir: Path
) -> None:
    client = make_client()
    client.activate(CODE)
    fake_server.status = "blocked"
    client.status()
    state = _state(state_dir)
    state["verdict"]["valid"] = True
    (state_dir / "license.json").write_text(json.dumps(state))

    with pytest.raises(SignatureInvalid):
        client.validate_offline()


def test_a_license_file_that_is_not_active_is_license_not_active(
    make_client: MakeClient, fake_server: FakeServer, signer: Signer, state_dir: Path
) -> None:
    signed = signer.sign_license(license_payload(status="blocked"))
    with pytest.raises(LicenseNotActive) as raised:
        check_license_file(signer.keys(), signed, fingerprint=FINGERPRINT, now=NOW)
    assert raised.value.status == "blocked"

    make_client().activate(CODE)
    state = _state(state_dir)
    (state_dir / "license.json").write_text(json.dumps({**state, "license_file": signed}))
    fake_server.error = OFFLINE
    with pytest.raises(LicenseNotActive):
        make_client().status()  # not turned into "the server cannot be reached"


def test_the_cli_status_exits_4_offline_after_a_signed_refusal(
    make_client: MakeClient,
    fake_server: FakeServer,
    run_cli: RunCli,
) -> None:
    make_client().activate(CODE)
    fake_server.status = "blocked"
    assert run_cli("status").status == 4

    fake_server.error = OFFLINE
    ran = run_cli("status", "--json")
    assert ran.status == 4
    shown = json.loads(ran.stdout)
    assert (shown["valid"], shown["status"]) == (False, "blocked")
    assert "blocked" in shown["reason"]


# --- an answer is about the license asked about -------------------------------------------


def test_an_answer_about_another_public_id_is_refused(
    make_client: MakeClient, fake_server: FakeServer, signer: Signer, state_dir: Path
) -> None:
    client = make_client()
    client.activate(CODE)
    before = (state_dir / "license.json").read_bytes()
    fake_server.routes["POST", "/api/v1/licenses/validate"] = lambda request: httpx.Response(
        200,
        json=signer.sign_answer(
            {**fake_server.answer(request), "public_id": "LIC-OTHR-LICN", "valid": False}
        ),
    )
    with pytest.raises(SignatureInvalid, match="about another license"):
        client.status()
    assert (state_dir / "license.json").read_bytes() == before


def test_an_answer_carrying_another_licenses_file_is_refused(
    make_client: MakeClient, fake_server: FakeServer, signer: Signer, state_dir: Path
) -> None:
    client = make_client()
    client.activate(CODE)
    before = (state_dir / "license.json").read_bytes()

    def another_license(request: httpx.Request) -> httpx.Response:
        body = fake_server.answer(request)
        body["license_file"] = fake_server.license_file(
            FINGERPRINT, license_key="0D4A7C2E19B84F6A8C3E5D7B9A1F2C36"
        )
        return httpx.Response(200, json=signer.sign_answer(body))

    fake_server.routes["POST", "/api/v1/licenses/validate"] = another_license
    with pytest.raises(SignatureInvalid, match="about another license"):
        client.status()
    assert (state_dir / "license.json").read_bytes() == before


def test_an_unknown_license_answer_names_no_license_and_is_believed(
    make_client: MakeClient, fake_server: FakeServer, signer: Signer
) -> None:
    client = make_client()
    client.activate(CODE)
    fake_server.routes["POST", "/api/v1/licenses/validate"] = lambda request: httpx.Response(
        200,
        json=signer.sign_answer(
            {
                "valid": False,
                "status": "unknown",
                "nonce": json.loads(request.content)["nonce"],
                "issued_at": "2026-11-22T04:00:00Z",
            }
        ),
    )
    info = client.status()
    assert (info.valid, info.status) == (False, "unknown")


# --- the clock's high-water mark ----------------------------------------------------------


def test_a_clock_wound_back_behind_a_time_it_already_showed_is_caught(
    make_client: MakeClient, fake_server: FakeServer, device_clock: DeviceClock
) -> None:
    client = make_client()
    client.activate(CODE)
    fake_server.error = OFFLINE
    device_clock.advance(timedelta(days=10))
    assert client.status().source == "offline"  # seen: 10 days after the file

    device_clock.advance(-timedelta(minutes=5))  # clocks drift: within the tolerance
    assert client.validate_offline().valid
    device_clock.advance(-timedelta(days=8))  # still after the file was issued
    with pytest.raises(ClockTampered):
        client.validate_offline()
    with pytest.raises(ClockTampered):
        client.status()


def test_a_clock_set_right_again_is_believed_after_an_online_check(
    make_client: MakeClient, fake_server: FakeServer, device_clock: DeviceClock
) -> None:
    client = make_client()
    client.activate(CODE)
    device_clock.advance(timedelta(days=3))  # wrong, ahead: the mark is written
    fake_server.error = OFFLINE
    client.status()

    device_clock.advance(-timedelta(days=2))  # put right
    with pytest.raises(ClockTampered):
        client.validate_offline()
    fake_server.error = None
    assert client.status().source == "online"  # a fresh file, held against this clock
    fake_server.error = OFFLINE
    assert client.status().source == "offline"


# --- what a signed file must hold ---------------------------------------------------------


@pytest.mark.parametrize("field", ["issued_at", "expires_at", "devices_max"])
def test_a_signed_license_file_without_a_required_field_is_refused(
    signer: Signer, field: str
) -> None:
    payload = license_payload()
    del payload[field]
    with pytest.raises(VerificationError, match=field):
        check_license_file(
            signer.keys(), signer.sign_license(payload), fingerprint=FINGERPRINT, now=NOW
        )


def test_a_malformed_signed_date_is_a_verification_error_not_a_forgery(signer: Signer) -> None:
    signed = signer.sign_license(license_payload(valid_until="next Tuesday"))
    with pytest.raises(VerificationError, match="a signed date is malformed") as raised:
        check_license_file(signer.keys(), signed, fingerprint=FINGERPRINT, now=NOW)
    assert not isinstance(raised.value, SignatureInvalid)
    with pytest.raises(VerificationError, match="a signed date is malformed"):
        parse_time(None)


def test_status_offline_without_any_verdict_still_needs_the_file_in_date(
    make_client: MakeClient, fake_server: FakeServer, device_clock: DeviceClock
) -> None:
    """The control: with no refusal kept, the offline window alone decides."""
    client = make_client()
    client.activate(CODE)
    fake_server.error = OFFLINE
    device_clock.advance(timedelta(days=15))
    with pytest.raises(NetworkError):
        client.status()
