"""The SDK against a real Licensor server on loopback: every operation an app performs,
and every refusal it must turn into its own error.

Each device is a ``LicenseClient`` with a state directory and a fingerprint of its own,
pinning the keys the server publishes (``GET /api/v1/signing-keys``), on the server's
clock (so a license file the server has just issued is never "from the future").
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from licensor.clock import Clock
from licensor.config import Settings
from licensor.licensing import formats
from licensor.models import Activation
from licensor_client import (
    BackupLocked,
    CodeBlocked,
    CodeMalformed,
    CodeUnknown,
    Connected,
    DeviceCodeExpired,
    DeviceLimitReached,
    InvalidCredentials,
    LicenseClient,
    LicenseExpired,
    NetworkError,
    PublicKeys,
    RateLimited,
    check_license_file,
)
from tests.accounts.factories import Customer, MakeAccount, OpenBrowser, signed_in
from tests.conftest import OpenUnit
from tests.licensing.factories import BlockCode, MakeCode
from tests.limits import StartLimitedServer
from tests.store.factories import MakeSubscription
from tests.support import closed_server

PASSPHRASE = "blue heron at dawn"

NewDevice = Callable[..., LicenseClient]


@pytest.fixture
def published_keys(api: httpx.Client) -> str:
    """The server's public keys in the form an app pins (``id:base64url,...``)."""
    response = api.get("/api/v1/signing-keys")
    assert response.status_code == 200, response.text
    return ",".join(f"{key_id}:{key}" for key_id, key in response.json()["keys"].items())


