"""Which servers and keys the SDK trusts: plain http only on this machine unless asked,
never keys fetched over another machine's plain http, and a clear error for malformed
keys, from the server or from the pinned file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from licensor_client import (
    InsecureServer,
    LicensorClientError,
    PinnedKeysInvalid,
    ServerError,
)
from tests.client.conftest import CODE, FakeServer, MakeClient, RunCli, Signer

# --- plain http -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "server",
    [
        "http://127.0.0.1:8000",
        "http://127.45.6.7",
        "http://[::1]:8000",
        "http://localhost:8000",
        "http://LOCALHOST",
        "https://licensing.example.com",
    ],
)
def test_https_and_loopback_http_are_accepted(make_client: MakeClient, server: str) -> None:
    assert make_client(server=server).activate(CODE).valid


@pytest.mark.parametrize(
    "server",
    ["http://licensing.example.com", "http://192.168.1.20:8000", "http://[fe80::1]:8000"],
)
def test_plain_http_to_another_machine_is_refused_unless_allowed(
    make_client: MakeClient, fake_server: FakeServer, server: str
) -> None:
    with pytest.raises(InsecureServer):
        make_client(server=server)
    assert fake_server.requests == []

    allowed = make_client(server=server, allow_insecure_http=True)  # the vendor's keys pinned
    assert allowed.activate(CODE).valid


@pytest.mark.parametrize("server", ["ftp://licensing.example.com", "licensing.example.com"])
def test_a_server_that_is_not_a_web_address_is_refused(
    make_client: MakeClient, server: str
) -> None:
    with pytest.raises(ValueError, match="https://"):
        make_client(server=server)


def test_keys_are_never_pinned_on_first_use_over_another_machines_plain_http(
    make_client: MakeClient, fake_server: FakeServer, state_dir: Path
) -> None:
    client = make_client(
        server="http://licensing.example.com", allow_insecure_http=True, public_keys=None
    )
    with pytest.raises(InsecureServer, match="--public-keys"):
        client.activate(CODE)
    assert fake_server.sent("/api/v1/signing-keys") == []
    assert not (state_dir / "signing-keys").exists()


def test_the_cli_refuses_plain_http_unless_told(run_cli: RunCli, monkeypatch: Any) -> None:
    refused = run_cli("activate", CODE, server="http://licensing.example.com")
    assert refused.status == 2
    assert "plain http" in refused.stderr
    assert "--insecure-http" in refused.stderr

    assert (
        run_cli("activate", CODE, "--insecure-http", server="http://licensing.example.com").status
        == 0
    )
    monkeypatch.setenv("LICENSOR_ALLOW_INSECURE_HTTP", "1")
    assert run_cli("status", server="http://licensing.example.com").status == 0


# --- keys from the server -----------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        {},
        {"keys": {}},
        {"keys": []},
        {"keys": "k1:abc"},
        {"keys": {"k1": 5}},
        {"keys": {"k1": "not base64url!"}},
        {"keys": {"k1": "AAAA"}},  # base64url, but not 32 bytes
        {"keys": {"k1:x": "AAAA"}},  # an id that would not survive the pinned form
    ],
    ids=["none", "empty", "list", "text", "number", "not-base64", "short", "bad-id"],
)
def test_a_malformed_signing_keys_answer_is_a_bad_answer_and_nothing_is_pinned(
    make_client: MakeClient, fake_server: FakeServer, state_dir: Path, answer: dict[str, Any]
) -> None:
    fake_server.routes["GET", "/api/v1/signing-keys"] = lambda request: httpx.Response(
        200, json=answer
    )
    with pytest.raises(ServerError) as raised:
        make_client(public_keys=None).activate(CODE)
    assert raised.value.code == "bad_answer"
    assert not (state_dir / "signing-keys").exists()
    assert fake_server.sent("/api/v1/activations") == []


# --- keys pinned on first use ---------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [b"", b"\n", b"k1", b"k1:%%%", b"\xff\xfe\x00garbage", b"k1:AAAA"],
    ids=["empty", "blank", "no-key", "not-base64", "binary", "short"],
)
def test_a_damaged_pinned_keys_file_is_a_clear_error(
    make_client: MakeClient, state_dir: Path, content: bytes
) -> None:
    state_dir.mkdir()
    (state_dir / "signing-keys").write_bytes(content)
    with pytest.raises(PinnedKeysInvalid, match="delete that file") as raised:
        make_client(public_keys=None).activate(CODE)
    assert isinstance(raised.value, LicensorClientError)
    assert str(state_dir / "signing-keys") in str(raised.value)


def test_deleting_the_pinned_keys_pins_the_servers_keys_again(
    make_client: MakeClient, fake_server: FakeServer, state_dir: Path
) -> None:
    """Key rotation for a trust-on-first-use install (docs/client.md)."""
    make_client(public_keys=None).activate(CODE)
    fake_server.signer = Signer(key_id="k2")  # the vendor rotated its key
    (state_dir / "signing-keys").unlink()

    assert make_client(public_keys=None).activate(CODE).valid
    assert (state_dir / "signing-keys").read_text().startswith("k2:")


def test_the_cli_reports_a_damaged_pin_and_bad_keys_without_a_traceback(
    run_cli: RunCli, state_dir: Path
) -> None:
    state_dir.mkdir()
    (state_dir / "signing-keys").write_text("k1:%%%\n")
    damaged = run_cli("activate", CODE, public_keys=None)
    assert damaged.status == 1
    assert "signing-keys" in damaged.stderr
    assert "Traceback" not in damaged.stderr

    for keys in ("k1:%%%", "k1:AAAA", "no-colon", ":AAAA"):
        bad = run_cli("activate", CODE, public_keys=keys)
        assert bad.status == 2, keys
        assert "Traceback" not in bad.stderr
