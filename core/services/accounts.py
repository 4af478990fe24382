"""Local accounts: argon2id password hashes, sign-in with throttling, API tokens.

Issue 15 (OWASP ASVS level 2): password hashing runs in a worker thread, at
most ``HASHING_AT_ONCE`` at a time, so a flood of sign-ins cannot hold up the
event loop or every other request; every attempt is kept (without the
password, the username and address only as keyed digests) and an account or
address that keeps failing is made to wait, longer after each failure;
API tokens expire, and their owner can list and revoke them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import functools
import hashlib
import hmac
import logging
import os
import secrets
import threading
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core.db.tables import ApiToken, Organisation, Person, SignInAttempt
from core.services import trail
from core.services.context import Actor, Context, actor_for
from core.services.errors import Invalid, NotFound

log = logging.getLogger("qaf.accounts")

# argon2id at the OWASP Password Storage Cheat Sheet's configuration (19 MiB,
# two passes, one lane), which ASVS level 2 (issue 15) points to. Not the
# library's default (RFC 9106's 64 MiB, three passes, four lanes): two of
# those at once took the server's peak memory from 82 MB to 213 MB, beyond
# the 250 MB a server may use (issue 19) once a second worker or a report is
# added, and 0.23 s of CPU a sign-in on two cores (0.03 s here). A hash made
# with other parameters is made again at its owner's next sign-in.
PASSWORD_HASH = {"time_cost": 2, "memory_cost": 19 * 1024, "parallelism": 1}
_hasher = PasswordHasher(**PASSWORD_HASH)


@functools.cache
def _dummy_hash() -> str:
    """Verifying against this when the username is unknown keeps the timing
    the same. Made on first use, not at import (a hash is tens of
    milliseconds of start-up, issue 19 item 6)."""
    return _hasher.hash("qaf-no-such-user")


# At most this many password hashes at once (each takes 19 MiB and tens of
# milliseconds of CPU), in threads of their own at a lower CPU priority:
# a flood of sign-ins queues there, and the event loop (every other request)
# is scheduled first.
HASHING_AT_ONCE = 2
# Ten steps below the server, not the lowest (19): the scheduler weighs nice
# 10 at about a tenth of nice 0, so the server's loop still wins, but other
# busy processes on the machine no longer starve a sign-in. At 19 a hash got
# about a three-hundredth of a core each from six busy processes on two
# cores, and browsers waited more than 15 s for sign-in.
HASHING_NICENESS = 10


def _lower_priority() -> None:
    try:
        # Linux: a thread is a task with its own nice value; argon2's own lane
        # threads, started from here, inherit it.
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + HASHING_NICENESS))
    except (AttributeError, OSError):  # not Linux, or not allowed: still off the loop
        pass


_hashing = concurrent.futures.ThreadPoolExecutor(
    max_workers=HASHING_AT_ONCE, thread_name_prefix="qaf-hashing", initializer=_lower_priority
)

# Throttling (issue 15 item 5). An account may fail FREE_FAILURES times in
# ACCOUNT_WINDOW; after that each attempt waits 2^(failures - FREE_FAILURES)
# seconds from the last failure (1 s, 2 s, 4 s ... at most ACCOUNT_WINDOW).
# An address (a council's offices may share one) may fail ADDRESS_LIMIT times
# a minute, whatever the accounts.
FREE_FAILURES = 5
ACCOUNT_WINDOW = dt.timedelta(minutes=15)
ADDRESS_LIMIT = 30
ADDRESS_WINDOW = dt.timedelta(minutes=1)
FAILURES = ("wrong_password", "second_factor_wrong")

TOKEN_DAYS_DEFAULT = 30
TOKEN_DAYS_MAX = 365


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _verify(password_hash: str, password: str) -> bool:
    """True only for a real hash that matches. An account with no password
    (empty, or "!" as imports set) can never sign in; the dummy verification
    still runs so timing does not reveal which accounts exist."""
    usable = bool(password_hash) and not password_hash.startswith("!")
    try:
        matched = _hasher.verify(password_hash if usable else _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return False
    return matched and usable


async def in_hashing_thread(function, *args):
    """Run an argon2 call off the event loop, a few at a time; the rest wait
    in the executor's queue without holding the loop or a thread."""
    return await asyncio.get_running_loop().run_in_executor(_hashing, function, *args)


