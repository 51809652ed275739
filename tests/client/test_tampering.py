"""What the SDK must not believe: license files and answers changed by one bit, signed by
a key the app does not pin, replayed from another request, out of date, for another
device, checked on a clock wound back, or saying the license is not active."""

from __future__ import annotations

import json
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from licensor_client import (
    ClockTampered,
    LicenseClient,
    LicenseFileExpired,
    LicenseInfo,
    ReplayedAnswer,
    ServerError,
    SignatureInvalid,
    VerificationError,
    WrongDevice,
    check_license_file,
)
from tests.client.conftest import (
    CODE,
    FINGERPRINT,
    NOW,
    OFFLINE_DAYS,
    OTHER_FINGERPRINT,
    DeviceClock,
    FakeServer,
    MakeClient,
    Signer,
    canonical_json,
    license_payload,
)

# Made once for the module: Hypothesis and the exhaustive loops run many checks per test.
SIGNER = Signer()
KEYS = SIGNER.keys()
LICENSE_FILE = SIGNER.sign_license(license_payload())
LICENSE_SIGNATURE_ENDS_AA = LICENSE_FILE["signature"].endswith("AA")
LICENSE_BYTES = json.dumps(LICENSE_FILE, sort_keys=True, separators=(",", ":")).encode()
FLIPS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much]
)


def flip(data: bytes, position: int, bit: int) -> bytes:
    return data[:position] + bytes([data[position] ^ (1 << bit)]) + data[position + 1 :]


def parsed(data: bytes) -> Any:
    """The JSON value of ``data``, or ``None`` when a flip broke the JSON itself."""
    try:
        return json.loads(data)
    except ValueError:  # not JSON, or not UTF-8
        return None


def client_on(server: FakeServer, state_dir: Path) -> LicenseClient:
    """A client of a fake server made inside a Hypothesis example (no fixtures there)."""
    return LicenseClient(
        "https://licensing.example.com",
        server.signer.pinned,
        state_dir=state_dir,
        fingerprint=FINGERPRINT,
        transport=server.transport,
        clock=server.clock,
    )


# --- a flipped bit --------------------------------------------------------------------------


def test_a_license_file_with_any_bit_flipped_is_refused_offline() -> None:
    """Every bit of the file, one at a time (a few thousand checks: about a second)."""
    refused = 0
    for position in range(len(LICENSE_BYTES)):
        for bit in range(8):
            tampered = parsed(flip(LICENSE_BYTES, position, bit))
            if not isinstance(tampered, dict):
                continue  # the JSON itself broke: nothing to check
            assert tampered != LICENSE_FILE
            with pytest.raises(SignatureInvalid):
                check_license_file(KEYS, tampered, fingerprint=FINGERPRINT, now=NOW)
            refused += 1
    assert refused > 0.5 * 8 * len(LICENSE_BYTES)  # most flips leave JSON (about 64 %)


def test_a_signature_with_any_character_changed_is_refused() -> None:
    """Base64url leaves spare bits in a signature's last symbol: they count too."""
    signature = LICENSE_FILE["signature"]
    for position, symbol in enumerate(signature):
        for bit in range(7):
            changed = (
                signature[:position] + chr(ord(symbol) ^ (1 << bit)) + signature[position + 1 :]
            )
            with pytest.raises(SignatureInvalid):
                check_license_file(
                    KEYS, {**LICENSE_FILE, "signature": changed}, fingerprint=FINGERPRINT, now=NOW
                )


