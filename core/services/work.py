"""The programme drives the work (issue 13, PLAT-1, PLAT-2).

Each occurrence of a council's schedule (``core.programme.expand``) becomes a
piece of work owed by one person for one period, issued on the period's
first working day by the sweep, exactly once (the unique ``occurrence`` key:
a second process issuing the same period inserts nothing). Work is done:

- with a form: by audits on that form, started from the work item on a case
  the owner chooses (``start``), or issued by the monthly cycle (Haringey's
  case audits, linked to the owner's work of that month); it is done when
  as many audits as the occurrence asks for are final;
- without a form: by a completion record (``complete``): the date it was
  done, a summary, the outcome and evidence files (``core.services.evidence``);
  where the schedule names a workflow, done only when that reaches a final
  state (``core.services.work_workflow``).

What a person sees of it is ``status``: to do, started, done, done late or
overdue, against the London date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from piccolo.columns.combination import WhereRaw

from core.calendar import LONDON, end_of_london_day, is_working_day, london_date
from core.db import bulk
from core.db.engine import transaction
from core.db.tables import Allocation, ChildCase, Organisation, Person, Work
from core.programme import ProgrammeItem
from core.services import joint, subjects, trail, work_counts
from core.services.context import Context
from core.services.errors import Forbidden, Invalid, NotFound, Unreadable


@dataclass(frozen=True, slots=True)
class WorkItem:
    """One piece of work as a person sees it."""

    id: int
    activity: str
    owner_id: int
    owner: str
    supervisee: str
    starts_on: dt.date
    due_on: dt.date
    count: int
    form_key: str
    form_title: str
    status: str  # to_do | started | done | done_late | overdue
    audits: tuple[dict, ...]  # {id, state, final, case, subject}
    done_on: dt.date | None
    summary: str
    outcome: str
    schedule_key: str
    theme: str = ""  # C17-3: the council's name for the theme, where it has one
    covers_from: dt.date | None = None  # the schedule's look-back window, to the due date (PLAT-3)
    supervisee_id: int | None = None
    covers_to: dt.date | None = None  # the window's last day (PLAT-3)
    window: str = ""  # the window in words, with its dates (PLAT-3)
    # PLAT-2: the date the completion record gives, even while its workflow
    # is under way (``done_on`` is set only once it is done).
    recorded_on: dt.date | None = None
    workflow_key: str = ""  # the completion record's workflow, where the schedule names one
    state: str = ""
    state_label: str = ""
    # PLAT-4: a joint activity's co-auditors (the owner leads), and the peer
    # whose cases the owner audits in a peer pair.
    co_auditors: tuple[str, ...] = ()
    co_auditor_ids: tuple[int, ...] = ()
    peer: str = ""
    peer_id: int | None = None

    def with_for(self, person_id: int | None) -> str:
        """Who else does it, as the person looking at it reads it: the lead
        sees "with" their co-auditors, a co-auditor "with" the lead."""
        from core.services.joint import names

        if person_id in self.co_auditor_ids:
            others = [self.owner] + [n for i, n in zip(self.co_auditor_ids, self.co_auditors) if i != person_id]
            return f"with {names(others)}"
        return f"with {names(self.co_auditors)}" if self.co_auditors else ""
    # What its audits are on (issue 13): case, person or meeting (core.services.subjects).
    about: str = "case"

    @property
    def status_label(self) -> str:
        # A completion record going through its workflow shows where it is.
        if self.status == "started" and self.state_label:
            return self.state_label
        return STATUS_LABELS[self.status]

    @property
    def finished(self) -> bool:
        return self.status in ("done", "done_late")

    @property
    def may_start(self) -> bool:
        """Another audit can be started: it has a form and fewer audits than it asks for."""
        return bool(self.form_key) and not self.finished and len(self.audits) < self.count


STATUS_LABELS = {
    "to_do": "To do",
    "started": "Started",
    "overdue": "Overdue",
    "done": "Done",
    "done_late": "Done late",
}


def occurrence_key(council_key: str, item: ProgrammeItem) -> str:
    return f"{council_key}:{item.schedule}|{item.person_id}|{item.supervisee_id or ''}|{item.due:%Y-%m-%d}"


def period_opens(starts: dt.date) -> dt.date:
    """An occurrence's work is issued on the first working day of its period."""
    day = starts
    while not is_working_day(day):
        day += dt.timedelta(days=1)
    return day


def council_year(council, today: dt.date) -> int:
    """The year the council's QA year containing ``today`` starts in."""
    return today.year if today.month >= council.year_start_month else today.year - 1


async def issue_due(ctx: Context) -> tuple[int, int]:
    """Issue what is due now: each month's case draws (a cycle per council
    that draws cases), then the programme's work, which the drawn audits count
    towards. Returns (draws made, work issued)."""
    from core.services.cycles import issue_due_cycles

    draws = len(await issue_due_cycles(ctx))
    return draws, await issue_due_work(ctx)


