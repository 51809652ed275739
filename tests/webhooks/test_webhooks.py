"""Webhooks as a vendor's receiver sees them: a real HTTP server on 127.0.0.1, each
delivery verified with the ``standardwebhooks`` library, retried with the same
``webhook-id`` until the receiver takes it; and as the vendor sets them up (the CLI)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from licensor.clock import Clock
from licensor.config import Settings
from licensor.db import Database
from licensor.errors import WebhookUrlRefused
from licensor.keys import Keyring
from licensor.leases import backoff
from licensor.models import Account, Device
from licensor.worker import build_worker
from tests.accounts.factories import MakeAccount
from tests.cli_support import cli_environment, run
from tests.conftest import OpenUnit
from tests.licensing.factories import MakeCode, activate, device
from tests.support import audit_events
from tests.support.factories import SignInStaff
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.usefixtures("server")

Deliver = Callable[[], None]


@pytest.fixture
def allow_private(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """The receiver is on loopback: allowed, as ``LICENSOR_WEBHOOKS_ALLOW_PRIVATE=on``."""
    monkeypatch.setattr(settings, "webhooks_allow_private", True)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    yield made
    made.stop()


@pytest.fixture
def deliver(database: Database, keyring: Keyring, settings: Settings, clock: Clock) -> Deliver:
    """``licensor worker --once``: what is due is delivered, or its attempt recorded."""
    worker = build_worker(database, keyring, settings, clock.now)

    def run() -> None:
        worker.run_until_idle()

    return run


def endpoint(open_unit: OpenUnit, url: str, *events: str) -> str:
    with open_unit(actor="cli:vendor") as unit:
        _, secret = unit.webhooks.create(url, events)
    return secret


@pytest.mark.usefixtures("allow_private")
def test_a_receiver_verifies_each_event_with_the_library(
    api: httpx.Client,
    open_unit: OpenUnit,
    make_code: MakeCode,
    receiver: Receiver,
    deliver: Deliver,
) -> None:
    receiver.start()
    secret = endpoint(open_unit, receiver.url)
    code = make_code("plus")
    machine = device("Studio PC")
    answer = activate(api, code, machine)
    released = api.post(
        "/api/v1/activations/release",
        json={"license_key": answer["license_key"], "fingerprint": machine["fingerprint"]},
    )
    assert released.status_code == 200, released.text

    deliver()

    got = [Webhook(secret).verify(item.body, item.headers) for item in receiver.accepted()]
    assert [event["type"] for event in got] == ["license.activated", "license.released"]
    assert got[0]["data"] == {
        "public_id": answer["public_id"],
        "plan": "plus",
        "device": "Studio PC",
    }
    assert got[0]["timestamp"].endswith("Z")
    for item in receiver.received:  # the vendor's systems never see what unlocks the product
        assert answer["license_key"].encode() not in item.body
        assert code.replace("-", "").encode() not in item.body.replace(b"-", b"")
    with pytest.raises(WebhookVerificationError, match="signature"):
        Webhook("whsec_" + "A" * 32).verify(receiver.received[0].body, receiver.received[0].headers)


@pytest.mark.usefixtures("allow_private")
def test_a_receiver_away_for_a_while_gets_every_event_once_back_with_the_same_ids(
    api: httpx.Client,
    open_unit: OpenUnit,
    make_code: MakeCode,
    receiver: Receiver,
    deliver: Deliver,
    clock: Clock,
) -> None:
    secret = endpoint(open_unit, receiver.url, "license.activated", "code.blocked")
    codes = [make_code("plus") for _ in range(3)]
    for code in codes:
        activate(api, code, device())
    with open_unit() as unit:
        unit.codes.block_code(codes[0], reason="chargeback", actor="admin@example.com")

    deliver()  # nothing listens: each attempt is refused, and recorded
    with open_unit() as unit:
        waiting = unit.webhooks.deliveries()
        assert len(waiting) == 4
        assert all(item.attempts == 1 and item.delivered_at is None for item in waiting)
        assert all("ConnectError" in (item.last_error or "") for item in waiting)

    receiver.start()
    receiver.status = 503  # back, but not well yet
    clock.advance(backoff(1) + timedelta(seconds=1))
    deliver()
    first_ids = sorted(item.headers["webhook-id"] for item in receiver.received)
    assert len(first_ids) == 4

    receiver.status = 204
    clock.advance(backoff(2) + timedelta(seconds=1))
    deliver()
    clock.advance(timedelta(hours=2))
    deliver()  # delivered is delivered: nothing comes twice

    accepted = receiver.accepted()
    assert sorted(item.headers["webhook-id"] for item in accepted) == first_ids
    types = sorted(Webhook(secret).verify(item.body, item.headers)["type"] for item in accepted)
    assert types == ["code.blocked", *["license.activated"] * 3]
    with open_unit() as unit:
        done = unit.webhooks.deliveries()
        assert all(item.delivered_at and item.last_status == 204 for item in done)
        assert {item.attempts for item in done} == {3}


@pytest.mark.usefixtures("allow_private")
def test_the_event_of_a_rolled_back_change_is_never_sent(
    open_unit: OpenUnit, make_code: MakeCode, receiver: Receiver, deliver: Deliver
) -> None:
    receiver.start()
    endpoint(open_unit, receiver.url)
    kept, undone = make_code("plus"), make_code("plus")

    def block_then_fail() -> None:
        with open_unit() as unit:
            unit.codes.block_code(undone, reason="a mistake", actor="admin@example.com")
            raise RuntimeError("the command failed after the block")

    with pytest.raises(RuntimeError):
        block_then_fail()
    with open_unit() as unit:
        unit.codes.block_code(kept, reason="chargeback", actor="admin@example.com")

    deliver()

    reasons = [json.loads(item.body)["data"]["reason"] for item in receiver.accepted()]
    assert reasons == ["chargeback"]


def test_a_private_or_loopback_url_is_refused_without_the_setting(
    open_unit: OpenUnit, receiver: Receiver
) -> None:
    for url in (
        receiver.url,
        "http://10.0.0.7/hooks",
        "http://169.254.169.254/latest/meta-data",  # a cloud's metadata service
        "http://[::1]:8080/",
        "http://[::ffff:127.0.0.1]/",
        "file:///etc/passwd",
        "gopher://example.com/",
    ):
        with pytest.raises(WebhookUrlRefused), open_unit() as unit:
            unit.webhooks.create(url)


def test_a_name_that_turns_private_after_creation_is_not_sent_to(
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    open_unit: OpenUnit,
    block_code: Callable[..., None],
    make_code: MakeCode,
    receiver: Receiver,
    deliver: Deliver,
) -> None:
    """Resolved again at delivery (DNS rebinding): allowed when made, refused when sent."""
    receiver.start()
    monkeypatch.setattr(settings, "webhooks_allow_private", True)
    endpoint(open_unit, receiver.url)
    monkeypatch.setattr(settings, "webhooks_allow_private", False)
    block_code(make_code("plus"))

    deliver()

    assert receiver.received == []
    with open_unit() as unit:
        (delivery,) = unit.webhooks.deliveries()
        assert "WebhookUrlRefused" in (delivery.last_error or "")


def test_the_cli_prints_the_secret_once_and_refuses_loopback_unless_allowed(
    settings: Settings, tmp_path: Path, receiver: Receiver, open_unit: OpenUnit
) -> None:
    environment = cli_environment(settings.var_dir, settings.database_url)
    refused = run(
        "licensor",
        "webhooks",
        "create",
        "--url",
        receiver.url,
        environment=environment,
        cwd=tmp_path,
    )
    assert refused.returncode == 1
    assert "webhook_url_refused" in refused.stderr
    assert "LICENSOR_WEBHOOKS_ALLOW_PRIVATE" in refused.stderr

    environment["LICENSOR_WEBHOOKS_ALLOW_PRIVATE"] = "on"
    made = run(
        "licensor",
        "webhooks",
        "create",
        "--url",
        receiver.url,
        "--event",
        "order.paid",
        environment=environment,
        cwd=tmp_path,
    )
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    assert secret.startswith("whsec_")
    assert made.stdout == secret + "\n"
    Webhook(secret)  # a secret the library takes
    with open_unit() as unit:  # kept encrypted: the receiver's copy is the only clear one
        (made_endpoint,) = unit.webhooks.endpoints()
        assert made_endpoint.events == ["order.paid"]
        assert secret.encode() not in made_endpoint.secret_ciphertext
        assert unit.webhooks.secret(made_endpoint) == secret


@pytest.mark.usefixtures("allow_private")
def test_an_admin_sees_the_deliveries_in_the_console_and_resends_one_with_the_same_id(
    open_unit: OpenUnit,
    block_code: Callable[..., None],
    make_code: MakeCode,
    receiver: Receiver,
    deliver: Deliver,
    sign_in_staff: SignInStaff,
    database: Database,
) -> None:
    receiver.start()
    secret = endpoint(open_unit, receiver.url)
    block_code(make_code("plus"), "chargeback")
    receiver.status = 500
    deliver()
    message_id = receiver.received[0].headers["webhook-id"]
    admin, _ = sign_in_staff("admin")
    agent, _ = sign_in_staff("agent")

    page = admin.get("/console/webhooks")
    assert page.status_code == 200, page.text
    assert receiver.url in page.text
    assert message_id in page.text
    assert "NotDelivered: answered 500" in page.text
    assert agent.get("/console/webhooks").status_code == 403  # admins only
    with open_unit() as unit:
        (delivery,) = unit.webhooks.deliveries()

    receiver.status = 204
    resent = admin.post(f"/console/webhooks/deliveries/{delivery.id}/resend")
    assert resent.status_code in (200, 303), resent.text
    deliver()  # at once: a resend waits for no backoff

    last = receiver.received[-1]
    assert last.headers["webhook-id"] == message_id
    assert Webhook(secret).verify(last.body, last.headers)["type"] == "code.blocked"
    (audited,) = audit_events(database, "webhooks.delivery_resent")
    assert audited.actor != "system"
    assert "Delivered" in admin.get("/console/webhooks").text


@pytest.mark.usefixtures("allow_private")
def test_a_license_linked_to_an_account_is_recovered_and_a_device_removed_there_released(
    api: httpx.Client,
    open_unit: OpenUnit,
    make_code: MakeCode,
    make_account: MakeAccount,
    receiver: Receiver,
    deliver: Deliver,
) -> None:
    receiver.start()
    secret = endpoint(open_unit, receiver.url, "license.recovered", "license.released")
    machine = device()
    answer = activate(api, make_code("plus"), machine)
    owner = make_account()

    linked = api.post(
        "/api/v1/account/licenses",
        json={
            "email": owner.email,
            "password": owner.password,
            "license_key": answer["license_key"],
            "fingerprint": machine["fingerprint"],
        },
    )
    assert linked.status_code == 200, linked.text
    with open_unit() as unit:  # My Account's Devices page, "Remove"
        account = unit.session.get_one(Account, owner.id)
        seated = unit.session.scalars(
            select(Device).where(Device.fingerprint == machine["fingerprint"])
        ).one()
        assert unit.account_devices.remove(account, seated.id) == 1
    deliver()

    got = [Webhook(secret).verify(item.body, item.headers) for item in receiver.accepted()]
    assert [(event["type"], event["data"]) for event in got] == [
        (
            "license.recovered",
            {"channel": "account_link", "public_id": answer["public_id"], "plan": "plus"},
        ),
        ("license.released", {"public_id": answer["public_id"], "plan": "plus", "by": "account"}),
    ]


@pytest.mark.usefixtures("allow_private")
def test_a_license_is_told_expiring_days_before_its_end_then_expired_each_once(
    api: httpx.Client,
    open_unit: OpenUnit,
    make_code: MakeCode,
    receiver: Receiver,
    deliver: Deliver,
    clock: Clock,
    settings: Settings,
    database: Database,
    keyring: Keyring,
) -> None:
    receiver.start()
    secret = endpoint(open_unit, receiver.url, "license.expiring", "license.expired")
    answer = activate(api, make_code("short", term_days=10), device())

    deliver()
    assert receiver.received == []  # ten days to go: nothing yet
    clock.advance(timedelta(days=10 - settings.webhook_expiring_days, minutes=5))
    deliver()
    clock.advance(timedelta(days=1))
    deliver()
    # A worker just started looks back a week and finds it again: the same webhook-id,
    # which is not queued twice.
    build_worker(database, keyring, settings, clock.now).run_until_idle()
    clock.advance(timedelta(days=settings.webhook_expiring_days))
    deliver()
    clock.advance(timedelta(hours=1))
    deliver()

    got = [Webhook(secret).verify(item.body, item.headers) for item in receiver.accepted()]
    assert [event["type"] for event in got] == ["license.expiring", "license.expired"]
    assert {event["data"]["public_id"] for event in got} == {answer["public_id"]}
    assert got[0]["data"]["expires_at"] == answer["expires_at"]


@pytest.mark.usefixtures("allow_private")
def test_the_cli_lists_deliveries_and_a_disabled_endpoint_is_sent_nothing_more(
    settings: Settings,
    tmp_path: Path,
    open_unit: OpenUnit,
    block_code: Callable[..., None],
    make_code: MakeCode,
    receiver: Receiver,
    deliver: Deliver,
) -> None:
    receiver.start()
    endpoint(open_unit, receiver.url)
    block_code(make_code("plus"), "chargeback")
    with open_unit() as unit:
        ((hook,), (waiting,)) = unit.webhooks.endpoints(), unit.webhooks.deliveries()
    environment = cli_environment(settings.var_dir, settings.database_url)

    listed = run(
        "licensor", "webhooks", "deliveries", "--endpoint", str(hook.id),
        environment=environment, cwd=tmp_path,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert waiting.message_id in listed.stdout
    assert "pending" in listed.stdout
    disabled = run(
        "licensor", "webhooks", "disable", str(hook.id), environment=environment, cwd=tmp_path
    )
    assert disabled.returncode == 0, disabled.stderr
    block_code(make_code("plus"), "leaked")
    deliver()

    assert receiver.received == []  # neither what waited nor what came after
    with open_unit() as unit:
        assert unit.webhooks.deliveries()[-1].last_error == "the endpoint is disabled"
