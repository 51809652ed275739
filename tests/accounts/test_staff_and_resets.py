"""Staff pages need two-factor; a password reset spends every reset link; errors on pages
are pages."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from licensor.api import create_app
from licensor.clock import Clock
from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring
from licensor.ratelimit import MemoryRateLimiter
from licensor.web.pages import Pages
from tests.accounts.factories import (
    TOTP_SECRET,
    Browser,
    MakeAccount,
    OpenBrowser,
    link_in_mail,
    outbox,
    two_factor_code,
)
from tests.support import serve


def _app_with_probes(
    settings: Settings, database: Database, keyring: Keyring, clock: Clock
) -> FastAPI:
    app = create_app(
        settings, database=database, keyring=keyring, limiter=MemoryRateLimiter(), app_clock=clock
    )

    @app.get("/probe/staff")
    def staff_page(request: Request, web: Pages) -> Response:
        with web.unit(request, require="agent") as unit:
            return HTMLResponse(f"staff page for {unit.account.email}")

    @app.get("/probe/crash")
    def crash() -> Response:
        raise RuntimeError("a bug")

    return app


def test_an_agent_without_two_factor_is_sent_to_enrol_before_staff_pages(
    settings: Settings,
    database: Database,
    keyring: Keyring,
    clock: Clock,
    make_account: MakeAccount,
) -> None:
    plain = make_account(roles=("agent",))
    enrolled = make_account(roles=("agent",), totp_secret=TOTP_SECRET)
    with serve(_app_with_probes(settings, database, keyring, clock)) as url:
        without = Browser(url)
        without.sign_in(plain)
        refused = without.get("/probe/staff")
        assert refused.status_code == 303
        assert refused.headers["location"] == "/sign-in/two-factor?next=/probe/staff"
        assert (
            without.get(refused.headers["location"])
            .headers["location"]
            .startswith("/sign-in/two-factor/enrol")
        ), "the password alone leads only to enrolment"

        with_code = Browser(url)
        with_code.sign_in(enrolled)
        code = two_factor_code(TOTP_SECRET, clock)
        assert with_code.post("/sign-in/two-factor", {"code": code}).status_code == 303
        opened = with_code.get("/probe/staff")
        assert opened.status_code == 200
        assert enrolled.email in opened.text
        without.close()
        with_code.close()


def test_a_crash_on_a_page_answers_an_html_page_and_on_the_api_a_problem(
    settings: Settings, database: Database, keyring: Keyring, clock: Clock
) -> None:
    with serve(_app_with_probes(settings, database, keyring, clock)) as url:
        browser = Browser(url)
        page = browser.get("/probe/crash")
        assert page.status_code == 500
        assert page.headers["content-type"].startswith("text/html")
        assert "Something went wrong on our side" in page.text
        assert "RuntimeError" not in page.text
        browser.close()


def test_a_reset_spends_every_reset_link_of_the_account(
    database: Database, keyring: Keyring, make_account: MakeAccount, form_browser: OpenBrowser
) -> None:
    customer = make_account()
    visitor = form_browser()
    for _ in range(2):
        assert visitor.post("/reset-password", {"email": customer.email}).status_code == 200
    first, second = outbox(database, customer.email, "reset_password")
    first_link = link_in_mail(keyring, first, "/reset-password/choose")
    second_link = link_in_mail(keyring, second, "/reset-password/choose")
    token = second_link.split("token=")[1]
    chosen = visitor.post(
        "/reset-password/choose", {"token": token, "password": "a brand new password"}
    )
    assert chosen.status_code == 200
    assert visitor.get(first_link).status_code == 400, "the earlier link must be spent too"
    assert visitor.get(second_link).status_code == 400
