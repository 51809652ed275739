"""Expiry reminders sent by ``licensor worker`` as the clock moves: 30, 7 and 1 days before
a license or subscription ends, once each, in the owner's language; again for a renewed
term; none once unsubscribed (by the mailed link, without signing in, or in My Account),
none for a blocked license; two workers racing send one.

The worker is ``build_worker`` without SMTP, as ``licensor worker --once`` runs: the mail
is read from the outbox, where the worker leaves it."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from licensor.clock import Clock
from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring
from licensor.mail.outbox import bodies, extra_headers
from licensor.models import Account, ExpiryReminder, License, Subscription
from licensor.store.testmode import TestProvider
from licensor.worker import Worker, build_worker
from tests.accounts.factories import (
    Customer,
    LinkCode,
    MakeAccount,
    OpenBrowser,
    outbox,
    signed_in,
)
from tests.conftest import OpenUnit
from tests.licensing.factories import BlockCode, activate, device
from tests.mail_support import SmtpServer
from tests.store.factories import MakeOrder, paid_with
from tests.support import audit_events

YEAR = timedelta(days=365)
TEMPLATE = "expiry_reminder"

MakeWorker = Callable[..., Worker]


@pytest.fixture
def make_worker(
    database: Database, keyring: Keyring, settings: Settings, clock: Clock, provider: TestProvider
) -> MakeWorker:
    """``licensor worker`` as built for the command (renewals through the test provider),
    with other settings if asked."""

    def make(**changed: object) -> Worker:
        return build_worker(
            database,
            keyring,
            settings.model_copy(update=changed),
            clock.now,
            provider=provider,
        )

    return make


def reminders(database: Database, keyring: Keyring, to: str) -> list[tuple[str, str]]:
    """(subject, text) of each reminder queued for ``to``, oldest first."""
    return [(m.subject, bodies(keyring, m)[0]) for m in outbox(database, to, TEMPLATE)]


def link(text: str, path: str) -> str:
    match = re.search(r"https?://[^/\s]+(" + re.escape(path) + r"[^\s]*)", text)
    assert match, text
    return match.group(1)


def test_a_license_is_reminded_30_7_and_1_days_before_it_ends_once_each(
    database: Database,
    keyring: Keyring,
    clock: Clock,
    make_account: MakeAccount,
    linked_code: LinkCode,
    make_worker: MakeWorker,
) -> None:
    customer = make_account()
    linked = linked_code(customer)  # a 365-day term from now
    worker = make_worker()

    clock.advance(timedelta(days=300))
    worker.run_until_idle()
    assert reminders(database, keyring, customer.email) == []

    clock.advance(timedelta(days=35, hours=12))  # 29.5 days left
    worker.run_until_idle()
    worker.run_until_idle()
    [(subject, text)] = reminders(database, keyring, customer.email)
    assert subject.startswith("Your Plus license ends on ")
    assert f"Your Plus license {linked.public_id} ends on" in text
    assert "in 30 days" in text
    assert "the app stops working on the device where it is activated" in text
    assert "/store" in text
    assert "/account/licenses" in text

    clock.advance(timedelta(days=23))  # 6.5 days left
    worker.run_until_idle()
    clock.advance(timedelta(days=6))  # half a day left
    worker.run_until_idle()
    worker.run_until_idle()
    texts = [text for _, text in reminders(database, keyring, customer.email)]
    assert len(texts) == 3
    assert "in 7 days" in texts[1]
    assert "in 1 day." in texts[2]

    clock.advance(timedelta(days=2))  # ended
    worker.run_until_idle()
    assert len(reminders(database, keyring, customer.email)) == 3
    assert len(audit_events(database, "licensing.expiry_reminder_sent")) == 3


def test_a_license_found_late_gets_only_the_nearest_reminder_and_the_setting_chooses_the_days(
    database: Database,
    keyring: Keyring,
    clock: Clock,
    make_account: MakeAccount,
    linked_code: LinkCode,
    make_worker: MakeWorker,
) -> None:
    customer = make_account()
    linked_code(customer)
    worker = make_worker(expiry_reminder_days="14, 3")

    clock.advance(timedelta(days=360))  # 5 days left: the 3-day one is not due yet
    worker.run_until_idle()
    [(_, text)] = reminders(database, keyring, customer.email)
    assert "in 5 days" in text
    clock.advance(timedelta(days=3))
    worker.run_until_idle()
    assert len(reminders(database, keyring, customer.email)) == 2


def test_a_code_without_an_account_reminds_its_order_address_in_the_order_language(
    api: httpx.Client,
    database: Database,
    keyring: Keyring,
    clock: Clock,
    make_order: MakeOrder,
    make_worker: MakeWorker,
) -> None:
    order = make_order("plus", language="it")
    activate(api, order.codes[0], device())

    clock.advance(YEAR - timedelta(days=6, hours=12))
    make_worker().run_until_idle()

    [(subject, text)] = reminders(database, keyring, order.email)
    assert subject.startswith("La tua licenza Plus scade il ")
    assert "tra 7 giorni" in text
    assert "acquista un nuovo codice nel negozio" in text
    assert "/account/licenses" not in text  # no account to sign in to


def test_the_unsubscribe_link_works_without_signing_in_and_stops_the_reminders(
    database: Database,
    keyring: Keyring,
    clock: Clock,
    make_account: MakeAccount,
    linked_code: LinkCode,
    make_worker: MakeWorker,
    form_browser: OpenBrowser,
) -> None:
    customer = make_account(language="it")
    linked = linked_code(customer)
    worker = make_worker()
    clock.advance(YEAR - timedelta(days=29))
    worker.run_until_idle()
    [message] = outbox(database, customer.email, TEMPLATE)
    text, _ = bodies(keyring, message)
    path = link(text, "/reminders/unsubscribe/")
    assert extra_headers(keyring, message) == {
        "List-Unsubscribe": f"<http://{link_host(text)}{path}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }

    visitor = form_browser()
    asked = visitor.get(path)  # opening the link only asks (mail scanners open links)
    assert asked.status_code == 200
    assert linked.public_id in asked.text
    assert off_at(database, linked.public_id) is None
    done = visitor.post(path, token=visitor.csrf_token(path))
    assert done.status_code == 303
    assert off_at(database, linked.public_id) is not None
    assert "Fatto: non riceverai più promemoria" in visitor.get(done.headers["location"]).text

    clock.advance(timedelta(days=25))
    worker.run_until_idle()
    assert len(outbox(database, customer.email, TEMPLATE)) == 1
    [event] = audit_events(database, "licensing.expiry_reminders_off")
    assert event.subject_id == license_id(database, linked.public_id)


def test_the_sent_reminder_carries_the_list_unsubscribe_headers(
    clock: Clock,
    make_account: MakeAccount,
    linked_code: LinkCode,
    mail_worker: SmtpServer,
) -> None:
    customer = make_account()
    linked_code(customer)
    clock.advance(YEAR - timedelta(days=29))  # the running worker's next turn sends it

    sent = mail_worker.inbox.to(customer.email, "license ends on")
    assert re.fullmatch(r"<http://[^>]+/reminders/unsubscribe/[^>]+>", sent["List-Unsubscribe"])
    assert sent["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_a_mail_program_unsubscribes_with_one_click_and_a_forged_link_does_nothing(
    database: Database,
    keyring: Keyring,
    clock: Clock,
    make_account: MakeAccount,
    linked_code: LinkCode,
    make_worker: MakeWorker,
    api: httpx.Client,
) -> None:
    customer = make_account()
    linked = linked_code(customer)
    clock.advance(YEAR - timedelta(days=29))
    make_worker().run_until_idle()
    [(_, text)] = reminders(database, keyring, customer.email)
    path = link(text, "/reminders/unsubscribe/")

    forged = f"/reminders/unsubscribe/{linked.public_id}.AAAAAAAAAAAAAAAAAAAAAAAA"
    refused = api.post(forged, data={"List-Unsubscribe": "One-Click"})
    assert refused.status_code == 404
    assert api.get(forged).status_code == 404
    assert off_at(database, linked.public_id) is None

    clicked = api.post(path, data={"List-Unsubscribe": "One-Click"})  # no cookie, no token
    assert clicked.status_code == 200
    assert off_at(database, linked.public_id) is not None


def test_the_owner_turns_reminders_off_and_on_in_my_account(
    database: Database,
    keyring: Keyring,
    clock: Clock,
    make_account: MakeAccount,
    linked_code: LinkCode,
    make_worker: MakeWorker,
    form_browser: OpenBrowser,
) -> None:
    customer = make_account()
    linked = linked_code(customer)
    stranger = signed_in(form_browser, make_account())
    page = f"/account/licenses/{linked.public_id}/reminders"
    assert stranger.get(page).status_code == 404
    assert (
        stranger.post(
            page, {"reminders": "off"}, token=stranger.csrf_token("/account/licenses")
        ).status_code
        == 404
    )
    assert off_at(database, linked.public_id) is None

    owner = signed_in(form_browser, customer)
    turned = owner.post(page, {"reminders": "off"}, token=owner.csrf_token(page))
    assert turned.headers["location"] == f"{page}?saved=1"
    assert off_at(database, linked.public_id) is not None
    worker = make_worker()
    clock.advance(YEAR - timedelta(days=29))
    worker.run_until_idle()
    assert reminders(database, keyring, customer.email) == []

    owner = signed_in(form_browser, customer)  # the session before ran out meanwhile
    owner.post(page, {"reminders": "on"}, token=owner.csrf_token(page))
    clock.advance(timedelta(days=23))
    worker.run_until_idle()
    [(_, text)] = reminders(database, keyring, customer.email)
    assert "in 6 days" in text


def test_a_blocked_license_gets_no_reminder(
    api: httpx.Client,
    database: Database,
    keyring: Keyring,
    clock: Clock,
    make_account: MakeAccount,
    linked_code: LinkCode,
    block_code: BlockCode,
    make_worker: MakeWorker,
) -> None:
    customer = make_account()
    linked = linked_code(customer)
    block_code(linked.code)
    clock.advance(YEAR - timedelta(days=29))
    make_worker().run_until_idle()
    assert reminders(database, keyring, customer.email) == []


def test_a_license_already_renewed_by_an_unused_code_of_its_plan_gets_none(
    database: Database,
    keyring: Keyring,
    clock: Clock,
    make_account: MakeAccount,
    linked_code: LinkCode,
    make_order: MakeOrder,
    make_worker: MakeWorker,
) -> None:
    customer = make_account()
    linked_code(customer)
    clock.advance(timedelta(days=300))
    make_order("plus", email=customer.email, account_id=customer.id)  # the renewal, unused
    clock.advance(timedelta(days=36))
    make_worker().run_until_idle()
    assert reminders(database, keyring, customer.email) == []
    with database.transaction() as session:
        assert len(session.scalars(select(ExpiryReminder)).all()) == 1  # not read again


def test_a_subscription_says_when_it_renews_and_a_renewed_term_is_reminded_again(
    database: Database,
    keyring: Keyring,
    clock: Clock,
    make_account: MakeAccount,
    open_unit: OpenUnit,
    make_plan: Callable[..., str],
    provider: TestProvider,
    make_worker: MakeWorker,
) -> None:
    make_plan("yearly", term_days=365, subscription_price_cents=4999)
    customer = make_account()
    subscription_id = subscribe(open_unit, provider, customer, "yearly")
    worker = make_worker()

    clock.advance(YEAR - timedelta(days=29))
    worker.run_until_idle()
    [(subject, text)] = reminders(database, keyring, customer.email)
    assert subject.startswith("Your Yearly subscription renews on ")
    assert "renews by itself on" in text
    assert "To turn off renewal or change the card" in text
    assert "/account/subscriptions" in text

    clock.advance(timedelta(days=29, minutes=5))  # renewed by the worker
    worker.run_until_idle()
    with open_unit() as unit:
        assert unit.session.get_one(Subscription, subscription_id).status == "active"
    clock.advance(YEAR - timedelta(days=30))
    worker.run_until_idle()
    assert len(reminders(database, keyring, customer.email)) == 2
    with open_unit() as unit:
        terms = set(unit.session.scalars(select(ExpiryReminder.expires_at)))
    assert len(terms) == 2


def test_a_canceled_subscription_says_it_ends_in_italian(
    database: Database,
    keyring: Keyring,
    clock: Clock,
    make_account: MakeAccount,
    open_unit: OpenUnit,
    make_plan: Callable[..., str],
    provider: TestProvider,
    make_worker: MakeWorker,
) -> None:
    make_plan("yearly", term_days=365, subscription_price_cents=4999)
    customer = make_account(language="it")
    subscription_id = subscribe(open_unit, provider, customer, "yearly")
    with open_unit() as unit:
        account = unit.session.get_one(Account, customer.id)
        unit.subscriptions.cancel(account, subscription_id)

    clock.advance(YEAR - timedelta(days=6))
    make_worker().run_until_idle()
    [(subject, text)] = reminders(database, keyring, customer.email)
    assert subject.startswith("Il tuo abbonamento Yearly scade il ")
    assert "il rinnovo automatico è disattivato" in text
    assert "tra 6 giorni" in text


def test_two_workers_racing_send_one_reminder(
    database: Database,
    keyring: Keyring,
    clock: Clock,
    make_account: MakeAccount,
    linked_code: LinkCode,
    make_worker: MakeWorker,
) -> None:
    customers = [make_account() for _ in range(3)]
    for customer in customers:
        linked_code(customer)
    clock.advance(YEAR - timedelta(days=29))
    workers = [make_worker(), make_worker()]
    start = threading.Barrier(len(workers))
    failures: list[BaseException] = []

    def turn(worker: Worker) -> None:
        try:
            start.wait()
            worker.task("store.expiry_reminders")(clock.now())
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=turn, args=(worker,)) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert failures == []
    for customer in customers:
        assert len(reminders(database, keyring, customer.email)) == 1


# --- helpers ----------------------------------------------------------------------------------


def subscribe(open_unit: OpenUnit, provider: TestProvider, customer: Customer, plan: str) -> int:
    """A subscription bought in the store with a card that pays its renewals."""
    with open_unit() as unit:
        account = unit.session.get_one(Account, customer.id)
        payment = unit.checkout.subscribe(
            plan, name="Carla Verdi", account=account, language=account.language, actor="test"
        )
    with open_unit() as unit:
        order = unit.checkout.settle(paid_with(provider, payment), actor="test")
        return unit.session.scalars(
            select(Subscription.id).where(Subscription.order_id == order.id)
        ).one()


def off_at(database: Database, public_id: str) -> object:
    with database.transaction() as session:
        return session.scalar(
            select(License.reminders_off_at).where(License.public_id == public_id)
        )


def license_id(database: Database, public_id: str) -> int | None:
    with database.transaction() as session:
        return session.scalar(select(License.id).where(License.public_id == public_id))


def link_host(text: str) -> str:
    match = re.search(r"https?://([^/\s]+)/reminders/", text)
    assert match, text
    return match.group(1)
