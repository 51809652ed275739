"""The application factory: settings, database, keys and limits, then each domain's router."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Receive, Scope, Send

from licensor import __version__
from licensor.accounts.endpoints import router as accounts_api
from licensor.accounts.two_factor_views import router as two_factor_pages
from licensor.accounts.views import router as accounts_pages
from licensor.clock import Clock, clock
from licensor.config import Settings, get_settings
from licensor.db import Database
from licensor.errors import LicensorError
from licensor.keys import Keyring, load_keyring
from licensor.licensing.endpoints import VALIDATE_PATH, validation_endpoint
from licensor.licensing.endpoints import router as licensing_router
from licensor.licensing.validation import Validator
from licensor.logging import configure_logging, log
from licensor.mail.views import router as mailbox_pages
from licensor.problems import PROBLEM, problem, problem_response
from licensor.ratelimit import MemoryRateLimiter, NoRateLimiter, RateLimiter, RedisRateLimiter, Rule
from licensor.store.catalog import router as store_checkout_pages
from licensor.store.endpoints import router as partner_api
from licensor.store.enrollment import router as enrollment_api
from licensor.store.views import router as store_pages
from licensor.support.desk_views import router as desk_pages
from licensor.support.views import router as support_pages
from licensor.web import i18n
from licensor.web.help import router as help_pages
from licensor.web.i18n import N_
from licensor.web.pages import (
    ENVIRONMENT,
    SignInRequired,
    TwoFactorRequired,
    Web,
)


class LicensorApp(FastAPI):
    """The app, answering online validation before its middleware stack (docs/adr/0003)."""

    validation: Callable[[Request], Awaitable[Response]]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == VALIDATE_PATH and scope["method"] == "POST":
            try:
                response = await self.validation(Request(scope, receive))
            except Exception as error:  # as the stack's own handler would answer
                log.error("http.unexpected_error", error=repr(error))
                response = problem_response(500, "internal_error", _CRASH)
            await response(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


_CRASH = N_("Something went wrong on our side; try again")


def make_limiter(settings: Settings) -> RateLimiter:
    if settings.rate_limits == "off":
        log.warning(
            "ratelimit.disabled", hint="LICENSOR_RATE_LIMITS=off is for tests and benchmarks"
        )
        return NoRateLimiter()
    if settings.redis_url:
        return RedisRateLimiter(settings.redis_url)
    return MemoryRateLimiter()


def create_app(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    keyring: Keyring | None = None,
    limiter: RateLimiter | None = None,
    app_clock: Clock | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings)
    app = LicensorApp(
        title="Licensor",
        version=__version__,
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
        description="License server API: activation, validation and release of licenses. "
        "Errors are application/problem+json with a stable `code`.",
    )
    app.state.settings = settings
    app.state.db = database or Database(settings)
    app.state.keyring = keyring or load_keyring(settings)
    app.state.limiter = limiter or make_limiter(settings)
    app.state.clock = app_clock or clock
    app.state.rules = {
        "activation": Rule.parse("activation", settings.activation_rate),
        "validation": Rule.parse("validation", settings.validation_rate),
        "signin": Rule.parse("signin", settings.signin_rate),
        "signup": Rule.parse("signup", settings.signup_rate),
        "reset": Rule.parse("reset", settings.reset_rate),
        "link": Rule.parse("link", settings.link_rate),
        "lookup": Rule.parse("lookup", settings.lookup_rate),
        "support": Rule.parse("support", settings.support_rate),
        "follow": Rule.parse("follow", settings.follow_rate),
        "partner": Rule.parse("partner", settings.partner_rate),
    }
    app.state.validator = Validator(app.state.db, app.state.keyring, settings, app.state.clock)
    app.state.web = Web(
        settings,
        app.state.db,
        app.state.keyring,
        app.state.clock,
        app.state.limiter,
        app.state.rules,
    )

    @app.exception_handler(LicensorError)
    async def licensor_error(request: Request, error: LicensorError) -> Response:
        if isinstance(error, SignInRequired):
            return RedirectResponse(error.location, status_code=303)
        if isinstance(error, TwoFactorRequired) and not _wants_json(request):
            return RedirectResponse("/account/settings#two-factor", status_code=303)
        if not _wants_json(request):
            return _error_page(request, error.status, error.title, error.detail, error.headers())
        body = problem(error.status, error.code, error.title, error.detail, **error.extra)
        return JSONResponse(
            body, status_code=error.status, media_type=PROBLEM, headers=error.headers()
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, error: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": ".".join(str(part) for part in e["loc"][1:]), "message": e["msg"]}
            for e in error.errors()
        ]
        body = problem(422, "validation_failed", "The request is not valid", errors=errors)
        return JSONResponse(body, status_code=422, media_type=PROBLEM)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        if not _wants_json(request):
            title = i18n.N_("Page not found") if error.status_code == 404 else str(error.detail)
            return _error_page(request, error.status_code, title, None, {})
        body = problem(error.status_code, code, str(error.detail))
        return JSONResponse(body, status_code=error.status_code, media_type=PROBLEM)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, error: Exception) -> Response:
        # The transaction has been rolled back by then; the client gets a problem, not a trace.
        log.error("http.unexpected_error", error=repr(error))
        title = _CRASH
        if not _wants_json(request):
            return _error_page(request, 500, title, None, {})
        body = problem(500, "internal_error", title)
        return JSONResponse(body, status_code=500, media_type=PROBLEM)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    app.validation = validation_endpoint(app)
    app.include_router(licensing_router)
    app.include_router(accounts_api)
    app.include_router(accounts_pages)
    app.include_router(two_factor_pages)
    app.include_router(help_pages)
    app.include_router(enrollment_api)
    app.include_router(partner_api)
    app.include_router(store_pages)
    app.include_router(store_checkout_pages)
    app.include_router(desk_pages)
    app.include_router(support_pages)
    if settings.smtp_url is None:
        app.include_router(mailbox_pages)
    static = Path(__file__).parent / "web" / "static"
    app.mount("/static", StaticFiles(directory=static), name="static")
    return app


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _error_page(
    request: Request, status: int, title: str, detail: str | None, headers: dict[str, str]
) -> Response:
    """A plain error page in the visitor's language (no database needed)."""
    from fastapi.responses import HTMLResponse

    language = i18n.negotiate(request)
    translator = i18n.translator(language)
    environment = ENVIRONMENT.overlay()
    environment.install_gettext_callables(  # type: ignore[attr-defined]
        translator.gettext, translator.ngettext, newstyle=True
    )
    settings: Settings = request.app.state.settings
    html = environment.get_template("error.html").render(
        title=translator.gettext(title),
        detail=translator.gettext(detail) if detail else None,
        visitor=_anonymous(),
        language=language,
        languages=i18n.LANGUAGES,
        settings=settings,
        dev_mailbox=settings.smtp_url is None,
        path=request.url.path,
        csrf_field="",
        csrf_token="",
    )
    return HTMLResponse(html, status_code=status, headers=headers)


def _anonymous() -> Any:
    from licensor.web.pages import Visitor

    return Visitor(None, None)
