"""Who is acting, from which request, against which definitions."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from core.calendar import utcnow
from core.definitions.registry import Registry


@dataclass(frozen=True, slots=True)
class Actor:
    person_id: int
    organisation_id: int
    council: str
    role: str  # the council's local role key, e.g. "team_manager"
    display_name: str
    capabilities: frozenset[str]

    def can(self, capability: str) -> bool:
        return capability in self.capabilities


@dataclass(slots=True)
class Context:
    registry: Registry
    actor: Actor | None = None
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    # Fixed per call so every row one action writes carries the same instant.
    now: dt.datetime = field(default_factory=utcnow)
    # A request that changes nothing (a page GET) may reuse what it already
    # loaded: one audit page checks the same audit's visibility for each of
    # its parts. Never set for a request that writes.
    reads_only: bool = False
    loaded: dict = field(default_factory=dict)

    @property
    def person_id(self) -> int | None:
        return self.actor.person_id if self.actor else None


def actor_for(registry: Registry, person: dict, council: str) -> Actor:
    role = registry.role(f"{council}:{person['role']}")
    return Actor(
        person_id=person["id"],
        organisation_id=person["organisation"],
        council=council,
        role=person["role"],
        display_name=person["display_name"],
        capabilities=frozenset(role.capabilities),
    )
