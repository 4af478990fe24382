"""Local accounts: argon2id password hashes, log-in and API tokens."""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core.db.tables import ApiToken, Organisation, Person
from core.services import trail
from core.services.context import Actor, Context, actor_for

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verifying against this when the username is unknown keeps the timing the same.
_DUMMY_HASH = _hasher.hash("qaf-no-such-user")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _verify(password_hash: str, password: str) -> bool:
    """True only for a real hash that matches. An account with no password
    (empty, or "!" as imports set) can never sign in; the dummy verification
    still runs so timing does not reveal which accounts exist."""
    usable = bool(password_hash) and not password_hash.startswith("!")
    try:
        matched = _hasher.verify(password_hash if usable else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    return matched and usable


async def person_with_council(person_id: int) -> tuple[dict, str] | None:
    person = (
        await Person.select(
            Person.id,
            Person.organisation,
            Person.role,
            Person.display_name,
            Person.active,
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


async def authenticate(ctx: Context, username: str, password: str) -> int | None:
    """The person id for a correct username and password, else None."""
    row = (
        await Person.select(Person.id, Person.password_hash, Person.active, Person.organisation)
        .where(Person.username == username.strip().lower())
        .first()
    )
    ok = _verify(row["password_hash"] if row else "", password)
    if not row or not ok or not row["active"]:
        return None
    if _hasher.check_needs_rehash(row["password_hash"]):
        await Person.update({Person.password_hash: hash_password(password)}).where(Person.id == row["id"])
    await trail.record(ctx, organisation_id=row["organisation"], entity="person", entity_id=row["id"], action="logged_in")
    return row["id"]


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(ctx: Context, person_id: int, label: str = "") -> str:
    token = "qaf_" + secrets.token_urlsafe(32)
    await ApiToken.insert(ApiToken(person=person_id, token_hash=_digest(token), label=label, created_at=ctx.now))
    person = await Person.select(Person.organisation).where(Person.id == person_id).first()
    await trail.record(
        ctx, organisation_id=person["organisation"], entity="person", entity_id=person_id, action="api_token_created", changes={"label": label}
    )
    return token


async def person_for_token(token: str) -> int | None:
    row = await ApiToken.select(ApiToken.person).where(ApiToken.token_hash == _digest(token)).first()
    return row["person"] if row else None


async def organisations() -> list[dict]:
    return await Organisation.select().order_by(Organisation.id)
