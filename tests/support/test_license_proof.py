"""The signed license proof on its way to support (issue 16, item 7): the SDK makes it
with the device's own key, the support form accepts it instead of a screenshot, and the
desk shows it verified, with its license, ready for the templated reply. An edited proof,
or one signed by another key, is shown as not verified with its reason, while the
customer's answer is the same page whatever was sent.

The proof's format is docs/protocol.md's, written out here again (not imported from
Licensor) to forge the edited ones."""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from licensor.clock import Clock
from licensor.db import Database
from licensor.models import AuditEvent, LicenseProof
from licensor_client import LicenseClient
from licensor_client._proof import device_key
from tests.accounts.factories import Browser, MakeAccount, fresh_email
from tests.licensing.factories import MakeCode
from tests.support.factories import SignInStaff
from tests.support.uploads import CARD_FORM, CSRF_FIELD, REQUEST_NUMBER, SUPPORT, card_request

NewDevice = Callable[..., LicenseClient]
# How the desk says why a proof is not verified.
REASONS = {
    "bad_signature": "The signature does not verify with the key of the device",
    "malformed": "It is not a license proof",
    "seat_released": "The device that signed it no longer holds a seat of the license",
}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def payload_of(proof: str) -> dict[str, str]:
    return json.loads(b64url_decode(proof.split(".")[1]))  # type: ignore[no-any-return]


def signed(payload: dict[str, str], key: Ed25519PrivateKey) -> str:
    data = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return f"LP1.{b64url(data)}.{b64url(key.sign(data))}"


@pytest.fixture
def new_device(server: str, api: httpx.Client, clock: Clock, tmp_path: Path) -> Iterator[NewDevice]:
    keys = ",".join(f"{i}:{k}" for i, k in api.get("/api/v1/signing-keys").json()["keys"].items())
    made: list[LicenseClient] = []

    def make(name: str, fingerprint: str | None = None) -> LicenseClient:
        client = LicenseClient(
            server,
            keys,
            app_id="licensor-tests",
            state_dir=tmp_path / f"{name}-{secrets.token_hex(4)}",
            fingerprint=fingerprint or f"proof-{name}-{secrets.token_hex(8)}",
            device_name=name,
            clock=clock.now,
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def send_proof(visitor: Browser, email: str, proof: str, *, pasted: bool = False) -> str:
    """The support form with a proof and no screenshot; the answer page's text."""
    data = {**card_request(email), CSRF_FIELD: visitor.csrf_token(CARD_FORM)}
    files = [("screenshot", ("", b"", "application/octet-stream"))]
    if pasted:
        data["proof_text"] = proof
    else:
        files.append(("proof", ("license-proof.txt", proof.encode(), "text/plain")))
    response = visitor.client.post(SUPPORT, data=data, files=files)
    assert response.status_code == 200, response.text
    return response.text


def proof_panel(agent: Browser, answer: str) -> str:
    number = REQUEST_NUMBER.search(answer)
    assert number, answer
    page = agent.get(f"/desk/requests/{number.group(0)}")
    assert page.status_code == 200, page.text
    match = re.search(r"<h2>License proofs</h2>(.*?)<form", page.text, re.S)
    assert match, "no license proofs on the desk"
    return match.group(1)


def test_a_proof_the_app_made_is_verified_on_the_desk_without_a_screenshot(
    new_device: NewDevice,
    make_code: MakeCode,
    visitor: Browser,
    sign_in_staff: SignInStaff,
    database: Database,
) -> None:
    laptop = new_device("Laptop")
    info = laptop.activate(make_code("plus"))
    proof = laptop.license_proof()
    assert proof.startswith("LP1.")
    assert len(proof) < 600
    assert payload_of(proof)["public_id"] == info.public_id

    answer = send_proof(visitor, fresh_email("proof"), proof)
    agent, _ = sign_in_staff()
    panel = proof_panel(agent, answer)

    assert "Verified" in panel
    assert f"Signed by the device Laptop holding license {info.public_id}" in panel
    assert f'href="/desk/licenses/{info.public_id}?request=' in panel
    # The proof shows the license as a confirmed key does: the code may go to the requester.
    license_page = agent.get(re.search(r'href="(/desk/licenses/[^"]+)"', panel).group(1))  # type: ignore[union-attr]
    assert "send-code" in license_page.text
    with database.transaction() as session:
        kept = session.scalars(select(LicenseProof)).one()
        assert kept.verified
        assert kept.license_id is not None
        assert info.license_key.encode() not in kept.proof_ciphertext  # encrypted at rest
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "support.proof_checked")
        ).one()
        assert event.details["verified"] is True


