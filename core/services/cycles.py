"""Monthly cycles and their allocation lists (CORE-9, HAR-1, HAR-2).

A cycle runs from the first to the last working day of its month and issues
its allocation list on the first working day (HAR 2, Appendix A). Sampling
is seeded from the organisation and month, so issuing the same month again
anywhere gives the same list; the unique index on (organisation, year,
month) makes a second issue a no-op rather than a duplicate.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import random
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass
from itertools import compress

from core.calendar import end_of_london_day, first_working_day, last_working_day, london_date
from core.db import bulk
from core.db.engine import transaction
from core.db.tables import Cycle, Organisation, Person, PracticeWeek, StandingGrade
from core.services import notifications, standing_grades, trail
from core.services.allocations import create_allocations
from core.services.context import Context


@dataclass(frozen=True, slots=True)
class Planned:
    auditor: dict
    case: dict
    reason: str
    kind: str = "audit"
    previous: int | None = None
    form_key: str = ""


async def month_drawers(ctx: Context, organisation_id: int, council, year: int, month: int) -> tuple[list[dict], list[dict]]:
    """Who draws cases in a month, and how many, from the council's schedules
    (``Schedule.cases``): the owners of the month's occurrences of each
    schedule that draws cases, as the programme issues them (practice weeks
    included). Returns (random drawers, re-auditors), each person a dict with
    ``id``, ``display_name``, ``team``, ``count`` and ``form_key``, by id."""
    from core.services.programme import council_programme, council_staff

    year_start = year if month >= council.year_start_month else year - 1
    items = council_programme(ctx, council.key, year_start, await council_staff(ctx, organisation_id), await practice_weeks(organisation_id))
    from core.services.case_attributes import narrows

    # By person, and apart for each schedule whose criteria or window narrow
    # its cases (PLAT-3: ``narrowed_by``, the schedule's key, and its period).
    wanted: dict[str, dict[tuple[int, str], dict]] = {"random": {}, "re_audit": {}}
    for item in items:
        if item.due is None or (item.due.year, item.due.month) != (year, month):
            continue
        schedule = ctx.registry.schedules[f"{council.key}:{item.schedule}"].value
        if schedule.cases is None or schedule.cases.draw == "chosen":
            continue
        narrowed_by = f"{council.key}:{item.schedule}" if narrows(schedule) else ""
        entry = wanted[schedule.cases.draw].setdefault(
            (item.person_id, narrowed_by), {"count": 0, "form_key": ctx.registry.ref(council.key, schedule.form, "forms"),
                                            "narrowed_by": narrowed_by, "period": (item.starts, item.due)}
        )
        entry["count"] += schedule.cases.count
    ids = sorted({i for draw in wanted.values() for i, _ in draw})
    people = {
        p["id"]: p
        for p in await Person.select(Person.id, Person.display_name, Person.team).where(Person.id.is_in(ids or [0]))
    }
    return tuple(
        [people[i] | wanted[draw][(i, n)] for i, n in sorted(wanted[draw]) if i in people] for draw in ("random", "re_audit")
    )


@dataclass(frozen=True, slots=True)
class Issued:
    cycle_id: int
    created: bool
    allocations: int


def _may_audit(rules, auditor: dict, case: dict) -> bool:
    """Never the auditor's own case; never their own team unless the council
    allows it; only a case meeting the schedule's criteria (PLAT-3)."""
    if case["allocated_worker"] == auditor["id"]:
        return False
    if auditor.get("qualifies") is not None and case["id"] not in auditor["qualifies"]:
        return False
    return rules.allow_own_team or auditor["team"] is None or case["team"] != auditor["team"]


_RE_AUDIT_PAGE = 100


