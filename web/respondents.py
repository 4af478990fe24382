"""Agency respondents (issue 14, PLAT-7): inviting and removing them, and
their sign-in by one-time emailed link; pages and /api/v1 over
``core.services.respondents``.

A link from an email is never used by opening it: the page it opens asks
the person to press a button (a POST), so a mail scanner that follows links
does not use up the invitation or the sign-in link."""

from __future__ import annotations

import datetime as dt

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import FromPath, JSONBody
from litestar.response import Redirect, Response, Template

from core.services import accounts, one_time_links, respondents
from core.services.errors import Invalid
from web.auth.guards import signed_in
from web.auth.signing import start_session
from web.context import request_context
from web.forms import form_data
from web.rendering import flash, page, see_other
from web.state import qaf_state

SENT = ("If that email address belongs to someone who may sign in, we have sent a link to it. "
        "The link works once, for 30 minutes.")


async def _signed_in(request: Request, person_id: int) -> Redirect:
    """A respondent's link was right: a new session (new id, new CSRF token)
    like every other sign-in's (web/auth/signing.py); the service has already
    written the sign-in to the trail."""
    actor = await accounts.actor(request_context(request), person_id)
    response = Redirect("/requests", status_code=303)
    start_session(request, response, person_id=person_id, role=actor.role if actor else "", via="link")
    return response


class RespondentSignIn(Controller):
    """The pages an invited respondent reaches from their email, signed in or not."""

    path = "/respondents"
    include_in_schema = False

    @get("/sign-in")
    async def ask(self, request: Request) -> Template:
        return await page(request, "respondents/sign_in.html", title="Sign in with an emailed link", errors={}, values={}, sent=False)

    @post("/sign-in")
    async def send(self, request: Request) -> Template:
        data = await form_data(request)
        email = data.get("email", "").strip()
        if not email or "@" not in email:
            return await page(request, "respondents/sign_in.html", title="Error: Sign in with an emailed link",
                              errors={"email": "Enter your email address, like name@example.com"}, values=data, sent=False,
                              status_code=422)
        ctx = request_context(request)
        await respondents.request_sign_in(ctx, email, qaf_state(request.app.state).settings.respondent_idle_days)
        # The same answer whether or not the address is known (PLAT-7).
        return await page(request, "respondents/sign_in.html", title="Check your email", errors={}, values={}, sent=True)

    @get("/sign-in/{token:str}")
    async def confirm_sign_in(self, request: Request, token: FromPath[str]) -> Template:
        ctx = request_context(request)
        works = await one_time_links.peek(ctx, one_time_links.SIGN_IN, token) is not None
        return await page(request, "respondents/use_link.html", title="Sign in" if works else "This link does not work",
                          works=works, action=f"/respondents/sign-in/{token}", purpose="sign_in")

    @post("/sign-in/{token:str}")
    async def use_sign_in(self, request: Request, token: FromPath[str]) -> Template | Redirect:
        person_id = await respondents.sign_in(request_context(request), token)
        if person_id is None:
            return await page(request, "respondents/use_link.html", title="This link does not work", works=False,
                              action="", purpose="sign_in", status_code=410)
        return await _signed_in(request, person_id)

    @get("/invitation/{token:str}")
    async def invitation(self, request: Request, token: FromPath[str]) -> Template:
        ctx = request_context(request)
        works = await one_time_links.peek(ctx, one_time_links.RESPONDENT_INVITATION, token) is not None
        return await page(request, "respondents/use_link.html", title="Accept the invitation" if works else "This link does not work",
                          works=works, action=f"/respondents/invitation/{token}", purpose="invitation")

    @post("/invitation/{token:str}")
    async def accept(self, request: Request, token: FromPath[str]) -> Template | Redirect:
        person_id = await respondents.accept(request_context(request), token)
        if person_id is None:
            return await page(request, "respondents/use_link.html", title="This link does not work", works=False,
                              action="", purpose="invitation", status_code=410)
        response = await _signed_in(request, person_id)
        flash(request, "Invitation accepted", "Next time, sign in with a link we email you.")
        return response