async def issue_due_work(ctx: Context) -> int:
    """Issue every occurrence whose period has opened and is not yet past due,
    for every organisation of an enabled council. Returns how many were issued."""
    from core.services.cycles import practice_weeks
    from core.services.programme import council_programme, council_staff

    today = london_date(ctx.now)
    issued = 0
    for organisation in await Organisation.select(Organisation.id, Organisation.council).order_by(Organisation.id):
        if organisation["council"] not in ctx.registry.councils:
            continue
        council = ctx.registry.council(organisation["council"])
        staff = await council_staff(ctx, organisation["id"])
        weeks = await practice_weeks(organisation["id"])
        year = council_year(council, today)
        items = [
            item
            for item in council_programme(ctx, council.key, year, staff, weeks)
            # A period that starts after today opens after today (period_opens >= starts):
            # the cheap test first, for the council's 7,000 items at scale 1.
            if item.due is not None and item.starts is not None and item.starts <= today <= item.due
            and period_opens(item.starts) <= today
        ]
        if items:
            issued += await _issue(ctx, organisation["id"], council.key, items)
    return issued


# The work table's columns as ``_issue`` writes them (the rest take their defaults).
_WORK_COLUMNS = tuple(c._meta.db_column_name for c in Work._meta.columns)


async def _issue(ctx: Context, organisation_id: int, council_key: str, items: list[ProgrammeItem]) -> int:
    """Insert the work for ``items`` not yet issued, with its trail, members,
    linked audits and counts, in one transaction and a few statements
    whatever the number (issue 19 item 4: a month's 575 pieces at scale 1
    took one round of queries each)."""
    from core.db import bulk
    from core.services.cycles import is_unique_violation

    earliest = min(item.starts for item in items)
    existing = {
        row["occurrence"]
        for row in await Work.select(Work.occurrence).where(
            (Work.organisation == organisation_id) & (Work.due_on >= earliest)
        )
    }
    new = [item for item in items if occurrence_key(council_key, item) not in existing]
    if not new:
        return 0
    defaults = {c._meta.db_column_name: c.get_default_value() for c in Work._meta.columns}
    try:
        async with transaction():
            ids = await bulk.reserve_ids("work", len(new))
            rows, trail_rows, members, forms = [], [], [], []
            for work_id, item in zip(ids, new):
                schedule_key = f"{council_key}:{item.schedule}"
                schedule = ctx.registry.schedules[schedule_key].value
                form_key = ctx.registry.ref(council_key, schedule.form, "forms") if schedule.form else ""
                values = defaults | {
                    "id": work_id, "organisation": organisation_id, "occurrence": occurrence_key(council_key, item),
                    "schedule_key": schedule_key, "schedule_version": schedule.version, "activity": item.activity,
                    "owner": item.person_id, "supervisee": item.supervisee_id, "starts_on": item.starts,
                    "due_on": item.due, "needed": item.count, "form_key": form_key, "created_at": ctx.now,
                }
                rows.append(tuple(values[c] for c in _WORK_COLUMNS))
                trail_rows.append(trail.row(
                    ctx, organisation_id=organisation_id, entity="work", entity_id=work_id, action="issued",
                    changes={"schedule": schedule_key, "owner": item.person_id, "due_on": item.due.isoformat(),
                             "count": item.count,
                             **({"co_auditors": list(item.co_auditor_ids)} if item.co_auditor_ids else {}),
                             **({"peer": item.peer_id} if item.peer_id else {})},
                ))
                members += [(work_id, person, "co_auditor") for person in item.co_auditor_ids]  # PLAT-4
                if item.peer_id:
                    members.append((work_id, item.peer_id, "peer"))
                if form_key:
                    forms.append((work_id, item, form_key))
            await bulk.insert("work", _WORK_COLUMNS, rows)
            await bulk.insert("work_member", ("work", "person", "part"), members)
            linked = await _link_issued_audits(ctx, organisation_id, forms, trail_rows)
            await trail.record_many(trail_rows)
            joint_work = {work_id for work_id, _, _ in members}
            for allocation_id, work_id in linked:
                if work_id in joint_work:
                    await joint.from_work(ctx, allocation_id, work_id)  # PLAT-4: a drawn audit of joint work is a joint audit
            await work_counts.issued(ids)  # PLAT-5: the delivery report's counts, in this transaction
    except Exception as error:
        if not is_unique_violation(error):
            raise
        return 0  # another process issued this period first
    return len(new)


async def _link_issued_audits(ctx: Context, organisation_id: int, forms: list[tuple[int, ProgrammeItem, str]],
                              trail_rows: list) -> list[tuple[int, int]]:
    """Audits the monthly cycle already gave each owner on the work's form in
    the work's period count towards it (HAR 2: the month's cycle is the
    month's case audits), earliest allocated first, as many as it asks for;
    work issued earlier in ``forms`` takes its audits first. One read for
    all of them, one UPDATE statement; their trail rows are added to
    ``trail_rows``. Returns (allocation, work) pairs."""
    if not forms:
        return []
    from core.db import bulk

    owners = sorted({item.person_id for _, item, _ in forms})
    keys = sorted({form_key for _, _, form_key in forms})
    low = end_of_london_day(min(item.starts for _, item, _ in forms) - dt.timedelta(days=1))
    high = end_of_london_day(max(item.due for _, item, _ in forms))
    candidates: dict[tuple[int, str], list[dict]] = {}
    for start in range(0, len(owners), 500):
        part = owners[start : start + 500]
        for row in await Allocation.select(Allocation.id, Allocation.auditor, Allocation.form_key, Allocation.due_at).where(
            (Allocation.organisation == organisation_id)
            & Allocation.auditor.is_in(part)
            & Allocation.form_key.is_in(keys)
            & Allocation.work.is_null()
            & (Allocation.due_at >= low)
            & (Allocation.due_at <= high)
        ).order_by(Allocation.id):
            candidates.setdefault((row["auditor"], row["form_key"]), []).append(row)
    linked: list[tuple[int, int]] = []
    for work_id, item, form_key in forms:
        opens, closes = end_of_london_day(item.starts - dt.timedelta(days=1)), end_of_london_day(item.due)
        free = candidates.get((item.person_id, form_key), [])
        taken = [row for row in free if opens <= row["due_at"] <= closes][: item.count]
        for row in taken:
            free.remove(row)
            linked.append((row["id"], work_id))
            trail_rows.append(trail.row(ctx, organisation_id=organisation_id, entity="allocation", entity_id=row["id"],
                                        action="counted_towards_work", changes={"work": work_id}))
    if linked:
        _, connection = bulk._transaction()
        await connection.executemany(bulk.sql_text("UPDATE allocation SET work = {} WHERE id = {}"),
                                     [(work_id, allocation_id) for allocation_id, work_id in linked])
    return linked