async def _plan_re_audits(ctx: Context, organisation_id: int, rules, re_auditors: list[dict], starts_on: dt.date,
                          busy: set[int]) -> list[Planned]:
    """HAR 1.4: re-audits drawn from earlier final audits whose final overall
    grade calls for one, oldest first, one re-audit per audit and per case.
    Planned before the month's random draw, which then leaves their cases
    alone (``_issue_cycle``)."""
    if not re_auditors:
        return []
    levels = list(rules.re_audit_grades) or [""]
    before = end_of_london_day(starts_on - dt.timedelta(days=1))
    # Oldest first, a page at a time: only as many final audits are read as
    # the re-auditors draw from (indexes allocation_finalised,
    # standing_grade_allocation, allocation_previous). The grade that decides
    # is the audit's final overall grade as it stands now, the amended one
    # after a dispute (standing_grades: one row per audit and domain).
    sql = (
        "SELECT a.id AS allocation, f.final_level AS level, a.kind, a.finalised_at, a.child_case AS case_id,"
        " c.external_id, c.category, c.team, c.allocated_worker"
        " FROM allocation a" + standing_grades.FINAL_OVERALL_JOIN + " JOIN child_case c ON c.id = a.child_case"
        " WHERE a.organisation = {} AND a.finalised_at < {}"
        f" AND f.final_level IN ({', '.join('{}' for _ in levels)})"
        " AND NOT EXISTS (SELECT 1 FROM allocation r WHERE r.previous = a.id)"
    )
    # Keyset pagination: each page starts after the last row read.
    after = " AND (a.finalised_at > {} OR (a.finalised_at = {} AND a.id > {}))"
    order = " ORDER BY a.finalised_at, a.id LIMIT {}"
    candidates: list[dict] = []
    taken: set[int] = set()  # cases given a re-audit this month
    last: tuple | None = None
    exhausted = False

    async def more() -> bool:
        nonlocal last, exhausted
        if exhausted:
            return False
        args = [organisation_id, before, *levels]
        if last is None:
            page = await StandingGrade.raw(sql + order, *args, _RE_AUDIT_PAGE)
        else:
            page = await StandingGrade.raw(sql + after + order, *args, last[0], last[0], last[1], _RE_AUDIT_PAGE)
        exhausted = len(page) < _RE_AUDIT_PAGE
        if page:
            last = (page[-1]["finalised_at"], page[-1]["allocation"])
        for f in page:
            if f["case_id"] not in busy and f["case_id"] not in taken:
                if not isinstance(f["finalised_at"], dt.datetime):
                    f["finalised_at"] = _timestamp(f["finalised_at"])
                candidates.append(f)
        return bool(page)

    def case_of(f: dict) -> dict:
        return {"id": f["case_id"], "external_id": f["external_id"], "category": f["category"], "team": f["team"],
                "allocated_worker": f["allocated_worker"]}

    planned: list[Planned] = []
    for re_auditor in re_auditors:
        for _ in range(re_auditor["count"]):
            checked = 0
            choice = None
            while choice is None:
                choice = next((f for f in candidates[checked:] if _may_audit(rules, re_auditor, case_of(f))), None)
                checked = len(candidates)
                if choice is None and not await more():
                    break
            if choice is None:
                break
            # One re-audit of a case a month, however many of its audits wait
            # for one: the others stay for a later month.
            taken.add(choice["case_id"])
            candidates[:] = [f for f in candidates if f["case_id"] not in taken]
            kind = "second_re_audit" if choice["kind"] in ("re_audit", "second_re_audit") else "re_audit"
            reason = (
                # HAR 1.4. In words, not by number: the audit page links to the earlier audit.
                f"Re-audit of the audit of case {case_of(choice)['external_id']} made final in {choice['finalised_at']:%B %Y}"
                f" (final grade {choice['level'].replace('_', ' ')}): the oldest final audit awaiting a re-audit."
            )
            planned.append(Planned(re_auditor, case_of(choice), reason, kind, choice["allocation"], re_auditor["form_key"]))
    return planned


def _timestamp(value) -> dt.datetime:
    """A raw SQLite timestamp (text, as Piccolo stores it) as an aware datetime."""
    value = dt.datetime.fromisoformat(str(value))
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


class SeededOrder:
    """A seeded random order of the positions ``0 .. n-1``, drawn only as far
    as it is read: Fisher–Yates from the front, position ``i`` swapped with
    one of ``i .. n-1`` chosen by ``random.Random(seed).randrange``. The same
    seed gives the same order (an auditor can re-run a month's draw from the
    seed its cycle records); a month's draw reads a few thousand positions of
    200,000 open cases, so shuffling them all (``random.shuffle``, as the
    draw did until December 2026: it draws from the back, so it gives a
    different order for the same seed) was most of its cost."""

    CHUNK = 1024

    def __init__(self, n: int, seed: int):
        self._rng = random.Random(seed)
        self._values = list(range(n))
        self._drawn = 0

    def __len__(self) -> int:
        return len(self._values)

    def __getitem__(self, position: int) -> int:
        if position >= self._drawn:
            self._draw(position + 1)
        return self._values[position]

    def _draw(self, upto: int) -> None:
        values, n, randrange = self._values, len(self._values), self._rng.randrange
        end = min(n, max(upto, self._drawn + self.CHUNK))
        for i in range(self._drawn, end):
            j = i + randrange(n - i)
            values[i], values[j] = values[j], values[i]
        self._drawn = end

    def __iter__(self):
        for position in range(len(self._values)):
            yield self[position]


