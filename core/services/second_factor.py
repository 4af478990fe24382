"""A second factor for local accounts (issue 15 item 3, PLAT-10): a time-based
one-time password (TOTP, RFC 6238, as authenticator apps make them) and ten
single-use recovery codes.

Who must give one: anyone whose role may administer or review (the
``administer`` and ``qa_review`` capabilities: administrators and the QA
team), when they sign in with a local password. Signing in through the
council's identity provider asks for none: the provider does its own
multi-factor authentication.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import pyotp

from core.db.engine import transaction
from core.db.tables import Person, RecoveryCode
from core.services import trail
from core.services.context import Actor, Context

NEEDS_SECOND_FACTOR = frozenset({"administer", "qa_review"})
RECOVERY_CODES = 10
ISSUER = "qaf"


def required(actor: Actor | None) -> bool:
    return actor is not None and bool(actor.capabilities & NEEDS_SECOND_FACTOR)


def _code_digest(code: str) -> str:
    return hashlib.sha256(code.replace("-", "").replace(" ", "").lower().encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Setup:
    secret: str
    uri: str

    @property
    def grouped(self) -> str:
        """The key in groups of four, as people type it into an app."""
        return " ".join(self.secret[i : i + 4] for i in range(0, len(self.secret), 4))


async def _person(person_id: int) -> dict:
    return (
        await Person.select(Person.id, Person.organisation, Person.username, Person.totp_secret, Person.totp_confirmed_at, Person.totp_last_step)
        .where(Person.id == person_id)
        .order_by(Person.id)
        .first()
    )


async def is_set_up(person_id: int) -> bool:
    person = await _person(person_id)
    return bool(person and person["totp_secret"] and person["totp_confirmed_at"] is not None)


async def setup(person_id: int) -> Setup:
    """The key to set up an authenticator app with: a new one unless one is
    already waiting to be confirmed."""
    person = await _person(person_id)
    secret = person["totp_secret"]
    if not secret or person["totp_confirmed_at"] is not None:
        secret = pyotp.random_base32()
        await Person.update({Person.totp_secret: secret, Person.totp_confirmed_at: None, Person.totp_last_step: 0}).where(Person.id == person_id)
    return Setup(secret=secret, uri=pyotp.TOTP(secret).provisioning_uri(name=person["username"], issuer_name=ISSUER))


def _matching_step(secret: str, code: str, ctx: Context, last_step: int) -> int | None:
    """The time step ``code`` belongs to (this one or either neighbour), if it
    is later than the last one used: a code works once."""
    code = code.replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    now = ctx.now.timestamp()
    for offset in (0, -1, 1):
        step = int(now // totp.interval) + offset
        if step > last_step and secrets.compare_digest(totp.at(step * totp.interval), code):
            return step
    return None


async def confirm(ctx: Context, person_id: int, code: str) -> list[str] | None:
    """Confirm the app is set up with a code it made: the recovery codes
    (shown once), or None if the code is not right."""
    person = await _person(person_id)
    if not person["totp_secret"]:
        return None
    step = _matching_step(person["totp_secret"], code, ctx, person["totp_last_step"])
    if step is None:
        return None
    # 48 random bits each, as three groups of four characters.
    codes = ["-".join(secrets.token_hex(2) for _ in range(3)) for _ in range(RECOVERY_CODES)]
    async with transaction():
        await Person.update({Person.totp_confirmed_at: ctx.now, Person.totp_last_step: step}).where(Person.id == person_id)
        await RecoveryCode.update({RecoveryCode.used_at: ctx.now}).where((RecoveryCode.person == person_id) & RecoveryCode.used_at.is_null())
        await RecoveryCode.insert(*[RecoveryCode(person=person_id, code_hash=_code_digest(c), created_at=ctx.now) for c in codes])
        await trail.record(ctx, organisation_id=person["organisation"], entity="person", entity_id=person_id, action="second_factor_set_up")
    return codes


async def check(ctx: Context, person_id: int, code: str) -> bool:
    """True for a code from the person's app, or one of their unused recovery codes."""
    person = await _person(person_id)
    if not person or not person["totp_secret"] or person["totp_confirmed_at"] is None:
        return False
    step = _matching_step(person["totp_secret"], code, ctx, person["totp_last_step"])
    if step is not None:
        await Person.update({Person.totp_last_step: step}).where(Person.id == person_id)
        return True
    recovery = (
        await RecoveryCode.select(RecoveryCode.id)
        .where((RecoveryCode.person == person_id) & (RecoveryCode.code_hash == _code_digest(code)) & RecoveryCode.used_at.is_null())
        .order_by(RecoveryCode.id)
        .first()
    )
    if recovery is None:
        return False
    async with transaction():
        await RecoveryCode.update({RecoveryCode.used_at: ctx.now}).where(RecoveryCode.id == recovery["id"])
        left = await RecoveryCode.count().where((RecoveryCode.person == person_id) & RecoveryCode.used_at.is_null())
        await trail.record(
            ctx, organisation_id=person["organisation"], entity="person", entity_id=person_id,
            action="recovery_code_used", changes={"left": left},
        )
    return True


async def reset(ctx: Context, person_id: int) -> bool:
    """Forget a person's authenticator app and recovery codes (they lost both):
    they set up a new app at their next sign-in. False if none was set up."""
    person = await _person(person_id)
    if not person["totp_secret"]:
        return False
    async with transaction():
        await Person.update({Person.totp_secret: "", Person.totp_confirmed_at: None, Person.totp_last_step: 0}).where(Person.id == person_id)
        await RecoveryCode.update({RecoveryCode.used_at: ctx.now}).where((RecoveryCode.person == person_id) & RecoveryCode.used_at.is_null())
        await trail.record(ctx, organisation_id=person["organisation"], entity="person", entity_id=person_id, action="second_factor_reset")
    return True
