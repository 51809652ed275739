"""Seats full, self-service (issue 14, item 12) in the SDK and ``licensor-client``: the
refusal names the license's devices and the ways to free a seat, and the app asks for the
one-time link mailed to the license's owner."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from licensor.clock import Clock
from licensor.db import Database
from licensor.keys import Keyring
from licensor.mail.outbox import bodies
from licensor_client import DeviceLimitReached, LicenseClient, NotActivated, SeatHolder
from tests.accounts.factories import outbox
from tests.cli_support import cli_environment
from tests.cli_support import run as run_script
from tests.client.conftest import CODE, FakeServer, MakeClient, problem
from tests.licensing.factories import MakeCode, activate, device
from tests.store.factories import MakeOrder

NewDevice = Callable[[str], LicenseClient]
ACCEPTED = "If this license has an owner of record, a link that frees one of its seats"


@pytest.fixture
def new_device(server: str, api: httpx.Client, clock: Clock, tmp_path: Path) -> Iterator[NewDevice]:
    keys = ",".join(f"{k}:{v}" for k, v in api.get("/api/v1/signing-keys").json()["keys"].items())
    made: list[LicenseClient] = []

    def make(name: str) -> LicenseClient:
        client = LicenseClient(
            server,
            keys,
            app_id="licensor-tests",
            state_dir=tmp_path / name,
            fingerprint=f"seats-{name.replace(' ', '-')}-0123456789",
            device_name=name,
            clock=clock.now,
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def test_the_refusal_carries_the_devices_and_the_ways_forward(
    new_device: NewDevice, make_order: MakeOrder, server: str
) -> None:
    code = make_order("plus").codes[0]  # three devices, bought in the store
    for name in ("Office PC", "Laptop", "Old PC"):
        new_device(name).activate(code)

    with pytest.raises(DeviceLimitReached) as raised:
        new_device("New PC").activate(code)

    refusal = raised.value
    assert (refusal.devices_used, refusal.devices_max) == (3, 3)
    assert {holder.name for holder in refusal.devices} == {"Office PC", "Laptop", "Old PC"}
    assert all(isinstance(holder, SeatHolder) for holder in refusal.devices)
    assert all(holder.last_seen_at is not None for holder in refusal.devices)
    assert refusal.free_seat_url == f"{server}/account/devices"
    assert refusal.release_link_available is True


def test_the_app_asks_for_the_link_and_the_owner_gets_it(
    new_device: NewDevice,
    make_order: MakeOrder,
    database: Database,
    keyring: Keyring,
) -> None:
    order = make_order("plus")
    code = order.codes[0]
    for name in ("Office PC", "Laptop", "Old PC"):
        new_device(name).activate(code)
    newcomer = new_device("New PC")
    with pytest.raises(DeviceLimitReached):
        newcomer.activate(code)

    said = newcomer.request_seat_release_link(code)

    assert said.startswith(ACCEPTED)
    [mail] = outbox(database, order.email, "seat_release_link")
    text, _ = bodies(keyring, mail)
    assert '"New PC"' in text


def test_without_a_code_or_a_license_the_sdk_says_so(new_device: NewDevice) -> None:
    with pytest.raises(NotActivated):
        new_device("Empty").request_seat_release_link()


def test_an_older_server_names_no_devices(fake_server: FakeServer, make_client: MakeClient) -> None:
    fake_server.routes[("POST", "/api/v1/activations")] = lambda request: problem(
        409, "device_limit_reached"
    )
    with pytest.raises(DeviceLimitReached) as raised:
        make_client().activate(CODE)
    assert raised.value.devices == ()
    assert raised.value.free_seat_url is None
    assert raised.value.release_link_available is False


# --- licensor-client ---------------------------------------------------------------------------


def _client_run(
    server: str, tmp_path: Path, name: str, *args: str
) -> subprocess.CompletedProcess[str]:
    environment = cli_environment(tmp_path / "var")
    environment["LICENSOR_FINGERPRINT"] = f"cli-seats-{name}-0123456789"
    return run_script(
        "licensor-client",
        "--server",
        server,
        "--state-dir",
        str(tmp_path / name),
        *args,
        environment=environment,
        cwd=tmp_path,
    )


def test_activate_at_the_limit_prints_the_devices_and_both_ways_forward(
    server: str, api: httpx.Client, make_order: MakeOrder, tmp_path: Path
) -> None:
    code = make_order("plus").codes[0]
    for name in ("Office PC", "Laptop", "Old PC"):
        activate(api, code, device(name))

    refused = _client_run(server, tmp_path, "new", "activate", code)

    assert refused.returncode == 8
    said = refused.stderr
    assert "The license is in use on:" in said
    for name in ("Office PC (linux), last seen", "Laptop (linux)", "Old PC (linux)"):
        assert name in said
    assert f"signed in to My Account: {server}/account/devices" in said
    assert "licensor-client release-link CODE" in said
    assert "add the activation code under Licenses first" not in said  # it is the order's

    as_json = _client_run(server, tmp_path, "new", "activate", code, "--json")
    error = json.loads(as_json.stdout)
    assert error["error"] == "device_limit_reached"
    assert error["exit_status"] == 8
    assert {each["name"] for each in error["devices"]} == {"Office PC", "Laptop", "Old PC"}
    assert error["free_seat_url"] == f"{server}/account/devices"
    assert error["release_link_available"] is True


def test_release_link_mails_the_owner_and_says_what_to_do_next(
    server: str,
    api: httpx.Client,
    make_order: MakeOrder,
    make_code: MakeCode,
    database: Database,
    tmp_path: Path,
) -> None:
    order = make_order("plus")
    code = order.codes[0]
    for name in ("Office PC", "Laptop", "Old PC"):
        activate(api, code, device(name))

    asked = _client_run(server, tmp_path, "new", "release-link", code)

    assert asked.returncode == 0, asked.stderr
    assert ACCEPTED in asked.stdout
    assert "choose the device to free" in asked.stdout
    assert len(outbox(database, order.email, "seat_release_link")) == 1

    # A code nobody owns gets the same words, and nothing is mailed.
    nobody = make_code("nobody-owns")
    same = _client_run(server, tmp_path, "other", "release-link", nobody)
    assert same.returncode == 0
    assert same.stdout == asked.stdout


def test_a_code_in_no_account_or_order_points_to_adding_it_and_offers_no_link(
    server: str, api: httpx.Client, make_code: MakeCode, tmp_path: Path
) -> None:
    card = make_code("card", devices_max=1)
    activate(api, card, device("Shop PC"))

    refused = _client_run(server, tmp_path, "home", "activate", card)

    assert refused.returncode == 8
    assert "Shop PC (linux), last seen" in refused.stderr
    assert "add the activation code under Licenses first" in refused.stderr
    assert "release-link" not in refused.stderr
