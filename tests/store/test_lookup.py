"""Order lookup (F5) over HTTP, as a browser posts the form: what it mails, to whom, and
that its answer never tells whether an order exists.

Mail is read from the outbox here (the browser tests in ``tests/web/test_order_lookup.py``
read it from a real SMTP server); an order made with ``make_order`` has already queued
its first confirmation, so a resend is the second one.
"""

from __future__ import annotations

import html
import re
import secrets
from collections.abc import Callable, Iterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from licensor.clock import Clock
from licensor.db import Database
from licensor.keys import Keyring
from licensor.mail.outbox import bodies
from licensor.models import AuditEvent, Order
from licensor.store.orders import PlacedOrder
from licensor.web import i18n
from tests.accounts.factories import Browser, OpenBrowser, browser_from, fresh_email, outbox
from tests.limits import StartLimitedServer
from tests.store.factories import MakeOrder, MakePartner

LOOKUP = "/orders/lookup"
ANSWER = "If these details match an order, we have sent its details again"
_CSRF_VALUE = re.compile(r'(name="csrf_token" value=")[^"]*(")')


# --- helpers ----------------------------------------------------------------------------------


def details(order: PlacedOrder, where: str = "store", **changes: str) -> dict[str, str]:
    """The form filled in as the order's buyer would, with ``changes`` on top."""
    fields = {
        "where": where,
        "order_number": order.number,
        "purchased_on": order.purchased_at.date().isoformat(),
        "name": "Mario Rossi",
        "email": order.email,
    }
    fields.update(changes)
    return fields


LookUp = Callable[[Browser, dict[str, str]], httpx.Response]


@pytest.fixture
def look_up(run_jobs: Callable[[], None]) -> LookUp:
    """Send the form, then let the worker do the lookup it queued (and mail a match)."""

    def send(visitor: Browser, fields: dict[str, str]) -> httpx.Response:
        response = visitor.post(LOOKUP, fields, token=visitor.csrf_token(LOOKUP))
        run_jobs()
        return response

    return send


def answer(response: httpx.Response) -> tuple[int, str, list[str], str]:
    """What a visitor sees, but for the per-request CSRF token."""
    cookies = [header.split("=", 1)[0] for header in response.headers.get_list("set-cookie")]
    body = _CSRF_VALUE.sub(r"\1TOKEN\2", response.text)
    return response.status_code, response.headers["content-type"], cookies, body


def resent(database: Database, order: PlacedOrder) -> int:
    """Confirmations queued for the order beyond the first one."""
    return len(outbox(database, order.email, "order_confirmation")) - 1


def pointers(database: Database, email: str) -> int:
    return len(outbox(database, email, "order_partner_pointer"))


def missing_number() -> str:
    return f"ORD-{secrets.token_hex(2).upper()}-ZZZZ"


# --- what is mailed, and to whom --------------------------------------------------------------


def test_a_store_order_is_sent_again_to_its_own_address_with_its_code(
    visitor: Browser,
    make_order: MakeOrder,
    database: Database,
    keyring: Keyring,
    look_up: LookUp,
) -> None:
    order = make_order(email=fresh_email("buyer"))

    response = look_up(visitor, details(order, email=f"  {order.email.upper()} "))

    assert response.status_code == 200
    assert ANSWER in response.text
    assert order.codes[0] not in response.text  # the code never appears on a page
    assert resent(database, order) == 1
    again = outbox(database, order.email, "order_confirmation")[-1]
    text, _ = bodies(keyring, again)
    assert order.number in text
    assert order.codes[0] in text


def test_a_partner_order_is_answered_by_mail_naming_the_partner_whatever_was_chosen(
    visitor: Browser,
    make_order: MakeOrder,
    make_partner: MakePartner,
    database: Database,
    keyring: Keyring,
    look_up: LookUp,
) -> None:
    partner = make_partner(name="Negozio Roma", phone="+39 06 1234 5678")
    order = make_order(partner=partner.slug)

    look_up(visitor, details(order, where="unknown"))

    assert pointers(database, order.email) == 1
    assert outbox(database, order.email, "order_confirmation") == []  # the partner delivers
    text, _ = bodies(keyring, outbox(database, order.email, "order_partner_pointer")[0])
    for value in (partner.name, partner.email, partner.url, partner.phone, order.number):
        assert value in text
    assert order.codes[0] not in text