async def verify_password(password_hash: str, password: str) -> bool:
    return await in_hashing_thread(_verify, password_hash, password)


async def person_with_council(person_id: int) -> tuple[dict, str] | None:
    person = (
        await Person.select(
            Person.id,
            Person.organisation,
            Person.role,
            Person.display_name,
            Person.active,
            Person.sessions_from,
            Person.organisation.council.as_alias("council"),
        )
        .where(Person.id == person_id)
        .first()
    )
    if person is None or not person["active"]:
        return None
    return person, person["council"]


async def actor(ctx: Context, person_id: int) -> Actor | None:
    found = await person_with_council(person_id)
    if found is None:
        return None
    person, council = found
    if council not in ctx.registry.councils:
        return None
    return actor_for(ctx.registry, person, council)


# Who a page session is, and (for the navigation's badge) how many of their
# notifications are unread: one round trip for what every page asks first.
_SESSION_PERSON = (
    "SELECT p.id AS id, p.organisation AS organisation, p.role AS role, p.display_name AS display_name,"
    " p.active AS active, p.sessions_from AS sessions_from, o.council AS council,"
    " (SELECT COUNT(*) FROM notification n WHERE n.recipient = p.id AND n.read_at IS NULL) AS unread"
    " FROM person p LEFT JOIN organisation o ON o.id = p.organisation WHERE p.id = {}"
)


async def session_actor_and_unread(ctx: Context, person_id: int, signed_in_at: float) -> tuple[Actor | None, int]:
    """``session_actor``, and the number of the person's unread notifications."""
    rows = await Person.raw(_SESSION_PERSON, person_id)
    if not rows or not rows[0]["active"]:
        return None, 0
    person = rows[0]
    if isinstance(person["sessions_from"], str):  # SQLite hands an expression's instant back as text
        person["sessions_from"] = dt.datetime.fromisoformat(person["sessions_from"])
    if person["sessions_from"] is not None and signed_in_at < person["sessions_from"].timestamp():
        return None, 0
    if person["council"] not in ctx.registry.councils:
        return None, 0
    return actor_for(ctx.registry, person, person["council"]), int(person["unread"] or 0)


async def session_actor(ctx: Context, person_id: int, signed_in_at: float) -> Actor | None:
    """As ``actor``, for a page session signed in at ``signed_in_at`` (Unix
    seconds): nobody if the person's sessions from before some instant have
    been ended (a password chosen through a reset link, a deactivation)."""
    found = await person_with_council(person_id)
    if found is None:
        return None
    person, council = found
    if person["sessions_from"] is not None and signed_in_at < person["sessions_from"].timestamp():
        return None
    if council not in ctx.registry.councils:
        return None
    return actor_for(ctx.registry, person, council)


async def person_row(person_id: int) -> dict | None:
    return await (
        Person.select(Person.id, Person.organisation, Person.username, Person.role)
        .where(Person.id == person_id)
        .order_by(Person.id)
        .first()
    )


def digest(key: str, value: str) -> str:
    """A keyed digest: the same value always gives the same digest, and the
    digest alone does not give back a username or address."""
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class SignInResult:
    person_id: int | None = None
    # None when the password was right; "wrong" or "throttled" when not.
    refused: str | None = None
    # For "throttled": seconds until another attempt will be tried.
    wait_seconds: int = 0
    organisation_id: int | None = None


async def _failures_since(column, value: str, since: dt.datetime) -> list[dt.datetime]:
    rows = await (
        SignInAttempt.select(SignInAttempt.at, SignInAttempt.outcome)
        .where((column == value) & (SignInAttempt.at > since))
        .order_by(SignInAttempt.at)
    )
    failures: list[dt.datetime] = []
    for row in rows:
        if row["outcome"] == "signed_in":
            failures = []  # a success starts the count again
        elif row["outcome"] in FAILURES:
            failures.append(row["at"])
    return failures