@pytest.fixture
def new_device(
    server: str, published_keys: str, clock: Clock, tmp_path: Path
) -> Iterator[NewDevice]:
    """``new_device("laptop")``: an app on a machine of its own (same name, same machine)."""
    made: list[LicenseClient] = []
    fingerprints: dict[str, str] = {}

    def make(
        name: str, *, server_url: str | None = None, state: str | None = None
    ) -> LicenseClient:
        fingerprint = fingerprints.setdefault(name, f"sdk-{name}-{secrets.token_hex(8)}")
        client = LicenseClient(
            server_url or server,
            published_keys,
            app_id="licensor-tests",
            state_dir=tmp_path / (state or name),
            fingerprint=fingerprint,
            device_name=name.title(),
            clock=clock.now,
            timeout=10,
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def seats(open_unit: OpenUnit) -> Callable[[str], tuple[int, int]]:
    """(live seats, seat rows ever) of a license, read from the server's database."""

    def count(license_key: str) -> tuple[int, int]:
        with open_unit() as unit:
            license = unit.licenses.find_license(license_key)
            rows = select(func.count()).select_from(Activation)
            rows = rows.where(Activation.license_id == license.id)
            live = unit.session.scalar(rows.where(Activation.released_at.is_(None)))
            ever = unit.session.scalar(rows)
        return int(live or 0), int(ever or 0)

    return count


def licenses_page(open_browser: OpenBrowser, customer: Customer) -> str:
    page = signed_in(open_browser, customer).get("/account/licenses")
    assert page.status_code == 200, page.text
    return page.text


# --- activation and checking --------------------------------------------------------------


def test_activation_gives_a_license_whose_key_and_file_verify_with_the_published_keys(
    new_device: NewDevice, make_code: MakeCode, published_keys: str, clock: Clock
) -> None:
    code = make_code("plus", devices_max=3, term_days=365)
    laptop = new_device("laptop")

    info = laptop.activate(code)

    assert formats.normalize_license_key(info.license_key) == info.license_key  # check value
    assert (info.plan, info.plan_name, info.status, info.valid) == ("plus", "Plus", "active", True)
    assert (info.devices_used, info.devices_max, info.source) == (1, 3, "online")
    assert info.expires_at is not None
    assert info.expires_at - clock.now() > timedelta(days=364)
    assert info.has_code

    stored = laptop.store.load()
    assert stored is not None
    checked = check_license_file(
        PublicKeys.parse(published_keys),
        stored.license_file,
        fingerprint=laptop.fingerprint,
        now=clock.now(),
    )
    assert (checked.license_key, checked.public_id) == (info.license_key, info.public_id)


def test_status_online_and_details_agree_with_the_server(
    new_device: NewDevice, make_code: MakeCode, api: httpx.Client
) -> None:
    laptop = new_device("laptop")
    activated = laptop.activate(make_code())
    new_device("desktop").activate(make_code())  # another license: not counted

    status = laptop.status()
    assert (status.valid, status.status, status.source) == (True, "active", "online")
    assert status.devices_used == 1
    assert status.public_id == activated.public_id

    details = laptop.details()
    assert details.grouped_license_key.replace(" ", "") == activated.license_key
    assert details.source == "stored"

    served = api.post(
        "/api/v1/licenses/validate",
        json={"license_key": activated.license_key, "fingerprint": laptop.fingerprint},
    ).json()
    assert (served["public_id"], served["devices_used"]) == (activated.public_id, 1)


def test_status_falls_back_offline_until_the_file_runs_out(
    new_device: NewDevice, make_code: MakeCode, clock: Clock, settings: Settings
) -> None:
    new_device("laptop").activate(make_code())
    away = new_device("laptop", server_url=closed_server())

    clock.advance(timedelta(days=settings.offline_days) - timedelta(minutes=1))
    offline = away.status()
    assert (offline.valid, offline.source) == (True, "offline")

    clock.advance(timedelta(minutes=2))
    with pytest.raises(NetworkError):
        away.status()
    assert new_device("laptop").status().valid  # back online: a fresh file


def test_keys_pinned_on_first_use_are_the_published_ones(
    server: str, make_code: MakeCode, published_keys: str, clock: Clock, tmp_path: Path
) -> None:
    with LicenseClient(
        server, state_dir=tmp_path / "tofu", fingerprint="sdk-tofu-0123456789", clock=clock.now
    ) as client:
        assert client.activate(make_code()).valid
    assert (tmp_path / "tofu" / "signing-keys").read_text().strip() == published_keys


# --- account: recover, connect ------------------------------------------------------------


def test_recover_joins_the_license_and_its_code_to_the_account(
    new_device: NewDevice,
    make_code: MakeCode,
    make_account: MakeAccount,
    form_browser: OpenBrowser,
) -> None:
    code = make_code()
    laptop = new_device("laptop")
    laptop.activate(code)
    customer = make_account()
    assert code not in licenses_page(form_browser, customer)

    linked = laptop.recover(customer.email, customer.password)

    assert linked.status == "linked"
    assert linked.public_id == laptop.details().public_id
    assert linked.licenses_url.endswith("/account/licenses")
    assert code in licenses_page(form_browser, customer)
    assert laptop.recover(customer.email, customer.password).status == "already_linked"


def test_recover_with_a_wrong_password_is_invalid_credentials(
    new_device: NewDevice, make_code: MakeCode, make_account: MakeAccount
) -> None:
    laptop = new_device("laptop")
    laptop.activate(make_code())
    customer = make_account()
    with pytest.raises(InvalidCredentials) as raised:
        laptop.recover(customer.email, "not the password")
    assert raised.value.status == 401
    with pytest.raises(InvalidCredentials):
        laptop.recover("nobody-" + customer.email, customer.password)


def test_a_device_connects_by_the_code_the_customer_enters_in_my_account(
    new_device: NewDevice,
    make_code: MakeCode,
    make_account: MakeAccount,
    form_browser: OpenBrowser,
) -> None:
    code = make_code()
    laptop = new_device("laptop")
    public_id = laptop.activate(code).public_id
    customer = make_account()

    connect = laptop.connect_start()
    assert connect.verification_uri.endswith("/account/connect")
    assert laptop.connect_poll(connect) is None  # not entered yet

    browser = signed_in(form_browser, customer)
    token = browser.csrf_token("/account/connect")
    entered = browser.post("/account/connect", {"code": connect.user_code}, token=token)
    assert entered.status_code == 200, entered.text

    naps: list[float] = []
    connected = laptop.connect_wait(connect, sleep=naps.append)
    assert naps == []  # entered before the wait: the first poll says so
    assert connected.licenses_linked == (public_id,)
    assert connected.account.endswith("@example.com")
    assert connected.account != customer.email  # masked
    assert code in browser.get("/account/licenses").text


def test_the_fingerprint_alone_takes_no_license_and_the_sdk_proves_its_own(
    new_device: NewDevice,
    make_code: MakeCode,
    make_account: MakeAccount,
    form_browser: OpenBrowser,
    api: httpx.Client,
) -> None:
    code = make_code()
    victim_laptop = new_device("victim")
    public_id = victim_laptop.activate(code).public_id
    attacker, victim = make_account(), make_account()

    # The attacker knows the fingerprint (it is sent with every validation), not the key.
    started = api.post(
        "/api/v1/device/authorize",
        json={"fingerprint": victim_laptop.fingerprint, "name": "Attacker", "platform": "x"},
    )
    assert started.status_code == 200, started.text
    attacker_browser = signed_in(form_browser, attacker)
    token = attacker_browser.csrf_token("/account/connect")
    entered = attacker_browser.post(
        "/account/connect", {"code": started.json()["user_code"]}, token=token
    )
    assert entered.status_code == 200, entered.text
    taken = api.post("/api/v1/device/token", json={"device_code": started.json()["device_code"]})
    assert taken.json()["licenses_linked"] == []
    assert code not in attacker_browser.get("/account/licenses").text

    connect = victim_laptop.connect_start()  # the SDK sends the key it holds
    victim_browser = signed_in(form_browser, victim)
    token = victim_browser.csrf_token("/account/connect")
    assert victim_browser.post("/account/connect", {"code": connect.user_code}, token=token)
    connected = victim_laptop.connect_wait(connect, sleep=lambda _: None)

    assert connected.licenses_linked == (public_id,)
    assert code in victim_browser.get("/account/licenses").text


def test_a_new_device_connected_to_a_subscriber_gets_the_subscription_license(
    new_device: NewDevice,
    make_account: MakeAccount,
    make_subscription: MakeSubscription,
    make_code: MakeCode,
    form_browser: OpenBrowser,
) -> None:
    customer = make_account()
    make_subscription(customer.id, "premium")
    browser = signed_in(form_browser, customer)

    def connect(device: LicenseClient) -> Connected:
        started = device.connect_start()
        token = browser.csrf_token("/account/connect")
        entered = browser.post("/account/connect", {"code": started.user_code}, token=token)
        assert entered.status_code == 200, entered.text
        return device.connect_wait(started, sleep=lambda _: None)

    fresh = new_device("fresh")
    connected = connect(fresh)
    assert connected.license is not None
    assert connected.license.plan == "premium"
    assert fresh.status().valid  # kept: the device is licensed, no code typed

    licensed = new_device("licensed")
    licensed.activate(make_code("plus"))
    assert connect(licensed).license is None  # a device with a license keeps its own
    assert licensed.details().plan == "plus"


def test_waiting_on_a_code_nobody_enters_ends_when_it_expires(
    new_device: NewDevice, clock: Clock
) -> None:
    laptop = new_device("laptop")
    connect = laptop.connect_start()
    naps: list[float] = []

    def nap(seconds: float) -> None:
        naps.append(seconds)
        clock.advance(timedelta(seconds=connect.expires_in / 2))

    with pytest.raises(DeviceCodeExpired):
        laptop.connect_wait(connect, sleep=nap)
    assert naps == [connect.interval] * 2


# --- moving: release, backup ----------------------------------------------------------------


def test_release_frees_the_seat_for_another_device(
    new_device: NewDevice, make_code: MakeCode, seats: Callable[[str], tuple[int, int]]
) -> None:
    code = make_code("solo", devices_max=1)
    old, new = new_device("old"), new_device("new")
    license_key = old.activate(code).license_key
    with pytest.raises(DeviceLimitReached) as raised:
        new.activate(code)
    assert (raised.value.status, raised.value.code) == (409, "device_limit_reached")

    released = old.release()

    assert (released.devices_used, released.devices_max) == (0, 1)
    assert not old.has_license()
    assert seats(license_key)[0] == 0
    assert new.activate(code).devices_used == 1
    assert seats(license_key)[0] == 1


def test_a_backup_restored_on_the_same_machine_keeps_its_seat(
    new_device: NewDevice,
    make_code: MakeCode,
    seats: Callable[[str], tuple[int, int]],
    tmp_path: Path,
) -> None:
    laptop = new_device("laptop")
    activated = laptop.activate(make_code())
    backup = laptop.export_backup(tmp_path / "license.backup")
    before = seats(activated.license_key)
    assert before == (1, 1)

    shutil.rmtree(laptop.state_dir)  # the OS is reinstalled
    restored = new_device("laptop", state="reinstalled").import_backup(backup)

    assert (restored.valid, restored.source, restored.has_code) == (True, "online", True)
    assert restored.license_key == activated.license_key
    assert restored.devices_used == activated.devices_used == 1
    assert seats(activated.license_key) == before  # the same seat, not a new one


def test_a_backup_with_a_passphrase_activates_on_another_machine(
    new_device: NewDevice,
    make_code: MakeCode,
    seats: Callable[[str], tuple[int, int]],
    tmp_path: Path,
) -> None:
    laptop = new_device("laptop")
    activated = laptop.activate(make_code())
    backup = laptop.export_backup(tmp_path / "license.backup", PASSPHRASE)
    desktop = new_device("desktop")

    with pytest.raises(BackupLocked):
        desktop.import_backup(backup, "blue heron at dusk")
    with pytest.raises(BackupLocked):
        desktop.import_backup(backup)
    assert seats(activated.license_key) == (1, 1)

    moved = desktop.import_backup(backup, PASSPHRASE)
    assert (moved.valid, moved.license_key, moved.devices_used) == (
        True,
        activated.license_key,
        2,
    )
    assert seats(activated.license_key) == (2, 2)
    assert desktop.status().valid


def test_a_backup_restored_without_the_server_verifies_offline(
    new_device: NewDevice, make_code: MakeCode, tmp_path: Path
) -> None:
    laptop = new_device("laptop")
    activated = laptop.activate(make_code())
    backup = laptop.export_backup(tmp_path / "license.backup")
    laptop.forget()

    away = new_device("laptop", server_url=closed_server(), state="reinstalled")
    restored = away.import_backup(backup)
    assert (restored.valid, restored.source) == (True, "offline")
    assert restored.license_key == activated.license_key

    back = new_device("laptop", state="reinstalled").status()  # the server is back
    assert (back.valid, back.source, back.devices_used) == (True, "online", 1)


# --- refusals -------------------------------------------------------------------------------


def test_a_mistyped_code_is_code_malformed(new_device: NewDevice, make_code: MakeCode) -> None:
    code = make_code()
    typo = ("A" if code[0] != "A" else "B") + code[1:]
    with pytest.raises(CodeMalformed) as raised:
        new_device("laptop").activate(typo)
    assert (raised.value.status, raised.value.code) == (422, "code_malformed")


def test_a_code_nobody_issued_is_code_unknown(new_device: NewDevice, make_code: MakeCode) -> None:
    make_code()
    with pytest.raises(CodeUnknown) as raised:
        new_device("laptop").activate(formats.format_code(formats.generate_code()))
    assert raised.value.status == 404


def test_a_blocked_code_is_code_blocked(
    new_device: NewDevice, make_code: MakeCode, block_code: BlockCode
) -> None:
    code = make_code()
    block_code(code, "refund")
    laptop = new_device("laptop")
    with pytest.raises(CodeBlocked) as raised:
        laptop.activate(code)
    assert raised.value.status == 403
    assert not laptop.has_license()


def test_a_license_blocked_after_activation_is_not_valid(
    new_device: NewDevice, make_code: MakeCode, block_code: BlockCode
) -> None:
    code = make_code()
    laptop = new_device("laptop")
    laptop.activate(code)
    block_code(code, "leaked")
    status = laptop.status()
    assert (status.valid, status.status) == (False, "blocked")


def test_one_device_too_many_is_device_limit_reached(
    new_device: NewDevice, make_code: MakeCode
) -> None:
    code = make_code("duo", devices_max=2)
    new_device("one").activate(code)
    assert new_device("two").activate(code).devices_used == 2
    with pytest.raises(DeviceLimitReached):
        new_device("three").activate(code)
    assert new_device("one").activate(code).devices_used == 2  # its own seat back


def test_an_expired_license_says_so(
    new_device: NewDevice, make_code: MakeCode, clock: Clock
) -> None:
    code = make_code("month", term_days=30)
    laptop = new_device("laptop")
    laptop.activate(code)

    clock.advance(timedelta(days=31))

    status = laptop.status()
    assert (status.valid, status.status, status.source) == (False, "expired", "online")
    with pytest.raises(LicenseExpired) as raised:
        new_device("desktop").activate(code)
    assert raised.value.status == 403


def test_too_many_attempts_are_rate_limited_with_a_retry_after(
    limited_server: StartLimitedServer,
    make_code: MakeCode,
    published_keys: str,
    tmp_path: Path,
) -> None:
    codes = [make_code() for _ in range(3)]
    with limited_server(activation_rate="2/minute") as limited:
        options: dict[str, Any] = {"state_dir": tmp_path, "fingerprint": "sdk-limited-0123456789"}
        with LicenseClient(limited.url, published_keys, **options) as client:
            for code in codes[:2]:
                client.activate(code)
            with pytest.raises(RateLimited) as raised:
                client.activate(codes[2])
    assert raised.value.status == 429
    assert raised.value.retry_after is not None
    assert 0 < raised.value.retry_after <= 60
