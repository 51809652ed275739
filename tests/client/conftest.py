"""The SDK's far side, played in the test: a vendor signing key made here and a license
server in an ``httpx.MockTransport`` that answers and signs as docs/signing.md says.

The signing scheme is written out again rather than imported from the server, so the
SDK is checked against the contract, not against the server's own code.
"""

from __future__ import annotations

import base64
import functools
import io
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from licensor_client import LicenseClient, PublicKeys, cli
from licensor_client.cli import commands

NOW = datetime(2026, 11, 22, 3, 2, 3, tzinfo=UTC)
FINGERPRINT = "unit-test-device-0001"
OTHER_FINGERPRINT = "unit-test-device-0002"
CODE = "6JPET-26GV0-A08J5-BT3ZX"
LICENSE_KEY = "57B351CE823C49E68327015A83458BE4"
PUBLIC_ID = "LIC-PP2T-PPD4"
OFFLINE_DAYS = 14

LICENSE_CONTEXT = b"licensor-license/1\n"
RESPONSE_CONTEXT = b"licensor-response/1\n"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Signer:
    """A vendor's Ed25519 signing key, made for the test (or from ``private_key``'s 32
    bytes, for files signed once and kept)."""

    def __init__(self, key_id: str = "k1", private_key: bytes | None = None) -> None:
        self.key_id = key_id
        self._key = (
            Ed25519PrivateKey.from_private_bytes(private_key)
            if private_key is not None
            else Ed25519PrivateKey.generate()
        )

    @property
    def public_key(self) -> str:
        return b64url(self._key.public_key().public_bytes_raw())

    @property
    def pinned(self) -> str:
        """The form an app pins: ``id:base64url``."""
        return f"{self.key_id}:{self.public_key}"

    def keys(self) -> PublicKeys:
        return PublicKeys({self.key_id: self.public_key})

    def sign_license(self, payload: dict[str, Any]) -> dict[str, Any]:
        signature = self._key.sign(LICENSE_CONTEXT + canonical_json(payload))
        return {
            "format": "licensor-license/1",
            "key_id": self.key_id,
            "payload": payload,
            "signature": b64url(signature),
        }

    def sign_answer(self, body: dict[str, Any]) -> dict[str, Any]:
        """The body with its ``signature`` (put first: a client must not rely on order)."""
        signature = self._key.sign(RESPONSE_CONTEXT + canonical_json(body))
        return {"signature": f"{self.key_id}.{b64url(signature)}", **body}


def license_payload(
    *,
    fingerprint: str = FINGERPRINT,
    issued_at: datetime = NOW,
    license_key: str = LICENSE_KEY,
    **changes: Any,
) -> dict[str, Any]:
    """What a server puts in a license file issued at ``issued_at``."""
    starts_at = NOW - timedelta(days=30)
    expires_at = starts_at + timedelta(days=365)
    payload: dict[str, Any] = {
        "license_key": license_key,
        "public_id": PUBLIC_ID,
        "plan": {"code": "plus", "name": "Plus", "entitlements": ["antivirus", "vpn"]},
        "devices_max": 3,
        "fingerprint": fingerprint,
        "status": "active",
        "starts_at": iso(starts_at),
        "expires_at": iso(expires_at),
        "issued_at": iso(issued_at),
        "valid_until": iso(min(issued_at + timedelta(days=OFFLINE_DAYS), expires_at)),
    }
    payload.update(changes)
    return payload