class NeedMore(Exception):
    """The draw reached a shuffled position whose case it does not know yet:
    fill in the cases up to ``upto`` and ask again (``_Sampler``)."""

    def __init__(self, upto: int):
        super().__init__(upto)
        self.upto = upto


class _Sampler:
    """The draw of ``_issue_cycle`` over the shuffled open cases, without
    rebuilding the eligible list for every auditor: the same picks and the same
    eligible counts as filtering the whole list each time (CORE-9), from
    per-team and per-category indexes in shuffled order."""

    CHUNK = 4096

    def __init__(self, rules, order: SeededOrder | list[int], categories: list[str], teams: list, workers: list[int], auditor_ids: set[int],
                 case_ids: list[int] | None = None, *, known: int | None = None, category_names=None,
                 own: dict[int, list[int]] | None = None):
        """``categories`` and ``workers`` may be known only for the first
        ``known`` shuffled positions (and the cases of ``own``): then
        ``category_names`` holds every category there may be, ``own`` each
        auditor's own cases, and reading past ``known`` raises ``NeedMore``
        for the caller to fill them in and ask again: nothing has changed by
        then but the cursors past taken positions, so the retry picks the same."""
        self.rules = rules
        self.known = len(order) if known is None else known
        # PLAT-3: an auditor whose schedule narrows its cases (``qualifies``:
        # the case ids that qualify) draws only among those.
        self.case_ids = case_ids
        self.index_of = {case_id: index for index, case_id in enumerate(case_ids)} if case_ids is not None else {}
        self.order = order
        self.teams = teams
        self.workers = workers
        self.taken = [False] * len(order)
        self.remaining = len(order)
        self.untaken_in_team: dict = Counter(teams)
        # Each auditor's own open cases (never theirs to audit).
        if own is None:
            own = {}
            for index, worker in enumerate(workers):
                if worker in auditor_ids:
                    own.setdefault(worker, []).append(index)
        self.own = own
        # Shuffled positions per category, filled lazily a chunk at a time
        # (a draw reads a few thousand positions, not all), and a cursor past
        # the taken ones.
        self.categories = categories
        # (A category with no case left only costs a longer scan: the same picks.)
        self.by_category: dict[str, list[int]] = {c: [] for c in set(categories if category_names is None else category_names)}
        self.scanned = 0
        self.category_start = {c: 0 for c in self.by_category}
        self.start = 0

    def _extend(self) -> bool:
        """File the next chunk of shuffled positions under their categories."""
        end = min(self.scanned + self.CHUNK, len(self.order))
        if end == self.scanned:
            return False
        if end > self.known:
            raise NeedMore(end)
        order, categories, by_category = self.order, self.categories, self.by_category
        for position in range(self.scanned, end):
            by_category[categories[order[position]]].append(position)
        self.scanned = end
        return True

    def _team_excluded(self, auditor: dict, index: int) -> bool:
        return not self.rules.allow_own_team and auditor["team"] is not None and self.teams[index] == auditor["team"]

    def _may(self, auditor: dict, index: int) -> bool:
        qualifies = auditor.get("qualifies")
        if qualifies is not None and self.case_ids[index] not in qualifies:
            return False
        return self.workers[index] != auditor["id"] and not self._team_excluded(auditor, index)

    def eligible(self, auditor: dict) -> int:
        """How many untaken cases ``auditor`` may audit."""
        if auditor.get("qualifies") is not None:
            indexes = (self.index_of.get(case_id) for case_id in auditor["qualifies"])
            return sum(1 for i in indexes if i is not None and not self.taken[i] and self._may(auditor, i))
        count = self.remaining
        if not self.rules.allow_own_team and auditor["team"] is not None:
            count -= self.untaken_in_team.get(auditor["team"], 0)
        count -= sum(1 for i in self.own.get(auditor["id"], ()) if not self.taken[i] and not self._team_excluded(auditor, i))
        return count

    def _first(self, auditor: dict, positions, start: int) -> int | None:
        """The first shuffled position from ``start`` whose case ``auditor`` may take."""
        known = self.known
        for i in range(start, len(positions)):
            if positions[i] >= known:
                raise NeedMore(positions[i] + 1)
            index = self.order[positions[i]]
            if not self.taken[index] and self._may(auditor, index):
                return positions[i]
        return None

    def pick(self, auditor: dict, counts: dict[str, int] | None) -> int:
        """The first eligible case in shuffled order; with ``counts`` (category
        mix), the first of the least-sampled category that has one."""
        if counts is None:
            while self.taken[self.order[self.start]]:
                self.start += 1
            found = self._first(auditor, range(len(self.order)), self.start)
            assert found is not None
            return self.order[found]
        best: tuple[int, int] | None = None
        for category, positions in self.by_category.items():
            start = self.category_start[category]
            while start < len(positions) and self.taken[self.order[positions[start]]]:
                start += 1
            self.category_start[category] = start
            found = self._first(auditor, positions, start)
            while found is None:
                # Every position filed so far was checked: file more, look at the new ones.
                checked = len(positions)
                if not self._extend():
                    break
                found = self._first(auditor, positions, checked)
            if found is not None and (best is None or (counts.get(category, 0), found) < best):
                best = (counts.get(category, 0), found)
        assert best is not None
        return self.order[best[1]]

    def take(self, index: int) -> None:
        self.taken[index] = True
        self.remaining -= 1
        self.untaken_in_team[self.teams[index]] -= 1


