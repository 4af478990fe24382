"""Emailed links that work once (PLAT-7; issue 15 reuses them for local
accounts' invitations and password resets, PLAT-10).

A link is for one ``purpose`` (``respondent_invitation``, ``sign_in`` …),
names the person it lets in (or only an email address), and works until the
first of: it is used, it expires, it is revoked. Only the sha256 of its
token is stored, so a copy of the database lets nobody in; the token itself
exists only in the link sent. Using a link is one conditional UPDATE, so two
clicks (or two processes) cannot both use it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from core.db.tables import OneTimeLink
from core.services.context import Context

# Purposes in use; a link for one is never accepted for another.
RESPONDENT_INVITATION = "respondent_invitation"
SIGN_IN = "sign_in"
# Local accounts (issue 15 item 2, PLAT-10): choosing a first password, and a new one.
STAFF_INVITATION = "staff_invitation"
PASSWORD_RESET = "password_reset"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue(
    ctx: Context,
    *,
    purpose: str,
    valid_for: dt.timedelta,
    person_id: int | None = None,
    email: str = "",
    organisation_id: int | None = None,
) -> str:
    """A new link's token (write it into the link and nowhere else); inside
    the caller's transaction where there is one."""
    token = secrets.token_urlsafe(32)
    await OneTimeLink.insert(
        OneTimeLink(
            organisation=organisation_id,
            purpose=purpose,
            token_hash=digest(token),
            person=person_id,
            email=email,
            expires_at=ctx.now + valid_for,
            created_by=ctx.person_id,
            created_at=ctx.now,
        )
    )
    return token


def new_token() -> tuple[str, str]:
    """A token and its digest, for callers that insert many links at once."""
    token = secrets.token_urlsafe(32)
    return token, digest(token)


def _usable(ctx: Context, purpose: str, token: str):
    return (
        (OneTimeLink.token_hash == digest(token or ""))
        & (OneTimeLink.purpose == purpose)
        & OneTimeLink.used_at.is_null()
        & OneTimeLink.revoked_at.is_null()
        & (OneTimeLink.expires_at > ctx.now)
    )


async def peek(ctx: Context, purpose: str, token: str) -> dict | None:
    """The link, if it would still work now (without using it): for the page
    that asks the person to confirm before the link is used, so that a mail
    scanner opening the link does not use it up."""
    return await OneTimeLink.select().where(_usable(ctx, purpose, token)).first()


async def use(ctx: Context, purpose: str, token: str) -> dict | None:
    """Use the link: the row (person, email, organisation) if it still
    worked, and never again; None for a used, expired, revoked, unknown or
    other purpose's link (all the same to the caller)."""
    rows = await OneTimeLink.update({OneTimeLink.used_at: ctx.now}).where(_usable(ctx, purpose, token)).returning(
        OneTimeLink.id, OneTimeLink.person, OneTimeLink.email, OneTimeLink.organisation, OneTimeLink.purpose
    )
    return rows[0] if rows else None


async def revoke(ctx: Context, *, person_id: int, purpose: str | None = None) -> int:
    """Revoke every unused link of ``person_id`` (of one ``purpose``, or all).
    Returns how many were still open."""
    where = (OneTimeLink.person == person_id) & OneTimeLink.used_at.is_null() & OneTimeLink.revoked_at.is_null()
    if purpose is not None:
        where &= OneTimeLink.purpose == purpose
    rows = await OneTimeLink.update({OneTimeLink.revoked_at: ctx.now}).where(where).returning(OneTimeLink.id)
    return len(rows)


async def open_links(person_id: int, purpose: str, now: dt.datetime) -> list[dict]:
    """A person's links of ``purpose`` still usable at ``now``, newest first."""
    return await OneTimeLink.select(OneTimeLink.id, OneTimeLink.expires_at, OneTimeLink.created_at).where(
        (OneTimeLink.person == person_id) & (OneTimeLink.purpose == purpose) & OneTimeLink.used_at.is_null()
        & OneTimeLink.revoked_at.is_null() & (OneTimeLink.expires_at > now)
    ).order_by(OneTimeLink.id, ascending=False)


async def last_used(person_id: int) -> dt.datetime | None:
    """When a link of this person's was last used (their last sign-in by link)."""
    row = await OneTimeLink.select(OneTimeLink.used_at).where(
        (OneTimeLink.person == person_id) & OneTimeLink.used_at.is_not_null()
    ).order_by(OneTimeLink.used_at, ascending=False).first()
    return row["used_at"] if row else None
