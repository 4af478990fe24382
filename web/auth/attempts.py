"""Administrators see refused sign-ins to their organisation's accounts
(issue 15 item 5): a page and ``/api/v1/sign-in-attempts``."""

from __future__ import annotations

import datetime as dt

import msgspec
from litestar import Controller, Request, get
from litestar.response import Template

from core.services import accounts
from web.auth.guards import requires
from web.context import request_context
from web.rendering import page


class RefusedSignInOut(msgspec.Struct, kw_only=True):
    at: dt.datetime
    person_id: int
    name: str
    outcome: str


class SignInAttemptPages(Controller):
    path = "/sign-ins"
    guards = [requires("administer")]
    include_in_schema = False

    @get("")
    async def show(self, request: Request) -> Template:
        refused = await accounts.refused_sign_ins(request_context(request))
        return await page(request, "auth/attempts.html", title="Refused sign-ins", refused=refused)


class SignInAttemptsApi(Controller):
    path = "/sign-in-attempts"
    guards = [requires("administer")]

    @get("", summary="Administrators: refused sign-ins to the organisation's accounts in the last 7 days, newest first")
    async def refused(self, request: Request) -> list[RefusedSignInOut]:
        return [
            RefusedSignInOut(at=r.at, person_id=r.person_id, name=r.name, outcome=r.outcome)
            for r in await accounts.refused_sign_ins(request_context(request))
        ]
