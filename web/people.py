"""Local accounts (issue 15 item 2, PLAT-10): the administrators' "People"
page, the page an invitation or reset link opens to choose a password,
"Forgot your password?", and the same through ``/api/v1``; over
``core.services.invitations`` and ``core.services.people``.

An emailed link is never used by opening it: the page asks for the password
and only its form (a POST) uses the link, so a mail scanner that follows
links does not use it up.
"""

from __future__ import annotations

import datetime as dt

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import Redirect, Response, Template

from core.services import accounts, invitations, people, second_factor
from core.services.errors import Conflict, Invalid
from web.auth.controller import client_address
from web.auth.guards import requires
from web.auth.signing import start_pending, start_session
from web.context import request_context
from web.forms import form_data
from web.rendering import flash, page, see_other
from web.state import qaf_state

RESET_SENT = ("If the username or email address belongs to an account that can sign in, we have sent a link "
              "to its email address to choose a new password. The link works once, for {minutes} minutes. "
              "If nothing arrives, ask {contact}.")
LINKS = {"invitation": invitations.INVITATION, "password-reset": invitations.RESET}


def _settings(request: Request):
    return qaf_state(request.app.state).settings


def _invitation_lasts(request: Request) -> dt.timedelta:
    return dt.timedelta(days=_settings(request).invitation_days)


def _passwords_on(request: Request) -> None:
    if not _settings(request).local_passwords:
        raise Conflict("qaf passwords are switched off here: everyone signs in through the council's own account")


# ---------------------------------------------------------------- choosing a password


async def _choose_page(request: Request, kind: str, token: str, *, errors: dict, status_code: int = 200) -> Template:
    holder = await invitations.link_holder(request_context(request), LINKS[kind], token)
    if holder is None:
        return await page(request, "people/link_gone.html", title="This link does not work", kind=kind,
                          status_code=410 if request.method == "POST" else 200)
    title = "Choose your password" if kind == "invitation" else "Choose a new password"
    return await page(request, "people/choose_password.html", title=("Error: " if errors else "") + title, heading=title,
                      kind=kind, action=f"/{kind}/{token}", username=holder["username"], errors=errors, status_code=status_code)


async def _signed_in(request: Request, person_id: int) -> Redirect:
    """The same ending as a password sign-in (web/auth/controller.py): the QA
    team and administrators still give their second factor (or set it up)."""
    ctx = request_context(request)
    actor = await accounts.actor(ctx, person_id)
    settings = _settings(request)
    if settings.second_factor and actor is not None and second_factor.required(actor):
        response = Redirect("/login/second-factor", status_code=303)
        start_pending(request, response, person_id=person_id, next="/")
        return response
    response = Redirect("/", status_code=303)
    await accounts.signed_in(ctx, person_id, address=client_address(request), key=settings.secret_key)
    start_session(request, response, person_id=person_id, role=actor.role if actor else "", via="password")
    flash(request, "Your password is saved", "Next time, sign in with your username and this password.")
    return response


async def _choose(request: Request, kind: str, token: str) -> Template | Redirect:
    _passwords_on(request)
    data = await form_data(request)
    try:
        person_id = await invitations.choose_password(
            request_context(request), LINKS[kind], token, data.get("password", ""), data.get("confirm", ""))
    except invitations.LinkDoesNotWork:
        return await page(request, "people/link_gone.html", title="This link does not work", kind=kind, status_code=410)
    except Invalid as invalid:
        return await _choose_page(request, kind, token, errors=invalid.errors, status_code=422)
    return await _signed_in(request, person_id)