@pytest.mark.parametrize(
    "change",
    [
        {"payload": {**LICENSE_FILE["payload"], "devices_max": 4}},
        {"payload": {**LICENSE_FILE["payload"], "valid_until": "2099-01-01T00:00:00Z"}},
        {"payload": {**LICENSE_FILE["payload"], "fingerprint": OTHER_FINGERPRINT}},
        {"payload": {**LICENSE_FILE["payload"], "extra": True}},
        {"key_id": SIGNER.key_id + "x"},
        {
            "signature": LICENSE_FILE["signature"][:-2]
            + ("BA" if LICENSE_SIGNATURE_ENDS_AA else "AA")
        },
        {"signature": LICENSE_FILE["signature"] + "AA"},
        {"signature": ""},
        {"format": "licensor-license/2"},
    ],
    ids=[
        "devices_max",
        "valid_until",
        "fingerprint",
        "added-field",
        "key_id",
        "signature-end",
        "signature-longer",
        "signature-empty",
        "format",
    ],
)
def test_a_changed_license_file_is_refused_from_the_state_too(
    make_client: MakeClient, state_dir: Path, change: dict[str, Any]
) -> None:
    client = make_client(public_keys=SIGNER.pinned)
    state_dir.mkdir()
    state = {"format": "licensor-state/1", "license_file": {**LICENSE_FILE, **change}}
    (state_dir / "license.json").write_text(json.dumps(state))
    with pytest.raises(SignatureInvalid):
        client.validate_offline()
    with pytest.raises(SignatureInvalid):
        client.details()


@FLIPS
@given(position=st.integers(0, len(LICENSE_BYTES) - 1), bit=st.integers(0, 7))
def test_a_license_file_with_any_bit_flipped_is_refused_when_activation_delivers_it(
    position: int, bit: int
) -> None:
    tampered = parsed(flip(LICENSE_BYTES, position, bit))
    assume(isinstance(tampered, dict))
    server = FakeServer(SIGNER, DeviceClock())
    delivered = server.routes["POST", "/api/v1/activations"]

    def activate(request: httpx.Request) -> httpx.Response:
        answer = json.loads(delivered(request).content)
        return httpx.Response(201, json={**answer, "license_file": tampered})

    server.routes["POST", "/api/v1/activations"] = activate
    with tempfile.TemporaryDirectory() as directory, client_on(server, Path(directory)) as client:
        with pytest.raises(SignatureInvalid):
            client.activate(CODE)
        assert not client.has_license()


def _answer_bytes(server: FakeServer, request: httpx.Request) -> bytes:
    """A signed answer as the server sends it: canonical order, ``signature`` last."""
    body = server.answer(request)
    signature = server.signer.sign_answer(body)["signature"]
    return canonical_json(body)[:-1] + b',"signature":' + json.dumps(signature).encode() + b"}"


def _sample_answer_length() -> int:
    server = FakeServer(SIGNER, DeviceClock())
    request = httpx.Request(
        "POST",
        "https://licensing.example.com/api/v1/licenses/validate",
        json={"license_key": "x", "fingerprint": FINGERPRINT, "nonce": "n" * 24},
    )
    return len(_answer_bytes(server, request))


ANSWER_LENGTH = _sample_answer_length()


@FLIPS
@given(position=st.integers(0, ANSWER_LENGTH - 1), bit=st.integers(0, 7))
def test_an_answer_with_any_bit_flipped_is_refused(position: int, bit: int) -> None:
    server = FakeServer(SIGNER, DeviceClock())
    tampered: list[bytes] = []

    def validate(request: httpx.Request) -> httpx.Response:
        genuine = _answer_bytes(server, request)
        assert len(genuine) == ANSWER_LENGTH
        tampered.append(flip(genuine, position, bit))
        return httpx.Response(
            200, content=tampered[-1], headers={"content-type": "application/json"}
        )

    with tempfile.TemporaryDirectory() as directory, client_on(server, Path(directory)) as client:
        client.activate(CODE)
        state_path = Path(directory) / "license.json"
        before = state_path.read_bytes()
        server.clock.advance(timedelta(days=1))
        server.routes["POST", "/api/v1/licenses/validate"] = validate
        try:
            outcome: LicenseInfo | Exception = client.status()
        except (VerificationError, ServerError) as error:
            outcome = error
        answer = parsed(tampered[-1])
        if answer is None:
            # Not JSON any more: no verdict at all, as if offline. The license file decides.
            assert isinstance(outcome, LicenseInfo)
            assert outcome.source == "offline"
            assert (
                json.loads(state_path.read_bytes())["license_file"]
                == (json.loads(before)["license_file"])
            )
            return
        if isinstance(answer, dict):
            assert isinstance(outcome, SignatureInvalid)
        else:
            assert isinstance(outcome, ServerError)
            assert outcome.code == "bad_answer"
        assert state_path.read_bytes() == before


