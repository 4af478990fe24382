"""Invitations and password resets for local accounts (issue 15 item 2, PLAT-10).

Staff the import creates have no password ("!"): nobody can sign in as them.
An administrator (``administer``) of their organisation invites them, one or
all at once: an email (through the outbox, ``notifications``) carries a
one-time link (``one_time_links``: only its sha256 is stored, it works once,
until it expires or a newer one replaces it) to a page where they choose a
password (``core.passwords``). "Forgot your password?" on the sign-in page
sends a shorter-lived link the same way, and answers the same words whether
or not the account exists. A password chosen through a reset link ends every
other session and API token of the person. Every invitation, reset link and
password chosen is in the person's trail (never the password or the link).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from core import passwords
from core.calendar import to_london
from core.db.engine import transaction
from core.db.tables import ApiToken, OneTimeLink, Organisation, Person, SignInAttempt
from core.services import accounts, notifications, one_time_links, trail
from core.services.context import Context
from core.services.errors import Forbidden, Invalid, NotFound

log = logging.getLogger("qaf.invitations")

INVITATION = one_time_links.STAFF_INVITATION
RESET = one_time_links.PASSWORD_RESET
# Agency respondents have no password: they sign in by emailed link
# (core/services/respondents.py) and are managed by their agency's lead.
RESPONDENT_ROLE = "agency_respondent"
# Reset links one account may be sent in an hour, and requests one address
# may make in an hour: a person retrying is well within both; a script
# filling someone's inbox, or trying every username, is not. Past them the
# page answers the same words and sends nothing.
RESETS_PER_ACCOUNT_HOUR = 3
RESET_ASKS_PER_ADDRESS_HOUR = 20
RESET_ASKED = "reset_asked"


class LinkDoesNotWork(Exception):
    """Used, expired, replaced, withdrawn or unknown: all the same to the person."""


def has_password(password_hash: str) -> bool:
    return bool(password_hash) and not password_hash.startswith("!")


def when(instant: dt.datetime) -> str:
    return f"{to_london(instant):%-d %B %Y at %H:%M}"


def _administrator(ctx: Context) -> None:
    assert ctx.actor
    if not ctx.actor.can("administer"):
        raise Forbidden("Only an administrator may invite people or change their access")


async def staff_member(ctx: Context, person_id: int) -> dict:
    """A member of staff of the actor's organisation (not an agency
    respondent); NotFound otherwise, the same as for someone who does not exist."""
    assert ctx.actor
    row = await Person.select(
        Person.id, Person.organisation, Person.display_name, Person.username, Person.email, Person.active,
        Person.password_hash, Person.oidc_subject, Person.role,
    ).where(
        (Person.id == person_id) & (Person.organisation == ctx.actor.organisation_id) & (Person.role != RESPONDENT_ROLE)
    ).first()
    if row is None:
        raise NotFound("There is no such member of staff")
    return row


async def _organisation_name(organisation_id: int) -> str:
    row = await Organisation.select(Organisation.name).where(Organisation.id == organisation_id).first()
    return row["name"] if row else "your council"


def _invitation_words(ctx: Context, person: dict, organisation: str, expires: dt.datetime) -> tuple[str, str]:
    assert ctx.actor
    return (
        "You are invited to sign in to qaf",
        f"{ctx.actor.display_name} has invited you to qaf, where {organisation} keeps its quality assurance audits.\n\n"
        f"Your username is {person['username']}.\n\n"
        f"Open the link below to choose your password. It works once, until {when(expires)}. "
        "If you were not expecting this email, you can ignore it.",
    )


async def invite(ctx: Context, person_id: int, *, valid_for: dt.timedelta) -> dict:
    """Email ``person_id`` a link to choose their first password (a newer
    invitation replaces an older one). Returns the person."""
    _administrator(ctx)
    person = await staff_member(ctx, person_id)
    name = person["display_name"]
    if not person["active"]:
        raise Invalid(f"{name} cannot be invited", {"person": f"{name}'s account is deactivated. Reactivate it first"})
    if has_password(person["password_hash"]):
        raise Invalid(f"{name} cannot be invited", {"person": f"{name} has already chosen a password and can sign in"})
    if not person["email"]:
        raise Invalid(f"{name} cannot be invited", {"person": f"{name} has no email address. Add one with the staff import"})
    organisation = await _organisation_name(person["organisation"])
    expires = ctx.now + valid_for
    async with transaction():
        await one_time_links.revoke(ctx, person_id=person_id, purpose=INVITATION)
        token = await one_time_links.issue(ctx, purpose=INVITATION, valid_for=valid_for, person_id=person_id,
                                           email=person["email"], organisation_id=person["organisation"])
        subject, body = _invitation_words(ctx, person, organisation, expires)
        await notifications.notify(ctx, organisation_id=person["organisation"], recipients=[person_id], kind="staff_invitation",
                                   subject=subject, body=body, link=f"/invitation/{token}")
        await trail.record(ctx, organisation_id=person["organisation"], entity="person", entity_id=person_id,
                           action="invitation_sent", changes={"link_works_until": when(expires)})
    return person


async def invitable(ctx: Context) -> tuple[list[dict], int]:
    """Who "invite everyone not yet invited" would invite: active staff of
    the actor's organisation with no password, no identity-provider sign-in
    and no invitation that still works; and how many more have no email."""
    assert ctx.actor
    people = await Person.select(Person.id, Person.organisation, Person.username, Person.email).where(
        (Person.organisation == ctx.actor.organisation_id) & (Person.active == True)  # noqa: E712
        & (Person.role != RESPONDENT_ROLE) & Person.password_hash.is_in(["", "!"]) & (Person.oidc_subject == "")
    ).order_by(Person.id)
    open_ids = {row["person"] for row in await OneTimeLink.select(OneTimeLink.person).where(
        (OneTimeLink.organisation == ctx.actor.organisation_id) & (OneTimeLink.purpose == INVITATION)
        & OneTimeLink.used_at.is_null() & OneTimeLink.revoked_at.is_null() & (OneTimeLink.expires_at > ctx.now)
    )}
    waiting = [p for p in people if p["id"] not in open_ids]
    return [p for p in waiting if p["email"]], sum(1 for p in waiting if not p["email"])


@dataclass(frozen=True, slots=True)
class InvitedAll:
    invited: int
    without_email: int


async def invite_all(ctx: Context, *, valid_for: dt.timedelta) -> InvitedAll:
    """Invite every active member of staff not yet invited who has no password
    (an expired invitation counts as none), in one transaction: the links, the
    emails and the trail written in batches (a council may have thousands)."""
    _administrator(ctx)
    assert ctx.actor
    people, without_email = await invitable(ctx)
    if not people:
        return InvitedAll(0, without_email)
    organisation = await _organisation_name(ctx.actor.organisation_id)
    expires = ctx.now + valid_for
    outbox = notifications.Outbox(ctx)
    links, trail_rows = [], []
    for person in people:
        token, token_hash = one_time_links.new_token()
        links.append(OneTimeLink(organisation=person["organisation"], purpose=INVITATION, token_hash=token_hash,
                                 person=person["id"], email=person["email"], expires_at=expires,
                                 created_by=ctx.person_id, created_at=ctx.now))
        subject, body = _invitation_words(ctx, person, organisation, expires)
        outbox.add(organisation_id=person["organisation"], recipients=[person["id"]], kind="staff_invitation",
                   subject=subject, body=body, link=f"/invitation/{token}")
        trail_rows.append(trail.row(ctx, organisation_id=person["organisation"], entity="person", entity_id=person["id"],
                                    action="invitation_sent", changes={"link_works_until": when(expires), "all_at_once": True}))
    async with transaction():
        for start in range(0, len(links), 500):
            await OneTimeLink.insert(*links[start:start + 500])
        await outbox.flush()
        await trail.record_many(trail_rows)
    return InvitedAll(len(people), without_email)


async def link_holder(ctx: Context, purpose: str, token: str) -> dict | None:
    """The person a link would let choose a password now (without using the
    link): None if the link no longer works or their account is deactivated."""
    link = await one_time_links.peek(ctx, purpose, token)
    if link is None or link["person"] is None:
        return None
    person = await Person.select(
        Person.id, Person.organisation, Person.username, Person.display_name, Person.active,
        Person.organisation.council.as_alias("council"),
    ).where(Person.id == link["person"]).first()
    if person is None or not person["active"]:
        return None
    return person


async def choose_password(ctx: Context, purpose: str, token: str, password: str, confirm: str) -> int:
    """Set the password of the link's person; their person id. Raises
    ``Invalid`` (the link still works: nothing is lost) for a password that
    will not do, and ``LinkDoesNotWork`` for a link that no longer works.
    Through a reset link, every other session and API token of theirs ends."""
    person = await link_holder(ctx, purpose, token)
    if person is None:
        raise LinkDoesNotWork()
    errors = {}
    problem = passwords.problem(password, username=person["username"], name=person["display_name"], council=person["council"])
    if problem:
        errors["password"] = problem
    if not confirm:
        errors["confirm"] = "Enter your password again"
    elif not problem and confirm != password:
        errors["confirm"] = "The passwords do not match. Enter the same password twice"
    if errors:
        raise Invalid("Your password could not be saved", errors)
    password_hash = await accounts.in_hashing_thread(accounts.hash_password, password)
    async with transaction():
        link = await one_time_links.use(ctx, purpose, token)
        if link is None or link["person"] != person["id"]:
            raise LinkDoesNotWork()
        values = {Person.password_hash: password_hash}
        tokens_ended = 0
        if purpose == RESET:
            # Whoever else may have had the old password is signed out.
            values[Person.sessions_from] = ctx.now
            ended = await ApiToken.update({ApiToken.revoked_at: ctx.now}).where(
                (ApiToken.person == person["id"]) & ApiToken.revoked_at.is_null()
            ).returning(ApiToken.id)
            tokens_ended = len(ended)
        await Person.update(values).where(Person.id == person["id"])
        # No other invitation or reset link of theirs works after this.
        await one_time_links.revoke(ctx, person_id=person["id"])
        changes = {"through": "invitation" if purpose == INVITATION else "password reset"}
        if purpose == RESET:
            changes |= {"other_sessions_ended": True, "api_tokens_revoked": tokens_ended}
        await trail.record(ctx, organisation_id=person["organisation"], entity="person", entity_id=person["id"],
                           action="password_chosen", changes=changes)
        if purpose == RESET:
            # ASVS 2.2.3: the person hears of a change to how they sign in.
            await notifications.notify(
                ctx, organisation_id=person["organisation"], recipients=[person["id"]], kind="password_changed",
                subject="Your qaf password has been changed",
                body=(f"The password of your qaf account ({person['username']}) was changed on {when(ctx.now)} through a "
                      "link emailed to you. Every other session and API token of yours has ended.\n\n"
                      "If it was not you, tell your qaf administrator at once."),
            )
    return person["id"]


async def ask_for_reset(ctx: Context, who: str, *, address: str, key: str, valid_for: dt.timedelta) -> None:
    """"Forgot your password": email a reset link to the active account whose
    username or email address is ``who``, if it has a password. Nothing is
    returned and nothing differs for an unknown or deactivated account, or
    past the limits: the page answers the same words either way."""
    who = (who or "").strip().lower()
    if not who:
        return
    place = accounts.digest(key, "address:" + address)
    asked = await SignInAttempt.count().where(
        (SignInAttempt.address == place) & (SignInAttempt.outcome == RESET_ASKED)
        & (SignInAttempt.at > ctx.now - dt.timedelta(hours=1))
    )
    people = await Person.select(Person.id, Person.organisation, Person.email, Person.password_hash).where(
        ((Person.username == who) | (Person.email == who)) & (Person.active == True)  # noqa: E712
        & (Person.role != RESPONDENT_ROLE)
    ).order_by(Person.id)
    await SignInAttempt.insert(SignInAttempt(at=ctx.now, account=accounts.digest(key, "account:" + who), address=place,
                                             person=people[0]["id"] if len(people) == 1 else None, outcome=RESET_ASKED))
    if asked >= RESET_ASKS_PER_ADDRESS_HOUR:
        log.warning("password reset not sent: too many requests from one address")
        return
    minutes = int(valid_for.total_seconds() // 60)
    for person in people:
        if not person["email"] or not has_password(person["password_hash"]):
            continue
        recent = await OneTimeLink.count().where(
            (OneTimeLink.person == person["id"]) & (OneTimeLink.purpose == RESET)
            & (OneTimeLink.created_at > ctx.now - dt.timedelta(hours=1))
        )
        if recent >= RESETS_PER_ACCOUNT_HOUR:
            log.warning("password reset not sent: too many for one account this hour")
            continue
        async with transaction():
            await one_time_links.revoke(ctx, person_id=person["id"], purpose=RESET)
            token = await one_time_links.issue(ctx, purpose=RESET, valid_for=valid_for, person_id=person["id"],
                                               email=person["email"], organisation_id=person["organisation"])
            await notifications.notify(
                ctx, organisation_id=person["organisation"], recipients=[person["id"]], kind="password_reset",
                subject="Reset your qaf password",
                body=(f"Someone asked to reset the password of your qaf account. Open the link below to choose a new one. "
                      f"It works once, for {minutes} minutes. Choosing a new password signs you out everywhere else.\n\n"
                      "If it was not you, you can ignore this email: your password has not changed."),
                link=f"/password-reset/{token}",
            )
            await trail.record(ctx, organisation_id=person["organisation"], entity="person", entity_id=person["id"],
                               action="password_reset_sent")
