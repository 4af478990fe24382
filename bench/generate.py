"""A large council's ten years of QA, deterministic for a seed (``qaf-bench generate``).

Scale 1 is roughly: 5,000 staff in a line-managed hierarchy, 200,000 cases,
100,000 audits over 120 monthly cycles in every workflow state (with grades,
QA reviews, re-audits, disputes, follow-ups), 300,000 actions, 2,000,000 trail
rows and the notifications the services send.

The people and roles start from the real ``load_demo`` (so sign-in, roles and
the organisation are exactly what the services build); the volume is then
bulk-inserted through the raw driver of the bound engine (sqlite3 / asyncpg
COPY), batch by batch, with the columns and values the services write
(``create_allocation``, ``submit``, ``review``, ``_move``, ``actions.create``,
``disputes.raise_dispute``, ``notifications.notify``, ``trail.record``).
Rows are streamed: memory stays flat apart from the case list.

Every generated account's password is the demo password.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import sys
import time
from dataclasses import dataclass, field

from core.calendar import UTC, end_of_london_day, first_working_day, last_working_day
from core.programme import drawn_form
from core.services.cycles import cycle_seed

COUNCIL = "haringey"
MONTHS = 120
BATCH = 5000

LEVELS = ("outstanding", "good", "requires_improvement", "inadequate")
LEVEL_WEIGHTS = (10, 45, 35, 10)
DOMAINS = ("voice_of_child", "assessment", "planning", "management_oversight", "impact", "overall")
PHASES = ("initial", "post_conversation")
EVIDENCE = (
    "The child's wishes and feelings are recorded and shape the plan.",
    "Assessment is timely and analytical, drawing on partner information.",
    "Plan is SMART and reviewed within timescales.",
    "Supervision is regular and reflective; actions are followed up.",
    "Clear evidence of improved outcomes since the last review.",
    "Chronology not up to date; the impact of drift is not analysed.",
    "Management oversight is not evident at key decision points.",
    "The child's voice is not clearly recorded in recent visits.",
)
ACTIONS = (
    "Update the chronology",
    "Record the child's views at the next visit",
    "Convene a core group meeting",
    "Review the plan with the family",
    "Record management oversight of the decision",
    "Complete the updated assessment",
)

# Columns written per table, in order (ids are assigned here, so foreign keys
# need no RETURNING round trip).
COLUMNS: dict[str, tuple[str, ...]] = {
    "service": ("id", "organisation", "agency", "name"),
    "team": ("id", "organisation", "service", "name"),
    "person": ("id", "organisation", "team", "agency", "role", "post", "display_name", "email", "username",
               "password_hash", "line_manager", "active", "created_at"),
    "child_case": ("id", "organisation", "external_id", "category", "team", "allocated_worker", "chair",
                   "involvement_started_on", "created_at"),
    "cycle": ("id", "organisation", "year", "month", "kind", "starts_on", "ends_on", "seed", "issued_at"),
    "allocation": ("id", "organisation", "cycle", "child_case", "auditor", "kind", "previous", "reason", "form_key",
                   "form_version", "workflow_key", "workflow_version", "state", "due_at", "state_due_at", "revision",
                   "answers", "submitted_at", "finalised_at", "created_at", "updated_at"),
    "grade": ("id", "allocation", "organisation", "phase", "domain", "scale_key", "level", "rank", "evidence",
              "set_by", "set_at"),
    "review": ("id", "allocation", "reviewer", "decision", "reason", "created_at"),
    "follow_up": ("id", "organisation", "allocation", "rule", "action", "assignees", "due_at", "status", "note",
                  "done_by", "done_at", "created_at"),
    "follow_up_assignee": ("id", "follow_up", "person"),
    "dispute": ("id", "organisation", "allocation", "raised_by", "workflow_key", "workflow_version", "state",
                "state_due_at", "criteria", "domains", "outcome", "outcome_reason", "revision", "created_at",
                "updated_at", "resolved_at"),
    "action": ("id", "organisation", "allocation", "dispute", "plan", "what", "owner", "due_on", "due_at", "status",
               "created_by", "created_at", "closed_at"),
    "action_update": ("id", "action", "by", "text", "status", "at"),
    "deadline": ("id", "organisation", "allocation", "follow_up", "dispute", "action", "kind", "due_at", "status",
                 "escalate_to", "created_at", "closed_at"),
    "notification": ("id", "organisation", "recipient", "kind", "subject", "body", "link", "allocation", "created_at",
                     "read_at", "email_state", "email_attempts", "email_next_at", "email_sent_at"),
    "trail": ("id", "organisation", "at", "actor", "request_id", "entity", "entity_id", "action", "changes", "seq", "hash"),
}
# Insert order respects foreign keys within one flush.
ORDER = tuple(COLUMNS)
JSON_COLUMNS = {("allocation", "answers"), ("follow_up", "assignees"), ("dispute", "domains"),
                ("deadline", "escalate_to"), ("trail", "changes")}


def targets(scale: float) -> dict[str, int]:
    """The volumes asked for at ``scale`` (1 = a large council's ten years)."""
    return {
        "staff": round(5000 * scale),
        "cases": round(200_000 * scale),
        "audits": round(100_000 * scale),
        "actions": round(300_000 * scale),
        "trail": round(2_000_000 * scale),
    }


# ------------------------------------------------------------------ sinks


class Sink:
    """Buffered bulk insert into one database through its raw driver."""

    def __init__(self) -> None:
        self.buffers: dict[str, list[tuple]] = {t: [] for t in ORDER}
        self.counts: dict[str, int] = {t: 0 for t in ORDER}
        self.pending = 0

    async def add(self, table: str, row: tuple) -> None:
        self.buffers[table].append(row)
        self.counts[table] += 1
        self.pending += 1
        if self.pending >= BATCH:
            await self.flush()

    async def flush(self) -> None:
        for table in ORDER:
            rows = self.buffers[table]
            if rows:
                await self._write(table, rows)
                self.buffers[table] = []
        self.pending = 0
        await self._commit()

    async def max_ids(self) -> dict[str, int]:
        return {t: int(await self._scalar(f'SELECT COALESCE(MAX(id), 0) FROM "{t}"')) for t in ORDER}


class SQLiteSink(Sink):
    def __init__(self, path: str) -> None:
        import sqlite3

        super().__init__()
        self.db = sqlite3.connect(path, isolation_level=None, timeout=60)
        self.db.execute("PRAGMA synchronous = OFF")
        self.db.execute("BEGIN")
        self.sql = {t: f'INSERT INTO "{t}" ({", ".join(chr(34) + c + chr(34) for c in cols)}) VALUES '
                       f'({", ".join("?" * len(cols))})' for t, cols in COLUMNS.items()}
        self.json_at = {t: [i for i, c in enumerate(cols) if (t, c) in JSON_COLUMNS] for t, cols in COLUMNS.items()}

    @staticmethod
    def _value(value):
        if isinstance(value, dt.datetime):
            return str(value)  # as Piccolo stores a Timestamptz: "2026-11-30 23:59:59+00:00"
        if isinstance(value, dt.date):
            return value.isoformat()
        if isinstance(value, bool):
            return int(value)
        return value

    async def _write(self, table: str, rows: list[tuple]) -> None:
        json_at = self.json_at[table]
        out = []
        for row in rows:
            values = [self._value(v) for v in row]
            for i in json_at:
                values[i] = json.dumps(values[i])
            out.append(values)
        self.db.executemany(self.sql[table], out)

    async def _commit(self) -> None:
        self.db.execute("COMMIT")
        self.db.execute("BEGIN")

    async def _scalar(self, sql: str):
        return self.db.execute(sql).fetchone()[0]

    async def close(self) -> None:
        self.db.execute("COMMIT")
        self.db.execute("ANALYZE")
        self.db.close()


class PostgresSink(Sink):
    def __init__(self, connection) -> None:
        super().__init__()
        self.db = connection
        self.json_at = {t: [i for i, c in enumerate(cols) if (t, c) in JSON_COLUMNS] for t, cols in COLUMNS.items()}

    @classmethod
    async def connect(cls, dsn: str) -> PostgresSink:
        import asyncpg

        return cls(await asyncpg.connect(dsn))

    async def _write(self, table: str, rows: list[tuple]) -> None:
        json_at = self.json_at[table]
        if json_at:
            fixed = []
            for row in rows:
                values = list(row)
                for i in json_at:
                    values[i] = json.dumps(values[i])
                fixed.append(values)
            rows = fixed
        await self.db.copy_records_to_table(table, records=rows, columns=list(COLUMNS[table]))

    async def _commit(self) -> None:
        pass  # COPY commits as it goes (autocommit)

    async def _scalar(self, sql: str):
        return await self.db.fetchval(sql)

    async def close(self) -> None:
        for table in ORDER:
            await self.db.execute(
                f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), GREATEST((SELECT MAX(id) FROM \"{table}\"), 1))"
            )
        await self.db.execute("ANALYZE")
        await self.db.close()


async def open_sink() -> Sink:
    from core.db.engine import current

    engine = current()
    if engine.engine_type == "sqlite":
        return SQLiteSink(engine.path)
    return await PostgresSink.connect(engine.config["dsn"])


# ------------------------------------------------------------------ generator


@dataclass
class Ids:
    next: dict[str, int]

    def __call__(self, table: str) -> int:
        self.next[table] += 1
        return self.next[table]


@dataclass
class Progress:
    total: int
    started: float = field(default_factory=time.monotonic)
    done: int = 0
    quiet: bool = False

    def step(self, label: str, sink: Sink, force: bool = False) -> None:
        self.done += 1
        if self.quiet:
            return
        tty = sys.stderr.isatty()
        if not tty and not force and self.done % max(1, self.total // 10):
            return
        rows = sum(sink.counts.values())
        width = 30
        filled = int(width * self.done / max(self.total, 1))
        line = (f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} {label:<10} "
                f"{rows:>10,} rows  {time.monotonic() - self.started:6.1f}s")
        print(line if tty else line[1:], end="\n" if force or not tty else "", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Generated:
    organisation_id: int
    scale: float
    seed: int
    as_of: dt.datetime
    counts: dict[str, int]
    seconds: float


def _utc(day: dt.date, hour: int = 8) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def _months_before(year: int, month: int, n: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) - n
    return index // 12, index % 12 + 1


def default_as_of() -> dt.datetime:
    """Today at 06:00 UTC: the data is the same all day for one seed."""
    today = dt.datetime.now(UTC).date()
    return dt.datetime(today.year, today.month, today.day, 6, tzinfo=UTC)


async def generate(registry, scale: float, seed: int = 1, as_of: dt.datetime | None = None, quiet: bool = False) -> Generated:
    """Load the demo organisation, then add ``scale`` times a large council's ten years."""
    from core.db.tables import Organisation, Person
    from core.services.context import Context
    from core.services.demo import load_demo

    from core.services import trail

    started = time.monotonic()
    as_of = as_of or default_as_of()
    ctx = Context(registry=registry, now=as_of, request_id=f"bench-{seed}")
    if await Organisation.exists().where(Organisation.council == COUNCIL):
        raise SystemExit(f"qaf-bench generate: the database already has a {COUNCIL} organisation; use an empty database")
    # The trail's salts from the seed too: the same seed, the same database.
    salts = random.Random(f"salts-{seed}")
    trail.salt_source = lambda: f"{salts.getrandbits(128):032x}"
    try:
        await load_demo(ctx, COUNCIL)
        org = (await Organisation.select(Organisation.id).where(Organisation.council == COUNCIL).first())["id"]
        people = await Person.select().where(Person.organisation == org).order_by(Person.id)
        sink = await open_sink()
        try:
            ids = Ids(await sink.max_ids())
            gen = _Generator(registry, sink, ids, org, people, scale, seed, as_of, quiet)
            from core.db import bulk

            head = await bulk.fetch("SELECT seq, hash FROM trail WHERE organisation = {} ORDER BY seq DESC LIMIT 1", org)
            gen.trail_head = (head[0][0], head[0][1]) if head else (0, "")
            await gen.run()
            await sink.flush()
        finally:
            await sink.close()
    finally:
        trail.salt_source = trail._salt
    # The bulk rows bypass the services, so their standing grades and monthly
    # counts are built the way the migrations build them: from the rows.
    from core.services import month_counts

    await month_counts.rebuild_all()
    return Generated(org, scale, seed, as_of, dict(sink.counts), time.monotonic() - started)


class _Generator:
    def __init__(self, registry, sink: Sink, ids: Ids, org: int, people: list[dict], scale: float, seed: int,
                 as_of: dt.datetime, quiet: bool) -> None:
        council = registry.council(COUNCIL)
        self.form_key = drawn_form(registry, COUNCIL)
        form = registry.form(self.form_key)
        self.form_version = form.version
        self.workflow_key = registry.ref(COUNCIL, form.workflow, "workflows")
        self.workflow_version = registry.workflow(self.workflow_key).version
        self.dispute_key = registry.qualify(COUNCIL, "dispute", registry.workflows)
        self.dispute_version = registry.workflow(self.dispute_key).version
        self.scale_key = f"{COUNCIL}:four_point"
        self.categories = [c.key for c in council.case_categories]
        self.sink, self.ids, self.org, self.scale, self.as_of = sink, ids, org, scale, as_of
        self.rng = random.Random(seed)
        self.request_id = f"bench-{seed}"
        self.quiet = quiet
        self.people = people
        self.agency = people[0]["agency"]
        self.password_hash = people[0]["password_hash"]
        self.demo_case_count = 0
        self.names = 0

    # -------------------------------------------------------------- helpers

    async def add(self, table: str, *values) -> None:
        await self.sink.add(table, values)

    async def trail(self, at, actor, entity: str, entity_id: int, action: str, changes: dict) -> None:
        # Chained onto the organisation's trail as the app chains it (PLAT-12).
        from core.services.trail import entry_hash

        seq, previous = self.trail_head
        seq += 1
        digest = entry_hash(previous, self.org, seq, at, actor, self.request_id, entity, entity_id, action, changes)
        self.trail_head = (seq, digest)
        await self.add(
            "trail", self.ids("trail"), self.org, at, actor, self.request_id, entity, entity_id, action, changes, seq, digest
        )

    async def notify(self, recipient, kind: str, subject: str, body: str, link: str, allocation, at) -> None:
        if recipient is None:
            return
        old = at < self.as_of - dt.timedelta(days=7)
        await self.add(
            "notification", self.ids("notification"), self.org, recipient, kind, subject[:200], body, link, allocation,
            at, at + dt.timedelta(hours=5) if old else None, "sent" if old else "pending", 1 if old else 0,
            at, at + dt.timedelta(minutes=1) if old else None,
        )

    def name(self) -> str:
        from core.services.demo import _FIRST, _LAST

        self.names += 1
        return f"{_FIRST[self.names % len(_FIRST)]} {_LAST[(self.names * 7) % len(_LAST)]}"

    async def person(self, role: str, username: str, team, manager, created_at) -> int:
        pid = self.ids("person")
        await self.add("person", pid, self.org, team, self.agency, role, "", self.name(), f"{username}@example.org",
                       username, self.password_hash, manager, True, created_at)
        await self.trail(created_at, None, "person", pid, "created", {"role": role})
        return pid

    def level(self) -> str:
        return self.rng.choices(LEVELS, LEVEL_WEIGHTS)[0]

    # -------------------------------------------------------------- staff and cases

    async def staff(self) -> None:
        s = self.scale
        by_role: dict[str, list[dict]] = {}
        for p in self.people:
            by_role.setdefault(p["role"], []).append(p)
        created = self.as_of - dt.timedelta(days=3700)
        top_sm = by_role["service_manager"][0]["id"]
        hos_ids = [p["id"] for p in by_role["head_of_service"]]
        head_of_qa = by_role["head_of_qa"][0]["id"]
        n_teams = max(3, round(400 * s))
        n_services = max(2, -(-n_teams // 10))
        n_hos = max(1, round(10 * s))
        for i in range(1, n_hos):
            hos_ids.append(await self.person("head_of_service", f"{COUNCIL}.head_of_service.b{i}", None,
                                             by_role["assistant_director"][0]["id"], created))
        # Practitioners per team so that staff reach ~5,000 at scale 1.
        per_team = 11
        self.teams: list[tuple[int, int]] = []  # (team id, team manager id)
        self.practitioners: list[tuple[int, int]] = []  # (person id, team id)
        self.team_managers: dict[int, list[int]] = {}
        self.service_managers: list[int] = [top_sm]
        for p in by_role["team_manager"]:
            self.team_managers.setdefault(p["team"], []).append(p["id"])
            self.teams.append((p["team"], p["id"]))
        for p in by_role["practitioner"]:
            self.practitioners.append((p["id"], p["team"]))
        new_teams = n_teams - len(self.teams)
        services: list[tuple[int, int]] = []
        for i in range(max(1, n_services - 1)):
            sid = self.ids("service")
            await self.add("service", sid, self.org, self.agency, f"Service {i + 1}")
            sm = await self.person("service_manager", f"{COUNCIL}.service_manager.b{i + 1}", None,
                                   hos_ids[i % len(hos_ids)], created)
            self.service_managers.append(sm)
            services.append((sid, sm))
        for t in range(new_teams):
            sid, sm = services[t % len(services)]
            tid = self.ids("team")
            await self.add("team", tid, self.org, sid, f"Team {t + 1}")
            tm = await self.person("team_manager", f"{COUNCIL}.team_manager.b{t + 1}", tid, sm, created)
            self.teams.append((tid, tm))
            self.team_managers.setdefault(tid, []).append(tm)
            for k in range(per_team):
                pid = await self.person("practitioner", f"{COUNCIL}.practitioner.b{t + 1}.{k + 1}", tid, tm, created)
                self.practitioners.append((pid, tid))
        specialists = {"qa_officer": 30, "cp_chair": 30, "iro": 30, "lado": 5}
        extra: dict[str, list[int]] = {}
        for role, n in specialists.items():
            for i in range(1, max(1, round(n * s))):
                extra.setdefault(role, []).append(
                    await self.person(role, f"{COUNCIL}.{role}.b{i}", None, head_of_qa, created))
        ids = {role: [p["id"] for p in ps] for role, ps in by_role.items()}
        for role, more in extra.items():
            ids.setdefault(role, []).extend(more)
        self.qa = ids.get("qa_officer", []) + ids.get("head_of_qa", [])
        self.chairs = ids.get("cp_chair", []) + ids.get("iro", [])
        self.re_auditors = self.service_managers
        team_of_tm = {tm: tid for tid, tm in self.teams}
        # The cycle's auditors: team managers (with their team) and the specialists (no team).
        self.auditors: list[tuple[int, int | None]] = [(tm, team_of_tm[tm]) for _, tm in self.teams]
        for role in ("cp_chair", "iro", "lado", "qa_officer"):
            self.auditors.extend((pid, None) for pid in ids.get(role, []))
        self.manager_of_team = {tid: tm for tid, tm in self.teams}
        self.sm_of_tm = {}

    async def cases(self, n_cases: int, demo_cases: int) -> None:
        rng = self.rng
        self.case_team: list[int] = []
        self.case_worker: list[int] = []
        self.case_ids: list[int] = []
        self.case_ext: list[str] = []
        from core.db.tables import ChildCase

        for c in await ChildCase.select(ChildCase.id, ChildCase.team, ChildCase.allocated_worker, ChildCase.external_id).where(
            ChildCase.organisation == self.org
        ).order_by(ChildCase.id):
            self.case_ids.append(c["id"])
            self.case_team.append(c["team"])
            self.case_worker.append(c["allocated_worker"])
            self.case_ext.append(c["external_id"])
        number = 1001 + len(self.case_ids)
        for i in range(max(0, n_cases - demo_cases)):
            worker, team = self.practitioners[rng.randrange(len(self.practitioners))]
            category = self.categories[rng.randrange(len(self.categories))]
            cid = self.ids("child_case")
            ext = f"{COUNCIL[:3].upper()}-{number + i}"
            started = self.as_of.date() - dt.timedelta(days=rng.randrange(30, 3800))
            created = _utc(started)
            chair = self.chairs[rng.randrange(len(self.chairs))] if category in ("cp", "lac") and self.chairs else None
            await self.add("child_case", cid, self.org, ext, category, team, worker, chair, started, created)
            await self.trail(created, None, "child_case", cid, "created", {})
            self.case_ids.append(cid)
            self.case_team.append(team)
            self.case_worker.append(worker)
            self.case_ext.append(ext)

    # -------------------------------------------------------------- audits

    def pick_case(self, auditor_team) -> int:
        for _ in range(8):
            i = self.rng.randrange(len(self.case_ids))
            if self.case_team[i] != auditor_team:
                return i
        return i

    async def run(self) -> None:
        want = targets(self.scale)
        from core.db.tables import ChildCase, Cycle

        demo_cases = await ChildCase.count().where(ChildCase.organisation == self.org)
        progress = Progress(total=MONTHS + 3, quiet=self.quiet)
        await self.staff()
        progress.step("staff", self.sink)
        await self.cases(want["cases"], demo_cases)
        progress.step("cases", self.sink)
        # The current month's cycle was issued by load_demo through the real service.
        current = await Cycle.select(Cycle.id, Cycle.year, Cycle.month).where(Cycle.organisation == self.org).first()
        self.finals_for_reaudit: list[tuple[int, int]] = []  # (allocation, case index), oldest first
        per_month = max(1, (want["audits"] - len(self.auditors)) // MONTHS)
        for back in range(MONTHS, 0, -1):
            year, month = _months_before(current["year"], current["month"], back)
            await self.month(year, month, per_month, back, None)
            progress.step(f"{year}-{month:02d}", self.sink)
        # This month: one audit for each auditor load_demo did not allocate.
        await self.month(current["year"], current["month"], max(0, len(self.auditors) - 7), 0, current["id"])
        await self.sink.flush()
        progress.step("done", self.sink, force=True)

    async def month(self, year: int, month: int, n: int, back: int, cycle_id: int | None) -> None:
        rng = self.rng
        starts_on, ends_on = first_working_day(year, month), last_working_day(year, month)
        issued = _utc(starts_on)
        if back == 0:
            issued = min(issued, self.as_of - dt.timedelta(days=1))
        due = end_of_london_day(ends_on)
        seed = cycle_seed(self.org, year, month)
        if cycle_id is None:
            cycle_id = self.ids("cycle")
            await self.add("cycle", cycle_id, self.org, year, month, "monthly", starts_on, ends_on, seed, issued)
            await self.trail(issued, None, "cycle", cycle_id, "issued",
                             {"year": year, "month": month, "seed": seed, "allocations": n})
        label = f"{dt.date(year, month, 1):%B %Y}"
        for j in range(n):
            if back >= 1 and self.finals_for_reaudit and rng.random() < 0.08:
                previous, ci = self.finals_for_reaudit.pop(0)
                auditor, a_team = self.re_auditors[rng.randrange(len(self.re_auditors))], None
                kind = "re_audit"
                reason = f"Re-audit of audit {previous}: the oldest final audit awaiting a re-audit (HAR 1.4)."
            else:
                previous = None
                auditor, a_team = self.auditors[(j + back) % len(self.auditors)]
                ci = self.pick_case(a_team)
                kind = "audit"
                reason = (f"Sampled at random (seed {seed}) from eligible open cases for the {label} cycle, excluding the "
                          "auditor's own cases and own team and cases already being audited, balancing case categories.")
            await self.allocation(cycle_id, ci, auditor, kind, previous, reason, issued, due, back, label)

    def state_for(self, back: int) -> str:
        r = self.rng.random()
        if back >= 2:
            return "final" if r < 0.99 else "in_progress"
        if back == 1:
            return "final" if r < 0.80 else "qa_review" if r < 0.90 else "returned" if r < 0.95 else "in_progress"
        return ("allocated" if r < 0.30 else "in_progress" if r < 0.70 else "qa_review" if r < 0.85
                else "returned" if r < 0.90 else "final")

    def when(self, start: dt.datetime, low_days: float, high_days: float) -> dt.datetime:
        at = start + dt.timedelta(days=self.rng.uniform(low_days, high_days))
        at = min(at.replace(microsecond=0), self.as_of - dt.timedelta(minutes=self.rng.randrange(5, 600)))
        return max(at, start + dt.timedelta(minutes=1))

    async def allocation(self, cycle_id, ci, auditor, kind, previous, reason, issued, due, back, label) -> None:
        rng, ids = self.rng, self.ids
        aid = ids("allocation")
        case_id, team, worker, ext = self.case_ids[ci], self.case_team[ci], self.case_worker[ci], self.case_ext[ci]
        state = self.state_for(back)
        link = f"/audits/{aid}"
        started = self.when(issued, 0.2, 10) if state != "allocated" else None
        submitted = self.when(started, 2, 26) if state in ("qa_review", "returned", "final") else None
        returned = self.when(submitted, 0.1, 2) if state == "returned" or (state == "final" and rng.random() < 0.1) else None
        resubmitted = self.when(returned, 0.5, 4) if returned and state == "final" else None
        finalised = self.when(resubmitted or submitted, 0.1, 3) if state == "final" else None
        last = finalised or resubmitted or returned or submitted or started or issued
        qa = self.qa[rng.randrange(len(self.qa))]
        grades: dict[str, dict[str, str]] = {}
        answers: dict[str, object] = {}
        if started:
            answers["answer.conversation.notes"] = "Discussed the plan and the child's progress with the practitioner."
            answers["answer.conversation.held_on"] = (started + dt.timedelta(days=1)).date().isoformat()
        if submitted or state == "in_progress":
            overall = self.level()
            for phase in PHASES:
                grades[phase] = {}
                for d in DOMAINS:
                    level = overall if d == "overall" else (self.level() if rng.random() < 0.5 else overall)
                    grades[phase][d] = level
                    answers[f"grade.{phase}.{d}"] = level
                    answers[f"evidence.{phase}.{d}"] = EVIDENCE[(LEVELS.index(level) * 2 + len(d)) % len(EVIDENCE)]
        state_due = None
        if state == "qa_review":
            state_due = submitted + dt.timedelta(days=1)
        elif state == "returned":
            state_due = returned + dt.timedelta(days=3)
        await self.add(
            "allocation", aid, self.org, cycle_id, case_id, auditor, kind, previous, reason, self.form_key,
            self.form_version, self.workflow_key, self.workflow_version, state, due, state_due, 0,
            answers, submitted if not resubmitted else resubmitted, finalised, issued, last,
        )
        # create_allocation: the due deadline, the trail row; the cycle's three notifications.
        met_at = submitted
        if met_at and met_at <= due:
            status, closed = "met", met_at
        elif due < self.as_of:
            status, closed = "missed", due + dt.timedelta(minutes=1)
        else:
            status, closed = "open", None
        await self.add("deadline", ids("deadline"), self.org, aid, None, None, None, "allocation_due", due, status, [],
                       issued, closed)
        await self.trail(issued, None, "allocation", aid, "allocated",
                         {"auditor_id": auditor, "case": ext, "kind": kind, "reason": reason}
                         | ({"previous": previous} if previous else {}))
        await self.notify(auditor, "allocated", f"New audit: case {ext}", f"You have been allocated case {ext} to audit in the {label} cycle.",
                          link, aid, issued)
        await self.notify(worker, "case_allocated_for_audit", f"Case {ext} will be audited this month",
                          f"Case {ext} will be audited in the {label} cycle (HAR 2.4).", "", aid, issued)
        await self.notify(self.manager_of_team.get(team), "team_case_allocated_for_audit",
                          f"Case {ext} in your team will be audited this month", f"Case {ext}: {label} cycle.", "", aid, issued)
        if status == "missed":
            await self.notify(auditor, "allocation_overdue", f"Your audit of case {ext} is overdue",
                              f"The audit of case {ext} was due and has not been submitted.", link, aid, closed)
            await self.trail(closed, None, "allocation", aid, "deadline_missed", {"kind": "allocation_due"})
        if not started:
            return
        # The auditor's work: the start transition and autosaves (save_answers).
        await self.trail(started, auditor, "allocation", aid, "transition:start", {"state": ["allocated", "in_progress"]})
        saves = rng.randint(8, 14)
        end = submitted or self.as_of - dt.timedelta(hours=1)
        for k in range(saves):
            at = started + (end - started) * (k + 1) / (saves + 1)
            await self.trail(at, auditor, "allocation", aid, "answers_saved",
                             {"revision": [k, k + 1], "answers": {"answer.conversation.notes": "…"}})
        if not submitted:
            return
        await self.submit(aid, auditor, grades, submitted, "in_progress")
        if returned:
            await self.add("review", ids("review"), aid, qa, "returned", "Please add evidence for the overall grade.", returned)
            await self.state_deadline(aid, "qa_review", submitted, returned)
            await self.trail(returned, qa, "allocation", aid, "transition:return",
                             {"state": ["qa_review", "returned"], "reason": "Please add evidence for the overall grade."})
            if state == "returned":
                await self.state_deadline(aid, "returned", returned, None)
                return
            await self.state_deadline(aid, "returned", returned, resubmitted)
            await self.submit(aid, auditor, grades, resubmitted, "returned", grade_rows=False)
        if state == "qa_review":
            await self.state_deadline(aid, "qa_review", submitted, None)
            return
        await self.state_deadline(aid, "qa_review", resubmitted or submitted, finalised)
        await self.finalise(aid, ci, auditor, qa, grades, finalised, kind)

    async def submit(self, aid, auditor, grades, at, from_state, grade_rows=True) -> None:
        if grade_rows:
            for phase in PHASES:
                for d in DOMAINS:
                    level = grades[phase][d]
                    await self.add("grade", self.ids("grade"), aid, self.org, phase, d, self.scale_key, level,
                                   LEVELS.index(level), EVIDENCE[LEVELS.index(level) * 2 % len(EVIDENCE)], auditor, at)
        await self.trail(at, auditor, "allocation", aid, "transition:submit", {"state": [from_state, "qa_review"]})

    async def state_deadline(self, aid, state, since, closed_at) -> None:
        due = since + dt.timedelta(days=1 if state == "qa_review" else 3)
        escalate = ["head_of_qa"] if state == "qa_review" else ["service_manager", "head_of_service"]
        if closed_at is not None:
            status = "met" if closed_at <= due else "missed"
        else:
            status = "open" if due > self.as_of else "missed"
        await self.add("deadline", self.ids("deadline"), self.org, aid, None, None, None, f"state:{state}", due,
                       status, escalate, since, closed_at if status == "met" else (due + dt.timedelta(minutes=1) if status == "missed" else None))

    async def finalise(self, aid, ci, auditor, qa, grades, at, kind) -> None:
        rng, ids = self.rng, self.ids
        worker, team, ext = self.case_worker[ci], self.case_team[ci], self.case_ext[ci]
        moderated = dict(grades["post_conversation"])
        changed = rng.random() < 0.15
        if changed:
            d = DOMAINS[rng.randrange(len(DOMAINS))]
            moderated[d] = LEVELS[max(0, min(3, LEVELS.index(moderated[d]) + rng.choice((-1, 1))))]
        reason = "Moderated: the evidence supports a different grade." if changed else ""
        await self.add("review", ids("review"), aid, qa, "accepted", reason, at)
        for d in DOMAINS:
            for phase in ("moderated", "final"):
                level = moderated[d]
                await self.add("grade", ids("grade"), aid, self.org, phase, d, self.scale_key, level,
                               LEVELS.index(level), EVIDENCE[LEVELS.index(level) * 2 % len(EVIDENCE)], qa, at)
        await self.trail(at, qa, "allocation", aid, "transition:accept", {"state": ["qa_review", "final"]}
                         | ({"reason": reason} if reason else {}))
        overall = moderated["overall"]
        link = f"/audits/{aid}"
        tm = self.manager_of_team.get(team)
        for who in (worker, tm):
            await self.notify(who, "escalation:final_alert", f"Audit of case {ext} is final",
                              f"The audit of case {ext} is final.", link, aid, at)
        if overall in ("requires_improvement", "inadequate"):
            if kind == "audit":
                self.finals_for_reaudit.append((aid, ci))
            rule = "inadequate_smart_actions" if overall == "inadequate" else "requires_improvement_discussion"
            fid = ids("follow_up")
            due = at + dt.timedelta(days=14)
            done = due < self.as_of and rng.random() < 0.9
            assignees = list(dict.fromkeys([worker, tm] if tm else [worker]))
            await self.add("follow_up", fid, self.org, aid, f"{COUNCIL}:{rule}", "Discuss the audit and agree actions",
                           assignees, due, "done" if done else "open",
                           "Discussed and agreed." if done else "", tm if done else None,
                           due - dt.timedelta(days=2) if done else None, at)
            # The list's rows by person, as core.services.follow_ups writes them.
            for person in assignees:
                await self.add("follow_up_assignee", ids("follow_up_assignee"), fid, person)
            status = "met" if done else ("missed" if due < self.as_of else "open")
            await self.add("deadline", ids("deadline"), self.org, aid, fid, None, None, "follow_up", due, status, [],
                           at, due - dt.timedelta(days=2) if done else (due + dt.timedelta(minutes=1) if status == "missed" else None))
            await self.notify(tm, f"escalation:{rule}", f"Required: discuss the audit of case {ext}",
                              "HAR 2.13: discuss within 10 working days.", link, aid, at)
        # SMART actions from the audit's recommendations (CORE-12).
        for k in range(rng.choice((2, 3, 3, 4))):
            await self.action(aid, None, worker, auditor, at, k)
        if rng.random() < 0.03:
            await self.dispute(aid, worker, grades, moderated, at)

    async def action(self, aid, dispute, owner, by, at, k) -> None:
        rng, ids = self.rng, self.ids
        act = ids("action")
        what = ACTIONS[(act + k) % len(ACTIONS)]
        due_on = (at + dt.timedelta(days=rng.randrange(10, 45))).date()
        due_at = end_of_london_day(due_on)
        settled = due_at + dt.timedelta(days=20) < self.as_of
        r = rng.random()
        status = ("done" if r < 0.9 else "cancelled" if r < 0.95 else "open") if settled else ("done" if r < 0.3 else "open")
        closed = self.when(at, 1, (due_at - at).days + 1) if status != "open" else None
        await self.add("action", act, self.org, aid, dispute, "", what, owner, due_on, due_at, status, by, at, closed)
        deadline_status = "met" if status != "open" else ("missed" if due_at < self.as_of else "open")
        await self.add("deadline", ids("deadline"), self.org, aid, None, None, act, "action_due", due_at, deadline_status,
                       [], at, closed if closed else (due_at + dt.timedelta(minutes=1) if deadline_status == "missed" else None))
        await self.notify(owner, "action", f"Action for you by {due_on:%-d %B %Y}: {what}", f"Set you an action: {what}",
                          f"/actions/{act}", aid, at)
        await self.trail(at, by, "action", act, "action_created",
                         {"what": what, "owner": owner, "due_on": due_on.isoformat(), "allocation": aid, "dispute": dispute, "plan": ""})
        if closed:
            await self.add("action_update", ids("action_update"), act, owner, "Completed.", status, closed)
            await self.trail(closed, owner, "action", act, "action_updated", {"text": "Completed.", "status": ["open", status]})

    async def dispute(self, aid, worker, grades, moderated, at) -> None:
        rng, ids = self.rng, self.ids
        did = ids("dispute")
        raised = at + dt.timedelta(days=rng.randrange(1, 10))
        if raised >= self.as_of:
            raised = at
        d = DOMAINS[rng.randrange(len(DOMAINS) - 1)]
        current = moderated[d]
        proposed = LEVELS[max(0, LEVELS.index(current) - 1)] if current != LEVELS[0] else LEVELS[1]
        domains = {d: {"current": current, "proposed": proposed, "rationale": "The criteria support a better grade."}}
        settled = raised + dt.timedelta(days=30) < self.as_of
        amended = settled and rng.random() < 0.4
        resolved = raised + dt.timedelta(days=rng.randrange(5, 25)) if settled else None
        state = "resolved" if settled else "informal"
        state_due = None if settled else raised + dt.timedelta(days=10)
        await self.add("dispute", did, self.org, aid, worker, self.dispute_key, self.dispute_version, state, state_due,
                       "safeguarding_corporate_parenting_dct", domains, ("amended" if amended else "upheld") if settled else "",
                       "Agreed at the meeting." if settled else "", 2 if settled else 0, raised, resolved or raised, resolved)
        await self.add("deadline", ids("deadline"), self.org, aid, None, did, None, "dispute:informal", raised + dt.timedelta(days=10),
                       "met" if settled else ("open" if raised + dt.timedelta(days=10) > self.as_of else "missed"),
                       ["team_manager"], raised, resolved)
        await self.trail(raised, worker, "dispute", did, "dispute_raised",
                         {"allocation": aid, "criteria": "safeguarding_corporate_parenting_dct", "domains": domains, "state": "informal"})
        await self.trail(raised, worker, "allocation", aid, "dispute_raised", {"dispute": did, "domains": [d]})
        if settled:
            await self.trail(resolved, None, "dispute", did, "transition:resolve_informally", {"state": ["informal_outcome", "resolved"]})
            if amended:
                await self.add("grade", ids("grade"), aid, self.org, "final", d, self.scale_key, proposed,
                               LEVELS.index(proposed), "Amended on dispute.", None, resolved)
                await self.trail(resolved, None, "allocation", aid, "grades_amended",
                                 {"dispute": did, "grades": {d: [current, proposed]}, "reason": "Agreed at the meeting."})


def print_counts(result: Generated, out=sys.stdout) -> None:
    want = targets(result.scale)
    staff = result.counts["person"]
    print(f"Generated scale {result.scale:g} (seed {result.seed}, as of {result.as_of:%Y-%m-%d %H:%M} UTC) "
          f"in {result.seconds:.1f}s; bulk rows (beyond load_demo):", file=out)
    for table, n in result.counts.items():
        hint = {"person": "staff", "child_case": "cases", "allocation": "audits", "action": "actions", "trail": "trail"}.get(table)
        print(f"  {table:<14} {n:>10,}" + (f"   (target {want[hint]:,})" if hint else ""), file=out)
    _ = staff


def run_cli(scale: float, seed: int, as_of: dt.datetime | None = None, quiet: bool = False) -> Generated:
    """For ``qaf-bench generate``: settings, plugins, migrate, then generate."""
    from core.cli import _migrate, _prepare

    settings, plugins = _prepare()

    async def go():
        await _migrate()
        return await generate(plugins.registry, scale, seed, as_of, quiet)

    return asyncio.run(go())