async def count_towards(ctx: Context, allocation_id: int, *, owner: int, schedule_key: str,
                        supervisee: int | None, on: dt.date) -> int | None:
    """An audit started elsewhere (the compliance page, BED-4) counts towards
    the owner's issued work of that schedule whose period holds ``on``, while
    it has fewer audits than it asks for. Inside the caller's transaction;
    returns the work's id, or None when there is no such work."""
    query = Work.select(Work.id, Work.needed).where(
        (Work.owner == owner) & (Work.schedule_key == schedule_key) & (Work.starts_on <= on) & (Work.due_on >= on)
    )
    query = query.where(Work.supervisee == supervisee) if supervisee is not None else query.where(Work.supervisee.is_null())
    for row in await query.order_by(Work.due_on):
        if await Allocation.count().where(Allocation.work == row["id"]) < row["needed"]:
            await Allocation.update({Allocation.work: row["id"]}).where(Allocation.id == allocation_id)
            await trail.record(ctx, organisation_id=ctx.actor.organisation_id, entity="allocation", entity_id=allocation_id,
                               action="counted_towards_work", changes={"work": row["id"]})
            await joint.from_work(ctx, allocation_id, row["id"])
            return row["id"]
    return None


# -------------------------------------------------------------------- chasing
async def chase(ctx: Context) -> tuple[int, int]:
    """Remind owners of work that falls due soon, and chase work whose due
    date has passed undone: the owner and their line manager are told, once
    (the UPDATE that sets ``reminded_at``/``missed_at`` is the claim, so two
    sweeping processes never both send). Work with a form whose audits have
    started is left to the audits' own deadlines and escalations. Returns
    (reminded, chased)."""
    from core.calendar import add_working_days
    from core.services import notifications

    today = london_date(ctx.now)
    reminded = chased = 0
    outbox = notifications.Outbox(ctx)
    async with transaction():
        for organisation in await Organisation.select(Organisation.id, Organisation.council):
            if organisation["council"] not in ctx.registry.councils:
                continue
            council = ctx.registry.council(organisation["council"])
            # Open work due within the reminder window, not yet reminded.
            horizon = add_working_days(today, council.work_reminder_working_days)
            if council.work_reminder_working_days:
                soon = await _claim(ctx, organisation["id"], Work.reminded_at, (Work.due_on >= today) & (Work.due_on <= horizon))
                for row in soon:
                    outbox.add(
                        organisation_id=organisation["id"], recipients=[row["owner"]], kind="work_due_soon",
                        subject=f"Due {row['due_on']:%A %-d %B}: {row['activity']}",
                        body=f"{row['activity']}{_for(row)} is due by {row['due_on']:%A %-d %B %Y}.",
                        link=f"/programme/work/{row['id']}",
                    )
                reminded += len(soon)
            late = await _claim(ctx, organisation["id"], Work.missed_at, Work.due_on < today)
            managers = {
                p["id"]: p["line_manager"]
                for p in await Person.select(Person.id, Person.line_manager).where(
                    Person.id.is_in([row["owner"] for row in late] or [0])
                )
            }
            for row in late:
                outbox.add(
                    organisation_id=organisation["id"], recipients=[row["owner"], managers.get(row["owner"])],
                    kind="work_overdue",
                    subject=f"Overdue: {row['activity']} by {row['owner_name']}",
                    body=f"{row['activity']}{_for(row)}, owed by {row['owner_name']}, was due by "
                    f"{row['due_on']:%A %-d %B %Y} and has not been done.",
                    link=f"/programme/work/{row['id']}",
                )
                await trail.record(ctx, organisation_id=organisation["id"], entity="work", entity_id=row["id"],
                                   action="missed", changes={"due_on": row["due_on"].isoformat()})
            chased += len(late)
        await outbox.flush()
    return reminded, chased


def _for(row: dict) -> str:
    return f" for {row['supervisee_name']}" if row.get("supervisee_name") else ""