class RespondentPages(Controller):
    """An agency's respondents, for its lead (and the QA manager)."""

    path = "/agencies"
    guards = [signed_in]
    include_in_schema = False

    @get("/{agency_id:int}/respondents")
    async def listing(self, request: Request, agency_id: FromPath[int]) -> Template:
        return await self._page(request, agency_id, {}, {})

    async def _page(self, request: Request, agency_id: int, values: dict, errors: dict, status_code: int = 200) -> Template:
        view = await respondents.of_agency(request_context(request), agency_id)
        return await page(request, "respondents/list.html", title=("Error: " if errors else "") + f"Respondents for {view['agency']['name']}",
                          view=view, values=values, errors=errors, status_code=status_code)

    @post("/{agency_id:int}/respondents")
    async def invite(self, request: Request, agency_id: FromPath[int]) -> Template | Redirect | Response:
        data = await form_data(request)
        try:
            await respondents.invite(request_context(request), agency_id, data.get("email", ""), data.get("name", ""))
        except Invalid as invalid:
            return await self._page(request, agency_id, data, invalid.errors, status_code=422)
        flash(request, "Invitation sent", f"{data.get('email', '').strip()} has been emailed a link to accept. It works once, for 7 days.")
        return see_other(request, f"/agencies/{agency_id}/respondents")

    @post("/{agency_id:int}/respondents/{person_id:int}/remove")
    async def remove(self, request: Request, agency_id: FromPath[int], person_id: FromPath[int]) -> Redirect | Response:
        await respondents.remove(request_context(request), person_id)
        flash(request, "Respondent removed", "They can no longer sign in.")
        return see_other(request, f"/agencies/{agency_id}/respondents")

    @post("/{agency_id:int}/respondents/{person_id:int}/withdraw")
    async def withdraw(self, request: Request, agency_id: FromPath[int], person_id: FromPath[int]) -> Template | Redirect | Response:
        try:
            await respondents.revoke_invitation(request_context(request), person_id)
        except Invalid as invalid:
            return await self._page(request, agency_id, {}, invalid.errors, status_code=422)
        flash(request, "Invitation withdrawn", "The link in it no longer works.")
        return see_other(request, f"/agencies/{agency_id}/respondents")


# ---------------------------------------------------------------- API


class InvitationIn(msgspec.Struct, kw_only=True):
    email: str
    name: str


class RespondentOut(msgspec.Struct, kw_only=True):
    id: int
    name: str
    email: str
    status: str
    last_signed_in: dt.datetime | None


class SignInIn(msgspec.Struct, kw_only=True):
    email: str


class SignInOut(msgspec.Struct, kw_only=True):
    message: str


def _people(view: dict) -> list[RespondentOut]:
    return [RespondentOut(id=r["id"], name=r["name"], email=r["email"], status=r["status"], last_signed_in=r["last_signed_in"])
            for r in view["respondents"]]


class RespondentsApi(Controller):
    path = "/agencies/{agency_id:int}/respondents"
    guards = [signed_in]

    @get("", summary="An agency's respondents (its lead, or the QA manager)")
    async def listing(self, request: Request, agency_id: FromPath[int]) -> list[RespondentOut]:
        return _people(await respondents.of_agency(request_context(request), agency_id))

    @post("", summary="Invite a respondent by email: a one-time link that expires (its lead, or the QA manager)", status_code=201)
    async def invite(self, request: Request, agency_id: FromPath[int], data: JSONBody[InvitationIn]) -> list[RespondentOut]:
        ctx = request_context(request)
        await respondents.invite(ctx, agency_id, data.email, data.name)
        return _people(await respondents.of_agency(ctx, agency_id))

    @post("/{person_id:int}/remove", summary="End a respondent's access", status_code=200)
    async def remove(self, request: Request, agency_id: FromPath[int], person_id: FromPath[int]) -> list[RespondentOut]:
        ctx = request_context(request)
        await respondents.remove(ctx, person_id)
        return _people(await respondents.of_agency(ctx, agency_id))

    @post("/{person_id:int}/withdraw", summary="Withdraw an invitation not yet accepted", status_code=200)
    async def withdraw(self, request: Request, agency_id: FromPath[int], person_id: FromPath[int]) -> list[RespondentOut]:
        ctx = request_context(request)
        await respondents.revoke_invitation(ctx, person_id)
        return _people(await respondents.of_agency(ctx, agency_id))


class SignInApi(Controller):
    path = "/respondents"

    @post("/sign-in", summary="Email a respondent a one-time sign-in link; the same answer whether or not the address is known",
          status_code=202)
    async def sign_in(self, request: Request, data: JSONBody[SignInIn]) -> SignInOut:
        await respondents.request_sign_in(request_context(request), data.email,
                                          qaf_state(request.app.state).settings.respondent_idle_days)
        return SignInOut(message=SENT)