Change = Callable[[PlacedOrder], dict[str, str]]


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda _: {"email": "someone-else@example.com"}, id="wrong-email"),
        pytest.param(lambda _: {"name": "Maria Rossi"}, id="wrong-name"),
        pytest.param(lambda _: {"order_number": "ORD-0000-0000"}, id="wrong-number"),
        pytest.param(
            lambda order: {
                "purchased_on": (order.purchased_at.date() - timedelta(days=3)).isoformat()
            },
            id="date-off-by-3-days",
        ),
    ],
)
def test_nothing_is_mailed_when_a_detail_does_not_match(
    visitor: Browser,
    make_order: MakeOrder,
    database: Database,
    change: Change,
    look_up: LookUp,
) -> None:
    order = make_order()

    response = look_up(visitor, details(order, **change(order)))

    assert response.status_code == 200
    assert resent(database, order) == 0
    assert outbox(database, "someone-else@example.com") == []


@pytest.mark.parametrize("days", [-1, 1])
def test_a_date_a_day_off_still_matches_because_of_time_zones(
    visitor: Browser,
    make_order: MakeOrder,
    database: Database,
    days: int,
    look_up: LookUp,
) -> None:
    order = make_order()
    purchased_on = (order.purchased_at.date() + timedelta(days=days)).isoformat()

    look_up(visitor, details(order, purchased_on=purchased_on))

    assert resent(database, order) == 1


def test_the_date_may_be_left_out(
    visitor: Browser,
    make_order: MakeOrder,
    database: Database,
    look_up: LookUp,
) -> None:
    order = make_order()

    look_up(visitor, details(order, purchased_on=""))

    assert resent(database, order) == 1


@pytest.mark.parametrize("typed", ["rossi mario", "MÁRIO ROSSI", "Rossi,  Mário"])
def test_the_name_matches_whatever_its_case_accents_and_word_order(
    visitor: Browser,
    make_order: MakeOrder,
    database: Database,
    typed: str,
    look_up: LookUp,
) -> None:
    order = make_order(name="Mario Rossi")

    look_up(visitor, details(order, name=typed))

    assert resent(database, order) == 1


def test_the_order_number_matches_however_it_is_spaced_or_cased(
    visitor: Browser,
    make_order: MakeOrder,
    database: Database,
    look_up: LookUp,
) -> None:
    order = make_order()
    typed = order.number.lower().replace("-", " ")

    look_up(visitor, details(order, order_number=typed))

    assert resent(database, order) == 1


# --- the answer says nothing about the orders we hold -----------------------------------------


def test_the_answer_is_the_same_for_an_existing_and_a_missing_order_and_any_mismatch(
    form_browser: OpenBrowser,
    make_order: MakeOrder,
    make_partner: MakePartner,
    database: Database,
    look_up: LookUp,
) -> None:
    order = make_order()
    partner = make_partner()
    partner_order = make_order(partner=partner.slug)
    three_days_before = (order.purchased_at.date() - timedelta(days=3)).isoformat()
    visitor = form_browser()

    missing = answer(look_up(visitor, details(order, order_number=missing_number())))
    existing = answer(look_up(visitor, details(order)))
    wrong_email = answer(look_up(visitor, details(order, email="not-the-buyer@example.com")))
    wrong_name = answer(look_up(visitor, details(order, name="Luigi Verdi")))
    wrong_date = answer(look_up(visitor, details(order, purchased_on=three_days_before)))
    # A visitor with other cookies gets other tokens, and still the same page.
    stranger = answer(look_up(form_browser(), details(order, order_number=missing_number())))

    assert missing[0] == 200
    assert ANSWER in missing[3]
    assert existing == missing
    assert wrong_email == missing
    assert wrong_name == missing
    assert wrong_date == missing
    assert stranger == missing
    assert resent(database, order) == 1  # the existing one really matched

    unknown_missing = answer(
        look_up(visitor, details(order, where="unknown", order_number=missing_number()))
    )
    unknown_partner_order = answer(look_up(visitor, details(partner_order, where="unknown")))
    assert unknown_partner_order == unknown_missing
    assert pointers(database, partner_order.email) == 1