# --- keys the app does not pin ------------------------------------------------------------


@pytest.mark.parametrize("key_id", ["k1", "k2"], ids=["same-key-id", "other-key-id"])
def test_a_license_file_signed_by_an_unpinned_key_is_refused(key_id: str) -> None:
    forged = Signer(key_id=key_id).sign_license(license_payload())
    with pytest.raises(SignatureInvalid):
        check_license_file(KEYS, forged, fingerprint=FINGERPRINT, now=NOW)


@pytest.mark.parametrize("key_id", ["k1", "k2"], ids=["same-key-id", "other-key-id"])
def test_an_answer_signed_by_an_unpinned_key_is_refused(
    make_client: MakeClient, fake_server: FakeServer, key_id: str
) -> None:
    client = make_client()
    client.activate(CODE)
    forger = Signer(key_id=key_id)
    fake_server.routes["POST", "/api/v1/licenses/validate"] = lambda request: httpx.Response(
        200, json=forger.sign_answer({**fake_server.answer(request), "valid": True})
    )
    with pytest.raises(SignatureInvalid):
        client.status()


def test_an_unsigned_answer_is_refused(make_client: MakeClient, fake_server: FakeServer) -> None:
    client = make_client()
    client.activate(CODE)
    fake_server.routes["POST", "/api/v1/licenses/validate"] = lambda request: httpx.Response(
        200, json=fake_server.answer(request)
    )
    with pytest.raises(SignatureInvalid):
        client.status()


def test_a_license_signature_cannot_be_passed_off_as_an_answer_or_the_reverse(
    make_client: MakeClient, fake_server: FakeServer, signer: Signer
) -> None:
    client = make_client()
    client.activate(CODE)
    sent: list[dict[str, Any]] = []

    def answer_signed_as_a_license_file(request: httpx.Request) -> httpx.Response:
        body = fake_server.answer(request)
        sent.append(body)
        as_file = signer.sign_license(body)  # the same bytes, the other context line
        return httpx.Response(200, json={**body, "signature": f"k1.{as_file['signature']}"})

    fake_server.routes["POST", "/api/v1/licenses/validate"] = answer_signed_as_a_license_file
    with pytest.raises(SignatureInvalid):
        client.status()

    payload = license_payload()
    answer_signature = signer.sign_answer(payload)["signature"].partition(".")[2]
    as_answer = {**signer.sign_license(payload), "signature": answer_signature}
    with pytest.raises(SignatureInvalid):
        check_license_file(signer.keys(), as_answer, fingerprint=FINGERPRINT, now=NOW)


# --- replayed -----------------------------------------------------------------------------


def test_a_replayed_answer_is_refused(
    make_client: MakeClient, fake_server: FakeServer, device_clock: DeviceClock, state_dir: Path
) -> None:
    client = make_client()
    client.activate(CODE)
    recorded: list[bytes] = []
    answer = fake_server.routes["POST", "/api/v1/licenses/validate"]

    def record(request: httpx.Request) -> httpx.Response:
        recorded.append(answer(request).content)
        return httpx.Response(200, content=recorded[-1])

    fake_server.routes["POST", "/api/v1/licenses/validate"] = record
    assert client.status().valid
    before = (state_dir / "license.json").read_bytes()

    # Later the license is blocked; an attacker answers with the old "valid" answer.
    fake_server.status = "blocked"
    device_clock.advance(timedelta(days=3))
    fake_server.routes["POST", "/api/v1/licenses/validate"] = lambda request: httpx.Response(
        200, content=recorded[0]
    )
    with pytest.raises(ReplayedAnswer):
        client.status()
    assert (state_dir / "license.json").read_bytes() == before


