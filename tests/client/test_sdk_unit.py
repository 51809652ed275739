"""The SDK against a server played by ``httpx.MockTransport``: what it sends, how it reads
refusals, which keys it trusts, when it falls back offline, and what it keeps on disk."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

import licensor_client
from licensor_client import (
    FINGERPRINT_ENV,
    AuthorizationPending,
    CodeBlocked,
    CodeMalformed,
    CodeUnknown,
    DeviceCodeExpired,
    DeviceLimitReached,
    EmailNotVerified,
    InvalidCredentials,
    LicenseClient,
    LicenseExpired,
    LicenseFileExpired,
    LicenseLinkedElsewhere,
    NetworkError,
    NotActivated,
    RateLimited,
    ServerError,
    ServerUnavailable,
    SignatureInvalid,
)
from tests.client.conftest import (
    CODE,
    FINGERPRINT,
    LICENSE_KEY,
    NOW,
    OFFLINE_DAYS,
    DeviceClock,
    FakeServer,
    MakeClient,
    Signer,
    problem,
)
from tests.support import free_port

# --- refusals -----------------------------------------------------------------------------

REFUSALS: list[tuple[str, int, type[ServerError]]] = [
    ("code_malformed", 422, CodeMalformed),
    ("code_unknown", 404, CodeUnknown),
    ("code_blocked", 403, CodeBlocked),
    ("device_limit_reached", 409, DeviceLimitReached),
    ("license_expired", 403, LicenseExpired),
    ("invalid_credentials", 401, InvalidCredentials),
    ("email_not_verified", 403, EmailNotVerified),
    ("license_linked_elsewhere", 409, LicenseLinkedElsewhere),
    ("authorization_pending", 400, AuthorizationPending),
    ("device_code_expired", 410, DeviceCodeExpired),
    ("rate_limited", 429, RateLimited),
]


@pytest.mark.parametrize(("code", "status", "error"), REFUSALS)
def test_each_problem_code_raises_its_own_error_with_the_problem_fields(
    make_client: MakeClient,
    fake_server: FakeServer,
    code: str,
    status: int,
    error: type[ServerError],
) -> None:
    fake_server.routes["POST", "/api/v1/activations"] = lambda request: problem(
        status, code, f"Title of {code}", f"Detail of {code}"
    )
    with pytest.raises(error) as raised:
        make_client().activate(CODE)
    assert type(raised.value) is error
    assert raised.value.status == status
    assert raised.value.code == code
    assert raised.value.title == f"Title of {code}"
    assert raised.value.detail == f"Detail of {code}"
    assert raised.value.problem["code"] == code
    assert raised.value.retry_after is None
    assert str(raised.value) == f"Detail of {code}"


def test_a_refusal_without_detail_reads_as_its_title(
    make_client: MakeClient, fake_server: FakeServer
) -> None:
    fake_server.routes["POST", "/api/v1/activations"] = lambda request: problem(
        404, "code_unknown", "This activation code is not known"
    )
    with pytest.raises(CodeUnknown) as raised:
        make_client().activate(CODE)
    assert raised.value.detail is None
    assert str(raised.value) == "This activation code is not known"


def test_rate_limited_carries_retry_after(make_client: MakeClient, fake_server: FakeServer) -> None:
    fake_server.routes["POST", "/api/v1/activations"] = lambda request: problem(
        429, "rate_limited", "Too many requests", headers={"Retry-After": "42"}
    )
    with pytest.raises(RateLimited) as raised:
        make_client().activate(CODE)
    assert raised.value.retry_after == 42
    assert raised.value.status == 429


def test_a_code_this_sdk_does_not_know_is_a_plain_server_error_with_that_code(
    make_client: MakeClient, fake_server: FakeServer
) -> None:
    fake_server.routes["POST", "/api/v1/activations"] = lambda request: problem(
        409, "plan_retired", "This plan is no longer sold"
    )
    with pytest.raises(ServerError) as raised:
        make_client().activate(CODE)
    assert type(raised.value) is ServerError
    assert (raised.value.status, raised.value.code) == (409, "plan_retired")
    assert raised.value.title == "This plan is no longer sold"


@pytest.mark.parametrize(
    ("status", "content", "content_type"),
    [
        (502, b"<html><body>502 Bad Gateway</body></html>", "text/html"),
        (500, b'{"detail": "Internal Server Error"}', "application/json"),
        (503, b"", "text/plain"),
    ],
)
def test_a_5xx_without_a_verdict_is_an_unavailable_server(
    make_client: MakeClient,
    fake_server: FakeServer,
    status: int,
    content: bytes,
    content_type: str,
) -> None:
    fake_server.routes["POST", "/api/v1/activations"] = lambda request: httpx.Response(
        status, content=content, headers={"content-type": content_type}
    )
    with pytest.raises(ServerUnavailable) as raised:
        make_client().activate(CODE)
    assert isinstance(raised.value, NetworkError)
    assert str(status) in str(raised.value)


@pytest.mark.parametrize(
    ("status", "content", "headers", "named"),
    [
        (200, b"<html>Sign in to the hotel Wi-Fi</html>", {"content-type": "text/html"}, "200"),
        (201, b"<html>captive portal</html>", {"content-type": "text/html"}, "201"),
        (302, b"", {"location": "http://portal.example.net/login"}, "portal.example.net"),
        (307, b"", {"location": "https://elsewhere.example.com/"}, "elsewhere.example.com"),
        (404, b"<html>Not Found</html>", {"content-type": "text/html"}, "404"),
        (403, b'{"detail": "Forbidden"}', {"content-type": "application/json"}, "403"),
    ],
    ids=["portal-200", "portal-201", "redirect-302", "redirect-307", "html-404", "json-403"],
)
def test_an_answer_that_is_neither_json_nor_a_problem_with_a_code_is_no_answer(
    make_client: MakeClient,
    fake_server: FakeServer,
    status: int,
    content: bytes,
    headers: dict[str, str],
    named: str,
) -> None:
    fake_server.routes["POST", "/api/v1/activations"] = lambda request: httpx.Response(
        status, content=content, headers=headers
    )
    with pytest.raises(ServerUnavailable, match="no answer from a Licensor server") as raised:
        make_client().activate(CODE)
    assert named in str(raised.value)
    assert not make_client().has_license()


def test_a_captive_portal_page_makes_status_fall_back_to_the_license_file(
    make_client: MakeClient, fake_server: FakeServer
) -> None:
    client = make_client()
    client.activate(CODE)
    fake_server.routes["POST", "/api/v1/licenses/validate"] = lambda request: httpx.Response(
        200, content=b"<html>Accept the terms to go online</html>"
    )

    info = client.status()

    assert (info.source, info.valid) == ("offline", True)


def test_a_success_that_is_json_but_not_an_object_is_a_bad_answer(
    make_client: MakeClient, fake_server: FakeServer
) -> None:
    fake_server.routes["POST", "/api/v1/activations"] = lambda request: httpx.Response(
        201, json=["not", "an", "object"]
    )
    with pytest.raises(ServerError) as raised:
        make_client().activate(CODE)
    assert (raised.value.status, raised.value.code) == (201, "bad_answer")


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("[Errno 111] Connection refused"),
        httpx.ConnectTimeout("timed out"),
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
    ],
    ids=["refused", "connect-timeout", "read-timeout", "disconnected"],
)
def test_a_server_out_of_reach_is_a_network_error(
    make_client: MakeClient, fake_server: FakeServer, failure: Exception
) -> None:
    fake_server.error = failure
    with pytest.raises(NetworkError):
        make_client().activate(CODE)


def test_a_closed_port_is_a_network_error(tmp_path: Path, signer: Signer) -> None:
    with (
        LicenseClient(
            f"http://127.0.0.1:{free_port()}",
            signer.pinned,
            state_dir=tmp_path / "state",
            fingerprint=FINGERPRINT,
            timeout=5,
        ) as client,
        pytest.raises(NetworkError),
    ):
        client.activate(CODE)


# --- what is sent -------------------------------------------------------------------------


def test_activation_sends_the_code_and_this_device(
    make_client: MakeClient, fake_server: FakeServer
) -> None:
    client = make_client(device_name="Kitchen laptop")
    info = client.activate(CODE)
    [sent] = fake_server.sent("/api/v1/activations")
    assert sent == {
        "activation_code": CODE,
        "device": {
            "fingerprint": FINGERPRINT,
            "name": "Kitchen laptop",
            "platform": client.machine.platform,
            # Its own public key, which verifies the license proofs it signs for support.
            "key": client.device_public_key,
        },
    }
    assert (info.license_key, info.plan, info.devices_used, info.source) == (
        LICENSE_KEY,
        "plus",
        1,
        "online",
    )
    assert info.valid
    assert info.grouped_license_key == "57B3 51CE 823C 49E6 8327 015A 8345 8BE4"


def test_each_validation_sends_a_fresh_random_nonce(
    make_client: MakeClient, fake_server: FakeServer
) -> None:
    client = make_client()
    client.activate(CODE)
    for _ in range(3):
        assert client.status().source == "online"
    sent = fake_server.sent("/api/v1/licenses/validate")
    assert [{key: body[key] for key in ("license_key", "fingerprint")} for body in sent] == [
        {"license_key": LICENSE_KEY, "fingerprint": FINGERPRINT}
    ] * 3
    assert all(set(body) == {"license_key", "fingerprint", "nonce"} for body in sent)
    nonces = [body["nonce"] for body in sent]
    assert len(set(nonces)) == 3
    for nonce in nonces:
        assert len(base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))) >= 16


def test_release_recover_and_connect_send_the_license_and_device(
    make_client: MakeClient, fake_server: FakeServer
) -> None:
    client = make_client(device_name="Desk")
    client.activate(CODE)

    linked = client.recover("ada@example.com", "correct horse")
    assert fake_server.sent("/api/v1/account/licenses") == [
        {
            "email": "ada@example.com",
            "password": "correct horse",
            "license_key": LICENSE_KEY,
            "fingerprint": FINGERPRINT,
        }
    ]
    assert (linked.status, linked.public_id) == ("linked", "LIC-PP2T-PPD4")

    connect = client.connect_start()
    assert fake_server.sent("/api/v1/device/authorize") == [
        {
            "fingerprint": FINGERPRINT,
            "name": "Desk",
            "platform": client.machine.platform,
            "license_keys": [LICENSE_KEY],  # its proof of possession
        }
    ]
    assert "device-code-secret" not in repr(connect)
    naps: list[float] = []
    connected = client.connect_wait(connect, sleep=naps.append)
    assert naps == [5]  # one "authorization_pending", at the server's interval
    assert connected.account == "c…@example.com"
    assert fake_server.sent("/api/v1/device/token") == [{"device_code": "device-code-secret"}] * 2

    released = client.release()
    assert fake_server.sent("/api/v1/activations/release") == [
        {"license_key": LICENSE_KEY, "fingerprint": FINGERPRINT}
    ]
    assert released.devices_used == 0
    assert not client.has_license()
    with pytest.raises(NotActivated):
        client.status()


# --- keys: pinned, or trusted on first use ------------------------------------------------


def test_pinned_keys_are_used_and_the_server_is_never_asked_for_keys(
    make_client: MakeClient, fake_server: FakeServer
) -> None:
    client = make_client()
    client.activate(CODE)
    client.status()
    assert fake_server.sent("/api/v1/signing-keys") == []


def test_keys_are_pinned_on_first_use_and_a_server_that_switches_keys_is_refused(
    make_client: MakeClient, fake_server: FakeServer, state_dir: Path
) -> None:
    first = make_client(public_keys=None)
    first.activate(CODE)
    assert len(fake_server.sent("/api/v1/signing-keys")) == 1
    pinned = (state_dir / "signing-keys").read_text()
    assert fake_server.signer.public_key in pinned

    # A later run reads the pinned key from the state directory, not from the server.
    later = make_client(public_keys=None)
    assert later.status().valid
    assert len(fake_server.sent("/api/v1/signing-keys")) == 1

    # The server (or someone in its place) now signs with another key, even one it
    # publishes under the same id: nothing it says is believed.
    fake_server.signer = Signer(key_id=fake_server.signer.key_id)
    with pytest.raises(SignatureInvalid):
        make_client(public_keys=None).status()
    fake_server.signer = Signer(key_id="k2")
    with pytest.raises(SignatureInvalid):
        make_client(public_keys=None).status()
    assert (state_dir / "signing-keys").read_text() == pinned
    assert len(fake_server.sent("/api/v1/signing-keys")) == 1


def test_pinned_keys_can_be_given_as_text_mapping_or_public_keys(
    make_client: MakeClient, signer: Signer
) -> None:
    for keys in (signer.pinned, {signer.key_id: signer.public_key}, signer.keys()):
        assert make_client(public_keys=keys).activate(CODE).valid


# --- offline ------------------------------------------------------------------------------


def test_status_falls_back_to_the_license_file_until_valid_until(
    make_client: MakeClient, fake_server: FakeServer, device_clock: DeviceClock
) -> None:
    client = make_client()
    client.activate(CODE)
    fake_server.error = httpx.ConnectError("[Errno 111] Connection refused")

    device_clock.advance(timedelta(days=OFFLINE_DAYS) - timedelta(seconds=1))
    info = client.status()
    assert (info.source, info.valid, info.status) == ("offline", True, "active")
    assert info.valid_until == NOW + timedelta(days=OFFLINE_DAYS)

    device_clock.advance(timedelta(seconds=1))
    with pytest.raises(NetworkError):
        client.status()
    with pytest.raises(LicenseFileExpired):
        client.validate_offline()


def test_status_falls_back_to_the_license_file_when_a_proxy_answers_502(
    make_client: MakeClient, fake_server: FakeServer
) -> None:
    client = make_client()
    client.activate(CODE)
    fake_server.routes["POST", "/api/v1/licenses/validate"] = lambda request: httpx.Response(
        502, content=b"<html>Bad Gateway</html>", headers={"content-type": "text/html"}
    )

    info = client.status()

    assert (info.source, info.valid) == ("offline", True)


def test_online_validation_renews_the_offline_window(
    make_client: MakeClient, fake_server: FakeServer, device_clock: DeviceClock
) -> None:
    client = make_client()
    client.activate(CODE)
    device_clock.advance(timedelta(days=10))
    assert client.status().valid_until == NOW + timedelta(days=10 + OFFLINE_DAYS)

    fake_server.error = httpx.ConnectError("unreachable")
    device_clock.advance(timedelta(days=10))  # past the first file, within the new one
    assert client.status().source == "offline"


def test_an_answer_that_the_license_is_no_longer_valid_is_kept(
    make_client: MakeClient, fake_server: FakeServer
) -> None:
    client = make_client()
    client.activate(CODE)
    fake_server.status = "blocked"
    info = client.status()
    assert (info.valid, info.status, info.source) == (False, "blocked", "online")
    assert client.details().status == "blocked"


# --- state on disk ------------------------------------------------------------------------


def _files(directory: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(directory)): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def test_the_state_never_holds_the_activation_code_in_clear(
    make_client: MakeClient, fake_server: FakeServer, state_dir: Path
) -> None:
    client = make_client(public_keys=None)
    client.activate(CODE)
    client.status()
    fake_server.error = httpx.ConnectError("unreachable")
    client.status()
    assert client.details().has_code  # it is kept, sealed

    files = _files(state_dir)
    assert "license.json" in files
    compact = CODE.replace("-", "")
    for content in files.values():
        for form in (CODE, compact, CODE.lower(), compact.lower()):
            assert form.encode() not in content
            assert form.encode("utf-16-le") not in content
        assert base64.b64encode(compact.encode()) not in content


def test_state_files_are_for_the_owner_only(make_client: MakeClient, state_dir: Path) -> None:
    make_client(public_keys=None).activate(CODE)
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    for name in ("license.json", "signing-keys"):
        assert stat.S_IMODE((state_dir / name).stat().st_mode) == 0o600


def test_state_is_replaced_by_a_rename_of_a_file_written_beside_it(
    make_client: MakeClient, state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_client()
    client.activate(CODE)
    renames: list[tuple[Path, Path]] = []
    real_replace = os.replace

    def recording_replace(source: Any, target: Any) -> None:
        renames.append((Path(source), Path(target)))
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", recording_replace)
    client.status()
    [(source, target)] = renames
    assert target == state_dir / "license.json"
    assert source.parent == state_dir
    assert source != target


@pytest.mark.parametrize("crash_in", ["replace", "fsync", "write"])
def test_a_crash_while_saving_keeps_the_old_state_and_leaves_no_temporary_file(
    make_client: MakeClient,
    state_dir: Path,
    device_clock: DeviceClock,
    monkeypatch: pytest.MonkeyPatch,
    crash_in: str,
) -> None:
    client = make_client()
    client.activate(CODE)
    before = _files(state_dir)

    def crash(*args: object) -> None:
        raise OSError(28, "No space left on device")

    if crash_in == "write":
        real_fdopen = os.fdopen

        class HalfWritten:
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                self.file = real_fdopen(*args, **kwargs)

            def __enter__(self) -> HalfWritten:
                return self

            def __exit__(self, *exc_info: object) -> None:
                self.file.close()

            def write(self, data: bytes) -> None:
                self.file.write(data[: len(data) // 2])
                self.file.flush()
                crash()

        monkeypatch.setattr(os, "fdopen", HalfWritten)
    else:
        monkeypatch.setattr(os, crash_in, crash)
    device_clock.advance(timedelta(days=1))  # the new state would differ
    with pytest.raises(OSError, match="No space left"):
        client.status()
    monkeypatch.undo()

    assert _files(state_dir) == before
    assert make_client().validate_offline().license_key == LICENSE_KEY


def test_unreadable_state_is_no_license(make_client: MakeClient, state_dir: Path) -> None:
    client = make_client()
    client.activate(CODE)
    (state_dir / "license.json").write_text('{"format": "licensor-state/1", "license_')
    with pytest.raises(NotActivated):
        client.status()
    assert client.activate(CODE).valid  # activating again repairs it


# --- the device ---------------------------------------------------------------------------


def _client(state_dir: Path, **options: Any) -> LicenseClient:
    return LicenseClient(
        "https://licensing.example.com", Signer().pinned, state_dir=state_dir, **options
    )


def test_the_fingerprint_comes_from_the_environment_or_the_argument(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(FINGERPRINT_ENV, "vm-image-clone-0001")
    from_env = _client(tmp_path)
    assert from_env.fingerprint == "vm-image-clone-0001"
    assert from_env.machine.source == "override"

    given = _client(tmp_path, fingerprint="given-by-the-app-0001")
    assert given.fingerprint == "given-by-the-app-0001"  # the argument wins

    monkeypatch.delenv(FINGERPRINT_ENV)
    assert _client(tmp_path).machine.source != "override"


@pytest.mark.parametrize(
    "override",
    ["short", "has spaces in it 0001", "ümlaut-fingerprint-0001", "x" * 129, "semi;colon;0001xx"],
)
def test_an_invalid_fingerprint_override_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, override: str
) -> None:
    with pytest.raises(ValueError, match=FINGERPRINT_ENV):
        _client(tmp_path, fingerprint=override)
    monkeypatch.setenv(FINGERPRINT_ENV, override)
    with pytest.raises(ValueError, match=FINGERPRINT_ENV):
        _client(tmp_path)


def test_the_derived_fingerprint_is_stable_per_machine_and_scoped_to_the_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(FINGERPRINT_ENV, raising=False)
    first = _client(tmp_path / "one", app_id="antivirus")
    again = _client(tmp_path / "one", app_id="antivirus")
    other_app = _client(tmp_path / "one", app_id="vpn")
    assert first.fingerprint == again.fingerprint
    assert first.machine.sealing_key == again.machine.sealing_key
    assert first.fingerprint != other_app.fingerprint
    assert first.machine.sealing_key != other_app.machine.sealing_key
    assert len(first.fingerprint) == 64
    int(first.fingerprint, 16)
    if first.machine.source != "state":  # a machine identity: the same for every state dir
        assert _client(tmp_path / "two", app_id="antivirus").fingerprint == first.fingerprint


def test_without_a_machine_identity_a_random_one_is_kept_in_the_state_for_the_owner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(FINGERPRINT_ENV, raising=False)
    for source in ("_firmware_uuid", "_network_card_identity", "_os_identity", "_network_identity"):
        monkeypatch.setattr(f"licensor_client._machine.{source}", lambda: None)
    first = _client(tmp_path / "one")
    assert first.machine.source == "state"
    assert _client(tmp_path / "one").fingerprint == first.fingerprint
    assert _client(tmp_path / "two").fingerprint != first.fingerprint
    kept = tmp_path / "one" / "device-id"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600  # the sealing key is derived from it
    assert stat.S_IMODE((tmp_path / "one").stat().st_mode) == 0o700


def test_the_sealing_key_cannot_be_made_from_the_fingerprint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(FINGERPRINT_ENV, raising=False)
    machine = _client(tmp_path, app_id="antivirus").machine
    fingerprint = machine.fingerprint
    assert len(machine.sealing_key) == 32
    guesses = [
        hashlib.sha256(fingerprint.encode()).digest(),
        bytes.fromhex(fingerprint),
        HKDF(
            algorithm=hashes.SHA256(), length=32, salt=b"antivirus", info=b"licensor-seal/1"
        ).derive(fingerprint.encode()),
    ]
    assert machine.sealing_key not in guesses
    assert machine.sealing_key.hex() not in fingerprint

    # Someone who knows the fingerprint (the server does) and claims it for a device of
    # theirs still cannot open what this machine sealed.
    assert licensor_client.this_machine("antivirus", tmp_path, fingerprint).sealing_key != (
        machine.sealing_key
    )


def test_the_state_directory_is_per_user_and_per_app(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", "/home/ada/.local/state")
    assert licensor_client.default_state_dir("antivirus") == Path(
        "/home/ada/.local/state/antivirus"
    )


def test_the_license_file_is_stored_as_received(
    make_client: MakeClient, fake_server: FakeServer, state_dir: Path
) -> None:
    client = make_client()
    client.activate(CODE)
    stored = json.loads((state_dir / "license.json").read_text())["license_file"]
    assert stored == fake_server.license_file(FINGERPRINT)  # Ed25519 signs deterministically


def test_the_version_lives_in_its_own_module_and_names_the_client(
    make_client: MakeClient, fake_server: FakeServer
) -> None:
    from licensor_client._version import __version__

    assert licensor_client.__version__ == __version__
    make_client().activate(CODE)
    assert fake_server.requests[0].headers["User-Agent"] == f"licensor-client/{__version__}"
