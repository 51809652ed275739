"""The partner API (/api/v1/partner): a reseller records the sales it makes from its
allocations, reads its own orders back and sees its allocations — and nothing of anyone
else's. Keys are refused alike however they are wrong; codes leave the server masked."""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from licensor.clock import Clock
from licensor.db import Database
from licensor.licensing import formats
from licensor.models import AuditEvent
from tests.conftest import OpenUnit
from tests.licensing.factories import BlockCode, MakeCode
from tests.limits import StartLimitedServer
from tests.store.factories import (
    ORDERS,
    Allocate,
    MakeOrder,
    MakePartner,
    MakeSeller,
    PartnerKey,
    Seller,
    bearer,
    partner_sale,
)
from tests.support import assert_problem

ALLOCATIONS = "/api/v1/partner/allocations"

# The one answer to every request without a good key: nothing tells the cases apart.
REFUSED = {
    "type": "https://licensor.dev/problems/invalid-api-key",
    "title": "The API key is wrong, unknown or revoked",
    "status": 401,
    "code": "invalid_api_key",
}


def masked(code: str) -> str:
    return formats.mask_code(formats.normalize_code(code))


def without_code(problem: dict[str, Any], code: str) -> dict[str, Any]:
    """A problem with the masked code its detail names put aside, to compare two answers."""
    return {**problem, "detail": problem["detail"].replace(masked(code), "<code>")}


def record(api: httpx.Client, seller: Seller, codes: list[str], number: str | None = None) -> Any:
    response = api.post(ORDERS, json=partner_sale(codes, number), headers=seller.auth)
    assert response.status_code == 201, response.text
    return response.json()


# --- recording a sale and reading it back -------------------------------------------------


def test_a_partner_records_a_sale_of_codes_from_its_allocation(
    api: httpx.Client, make_seller: MakeSeller
) -> None:
    seller = make_seller(count=3)

    response = api.post(
        ORDERS, json=partner_sale(seller.codes[:2], "WEB-100234"), headers=seller.auth
    )

    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "number": "WEB-100234",
        "purchased_at": "2025-03-14T15:05:00Z",
        "channel": "partner",
        "codes": [masked(code) for code in seller.codes[:2]],
        "customer": {"name": "Mario Rossi", "email": "mario.rossi@example.com"},
    }


def test_no_answer_holds_a_code_in_clear(api: httpx.Client, make_seller: MakeSeller) -> None:
    seller = make_seller(count=2)
    recorded = api.post(ORDERS, json=partner_sale(seller.codes, "WEB-7"), headers=seller.auth)
    read = api.get(f"{ORDERS}/WEB-7", headers=seller.auth)

    for response in (recorded, read):
        assert response.status_code in (200, 201), response.text
        for code in seller.codes:
            for spelling in (code, formats.normalize_code(code), code[:17]):
                assert spelling not in response.text
        assert all(
            re.fullmatch(r"XXXXX-XXXXX-XXXXX-[0-9A-Z]{5}", c) for c in response.json()["codes"]
        )


def test_a_recorded_sale_is_found_by_its_number_however_it_is_spelt(
    api: httpx.Client, make_seller: MakeSeller
) -> None:
    seller = make_seller()
    recorded = record(api, seller, [seller.codes[0]], "WEB-100234")

    for spelling in ("WEB-100234", "web 100234", "web100234"):
        found = api.get(f"{ORDERS}/{spelling}", headers=seller.auth)
        assert found.status_code == 200, found.text
        assert found.json() == recorded


def test_recording_a_sale_is_audited_as_the_partner(
    api: httpx.Client, make_seller: MakeSeller, database: Database
) -> None:
    seller = make_seller()
    record(api, seller, seller.codes[:2], "WEB-42")

    with database.transaction() as session:
        events = list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.action == "store.partner_sale_recorded")
            )
        )
    assert len(events) == 1
    assert events[0].actor == f"partner:{seller.slug}"
    assert events[0].subject_type == "order"
    assert events[0].details == {"number": "WEB-42", "codes": 2, "partner": seller.slug}


# --- allocations ----------------------------------------------------------------------------