async def _open_case_columns(organisation_id: int) -> tuple[list[int], list[int | None], list[str]]:
    """The organisation's open cases (those with an allocated worker): their
    ids and teams as two lists in id order, and every category among them.
    Read as one row of aggregated columns, not 200,000 rows: a tuple per case
    made the read and the garbage collector's passes over them most of its
    cost. The draw reads the category and worker only of the cases it looks
    at (``_case_details``)."""
    from core.db.engine import current

    where = "FROM child_case WHERE organisation = {} AND allocated_worker IS NOT NULL"
    if current().engine_type != "sqlite":
        (row,) = await bulk.fetch(
            f"SELECT array_agg(id ORDER BY id), array_agg(team ORDER BY id), array_agg(DISTINCT category) {where}",
            organisation_id)
        return tuple(list(column or []) for column in row)  # type: ignore[return-value]
    # Each column as one JSON array, parsed in C (splitting strings and int()
    # per value was half the read's time): numbers joined by SQLite's group_concat.
    row = (await bulk.fetch(
        "SELECT '[' || group_concat(id) || ']', '[' || group_concat(coalesce(team, 'null')) || ']'"
        f" FROM (SELECT id, team {where} ORDER BY id)",
        organisation_id,
    ))[0]
    if row[0] is None:
        return [], [], []
    ids, teams = (json.loads(column) for column in row)
    # The categories in the category index's order: SQLite moves on to the next
    # category at its first open case (under 1 ms; 30 ms more in the query above).
    categories = [category for (category,) in await bulk.fetch(
        "SELECT DISTINCT category FROM child_case INDEXED BY child_case_category"
        " WHERE organisation = {} AND allocated_worker IS NOT NULL", organisation_id)]
    if ids != sorted(ids):
        # SQLite keeps the subquery's order in practice, not by promise.
        order = sorted(range(len(ids)), key=ids.__getitem__)
        ids, teams = [ids[i] for i in order], [teams[i] for i in order]
    return ids, teams, categories


def _ids_param(column: str, ids: list[int]) -> tuple[str, object]:
    """``column`` is one of ``ids``, as SQL and its one parameter: a JSON
    array on SQLite (however many ids), an array on PostgreSQL."""
    from core.db.engine import current

    if current().engine_type == "sqlite":
        return f"{column} IN (SELECT value FROM json_each({{}}))", json.dumps(ids)
    return f"{column} = ANY({{}})", ids