class PasswordPages(Controller):
    """The pages an invitation or reset email opens, signed in or not."""

    path = ""
    include_in_schema = False

    @get("/invitation/{token:str}")
    async def invitation(self, request: Request, token: FromPath[str]) -> Template:
        _passwords_on(request)
        return await _choose_page(request, "invitation", token, errors={})

    @post("/invitation/{token:str}")
    async def accept(self, request: Request, token: FromPath[str]) -> Template | Redirect:
        return await _choose(request, "invitation", token)

    @get("/password-reset/{token:str}")
    async def reset(self, request: Request, token: FromPath[str]) -> Template:
        _passwords_on(request)
        return await _choose_page(request, "password-reset", token, errors={})

    @post("/password-reset/{token:str}")
    async def choose(self, request: Request, token: FromPath[str]) -> Template | Redirect:
        return await _choose(request, "password-reset", token)

    @get("/login/forgot")
    async def forgot(self, request: Request) -> Template:
        _passwords_on(request)
        return await page(request, "people/forgot.html", title="Reset your password", errors={}, values={}, sent="")

    @post("/login/forgot")
    async def ask(self, request: Request) -> Template:
        _passwords_on(request)
        data = await form_data(request)
        who = data.get("who", "").strip()
        if not who:
            return await page(request, "people/forgot.html", title="Error: Reset your password", values=data, sent="",
                              errors={"who": "Enter your username or email address"}, status_code=422)
        settings = _settings(request)
        await invitations.ask_for_reset(request_context(request), who, address=client_address(request), key=settings.secret_key,
                                        valid_for=dt.timedelta(minutes=settings.password_reset_minutes))
        # The same words whether or not the account exists.
        return await page(request, "people/forgot.html", title="Check your email", errors={}, values={},
                          sent=RESET_SENT.format(minutes=settings.password_reset_minutes, contact=settings.sign_in_contact))


# ---------------------------------------------------------------- the People page


class PeoplePages(Controller):
    path = "/people"
    guards = [requires("administer")]
    include_in_schema = False

    @get("")
    async def listing(self, request: Request, q: FromQuery[str] = "", page: FromQuery[int] = 1) -> Template:
        return await self._page(request, q, page)

    async def _page(self, request: Request, search: str, page_number: int, errors: dict | None = None, status_code: int = 200) -> Template:
        settings = _settings(request)
        view = await people.listing(request_context(request), search=search, page=page_number, local_passwords=settings.local_passwords)
        waiting, without_email = ([], 0)
        if settings.local_passwords:
            waiting, without_email = await invitations.invitable(request_context(request))
        return await page(request, "people/list.html", title=("Error: " if errors else "") + "People", view=view,
                          local_passwords=settings.local_passwords, waiting=len(waiting), without_email=without_email,
                          invitation_days=settings.invitation_days, errors=errors or {}, status_code=status_code)

    async def _act(self, request: Request, action, person_id: int, title: str, text: str) -> Template | Redirect | Response:
        data = await form_data(request)
        back = f"/people?q={data.get('q', '')}&page={data.get('page', '1')}" if data.get("q") or data.get("page") else "/people"
        try:
            person = await action(person_id)
        except Invalid as invalid:
            return await self._page(request, data.get("q", ""), int(data.get("page", "1") or 1) if str(data.get("page", "1")).isdigit() else 1,
                                    errors=invalid.errors, status_code=422)
        flash(request, title, text.format(name=person["display_name"], email=person["email"]))
        return see_other(request, back)

    @post("/{person_id:int}/invite")
    async def invite(self, request: Request, person_id: FromPath[int]) -> Template | Redirect | Response:
        _passwords_on(request)
        ctx, lasts = request_context(request), _invitation_lasts(request)
        return await self._act(request, lambda pid: invitations.invite(ctx, pid, valid_for=lasts), person_id, "Invitation sent",
                               f"{{name}} has been emailed a link to choose a password, at {{email}}. It works once, for {lasts.days} days.")

    @post("/invite-all")
    async def invite_all(self, request: Request) -> Redirect | Response:
        _passwords_on(request)
        done = await invitations.invite_all(request_context(request), valid_for=_invitation_lasts(request))
        text = f"{done.invited} {'person has' if done.invited == 1 else 'people have'} been emailed a link to choose a password."
        if done.without_email:
            text += f" {done.without_email} could not be invited: they have no email address."
        flash(request, "Invitations sent", text)
        return see_other(request, "/people")

    @post("/{person_id:int}/deactivate")
    async def deactivate(self, request: Request, person_id: FromPath[int]) -> Template | Redirect | Response:
        ctx = request_context(request)
        return await self._act(request, lambda pid: people.deactivate(ctx, pid), person_id, "Account deactivated",
                               "{name} has been signed out and can no longer sign in. Their API tokens no longer work.")

    @post("/{person_id:int}/reactivate")
    async def reactivate(self, request: Request, person_id: FromPath[int]) -> Template | Redirect | Response:
        ctx = request_context(request)
        return await self._act(request, lambda pid: people.reactivate(ctx, pid), person_id, "Account reactivated",
                               "{name} can sign in again.")


