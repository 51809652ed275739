"""Connecting a device with a short code (F10): the subscription license the server sends
is kept unless a license still counts here, and waiting ends when the code expires."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest

from licensor_client import DeviceCodeExpired
from tests.client.conftest import (
    CODE,
    FINGERPRINT,
    LICENSE_KEY,
    OTHER_FINGERPRINT,
    DeviceClock,
    FakeServer,
    MakeClient,
    RunCli,
    problem,
)

SUBSCRIPTION_KEY = "7E2B9C4D1A3F45E68B0C2D4E6F8A1B3C"


def send_the_subscription_license(fake_server: FakeServer) -> None:
    """The token answer of an account with a subscription seat free for this device."""
    fake_server.pending_polls = 0

    def token(request: httpx.Request) -> httpx.Response:
        license_file = fake_server.license_file(FINGERPRINT, license_key=SUBSCRIPTION_KEY)
        return httpx.Response(
            200,
            json={
                "status": "connected",
                "account": "c…@example.com",
                "licenses_linked": [],
                "license": {"devices_used": 1, "license_file": license_file},
            },
        )

    fake_server.routes["POST", "/api/v1/device/token"] = token


def test_a_device_without_a_license_keeps_the_subscription_license(
    make_client: MakeClient, fake_server: FakeServer
) -> None:
    send_the_subscription_license(fake_server)
    client = make_client()
    connected = client.connect_poll(client.connect_start())
    assert connected is not None
    assert connected.license is not None
    assert client.details().license_key == SUBSCRIPTION_KEY


def test_a_device_whose_license_no_longer_counts_keeps_the_subscription_license(
    make_client: MakeClient, fake_server: FakeServer
) -> None:
    client = make_client()
    client.activate(CODE)
    fake_server.status = "released"  # removed in My Account → Devices
    client.status()
    send_the_subscription_license(fake_server)
    fake_server.status, fake_server.license_key = "active", SUBSCRIPTION_KEY  # checked next

    connected = client.connect_poll(client.connect_start())

    assert connected is not None
    assert connected.license is not None
    assert client.status().valid
    assert client.details().license_key == SUBSCRIPTION_KEY


def test_a_device_with_a_valid_license_keeps_its_own(
    make_client: MakeClient, fake_server: FakeServer
) -> None:
    client = make_client()
    original = client.activate(CODE).license_key
    send_the_subscription_license(fake_server)

    connected = client.connect_poll(client.connect_start())

    assert connected is not None
    assert connected.license is None
    assert client.details().license_key == original


def test_the_cli_prints_the_license_received_on_connecting(
    run_cli: RunCli, fake_server: FakeServer
) -> None:
    send_the_subscription_license(fake_server)
    ran = run_cli("connect")
    assert ran.status == 0, ran.stderr
    assert "Licensed with your subscription." in ran.stdout
    assert "License key: 7E2B 9C4D" in ran.stdout

    assert run_cli("release").status == 0
    ran = run_cli("connect", "--json")
    assert ran.status == 0, ran.stderr
    shown = json.loads(ran.stdout)
    assert shown["license"]["license_key"] == SUBSCRIPTION_KEY
    assert shown["license"]["valid"] is True


def test_waiting_stops_when_the_code_expires_even_if_the_server_never_says_so(
    make_client: MakeClient, fake_server: FakeServer, device_clock: DeviceClock
) -> None:
    fake_server.pending_polls = 10**6
    client = make_client()
    connect = client.connect_start()
    naps: list[float] = []

    def nap(seconds: float) -> None:
        naps.append(seconds)
        device_clock.advance(timedelta(seconds=seconds))

    with pytest.raises(DeviceCodeExpired):
        client.connect_wait(connect, sleep=nap)
    assert len(naps) == connect.expires_in // connect.interval


def test_waiting_rides_out_a_network_failure_until_the_code_expires(
    make_client: MakeClient, fake_server: FakeServer, device_clock: DeviceClock
) -> None:
    client = make_client()
    connect = client.connect_start()
    failures = iter(
        [
            httpx.ConnectError("Wi-Fi dropped"),
            httpx.ReadTimeout("timed out"),
        ]
    )
    answer = fake_server.routes["POST", "/api/v1/device/token"]

    def flaky(request: httpx.Request) -> httpx.Response:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return answer(request)

    fake_server.routes["POST", "/api/v1/device/token"] = flaky
    fake_server.pending_polls = 1
    naps: list[float] = []
    connected = client.connect_wait(connect, sleep=naps.append)
    assert connected.account == "c…@example.com"
    assert naps == [connect.interval] * 3  # two failures and one "not yet"

    # A network that never comes back: the wait still ends with the code.
    fake_server.routes["POST", "/api/v1/device/token"] = lambda request: problem(502, "bad_gateway")
    connect = client.connect_start()
    with pytest.raises(DeviceCodeExpired):
        client.connect_wait(
            connect, sleep=lambda seconds: device_clock.advance(timedelta(seconds=seconds))
        )


def test_connecting_sends_the_license_key_this_device_holds_as_its_proof(
    make_client: MakeClient, fake_server: FakeServer
) -> None:
    client = make_client()
    client.connect_start()
    client.activate(CODE)
    client.connect_start()

    without, holding = fake_server.sent("/api/v1/device/authorize")
    assert without["license_keys"] == []  # nothing held, nothing proven
    assert holding["license_keys"] == [LICENSE_KEY]
    assert holding["fingerprint"] == FINGERPRINT


def test_a_license_file_of_another_device_is_no_proof_to_send(
    make_client: MakeClient, fake_server: FakeServer
) -> None:
    make_client(fingerprint=OTHER_FINGERPRINT).activate(CODE)  # the state, copied here

    make_client().connect_start()

    (sent,) = fake_server.sent("/api/v1/device/authorize")
    assert sent["license_keys"] == []
