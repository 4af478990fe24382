"""``create_app()``: the Litestar application, configured by one init plugin."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

from litestar import Litestar
from litestar.config.app import AppConfig
from litestar.config.csrf import CSRFConfig
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.plugins import InitPluginProtocol
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from core import warmup
from core.db.engine import bind, engine_for
from core.mail import send_due
from core.plugins import Plugins, load_plugins
from core.services.sweep import sweep
from core.services.context import Context
from core.settings import Settings, get_settings
from web.api.v1 import api_router
from web.actions.compliance import CompliancePages
from web.actions.controller import ActionPages
from web.actions.plans import PlanPages
from web.audits.controller import AuditPages
from web.auth.controller import LoginController, SecondFactorController
from web.auth.oidc import OidcController
from web.auth.attempts import SignInAttemptPages
from web.auth.tokens import TokenPages
from web.agency_requests import RequestPages
from web.respondents import RespondentPages, RespondentSignIn
from web.people import PasswordPages, PeoplePages
from web.auth.middleware import authentication_middleware
from web.auth.sessions import QafSessionConfig
from web.auth.store import DatabaseStore
from web.context import nul_refusing_middleware, request_id_middleware
from web.cycles.controller import CyclePages
from web.disputes.controller import DisputePages
from web.errors import HANDLERS
from web.imports.controller import ImportPages
from web.notifications.controller import NotificationPages
from web.operations import Observer, metrics, readyz
from web.pages import accessibility, healthz, home
from web.partnership import PartnershipPages
from web.programme.controller import ProgrammePages
from web.programme.delivery import DeliveryPages
from web.qa.controller import QaPages
from web.rendering import environment
from web.reports.controller import AuditPdf, ReportPages
from web.state import QafState

log = logging.getLogger("qaf.web")
STATIC = Path(__file__).with_name("static")

SECURITY_HEADERS = {
    # Scripts and styles only from our own origin (plus the one inline snippet in
    # base.html that marks GOV.UK Frontend as supported); no framing; no referrer leaks.
    "content-security-policy": (
        "default-src 'self'; script-src 'self' 'sha256-GUQ5ad8JK5KmEWmROf3LZd9ge94daqNvd8xy9YS1iDw='; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}


class QafInit(InitPluginProtocol):
    """Everything the app needs, in one place: state, routes, templates,
    sessions, CSRF, middleware, error handling and the database lifespan."""

    def __init__(self, settings: Settings, plugins: Plugins, observer: Observer):
        self.settings = settings
        self.plugins = plugins
        self.observer = observer

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        settings = self.settings
        engine = engine_for(settings.database_url)
        bind(engine)
        secure = settings.https
        state = QafState(settings=settings, plugins=self.plugins)
        # A session's idle timeout and absolute lifetime are checked on every
        # request (web/auth/middleware.py); the store forgets it at the latest
        # after the lifetime. Its cookie has no expiry (web/auth/sessions.py).
        session = QafSessionConfig(
            store="sessions", key=state.session_cookie_name, secure=secure, samesite="lax", httponly=True,
            max_age=settings.session_max_hours * 3600,
        )

        app_config.state["qaf"] = state
        app_config.state["qaf_observer"] = self.observer
        app_config.route_handlers.extend(
            [
                home,
                healthz,
                readyz,
                metrics,
                accessibility,
                LoginController,
                SecondFactorController,
                OidcController,
                TokenPages,
                SignInAttemptPages,
                RespondentSignIn,
                RespondentPages,
                PasswordPages,
                PeoplePages,
                RequestPages,
                AuditPages,
                QaPages,
                NotificationPages,
                CyclePages,
                ImportPages,
                ProgrammePages,
                DeliveryPages,
                DisputePages,
                ActionPages,
                PlanPages,
                PartnershipPages,
                CompliancePages,
                ReportPages,
                AuditPdf,
                api_router(),
                create_static_files_router(path="/static", directories=[STATIC], include_in_schema=False),
            ]
        )
        app_config.template_config = TemplateConfig(engine=JinjaTemplateEngine.from_environment(environment(reload=settings.debug)))
        # Sessions in the database (PLAT-14): every app process shares them,
        # a backup holds them, nothing is kept in the data directory.
        self._sessions = DatabaseStore()
        app_config.stores = {"sessions": self._sessions}
        app_config.csrf_config = CSRFConfig(
            secret=settings.secret_key, exclude=["/api/"], cookie_name=state.csrf_cookie_name,
            cookie_secure=secure, cookie_samesite="lax", cookie_httponly=True,
        )
        app_config.middleware = [request_id_middleware, nul_refusing_middleware, session.middleware, authentication_middleware, *app_config.middleware]
        app_config.exception_handlers = {**HANDLERS, **app_config.exception_handlers}
        app_config.openapi_config = OpenAPIConfig(
            title="qaf API",
            version="1",
            path="/api/schema",
            render_plugins=[SwaggerRenderPlugin()],
        )
        app_config.response_headers = [*app_config.response_headers]
        # On every response, errors and static files included (issue 16): the
        # app's own send hook, which runs outside every handler and middleware.
        app_config.before_send = [*app_config.before_send, security_headers(settings)]
        app_config.lifespan = [*app_config.lifespan, self.lifespan]
        app_config.debug = settings.debug
        # Logging is the process's (core/logs.py: JSON lines or readable
        # text), not reconfigured by the framework.
        app_config.logging_config = None
        return app_config

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Litestar) -> AsyncIterator[None]:
        from core.db.engine import current

        engine = current()
        # The bank-holiday calendar, WeasyPrint and the password hasher load
        # in a background thread once the server answers (issue 19 item 6),
        # not before: they were seconds of start-up. A few seconds later, so
        # that binding the socket and the first requests are not slowed.
        asyncio.get_running_loop().call_later(warmup.DELAY_SECONDS, warmup.start)
        pooled = engine.engine_type == "postgres" and self.settings.database_pool_size > 0
        if pooled:
            await engine.start_connection_pool(min_size=1, max_size=self.settings.database_pool_size)
        sweeper = None
        if self.settings.sweep_seconds > 0:
            sweeper = asyncio.create_task(self._sweep_forever())
        try:
            yield
        finally:
            if sweeper:
                sweeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweeper
            if pooled:
                await engine.close_connection_pool()

    async def _sweep_forever(self) -> None:
        """Issue cycles on their first working day, act on passed deadlines
        (HAR 2, CORE-8, CORE-10), then send the outbox (CORE-13)."""
        # The sweep counts working days: the calendar loads off the event loop.
        await asyncio.to_thread(warmup.wait_for_calendar, 60)
        while True:
            began = time.perf_counter()
            try:
                report = await sweep(Context(registry=self.plugins.registry))
                if report.cycles_issued or report.deadlines_missed:
                    log.info("sweep", extra={"cycles_issued": report.cycles_issued, "deadlines_missed": report.deadlines_missed})
                await send_due(self.settings)
                # Expired sessions are forgotten.
                await self._sessions.delete_expired()
            except Exception:
                self.observer.record_sweep(time.perf_counter() - began, ok=False)
                log.exception("sweep failed; will retry")
            else:
                self.observer.record_sweep(time.perf_counter() - began, ok=True)
            await asyncio.sleep(self.settings.sweep_seconds)


def security_headers(settings: Settings):
    """A ``before_send`` hook adding the security headers to every response.

    Pages and API answers carry children's records: none may be kept by a
    browser or a proxy (``Cache-Control: no-store``), except the static files,
    which name no one. With an https base URL, browsers are told to keep to
    https (HSTS)."""
    fixed = [(name.encode(), value.encode()) for name, value in SECURITY_HEADERS.items()]
    if settings.base_url.startswith("https://"):
        fixed.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))

    async def add(message, scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers = list(message.get("headers") or [])
        present = {name.lower() for name, _ in headers}
        headers.extend((name, value) for name, value in fixed if name not in present)
        if b"cache-control" not in present and not scope.get("path", "").startswith("/static/"):
            headers.append((b"cache-control", b"no-store"))
        message["headers"] = headers

    return add


class QafLitestar(Litestar):
    """Litestar without the pydantic and attrs plugins it adds whenever those
    libraries are installed (pydantic comes with Piccolo). qaf's types are
    msgspec Structs and dataclasses; importing the two plugins was ≈0.6 s of
    every start-up (issue 19 item 6)."""

    @staticmethod
    def _get_default_plugins(plugins):
        from litestar.plugins.core import MsgspecDIPlugin

        return [*plugins, MsgspecDIPlugin()]


def create_app(settings: Settings | None = None, plugins: Plugins | None = None) -> Litestar:
    settings = settings or get_settings()
    plugins = plugins or load_plugins(settings)
    from core.services.evidence import MAX_FILES

    # PLAT-6: a form may carry a few evidence files, each up to the limit
    # (one past it is refused with a message, not a bare 413). Given here:
    # Litestar takes the limit from its constructor, not from on_app_init.
    observer = Observer(settings)
    app = QafLitestar(plugins=[QafInit(settings, plugins, observer)],
                   request_max_body_size=MAX_FILES * settings.evidence_max_bytes + 1024 * 1024)
    # Outside Litestar's exception handling: every answer is counted and
    # logged with its final status, errors and unknown paths too (PLAT-14).
    app.asgi_handler = observer.wrap(app.asgi_handler)
    return app