def test_edited_or_foreign_proofs_are_not_verified_and_the_answer_is_the_same(
    new_device: NewDevice,
    make_code: MakeCode,
    visitor: Browser,
    sign_in_staff: SignInStaff,
) -> None:
    laptop = new_device("Laptop")
    laptop.activate(make_code("plus"))
    genuine = laptop.license_proof()
    payload = payload_of(genuine)
    # Another license on the same machine (another app's state: another device key).
    twin = new_device("Twin", fingerprint=laptop.fingerprint)
    other = twin.activate(make_code("plus"))

    edited_byte = genuine.split(".")
    changed = b64url_decode(edited_byte[1]).replace(b'"issued_at":"2', b'"issued_at":"3')
    edited_byte[1] = b64url(changed)
    swapped = {**payload, "license_key": other.license_key, "public_id": other.public_id}
    laptop_key = device_key(laptop.state_dir, laptop.machine)
    desktop = new_device("Desktop")
    desktop_key = device_key(desktop.state_dir, desktop.machine)
    cases = {
        "bad_signature": [
            ".".join(edited_byte),  # one byte of the payload changed
            # The license key swapped for another valid one, of a license on this very
            # machine, and signed again with this device's own key.
            signed(swapped, laptop_key),
            signed(payload, desktop_key),  # signed by another device's key
            signed(payload, Ed25519PrivateKey.generate()),  # by a key no seat ever had
        ],
        "malformed": ["LP1.bm90IGEgcHJvb2Y.AAAA", genuine + "x"],
    }
    agent, _ = sign_in_staff()
    email = fresh_email("forger")
    answers = []
    for reason, proofs in cases.items():
        for proof in proofs:
            answer = send_proof(visitor, email, proof, pasted=True)
            answers.append(REQUEST_NUMBER.sub("SUP-NUMBER", answer))
            panel = proof_panel(agent, answer)
            assert "Not verified" in panel, (reason, proof)
            assert REASONS[reason] in panel, (reason, proof)
            assert "Verified</strong> Signed" not in panel
            assert "/desk/licenses/" not in panel
    genuine_answer = send_proof(visitor, email, genuine, pasted=True)
    answers.append(REQUEST_NUMBER.sub("SUP-NUMBER", genuine_answer))
    assert "Verified" in proof_panel(agent, genuine_answer)
    assert len(set(answers)) == 1  # the customer learns nothing of what was checked


def test_a_proof_from_a_device_whose_seat_was_freed_is_not_verified(
    new_device: NewDevice,
    make_code: MakeCode,
    visitor: Browser,
    sign_in_staff: SignInStaff,
) -> None:
    # The owner freed the seat of a computer they sold: its proofs no longer speak for them.
    laptop = new_device("Laptop")
    laptop.activate(make_code("plus"))
    proof = laptop.license_proof()
    laptop.release()

    panel = proof_panel(sign_in_staff()[0], send_proof(visitor, fresh_email("sold"), proof))

    assert "Not verified" in panel
    assert REASONS["seat_released"] in panel
    assert "/desk/licenses/" not in panel


def test_the_form_keeps_a_pasted_proof_and_refuses_one_too_large(visitor: Browser) -> None:
    data = {
        **card_request(fresh_email("big")),
        CSRF_FIELD: visitor.csrf_token(CARD_FORM),
        "proof_text": "LP1." + "A" * 5000,
        "name": "",
    }
    response = visitor.client.post(
        SUPPORT, data=data, files=[("screenshot", ("", b"", "application/octet-stream"))]
    )
    assert response.status_code == 422
    assert 'id="proof-error"' in response.text
    assert 'id="name-error"' in response.text


def test_a_proof_naming_a_fingerprint_with_a_nul_is_malformed_not_a_server_error(
    new_device: NewDevice,
    make_code: MakeCode,
    visitor: Browser,
    sign_in_staff: SignInStaff,
) -> None:
    laptop = new_device("Laptop")
    laptop.activate(make_code("plus"))
    payload = payload_of(laptop.license_proof())
    key = device_key(laptop.state_dir, laptop.machine)
    # PostgreSQL refuses a NUL in a query's text: the proof must not reach the query.
    odd = signed({**payload, "fingerprint": payload["fingerprint"] + "\x00"}, key)

    answer = send_proof(visitor, fresh_email("nul"), odd, pasted=True)

    agent, _ = sign_in_staff()
    panel = proof_panel(agent, answer)
    assert "Not verified" in panel
    assert REASONS["malformed"] in panel


def test_erasing_the_customer_deletes_the_proofs_they_sent(
    new_device: NewDevice,
    make_code: MakeCode,
    make_account: MakeAccount,
    visitor: Browser,
    sign_in_staff: SignInStaff,
    database: Database,
) -> None:
    laptop = new_device("Laptop")
    laptop.activate(make_code("plus"))
    customer = make_account()
    answer = send_proof(visitor, customer.email, laptop.license_proof())
    number = REQUEST_NUMBER.search(answer)
    assert number, answer
    admin, _ = sign_in_staff("admin")
    assert "License proofs" in admin.get(f"/desk/requests/{number.group(0)}").text

    form = f"/console/customers/{customer.id}/erase"
    erased = admin.post(
        form,
        {"confirm_email": customer.email, "reason": "GDPR request"},
        token=admin.csrf_token(form),
    )
    assert erased.status_code == 303, erased.text

    # A proof carries the license key and the device's fingerprint: it goes as screenshots go.
    assert "License proofs" not in admin.get(f"/desk/requests/{number.group(0)}").text
    with database.transaction() as session:
        assert session.scalars(select(LicenseProof)).all() == []
