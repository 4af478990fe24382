"""Signing in and out with a local account."""

from __future__ import annotations


from litestar.params import FromQuery
from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template

from core.services import accounts
from web.auth.guards import signed_in
from web.auth.middleware import SESSION_PERSON
from web.auth.sessions import start as start_session
from web.context import request_context
from web.forms import form_data
from web.rendering import local_path, page


def _safe_next(target: str | None) -> str:
    # Only same-site paths: never an open redirect to another host.
    # Refused or none: the home, what needs the person now (issue 17).
    return local_path(target, "/")


class LoginController(Controller):
    path = ""
    include_in_schema = False

    @get("/login")
    async def show(self, request: Request, next: FromQuery[str | None] = None) -> Template:
        return await page(request, "auth/login.html", title="Sign in", next=_safe_next(next), errors={}, values={})

    @post("/login")
    async def sign_in(self, request: Request) -> Template | Redirect:
        data = await form_data(request)
        errors = {}
        username, password = data.get("username", "").strip(), data.get("password", "")
        if not username:
            errors["username"] = "Enter your username"
        if not password:
            errors["password"] = "Enter your password"
        person_id = None
        if not errors:
            person_id = await accounts.authenticate(request_context(request), username, password)
            if person_id is None:
                errors["username"] = "The username or password is not right"
        if errors:
            return await page(
                request,
                "auth/login.html",
                title="Sign in",
                next=_safe_next(data.get("next")),
                errors=errors,
                values={"username": username},
                status_code=422,
            )
        start_session(request, {SESSION_PERSON: person_id})
        return Redirect(_safe_next(data.get("next")), status_code=303)

    @post("/logout", guards=[signed_in])
    async def sign_out(self, request: Request) -> Redirect:
        request.clear_session()
        return Redirect("/login", status_code=303)
