"""The append-only trail (CORE-14): who, when, what changed, from which request.

Tamper-evident (PLAT-12): each organisation's entries form a chain. Entry
``seq`` n carries ``hash`` = sha256 of the previous entry's hash and a
canonical encoding of its own fields, so changing, removing or reordering
any entry breaks every link after it; ``qaf trail verify`` (``verify``
below) walks every chain and names the first broken link. The encoding is a
stored format: changing it breaks every chain already written.

Appends happen in the caller's transaction. Two concurrent appends must not
both chain to the same previous entry: on SQLite the writer holds the lock
from the start of its transaction (``BEGIN IMMEDIATE``); on PostgreSQL each
append first takes a per-organisation advisory lock held to commit. A unique
index on (organisation, seq) refuses a fork if either is ever bypassed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any

from core.db import bulk
from core.db.engine import current, transaction
from core.db.tables import Trail
from core.services.context import Context

UTC = dt.timezone.utc

# The first entry of a chain follows this "previous hash".
GENESIS = ""

# pg_advisory_xact_lock(ADVISORY_KEY, organisation): the trail's locks, apart
# from any other advisory lock (the key spells "trl").
ADVISORY_KEY = 0x74726C


def _at_text(at: Any) -> str:
    """An instant as the chain encodes it: UTC, microseconds, whatever the
    engine hands back (a datetime, or SQLite's stored text)."""
    if isinstance(at, str):
        at = dt.datetime.fromisoformat(at)
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _changes_value(changes: Any) -> Any:
    """The changes as stored: JSON text parsed back (a dict not yet written
    goes through the same encoder the column uses)."""
    if changes is None:
        return {}
    if isinstance(changes, bytes):
        changes = changes.decode()
    if not isinstance(changes, str):
        changes = bulk.json_value(changes)
    return json.loads(changes)


def entry_hash(previous: str, organisation, seq, at, actor, request_id, entity, entity_id, action, changes) -> str:
    """sha256 (hex) over the previous entry's hash and this entry's fields."""
    fields = [organisation, seq, _at_text(at), actor, request_id or "", entity, entity_id, action, _changes_value(changes)]
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{previous}\n{text}".encode()).hexdigest()


# ----------------------------------------------------- words, sealed (PLAT-13)
#
# What people wrote (an answer, an action, a reason) is personal and has a
# retention period; the trail is append-only and chained, so it cannot be
# rewritten when the period ends. So an entry never holds the words
# themselves: each is kept in ``trail_text`` (the entry's chain and number,
# a salt, and the words by fingerprint) and the entry holds, in its place,
# ``{"$sealed": sha256(salt, words)}``. The chain covers the fingerprints,
# ``qaf trail verify`` checks the words against them, and ``qaf retention``
# removes the words (``trail_text.removed_at``) without touching the entry:
# the chain still holds, and with the salt gone the fingerprint tells
# nothing. Reading the trail (``history``) puts the words back, or says they
# were removed (docs/retention.md).

# A string under one of these keys (at any depth, or anywhere inside its
# value) is words someone wrote.
SEALED_KEYS = frozenset({
    "answers", "what", "text", "description", "reason", "note", "rationale", "summary", "outcome",
    "outcome_reason", "source_detail", "learned", "overlap_note", "participants",
    # A child's case reference: removed with the case's (retention's "cases").
    "case", "external_id",
})
# Except an answer that is a grade: counted, and kept as the grade chain is.
_KEPT_ANSWERS = ("grade.",)
SEAL = "$sealed"
REMOVED = "Removed under the retention policy"


def _salt() -> str:
    return secrets.token_hex(16)


# Where each entry's salt comes from: the system's randomness. `qaf-bench
# generate` swaps in a seeded source while it runs, so the same seed makes
# the same database.
salt_source = _salt


class Row(tuple):
    """A trail row (``COLUMNS`` order) and the words sealed out of its changes."""

    words: dict[str, Any]
    salt: str


def _digest(salt: str, value: Any) -> str:
    return hashlib.sha256(f"{salt}\n{json.dumps(value, sort_keys=True, ensure_ascii=False)}".encode()).hexdigest()


def seal(changes: Any, salt: str) -> tuple[Any, dict[str, Any]]:
    """``changes`` with each string someone wrote replaced by its seal, and
    the words by fingerprint."""
    words: dict[str, Any] = {}

    def walk(value: Any, sealed: bool) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, (sealed or k in SEALED_KEYS) and not k.startswith(_KEPT_ANSWERS)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, sealed) for v in value]
        if sealed and isinstance(value, str) and value:
            digest = _digest(salt, value)
            words[digest] = value
            return {SEAL: digest}
        return value

    return walk(changes, False), words