async def wait_before_attempt(now: dt.datetime, account: str, address: str) -> int:
    """Seconds this account and address must still wait, 0 if none."""
    wait = 0.0
    failures = await _failures_since(SignInAttempt.account, account, now - ACCOUNT_WINDOW)
    if len(failures) >= FREE_FAILURES:
        delay = min(2 ** (len(failures) - FREE_FAILURES), ACCOUNT_WINDOW.total_seconds())
        wait = max(wait, (failures[-1] + dt.timedelta(seconds=delay) - now).total_seconds())
    recent = await (
        SignInAttempt.select(SignInAttempt.at)
        .where((SignInAttempt.address == address) & (SignInAttempt.at > now - ADDRESS_WINDOW) & SignInAttempt.outcome.is_in(list(FAILURES)))
        .order_by(SignInAttempt.at, ascending=False)
        .limit(ADDRESS_LIMIT)
    )
    if len(recent) >= ADDRESS_LIMIT:
        # The oldest of the last ADDRESS_LIMIT failures must leave the minute.
        wait = max(wait, (recent[-1]["at"] + ADDRESS_WINDOW - now).total_seconds())
    return max(0, int(wait + 0.999))


async def record_attempt(ctx: Context, *, account: str, address: str, person: dict | None, outcome: str) -> None:
    await SignInAttempt.insert(
        SignInAttempt(at=ctx.now, account=account, address=address, person=person["id"] if person else None, outcome=outcome)
    )
    if person is not None and outcome != "signed_in":
        # The trail of the account: what was refused and why, never the password.
        await trail.record(
            ctx, organisation_id=person["organisation"], entity="person", entity_id=person["id"],
            action="sign_in_refused", changes={"reason": outcome},
        )


async def authenticate(ctx: Context, username: str, password: str, *, address: str = "", key: str = "qaf") -> SignInResult:
    """Check a username and password, unless this account or address must wait.

    ``address`` is the client's address and ``key`` the deployment's secret
    (for the digests). A right password is not yet a sign-in: the caller
    records it with ``signed_in`` once any second factor is through."""
    username = username.strip().lower()
    account, place = digest(key, "account:" + username), digest(key, "address:" + address)
    row = (
        await Person.select(Person.id, Person.password_hash, Person.active, Person.organisation)
        .where(Person.username == username)
        .first()
    )
    wait = await wait_before_attempt(ctx.now, account, place)
    if wait:
        await record_attempt(ctx, account=account, address=place, person=row, outcome="throttled")
        log.warning("sign-in refused: too many failed attempts (wait %s s)", wait)
        return SignInResult(refused="throttled", wait_seconds=wait)
    ok = await verify_password(row["password_hash"] if row else "", password)
    if not row or not ok or not row["active"]:
        await record_attempt(ctx, account=account, address=place, person=row, outcome="wrong_password")
        return SignInResult(refused="wrong")
    if _hasher.check_needs_rehash(row["password_hash"]):
        new_hash = await in_hashing_thread(hash_password, password)
        await Person.update({Person.password_hash: new_hash}).where(Person.id == row["id"])
    return SignInResult(person_id=row["id"], organisation_id=row["organisation"])


async def signed_in(ctx: Context, person_id: int, *, username: str = "", address: str = "", key: str = "qaf", how: str = "password") -> None:
    """Record a completed sign-in: in the trail, and (for a password) as the
    success that starts the account's failure count again."""
    person = await Person.select(Person.id, Person.organisation, Person.username).where(Person.id == person_id).first()
    if how == "password":
        await SignInAttempt.insert(
            SignInAttempt(
                at=ctx.now,
                account=digest(key, "account:" + (username or person["username"]).strip().lower()),
                address=digest(key, "address:" + address),
                person=person_id,
                outcome="signed_in",
            )
        )
    # For the administrators' "People" page (issue 15 item 2).
    await Person.update({Person.last_signed_in_at: ctx.now}).where(Person.id == person_id)
    await trail.record(
        ctx, organisation_id=person["organisation"], entity="person", entity_id=person_id, action="logged_in",
        changes={} if how == "password" else {"through": how},
    )


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_expiry(ctx: Context, days: int | None) -> dt.datetime:
    days = TOKEN_DAYS_DEFAULT if days is None else days
    if not 1 <= days <= TOKEN_DAYS_MAX:
        raise Invalid(
            f"A token must last between 1 and {TOKEN_DAYS_MAX} days",
            {"expires_in_days": f"Enter a number of days between 1 and {TOKEN_DAYS_MAX}"},
        )
    return ctx.now + dt.timedelta(days=days)


