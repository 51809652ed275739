"""Unsold codes (issue 11, item 7): a code of a partner's allocation, or a card of a batch
issued ``--sold-at-till``, activates only once its sale is recorded — by the partner API
or by ``licensor orders create --partner SLUG --code CODE`` — so a stolen, unsold card is
worth nothing; nor can it be added to an account by hand. Printed cards without the
option activate as before."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import httpx
from sqlalchemy import func, select

from licensor.config import Settings
from licensor.db import Database
from licensor.licensing import formats
from licensor.models import ActivationCode
from tests.accounts.factories import MakeAccount, OpenBrowser
from tests.cli_support import licensor, one_line, read_codes
from tests.conftest import OpenUnit
from tests.licensing.factories import MakePlan, device, try_activate
from tests.store.factories import ORDERS, Allocate, MakePartner, PartnerKey, bearer, partner_sale
from tests.support import assert_problem
from tests.support.factories import MakeRequest, SignInStaff


def record_sale(api: httpx.Client, key: str, codes: list[str]) -> httpx.Response:
    return api.post(ORDERS, json=partner_sale(codes), headers=bearer(key))


def issue(tmp_path: Path, settings: Settings, *options: str, count: int = 2) -> list[str]:
    """``licensor codes issue`` as the vendor runs it; the codes of the printer's CSV."""
    out = tmp_path / f"batch-{secrets.token_hex(3)}.csv"
    status, _, err = licensor(
        tmp_path,
        settings,
        "codes",
        "issue",
        "--plan",
        "plus",
        "--count",
        str(count),
        "--out",
        str(out),
        *options,
    )
    assert status == 0, err
    return read_codes(out)[1]


# --- a partner's allocation ------------------------------------------------------------------


def test_an_allocated_code_activates_only_once_the_partner_records_its_sale(
    api: httpx.Client, make_partner: MakePartner, partner_key: PartnerKey, allocate: Allocate
) -> None:
    slug = make_partner().slug
    sold, unsold = allocate(slug, count=2)

    refused = assert_problem(try_activate(api, sold), 403, "code_not_sold")
    assert "sale" in refused["title"]
    assert record_sale(api, partner_key(slug), [sold]).status_code == 201

    assert try_activate(api, sold).status_code == 201
    assert_problem(try_activate(api, unsold), 403, "code_not_sold")  # still not sold


def test_a_license_that_exists_is_not_asked_again(
    api: httpx.Client, make_partner: MakePartner, partner_key: PartnerKey, allocate: Allocate
) -> None:
    slug = make_partner().slug
    (code,) = allocate(slug, count=1)
    assert record_sale(api, partner_key(slug), [code]).status_code == 201
    machine = device()
    assert try_activate(api, code, machine).status_code == 201

    again = try_activate(api, code, machine)
    other = try_activate(api, code)

    assert again.status_code == 201, again.text
    assert other.status_code == 201, other.text


def test_an_unsold_code_cannot_be_added_to_an_account_by_hand(
    api: httpx.Client,
    make_partner: MakePartner,
    partner_key: PartnerKey,
    allocate: Allocate,
    make_account: MakeAccount,
    form_browser: OpenBrowser,
) -> None:
    slug = make_partner().slug
    (code,) = allocate(slug, count=1)
    customer = make_account()
    browser = form_browser()
    browser.sign_in(customer)

    refused = browser.post(
        "/account/licenses",
        {"activation_code": code},
        token=browser.csrf_token("/account/licenses"),
    )

    assert refused.status_code == 422, refused.text
    assert "has not been sold yet" in refused.text
    assert "The shop that sold it must register the sale first" in refused.text
    assert code not in browser.get("/account/licenses").text

    assert record_sale(api, partner_key(slug), [code]).status_code == 201
    added = browser.post(
        "/account/licenses",
        {"activation_code": code},
        token=browser.csrf_token("/account/licenses"),
    )
    assert added.status_code == 200, added.text
    assert "The code was added to your account." in added.text
    assert code in browser.get("/account/licenses").text


def test_openapi_documents_code_not_sold_on_activation(api: httpx.Client) -> None:
    route = api.get("/api/openapi.json").json()["paths"]["/api/v1/activations"]["post"]
    assert "403" in route["responses"]
    assert "`code_not_sold` 403" in route["description"]


# --- cards sold at the till ------------------------------------------------------------------


def test_a_till_card_activates_once_any_partners_till_records_the_sale(
    api: httpx.Client,
    tmp_path: Path,
    settings: Settings,
    database: Database,
    make_plan: MakePlan,
    make_partner: MakePartner,
    partner_key: PartnerKey,
) -> None:
    make_plan("plus")
    card, other_card = issue(tmp_path, settings, "--sold-at-till")
    till = make_partner(name="Electronics Corner").slug  # no allocation of its own

    assert_problem(try_activate(api, card), 403, "code_not_sold")
    recorded = record_sale(api, partner_key(till), [card])

    assert recorded.status_code == 201, recorded.text
    assert recorded.json()["codes"] == [formats.mask_code(formats.normalize_code(card))]
    assert try_activate(api, card).status_code == 201
    assert_problem(try_activate(api, other_card), 403, "code_not_sold")


