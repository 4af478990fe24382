"""Agency respondents: people in partner agencies without staff accounts
(issue 14, PLAT-7).

An agency lead (or the partnership's QA manager) invites a respondent by
email address. The invitation is a one-time link (``one_time_links``) that
expires; accepting it signs the respondent in. After that they sign in by a
one-time link emailed to them each time: there is no password to manage.
Asking for a link answers the same whether or not the address is known, and
sends nothing to an unknown one.

A respondent sees only their own agency's requests and returns (the audits'
policy, ``audits._load_fresh``: "agency_member"). Their access ends when the
agency lead removes them or when they have not signed in for the settings'
``respondent_idle_days``; an invitation not yet accepted can be revoked.
Every invitation, sign-in, removal and end of access is in the trail.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets

from core.db.engine import transaction
from core.db.tables import Agency, OneTimeLink, Person
from core.services import notifications, one_time_links, trail
from core.services.context import Context
from core.services.errors import Forbidden, Invalid, NotFound

ROLE = "agency_respondent"
INVITATION_VALID_FOR = dt.timedelta(days=7)
SIGN_IN_VALID_FOR = dt.timedelta(minutes=30)
# Links one respondent may be sent in an hour: a person retrying is well
# within it; a script mailing someone's inbox full is not (the page answers
# the same either way).
SIGN_IN_LINKS_PER_HOUR = 5
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _clean_email(email: str) -> str:
    return (email or "").strip().lower()


async def _agency(ctx: Context, agency_id: int) -> dict:
    assert ctx.actor
    row = await Agency.select(Agency.id, Agency.name).where(
        (Agency.id == agency_id) & (Agency.organisation == ctx.actor.organisation_id)).first()
    if row is None:
        raise NotFound("There is no such agency")
    return row


async def _may_manage(ctx: Context, agency_id: int) -> dict:
    """The agency, if the actor may manage its respondents: its own lead, or
    the partnership's QA manager (``administer``)."""
    from core.services.agency_requests import agency_of

    assert ctx.actor
    agency = await _agency(ctx, agency_id)
    if ctx.actor.can("administer"):
        return agency
    if ctx.actor.role == "agency_lead" and await agency_of(ctx) == agency_id:
        return agency
    raise Forbidden("Only the agency's lead or the partnership's Quality Assurance Manager manages its respondents")


def _status(person: dict, now: dt.datetime, open_invitation: bool, last: dt.datetime | None) -> str:
    if person["active"]:
        return "Can sign in"
    if open_invitation:
        return "Invited"
    return "No access"


async def of_agency(ctx: Context, agency_id: int) -> dict:
    """The agency and its respondents: {agency, respondents: [{id, name, email, status, last_signed_in}]}."""
    agency = await _may_manage(ctx, agency_id)
    people = await Person.select(Person.id, Person.display_name, Person.email, Person.active).where(
        (Person.agency == agency_id) & (Person.role == ROLE)).order_by(Person.display_name)
    out = []
    for p in people:
        invitations = await one_time_links.open_links(p["id"], one_time_links.RESPONDENT_INVITATION, ctx.now)
        last = await one_time_links.last_used(p["id"])
        out.append({"id": p["id"], "name": p["display_name"], "email": p["email"], "active": p["active"],
                    "invited": bool(invitations), "status": _status(p, ctx.now, bool(invitations), last), "last_signed_in": last})
    return {"agency": agency, "respondents": out}


async def invite(ctx: Context, agency_id: int, email: str, name: str) -> int:
    """Invite a respondent (or invite again someone whose access ended);
    their person id. The invitation email carries the one-time link."""
    assert ctx.actor
    agency = await _may_manage(ctx, agency_id)
    email, name = _clean_email(email), " ".join((name or "").split())
    errors = {}
    if not name:
        errors["name"] = "Enter the respondent's full name"
    elif len(name) > 200:
        errors["name"] = "The name must be 200 characters or fewer"
    if not email:
        errors["email"] = "Enter the respondent's email address"
    elif len(email) > 254 or not _EMAIL.match(email):
        errors["email"] = "Enter an email address in the correct format, like name@example.com"
    existing = None
    if not errors:
        existing = await Person.select(Person.id, Person.agency, Person.role, Person.active).where(
            (Person.organisation == ctx.actor.organisation_id) & (Person.email == email)).order_by(Person.id).first()
        if existing is not None and (existing["role"] != ROLE or existing["agency"] != agency_id):
            errors["email"] = "Someone in the partnership already uses this email address"
        elif existing is not None and existing["active"]:
            errors["email"] = "This respondent can already sign in"
    if errors:
        raise Invalid("The invitation could not be sent", errors)
    async with transaction():
        if existing is None:
            rows = await Person.insert(Person(
                organisation=ctx.actor.organisation_id, agency=agency_id, role=ROLE, display_name=name, email=email,
                # Never a password: "!" can never sign in (accounts._verify).
                username=f"respondent.{secrets.token_hex(8)}", password_hash="!", active=False, created_at=ctx.now,
            )).returning(Person.id)
            person_id = rows[0]["id"]
        else:
            person_id = existing["id"]
            await Person.update({Person.display_name: name}).where(Person.id == person_id)
            await one_time_links.revoke(ctx, person_id=person_id, purpose=one_time_links.RESPONDENT_INVITATION)
        token = await one_time_links.issue(ctx, purpose=one_time_links.RESPONDENT_INVITATION, valid_for=INVITATION_VALID_FOR,
                                           person_id=person_id, email=email, organisation_id=ctx.actor.organisation_id)
        expires = ctx.now + INVITATION_VALID_FOR
        await notifications.notify(
            ctx, organisation_id=ctx.actor.organisation_id, recipients=[person_id], kind="respondent_invitation",
            subject=f"{ctx.actor.display_name} invites you to respond for {agency['name']}",
            body=(f"{ctx.actor.display_name} invites you to answer the Coventry Safeguarding Children Partnership's "
                  f"requests for {agency['name']}.\n\nOpen the link below to accept. It works once, until "
                  f"{_when(expires)}. You will not need a password: each time you sign in we email you a link."),
            link=f"/respondents/invitation/{token}",
        )
        await trail.record(ctx, organisation_id=ctx.actor.organisation_id, entity="person", entity_id=person_id,
                           action="respondent_invited", changes={"agency": agency["name"], "email": email, "name": name})
    return person_id