def test_a_partner_sees_its_allocations_and_how_many_are_sold(
    api: httpx.Client, make_seller: MakeSeller, allocate: Allocate
) -> None:
    seller = make_seller(count=3, plan="plus")
    premium = allocate(seller.slug, plan="premium", count=2)
    record(api, seller, [seller.codes[0], premium[1]])
    record(api, seller, [seller.codes[2]])

    response = api.get(ALLOCATIONS, headers=seller.auth)

    assert response.status_code == 200, response.text
    allocations = response.json()["allocations"]
    assert [(a["plan"], a["plan_name"], a["count"], a["sold"]) for a in allocations] == [
        ("plus", "Plus", 3, 2),
        ("premium", "Premium", 2, 1),
    ]
    assert allocations[0]["batch_id"] != allocations[1]["batch_id"]
    assert all(a["created_at"].endswith("Z") for a in allocations)


def test_a_partner_sees_none_of_another_partners_allocations(
    api: httpx.Client, make_seller: MakeSeller, make_partner: MakePartner, partner_key: PartnerKey
) -> None:
    make_seller(count=5)
    newcomer = make_partner().slug

    response = api.get(ALLOCATIONS, headers=bearer(partner_key(newcomer)))

    assert response.status_code == 200, response.text
    assert response.json() == {"allocations": []}


# --- authentication -----------------------------------------------------------------------


