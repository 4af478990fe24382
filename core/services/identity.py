"""Who an OpenID Connect sign-in is (issue 15 item 1, PLAT-9).

The identity provider (a council's Microsoft Entra ID tenant, or any OpenID
provider) says who signed in; the ID token's signature, issuer, audience,
expiry and nonce are checked by Authlib before anything here runs
(``web/auth/oidc.py``). This module matches the signed-in account to a person
the staff import created, by email or user principal name (UPN), and gives
them the qaf role their app roles (or groups) map to
(``QAF_OIDC_ROLES``). Whoever cannot be matched is refused with a reason and
who to ask; nothing is created for them.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.db.tables import Organisation, Person
from core.services import trail
from core.services.context import Context


class Refused(Exception):
    """A sign-in that cannot go on; ``message`` says why and who to ask."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Matched:
    person_id: int
    role: str


def names_of(claims: dict) -> list[str]:
    """The account's email and UPN as the token gives them, lower case, once each."""
    seen: list[str] = []
    for claim in ("email", "upn", "preferred_username"):
        value = claims.get(claim)
        if isinstance(value, str) and "@" in value and value.strip().lower() not in seen:
            seen.append(value.strip().lower())
    return seen


def _values(claims: dict, name: str) -> list[str]:
    value = claims.get(name)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def groups_overflowed(claims: dict) -> bool:
    """Entra ID leaves the groups out of a token when there are more than it
    carries (200), saying so with ``_claim_names`` (or ``hasgroups``)."""
    names = claims.get("_claim_names")
    return (isinstance(names, dict) and "groups" in names) or claims.get("hasgroups") in (True, "true")


async def match(ctx: Context, claims: dict, *, role_map: tuple[tuple[str, str], ...], contact: str, provider: str) -> Matched:
    names = names_of(claims)
    if not names:
        raise Refused(
            f"Your {provider} did not tell qaf your email address, so qaf cannot tell who you are. "
            f"Ask {contact} to check that qaf is sent your email or user principal name."
        )
    rows = await (
        Person.select(Person.id, Person.organisation, Person.role, Person.email, Person.username, Person.active, Person.oidc_subject)
        .where(Person.email.is_in(names) | Person.username.is_in(names))
        .order_by(Person.id)
    )
    # Emails as imported may be in any case: match them without it.
    if not rows:
        candidates = await Person.select(Person.id).where(Person.email.ilike(f"%{names[0].split('@')[-1]}")).order_by(Person.id)
        ids = [c["id"] for c in candidates]
        rows = [
            r for r in await Person.select(
                Person.id, Person.organisation, Person.role, Person.email, Person.username, Person.active, Person.oidc_subject
            ).where(Person.id.is_in(ids or [0])).order_by(Person.id)
            if r["email"].strip().lower() in names
        ]
    enabled = {o["id"]: o["council"] for o in await Organisation.select(Organisation.id, Organisation.council).order_by(Organisation.id)}
    rows = [r for r in rows if r["active"] and enabled.get(r["organisation"]) in ctx.registry.councils]
    if not rows:
        raise Refused(f"qaf has no member of staff with the email {names[0]}. Ask {contact} to add you to qaf's list of staff.")
    if len(rows) > 1:
        raise Refused(f"More than one member of staff in qaf has the email {names[0]}. Ask {contact} to correct qaf's list of staff.")
    person = rows[0]
    subject = str(claims.get("sub", ""))
    if person["oidc_subject"] and person["oidc_subject"] != subject:
        raise Refused(
            f"The email {names[0]} in qaf belongs to a different {provider} from the one you signed in with. Ask {contact} to check it."
        )
    council = enabled[person["organisation"]]
    role = person["role"]
    if role_map:
        given = _values(claims, "roles") + _values(claims, "groups")
        mapped = next((qaf_role for claim, qaf_role in role_map if claim in given), None)
        if mapped is None and groups_overflowed(claims):
            raise Refused(
                f"Your {provider} belongs to too many groups for the token to list them, so qaf cannot tell your role. "
                f"Ask {contact} to give qaf's roles as app roles rather than groups (qaf's sign-in guide says how)."
            )
        if mapped is None:
            raise Refused(f"Your {provider} has no qaf role. Ask {contact} to give you one of qaf's roles.")
        if f"{council}:{mapped}" not in ctx.registry.roles:
            raise Refused(
                f"Your {provider} gives you a qaf role this council does not have. Ask {contact} to check qaf's role settings."
            )
        role = mapped
    changes = {}
    if role != person["role"]:
        changes["role"] = [person["role"], role]
    if subject != person["oidc_subject"]:
        changes["oidc_subject"] = "linked"
    if changes:
        await Person.update({Person.role: role, Person.oidc_subject: subject}).where(Person.id == person["id"])
        if "role" in changes:
            # What the person may do changed: said in their trail.
            await trail.record(
                ctx, organisation_id=person["organisation"], entity="person", entity_id=person["id"],
                action="role_changed", changes={"from": person["role"], "to": role, "through": "sign-in"},
            )
    return Matched(person_id=person["id"], role=role)
