"""The administrators' list of their organisation's staff, and deactivating
and reactivating an account (issue 15 item 2, PLAT-10).

Only ``administer``, only their own organisation. Deactivating ends the
person's sessions at once (an inactive person is nobody to
``accounts.actor``, which every request asks), revokes their API tokens and
any invitation or reset link; an administrator cannot deactivate themselves.
Agency respondents are not listed: their agency's lead manages them
(``core/services/respondents.py``).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from core.db.engine import current, transaction
from core.db.tables import ApiToken, OneTimeLink, Person
from core.services import one_time_links, trail
from core.services.context import Context
from core.services.errors import Forbidden
from core.services.invitations import INVITATION, RESPONDENT_ROLE, _administrator, has_password, staff_member, when

PAGE_SIZE = 50


@dataclass(frozen=True, slots=True)
class StaffMember:
    id: int
    name: str
    username: str
    email: str
    role: str  # the council's name for the role
    active: bool
    status: str  # in words
    last_signed_in_at: dt.datetime | None
    is_you: bool
    may_invite: bool
    invited_before: bool
    may_deactivate: bool
    may_reactivate: bool


@dataclass(frozen=True, slots=True)
class People:
    staff: list[StaffMember]
    search: str
    page: int
    pages: int
    total: int


def _status(person: dict, open_until: dt.datetime | None, invited_before: bool) -> str:
    if not person["active"]:
        return "Deactivated"
    if has_password(person["password_hash"]) or person["oidc_subject"]:
        return "Can sign in"
    if open_until is not None:
        return f"Invited (the link works until {when(open_until)})"
    if invited_before:
        return "Invitation no longer works"
    return "Not invited yet"


async def listing(ctx: Context, *, search: str = "", page: int = 1, local_passwords: bool = True,
                  person_id: int | None = None) -> People:
    """A page of the organisation's staff, by name, with their access (or
    only ``person_id``)."""
    _administrator(ctx)
    assert ctx.actor
    where = (Person.organisation == ctx.actor.organisation_id) & (Person.role != RESPONDENT_ROLE)
    if person_id is not None:
        where &= Person.id == person_id
    search = " ".join((search or "").split())[:100]
    if search:
        # "%" and "_" stand for any one character: they find themselves (and
        # a little more) without an ESCAPE clause.
        pattern = "%" + search.replace("%", "_") + "%"
        # SQLite's LIKE ignores case already (Piccolo warns at each ILIKE there).
        like = "like" if current().engine_type == "sqlite" else "ilike"
        where &= (getattr(Person.display_name, like)(pattern) | getattr(Person.username, like)(pattern)
                  | getattr(Person.email, like)(pattern))
    total = await Person.count().where(where)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(max(1, page), pages)
    rows = await Person.select(
        Person.id, Person.display_name, Person.username, Person.email, Person.role, Person.active,
        Person.password_hash, Person.oidc_subject, Person.last_signed_in_at,
    ).where(where).order_by(Person.display_name).order_by(Person.id).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
    ids = [r["id"] for r in rows]
    open_until: dict[int, dt.datetime] = {}
    invited: set[int] = set()
    if ids:
        for link in await OneTimeLink.select(OneTimeLink.person, OneTimeLink.expires_at, OneTimeLink.used_at,
                                             OneTimeLink.revoked_at).where(
            OneTimeLink.person.is_in(ids) & (OneTimeLink.purpose == INVITATION)
        ):
            invited.add(link["person"])
            if link["used_at"] is None and link["revoked_at"] is None and link["expires_at"] > ctx.now:
                open_until[link["person"]] = max(link["expires_at"], open_until.get(link["person"], link["expires_at"]))
    roles = {role.key: role.label for role in ctx.registry.roles_of(ctx.actor.council)}
    staff = []
    for r in rows:
        can_sign_in = has_password(r["password_hash"]) or bool(r["oidc_subject"])
        is_you = r["id"] == ctx.person_id
        staff.append(StaffMember(
            id=r["id"], name=r["display_name"], username=r["username"], email=r["email"],
            role=roles.get(r["role"], r["role"].replace("_", " ").capitalize()), active=r["active"],
            status=_status(r, open_until.get(r["id"]), r["id"] in invited), last_signed_in_at=r["last_signed_in_at"],
            is_you=is_you, invited_before=r["id"] in invited,
            may_invite=local_passwords and r["active"] and not can_sign_in and bool(r["email"]),
            may_deactivate=r["active"] and not is_you, may_reactivate=not r["active"],
        ))
    return People(staff=staff, search=search, page=page, pages=pages, total=total)


async def deactivate(ctx: Context, person_id: int) -> dict:
    """End ``person_id``'s access at once: sessions, API tokens, links."""
    _administrator(ctx)
    person = await staff_member(ctx, person_id)
    if person_id == ctx.person_id:
        raise Forbidden("You cannot deactivate your own account. Ask another administrator to do it")
    if not person["active"]:
        return person
    async with transaction():
        # A session they do not use meanwhile does not come back with a reactivation.
        await Person.update({Person.active: False, Person.sessions_from: ctx.now}).where(Person.id == person_id)
        ended = await ApiToken.update({ApiToken.revoked_at: ctx.now}).where(
            (ApiToken.person == person_id) & ApiToken.revoked_at.is_null()
        ).returning(ApiToken.id)
        await one_time_links.revoke(ctx, person_id=person_id)
        await trail.record(ctx, organisation_id=person["organisation"], entity="person", entity_id=person_id,
                           action="deactivated", changes={"active": [True, False], "api_tokens_revoked": len(ended)})
    return person


async def reactivate(ctx: Context, person_id: int) -> dict:
    """Let ``person_id`` sign in again (with the password they had; their
    revoked API tokens stay revoked)."""
    _administrator(ctx)
    person = await staff_member(ctx, person_id)
    if person["active"]:
        return person
    async with transaction():
        await Person.update({Person.active: True}).where(Person.id == person_id)
        await trail.record(ctx, organisation_id=person["organisation"], entity="person", entity_id=person_id,
                           action="reactivated", changes={"active": [False, True]})
    return person