def test_choosing_a_partner_shows_how_to_reach_it_whether_or_not_an_order_exists(
    visitor: Browser,
    make_order: MakeOrder,
    make_partner: MakePartner,
    database: Database,
    look_up: LookUp,
) -> None:
    partner = make_partner(name="Negozio Roma", phone="+39 06 1234 5678")
    order = make_order(partner=partner.slug)

    existing = look_up(visitor, details(order, where=partner.slug))
    missing = look_up(visitor, details(order, where=partner.slug, order_number=missing_number()))

    assert answer(existing) == answer(missing)
    page = existing.text
    for shown in (partner.name, partner.email, partner.url, partner.phone):
        assert shown in html.unescape(page)
    assert f'href="mailto:{partner.email}"' in page
    for needed in (
        "The purchase date",
        "The name and email address used for the purchase",
        "The order number",
    ):
        assert needed in page
    assert pointers(database, order.email) == 1


def test_the_answer_points_to_help_for_printed_cards_and_to_my_account(
    visitor: Browser,
    make_order: MakeOrder,
    look_up: LookUp,
) -> None:
    page = look_up(visitor, details(make_order())).text

    assert 'href="/help/license-details"' in page
    assert 'href="/sign-in?next=/account/licenses"' in page
    assert page.count("<h1") == 1


# --- the form ----------------------------------------------------------------------------------


def test_the_form_asks_where_and_each_detail_with_labelled_fields(
    visitor: Browser, make_partner: MakePartner
) -> None:
    partner = make_partner(name="Negozio Roma")

    page = visitor.get(LOOKUP).text

    assert page.count("<h1") == 1
    assert "<legend>Where did you buy?</legend>" in page
    for value in ("store", partner.slug, "unknown"):
        assert f'name="where" value="{value}"' in page
    assert "Negozio Roma" in page
    for name in ("order_number", "purchased_on", "name", "email"):
        assert f'<label for="{name}">' in page
        assert f'id="{name}" name="{name}"' in page
    # Typed as the page's language writes a day (12/05/2026 in English), or ISO.
    assert 'name="purchased_on" type="text"' in page
    assert 'name="csrf_token"' in page
    assert "<script" not in page
    assert 'href="/partners"' in page


@pytest.mark.parametrize(
    ("field", "typed", "message"),
    [
        ("email", "", "This field is required."),
        ("email", "not-an-address", "Enter an email address like name@example.com."),
        (
            "purchased_on",
            "31/31/2026",
            "Enter a date such as 12/05/2026 (month/day/year) or 2026-12-05.",
        ),
        (
            "purchased_on",
            "2026-02-30",
            "Enter a date such as 12/05/2026 (month/day/year) or 2026-12-05.",
        ),
        ("order_number", "", "This field is required."),
        ("name", "", "This field is required."),
        ("where", "", "if you are not sure"),
        ("where", "no-such-partner", "if you are not sure"),
    ],
)
def test_a_missing_or_malformed_field_is_shown_beside_it_and_nothing_is_looked_up(
    visitor: Browser,
    make_order: MakeOrder,
    database: Database,
    field: str,
    typed: str,
    message: str,
    look_up: LookUp,
) -> None:
    order = make_order()

    response = look_up(visitor, details(order, **{field: typed}))

    assert response.status_code == 422
    page = response.text
    error = re.search(rf'<p class="error" id="{field}-error">([^<]*)</p>', page)
    assert error is not None, page
    assert message in html.unescape(error.group(1))
    if field != "where":
        described = re.search(rf'id="{field}" name="{field}"[^>]*aria-describedby="([^"]*)"', page)
        assert described is not None
        assert f"{field}-error" in described.group(1).split()
        assert 'aria-invalid="true"' in page
    assert ANSWER not in page
    assert resent(database, order) == 0
    # What was typed comes back, so only the wrong field needs typing again.
    if field != "name":
        assert 'value="Mario Rossi"' in page


def test_a_date_in_the_future_is_refused(
    visitor: Browser, make_order: MakeOrder, look_up: LookUp
) -> None:
    order = make_order()
    later = (order.purchased_at.date() + timedelta(days=5)).isoformat()

    response = look_up(visitor, details(order, purchased_on=later))

    assert response.status_code == 422
    assert "This date is in the future." in response.text