async def _claim(ctx: Context, organisation_id: int, column, when) -> list[dict]:
    """Open work matching ``when`` whose ``column`` is unset: set it now and
    return the rows this process set (one that another process set first is no
    longer unset)."""
    candidates = await Work.select(Work.id).where(
        (Work.organisation == organisation_id) & Work.done_on.is_null() & column.is_null() & Work.missed_at.is_null() & when
    )
    if not candidates:
        return []
    ids = [c["id"] for c in candidates]
    # Work whose audits are under way is chased through the audits' own deadlines.
    started = {
        a["work"] for a in await Allocation.select(Allocation.work).where(Allocation.work.is_in(ids))
    }
    ids = [i for i in ids if i not in started]
    if not ids:
        return []
    claimed = await Work.update({column: ctx.now}).where(Work.id.is_in(ids) & column.is_null()).returning(Work.id)
    if not claimed:
        return []
    return await Work.select(
        Work.id, Work.owner, Work.activity, Work.due_on, Work.owner.display_name.as_alias("owner_name"),
        Work.supervisee.display_name.as_alias("supervisee_name"),
    ).where(Work.id.is_in([c["id"] for c in claimed])).order_by(Work.id)


# --------------------------------------------------------------------- reading
def _may_see_all(ctx: Context) -> bool:
    return ctx.actor.can("administer") or ctx.actor.can("view_all_audits")


async def list_work(ctx: Context, *, owner: int | None = None, due_from: dt.date | None = None,
                    due_to: dt.date | None = None, after: int | None = None, limit: int | None = None,
                    finished_before: dt.date | None = None) -> list[WorkItem]:
    """Work of the actor's organisation, soonest due first (by due date, then
    id). Without the right to see everyone's work, only the actor's own.
    ``limit`` of them after the work ``after`` (keyset, issue 19: the API's
    pages), which must be work of the actor's organisation.
    ``finished_before`` (a London date): work finished before it and due
    before today is not read (My programme: a person's years of done work)."""
    assert ctx.actor
    if after is not None and not await bulk.fetch(
            "SELECT 1 FROM work WHERE id = {} AND organisation = {}", after, ctx.actor.organisation_id):
        raise Unreadable("The page to continue from is not work of your organisation: "
                         "follow the Link header of the page before, or start again without it")
    if owner is None and not _may_see_all(ctx):
        owner = ctx.actor.person_id
    if owner is not None and owner != ctx.actor.person_id and not _may_see_all(ctx):
        raise Forbidden("You can see only your own work")
    query = Work.select(
        Work.all_columns(), Work.owner.display_name.as_alias("owner_name"),
        Work.supervisee.display_name.as_alias("supervisee_name"),
    ).where(Work.organisation == ctx.actor.organisation_id)
    if owner is not None:
        # PLAT-4: a person's work is what they owe and joint work they co-audit.
        joint_ids = await joint.joint_work_of(owner)
        query = query.where((Work.owner == owner) | Work.id.is_in(joint_ids)) if joint_ids else query.where(Work.owner == owner)
    if due_from is not None:
        query = query.where(Work.due_on >= due_from)
    if due_to is not None:
        query = query.where(Work.due_on <= due_to)
    if finished_before is not None:
        # Issue 19: only what can be finished before the date, judged as
        # ``_items`` judges it: a completion record's ``done_on``; work on a
        # form, as many final audits as it needs and none final since. What
        # falls due today or later is always read (My programme matches it
        # against what opens next).
        since = dt.datetime.combine(finished_before, dt.time(0), tzinfo=LONDON).astimezone(dt.timezone.utc)
        query = query.where(WhereRaw(
            "NOT (work.due_on < {} AND ("
            "(work.form_key = '' AND work.done_on IS NOT NULL AND work.done_on < {})"
            " OR (work.form_key <> ''"
            " AND (SELECT COUNT(*) FROM allocation a WHERE a.work = work.id AND a.finalised_at IS NOT NULL) >= work.needed"
            " AND NOT EXISTS (SELECT 1 FROM allocation a WHERE a.work = work.id AND a.finalised_at >= {}))))",
            london_date(ctx.now), finished_before, since))
    if after is not None:
        query = query.where(WhereRaw(
            "(work.due_on > (SELECT w.due_on FROM work w WHERE w.id = {})"
            " OR (work.due_on = (SELECT w.due_on FROM work w WHERE w.id = {}) AND work.id > {}))", after, after, after))
    query = query.order_by(Work.due_on).order_by(Work.id)
    if limit is not None:
        query = query.limit(limit)
    return await _items(ctx, await query)


async def get_work(ctx: Context, work_id: int) -> WorkItem:
    assert ctx.actor
    rows = await Work.select(
        Work.all_columns(), Work.owner.display_name.as_alias("owner_name"),
        Work.supervisee.display_name.as_alias("supervisee_name"),
    ).where((Work.id == work_id) & (Work.organisation == ctx.actor.organisation_id))
    if not rows or not (await _may_see(ctx, rows[0]) or await joint.is_co_auditor_of_work(work_id, ctx.actor.person_id)):
        raise NotFound("No such work")
    return (await _items(ctx, rows))[0]


async def _may_see(ctx: Context, row: dict) -> bool:
    """The one policy for a piece of work and its evidence (PLAT-6): its
    owner, the QA team, the owner's line managers up the line, and the people
    its completion workflow names (``work_workflow.names``)."""
    from core.services import work_workflow
    from core.services.escalations import Ladder

    if row["owner"] == ctx.actor.person_id or _may_see_all(ctx):
        return True
    if ctx.actor.person_id in await Ladder().chain_above(row["owner"]):
        return True
    return await work_workflow.names(ctx, row)