def unseal(changes: Any, words: dict[str, Any] | None) -> Any:
    """Sealed ``changes`` with their words back (``words`` None: removed)."""
    if isinstance(changes, dict):
        if set(changes) == {SEAL}:
            if words is None:
                return REMOVED
            return words.get(changes[SEAL], REMOVED)
        return {k: unseal(v, words) for k, v in changes.items()}
    if isinstance(changes, list):
        return [unseal(v, words) for v in changes]
    return changes


def seals(changes: Any) -> set[str]:
    """Every fingerprint sealed in ``changes``."""
    if isinstance(changes, dict):
        if set(changes) == {SEAL}:
            return {changes[SEAL]}
        return set().union(*(seals(v) for v in changes.values())) if changes else set()
    if isinstance(changes, list):
        return set().union(*(seals(v) for v in changes)) if changes else set()
    return set()


COLUMNS = ("organisation", "at", "actor", "request_id", "entity", "entity_id", "action", "changes")
CHAINED = (*COLUMNS, "seq", "hash")

# The chain's key: trail rows of no organisation chain together as 0.
_HEAD = "SELECT seq, hash FROM trail WHERE coalesce(organisation, 0) = {} ORDER BY seq DESC LIMIT 1"


async def _heads(organisations: set[int]) -> dict[int, tuple[int, str]]:
    """Lock each organisation's chain for this transaction and read its last
    entry (seq, hash). Locks are taken in order: two transactions appending
    for the same organisations cannot deadlock."""
    engine = current()
    connection = engine.current_transaction.get().connection
    heads = {}
    for key in sorted(organisations):
        if engine.engine_type != "sqlite":
            # Its own statement, before the read: a READ COMMITTED statement
            # sees what committed before it began, so the head read after the
            # lock is the one the previous holder wrote.
            await connection.execute("SELECT pg_advisory_xact_lock($1, $2)", ADVISORY_KEY, key)
        rows = await bulk.fetch(_HEAD, key)
        heads[key] = (rows[0][0], rows[0][1]) if rows else (0, GENESIS)
    return heads


async def record(
    ctx: Context,
    *,
    organisation_id: int | None,
    entity: str,
    entity_id: int,
    action: str,
    changes: dict | None = None,
) -> None:
    await record_many([row(ctx, organisation_id=organisation_id, entity=entity, entity_id=entity_id, action=action, changes=changes)])


def row(
    ctx: Context,
    *,
    organisation_id: int | None,
    entity: str,
    entity_id: int,
    action: str,
    changes: dict | None = None,
) -> tuple:
    """The row ``record`` would write (in ``COLUMNS`` order), for
    ``record_many``: its changes sealed (the words kept beside it)."""
    salt = salt_source()
    sealed, words = seal(changes or {}, salt)
    out = Row((organisation_id, ctx.now, ctx.person_id, ctx.request_id, entity, entity_id, action, bulk.json_value(sealed)))
    out.words, out.salt = words, salt
    return out


def chain(rows: list[tuple], heads: dict[int, tuple[int, str]]) -> list[tuple]:
    """``rows`` (``COLUMNS`` order) with their seq and hash, each chained to
    the one before it in its organisation; ``heads`` moves on as it goes."""
    out = []
    for values in rows:
        key = values[0] or 0
        seq, previous = heads[key]
        seq += 1
        digest = entry_hash(previous, values[0], seq, *values[1:])
        heads[key] = (seq, digest)
        out.append((*values, seq, digest))
    return out