REFUSALS: dict[str, Callable[[Seller], dict[str, str]]] = {
    "no header": lambda seller: {},
    "another scheme": lambda seller: {"Authorization": f"Basic {seller.key}"},
    "bearer without a key": lambda seller: {"Authorization": "Bearer"},
    "not a partner key": lambda seller: bearer("hunter2"),
    "a key cut short": lambda seller: bearer(seller.key[:20]),
    "unknown key": lambda seller: bearer(f"lp_{secrets.token_hex(4)}_{secrets.token_urlsafe(32)}"),
    "right prefix, wrong secret": lambda seller: bearer(
        seller.key[: len("lp_12345678_")] + secrets.token_urlsafe(32)
    ),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_a_request_without_a_good_key_is_refused_with_the_one_401(
    api: httpx.Client, make_seller: MakeSeller, case: str
) -> None:
    seller = make_seller()
    headers = REFUSALS[case](seller)

    answers = [
        api.get(ALLOCATIONS, headers=headers),
        api.get(f"{ORDERS}/WEB-1", headers=headers),
        api.post(ORDERS, json=partner_sale(seller.codes[:1], "WEB-1"), headers=headers),
    ]

    for response in answers:
        assert_problem(response, 401, "invalid_api_key")
        assert response.json() == REFUSED
        assert response.headers["www-authenticate"].startswith("Bearer")
    # Nothing was recorded: the real key does not find the order.
    assert_problem(api.get(f"{ORDERS}/WEB-1", headers=seller.auth), 404, "order_unknown")


def test_a_revoked_key_is_refused_with_the_same_401(
    api: httpx.Client, make_seller: MakeSeller, open_unit: OpenUnit
) -> None:
    seller = make_seller()
    assert api.get(ALLOCATIONS, headers=seller.auth).status_code == 200

    with open_unit() as unit:
        unit.partners.revoke_key(seller.key)

    for response in (
        api.get(ALLOCATIONS, headers=seller.auth),
        api.post(ORDERS, json=partner_sale(seller.codes[:1]), headers=seller.auth),
    ):
        assert_problem(response, 401, "invalid_api_key")
        assert response.json() == REFUSED
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_partners_other_keys_still_work_when_one_is_revoked(
    api: httpx.Client,
    make_seller: MakeSeller,
    partner_key: PartnerKey,
    open_unit: OpenUnit,
) -> None:
    seller = make_seller()
    spare = partner_key(seller.slug)

    with open_unit() as unit:
        unit.partners.revoke_key(seller.key.split("_")[1])  # by prefix, as the CLI lists it

    assert_problem(api.get(ALLOCATIONS, headers=seller.auth), 401, "invalid_api_key")
    assert api.get(ALLOCATIONS, headers=bearer(spare)).status_code == 200


def test_the_scheme_name_is_not_case_sensitive(api: httpx.Client, make_seller: MakeSeller) -> None:
    seller = make_seller()

    response = api.get(ALLOCATIONS, headers={"Authorization": f"bearer {seller.key}"})

    assert response.status_code == 200, response.text


def test_each_use_of_a_key_is_recorded(
    api: httpx.Client,
    make_seller: MakeSeller,
    clock: Clock,
    open_unit: OpenUnit,
) -> None:
    seller = make_seller()

    def last_used() -> datetime | None:
        with open_unit() as unit:
            (key,) = unit.partners.keys(unit.partners.by_slug(seller.slug))
            return key.last_used_at

    assert last_used() is None
    clock.advance(timedelta(days=3))
    assert api.get(ALLOCATIONS, headers=seller.auth).status_code == 200
    first = last_used()
    assert first is not None
    assert abs(first - clock.now()) < timedelta(seconds=5)

    clock.advance(timedelta(days=2))
    record(api, seller, seller.codes[:1])
    second = last_used()
    assert second is not None
    assert second - first >= timedelta(days=2)


# --- a partner sees only its own ----------------------------------------------------------


def test_another_partners_order_is_as_missing_as_no_order(
    api: httpx.Client, make_seller: MakeSeller
) -> None:
    owner, other = make_seller(), make_seller()
    record(api, owner, owner.codes[:1], "WEB-555")
    assert api.get(f"{ORDERS}/WEB-555", headers=owner.auth).status_code == 200

    theirs = api.get(f"{ORDERS}/WEB-555", headers=other.auth)
    missing = api.get(f"{ORDERS}/WEB-556", headers=other.auth)

    assert_problem(theirs, 404, "order_unknown")
    assert_problem(missing, 404, "order_unknown")
    assert theirs.json() == missing.json()
    assert "WEB-555" not in theirs.text


def test_two_partners_may_use_the_same_order_number(
    api: httpx.Client, make_seller: MakeSeller
) -> None:
    first, second = make_seller(), make_seller()
    record(api, first, first.codes[:1], "1001")

    response = api.post(ORDERS, json=partner_sale(second.codes[:1], "1001"), headers=second.auth)

    assert response.status_code == 201, response.text
    assert api.get(f"{ORDERS}/1001", headers=first.auth).json()["codes"] == [masked(first.codes[0])]
    assert api.get(f"{ORDERS}/1001", headers=second.auth).json()["codes"] == [
        masked(second.codes[0])
    ]


@pytest.fixture
def codes_not_allocated(
    make_seller: MakeSeller, make_code: MakeCode, make_order: MakeOrder
) -> dict[str, str]:
    """Codes a partner may try to sell that are not its own, by where they come from."""
    return {
        "another partner's": make_seller(count=1).codes[0],
        "never issued": formats.format_code(formats.generate_code()),
        "a code we issued by hand": make_code("manual"),
        "our store's": make_order().codes[0],
    }


def test_a_code_not_in_the_allocation_gets_one_404_whatever_it_is(
    api: httpx.Client, make_seller: MakeSeller, codes_not_allocated: dict[str, str]
) -> None:
    seller = make_seller()
    answers = {}
    for origin, code in codes_not_allocated.items():
        response = api.post(ORDERS, json=partner_sale([code]), headers=seller.auth)
        assert_problem(response, 404, "code_not_allocated")
        answers[origin] = without_code(response.json(), code)

    reference = answers["never issued"]
    assert reference["detail"] == "<code> is not in your allocation"
    for origin, answer in answers.items():
        assert answer == reference, origin


def test_a_refused_code_stays_its_owners_to_sell(
    api: httpx.Client, make_seller: MakeSeller
) -> None:
    owner, other = make_seller(count=1), make_seller()

    refused = api.post(
        ORDERS, json=partner_sale([other.codes[0], owner.codes[0]]), headers=other.auth
    )

    assert_problem(refused, 404, "code_not_allocated")
    # The other partner's own code in the refused sale is not sold either.
    assert record(api, other, [other.codes[0]])["codes"] == [masked(other.codes[0])]
    assert record(api, owner, owner.codes)["codes"] == [masked(owner.codes[0])]


# --- codes and numbers that cannot be sold ---------------------------------------------------


def test_a_mistyped_code_is_code_malformed(api: httpx.Client, make_seller: MakeSeller) -> None:
    seller = make_seller()
    code = seller.codes[0]
    mistyped = ("Z" if code[0] != "Z" else "Y") + code[1:]

    response = api.post(ORDERS, json=partner_sale([mistyped]), headers=seller.auth)

    assert_problem(response, 422, "code_malformed")


def test_a_code_typed_carelessly_is_still_recognised(
    api: httpx.Client, make_seller: MakeSeller
) -> None:
    seller = make_seller()
    typed = seller.codes[0].lower().replace("-", " ")

    assert record(api, seller, [typed])["codes"] == [masked(seller.codes[0])]


def test_a_code_cannot_be_sold_twice(api: httpx.Client, make_seller: MakeSeller) -> None:
    seller = make_seller()
    record(api, seller, seller.codes[:1], "WEB-1")

    again = api.post(ORDERS, json=partner_sale(seller.codes[:2], "WEB-2"), headers=seller.auth)

    problem = assert_problem(again, 409, "code_unavailable")
    assert masked(seller.codes[0]) in problem["detail"]
    # The refused order was not recorded, and its other code is still for sale.
    assert_problem(api.get(f"{ORDERS}/WEB-2", headers=seller.auth), 404, "order_unknown")
    assert record(api, seller, seller.codes[1:2], "WEB-2")["number"] == "WEB-2"


def test_a_blocked_code_cannot_be_sold(
    api: httpx.Client, make_seller: MakeSeller, block_code: BlockCode
) -> None:
    seller = make_seller()
    block_code(seller.codes[0], "leaked")

    response = api.post(ORDERS, json=partner_sale(seller.codes[:1]), headers=seller.auth)

    assert_problem(response, 409, "code_unavailable")


def test_a_code_named_twice_in_one_sale_is_refused(
    api: httpx.Client, make_seller: MakeSeller
) -> None:
    seller = make_seller()
    code = seller.codes[0]

    response = api.post(ORDERS, json=partner_sale([code, code.lower()]), headers=seller.auth)

    problem = assert_problem(response, 422, "validation_failed")
    assert [error["field"] for error in problem["errors"]] == ["codes"]


def test_an_order_number_is_recorded_once(api: httpx.Client, make_seller: MakeSeller) -> None:
    seller = make_seller()
    record(api, seller, seller.codes[:1], "WEB-100234")

    for spelling in ("WEB-100234", "web 100234"):
        again = api.post(
            ORDERS, json=partner_sale(seller.codes[1:2], spelling), headers=seller.auth
        )
        assert_problem(again, 409, "order_exists")
    # The refused sale's code is still for sale.
    assert record(api, seller, seller.codes[1:2])["codes"] == [masked(seller.codes[1])]


def _in_future() -> str:
    return (datetime.now(UTC) + timedelta(days=1)).isoformat()


BAD_SALES: dict[str, tuple[Callable[[dict[str, Any]], Any], str]] = {
    "no number": (lambda body: {k: v for k, v in body.items() if k != "number"}, "number"),
    "a number of dashes only": (lambda body: {**body, "number": "- -"}, "number"),
    "a number too long": (lambda body: {**body, "number": "N" * 61}, "number"),
    "no date": (
        lambda body: {k: v for k, v in body.items() if k != "purchased_at"},
        "purchased_at",
    ),
    "a date without a time zone": (
        lambda body: {**body, "purchased_at": "2025-03-14T16:05:00"},
        "purchased_at",
    ),
    "a date in the future": (lambda body: {**body, "purchased_at": _in_future()}, "purchased_at"),
    "not a date": (lambda body: {**body, "purchased_at": "yesterday"}, "purchased_at"),
    "no customer": (lambda body: {k: v for k, v in body.items() if k != "customer"}, "customer"),
    "no email": (lambda body: {**body, "customer": {"name": "Mario"}}, "customer.email"),
    "an email without a domain": (
        lambda body: {**body, "customer": {"name": "Mario", "email": "mario@"}},
        "customer.email",
    ),
    "a blank name": (
        lambda body: {**body, "customer": {"name": "  ", "email": "m@example.com"}},
        "customer.name",
    ),
    "no codes": (lambda body: {**body, "codes": []}, "codes"),
    "codes not a list": (lambda body: {**body, "codes": "ABC"}, "codes"),
    "too many codes": (lambda body: {**body, "codes": ["X"] * 101}, "codes"),
    "an unknown field": (lambda body: {**body, "price": 10}, "price"),
}


@pytest.mark.parametrize("case", list(BAD_SALES))
def test_a_sale_of_the_wrong_shape_names_the_field(
    api: httpx.Client, make_seller: MakeSeller, case: str
) -> None:
    seller = make_seller()
    change, field = BAD_SALES[case]

    response = api.post(ORDERS, json=change(partner_sale(seller.codes[:1])), headers=seller.auth)

    problem = assert_problem(response, 422, "validation_failed")
    assert field in [error["field"] for error in problem["errors"]], problem
    assert all(error["message"] for error in problem["errors"])


def test_a_sale_dated_a_little_ahead_of_our_clock_is_accepted(
    api: httpx.Client, make_seller: MakeSeller, clock: Clock
) -> None:
    seller = make_seller()
    ahead = (clock.now() + timedelta(minutes=2)).isoformat()

    response = api.post(
        ORDERS, json=partner_sale(seller.codes[:1], purchased_at=ahead), headers=seller.auth
    )

    assert response.status_code == 201, response.text


# --- concurrency -----------------------------------------------------------------------------


def _at_once(server: str, requests: list[tuple[dict[str, Any], dict[str, str]]]) -> list[int]:
    """Send the sales together, each from a client of its own; their statuses, sorted."""
    start = threading.Barrier(len(requests))

    def send(request: tuple[dict[str, Any], dict[str, str]]) -> int:
        body, headers = request
        with httpx.Client(base_url=server, timeout=60) as client:
            start.wait()
            return client.post(ORDERS, json=body, headers=headers).status_code

    with ThreadPoolExecutor(len(requests)) as pool:
        return sorted(pool.map(send, requests))


# SQLite runs one transaction at a time (BEGIN IMMEDIATE): there the two requests never
# overlap, and these are the sequential cases tested above (test_concurrency.py keeps
# SQLite's answers under a crowd of writers).
@pytest.mark.postgres_only
def test_one_number_recorded_twice_at_once_is_recorded_once(
    server: str, make_seller: MakeSeller
) -> None:
    seller = make_seller(count=10)
    for round_ in range(5):
        number = f"RACE-{round_}"
        pair = seller.codes[2 * round_ : 2 * round_ + 2]
        statuses = _at_once(
            server,
            [
                (partner_sale([pair[0]], number), seller.auth),
                (partner_sale([pair[1]], number), seller.auth),
            ],
        )
        assert statuses == [201, 409], round_


@pytest.mark.postgres_only
def test_one_code_sold_twice_at_once_is_sold_once(server: str, make_seller: MakeSeller) -> None:
    seller = make_seller(count=10)
    for round_ in range(5):
        first, second = seller.codes[2 * round_ : 2 * round_ + 2]
        # The same two codes, named in opposite orders: neither sale may wait on the other.
        statuses = _at_once(
            server,
            [
                (partner_sale([first, second]), seller.auth),
                (partner_sale([second, first]), seller.auth),
            ],
        )
        assert statuses == [201, 409], round_


# --- rate limits ------------------------------------------------------------------------------


def test_a_key_used_too_often_is_rate_limited(
    limited_server: StartLimitedServer, make_seller: MakeSeller
) -> None:
    busy, quiet = make_seller(), make_seller()
    with limited_server(partner_rate="3/minute") as server:
        for _ in range(3):
            assert server.api.get(ALLOCATIONS, headers=busy.auth).status_code == 200

        refused = server.api.post(ORDERS, json=partner_sale(busy.codes[:1]), headers=busy.auth)

        assert_problem(refused, 429, "rate_limited")
        # The limiter's clock stands 15 s into its minute: 45 s until the window ends.
        assert refused.headers["retry-after"] == "45"
        # Another partner's key, from the same address, has its own count.
        assert server.api.get(ALLOCATIONS, headers=quiet.auth).status_code == 200

        server.limiter_time.now += 45
        assert server.api.get(ALLOCATIONS, headers=busy.auth).status_code == 200


def test_guessing_keys_from_one_address_is_rate_limited(
    limited_server: StartLimitedServer, make_seller: MakeSeller
) -> None:
    seller = make_seller()
    with limited_server(partner_rate="3/minute") as server:
        guesses = [REFUSALS["unknown key"](seller) for _ in range(3)]
        for guess in guesses:
            assert_problem(server.api.get(ALLOCATIONS, headers=guess), 401, "invalid_api_key")

        for refused in (
            server.api.get(ALLOCATIONS, headers=REFUSALS["unknown key"](seller)),
            server.api.get(ALLOCATIONS),
            server.api.get(ALLOCATIONS, headers=REFUSALS["right prefix, wrong secret"](seller)),
        ):
            assert_problem(refused, 429, "rate_limited")
            assert refused.headers["retry-after"] == "45"
        # Refused before any key is tried, the right one included: guessing stops here.
        assert_problem(server.api.get(ALLOCATIONS, headers=seller.auth), 429, "rate_limited")
        # The partner itself, from its own address, was never held up.
        with _client_from(server.url, "127.0.0.3") as partner:
            assert partner.get(ALLOCATIONS, headers=seller.auth).status_code == 200

        server.limiter_time.now += 45
        assert_problem(server.api.get(ALLOCATIONS), 401, "invalid_api_key")


def _client_from(url: str, address: str) -> httpx.Client:
    """A client whose requests come from another loopback address."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=url, timeout=30, transport=transport)


def test_guesses_at_a_partners_key_prefix_do_not_spend_the_partners_quota(
    limited_server: StartLimitedServer, make_seller: MakeSeller
) -> None:
    seller = make_seller()
    with (
        limited_server(partner_rate="100/minute") as server,
        _client_from(server.url, "127.0.0.2") as attacker,
        _client_from(server.url, "127.0.0.3") as partner,
    ):
        answers = [
            attacker.get(ALLOCATIONS, headers=REFUSALS["right prefix, wrong secret"](seller))
            for _ in range(200)
        ]

        statuses = [answer.status_code for answer in answers]
        assert statuses[:100] == [401] * 100, "each wrong secret is refused"
        assert statuses[100:] == [429] * 100, "then the address is, whatever it sends"
        assert_problem(answers[-1], 429, "rate_limited")
        # The partner's real calls from its own address go through: the quota of its key
        # counts only requests that proved the key.
        for _ in range(5):
            assert partner.get(ALLOCATIONS, headers=seller.auth).status_code == 200
        recorded = partner.post(
            ORDERS, json=partner_sale(seller.codes[:1], "WEB-9"), headers=seller.auth
        )
        assert recorded.status_code == 201, recorded.text


# --- the API description ---------------------------------------------------------------------


def test_the_openapi_document_describes_the_partner_api(api: httpx.Client) -> None:
    document = api.get("/api/openapi.json").json()
    paths = document["paths"]

    operations = {
        (ORDERS, "post"): {"201", "401", "404", "409", "422", "429"},
        (f"{ORDERS}/{{number}}", "get"): {"200", "401", "404", "429"},
        (ALLOCATIONS, "get"): {"200", "401", "429"},
    }
    for (path, method), statuses in operations.items():
        operation = paths[path][method]
        assert operation["tags"] == ["partners"]
        assert operation["summary"]
        assert statuses <= operation["responses"].keys(), path
        for status in statuses - {"200", "201"}:
            assert "application/problem+json" in operation["responses"][status]["content"]
        assert operation["security"] == [{"PartnerApiKey": []}]
    scheme = document["components"]["securitySchemes"]["PartnerApiKey"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
