"""A person's own API tokens: listed, made and revoked on a page
(``/account/tokens``) and through ``/api/v1/auth/tokens`` (issue 15)."""

from __future__ import annotations

from litestar import Controller, Request, delete, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from core.services import accounts
from core.services.errors import Invalid
from web.api import schemas
from web.auth.guards import signed_in
from web.context import request_context
from web.forms import form_data
from web.rendering import page

STATES = {"active": "Active", "expired": "Expired", "revoked": "Revoked"}


def _days(raw: str) -> tuple[int | None, str | None]:
    raw = raw.strip()
    if not raw:
        return None, "Enter how many days the token should last"
    if not raw.isdigit() or not 1 <= int(raw) <= accounts.TOKEN_DAYS_MAX:
        return None, f"Enter a whole number of days between 1 and {accounts.TOKEN_DAYS_MAX}"
    return int(raw), None


class TokenPages(Controller):
    path = "/account/tokens"
    guards = [signed_in]
    include_in_schema = False

    async def _list(self, request: Request, errors: dict, values: dict, status_code: int = 200, created: str = "") -> Template:
        tokens = await accounts.tokens_of(request_context(request))
        return await page(
            request, "auth/tokens.html", title="Your API tokens", tokens=tokens, states=STATES,
            errors=errors, values=values, created=created, status_code=status_code,
        )

    @get("")
    async def show(self, request: Request) -> Template:
        return await self._list(request, {}, {"days": str(accounts.TOKEN_DAYS_DEFAULT)})

    @post("")
    async def create(self, request: Request) -> Template:
        data = await form_data(request)
        label, raw_days = data.get("label", "").strip(), data.get("days", "")
        errors = {}
        if not label:
            errors["label"] = "Enter a name for the token, such as the system that will use it"
        elif len(label) > 100:
            errors["label"] = "The name must be 100 characters or fewer"
        days, problem = _days(raw_days)
        if problem:
            errors["days"] = problem
        if errors:
            return await self._list(request, errors, {"label": label, "days": raw_days}, 422)
        ctx = request_context(request)
        token = await accounts.create_token(ctx, ctx.person_id, label, days)
        return await self._list(request, {}, {"days": str(accounts.TOKEN_DAYS_DEFAULT)}, created=token)

    @post("/{token_id:int}/revoke")
    async def revoke(self, request: Request, token_id: FromPath[int]) -> Redirect:
        await accounts.revoke_token(request_context(request), token_id)
        return Redirect("/account/tokens", status_code=303)


class TokensApi(Controller):
    path = "/auth/tokens"
    guards = [signed_in]

    @get("", summary="My API tokens: name, when made, when they expire, last use; never the token itself")
    async def mine(self, request: Request) -> list[schemas.TokenOut]:
        return [
            schemas.TokenOut(
                id=t.id, label=t.label, created_at=t.created_at, expires_at=t.expires_at,
                last_used_at=t.last_used_at, revoked_at=t.revoked_at, state=t.state,
            )
            for t in await accounts.tokens_of(request_context(request))
        ]

    @delete("/{token_id:int}", summary="Revoke one of my tokens: from then on it gets 401", status_code=204)
    async def revoke(self, request: Request, token_id: FromPath[int]) -> None:
        await accounts.revoke_token(request_context(request), token_id)


__all__ = ["Invalid", "TokenPages", "TokensApi"]