# ---------------------------------------------------------------- API


class StaffMemberOut(msgspec.Struct, kw_only=True):
    id: int
    name: str
    username: str
    email: str
    role: str
    active: bool
    status: str
    last_signed_in_at: dt.datetime | None
    may_invite: bool
    may_deactivate: bool
    may_reactivate: bool


class PeopleOut(msgspec.Struct, kw_only=True):
    people: list[StaffMemberOut]
    page: int
    pages: int
    total: int


class InvitedAllOut(msgspec.Struct, kw_only=True):
    invited: int
    without_email: int


class PasswordResetIn(msgspec.Struct, kw_only=True):
    username_or_email: str


class MessageOut(msgspec.Struct, kw_only=True):
    message: str


def _member(m: people.StaffMember) -> StaffMemberOut:
    return StaffMemberOut(id=m.id, name=m.name, username=m.username, email=m.email, role=m.role, active=m.active, status=m.status,
                          last_signed_in_at=m.last_signed_in_at, may_invite=m.may_invite, may_deactivate=m.may_deactivate,
                          may_reactivate=m.may_reactivate)


async def _one(request: Request, person_id: int) -> StaffMemberOut:
    ctx = request_context(request)
    person = await invitations.staff_member(ctx, person_id)
    found = await people.listing(ctx, person_id=person["id"], local_passwords=_settings(request).local_passwords)
    return next(_member(m) for m in found.staff if m.id == person_id)


class PeopleApi(Controller):
    path = "/people"
    guards = [requires("administer")]

    @get("", summary="Administrators: the organisation's staff, 50 a page by name, with their access and when they last signed in")
    async def listing(self, request: Request, q: FromQuery[str] = "", page: FromQuery[int] = 1) -> PeopleOut:
        view = await people.listing(request_context(request), search=q, page=page, local_passwords=_settings(request).local_passwords)
        return PeopleOut(people=[_member(m) for m in view.staff], page=view.page, pages=view.pages, total=view.total)

    @post("/{person_id:int}/invite", summary="Email a member of staff a one-time link to choose their first password", status_code=200)
    async def invite(self, request: Request, person_id: FromPath[int]) -> StaffMemberOut:
        _passwords_on(request)
        await invitations.invite(request_context(request), person_id, valid_for=_invitation_lasts(request))
        return await _one(request, person_id)

    @post("/invite-all", summary="Invite every active member of staff who has no password and no invitation that still works", status_code=200)
    async def invite_all(self, request: Request) -> InvitedAllOut:
        _passwords_on(request)
        done = await invitations.invite_all(request_context(request), valid_for=_invitation_lasts(request))
        return InvitedAllOut(invited=done.invited, without_email=done.without_email)

    @post("/{person_id:int}/deactivate", summary="End a person's access at once: their sessions, API tokens and links", status_code=200)
    async def deactivate(self, request: Request, person_id: FromPath[int]) -> StaffMemberOut:
        await people.deactivate(request_context(request), person_id)
        return await _one(request, person_id)

    @post("/{person_id:int}/reactivate", summary="Let a deactivated person sign in again", status_code=200)
    async def reactivate(self, request: Request, person_id: FromPath[int]) -> StaffMemberOut:
        await people.reactivate(request_context(request), person_id)
        return await _one(request, person_id)


class PasswordResetApi(Controller):
    path = "/auth/password-reset"

    @post("", summary="Forgot your password: email a one-time link to choose a new one; the same answer whether or not the account exists",
          status_code=202)
    async def ask(self, request: Request, data: JSONBody[PasswordResetIn]) -> MessageOut:
        _passwords_on(request)
        settings = _settings(request)
        await invitations.ask_for_reset(request_context(request), data.username_or_email, address=client_address(request),
                                        key=settings.secret_key, valid_for=dt.timedelta(minutes=settings.password_reset_minutes))
        return MessageOut(message=RESET_SENT.format(minutes=settings.password_reset_minutes, contact=settings.sign_in_contact))
