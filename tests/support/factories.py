"""Support factories: requests and their screenshots as rows, the way the support form
stores them (an encrypted PNG in ``attachment_contents``, the OCR reading encrypted in
its row), and staff signed in with two-factor. Loaded everywhere via ``tests/conftest.py``."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image

from licensor.accounts.service import new_token
from licensor.clock import Clock
from licensor.db import Database
from licensor.keys import Keyring
from licensor.models import (
    Attachment,
    AttachmentContent,
    Author,
    OcrStatus,
    RequestStatus,
    SupportMessage,
    SupportRequest,
    Topic,
)
from tests.accounts.factories import (
    TOTP_SECRET,
    Browser,
    Customer,
    MakeAccount,
    OpenBrowser,
    fresh_email,
    two_factor_code,
)


@dataclass(frozen=True)
class Reading:
    """What OCR read from a screenshot (None in ``make_request``: still reading)."""

    text: str
    license_key: str | None
    verified: bool


@dataclass(frozen=True)
class RequestInfo:
    id: int
    number: str
    email: str
    follow_path: str  # the customer's link to follow and answer the request


MakeRequest = Callable[..., RequestInfo]
SignInStaff = Callable[..., tuple[Browser, Customer]]


def png_bytes(width: int = 40, height: int = 20) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (250, 250, 250)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def make_request(database: Database, keyring: Keyring, clock: Clock) -> MakeRequest:
    """A support request as the customer's form leaves it, with an optional screenshot."""

    def make(
        *,
        topic: str = Topic.RECOVER_CARD_CODE,
        email: str | None = None,
        name: str = "Mario Rossi",
        language: str = "en",
        account_id: int | None = None,
        order_number: str = "",
        message: str = "I lost the card with my activation code.",
        screenshot: bytes | None = None,
        reading: Reading | None = None,
        status: str = RequestStatus.NEW,
    ) -> RequestInfo:
        now = clock.now()
        email = (email or fresh_email("requester")).lower()
        number = f"SUP-{secrets.token_hex(4).upper()}"
        token, token_digest = new_token()
        with database.transaction() as session:
            request = SupportRequest(
                number=number,
                topic=topic,
                status=status,
                language=language,
                customer_name=name,
                customer_email=email,
                account_id=account_id,
                order_number=order_number,
                subject="",
                access_token_hash=token_digest,
                created_at=now,
                updated_at=now,
            )
            session.add(request)
            session.flush()
            first = SupportMessage(
                request_id=request.id,
                author=Author.CUSTOMER,
                internal=False,
                body=message,
                created_at=now,
            )
            session.add(first)
            session.flush()
            if screenshot is not None:
                storage_name = secrets.token_hex(16)
                with Image.open(io.BytesIO(screenshot)) as image:
                    width, height = image.size
                attachment = Attachment(
                    request_id=request.id,
                    message_id=first.id,
                    storage_name=storage_name,
                    filename="license-details.png",
                    content_type="image/png",
                    width=width,
                    height=height,
                    size_bytes=len(screenshot),
                    sha256=hashlib.sha256(screenshot).digest(),
                    created_at=now,
                    ocr_status=OcrStatus.PENDING,
                )
                if reading is not None:
                    attachment.ocr_status = OcrStatus.DONE
                    attachment.ocr_ciphertext = keyring.encrypt(
                        json.dumps({"text": reading.text, "license_key": reading.license_key}),
                        purpose=b"support_attachments.ocr",
                    )
                    attachment.ocr_verified = reading.verified
                    attachment.ocr_at = now
                session.add(attachment)
                session.flush()
                session.add(
                    AttachmentContent(
                        attachment_id=attachment.id,
                        ciphertext=keyring.encrypt_bytes(
                            screenshot, purpose=b"support_attachments.file"
                        ),
                    )
                )
            return RequestInfo(request.id, number, email, f"/support/requests/{token}")

    return make


def sign_in_with_two_factor(
    browser: Browser, staff: Customer, clock: Clock, secret: str = TOTP_SECRET
) -> None:
    """Password, then the current TOTP code, as a staff member signs in."""
    response = browser.sign_in(staff)
    assert response.headers["location"].startswith("/sign-in/two-factor"), response.headers
    code = two_factor_code(secret, clock)
    answered = browser.post("/sign-in/two-factor", {"code": code, "next": "/desk"})
    assert answered.status_code == 303, answered.text


@pytest.fixture
def sign_in_staff(
    form_browser: OpenBrowser, make_account: MakeAccount, clock: Clock
) -> SignInStaff:
    """A new agent (or admin) with two-factor, signed in on a browser of its own."""

    def make(role: str = "agent") -> tuple[Browser, Customer]:
        staff = make_account(
            fresh_email(role),
            roles=(role,),
            totp_secret=TOTP_SECRET,
        )
        browser = form_browser()
        sign_in_with_two_factor(browser, staff, clock)
        return browser, staff

    return make


def signed_proof(device_key: Ed25519PrivateKey, payload: dict[str, str]) -> str:
    """A license proof as docs/protocol.md writes it (``LP1.<payload>.<signature>``),
    signed by ``device_key``: made here, not by the SDK, to forge edited ones too."""
    data = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return f"LP1.{_b64url(data)}.{_b64url(device_key.sign(data))}"


def device_key_text(device_key: Ed25519PrivateKey) -> str:
    """The public half as ``device.key`` sends it (base64url, no padding)."""
    return _b64url(device_key.public_key().public_bytes_raw())


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
