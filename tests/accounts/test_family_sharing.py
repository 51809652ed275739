"""Family sharing (issue 16, item 5), through the pages as a browser posts them and the
API as the invitee's app calls it: the owner invites by email, the invitee accepts in
their own account and sees the license there (never its code or key), a device of theirs
takes a seat through the share, and the owner's revoking frees it at once."""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select

from licensor.db import Database
from licensor.keys import Keyring
from licensor.mail.outbox import bodies
from licensor.models import Activation, Device
from tests.accounts.factories import (
    Browser,
    Customer,
    LinkCode,
    LinkedCode,
    MakeAccount,
    OpenBrowser,
    fresh_email,
    link_in_mail,
    outbox,
    signed_in,
)
from tests.cli_support import cli_environment
from tests.cli_support import run as run_script
from tests.licensing.factories import activate, device, validate
from tests.mail_support import SmtpServer, text_of
from tests.support import assert_problem, audit_events
from tests.support.factories import (
    MakeRequest,
    Reading,
    SignInStaff,
    device_key_text,
    png_bytes,
)

INVITATION = re.compile(r"https?://[^/\s]+(/share/[A-Za-z0-9_-]+)")


def sharing_page(linked: LinkedCode) -> str:
    return f"/account/licenses/{linked.public_id}/sharing"


def invite(browser: Browser, linked: LinkedCode, email: str) -> httpx.Response:
    page = sharing_page(linked)
    return browser.post(page, {"email": email}, token=browser.csrf_token(page))


def invitation_link(database: Database, keyring: Keyring, email: str) -> str:
    [mail] = outbox(database, email, "share_invitation")
    text, _ = bodies(keyring, mail)
    match = INVITATION.search(text)
    assert match, text
    return match.group(1)


def accept(browser: Browser, link: str) -> httpx.Response:
    # The token of any form of the session: a spent link's page has none.
    return browser.post(link, {}, token=browser.csrf_token("/account/licenses"))


def take_seat(
    api: httpx.Client, customer: Customer, public_id: str, machine: dict[str, str]
) -> httpx.Response:
    return api.post(
        f"/api/v1/account/shared-licenses/{public_id}/activate",
        json={"email": customer.email, "password": customer.password, "device": machine},
    )


def shared(
    api: httpx.Client,
    make_account: MakeAccount,
    linked_code: LinkCode,
    form_browser: OpenBrowser,
    database: Database,
    keyring: Keyring,
) -> tuple[Customer, LinkedCode, Browser, Customer, Browser]:
    """An owner's license (3 devices) shared with an invitee who accepted."""
    owner = make_account()
    linked = linked_code(owner)
    owner_browser = signed_in(form_browser, owner)
    invitee = make_account()
    assert invite(owner_browser, linked, invitee.email).status_code == 303
    invitee_browser = signed_in(form_browser, invitee)
    accepted = accept(invitee_browser, invitation_link(database, keyring, invitee.email))
    assert accepted.status_code == 303, accepted.text
    return owner, linked, owner_browser, invitee, invitee_browser