def test_a_till_batch_of_a_partner_is_that_partners_to_record(
    api: httpx.Client,
    tmp_path: Path,
    settings: Settings,
    make_plan: MakePlan,
    make_partner: MakePartner,
    partner_key: PartnerKey,
) -> None:
    make_plan("plus")
    owner, stranger = make_partner().slug, make_partner().slug
    (card,) = issue(tmp_path, settings, "--sold-at-till", "--partner", owner, count=1)

    assert_problem(record_sale(api, partner_key(stranger), [card]), 404, "code_not_allocated")
    assert record_sale(api, partner_key(owner), [card]).status_code == 201
    assert try_activate(api, card).status_code == 201


def test_printed_cards_without_the_option_activate_as_before(
    api: httpx.Client, tmp_path: Path, settings: Settings, make_plan: MakePlan
) -> None:
    make_plan("plus")
    (card,) = issue(tmp_path, settings, count=1)

    assert try_activate(api, card).status_code == 201


# --- the back office records a sale -----------------------------------------------------------


def test_the_back_office_records_the_sale_of_till_cards_for_a_partner(
    api: httpx.Client,
    tmp_path: Path,
    settings: Settings,
    database: Database,
    make_plan: MakePlan,
    make_partner: MakePartner,
) -> None:
    make_plan("plus")
    first, second = issue(tmp_path, settings, "--sold-at-till")
    till = make_partner().slug
    assert_problem(try_activate(api, first), 403, "code_not_sold")

    status, out, err = licensor(
        tmp_path,
        settings,
        "orders",
        "create",
        "--partner",
        till,
        "--code",
        first.lower(),
        "--code",
        second,
        "--plan",
        "plus",
        "--email",
        "Mario.Rossi@example.com",
        "--name",
        "Mario Rossi",
        "--json",
    )

    assert status == 0, err
    order = json.loads(out)
    assert set(order) == {"number", "purchased_at", "codes"}
    assert sorted(order["codes"]) == sorted([first, second])
    assert try_activate(api, first).status_code == 201
    assert try_activate(api, second).status_code == 201


def test_the_back_office_records_an_allocated_codes_sale_and_refuses_what_is_not_the_partners(
    api: httpx.Client,
    tmp_path: Path,
    settings: Settings,
    make_partner: MakePartner,
    allocate: Allocate,
    make_plan: MakePlan,
) -> None:
    seller, other = make_partner().slug, make_partner().slug
    (code,) = allocate(seller, count=1)
    (theirs,) = allocate(other, count=1)

    def record(*args: str) -> tuple[int, str, str]:
        return licensor(
            tmp_path,
            settings,
            "orders",
            "create",
            "--partner",
            seller,
            "--email",
            "a@example.com",
            "--name",
            "A B",
            *args,
        )

    status, _, err = record("--code", theirs)
    assert status == 1
    assert "not in your allocation" in one_line(err)

    make_plan("premium")
    status, _, err = record("--code", code, "--plan", "premium")
    assert status == 1
    assert "is a plus code, not premium" in one_line(err)

    status, _, err = record("--code", code, "--quantity", "2")
    assert status == 2
    assert "takes no --quantity" in one_line(err)

    assert_problem(try_activate(api, code), 403, "code_not_sold")  # nothing recorded yet
    status, out, err = record("--code", code)
    assert status == 0, err
    assert "sold by " + seller in one_line(out)
    assert try_activate(api, code).status_code == 201

    status, _, err = record("--code", code)  # sold once only
    assert status == 1
    assert "already sold or blocked" in one_line(err)


def test_a_back_office_order_for_a_partner_without_codes_says_its_cards_stay_unsold(
    api: httpx.Client,
    tmp_path: Path,
    settings: Settings,
    make_partner: MakePartner,
    allocate: Allocate,
) -> None:
    """New codes for the partner's order; the cards it holds are the ones it sold, so the
    command points to --code rather than picking one of them at random."""
    seller = make_partner().slug
    (card,) = allocate(seller, count=1)

    status, out, err = licensor(
        tmp_path,
        settings,
        "orders",
        "create",
        "--partner",
        seller,
        "--plan",
        "plus",
        "--email",
        "a@example.com",
        "--name",
        "A B",
    )

    assert status == 0, err
    assert ": 1 code " in one_line(out)
    assert f"{seller} holds 1 unsold code of plan plus" in one_line(err)
    assert "--code" in one_line(err)
    assert_problem(try_activate(api, card), 403, "code_not_sold")


def test_an_unsold_code_is_not_replaced_into_one_that_activates_without_its_sale(
    api: httpx.Client,
    make_partner: MakePartner,
    allocate: Allocate,
    open_unit: OpenUnit,
    make_request: MakeRequest,
    sign_in_staff: SignInStaff,
) -> None:
    # A replacement is a code of no batch: were an unsold card's code replaced, the new
    # one would activate with no sale recorded (Codes.replace asks for the sale first).
    [unsold] = allocate(make_partner().slug, count=1)
    with open_unit() as unit:
        code_id = unit.codes.find_code(unsold).id
    request = make_request()
    agent, _ = sign_in_staff()
    before = codes_issued(open_unit)

    refused = agent.post(
        f"/desk/requests/{request.number}/replace-code",
        {"code_id": str(code_id), "reason": "the customer says it leaked"},
    )

    assert refused.status_code == 403
    assert codes_issued(open_unit) == before  # no replacement
    assert_problem(try_activate(api, unsold), 403, "code_not_sold")  # nor blocked


def codes_issued(open_unit: OpenUnit) -> int:
    with open_unit() as unit:
        return unit.session.scalar(select(func.count()).select_from(ActivationCode)) or 0