@pytest.mark.parametrize("nonce", [None, "", "bm90IHRoZSBub25jZSB3ZSBzZW50"])
def test_a_correctly_signed_answer_with_another_nonce_is_refused(
    make_client: MakeClient, fake_server: FakeServer, signer: Signer, nonce: str | None
) -> None:
    client = make_client()
    client.activate(CODE)
    fake_server.routes["POST", "/api/v1/licenses/validate"] = lambda request: httpx.Response(
        200, json=signer.sign_answer({**fake_server.answer(request), "nonce": nonce})
    )
    with pytest.raises(ReplayedAnswer):
        client.status()


# --- time, device and status --------------------------------------------------------------


def test_a_license_file_past_valid_until_is_refused(
    make_client: MakeClient, device_clock: DeviceClock
) -> None:
    client = make_client()
    client.activate(CODE)
    device_clock.advance(timedelta(days=OFFLINE_DAYS) - timedelta(seconds=1))
    assert client.validate_offline().valid
    device_clock.advance(timedelta(seconds=1))
    with pytest.raises(LicenseFileExpired):
        client.validate_offline()
    with pytest.raises(LicenseFileExpired):
        check_license_file(
            KEYS,
            LICENSE_FILE,
            fingerprint=FINGERPRINT,
            now=NOW + timedelta(days=OFFLINE_DAYS),
        )


def test_a_license_file_for_another_device_is_refused(
    make_client: MakeClient, fake_server: FakeServer, state_dir: Path, tmp_path: Path
) -> None:
    with pytest.raises(WrongDevice):
        check_license_file(KEYS, LICENSE_FILE, fingerprint=OTHER_FINGERPRINT, now=NOW)

    # The state copied to another machine.
    make_client().activate(CODE)
    copied = tmp_path / "copied"
    shutil.copytree(state_dir, copied)
    with pytest.raises(WrongDevice):
        make_client(state_dir=copied, fingerprint=OTHER_FINGERPRINT).validate_offline()

    # A server (or someone in its place) delivering another device's file.
    fake_server.routes["POST", "/api/v1/activations"] = lambda request: httpx.Response(
        201,
        json={"devices_used": 1, "license_file": fake_server.license_file(OTHER_FINGERPRINT)},
    )
    elsewhere = make_client(state_dir=tmp_path / "elsewhere")
    with pytest.raises(WrongDevice):
        elsewhere.activate(CODE)
    assert not elsewhere.has_license()


def test_a_clock_wound_back_before_the_file_was_issued_is_refused(
    make_client: MakeClient, device_clock: DeviceClock
) -> None:
    client = make_client()
    client.activate(CODE)
    device_clock.advance(-timedelta(minutes=5))  # clocks drift: within the tolerance
    assert client.validate_offline().valid
    device_clock.advance(-timedelta(days=2))
    with pytest.raises(ClockTampered):
        client.validate_offline()
    with pytest.raises(ClockTampered):
        check_license_file(
            KEYS, LICENSE_FILE, fingerprint=FINGERPRINT, now=NOW - timedelta(hours=1)
        )


@pytest.mark.parametrize("status", ["blocked", "expired", "released", "not_activated"])
def test_a_license_file_that_says_the_license_is_not_active_is_refused(
    make_client: MakeClient, state_dir: Path, status: str
) -> None:
    signed = SIGNER.sign_license(license_payload(status=status))
    with pytest.raises(VerificationError):
        check_license_file(KEYS, signed, fingerprint=FINGERPRINT, now=NOW)
    state_dir.mkdir()
    state = {"format": "licensor-state/1", "license_file": signed}
    (state_dir / "license.json").write_text(json.dumps(state))
    with pytest.raises(VerificationError):
        make_client(public_keys=SIGNER.pinned).validate_offline()


def test_a_good_license_file_is_accepted() -> None:
    """The other tests' control: the file they change holds as it is."""
    checked = check_license_file(KEYS, LICENSE_FILE, fingerprint=FINGERPRINT, now=NOW)
    assert checked.license_key == LICENSE_FILE["payload"]["license_key"]
    assert checked.valid_until == NOW + timedelta(days=OFFLINE_DAYS)