async def _case_details(case_ids: list[int]) -> list[tuple[int, str, int | None, str]]:
    """id, category, allocated worker and external id of each of ``case_ids``."""
    if not case_ids:
        return []
    condition, param = _ids_param("id", case_ids)
    return [tuple(row) for row in await bulk.fetch(
        f"SELECT id, category, allocated_worker, external_id FROM child_case WHERE {condition}", param)]


async def _cases_held_by(people: list[int]) -> list[tuple[int, int]]:
    """(case id, worker) of the cases ``people`` hold, by case id, from the
    index child_case_allocated_worker. Not narrowed by organisation: with that
    term SQLite scans the organisation's 200,000 open cases instead (the
    caller keeps only the cases of its own list)."""
    if not people:
        return []
    condition, param = _ids_param("allocated_worker", people)
    return sorted(tuple(row) for row in await bulk.fetch(f"SELECT id, allocated_worker FROM child_case WHERE {condition}", param))


def _narrowed_note(ctx: Context, council, auditor: dict) -> str:
    """PLAT-3: what narrowed the cases drawn from, in words."""
    key = auditor.get("narrowed_by")
    if not key:
        return ""
    from core.case_criteria import describe, window_rule

    schedule = ctx.registry.schedules[key].value
    declared = {a.key: a for a in council.case_attributes}
    parts = [describe(declared[c.attribute], c) for c in schedule.cases.criteria]
    if schedule.cases.in_window:
        parts.append(f"involvement in {window_rule(schedule.frequency)}")
    return f" Only cases meeting the activity's criteria: {'; '.join(parts)}."


def cycle_seed(organisation_id: int, year: int, month: int) -> int:
    digest = hashlib.sha256(f"qaf-cycle:{organisation_id}:{year}:{month}".encode()).digest()
    return int.from_bytes(digest[:4], "big") >> 1


async def issue_cycle(ctx: Context, organisation_id: int, year: int, month: int) -> Issued:
    """Open the month's cycle and allocate its audits; idempotent, also when
    two processes issue the same month at once (the unique index decides)."""
    try:
        return await _issue_cycle(ctx, organisation_id, year, month)
    except Exception as error:
        if not is_unique_violation(error):
            raise
        existing = await Cycle.select(Cycle.id).where(
            (Cycle.organisation == organisation_id) & (Cycle.year == year) & (Cycle.month == month)
        ).first()
        return Issued(existing["id"], False, 0)


def is_unique_violation(error: Exception) -> bool:
    import sqlite3

    import asyncpg

    if isinstance(error, asyncpg.UniqueViolationError):
        return True
    return isinstance(error, sqlite3.IntegrityError) and "UNIQUE" in str(error)