async def _items(ctx: Context, rows: list[dict]) -> list[WorkItem]:
    today = london_date(ctx.now)
    themes = {t.key: t.label for t in ctx.registry.council(ctx.actor.council).themes} if ctx.actor else {}
    audits: dict[int, list[dict]] = {}
    if rows:
        ids = [r["id"] for r in rows]
        # By ``allocation_work`` (work_counts.hint: SQLite's statistics may
        # say otherwise, and it then read every audit of the council).
        for audit in await Allocation.raw(
            "SELECT a.id AS id, a.work AS work, a.state AS state, a.finalised_at AS finalised_at,"
            " a.workflow_key AS workflow_key, a.workflow_version AS workflow_version,"
            ' c.external_id AS "case", a.subject_person AS subject_person, sp.display_name AS subject_person_name,'
            f" a.meeting_type AS meeting_type, a.meeting_on AS meeting_on FROM allocation a{work_counts.hint()}"
            " LEFT JOIN child_case c ON c.id = a.child_case LEFT JOIN person sp ON sp.id = a.subject_person"
            f" WHERE a.work IN ({', '.join('{}' for _ in ids)}) ORDER BY a.id", *ids,
        ):
            audit["case_external_id"] = audit["case"]
            audit["council"] = ctx.actor.council if ctx.actor else ""
            subjects.describe(audit, ctx.registry)
            audits.setdefault(audit["work"], []).append(audit)
    members = await joint.members_of([r["id"] for r in rows])
    out = []
    for row in rows:
        linked = audits.get(row["id"], [])
        shown = await _audits_shown(ctx, row, linked, members.get(row["id"], {}))
        final = [a for a in linked if a["finalised_at"] is not None]
        done_on = row["done_on"]
        # PLAT-2: recorded, but done only when its workflow reaches a final state.
        awaiting = bool(row["workflow_key"]) and row["final_at"] is None and row["recorded_on"] is not None
        if row["form_key"] and len(final) >= row["needed"]:
            done_on = max(london_date(a["finalised_at"]) for a in final)
        if done_on is not None:
            status = "done" if done_on <= row["due_on"] else "done_late"
        elif awaiting:
            status = "started"
        elif row["due_on"] < today:
            status = "overdue"
        elif linked:
            status = "started"
        else:
            status = "to_do"
        form_title = ctx.registry.form(row["form_key"]).title if row["form_key"] else ""
        out.append(
            WorkItem(
                id=row["id"], activity=row["activity"], owner_id=row["owner"], owner=row["owner_name"],
                supervisee=row["supervisee_name"] or "", starts_on=row["starts_on"], due_on=row["due_on"],
                count=row["needed"], form_key=row["form_key"], form_title=form_title, status=status,
                audits=tuple({"id": a["id"], "state": a["state"], "final": a["finalised_at"] is not None,
                              "case": a["case"] or "", "subject": a["subject_title"]} for a in shown),
                done_on=done_on, summary=row["summary"], outcome=row["outcome"], schedule_key=row["schedule_key"],
                theme=themes.get(row["theme"], row["theme"]),
                covers_from=_covers_from(ctx, row["schedule_key"], row["due_on"]),
                supervisee_id=row["supervisee"],
                covers_to=(_window(ctx, row["schedule_key"], row["due_on"]) or (None, None))[1],
                window=window_words(ctx.registry, row["schedule_key"], row["due_on"]),
                recorded_on=row["recorded_on"] or (row["done_on"] if not row["form_key"] else None), workflow_key=row["workflow_key"], state=row["state"],
                state_label=_state_label(ctx, row),
                co_auditors=tuple(n for _, n in members.get(row["id"], {}).get("co_auditor", [])),
                co_auditor_ids=tuple(i for i, _ in members.get(row["id"], {}).get("co_auditor", [])),
                peer=next((n for _, n in members.get(row["id"], {}).get("peer", [])), ""),
                peer_id=next((i for i, _ in members.get(row["id"], {}).get("peer", [])), None),
                about=subjects.about_of(ctx.registry, row["schedule_key"]) if row["form_key"] else "case",
            )
        )
    return out


async def _audits_shown(ctx: Context, row: dict, linked: list[dict], members: dict) -> list[dict]:
    """The audits a piece of work lists (case number, state, a link): all of
    them to its owner, co-auditors and the QA administrators; to anyone else
    only those they can open (issue 16: a view-only role or the owner's line
    manager saw drafts' case numbers they would get 404 for)."""
    if ctx.actor is None or not linked:
        return linked
    me = ctx.actor.person_id
    if me == row["owner"] or me in {i for i, _ in members.get("co_auditor", [])} or (
        ctx.actor.can("administer") and ctx.actor.can("view_all_audits")
    ):
        return linked
    from core.services import audits as audit_service

    shown = []
    for audit in linked:
        if ctx.actor.can("view_all_audits"):
            # No query per audit on the programme's long lists: a view-only
            # role opens every audit out of its auditor's hands, no draft.
            workflow = ctx.registry.workflow(audit["workflow_key"], audit["workflow_version"])
            if audit_service.sees_every_audit_in(ctx.actor, workflow, audit["state"]):
                shown.append(audit)
            continue
        try:
            await audit_service.visible(ctx, audit["id"])
        except NotFound:
            continue
        shown.append(audit)
    return shown