class DeviceClock:
    """The device's clock, held still and moved by the test (``LicenseClient(clock=...)``)."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def problem(
    status: int,
    code: str,
    title: str = "Refused",
    detail: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "code": code}
    if detail is not None:
        body["detail"] = detail
    return httpx.Response(
        status,
        content=json.dumps(body).encode(),
        headers={"content-type": "application/problem+json", **(headers or {})},
    )


Route = Callable[[httpx.Request], httpx.Response]


class FakeServer:
    """A Licensor server as a device sees it: activation, signed validation, release,
    linking and device connect, signed with ``signer``; every request is recorded.

    ``routes[(method, path)]`` can be replaced by a test; ``error`` makes every request
    fail in the transport (no network).
    """

    def __init__(self, signer: Signer, clock: DeviceClock) -> None:
        self.signer = signer
        self.clock = clock
        self.requests: list[httpx.Request] = []
        self.error: Exception | None = None
        self.status = "active"
        self.license_key = LICENSE_KEY
        self.devices_used = 1
        self.pending_polls = 1
        self.routes: dict[tuple[str, str], Route] = {
            ("GET", "/api/v1/signing-keys"): self.signing_keys,
            ("POST", "/api/v1/activations"): self.activate,
            ("POST", "/api/v1/licenses/validate"): self.validate,
            ("POST", "/api/v1/activations/release"): self.release,
            ("POST", "/api/v1/account/licenses"): self.link,
            ("POST", "/api/v1/device/authorize"): self.authorize,
            ("POST", "/api/v1/device/token"): self.token,
        }

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.error is not None:
            raise self.error
        route = self.routes.get((request.method, request.url.path))
        if route is None:
            return problem(404, "not_found", "Not Found")
        return route(request)

    def sent(self, path: str) -> list[dict[str, Any]]:
        """The JSON bodies sent to ``path``, oldest first."""
        return [
            json.loads(request.content) if request.content else {}
            for request in self.requests
            if request.url.path == path
        ]

    def license_file(self, fingerprint: str, **changes: Any) -> dict[str, Any]:
        changes.setdefault("license_key", self.license_key)
        return self.signer.sign_license(
            license_payload(fingerprint=fingerprint, issued_at=self.clock.now, **changes)
        )

    def signing_keys(self, request: httpx.Request) -> httpx.Response:
        keys = {"algorithm": "Ed25519", "current": self.signer.key_id}
        return httpx.Response(
            200, json={**keys, "keys": {self.signer.key_id: self.signer.public_key}}
        )

    def activate(self, request: httpx.Request) -> httpx.Response:
        fingerprint = json.loads(request.content)["device"]["fingerprint"]
        license_file = self.license_file(fingerprint)
        payload = license_file["payload"]
        return httpx.Response(
            201,
            json={
                "license_key": self.license_key,
                "public_id": PUBLIC_ID,
                "plan": "plus",
                "plan_name": "Plus",
                "status": "active",
                "expires_at": payload["expires_at"],
                "devices_used": self.devices_used,
                "devices_max": 3,
                "license_file": license_file,
            },
        )

    def answer(self, request: httpx.Request) -> dict[str, Any]:
        """The unsigned body of a validation answer to ``request``."""
        sent = json.loads(request.content)
        valid = self.status == "active"
        body: dict[str, Any] = {
            "valid": valid,
            "status": self.status,
            "public_id": PUBLIC_ID,
            "plan": "plus",
            "expires_at": license_payload()["expires_at"],
            "devices_used": self.devices_used,
            "devices_max": 3,
            "nonce": sent.get("nonce"),
            "issued_at": iso(self.clock.now),
        }
        if valid:
            body["license_file"] = self.license_file(sent["fingerprint"])
        return body

    def validate(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=self.signer.sign_answer(self.answer(request)))

    def release(self, request: httpx.Request) -> httpx.Response:
        self.devices_used -= 1
        body = {"status": "released", "public_id": PUBLIC_ID, "devices_max": 3}
        return httpx.Response(200, json={**body, "devices_used": self.devices_used})

    def link(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "status": "linked",
                "public_id": PUBLIC_ID,
                "plan": "plus",
                "licenses_url": "https://licensing.example.com/account/licenses",
            },
        )

    def authorize(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "device_code": "device-code-secret",
                "user_code": "WDJB-MJHT",
                "verification_uri": "https://licensing.example.com/account/connect",
                "verification_uri_complete": (
                    "https://licensing.example.com/account/connect?code=WDJBMJHT"
                ),
                "expires_in": 900,
                "interval": 5,
            },
        )

    def token(self, request: httpx.Request) -> httpx.Response:
        if self.pending_polls > 0:
            self.pending_polls -= 1
            return problem(400, "authorization_pending", "Authorization pending")
        return httpx.Response(
            200,
            json={"status": "connected", "account": "c…@example.com", "licenses_linked": []},
        )


MakeClient = Callable[..., LicenseClient]


@pytest.fixture
def signer() -> Signer:
    return Signer()


@pytest.fixture
def device_clock() -> DeviceClock:
    return DeviceClock()


@pytest.fixture
def fake_server(signer: Signer, device_clock: DeviceClock) -> FakeServer:
    return FakeServer(signer, device_clock)


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def make_client(
    fake_server: FakeServer, device_clock: DeviceClock, signer: Signer, state_dir: Path
) -> Iterator[MakeClient]:
    """A ``LicenseClient`` on the fake server: the signer's key pinned, the device clock,
    ``FINGERPRINT``; each argument can be changed (``public_keys=None`` for none)."""
    made: list[LicenseClient] = []

    def make(**options: Any) -> LicenseClient:
        options.setdefault("public_keys", signer.pinned)
        options.setdefault("state_dir", state_dir)
        options.setdefault("fingerprint", FINGERPRINT)
        options.setdefault("transport", fake_server.transport)
        options.setdefault("clock", device_clock)
        server = options.pop("server", "https://licensing.example.com")
        public_keys = options.pop("public_keys")
        made.append(LicenseClient(server, public_keys, **options))
        return made[-1]

    yield make
    for client in made:
        client.close()


SERVER = "https://licensing.example.com"


@dataclass
class Ran:
    status: int
    stdout: str
    stderr: str


class Terminal(io.StringIO):
    """Standard input that is a terminal (so the command prompts)."""

    def isatty(self) -> bool:
        return True


RunCli = Callable[..., Ran]


@pytest.fixture
def run_cli(
    fake_server: FakeServer,
    device_clock: DeviceClock,
    signer: Signer,
    state_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> RunCli:
    """``licensor-client`` in this process, on the fake server and the device clock, as
    the device of ``make_client`` (``LICENSOR_FINGERPRINT``, ``state_dir``, the signer's
    key pinned). ``run_cli("status", "--json", stdin="…")``; ``server=`` and
    ``public_keys=`` (``None``: no ``--public-keys``) change the defaults."""
    for name in list(os.environ):
        if name.startswith("LICENSOR_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LICENSOR_FINGERPRINT", FINGERPRINT)
    monkeypatch.setattr(
        commands,
        "LicenseClient",
        functools.partial(LicenseClient, transport=fake_server.transport, clock=device_clock),
    )

    def run(
        *args: str,
        server: str | None = SERVER,
        public_keys: str | None = signer.pinned,
        state: Path | None = state_dir,
        stdin: str | io.StringIO = "",
    ) -> Ran:
        argv = list(args)
        if server is not None:
            argv = ["--server", server, *argv]
        if state is not None:
            argv = ["--state-dir", str(state), *argv]
        if public_keys is not None:
            argv = ["--public-keys", public_keys, *argv]
        monkeypatch.setattr(
            sys, "stdin", stdin if isinstance(stdin, io.StringIO) else io.StringIO(stdin)
        )
        capsys.readouterr()
        status = cli.main(argv)
        captured = capsys.readouterr()
        return Ran(status, captured.out, captured.err)

    return run