def _when(instant: dt.datetime) -> str:
    from core.calendar import to_london

    return f"{to_london(instant):%-d %B %Y at %H:%M}"


async def revoke_invitation(ctx: Context, person_id: int) -> None:
    """Withdraw an invitation not yet accepted."""
    person = await _respondent(ctx, person_id)
    await _may_manage(ctx, person["agency"])
    async with transaction():
        revoked = await one_time_links.revoke(ctx, person_id=person_id, purpose=one_time_links.RESPONDENT_INVITATION)
        if not revoked:
            raise Invalid("There is no invitation to withdraw", {"person": "This invitation was already accepted, withdrawn or has expired"})
        await trail.record(ctx, organisation_id=person["organisation"], entity="person", entity_id=person_id, action="invitation_revoked")


async def remove(ctx: Context, person_id: int) -> None:
    """The agency's lead (or the QA manager) ends a respondent's access: any
    session they have ends with it (an inactive person is nobody), and no
    link of theirs works any more."""
    person = await _respondent(ctx, person_id)
    await _may_manage(ctx, person["agency"])
    async with transaction():
        await Person.update({Person.active: False}).where(Person.id == person_id)
        await one_time_links.revoke(ctx, person_id=person_id)
        await trail.record(ctx, organisation_id=person["organisation"], entity="person", entity_id=person_id,
                           action="respondent_removed", changes={"active": [person["active"], False]})


async def _respondent(ctx: Context, person_id: int) -> dict:
    assert ctx.actor
    person = await Person.select(Person.id, Person.organisation, Person.agency, Person.active).where(
        (Person.id == person_id) & (Person.role == ROLE) & (Person.organisation == ctx.actor.organisation_id)).first()
    if person is None:
        raise NotFound("There is no such respondent")
    return person


async def accept(ctx: Context, token: str) -> int | None:
    """Use an invitation: the respondent's person id, now able to sign in;
    None for a link that no longer works."""
    link = await one_time_links.use(ctx, one_time_links.RESPONDENT_INVITATION, token)
    if link is None or link["person"] is None:
        return None
    async with transaction():
        await Person.update({Person.active: True}).where(Person.id == link["person"])
        await trail.record(ctx, organisation_id=link["organisation"], entity="person", entity_id=link["person"],
                           action="invitation_accepted", changes={"signed_in": True})
    return link["person"]


async def request_sign_in(ctx: Context, email: str, idle_days: int) -> None:
    """Email a sign-in link to each respondent with this address who may
    still sign in. Nothing is returned and nothing differs for an unknown
    address: the page's answer is the same either way. A respondent who has
    not signed in for ``idle_days`` loses access instead (PLAT-7)."""
    email = _clean_email(email)
    if not email:
        return
    people = await Person.select(Person.id, Person.organisation, Person.created_at).where(
        (Person.email == email) & (Person.role == ROLE) & (Person.active == True)).order_by(Person.id)  # noqa: E712
    for person in people:
        last = await one_time_links.last_used(person["id"]) or person["created_at"]
        async with transaction():
            if last < ctx.now - dt.timedelta(days=idle_days):
                await Person.update({Person.active: False}).where(Person.id == person["id"])
                await one_time_links.revoke(ctx, person_id=person["id"])
                await trail.record(ctx, organisation_id=person["organisation"], entity="person", entity_id=person["id"],
                                   action="respondent_access_ended", changes={"unused_days": idle_days})
                continue
            recent = await OneTimeLink.count().where(
                (OneTimeLink.person == person["id"]) & (OneTimeLink.purpose == one_time_links.SIGN_IN)
                & (OneTimeLink.created_at > ctx.now - dt.timedelta(hours=1)))
            if recent >= SIGN_IN_LINKS_PER_HOUR:
                continue
            await one_time_links.revoke(ctx, person_id=person["id"], purpose=one_time_links.SIGN_IN)
            token = await one_time_links.issue(ctx, purpose=one_time_links.SIGN_IN, valid_for=SIGN_IN_VALID_FOR,
                                               person_id=person["id"], email=email, organisation_id=person["organisation"])
            await notifications.notify(
                ctx, organisation_id=person["organisation"], recipients=[person["id"]], kind="sign_in_link",
                subject="Your link to sign in to qaf",
                body=(f"Open the link below to sign in. It works once, for {int(SIGN_IN_VALID_FOR.total_seconds() // 60)} minutes. "
                      "If you did not ask for it, you can ignore this email."),
                link=f"/respondents/sign-in/{token}",
            )
            await trail.record(ctx, organisation_id=person["organisation"], entity="person", entity_id=person["id"],
                               action="sign_in_link_sent")


async def sign_in(ctx: Context, token: str) -> int | None:
    """Use a sign-in link: the respondent's person id, or None."""
    link = await one_time_links.use(ctx, one_time_links.SIGN_IN, token)
    if link is None or link["person"] is None:
        return None
    person = await Person.select(Person.active).where(Person.id == link["person"]).first()
    if not person or not person["active"]:
        return None
    await trail.record(ctx, organisation_id=link["organisation"], entity="person", entity_id=link["person"],
                       action="signed_in_by_link")
    return link["person"]