async def _issue_cycle(ctx: Context, organisation_id: int, year: int, month: int) -> Issued:
    existing = await Cycle.select(Cycle.id).where(
        (Cycle.organisation == organisation_id) & (Cycle.year == year) & (Cycle.month == month)
    ).first()
    if existing:
        return Issued(existing["id"], False, 0)
    organisation = await Organisation.select().where(Organisation.id == organisation_id).first()
    council = ctx.registry.council(organisation["council"])
    rules = council.cycles
    if rules is None:
        # Not every framework allocates audits monthly (Coventry's plan, the
        # CSCP's programme): say so to whoever asked, rather than fail.
        from core.services.errors import ServiceError

        raise ServiceError(f"{council.name} does not run monthly audit cycles: its audits follow the programme, so there is no cycle to issue")
    seed = cycle_seed(organisation_id, year, month)
    starts_on, ends_on = first_working_day(year, month), last_working_day(year, month)
    if council.practice_weeks_replace_cycle and await PracticeWeek.exists().where(
        (PracticeWeek.organisation == organisation_id) & (PracticeWeek.year == year) & (PracticeWeek.month == month)
    ):
        # HAR 2: a practice week "will replace the monthly audit process for that
        # month": the month is recorded as a practice week, with no allocations.
        async with transaction():
            rows = await Cycle.insert(
                Cycle(organisation=organisation_id, year=year, month=month, kind="practice_week",
                      starts_on=starts_on, ends_on=ends_on, seed=seed, issued_at=ctx.now)
            ).returning(Cycle.id)
            await trail.record(ctx, organisation_id=organisation_id, entity="cycle", entity_id=rows[0]["id"],
                               action="practice_week", changes={"year": year, "month": month})
        return Issued(rows[0]["id"], True, 0)
    # HAR 2: "Each audit cycle generally runs from the first working day of the
    # month to the last working day of the month": allocations are due then.
    due_at = end_of_london_day(ends_on)

    # Who draws, how many and on which form: the month's occurrences of the
    # schedules that draw cases (the programme drives the work, issue 13).
    auditors, re_auditors = await month_drawers(ctx, organisation_id, council, year, month)
    # Cases already being audited: open allocations, by index allocation_open.
    busy = {
        row[0]
        for row in await bulk.fetch(
            "SELECT DISTINCT child_case FROM allocation WHERE organisation = {} AND finalised_at IS NULL"
            # Issue 13: an audit on a person or a meeting may have no case.
            " AND child_case IS NOT NULL", organisation_id
        )
    }
    # HAR 1.4, 2.6: re-audits first. A case due its re-audit this month is
    # re-audited, not drawn at random as well: drawn first, it was left out of
    # the re-audits and its re-audit lost (issue 12).
    # PLAT-3: the cases each narrowing schedule lets through, judged on its period.
    from core.services.case_attributes import qualifying

    narrowed: dict[str, set[int]] = {}
    for drawer in [*auditors, *re_auditors]:
        key = drawer.get("narrowed_by")
        if key:
            if key not in narrowed:
                narrowed[key] = await qualifying(organisation_id, council, ctx.registry.schedules[key].value, *drawer["period"])
            drawer["qualifies"] = narrowed[key]
    re_audits = await _plan_re_audits(ctx, organisation_id, rules, re_auditors, starts_on, busy)
    re_audited = {plan.case["id"] for plan in re_audits}
    # The open cases' ids and teams in id order (the order the seeded shuffle
    # starts from), as parallel lists; the category, worker and reference of a
    # case are read when the draw first looks at it (``fill``).
    ids, teams, category_names = await _open_case_columns(organisation_id)
    # Left out: the cases being audited and those due a re-audit this month,
    # found by bisection (ids are in order; a few thousand of 200,000).
    def positions(case_ids) -> list[int]:
        found = []
        for case_id in case_ids:
            i = bisect_left(ids, case_id)
            if i < len(ids) and ids[i] == case_id:
                found.append(i)
        return found

    busy_open = positions(busy)
    # The yearly share counts every open case, re-audited this month or not.
    open_cases = len(ids) - len(busy_open) + len(busy)
    left_out = busy_open + positions(re_audited - busy)
    if left_out:
        keep = bytearray(b"\x01") * len(ids)
        for i in left_out:
            keep[i] = 0
        ids, teams = list(compress(ids, keep)), list(compress(teams, keep))
    n = len(ids)
    categories_of: list = [None] * n
    workers: list = [None] * n
    external: dict[int, str] = {}
    filled = bytearray(n)

    async def fill(indexes) -> None:
        wanted = {ids[i]: i for i in indexes if not filled[i]}
        for case_id, category, worker, external_id in await _case_details(list(wanted)):
            i = wanted.pop(case_id)
            categories_of[i], workers[i], external[case_id], filled[i] = category, worker, external_id, 1
        if wanted:
            from core.services.errors import Conflict

            raise Conflict("Cases were removed while the month's audits were drawn: issue the month again")

    # Each auditor's own open cases (never theirs to audit), by position in ids
    # (this organisation's open cases: a case elsewhere is not among them).
    auditor_ids = sorted({a["id"] for a in auditors})
    own: dict[int, list[int]] = {}
    for case_id, worker in await _cases_held_by(auditor_ids):
        i = bisect_left(ids, case_id)
        if i < n and ids[i] == case_id:
            own.setdefault(worker, []).append(i)
    # shuffled[i] = cases[order[i]], drawn as far as the draw reads.
    order = SeededOrder(n, seed)
    sampler = _Sampler(rules, order, categories_of, teams, workers, set(auditor_ids), ids if narrowed else None,
                       known=0, category_names=category_names, own=own)
    if narrowed:
        # PLAT-3: a narrowed auditor's eligible count looks at every case that qualifies.
        await fill([sampler.index_of[c] for c in set().union(*narrowed.values()) if c in sampler.index_of])
    planned: list[Planned] = []
    categories: dict[str, int] = {}
    exclusions = "the auditor's own cases" + ("" if rules.allow_own_team else " and own team")
    being = "cases already being audited" + (" or due a re-audit this month" if re_audits else "")
    share_floor = 0
    share_note = ""
    if rules.yearly_share and auditors:
        monthly = math.ceil(rules.yearly_share * open_cases / 12)
        share_floor = math.ceil(monthly / len(auditors))
        share_note = (
            f" Part of the yearly sample of {rules.yearly_share:.0%} of {open_cases} open cases"
            f" ({math.ceil(rules.yearly_share * open_cases)} a year, {monthly} this month)."
        )
    picks: list[tuple[dict, int, str]] = []
    for auditor in auditors:
        # PLAT-3: an activity narrowed to cases meeting its criteria draws its own count only.
        for _ in range(auditor["count"] if auditor.get("narrowed_by") else max(auditor["count"], share_floor)):
            eligible = sampler.eligible(auditor)
            if not eligible:
                break
            # CORE-9 category mix: the least-sampled category this month first;
            # the shuffled order decides within it.
            while True:
                try:
                    index = sampler.pick(auditor, categories if rules.category_mix else None)
                    break
                except NeedMore as need:
                    upto = min(n, max(need.upto, sampler.known + sampler.CHUNK))
                    await fill([order[p] for p in range(sampler.known, upto)])
                    sampler.known = upto
            categories[categories_of[index]] = categories.get(categories_of[index], 0) + 1
            sampler.take(index)
            mix = ", balancing case categories" if rules.category_mix else ""
            reason = (
                f"Sampled at random (seed {seed}) from {eligible} eligible open cases for the "
                f"{dt.date(year, month, 1):%B %Y} cycle, excluding {exclusions} and {being}{mix}."
                + share_note + _narrowed_note(ctx, council, auditor)
            )
            picks.append((auditor, index, reason))
    for auditor, index, reason in picks:
        case = {"id": ids[index], "external_id": external[ids[index]], "category": categories_of[index], "team": teams[index],
                "allocated_worker": workers[index]}
        planned.append(Planned(auditor, case, reason, form_key=auditor["form_key"]))
    planned.extend(re_audits)
    team_managers: dict[int, list[int]] = {}
    for tm in await Person.select(Person.id, Person.team).where(
        (Person.organisation == organisation_id)
        & (Person.role == council.team_manager_role.split(":")[-1])
        & (Person.active == True)  # noqa: E712
        & Person.team.is_not_null()
    ):
        team_managers.setdefault(tm["team"], []).append(tm["id"])

    async with transaction():
        cycle_rows = await Cycle.insert(
            Cycle(
                organisation=organisation_id,
                year=year,
                month=month,
                kind="monthly",
                starts_on=starts_on,
                ends_on=ends_on,
                seed=seed,
                issued_at=ctx.now,
            )
        ).returning(Cycle.id)
        cycle_id = cycle_rows[0]["id"]
        trail_rows = [
            trail.row(
                ctx,
                organisation_id=organisation_id,
                entity="cycle",
                entity_id=cycle_id,
                action="issued",
                changes={"year": year, "month": month, "seed": seed, "allocations": len(planned)},
            )
        ]
        # The whole list in a few INSERTs: allocations, their deadlines, trail
        # rows and notifications, written as create_allocation and notify would.
        # Each schedule names its form: one batch per form, in the list's order.
        by_id: dict[int, int] = {}
        for form_key in dict.fromkeys(plan.form_key for plan in planned):
            indexes = [i for i, plan in enumerate(planned) if plan.form_key == form_key]
            workflow_key = ctx.registry.ref(council.key, ctx.registry.form(form_key).workflow, "workflows")
            ids_written = await create_allocations(
                ctx,
                organisation_id=organisation_id,
                planned=[(p.case, p.auditor, p.kind, p.reason, p.previous) for p in (planned[i] for i in indexes)],
                form_key=form_key,
                workflow_key=workflow_key,
                due_at=due_at,
                cycle_id=cycle_id,
                trail_rows=trail_rows,
            )
            by_id.update(zip(indexes, ids_written))
        allocation_ids = [by_id[i] for i in range(len(planned))]
        outbox = notifications.Outbox(ctx)
        due_text = f"{ends_on:%A %-d %B %Y}"
        for plan, allocation_id in zip(planned, allocation_ids):
            auditor, case = plan.auditor, plan.case
            outbox.add(
                organisation_id=organisation_id,
                recipients=[auditor["id"]],
                kind="allocated",
                subject=f"New audit: case {case['external_id']}, due {due_text}",
                body=f"You have been allocated case {case['external_id']} to audit in the "
                f"{dt.date(year, month, 1):%B %Y} cycle. Complete it by {due_text}.",
                link=f"/audits/{allocation_id}",
                allocation_id=allocation_id,
            )
            # Appendix A: the allocation list also goes to practitioners and their
            # team managers (HAR 2: "to all relevant auditors, team manager and practitioners").
            what = "re-audited" if plan.kind != "audit" else "audited"
            outbox.add(
                organisation_id=organisation_id,
                recipients=[case["allocated_worker"]],
                kind="case_allocated_for_audit",
                subject=f"Case {case['external_id']} will be {what} this month",
                body=f"{auditor['display_name']} will audit case {case['external_id']} in the "
                f"{dt.date(year, month, 1):%B %Y} cycle and will arrange a conversation with you.",  # HAR 2.4
                allocation_id=allocation_id,
            )
            outbox.add(
                organisation_id=organisation_id,
                recipients=team_managers.get(case["team"], []),
                kind="team_case_allocated_for_audit",
                subject=f"Case {case['external_id']} in your team will be {what} this month",
                body=f"{auditor['display_name']} will audit case {case['external_id']} in the "
                f"{dt.date(year, month, 1):%B %Y} cycle." + (" As a second re-audit, the re-auditor will meet you and the practitioner." if plan.kind == "second_re_audit" else ""),  # HAR 2.5
                allocation_id=allocation_id,
            )
        await trail.record_many(trail_rows)
        await outbox.flush()
    return Issued(cycle_id, True, len(planned))