def test_an_invitee_accepts_sees_the_license_without_its_code_and_a_device_takes_a_seat(
    api: httpx.Client,
    make_account: MakeAccount,
    linked_code: LinkCode,
    form_browser: OpenBrowser,
    database: Database,
    keyring: Keyring,
    mail_worker: SmtpServer,
) -> None:
    owner = make_account()
    linked = linked_code(owner)
    owner_browser = signed_in(form_browser, owner)
    assert sharing_page(linked) in owner_browser.get(f"/account/licenses/{linked.public_id}").text
    invitee = make_account(language="it")
    invited = invite(owner_browser, linked, invitee.email.upper())
    assert invited.status_code == 303, invited.text
    page = owner_browser.get(sharing_page(linked)).text
    assert invitee.email in page
    assert "Invited, waiting" in page

    # The mail reaches the invited mailbox, in the owner's language (the invitee's is unknown).
    mail = mail_worker.inbox.to(invitee.email, "shared a")
    link = INVITATION.search(text_of(mail))
    assert link is not None
    path = link.group(1)

    visitor = form_browser()
    opened = visitor.get(path)
    assert opened.status_code == 200
    assert opened.headers["cache-control"] == "no-store"
    assert owner.email[:2] + "***@" in opened.text
    assert "/sign-in?next=" in opened.text

    invitee_browser = signed_in(form_browser, invitee)
    accepted = accept(invitee_browser, path)
    assert accepted.status_code == 303, accepted.text
    licenses = invitee_browser.get("/account/licenses").text
    assert linked.public_id in licenses
    assert "Condivisa da" in licenses or "Shared by" in licenses
    for secret in (linked.code, linked.code.replace("-", ""), linked.license_key):
        assert secret not in licenses
    assert invitee_browser.get(f"/account/licenses/{linked.public_id}").status_code == 404
    assert "Accepted" in owner_browser.get(sharing_page(linked)).text
    assert mail_worker.inbox.to(owner.email, "accepted your")

    listed = api.post(
        "/api/v1/account/shared-licenses",
        json={"email": invitee.email, "password": invitee.password},
    )
    assert listed.status_code == 200, listed.text
    [row] = listed.json()["licenses"]
    assert row["public_id"] == linked.public_id
    assert linked.code not in listed.text
    assert linked.license_key not in listed.text

    machine = device("Tablet")
    seat = take_seat(api, invitee, linked.public_id, machine)
    assert seat.status_code == 201, seat.text
    assert seat.json()["devices_used"] == 2  # the owner's device and this one
    assert validate(api, seat.json()["license_key"], machine["fingerprint"])["valid"] is True
    assert "activation_code" not in seat.text
    assert linked.code not in seat.text

    [event] = audit_events(database, "license.share_accepted")
    assert event.subject_id is not None
    assert audit_events(database, "license.shared")


def test_revoking_frees_the_invitees_seat_and_tells_them(
    api: httpx.Client,
    make_account: MakeAccount,
    linked_code: LinkCode,
    form_browser: OpenBrowser,
    database: Database,
    keyring: Keyring,
    sign_in_staff: SignInStaff,
) -> None:
    _owner, linked, owner_browser, invitee, invitee_browser = shared(
        api, make_account, linked_code, form_browser, database, keyring
    )
    machine = device("Phone")
    seat = take_seat(api, invitee, linked.public_id, machine)
    assert seat.status_code == 201, seat.text
    license_key = seat.json()["license_key"]
    agent, _ = sign_in_staff("agent")
    console = agent.get(f"/console/licenses/{linked.public_id}").text
    assert invitee.email in console
    assert "Shared with family" in console

    page = owner_browser.get(sharing_page(linked)).text
    [revoke_path] = re.findall(r'href="(/account/licenses/[^"]+/revoke)"', page)
    confirm = owner_browser.get(revoke_path)
    assert confirm.status_code == 200
    revoked = owner_browser.post(revoke_path, {}, token=owner_browser.csrf_token(revoke_path))
    assert revoked.status_code == 303, revoked.text

    answer = validate(api, license_key, machine["fingerprint"])
    assert answer["valid"] is False
    assert answer["reason"] == "released"
    assert validate(api, linked.license_key, linked.fingerprint)["valid"] is True
    assert outbox(database, invitee.email, "share_revoked")
    [event] = audit_events(database, "license.share_revoked")
    assert event.details["seats_freed"] == 1
    assert linked.public_id not in invitee_browser.get("/account/licenses").text
    refused = take_seat(api, invitee, linked.public_id, machine)
    assert_problem(refused, 404, "license_not_shared")


