"""Account API: an app joins its license to an account (F4) or connects by code (F10).

The app's poll for the connection (``/device/token``) is the store's
(``store/endpoints/devices.py``): its answer may carry a seat on the account's subscription.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from licensor.accounts.connect import CONNECT_MINUTES, POLL_SECONDS, format_user_code
from licensor.accounts.schemas import (
    DeviceAuthorizeIn,
    DeviceAuthorizeOut,
    LinkIn,
    LinkOut,
)
from licensor.accounts.throttle import SignInThrottle, SignInThrottled
from licensor.deps import Work, client_address, rate_limited
from licensor.errors import (
    EmailNotVerified,
    InvalidCredentials,
    LicenseLinkedElsewhere,
    LicensorError,
)
from licensor.logging import log
from licensor.problems import problem_responses

router = APIRouter(prefix="/api/v1", tags=["accounts"])


@router.post(
    "/account/licenses",
    response_model=LinkOut,
    responses=problem_responses(401, 403, 404, 409, 422, 429),
    dependencies=[Depends(rate_limited("link"))],
    summary="Join this device's license and its activation code to an account (F4)",
    description="The email and password are throttled as the sign-in page is: per "
    "address, per (email, address) pair, and per email with a growing delay after "
    "repeated failures and no more tries after 100 in a row until a password reset; a "
    "throttled request is `rate_limited` 429 with `Retry-After`, and its password is not "
    "checked.",
)
def link_license(body: LinkIn, request: Request, work: Work) -> LinkOut:
    address = client_address(request)
    guard = SignInThrottle.of(request.app.state.limiter, work.keyring)
    email_key = guard.email_key(body.email)
    actor = f"api:{address}"
    refused: LicensorError | None = None  # raised after the commit, so it stays audited
    verification_sent = False
    with work.open() as unit:
        authentication = unit.authentication
        account = None
        try:
            # Claimed (counted as a failure) before the password is checked, atomically.
            claimed = guard.attempt(email_key, address, known_browser=False)
            account = authentication.authenticate(
                body.email, body.password, actor=actor, email_key=email_key
            )
        except SignInThrottled as throttled:
            authentication.auth_event(
                "accounts.sign_in_throttled",
                unit.accounts.by_email(body.email),
                actor,
                email_key,
                stage="password",
                locked=throttled.locked,
                retry_after=throttled.retry_after,
            )
            refused = throttled
        except InvalidCredentials as error:
            refused = error
        if account is not None:
            if account.totp_secret_ciphertext or account.needs_two_factor:
                # With a second factor the password alone is no full sign-in: the
                # account's count of failures stays until the second factor is given,
                # but this right password is no failure.
                guard.give_back(claimed)
            else:
                guard.succeeded(email_key, address)
            if account.email_verified_at is None:
                unit.accounts.send_verification(account)
                verification_sent = True
            else:
                try:
                    linked = unit.account_licenses.link_license(
                        account, body.license_key, body.fingerprint, via="app"
                    )
                except LicenseLinkedElsewhere as error:
                    refused = error
    if verification_sent:
        raise EmailNotVerified()
    if refused is not None:
        raise refused
    log.info("accounts.license_linked", public_id=linked.public_id, client=client_address(request))
    return LinkOut(
        status="already_linked" if linked.already_linked else "linked",
        public_id=linked.public_id,
        plan=linked.plan,
        licenses_url=work.settings.url("/account/licenses"),
    )


@router.post(
    "/device/authorize",
    response_model=DeviceAuthorizeOut,
    responses=problem_responses(422, 429),
    dependencies=[Depends(rate_limited("link"))],
    summary="Start connecting this device to an account with a short code (F10)",
    description="Send the license keys the device holds in `license_keys`: they are its "
    "proof of possession. When the customer enters the short code in My Account, only the "
    "licenses proven here (key known, live seat on this fingerprint) join the account, "
    "and the device is connected to it when one did; the fingerprint alone proves "
    "nothing. Keys that prove nothing are ignored, with the same answer. The order's own "
    "address is told when a license of its order joins an account that is not its.",
)
def authorize_device(body: DeviceAuthorizeIn, work: Work) -> DeviceAuthorizeOut:
    with work.open() as unit:
        device_code, user_code = unit.connect.start(
            body.fingerprint, body.name, body.platform, body.license_keys
        )
    uri = work.settings.url("/account/connect")
    return DeviceAuthorizeOut(
        device_code=device_code,
        user_code=format_user_code(user_code),
        verification_uri=uri,
        verification_uri_complete=f"{uri}?code={user_code}",
        expires_in=CONNECT_MINUTES * 60,
        interval=POLL_SECONDS,
    )