async def create_token(ctx: Context, person_id: int, label: str = "", days: int | None = None) -> str:
    """A new bearer token for ``person_id``, lasting ``days`` (30 unless given)."""
    expires_at = token_expiry(ctx, days)
    token = "qaf_" + secrets.token_urlsafe(32)
    await ApiToken.insert(
        ApiToken(person=person_id, token_hash=_digest(token), label=label, created_at=ctx.now, expires_at=expires_at)
    )
    person = await Person.select(Person.organisation).where(Person.id == person_id).first()
    await trail.record(
        ctx, organisation_id=person["organisation"], entity="person", entity_id=person_id, action="api_token_created",
        changes={"label": label, "expires_at": expires_at.isoformat()},
    )
    return token


async def person_for_token(token: str, now: dt.datetime | None = None) -> int | None:
    """The person a bearer token is for, if it is neither revoked nor expired.
    Its last use is kept (to the minute, so a busy integration does not write
    on every call)."""
    from core.calendar import utcnow

    now = now or utcnow()
    row = (
        await ApiToken.select(ApiToken.id, ApiToken.person, ApiToken.expires_at, ApiToken.revoked_at, ApiToken.last_used_at)
        .where(ApiToken.token_hash == _digest(token))
        .first()
    )
    if row is None or row["revoked_at"] is not None or row["expires_at"] is None or row["expires_at"] <= now:
        return None
    if row["last_used_at"] is None or now - row["last_used_at"] > dt.timedelta(minutes=1):
        await ApiToken.update({ApiToken.last_used_at: now}).where(ApiToken.id == row["id"])
    return row["person"]


@dataclass(frozen=True, slots=True)
class TokenView:
    id: int
    label: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None
    state: str  # active | expired | revoked


async def tokens_of(ctx: Context) -> list[TokenView]:
    """The signed-in person's own API tokens, newest first."""
    rows = await (
        ApiToken.select(ApiToken.id, ApiToken.label, ApiToken.created_at, ApiToken.expires_at, ApiToken.last_used_at, ApiToken.revoked_at)
        .where(ApiToken.person == ctx.person_id)
        .order_by(ApiToken.id, ascending=False)
    )
    out = []
    for row in rows:
        if row["revoked_at"] is not None:
            state = "revoked"
        elif row["expires_at"] is None or row["expires_at"] <= ctx.now:
            state = "expired"
        else:
            state = "active"
        out.append(TokenView(state=state, **row))
    return out


async def revoke_token(ctx: Context, token_id: int) -> None:
    """Revoke one of the signed-in person's own tokens; from now on it gets 401."""
    row = await ApiToken.select(ApiToken.id, ApiToken.person, ApiToken.label, ApiToken.revoked_at).where(ApiToken.id == token_id).first()
    if row is None or row["person"] != ctx.person_id:
        raise NotFound("There is no such token of yours")
    if row["revoked_at"] is not None:
        return
    await ApiToken.update({ApiToken.revoked_at: ctx.now}).where(ApiToken.id == token_id)
    await trail.record(
        ctx, organisation_id=ctx.actor.organisation_id, entity="person", entity_id=ctx.person_id,
        action="api_token_revoked", changes={"label": row["label"]},
    )


async def organisations() -> list[dict]:
    return await Organisation.select().order_by(Organisation.id)


OUTCOME_WORDS = {
    "wrong_password": "Wrong password",
    "throttled": "Refused: too many attempts",
    "second_factor_wrong": "Wrong security code",
}


@dataclass(frozen=True, slots=True)
class RefusedSignIn:
    at: dt.datetime
    person_id: int
    name: str
    outcome: str  # the words for it


async def refused_sign_ins(ctx: Context, days: int = 7) -> list[RefusedSignIn]:
    """Administrators: the refused sign-ins to their organisation's accounts in
    the last ``days`` days, newest first (issue 15 item 5). Attempts for
    usernames qaf does not know belong to no organisation and are not shown."""
    rows = await (
        SignInAttempt.select(
            SignInAttempt.at, SignInAttempt.outcome, SignInAttempt.person,
            SignInAttempt.person.display_name.as_alias("name"), SignInAttempt.person.organisation.as_alias("organisation"),
        )
        .where(
            (SignInAttempt.at > ctx.now - dt.timedelta(days=days))
            & SignInAttempt.outcome.is_in(list(OUTCOME_WORDS))
            & (SignInAttempt.person.organisation == ctx.actor.organisation_id)
        )
        .order_by(SignInAttempt.at, ascending=False)
        .order_by(SignInAttempt.id, ascending=False)
        .limit(500)
    )
    return [RefusedSignIn(r["at"], r["person"], r["name"], OUTCOME_WORDS[r["outcome"]]) for r in rows]
