"""The application factory: settings, database, keys and limits, then each domain's router."""

from __future__ import annotations

import email.message
from functools import partial
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI, Request, params
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError, StatementError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from licensor import __version__, files, openapi
from licensor.accounts.endpoints import router as accounts_api
from licensor.accounts.sharing_endpoints import router as sharing_api
from licensor.accounts.views import router as accounts_pages
from licensor.clock import Clock, clock
from licensor.config import Settings, get_settings
from licensor.console import router as console_pages
from licensor.db import Database
from licensor.edge import DOCS_PATH, Edge
from licensor.errors import (
    LicensorError,
    SignInRequired,
    TwoFactorRequired,
    UnsupportedMediaType,
    ValidationFailed,
)
from licensor.idempotency import Idempotency
from licensor.keys import Keyring, load_keyring
from licensor.licensing.endpoints import VALIDATE_PATH, FastValidation
from licensor.licensing.endpoints import router as licensing_router
from licensor.licensing.lease_endpoints import router as leases_router
from licensor.licensing.reserve_endpoints import router as reserves_router
from licensor.licensing.validation import Validator
from licensor.logging import configure_logging, log
from licensor.mail import dev_mailbox
from licensor.metrics import METRICS_PATH, MetricsEndpoint, RequestTimer, watch_pool
from licensor.problems import PROBLEM, problem, problem_for, problem_response
from licensor.ratelimit import MemoryRateLimiter, NoRateLimiter, RateLimiter, RedisRateLimiter, Rule
from licensor.readiness import Readiness
from licensor.store.endpoints import router as store_api
from licensor.store.views import router as store_pages
from licensor.support.views import router as support_pages
from licensor.web import i18n
from licensor.web.brand import router as brand_files
from licensor.web.help import router as help_pages
from licensor.web.home import router as home_page
from licensor.web.i18n import N_
from licensor.web.mailbox import router as mailbox_pages
from licensor.web.pages import Web, language_environment


class LicensorApp(FastAPI):
    """The app, answering online validation before its middleware stack (docs/adr/0003),
    inside the edge (``licensor.edge``: headers, body limits, origins) that every answer
    passes."""

    fast_validation: ASGIApp | None = None  # None: LICENSOR_VALIDATION_FAST_PATH=off
    edge: ASGIApp | None = None  # the edge, inside the request timer (licensor/metrics.py)
    metrics: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self  # as Starlette does, before the edge, which may answer itself
        if self.edge is not None and scope["type"] == "http":
            await self.edge(scope, receive, send)
        else:
            await self.answer(scope, receive, send)

    async def answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.fast_validation is not None
            and scope["type"] == "http"  # first: a lifespan scope has no path
            and scope["path"] == VALIDATE_PATH
            and scope["method"] == "POST"
        ):
            await self.fast_validation(scope, receive, send)
            return
        if self.metrics is not None and scope["type"] == "http" and scope["path"] == METRICS_PATH:
            await self.metrics(scope, receive, send)  # not a route: unseen where not allowed
            return
        await super().__call__(scope, receive, send)


_CRASH = N_("Something went wrong on our side; try again")


def crash_problem(error: Exception) -> Response:
    """What the API answers to an error of ours (logged): a problem, never a trace."""
    log.error("http.unexpected_error", error=repr(error))
    return problem_response(500, "internal_error", _CRASH)


SWAGGER_UI = Path(fastapi_offline.__file__).parent / "static"