async def record_many(rows: list[tuple]) -> None:
    """Append trail rows in order, chained, inside the caller's transaction
    (or one of their own); a batch job's (a cycle, a sweep) in one go."""
    if not rows:
        return
    async with transaction():  # joins the caller's, if there is one
        heads = await _heads({values[0] or 0 for values in rows})
        chained = chain(rows, heads)
        await bulk.insert("trail_text", ("chain", "seq", "salt", "words"), [
            (values[0] or 0, done[-2], values.salt, bulk.json_value(values.words))
            for values, done in zip(rows, chained)
            if getattr(values, "words", None)
        ])
        if len(chained) == 1 and current().engine_type != "sqlite":
            # One row: a plain INSERT is one round trip; COPY is several.
            names = ", ".join(f'"{c}"' for c in CHAINED)
            await current().current_transaction.get().connection.execute(
                f"INSERT INTO trail ({names}) VALUES ({', '.join(f'${i}' for i in range(1, len(CHAINED) + 1))})",
                *chained[0],
            )
            return
        await bulk.insert("trail", CHAINED, chained)


async def history(entity: str, entity_id: int) -> list[dict]:
    rows = (
        await Trail.select(
            Trail.at,
            Trail.action,
            Trail.changes,
            Trail.request_id,
            Trail.actor.display_name.as_alias("actor_name"),
            Trail.organisation,
            Trail.seq,
        )
        .where((Trail.entity == entity) & (Trail.entity_id == entity_id))
        .order_by(Trail.at)
        .order_by(Trail.id)
    )
    return await with_words(rows)


async def with_words(rows: list[dict]) -> list[dict]:
    """Trail rows (with ``organisation``, ``seq`` and ``changes``) with the
    words sealed out of their changes put back, or said to be removed."""
    wanted = [r for r in rows if SEAL in str(r["changes"])]
    if not wanted:
        return rows
    found: dict[tuple[int, int], dict | None] = {}
    by_chain: dict[int, list[int]] = {}
    for r in wanted:
        by_chain.setdefault(r["organisation"] or 0, []).append(r["seq"])
    for key, numbers in by_chain.items():
        for start in range(0, len(numbers), 500):
            part = numbers[start:start + 500]
            marks = ", ".join("{}" for _ in part)
            for seq, words, removed in await bulk.fetch(
                f"SELECT seq, words, removed_at FROM trail_text WHERE chain = {{}} AND seq IN ({marks})", key, *part
            ):
                found[(key, seq)] = None if removed is not None else json.loads(words)
    for r in wanted:
        changes = _changes_value(r["changes"])
        r["changes"] = unseal(changes, found.get((r["organisation"] or 0, r["seq"])))
    return rows


async def remove_words(organisation_id: int, entity: str, entity_ids: list[int], at: dt.datetime) -> int:
    """Remove the words of every trail entry of these records (retention):
    the entries stay as written, their chain holds. How many entries had words."""
    removed = 0
    for start in range(0, len(entity_ids), 500):
        part = entity_ids[start:start + 500]
        marks = ", ".join("{}" for _ in part)
        numbers = [r[0] for r in await bulk.fetch(
            f"SELECT seq FROM trail WHERE organisation = {{}} AND entity = {{}} AND entity_id IN ({marks})",
            organisation_id, entity, *part,
        )]
        for first in range(0, len(numbers), 500):
            chunk = numbers[first:first + 500]
            marks = ", ".join("{}" for _ in chunk)
            done = await bulk.fetch(
                f"UPDATE trail_text SET words = '', salt = '', removed_at = {{}} WHERE chain = {{}} AND seq IN ({marks})"
                " AND removed_at IS NULL RETURNING seq",
                at, organisation_id, *chunk,
            )
            removed += len(done)
    return removed


# ------------------------------------------------------------------ verify


@dataclass(frozen=True)
class BrokenLink:
    organisation: str
    entry: int  # the entry's number in its organisation's chain
    message: str  # what is wrong there, in plain words


@dataclass(frozen=True)
class Verification:
    entries: int
    organisations: int
    broken: BrokenLink | None = None


