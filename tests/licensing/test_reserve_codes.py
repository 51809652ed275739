"""Reserve codes through the API: a second code entered while a license is active extends
its term at once (the reserve starts where the term ended), is refused as activation
refuses a code, one at a time, of the same plan; withdrawn before it starts, the term goes
back and the code activates as any unused code; expiry reminders wait for the new end."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from licensor.clock import Clock
from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring
from licensor.licensing import formats
from licensor.mail.outbox import bodies
from licensor.worker import build_worker
from tests.accounts.factories import LinkCode, MakeAccount, outbox
from tests.cli_support import cli_environment, run
from tests.licensing.factories import (
    BlockCode,
    MakeCode,
    activate,
    device,
    license_file_verifies,
    signing_keys,
    try_activate,
    validate,
)
from tests.store.factories import Allocate, MakePartner
from tests.support import assert_problem, audit_events

YEAR = timedelta(days=365)
Held = dict[str, Any]


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def reserve(api: httpx.Client, held: Held, fingerprint: str, code: str) -> httpx.Response:
    return api.post(
        "/api/v1/licenses/reserve",
        json={
            "license_key": held["license_key"],
            "fingerprint": fingerprint,
            "activation_code": code,
        },
    )


def withdraw(api: httpx.Client, held: Held, fingerprint: str) -> httpx.Response:
    return api.post(
        "/api/v1/licenses/reserve/withdraw",
        json={"license_key": held["license_key"], "fingerprint": fingerprint},
    )


def test_a_reserve_code_extends_the_term_from_its_end_at_once_and_answers_carry_its_start(
    api: httpx.Client, database: Database, make_code: MakeCode, clock: Clock
) -> None:
    machine = device()
    held = activate(api, make_code("plus"), machine)
    first_end = moment(held["expires_at"])
    assert held["reserve_starts_at"] is None
    spare = make_code("plus")
    clock.advance(timedelta(days=100))

    response = reserve(api, held, machine["fingerprint"], spare)

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["reserve"]["code"] == "XXXXX-XXXXX-XXXXX-" + spare[-5:]
    assert moment(body["reserve"]["starts_at"]) == first_end
    assert moment(body["reserve"]["expires_at"]) == first_end + YEAR
    assert body["reserve"]["withdrawable"] is True
    license = body["license"]
    assert moment(license["expires_at"]) == first_end + YEAR
    assert moment(license["reserve_starts_at"]) == first_end
    assert license_file_verifies(license["license_file"], signing_keys(api))
    payload = license["license_file"]["payload"]
    assert moment(payload["expires_at"]) == first_end + YEAR
    assert moment(payload["reserve_starts_at"]) == first_end
    [added] = audit_events(database, "license.reserve_added")
    assert added.details["days"] == 365

    checked = validate(api, held["license_key"], machine["fingerprint"])
    assert moment(checked["expires_at"]) == first_end + YEAR
    assert moment(checked["reserve_starts_at"]) == first_end
    assert moment(checked["license_file"]["payload"]["reserve_starts_at"]) == first_end
    again = activate(api, make_code("plus"), device())  # another license: no reserve
    assert again["reserve_starts_at"] is None

    # Past the first term's end the license is still valid: no job had to run.
    clock.advance(timedelta(days=300))
    late = validate(api, held["license_key"], machine["fingerprint"])
    assert late["valid"] is True
    assert moment(late["expires_at"]) == first_end + YEAR
    # ... and the reserve has started: it can no longer be withdrawn.
    assert_problem(withdraw(api, held, machine["fingerprint"]), 409, "reserve_started")


def test_a_code_in_reserve_does_not_activate_and_the_device_must_hold_the_license(
    api: httpx.Client, make_code: MakeCode
) -> None:
    machine = device()
    held = activate(api, make_code("plus"), machine)
    spare = make_code("plus")

    # Without a seat on this fingerprint nothing is said about the code.
    refused = reserve(api, held, device()["fingerprint"], spare)
    assert_problem(refused, 403, "license_not_on_device")
    assert_problem(
        reserve(api, held, device()["fingerprint"], "nonsense"), 403, "license_not_on_device"
    )

    assert reserve(api, held, machine["fingerprint"], spare).status_code == 201
    assert_problem(try_activate(api, spare), 409, "code_reserved")
    other_machine = device()
    other = activate(api, make_code("plus"), other_machine)
    assert_problem(reserve(api, other, other_machine["fingerprint"], spare), 409, "code_reserved")
    # One reserve at a time.
    assert_problem(
        reserve(api, held, machine["fingerprint"], make_code("plus")), 409, "reserve_exists"
    )


def test_codes_are_refused_as_activation_refuses_them_and_of_another_plan(
    api: httpx.Client,
    make_code: MakeCode,
    block_code: BlockCode,
    make_partner: MakePartner,
    allocate: Allocate,
) -> None:
    machine = device()
    own = make_code("plus")
    held = activate(api, own, machine)
    fingerprint = machine["fingerprint"]
    typo = make_code("plus")
    typo = typo[:-1] + ("0" if typo[-1] != "0" else "1")
    blocked = make_code("plus")
    block_code(blocked)
    used = make_code("plus")
    activate(api, used, device())
    unknown = formats.format_code(formats.generate_code())  # of another installation

    assert_problem(reserve(api, held, fingerprint, typo), 422, "code_malformed")
    assert_problem(reserve(api, held, fingerprint, blocked), 403, "code_blocked")
    assert_problem(reserve(api, held, fingerprint, used), 409, "code_in_use")
    assert_problem(reserve(api, held, fingerprint, unknown), 404, "code_unknown")
    assert_problem(reserve(api, held, fingerprint, own), 409, "code_in_use")
    assert_problem(
        reserve(api, held, fingerprint, make_code("premium")), 409, "reserve_plan_mismatch"
    )
    [unsold] = allocate(make_partner().slug, plan="plus", count=1)
    assert_problem(reserve(api, held, fingerprint, unsold), 403, "code_not_sold")
    assert_problem(try_activate(api, unsold), 403, "code_not_sold")  # the same answer


def test_once_a_reserve_has_started_the_next_years_code_can_be_kept_in_reserve(
    api: httpx.Client, make_code: MakeCode, clock: Clock
) -> None:
    machine = device()
    held = activate(api, make_code("plus"), machine)
    first_end = moment(held["expires_at"])
    assert reserve(api, held, machine["fingerprint"], make_code("plus")).status_code == 201
    clock.advance(YEAR + timedelta(days=30))  # the reserve runs now: it is the term

    response = reserve(api, held, machine["fingerprint"], make_code("plus"))

    assert response.status_code == 201, response.text
    body = response.json()
    assert moment(body["reserve"]["starts_at"]) == first_end + YEAR
    assert body["reserve"]["withdrawable"] is True
    assert moment(body["license"]["expires_at"]) == first_end + 2 * YEAR
    assert moment(body["license"]["reserve_starts_at"]) == first_end + YEAR
    checked = validate(api, held["license_key"], machine["fingerprint"])
    assert moment(checked["reserve_starts_at"]) == first_end + YEAR
    # The new reserve is the one withdrawn; the started one stays spent.
    taken_back = withdraw(api, held, machine["fingerprint"])
    assert taken_back.status_code == 200, taken_back.text
    assert moment(taken_back.json()["license"]["expires_at"]) == first_end + YEAR


def test_withdrawing_takes_the_term_back_and_the_code_activates_as_new(
    api: httpx.Client, database: Database, make_code: MakeCode, clock: Clock
) -> None:
    machine = device()
    held = activate(api, make_code("plus"), machine)
    first_end = moment(held["expires_at"])
    spare = make_code("plus")
    assert reserve(api, held, machine["fingerprint"], spare).status_code == 201

    assert_problem(withdraw(api, held, device()["fingerprint"]), 403, "license_not_on_device")
    response = withdraw(api, held, machine["fingerprint"])

    assert response.status_code == 200, response.text
    assert moment(response.json()["license"]["expires_at"]) == first_end
    assert response.json()["license"]["reserve_starts_at"] is None
    checked = validate(api, held["license_key"], machine["fingerprint"])
    assert moment(checked["expires_at"]) == first_end
    assert "reserve_starts_at" not in checked["license_file"]["payload"]
    assert_problem(withdraw(api, held, machine["fingerprint"]), 404, "reserve_unknown")
    [taken_back] = audit_events(database, "license.reserve_withdrawn")
    assert taken_back.details["days"] == 365

    clock.advance(timedelta(days=30))
    fresh = activate(api, spare, device())  # an unused code again: its own term from now
    assert fresh["license_key"] != held["license_key"]
    assert moment(fresh["expires_at"]) > first_end


def test_a_blocked_reserve_code_takes_its_term_back(
    api: httpx.Client, make_code: MakeCode, block_code: BlockCode
) -> None:
    machine = device()
    held = activate(api, make_code("plus"), machine)
    first_end = moment(held["expires_at"])
    spare = make_code("plus")
    assert reserve(api, held, machine["fingerprint"], spare).status_code == 201

    block_code(spare, "refund")  # a refunded reserve must not keep its year

    checked = validate(api, held["license_key"], machine["fingerprint"])
    assert moment(checked["expires_at"]) == first_end
    assert checked["valid"] is True


def test_an_expired_license_takes_no_reserve(
    api: httpx.Client, make_code: MakeCode, clock: Clock
) -> None:
    machine = device()
    held = activate(api, make_code("plus"), machine)
    clock.advance(YEAR + timedelta(days=1))
    assert_problem(
        reserve(api, held, machine["fingerprint"], make_code("plus")), 403, "license_expired"
    )


def test_a_license_with_a_reserve_is_not_reminded_before_its_first_term_ends(
    database: Database,
    keyring: Keyring,
    settings: Settings,
    clock: Clock,
    api: httpx.Client,
    make_account: MakeAccount,
    linked_code: LinkCode,
    make_code: MakeCode,
) -> None:
    customer = make_account()
    linked = linked_code(customer)
    held = {"license_key": linked.license_key}
    assert reserve(api, held, linked.fingerprint, make_code("plus")).status_code == 201
    worker = build_worker(database, keyring, settings, clock.now)

    clock.advance(YEAR - timedelta(days=6, hours=12))  # a week before the first term's end
    worker.run_until_idle()
    worker.run_until_idle()
    assert outbox(database, customer.email, "expiry_reminder") == []

    clock.advance(YEAR)  # a week before the reserve's end
    worker.run_until_idle()
    worker.run_until_idle()
    assert len(outbox(database, customer.email, "expiry_reminder")) == 1


def test_openapi_documents_the_reserve_routes(api: httpx.Client) -> None:
    paths = api.get("/api/openapi.json").json()["paths"]
    added = paths["/api/v1/licenses/reserve"]["post"]
    assert "reserve_plan_mismatch" in added["description"]
    assert "409" in added["responses"]
    assert "/api/v1/licenses/reserve/withdraw" in paths


def test_the_owner_is_mailed_when_a_device_adds_a_reserve(
    database: Database,
    keyring: Keyring,
    api: httpx.Client,
    make_account: MakeAccount,
    linked_code: LinkCode,
    make_code: MakeCode,
) -> None:
    owner = make_account(language="it")
    linked = linked_code(owner)
    spare = make_code("plus")
    held = {"license_key": linked.license_key}
    assert reserve(api, held, linked.fingerprint, spare).status_code == 201

    [mail] = outbox(database, owner.email, "reserve_added")
    text = bodies(keyring, mail)[0]
    assert mail.subject.startswith("Un codice di riserva è stato aggiunto")
    assert "XXXXX-XXXXX-XXXXX-" + spare[-5:] in text  # masked
    assert spare not in text
    assert f"/account/licenses/{linked.public_id}" in text


def test_the_owner_is_mailed_when_a_device_withdraws_the_reserve(
    database: Database,
    keyring: Keyring,
    api: httpx.Client,
    make_account: MakeAccount,
    linked_code: LinkCode,
    make_code: MakeCode,
) -> None:
    owner = make_account(language="it")
    linked = linked_code(owner)
    spare = make_code("plus")
    held = {"license_key": linked.license_key}
    assert reserve(api, held, linked.fingerprint, spare).status_code == 201

    # Whoever holds a seat can take the year back: the owner must hear of it.
    assert withdraw(api, held, linked.fingerprint).status_code == 200

    [mail] = outbox(database, owner.email, "reserve_withdrawn")
    text = bodies(keyring, mail)[0]
    assert mail.subject.startswith("Il codice di riserva della tua licenza")
    assert "XXXXX-XXXXX-XXXXX-" + spare[-5:] in text  # masked
    assert spare not in text
    assert f"/account/licenses/{linked.public_id}" in text


def test_racing_reserves_give_one_reserve_per_license_and_one_license_per_code(
    api: httpx.Client, make_code: MakeCode
) -> None:
    machine = device()
    held = activate(api, make_code("plus"), machine)
    spares = [make_code("plus") for _ in range(6)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(
            pool.map(lambda code: reserve(api, held, machine["fingerprint"], code), spares)
        )
    codes = sorted(answer.status_code for answer in answers)
    assert codes == [201, 409, 409, 409, 409, 409], [a.text for a in answers]
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"reserve_exists"}

    shared = make_code("plus")
    holders = [(device(), make_code("plus")) for _ in range(4)]
    licenses = [(activate(api, code, box), box) for box, code in holders]
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(
            pool.map(lambda pair: reserve(api, pair[0], pair[1]["fingerprint"], shared), licenses)
        )
    assert sorted(a.status_code for a in answers) == [201, 409, 409, 409]
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"code_reserved"}


def test_licensor_licenses_show_and_codes_show_tell_the_reserve(
    api: httpx.Client, settings: Settings, make_code: MakeCode, tmp_path: Path
) -> None:
    environment = cli_environment(settings.var_dir, settings.resolved_database_url)

    def licensor(*args: str) -> dict[str, Any]:
        done = run("licensor", *args, "--json", environment=environment, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        shown: dict[str, Any] = json.loads(done.stdout)
        return shown

    machine = device()
    held = activate(api, make_code("plus"), machine)
    spare = make_code("plus")
    assert reserve(api, held, machine["fingerprint"], spare).status_code == 201

    license = licensor("licenses", "show", held["public_id"])
    assert license["reserve_starts_at"] is not None
    code = licensor("codes", "show", spare)
    assert code["reserved_for"] == held["public_id"]
    assert code["reserve_starts_at"] == license["reserve_starts_at"]