def test_an_invitation_used_twice_or_by_another_account_is_refused_alike(
    api: httpx.Client,
    make_account: MakeAccount,
    linked_code: LinkCode,
    form_browser: OpenBrowser,
    database: Database,
    keyring: Keyring,
) -> None:
    owner = make_account()
    linked = linked_code(owner)
    owner_browser = signed_in(form_browser, owner)
    invitee = make_account()
    assert invite(owner_browser, linked, invitee.email).status_code == 303
    path = invitation_link(database, keyring, invitee.email)

    stranger = make_account()
    stranger_browser = signed_in(form_browser, stranger)
    by_stranger = accept(stranger_browser, path)
    assert by_stranger.status_code == 410
    assert invitee.email not in by_stranger.text

    assert accept(signed_in(form_browser, invitee), path).status_code == 303
    again = accept(signed_in(form_browser, invitee), path)
    assert again.status_code in (404, 410)
    assert "cannot be accepted" in again.text or "does not work" in again.text
    by_stranger_later = accept(stranger_browser, path)
    assert by_stranger_later.status_code == again.status_code
    assert "The invitation cannot be accepted" not in owner_browser.get(sharing_page(linked)).text


def test_the_owner_invites_at_most_devices_max_minus_one_and_never_themselves(
    make_account: MakeAccount,
    linked_code: LinkCode,
    form_browser: OpenBrowser,
    database: Database,
) -> None:
    owner = make_account()
    linked = linked_code(owner)  # a plan for 3 devices
    browser = signed_in(form_browser, owner)
    own = invite(browser, linked, owner.email)
    assert own.status_code == 422
    assert 'id="email-error"' in own.text
    assert invite(browser, linked, "first@example.com").status_code == 303
    assert invite(browser, linked, "first@example.com").status_code == 422
    assert invite(browser, linked, "second@example.com").status_code == 303
    over = invite(browser, linked, "third@example.com")
    assert over.status_code == 422
    assert "Stop sharing with someone first" in over.text
    assert not outbox(database, "third@example.com")

    stranger = signed_in(form_browser, make_account())
    assert stranger.get(sharing_page(linked)).status_code == 404