_PAGE = (
    "SELECT seq, hash, organisation, at, actor, request_id, entity, entity_id, action, changes FROM trail "
    "WHERE coalesce(organisation, 0) = {} AND seq > {} ORDER BY seq LIMIT {}"
)


def _when(value: Any) -> str:
    from core.calendar import to_london

    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    return to_london(value).strftime("%A %-d %B %Y at %H:%M")


def _entry(seq: int, fields: list) -> str:
    """Entry 57, written Thursday 31 December 2026 at 09:30 ("submitted" on allocation 12)."""
    return f'entry {seq}, written {_when(fields[1])} ("{fields[6]}" on {fields[4].replace("_", " ")} {fields[5]})'


async def _texts(key: int, numbers: list[int]) -> dict[int, tuple]:
    """The ``trail_text`` rows (salt, words, removed_at) of these entries of one chain."""
    out = {}
    for start in range(0, len(numbers), 500):
        part = numbers[start:start + 500]
        marks = ", ".join("{}" for _ in part)
        for seq, salt, words, removed in await bulk.fetch(
            f"SELECT seq, salt, words, removed_at FROM trail_text WHERE chain = {{}} AND seq IN ({marks})", key, *part
        ):
            out[seq] = (salt, words, removed)
    return out


def _words_problem(changes: Any, text: tuple | None) -> str | None:
    """What is wrong with an entry's sealed words, if anything: removed by
    retention is not wrong; missing or changed is."""
    wanted = seals(_changes_value(changes))
    if not wanted:
        return None
    if text is None:
        return "its words are missing (removed outside qaf, not by retention)"
    salt, words, removed = text
    if removed is not None:
        return None
    held = json.loads(words or "{}")
    if any(digest not in held or _digest(salt, held[digest]) != digest for digest in wanted):
        return "its words do not match their fingerprints: they were changed after being written"
    return None


async def verify(page: int = 5000) -> Verification:
    """Walk every organisation's chain from its first entry; stop at the
    first link that does not hold. Cannot see entries removed from the end
    of a chain, nor a chain rewritten whole (docs/trail.md)."""
    from core.db.tables import Organisation

    names = {o["id"]: o["name"] for o in await Organisation.select(Organisation.id, Organisation.name)}
    keys = sorted(r[0] for r in await bulk.fetch("SELECT DISTINCT coalesce(organisation, 0) FROM trail"))
    entries = 0
    for key in keys:
        name = names.get(key, f"organisation {key}") if key else "entries of no organisation"
        seq, previous = 0, GENESIS
        while True:
            rows = await bulk.fetch(_PAGE, key, seq, page)
            texts = await _texts(key, [r[0] for r in rows if SEAL in str(r[-1])])
            for stored_seq, stored_hash, *fields in rows:
                if stored_seq != seq + 1:
                    gone = f"entry {seq + 1} is" if stored_seq == seq + 2 else f"entries {seq + 1} to {stored_seq - 1} are"
                    return Verification(entries, len(keys), BrokenLink(
                        name, seq + 1, f"{gone} missing (removed after being written); the chain goes on at {_entry(stored_seq, fields)}"
                    ))
                if stored_hash != entry_hash(previous, fields[0], stored_seq, *fields[1:]):
                    return Verification(entries, len(keys), BrokenLink(
                        name, stored_seq, f"{_entry(stored_seq, fields)} does not match its fingerprint: "
                        "it, or the entry before it, was changed after being written"
                    ))
                problem = _words_problem(fields[-1], texts.get(stored_seq))
                if problem:
                    return Verification(entries, len(keys), BrokenLink(name, stored_seq, f"{_entry(stored_seq, fields)}: {problem}"))
                seq, previous = stored_seq, stored_hash
                entries += 1
            if len(rows) < page:
                break
        outside = (await bulk.fetch("SELECT count(*) FROM trail WHERE coalesce(organisation, 0) = {} AND seq < 1", key))[0][0]
        if outside:
            return Verification(entries, len(keys), BrokenLink(
                name, 0, f"{outside} {'entry was' if outside == 1 else 'entries were'} added outside qaf, with no place in the chain"
            ))
    return Verification(entries, len(keys))