def _state_label(ctx: Context, row: dict) -> str:
    if not row["workflow_key"]:
        return ""
    from core import workflow as wf

    return wf.state(ctx.registry.workflow(row["workflow_key"], row["workflow_version"]), row["state"]).label


def _covers_from(ctx: Context, schedule_key: str, due_on: dt.date) -> dt.date | None:
    """The first day of what the work looks back over: ``look_back_months``
    whole months up to the month it is due ("the past six months"), or
    ending ``look_back_ends_months_before`` months before it (PLAT-3)."""
    span = _window(ctx, schedule_key, due_on)
    return span[0] if span else None


def _window(ctx: Context, schedule_key: str, due_on: dt.date) -> tuple[dt.date, dt.date] | None:
    """The days the work looks back over (PLAT-3, ``core.case_criteria.window``)."""
    from core.case_criteria import window

    supplied = ctx.registry.schedules.get(schedule_key)
    return window(supplied.value.frequency, due_on) if supplied else None


def window_words(registry, schedule_key: str, due_on: dt.date) -> str:
    """PLAT-3: the work's look-back window in words, with its London dates
    (the work page, the audit page and the audit's PDF show it)."""
    from core.case_criteria import window_words as words

    supplied = registry.schedules.get(schedule_key)
    return words(supplied.value.frequency, due_on) if supplied else ""


# ---------------------------------------------------------------------- doing
async def complete(ctx: Context, work_id: int, *, done_on: dt.date | None, summary: str, outcome: str,
                   check_only: bool = False) -> WorkItem:
    """Record work without a form as done (PLAT-2): when, what, and the outcome.
    ``check_only``: raise what is wrong, write nothing."""
    item = await _owned(ctx, work_id)
    if item.form_key:
        raise Invalid(f"{item.activity} is done by completing its {item.form_title}, not by a completion record")
    if item.finished or item.recorded_on is not None:
        raise Invalid(f"{item.activity} was already recorded as done on {(item.recorded_on or item.done_on):%-d %B %Y}")
    errors: dict[str, str] = {}
    today = london_date(ctx.now)
    if done_on is None:
        errors["done_on"] = f"Enter the date it was done, for example {today.day} {today.month} {today.year}"
    elif done_on > today:
        errors["done_on"] = "The date it was done must be today or in the past"
    elif done_on < item.starts_on - dt.timedelta(days=366):
        errors["done_on"] = f"The date it was done must be after {item.starts_on - dt.timedelta(days=366):%-d %B %Y}"
    if not summary.strip():
        errors["summary"] = "Enter a summary of what was done"
    if not outcome.strip():
        errors["outcome"] = "Enter the outcome: what was found and what happens next"
    if errors:
        raise Invalid("Check the completion record", errors)
    if check_only:
        return item
    from core.services import work_workflow

    # PLAT-2: where the schedule names a workflow, the record enters its
    # initial state and the work is done when a final one is reached.
    workflow, flow = work_workflow.entering(ctx, item.schedule_key)
    async with transaction():
        await Work.update(
            {Work.done_on: done_on, Work.recorded_on: done_on, Work.summary: summary.strip(), Work.outcome: outcome.strip(),
             Work.done_by: ctx.actor.person_id, Work.done_at: ctx.now, **flow}
        ).where(Work.id == work_id)
        changes = {"done_on": done_on.isoformat(), "summary": summary.strip(), "outcome": outcome.strip()}
        if workflow is not None:
            changes["state"] = workflow.initial
        await trail.record(ctx, organisation_id=ctx.actor.organisation_id, entity="work", entity_id=work_id,
                           action="completed", changes=changes)
        if workflow is not None:
            await work_workflow.tell(ctx, work_id, workflow.initial)
        await work_counts.completed(work_id)
    return await get_work(ctx, work_id)


async def start(ctx: Context, work_id: int, case_number: str = "", *, person: int | str | None = None,
                meeting_type: str = "", meeting_on: dt.date | None = None, date_error: str | None = None) -> int:
    """Start an audit on the work's form, on what its schedule says the audit
    is about (issue 13): the case the owner chose; the person (``person``,
    by default the work's supervisee); or the meeting observed (its type, its
    date, and optionally the case it was about). The audit is due when the
    work is. Every field's problem is raised at once. Returns the new audit's id."""
    from core.services.allocations import create_allocation

    item = await _owned(ctx, work_id)
    if not item.form_key:
        raise Invalid(f"{item.activity} has no form: record it as done instead")
    if not item.may_start:
        raise Invalid(f"Every audit {item.activity} asks for has been started")
    number = (case_number or "").strip()
    case = None
    subject_person = None
    chosen = ""
    if item.about == "person":
        subject_person = await _chosen_person(ctx, item, person)
        chosen = subject_person["display_name"]
    elif item.about == "meeting":
        case = await _meeting_problems(ctx, item, number, meeting_type, meeting_on, date_error)
        chosen = f"{subjects.meeting_label(ctx.registry, ctx.actor.council, meeting_type)}, {meeting_on:%-d %B %Y}"
    else:
        if not number:
            raise Invalid("Choose a case", {"case": "Enter the case number of the case to audit"})
        case = await ChildCase.select().where(
            (ChildCase.organisation == ctx.actor.organisation_id) & (ChildCase.external_id == number)
        ).first()
        if case is None:
            raise Invalid("Choose a case", {"case": f"There is no case {number}"})
        problem = await _case_problem(ctx, item, case)
        if problem:
            raise Invalid("Choose a case", {"case": problem})
        chosen = f"case {number}"
    form = ctx.registry.form(item.form_key)
    council = item.form_key.split(":")[0]
    workflow_key = ctx.registry.ref(council, form.workflow, "workflows")
    auditor = await Person.select().where(Person.id == ctx.actor.person_id).first()
    async with transaction():
        allocation_id = await create_allocation(
            ctx, organisation_id=ctx.actor.organisation_id, case=case, auditor=auditor, kind="audit",
            reason=f"{item.activity}, due {item.due_on:%-d %B %Y}: {chosen} chosen by {auditor['display_name']}.",
            form_key=item.form_key, workflow_key=workflow_key, due_at=end_of_london_day(item.due_on),
            subject_person=subject_person,
            meeting_type=meeting_type if item.about == "meeting" else "",
            meeting_on=meeting_on if item.about == "meeting" else None,
        )
        await Allocation.update({Allocation.work: work_id}).where(Allocation.id == allocation_id)
        changes: dict = {"allocation": allocation_id}
        if case is not None:
            changes["case"] = case["external_id"]
        if subject_person:
            changes["person"] = subject_person["display_name"]
        if item.about == "meeting":
            changes |= {"meeting": chosen, "meeting_type": meeting_type, "meeting_on": meeting_on.isoformat()}
        await trail.record(ctx, organisation_id=ctx.actor.organisation_id, entity="work", entity_id=work_id,
                           action="audit_started", changes=changes)
        await joint.from_work(ctx, allocation_id, work_id)  # PLAT-4: a joint audit, its co-auditors told
    return allocation_id