async def issue_due_cycles(ctx: Context) -> list[Issued]:
    """Issue this month's cycle for every organisation once its first working day has come."""
    today = london_date(ctx.now)
    issued = []
    for organisation in await Organisation.select(Organisation.id, Organisation.council):
        if organisation["council"] not in ctx.registry.councils:
            continue
        if ctx.registry.council(organisation["council"]).cycles is None:
            continue
        if today >= first_working_day(today.year, today.month):
            result = await issue_cycle(ctx, organisation["id"], today.year, today.month)
            if result.created:
                issued.append(result)
    return issued


async def list_cycles(ctx: Context) -> list[dict]:
    assert ctx.actor
    return (
        await Cycle.select(
            Cycle.all_columns(),
        )
        .where(Cycle.organisation == ctx.actor.organisation_id)
        .order_by(Cycle.year, ascending=False)
        .order_by(Cycle.month, ascending=False)
    )


async def schedule_practice_week(ctx: Context, year: int, month: int, agreed_by: str = "") -> None:
    """Record a practice week agreed by the Director (HAR 2); refused once the month's cycle is issued."""
    from core.services.errors import Conflict, Forbidden

    assert ctx.actor
    if not ctx.actor.can("administer"):
        raise Forbidden("Only the QA team can schedule practice weeks")
    organisation_id = ctx.actor.organisation_id
    if await Cycle.exists().where((Cycle.organisation == organisation_id) & (Cycle.year == year) & (Cycle.month == month)):
        raise Conflict(f"The {dt.date(year, month, 1):%B %Y} cycle has already been issued")
    if await PracticeWeek.exists().where(
        (PracticeWeek.organisation == organisation_id) & (PracticeWeek.year == year) & (PracticeWeek.month == month)
    ):
        return
    async with transaction():
        rows = await PracticeWeek.insert(
            PracticeWeek(organisation=organisation_id, year=year, month=month, agreed_by=agreed_by, created_at=ctx.now)
        ).returning(PracticeWeek.id)
        await trail.record(ctx, organisation_id=organisation_id, entity="practice_week", entity_id=rows[0]["id"],
                           action="scheduled", changes={"year": year, "month": month, "agreed_by": agreed_by})


async def practice_weeks(organisation_id: int) -> frozenset[tuple[int, int]]:
    rows = await PracticeWeek.select(PracticeWeek.year, PracticeWeek.month).where(PracticeWeek.organisation == organisation_id)
    return frozenset((r["year"], r["month"]) for r in rows)