def make_limiter(settings: Settings) -> RateLimiter:
    if settings.rate_limits == "off":
        log.warning(
            "ratelimit.disabled", hint="LICENSOR_RATE_LIMITS=off is for tests and benchmarks"
        )
        return NoRateLimiter()
    if settings.redis_url:
        return RedisRateLimiter(settings.redis_url, timeout=settings.redis_timeout_seconds)
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
        docs_url=None,  # our own page at /api/docs, with Swagger UI shipped with us
        redoc_url=None,
        description="License server API: activation, validation and release of licenses. "
        "Errors are application/problem+json with a stable `code`.",
    )
    app.state.settings = settings
    app.state.db = database or Database(settings)
    app.state.keyring = keyring or load_keyring(settings)
    files.secure(settings)  # var/ 0700, the SQLite database 0600, tightened if looser
    app.state.db.use_keyring(app.state.keyring)
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
        "code_replace": Rule.parse("code_replace", settings.code_replace_rate),
        "account_email": Rule.parse("account_email", settings.account_email_rate),
        "find_purchases": Rule.parse("find_purchases", settings.find_purchases_rate),
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
        return error_response(request, error)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> Response:
        if not _wants_json(request):
            # A page's path that is not an id of ours (a word, 2**64) names no page.
            if any(e["loc"][:1] == ("path",) for e in error.errors()):
                return _error_page(request, 404, i18n.N_("Page not found"), None, {})
            return _error_page(request, 422, ValidationFailed.title, None, {})
        if _body_not_json(request):
            return problem_for(UnsupportedMediaType())
        errors = [
            {"field": ".".join(str(part) for part in e["loc"][1:]), "message": e["msg"]}
            for e in error.errors()
        ]
        body = problem(422, "validation_failed", "The request is not valid", errors=errors)
        return JSONResponse(body, status_code=422, media_type=PROBLEM)

    @app.exception_handler(StatementError)
    @app.exception_handler(OverflowError)
    async def database_refused(request: Request, error: Exception) -> Response:
        # A safety net behind the edge's checks: a value the database cannot hold (a NUL
        # in PostgreSQL text; an integer past 64 bits, which SQLite's driver refuses with
        # a bare OverflowError) is the request's fault, not ours.
        cause = error.orig if isinstance(error, StatementError) else error
        if isinstance(error, DataError) or isinstance(cause, OverflowError | ValueError):
            log.warning("http.value_refused_by_database", error=repr(cause))
            return error_response(request, ValidationFailed())
        return await unexpected_error(request, error)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        headers = dict(error.headers or {})
        if error.status_code == 405:
            headers["Allow"] = _allowed_methods(request)
        if not _wants_json(request):
            title = i18n.N_("Page not found") if error.status_code == 404 else str(error.detail)
            return _error_page(request, error.status_code, title, None, headers)
        if error.status_code == 400 and isinstance(error.__cause__, ValueError):
            # FastAPI's 400 for a JSON body it cannot decode (not UTF-8): invalid JSON, as
            # a body it can decode but not parse is.
            not_utf8 = {"field": "", "message": "JSON decode error: the body is not UTF-8"}
            return error_response(request, ValidationFailed(errors=[not_utf8]))
        body = problem(error.status_code, code, str(error.detail))
        return JSONResponse(
            body, status_code=error.status_code, media_type=PROBLEM, headers=headers
        )

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, error: Exception) -> Response:
        # The transaction has been rolled back by then; the client gets a problem, not a trace.
        if (away := app.state.db.unavailable_error(error)) is not None:
            return error_response(request, away)  # outside a transaction (a read of its own)
        if _wants_json(request):
            return crash_problem(error)
        log.error("http.unexpected_error", error=repr(error))
        return _error_page(request, 500, _CRASH, None, {})

    def refuse(scope: Scope, error: LicensorError) -> Response:
        return error_response(Request(scope), error)

    # Inside the edge (headers, body limits), every POST of the API may carry an
    # Idempotency-Key (licensor/idempotency.py).
    answer_once = Idempotency(
        app.answer, app.state.db, app.state.keyring, app.state.clock.now, refuse
    )
    timer = RequestTimer(
        Edge(answer_once, settings, refuse, quiet_paths=frozenset({VALIDATE_PATH})),
        fixed=(VALIDATE_PATH, METRICS_PATH),
    )
    app.edge = timer
    watch_pool(app.state.db.engine)
    # Where the client is not allowed, the stack answers as for any path it does not know.
    app.metrics = MetricsEndpoint(
        settings.metrics_allow,
        app.state.db,
        app.state.clock,
        partial(FastAPI.__call__, app),
        before_scrape=timer.flush,
    )

    def openapi_schema() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi.document(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi_schema  # type: ignore[method-assign]

    # On the event loop, not in the thread pool: it answers while every thread waits on a
    # database that does not answer.
    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    readiness = Readiness(settings, app.state.db, app.state.keyring, app.state.limiter)

    @app.get("/readyz", include_in_schema=False)
    def readyz() -> JSONResponse:
        ready, body = readiness.report()
        return JSONResponse(body, status_code=200 if ready else 503)

    _say_where_mail_goes(settings)

    if settings.validation_fast_path == "on":
        documented = partial(FastAPI.__call__, app)  # the stack, and the route it documents
        app.fast_validation = FastValidation(app.state, documented, crash_problem)
    app.include_router(licensing_router)
    app.include_router(leases_router)
    app.include_router(accounts_api)
    app.include_router(sharing_api)
    app.include_router(home_page)
    app.include_router(brand_files)
    app.include_router(accounts_pages)
    app.include_router(help_pages)
    app.include_router(store_api)
    app.include_router(store_pages)
    app.include_router(support_pages)
    app.include_router(reserves_router)
    app.include_router(console_pages)
    if dev_mailbox.mounted(settings):
        app.include_router(mailbox_pages)
    static = Path(__file__).parent / "web" / "static"
    docs_page = (static / "api-docs.html").read_text()

    @app.get(DOCS_PATH, include_in_schema=False)
    def api_docs() -> HTMLResponse:
        return HTMLResponse(docs_page)

    # Swagger UI from the fastapi-offline package: installed with us, no CDN, works offline.
    app.mount("/static/swagger-ui", StaticFiles(directory=SWAGGER_UI), name="swagger-ui")
    app.mount("/static", StaticFiles(directory=static), name="static")
    return app


def _say_where_mail_goes(settings: Settings) -> None:
    if settings.smtp_url:
        return
    if dev_mailbox.mounted(settings):
        log.warning("mail.dev_mailbox", hint="mail is shown at /dev/mail on loopback listeners")
    else:
        log.warning(
            "mail.outbox_only",
            hint="LICENSOR_SMTP_URL is unset: mail waits in the outbox until it is set",
        )


def error_response(request: Request, error: LicensorError) -> Response:
    """An error as its answer: problem+json under /api/, else a page."""
    if not _wants_json(request):
        return _error_page(request, error.status, error.title, error.detail, error.headers())
    return problem_for(error)


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> str:
    """Every method some route takes at this path, asked of the router itself (Starlette
    names only the first route's where several share a path, one per method)."""
    routes = request.app.router.routes
    return ", ".join(
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes
        )
    )


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _body_not_json(request: Request) -> bool:
    """Whether the request declares its body as something other than JSON to a route that
    reads a JSON body (not a form, nor a payment provider's raw callback): the one place
    that decides 415 ``unsupported_media_type``, for every such route and both validation
    paths (the fast path hands these requests to the documented route).

    FastAPI reads a body as JSON only when it is sent as ``application/json`` or an
    ``application/*+json`` type, and otherwise hands the route's model the bytes, which
    fail it after the route's dependencies: a rate limit counts such a request as it
    counted the 422 answered before. A body with no type is left to FastAPI, as before."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or route.body_field is None:
        return False
    if isinstance(route.body_field.field_info, params.Form):  # File is a Form too
        return False
    content_type = request.headers.get("content-type")
    if not content_type:
        return False
    return not _is_json_type(content_type)


def _is_json_type(content_type: str) -> bool:
    """Whether a Content-Type names JSON, parsed as FastAPI parses it (case and parameters
    aside), so that the two never disagree on a body."""
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


def _error_page(
    request: Request, status: int, title: str, detail: str | None, headers: dict[str, str]
) -> Response:
    """A plain error page in the visitor's language (no database needed)."""
    language = i18n.negotiate(request)
    translator = i18n.translator(language)
    environment = language_environment(language)
    settings: Settings = request.app.state.settings
    html = environment.get_template("error.html").render(
        title=translator.gettext(title),
        detail=translator.gettext(detail) if detail else None,
        visitor=_anonymous(),
        language=language,
        languages=i18n.LANGUAGES,
        settings=settings,
        dev_mailbox=dev_mailbox.reachable(settings, request.scope),
        path=request.url.path,
        csrf_field="",
        csrf_token="",
    )
    return HTMLResponse(html, status_code=status, headers=headers)


def _anonymous() -> Any:
    from licensor.web.pages import Visitor

    return Visitor(None, None)