def _schedule_of(ctx: Context, item: WorkItem):
    supplied = ctx.registry.schedules.get(item.schedule_key)
    return supplied.value if supplied is not None else None


async def eligible_people(ctx: Context, item: WorkItem) -> list[dict]:
    """Whom the owner may choose for work on a person (``subjects.eligible_people``)."""
    schedule = _schedule_of(ctx, item)
    if schedule is None:
        return []
    return await subjects.eligible_people(ctx, item, schedule.person_from, schedule.subject)


def meeting_types(ctx: Context, item: WorkItem) -> list[tuple[str, str]]:
    """(key, label) of the meetings the work may observe."""
    return subjects.meeting_types_of(ctx.registry, item.schedule_key)


def meeting_window(ctx: Context, item: WorkItem) -> tuple[dt.date, dt.date]:
    """The dates a meeting observed for this work may have been held on: in
    its period (or its look-back window), and not after today."""
    return item.covers_from or item.starts_on, min(item.due_on, london_date(ctx.now))


async def _chosen_person(ctx: Context, item: WorkItem, person: int | str | None) -> dict:
    people = await eligible_people(ctx, item)
    schedule = _schedule_of(ctx, item)
    if (person is None or person == "") and schedule is not None and schedule.person_from == "supervisee":
        person = item.supervisee_id
    if person is None or person == "":
        raise Invalid("Choose a person", {"person": "Choose the person this audit is on"})
    try:
        person_id = int(person)
    except (TypeError, ValueError):
        raise Invalid("Choose a person", {"person": "Choose the person this audit is on from the list"}) from None
    if person_id == item.owner_id:
        raise Invalid("Choose a person", {"person": "You cannot audit or observe yourself"})
    found = next((p for p in people if p["id"] == person_id), None)
    if found is None:
        raise Invalid("Choose a person", {"person": "Choose someone from the list: that person is not one you may choose for this work"})
    return found


async def _meeting_problems(ctx: Context, item: WorkItem, number: str, meeting_type: str,
                            meeting_on: dt.date | None, date_error: str | None) -> dict | None:
    """Check a meeting's details, every field at once; the case it was about, if named."""
    errors: dict[str, str] = {}
    if meeting_type not in {key for key, _ in meeting_types(ctx, item)}:
        errors["meeting_type"] = "Choose the type of meeting observed"
    today = london_date(ctx.now)
    earliest, latest = meeting_window(ctx, item)
    if date_error:
        errors["meeting_on"] = date_error
    elif meeting_on is None:
        errors["meeting_on"] = f"Enter the date of the meeting, for example {today.day} {today.month} {today.year}"
    elif meeting_on > today:
        errors["meeting_on"] = "The date of the meeting must be today or in the past"
    elif meeting_on < earliest:
        errors["meeting_on"] = f"The date of the meeting must be on or after {earliest:%-d %B %Y}"
    elif meeting_on > latest:
        errors["meeting_on"] = f"The date of the meeting must be on or before {latest:%-d %B %Y}"
    case = None
    if number:
        case = await ChildCase.select().where(
            (ChildCase.organisation == ctx.actor.organisation_id) & (ChildCase.external_id == number)
        ).first()
        if case is None:
            errors["case"] = f"There is no case {number}"
    if errors:
        raise Invalid("Check the meeting's details", errors)
    return case


