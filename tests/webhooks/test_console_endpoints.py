"""Webhook endpoints as an admin manages them in the console (added with a secret shown
once, disabled, enabled, the secret rotated) and with ``licensor webhooks rotate-secret``;
after a rotation a receiver with either secret verifies each delivery for 24 hours."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from licensor.clock import Clock
from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring
from licensor.worker import build_worker
from tests.accounts.factories import CSRF_FIELD
from tests.cli_support import cli_environment, run
from tests.conftest import OpenUnit
from tests.licensing.factories import MakeCode
from tests.support import audit_events
from tests.support.factories import SignInStaff
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.usefixtures("server")

Deliver = Callable[[], None]
BlockCode = Callable[..., None]


@pytest.fixture
def allow_private(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "webhooks_allow_private", True)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    made.start()
    yield made
    made.stop()


@pytest.fixture
def deliver(database: Database, keyring: Keyring, settings: Settings, clock: Clock) -> Deliver:
    worker = build_worker(database, keyring, settings, clock.now)

    def run() -> None:
        worker.run_until_idle()

    return run


def _secret_on(page: str) -> str:
    start = page.index("whsec_")
    return page[start : page.index("<", start)]


def test_an_admin_adds_an_endpoint_and_sees_its_secret_once(
    sign_in_staff: SignInStaff,
    receiver: Receiver,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    open_unit: OpenUnit,
    database: Database,
) -> None:
    admin, _ = sign_in_staff("admin")
    assert "/console/webhooks/new" in admin.get("/console/webhooks").text
    token = admin.csrf_token("/console/webhooks/new")
    form = {
        "url": receiver.url,
        "event": ["code.blocked", "order.paid"],
        "description": "CRM",
        CSRF_FIELD: token,
    }

    # Loopback is refused as the CLI refuses it, beside the field; nothing is made.
    refused = admin.client.post("/console/webhooks", data=form)
    assert refused.status_code == 422, refused.text
    assert 'id="url-error"' in refused.text
    assert 'value="code.blocked" checked' in refused.text
    for malformed in ("https://[::1/hook", "http://hooks.example.com:\u0661\u0660/"):
        odd = admin.client.post("/console/webhooks", data={**form, "url": malformed})
        assert odd.status_code == 422, odd.text
        assert 'id="url-error"' in odd.text
    unknown = admin.client.post("/console/webhooks", data={**form, "event": ["order.lost"]})
    assert unknown.status_code == 422
    assert 'id="events-error"' in unknown.text
    without_token = admin.client.post(
        "/console/webhooks", data={key: value for key, value in form.items() if key != CSRF_FIELD}
    )
    assert without_token.status_code == 403
    with open_unit() as unit:
        assert unit.webhooks.endpoints() == []

    monkeypatch.setattr(settings, "webhooks_allow_private", True)
    made = admin.client.post("/console/webhooks", data=form)

    assert made.status_code == 200, made.text
    assert made.headers["cache-control"] == "no-store"
    secret = _secret_on(made.text)
    Webhook(secret)  # a secret the library takes
    with open_unit() as unit:
        (endpoint,) = unit.webhooks.endpoints()
        assert (endpoint.url, endpoint.events, endpoint.description) == (
            receiver.url,
            ["code.blocked", "order.paid"],
            "CRM",
        )
        assert unit.webhooks.secret(endpoint) == secret
    assert secret not in admin.get("/console/webhooks").text  # shown that once only
    (created,) = audit_events(database, "webhooks.endpoint_created")
    assert created.actor != "system"


@pytest.mark.usefixtures("allow_private")
def test_after_a_rotation_both_secrets_verify_for_a_day_then_only_the_new(
    sign_in_staff: SignInStaff,
    receiver: Receiver,
    open_unit: OpenUnit,
    block_code: BlockCode,
    make_code: MakeCode,
    deliver: Deliver,
    clock: Clock,
    database: Database,
) -> None:
    with open_unit(actor="cli:vendor") as unit:
        endpoint, old = unit.webhooks.create(receiver.url, ["code.blocked"])
        endpoint_id = endpoint.id
    admin, _ = sign_in_staff("admin")

    rotated = admin.post(f"/console/webhooks/{endpoint_id}/rotate-secret")

    assert rotated.status_code == 200, rotated.text
    assert rotated.headers["cache-control"] == "no-store"
    new = _secret_on(rotated.text)
    assert new != old
    block_code(make_code("plus"), "chargeback")
    deliver()
    (during,) = receiver.accepted()
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):  # a receiver still on the old secret, and one switched
        assert Webhook(secret).verify(during.body, during.headers)["type"] == "code.blocked"

    clock.advance(timedelta(hours=24))
    block_code(make_code("plus"), "leaked")
    deliver()

    after = receiver.accepted()[-1]
    assert after.headers["webhook-id"] != during.headers["webhook-id"]
    assert Webhook(new).verify(after.body, after.headers)["type"] == "code.blocked"
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(after.body, after.headers)
    (audited,) = audit_events(database, "webhooks.secret_rotated")
    assert (audited.subject_id, audited.actor != "system") == (endpoint_id, True)


@pytest.mark.usefixtures("allow_private")
def test_a_disabled_endpoint_is_enabled_again_from_the_console(
    sign_in_staff: SignInStaff,
    receiver: Receiver,
    open_unit: OpenUnit,
    block_code: BlockCode,
    make_code: MakeCode,
    deliver: Deliver,
    database: Database,
) -> None:
    with open_unit() as unit:
        endpoint_id = unit.webhooks.create(receiver.url)[0].id
    admin, _ = sign_in_staff("admin")

    disabled = admin.post(f"/console/webhooks/{endpoint_id}/disable")
    assert disabled.status_code in (200, 303), disabled.text
    assert f"/console/webhooks/{endpoint_id}/enable" in admin.get("/console/webhooks").text
    block_code(make_code("plus"), "chargeback")
    deliver()
    assert receiver.received == []

    enabled = admin.post(f"/console/webhooks/{endpoint_id}/enable")
    assert enabled.status_code in (200, 303), enabled.text
    block_code(make_code("plus"), "leaked")
    deliver()

    assert len(receiver.accepted()) == 1  # what came while disabled stays dropped
    assert [event.action for event in audit_events(database) if "endpoint_" in event.action] == [
        "webhooks.endpoint_created",
        "webhooks.endpoint_disabled",
        "webhooks.endpoint_enabled",
    ]


@pytest.mark.usefixtures("allow_private")
def test_the_cli_rotates_a_secret_and_enables_an_endpoint(
    settings: Settings, tmp_path: Path, receiver: Receiver, open_unit: OpenUnit
) -> None:
    with open_unit() as unit:
        endpoint, old = unit.webhooks.create(receiver.url)
        endpoint_id = endpoint.id
        unit.webhooks.disable(endpoint_id)
    environment = cli_environment(settings.var_dir, settings.database_url)
    enabled = run(
        "licensor", "webhooks", "enable", str(endpoint_id), environment=environment, cwd=tmp_path
    )
    assert enabled.returncode == 0, enabled.stderr

    rotated = run(
        "licensor", "webhooks", "rotate-secret", str(endpoint_id),
        environment=environment, cwd=tmp_path,
    )  # fmt: skip

    assert rotated.returncode == 0, rotated.stderr
    new = rotated.stdout.strip()
    assert rotated.stdout == new + "\n"
    assert new.startswith("whsec_")
    assert new != old
    assert "until" in rotated.stderr  # the old secret's last moment, beside the output
    with open_unit() as unit:
        endpoint = unit.webhooks.endpoint(endpoint_id)
        assert unit.webhooks.secret(endpoint) == new
        assert endpoint.previous_secret_until is not None
        assert endpoint.disabled_at is None