def test_a_post_without_the_csrf_token_is_refused(
    visitor: Browser, make_order: MakeOrder, database: Database
) -> None:
    order = make_order()
    visitor.csrf_token(LOOKUP)  # the browser has its cookie, but the form lacks the field

    response = visitor.post(LOOKUP, details(order), token="")

    assert response.status_code == 403
    assert ANSWER not in response.text
    assert resent(database, order) == 0


def test_a_post_with_another_browsers_token_is_refused(
    form_browser: OpenBrowser, make_order: MakeOrder, database: Database
) -> None:
    order = make_order()
    other_token = form_browser().csrf_token(LOOKUP)
    visitor = form_browser()
    visitor.csrf_token(LOOKUP)

    response = visitor.post(LOOKUP, details(order), token=other_token)

    assert response.status_code == 403
    assert resent(database, order) == 0


def test_an_italian_browser_gets_the_italian_form(visitor: Browser) -> None:
    response = visitor.client.get(LOOKUP, headers={"Accept-Language": "it-IT,it;q=0.9"})

    assert response.status_code == 200
    assert '<html lang="it">' in response.text
    italian = i18n.translator("it")
    for english in (
        "Find your order",
        "Where did you buy?",
        "In our online store",
        "I don't know",
        "Order number",
        "Purchase date",
        "Name used for the purchase",
        "Email address used for the purchase",
        "Send my order again",
    ):
        translated = italian.gettext(english)
        assert translated != english, f"no Italian for {english!r}"
        assert translated in html.unescape(response.text)


# --- rate limits ------------------------------------------------------------------------------


@pytest.fixture
def limited(limited_server: StartLimitedServer) -> Iterator[str]:
    with limited_server(lookup_rate="2/minute") as server:
        yield server.url


def assert_rate_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert ANSWER not in response.text


def test_one_address_is_limited_whatever_the_email(
    form_browser: OpenBrowser,
    limited: str,
    make_order: MakeOrder,
    database: Database,
    look_up: LookUp,
) -> None:
    order = make_order()
    visitor = browser_from(form_browser, limited, "127.0.0.2")
    for attempt in range(2):
        fields = details(order, email=f"guess-{attempt}@example.com")
        assert look_up(visitor, fields).status_code == 200

    assert_rate_limited(look_up(visitor, details(order)))

    assert resent(database, order) == 0  # the limit comes before any lookup
    elsewhere = browser_from(form_browser, limited, "127.0.0.3")
    assert look_up(elsewhere, details(order)).status_code == 200
    assert resent(database, order) == 1


def test_wrong_lookups_with_the_owners_email_do_not_keep_the_owners_from_being_mailed(
    form_browser: OpenBrowser,
    limited: str,
    make_order: MakeOrder,
    database: Database,
    look_up: LookUp,
) -> None:
    """Someone who knows a buyer's email cannot spend a limit that holds back the buyer's
    own lookup: only lookups that match count against an order."""
    order = make_order()
    attacker = browser_from(form_browser, limited, "127.0.0.4")
    for _ in range(2):  # as many as the address may send (2/minute here)
        assert look_up(attacker, details(order, order_number=missing_number())).status_code == 200

    owner = browser_from(form_browser, limited, "127.0.0.5")
    assert look_up(owner, details(order)).status_code == 200

    assert resent(database, order) == 1


def test_an_order_is_mailed_again_at_most_five_times_an_hour_and_answered_alike_beyond(
    visitor: Browser,
    make_order: MakeOrder,
    database: Database,
    look_up: LookUp,
    clock: Clock,
) -> None:
    """Whoever knows an order's details cannot flood its buyer's inbox; the page says
    nothing of it."""
    order = make_order()
    answers = [answer(look_up(visitor, details(order))) for _ in range(7)]

    assert all(seen == answers[0] for seen in answers)
    assert resent(database, order) == 5
    with database.transaction() as session:
        held_back = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "store.order_lookup_held_back")
        ).all()
    assert len(held_back) == 2
    assert {event.subject_id for event in held_back} == {order_id(database, order)}

    clock.advance(timedelta(hours=1, seconds=1))
    look_up(visitor, details(order))
    assert resent(database, order) == 6


def order_id(database: Database, order: PlacedOrder) -> int:
    with database.transaction() as session:
        found = session.scalar(select(Order.id).where(Order.number == order.number))
    assert found is not None
    return found
