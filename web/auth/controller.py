"""Signing in and out: a local account (with a second factor for
administrators and the QA team), or the council's identity provider
(``web/auth/oidc.py``); keeping a session alive; the person's API tokens."""

from __future__ import annotations

from litestar import Controller, Request, Response, get, post
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from core.services import accounts, second_factor
from web.auth.guards import signed_in
from web.auth.middleware import PENDING, SEEN_AT, SESSION_VIA, SIGNED_OUT
from web.auth.signing import end_session, start_pending, start_session
from web.context import request_context
from web.forms import form_data
from web.rendering import local_path, page
from web.state import qaf_state

SIGNED_OUT_MESSAGES = {
    "idle": "You have been signed out because you had not used qaf for {minutes} minutes. Sign in again to carry on.",
    "lifetime": "You have been signed out because you signed in more than {hours} hours ago. Sign in again to carry on.",
}


def _safe_next(target: str | None) -> str:
    # Only same-site paths: never an open redirect to another host.
    # Refused or none: the home, what needs the person now (issue 17).
    return local_path(target, "/")


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""


def wait_words(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = -(-seconds // 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


async def _login_page(request: Request, *, next: str, errors: dict, values: dict, status_code: int = 200, notice: str = "") -> Template:
    settings = qaf_state(request.app.state).settings
    return await page(
        request,
        "auth/login.html",
        title="Sign in",
        next=next,
        errors=errors,
        values=values,
        status_code=status_code,
        notice=notice,
        local_passwords=settings.local_passwords,
        oidc=settings.oidc_enabled,
        provider_name=settings.oidc_provider_name,
    )


class LoginController(Controller):
    path = ""
    include_in_schema = False

    @get("/login")
    async def show(self, request: Request, next: FromQuery[str | None] = None) -> Template:
        notice = ""
        session = request.session if isinstance(request.scope.get("session"), dict) else {}
        reason = session.get(SIGNED_OUT)
        if reason:
            settings = qaf_state(request.app.state).settings
            notice = SIGNED_OUT_MESSAGES.get(reason, "").format(minutes=settings.session_idle_minutes, hours=settings.session_max_hours)
            request.set_session({k: v for k, v in session.items() if k != SIGNED_OUT})
        return await _login_page(request, next=_safe_next(next), errors={}, values={}, notice=notice)

    @post("/login")
    async def sign_in(self, request: Request) -> Template | Redirect:
        settings = qaf_state(request.app.state).settings
        data = await form_data(request)
        next_path = _safe_next(data.get("next"))
        if not settings.local_passwords:
            return await _login_page(
                request, next=next_path, status_code=403, values={},
                errors={"username": f"Sign in with {settings.oidc_provider_name}: qaf passwords are switched off"},
            )
        errors = {}
        username, password = data.get("username", "").strip(), data.get("password", "")
        if not username:
            errors["username"] = "Enter your username"
        if not password:
            errors["password"] = "Enter your password"
        result = None
        status_code = 422
        if not errors:
            ctx = request_context(request)
            result = await accounts.authenticate(ctx, username, password, address=client_address(request), key=settings.secret_key)
            if result.refused == "throttled":
                errors["username"] = f"There have been too many attempts to sign in. Wait {wait_words(result.wait_seconds)} and try again"
                status_code = 429
            elif result.refused:
                errors["username"] = "The username or password is not right"
        if errors:
            return await _login_page(request, next=next_path, errors=errors, values={"username": username}, status_code=status_code)
        ctx = request_context(request)
        actor = await accounts.actor(ctx, result.person_id)
        if settings.second_factor and second_factor.required(actor):
            response = Redirect("/login/second-factor", status_code=303)
            start_pending(request, response, person_id=result.person_id, next=next_path)
            return response
        response = Redirect(next_path, status_code=303)
        await accounts.signed_in(ctx, result.person_id, username=username, address=client_address(request), key=settings.secret_key)
        start_session(request, response, person_id=result.person_id, role=actor.role if actor else "", via="password")
        return response

    @post("/logout")
    async def sign_out(self, request: Request) -> Template | Redirect:
        session = request.session if isinstance(request.scope.get("session"), dict) else {}
        via = session.get(SESSION_VIA)
        id_token = session.get("id_token")
        end_session(request)
        if via == "oidc":
            from web.auth.oidc import provider_sign_out_url

            settings = qaf_state(request.app.state).settings
            url = await provider_sign_out_url(settings, id_token)
            return await page(request, "auth/signed_out.html", title="You have signed out", provider_url=url, provider_name=settings.oidc_provider_name)
        return Redirect("/login", status_code=303)

    @post("/session/keep-alive", guards=[signed_in])
    async def keep_alive(self, request: Request) -> Response | Redirect:
        """"Stay signed in" on the timeout warning: the idle time starts again."""
        from core.calendar import utcnow

        request.set_session({**request.session, SEEN_AT: utcnow().timestamp()})
        if request.headers.get("hx-request"):
            return Response(None, status_code=204)
        data = await form_data(request)
        return Redirect(_safe_next(data.get("next")), status_code=303)


class SecondFactorController(Controller):
    """The second step of a local sign-in for administrators and the QA team."""

    path = "/login/second-factor"
    include_in_schema = False

    def _pending(self, request: Request) -> int | None:
        session = request.scope.get("session")
        return session.get(PENDING) if isinstance(session, dict) else None

    @get("")
    async def show(self, request: Request) -> Template | Redirect:
        person_id = self._pending(request)
        if person_id is None:
            return Redirect("/login", status_code=303)
        return await self._page(request, person_id, errors={})

    async def _page(self, request: Request, person_id: int, errors: dict, status_code: int = 200) -> Template:
        if await second_factor.is_set_up(person_id):
            return await page(request, "auth/second_factor.html", title="Enter your security code", errors=errors, status_code=status_code)
        setup = await second_factor.setup(person_id)
        return await page(
            request, "auth/second_factor_setup.html", title="Set up your authenticator app", errors=errors, setup=setup, status_code=status_code
        )

    @post("")
    async def check(self, request: Request) -> Template | Redirect:
        person_id = self._pending(request)
        if person_id is None:
            return Redirect("/login", status_code=303)
        settings = qaf_state(request.app.state).settings
        data = await form_data(request)
        code = data.get("code", "").strip()
        ctx = request_context(request)
        if not code:
            return await self._page(request, person_id, {"code": "Enter the 6-digit code from your authenticator app"}, 422)
        person = await accounts.person_row(person_id)
        address = client_address(request)
        account = accounts.digest(settings.secret_key, "account:" + person["username"])
        place = accounts.digest(settings.secret_key, "address:" + address)
        wait = await accounts.wait_before_attempt(ctx.now, account, place)
        if wait:
            await accounts.record_attempt(ctx, account=account, address=place, person=person, outcome="throttled")
            return await self._page(request, person_id, {"code": f"There have been too many attempts to sign in. Wait {wait_words(wait)} and try again"}, 429)
        recovery_codes = None
        if await second_factor.is_set_up(person_id):
            ok = await second_factor.check(ctx, person_id, code)
        else:
            recovery_codes = await second_factor.confirm(ctx, person_id, code)
            ok = recovery_codes is not None
        if not ok:
            await accounts.record_attempt(ctx, account=account, address=place, person=person, outcome="second_factor_wrong")
            return await self._page(request, person_id, {"code": "The code is not right. Enter the code your app shows now"}, 422)
        next_path = _safe_next(request.session.get("next"))
        await accounts.signed_in(ctx, person_id, address=address, key=settings.secret_key)
        actor = await accounts.actor(ctx, person_id)
        if recovery_codes:
            response = await page(request, "auth/recovery_codes.html", title="Keep your recovery codes", codes=recovery_codes, next=next_path)
        else:
            response = Redirect(next_path, status_code=303)
        start_session(request, response, person_id=person_id, role=actor.role if actor else "", via="password")
        return response