async def eligible_cases(ctx: Context, item: WorkItem, limit: int = 20) -> list[dict]:
    """A few cases the owner may choose for this work (the start page suggests them)."""
    query = ChildCase.select(ChildCase.id, ChildCase.external_id, ChildCase.category, ChildCase.team,
                             ChildCase.allocated_worker).where(
        (ChildCase.organisation == ctx.actor.organisation_id) & ChildCase.allocated_worker.is_not_null()
    )
    if item.supervisee_id is not None:
        query = query.where(ChildCase.allocated_worker == item.supervisee_id)
    elif item.peer_id is not None:
        query = query.where(ChildCase.allocated_worker.is_in(await joint.peer_caseholders(item.peer_id)))  # PLAT-4
    else:
        query = query.where(ChildCase.allocated_worker != item.owner_id)
    supplied = ctx.registry.schedules.get(item.schedule_key)
    from core.services import case_attributes

    if supplied is not None and case_attributes.narrows(supplied.value):
        # PLAT-3: suggest only cases meeting the schedule's criteria and window.
        council = ctx.registry.council(ctx.actor.council)
        qualifying = await case_attributes.qualifying(ctx.actor.organisation_id, council, supplied.value,
                                                      item.starts_on, item.due_on)
        # A few thousand ids at most in one IN (...): the page suggests twenty.
        query = query.where(ChildCase.id.is_in(sorted(qualifying)[:5000] or [0]))
    cases = await query.order_by(ChildCase.id).limit(limit * 3)
    problems = await _case_problems(ctx, item, cases)
    return [case for case, problem in zip(cases, problems) if problem is None][:limit]


async def _case_problem(ctx: Context, item: WorkItem, case: dict) -> str | None:
    return (await _case_problems(ctx, item, [case]))[0]


async def _case_problems(ctx: Context, item: WorkItem, cases: list[dict]) -> list[str | None]:
    """Why the owner may not audit each case for this work, or None (CORE-9:
    never their own case; never their own team's unless the council allows
    it, save where the activity audits a line report's records; a
    per-supervisee activity is of that supervisee's cases; never a case
    already being audited). Three reads, however many cases."""
    council = ctx.registry.council(ctx.actor.council)
    allow_own_team = council.cycles.allow_own_team if council.cycles else False
    # BED s.4: a Team Manager audits "their Advanced Practitioner's case
    # specific supervision": the cases that supervision is of are the team's
    # own, so an activity auditing a line report's records (``subject``) is
    # not held to the case draw's other-teams rule.
    supplied = ctx.registry.schedules.get(item.schedule_key)
    audits_a_report = supplied is not None and supplied.value.subject is not None
    owner_team = (await Person.select(Person.team).where(Person.id == item.owner_id).first())["team"]
    peer_holders = set(await joint.peer_caseholders(item.peer_id)) if item.peer_id is not None else set()
    ids = [case["id"] for case in cases]
    busy = {
        row["child_case"]
        for row in await Allocation.select(Allocation.child_case).where(
            Allocation.child_case.is_in(ids or [0]) & Allocation.finalised_at.is_null()
        )
    }
    problems: list[str | None] = []
    for case in cases:
        problem = None
        if case["allocated_worker"] is None:
            problem = f"Case {case['external_id']} is closed"
        elif item.supervisee_id is not None:
            # BED s.3: a compliance audit is of a case the supervisee holds, by their manager.
            if case["allocated_worker"] != item.supervisee_id:
                problem = f"Choose a case held by {item.supervisee}"
        elif case["allocated_worker"] == item.owner_id:
            problem = "You cannot audit a case you hold"
        elif item.peer_id is not None:
            # PLAT-4: a peer audits its peer's cases (held by the peer or by
            # those the peer line-manages), whatever their team.
            if case["allocated_worker"] not in peer_holders:
                problem = (f"In a peer audit you audit your peer's cases: choose a case held by {item.peer}"
                           + (" or their team" if len(peer_holders) > 1 else ""))
        elif not allow_own_team and not audits_a_report and owner_team is not None and case["team"] == owner_team:
            problem = "You cannot audit a case held in your own team"
        if problem is None and case["id"] in busy:
            problem = f"Case {case['external_id']} is already being audited"
        problems.append(problem)
    if supplied is not None and any(p is None for p in problems):
        await _criteria_problems(ctx, council, supplied.value, item, cases, problems)
    return problems


async def _criteria_problems(ctx: Context, council, schedule, item: WorkItem, cases: list[dict],
                             problems: list[str | None]) -> None:
    """PLAT-3: a case that fails the schedule's criteria or window, with the
    reason, judged on the work's period (one more read, only when it narrows)."""
    from core.services import case_attributes

    if not case_attributes.narrows(schedule):
        return
    ids = [case["id"] for case, problem in zip(cases, problems) if problem is None]
    rows = {
        row["id"]: row
        for row in await ChildCase.select(ChildCase.id, ChildCase.attributes, ChildCase.involvement_started_on).where(
            ChildCase.id.is_in(ids or [0])
        )
    }
    for index, case in enumerate(cases):
        if problems[index] is None and case["id"] in rows:
            why = case_attributes.problem(council, schedule, rows[case["id"]], item.starts_on, item.due_on)
            if why:
                problems[index] = f"Case {case['external_id']} cannot be chosen for {item.activity}: {why}"


async def _owned(ctx: Context, work_id: int) -> WorkItem:
    item = await get_work(ctx, work_id)
    if item.owner_id != ctx.actor.person_id:
        raise Forbidden(f"Only {item.owner} can do this work")
    return item


__all__ = [
    "STATUS_LABELS", "WorkItem", "complete", "council_year", "eligible_cases", "eligible_people", "get_work",
    "issue_due_work", "list_work", "meeting_types", "meeting_window", "start",
]