def unpadded(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_licensor_client_lists_and_uses_a_shared_license_until_the_owner_stops_sharing(
    api: httpx.Client,
    server: str,
    make_account: MakeAccount,
    linked_code: LinkCode,
    form_browser: OpenBrowser,
    database: Database,
    keyring: Keyring,
    tmp_path: Path,
) -> None:
    _owner, linked, owner_browser, invitee, _ = shared(
        api, make_account, linked_code, form_browser, database, keyring
    )
    env = cli_environment(tmp_path / "var")
    env.update(
        LICENSOR_FINGERPRINT=f"cli-shared-{secrets.token_hex(8)}",
        LICENSOR_PASSWORD=invitee.password,
    )

    def client(*args: str, status: int = 0) -> str:
        ran = run_script(
            "licensor-client", "--server", server, "--state-dir", str(tmp_path / "state"),
            *args, environment=env, cwd=tmp_path,
        )  # fmt: skip
        assert ran.returncode == status, ran.stdout + ran.stderr
        return str(ran.stdout)

    listed = client("shared", "--email", invitee.email)
    assert linked.public_id in listed
    assert "shared by" in listed
    activated = client("--json", "shared", "--email", invitee.email, linked.public_id)
    assert json.loads(activated)["public_id"] == linked.public_id
    assert linked.code not in activated
    assert json.loads(client("--json", "status"))["valid"] is True
    # The shared seat keeps the device's key too: the invitee's app signs license proofs.
    _, payload, signature = client("proof", "-").strip().split(".")
    with database.transaction() as session:
        seat_key = session.scalar(
            select(Activation.device_key)
            .join(Device, Device.id == Activation.device_id)
            .where(Device.fingerprint == env["LICENSOR_FINGERPRINT"])
        )
    assert seat_key is not None
    Ed25519PublicKey.from_public_bytes(seat_key).verify(unpadded(signature), unpadded(payload))

    page = owner_browser.get(sharing_page(linked)).text
    [revoke_path] = re.findall(r'href="(/account/licenses/[^"]+/revoke)"', page)
    owner_browser.post(revoke_path, {}, token=owner_browser.csrf_token(revoke_path))
    stopped = json.loads(client("--json", "status", status=4))
    assert stopped["valid"] is False
    assert stopped["reason"] == "released"


def test_an_invitee_naming_the_owners_fingerprint_never_sets_its_seats_device_key(
    api: httpx.Client,
    make_account: MakeAccount,
    linked_code: LinkCode,
    form_browser: OpenBrowser,
    database: Database,
    keyring: Keyring,
) -> None:
    _owner, linked, _, invitee, _ = shared(
        api, make_account, linked_code, form_browser, database, keyring
    )
    # The owner's seat was taken by an app older than device keys; a fingerprint is no
    # secret, so the invitee's app names it with a key of its own.
    theirs = Ed25519PrivateKey.generate()
    machine = {**device("Laptop"), "fingerprint": linked.fingerprint}
    taken = take_seat(api, invitee, linked.public_id, {**machine, "key": device_key_text(theirs)})
    assert taken.status_code == 201, taken.text

    # The owner's own app, updated, activates again: its seat learns the owner's key.
    owners = Ed25519PrivateKey.generate()
    activate(api, linked.code, {**machine, "key": device_key_text(owners)})
    with database.transaction() as session:
        [seat_key] = session.scalars(
            select(Activation.device_key)
            .join(Device, Device.id == Activation.device_id)
            .where(Device.fingerprint == linked.fingerprint, Activation.released_at.is_(None))
        ).all()
    assert seat_key == owners.public_key().public_bytes_raw()


def test_the_desk_sends_a_shared_licenses_code_only_to_its_owner_whatever_a_screenshot_shows(
    api: httpx.Client,
    make_account: MakeAccount,
    linked_code: LinkCode,
    form_browser: OpenBrowser,
    database: Database,
    keyring: Keyring,
    make_request: MakeRequest,
    sign_in_staff: SignInStaff,
) -> None:
    owner, linked, _, invitee, _ = shared(
        api, make_account, linked_code, form_browser, database, keyring
    )
    seat = take_seat(api, invitee, linked.public_id, device("Phone"))
    assert seat.status_code == 201, seat.text
    license_key = seat.json()["license_key"]
    # The invitee's app shows the key: a verified screenshot of it proves a seat, not the code.
    request = make_request(
        email=invitee.email,
        screenshot=png_bytes(),
        reading=Reading(f"License key {license_key}", license_key, True),
    )
    agent, _ = sign_in_staff()
    page = agent.get(f"/desk/licenses/{linked.public_id}?request={request.number}").text
    assert f"The requester, {invitee.email}" not in page
    assert f"The account that holds the code, {owner.email}" in page


def test_the_invited_address_must_be_confirmed_in_the_accepting_account(
    make_account: MakeAccount,
    linked_code: LinkCode,
    form_browser: OpenBrowser,
    database: Database,
    keyring: Keyring,
) -> None:
    owner = make_account()
    linked = linked_code(owner)
    invited = fresh_email("family")
    assert invite(signed_in(form_browser, owner), linked, invited).status_code == 303
    path = invitation_link(database, keyring, invited)

    # The invitee signs in with another address and adds the invited one, unconfirmed.
    invitee = make_account()
    browser = signed_in(form_browser, invitee)
    added = browser.post(
        "/account/emails", {"email": invited}, token=browser.csrf_token("/account/emails")
    )
    assert added.status_code == 303, added.text
    refused = accept(browser, path)
    assert refused.status_code == 410
    assert "has not confirmed" in refused.text
    assert audit_events(database, "license.share_accept_refused")

    [mail] = outbox(database, invited, "account_email_confirm")
    token = link_in_mail(keyring, mail, "/account/emails/confirm").split("token=", 1)[1]
    confirmed = browser.post(
        "/account/emails/confirm", {"token": token}, token=browser.csrf_token("/account/emails")
    )
    assert confirmed.status_code == 200, confirmed.text
    assert accept(browser, path).status_code == 303
    assert linked.public_id in browser.get("/account/licenses").text


def test_invitations_sent_at_once_never_pass_the_limit_nor_the_rate(
    make_account: MakeAccount,
    linked_code: LinkCode,
    form_browser: OpenBrowser,
    database: Database,
) -> None:
    owner = make_account()
    linked = linked_code(owner)  # 3 devices: at most 2 shares
    tabs = [signed_in(form_browser, owner) for _ in range(5)]
    page = sharing_page(linked)
    tokens = [tab.csrf_token(page) for tab in tabs]
    start = threading.Barrier(len(tabs))

    def send(index: int) -> int:
        start.wait()
        email = f"family-{index}@example.com"
        return tabs[index].post(page, {"email": email}, token=tokens[index]).status_code

    with ThreadPoolExecutor(len(tabs)) as pool:
        answers = sorted(pool.map(send, range(len(tabs))))
    # Counted under the license's lock: two invitations, the others refused by the field.
    assert answers == [303, 303, 422, 422, 422], answers
    assert len(audit_events(database, "license.shared")) == 2
    # Each invitation mails an address typed by the visitor: 5 an hour per account.
    limited = tabs[0].post(page, {"email": "family-9@example.com"}, token=tokens[0])
    assert limited.status_code == 429


def test_the_data_export_tells_the_shares_without_the_code_and_erasure_ends_them(
    api: httpx.Client,
    make_account: MakeAccount,
    linked_code: LinkCode,
    form_browser: OpenBrowser,
    database: Database,
    keyring: Keyring,
    sign_in_staff: SignInStaff,
) -> None:
    owner, linked, _, invitee, _ = shared(
        api, make_account, linked_code, form_browser, database, keyring
    )
    machine = device("Phone")
    license_key = take_seat(api, invitee, linked.public_id, machine).json()["license_key"]
    admin, _ = sign_in_staff("admin")

    def export(customer: Customer) -> httpx.Response:
        page = f"/console/customers/{customer.id}"
        return admin.post(f"{page}/export", {}, token=admin.csrf_token(page))

    theirs = export(invitee)
    assert theirs.status_code == 200, theirs.text
    [joined] = theirs.json()["family_sharing"]["shared_with_me"]
    assert joined["license"] == linked.public_id
    assert linked.code not in theirs.text
    assert linked.license_key not in theirs.text
    [invited] = export(owner).json()["family_sharing"]["invited"]
    assert invited["email"] == invitee.email

    form = f"/console/customers/{invitee.id}/erase"
    erased = admin.post(
        form,
        {"confirm_email": invitee.email, "reason": "GDPR request"},
        token=admin.csrf_token(form),
    )
    assert erased.status_code == 303, erased.text
    assert validate(api, license_key, machine["fingerprint"])["reason"] == "released"
    [after] = export(owner).json()["family_sharing"]["invited"]
    assert after["email"] != invitee.email
    assert after["ended_at"] is not None


def test_an_invitation_accepted_twice_at_once_is_accepted_once(
    make_account: MakeAccount,
    linked_code: LinkCode,
    form_browser: OpenBrowser,
    database: Database,
    keyring: Keyring,
) -> None:
    owner = make_account()
    linked = linked_code(owner)
    invitee = make_account()
    assert invite(signed_in(form_browser, owner), linked, invitee.email).status_code == 303
    path = invitation_link(database, keyring, invitee.email)
    tabs = [signed_in(form_browser, invitee) for _ in range(4)]
    tokens = [tab.csrf_token("/account/licenses") for tab in tabs]
    start = threading.Barrier(len(tabs))

    def click(index: int) -> int:
        start.wait()
        return tabs[index].post(path, {}, token=tokens[index]).status_code

    with ThreadPoolExecutor(len(tabs)) as pool:
        answers = sorted(pool.map(click, range(len(tabs))))
    assert answers[0] == 303, answers
    assert all(answer in (404, 410) for answer in answers[1:]), answers
    assert len(audit_events(database, "license.share_accepted")) == 1
    assert len(outbox(database, owner.email, "share_accepted")) == 1
