"""SMART actions (CORE-12, HAR-13): what, who, by when, and progress.

An action comes from an audit's recommendations, a dispute's outcome, or a
plan. Its due date is a Deadline (``action_due``) that the sweep acts on once:
the owner and their line manager are told and a ``deadline_passed`` event is
fired for the council's escalation rules. Owners see their actions; managers
see the overdue actions of everyone below them in the line-management chain.
The next audit (or re-audit) of the same case shows the last audit's actions.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from core.calendar import end_of_london_day, london_date
from piccolo.columns.combination import WhereRaw

from core.db import bulk
from core.db.engine import transaction
from core.db.tables import Action, ActionUpdate, Allocation, Deadline, Dispute, FollowUp, Person
from core.services import audits, escalations, notifications, trail
from core.services.context import Context
from core import limits
from core.services.errors import Forbidden, Invalid, NotFound, TooMany, Unreadable

STATUSES = ("open", "done", "cancelled")

_COLUMNS = (
    Action.all_columns(),
    Action.owner.display_name.as_alias("owner_name"),
    Action.owner.line_manager.as_alias("owner_manager"),
)


def _date(value) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value or "").strip())
    except ValueError:
        return None


async def _may_act_on_allocation(ctx: Context, allocation_id: int) -> dict:
    row, people, held = await audits.visible(ctx, allocation_id)
    return row


async def create(
    ctx: Context,
    *,
    what: str,
    owner_id: int | None,
    due_on,
    allocation_id: int | None = None,
    dispute_id: int | None = None,
    plan: str = "",
    action_plan_id: int | None = None,
    kind: str = "",
    review_on=None,
    one_of_many: bool = False,
) -> int:
    """Set a SMART action. ``one_of_many``: one row of a form that sets several
    at once (a compliance audit's remedial actions), counted by its form, not
    against the hourly limit."""
    assert ctx.actor
    if action_plan_id is not None:
        from core.services import action_plans

        # Only the plan's body (or QA administrators) add to it, and not once complete.
        await action_plans.writable(ctx, action_plan_id)
    recent = await Action.count().where(
        (Action.created_by == ctx.actor.person_id) & (Action.created_at > ctx.now - dt.timedelta(hours=1))
    )
    if recent >= limits.ACTIONS_PER_HOUR and not one_of_many:
        raise TooMany(f"You have set {recent} actions in the last hour, the most anyone may; try again later")
    errors: dict[str, str] = {}
    what = (what or "").strip()
    if not what:
        errors["what"] = "Say what is to be done"
    elif message := limits.too_long(what, limits.ACTION_WHAT, "What is to be done"):
        errors["what"] = message
    if dispute_id is not None:
        dispute = await Dispute.select(Dispute.allocation, Dispute.organisation).where(Dispute.id == dispute_id).first()
        if dispute is None or dispute["organisation"] != ctx.actor.organisation_id:
            raise NotFound("There is no dispute with that number that you can see")
        allocation_id = allocation_id or dispute["allocation"]
    owner = None
    if owner_id:
        owner = await Person.select().where(
            (Person.id == owner_id) & (Person.organisation == ctx.actor.organisation_id) & (Person.active == True)  # noqa: E712
        ).first()
    if owner is None:
        errors["owner"] = "Choose who will do it"
    else:
        # Issue 16, case 3: only for someone the setter may choose.
        allowed = await _owners_allowed(ctx, allocation_id=allocation_id, action_plan_id=action_plan_id)
        if allowed is not None and owner["id"] not in allowed:
            errors["owner"] = _refused_owner(owner["display_name"], allocation_id, action_plan_id)
    day = _date(due_on)
    if day is None:
        errors["due_on"] = "Enter the date it is due by"
    elif day < london_date(ctx.now):
        errors["due_on"] = "The due date must be today or in the future"
    elif day.year > london_date(ctx.now).year + 5:
        # A SMART action is timely: no date beyond what anyone plans for
        # (issue 16: year 9999 overflowed the deadline's end of day).
        errors["due_on"] = "The due date must be within the next five years"
    if allocation_id is not None:
        await _may_act_on_allocation(ctx, allocation_id)
    if errors:
        raise Invalid("The action could not be recorded", errors)
    due_at = end_of_london_day(day)
    async with transaction():
        rows = await Action.insert(
            Action(
                organisation=ctx.actor.organisation_id,
                allocation=allocation_id,
                dispute=dispute_id,
                plan=plan.strip(),
                action_plan=action_plan_id,
                kind=kind,
                review_on=_date(review_on),
                what=what,
                owner=owner["id"],
                due_on=day,
                due_at=due_at,
                status="open",
                created_by=ctx.actor.person_id,
                created_at=ctx.now,
            )
        ).returning(Action.id)
        action_id = rows[0]["id"]
        await Deadline.insert(
            Deadline(
                organisation=ctx.actor.organisation_id,
                allocation=allocation_id,
                action=action_id,
                kind="action_due",
                due_at=due_at,
                escalate_to=[],
                created_at=ctx.now,
            )
        )
        if owner["id"] != ctx.actor.person_id:
            await notifications.notify(
                ctx, organisation_id=ctx.actor.organisation_id, recipients=[owner["id"]], kind="action",
                subject=f"Action for you by {day:%-d %B %Y}: {what}"[:200], body=f"{ctx.actor.display_name} set you an action: {what}",
                link=f"/actions/{action_id}", allocation_id=allocation_id,
            )
        await trail.record(
            ctx, organisation_id=ctx.actor.organisation_id, entity="action", entity_id=action_id, action="action_created",
            changes={"what": what, "owner": owner["id"], "due_on": day.isoformat(), "allocation": allocation_id, "dispute": dispute_id,
                     "plan": plan.strip(), "action_plan": action_plan_id, **({"kind": kind} if kind else {}),
                     **({"review_on": _date(review_on).isoformat()} if _date(review_on) else {})},
        )
    return action_id


async def _reports_of(ctx: Context) -> set[int]:
    """Everyone below the actor in the line-management chain: walked in the
    database down ``person_line_manager`` (a team manager's dozen, not the
    council's 5,000 staff read into Python), once per request."""
    assert ctx.actor
    key = ("reports_of", ctx.actor.person_id)
    if key not in ctx.loaded or not ctx.reads_only:
        # Through the raw driver, as tuples: a director's 4,900 ids as Piccolo
        # dicts were a third of their overdue-actions list (issue 19 item 4).
        rows = await bulk.fetch(
            # As report_access and delivery: UNION stops at a loop in the data.
            "WITH RECURSIVE line(id) AS (SELECT CAST({} AS INTEGER)"
            " UNION SELECT q.id FROM person q JOIN line l ON q.line_manager = l.id WHERE q.organisation = {})"
            " SELECT id FROM line", ctx.actor.person_id, ctx.actor.organisation_id,
        )
        ctx.loaded[key] = frozenset(r[0] for r in rows) - {ctx.actor.person_id}
    return set(ctx.loaded[key])


async def _owners_allowed(ctx: Context, *, allocation_id: int | None = None,
                          action_plan_id: int | None = None) -> set[int] | None:
    """Issue 16, case 3: whom the actor may set an action for (active people
    only); None for the QA administrators (``administer``), who may set one
    for anyone active in the council (HAR 2.12, 2.15: they follow audits up).

    - themselves and everyone below them in the line (BED s.3: a manager
      sets management directions for those they supervise; HAR 2.13);
    - on an audit they can see: its practitioner, auditor and team manager
      (HAR 2.13: actions agreed with the worker and manager; BED s.3:
      remedial actions "notified to the Worker and Manager");
    - on a plan: the people whose role sits on the plan's body and everyone
      below them in the line (CSCP 5.5: the A&P subgroup's members take
      their agencies' actions; BED s.7: DMT's plan).
    """
    assert ctx.actor
    if ctx.actor.can("administer"):
        return None
    # Issue 19 item 4: walked in the database down ``person_line_manager``
    # (as ``_reports_of``), not the council's 5,000 staff read into Python.
    # Everyone the walks find is of the actor's organisation.
    organisation = ctx.actor.organisation_id
    allowed = {ctx.actor.person_id} | await _reports_of(ctx)
    if action_plan_id is not None:
        from core.services import action_plans

        plan = await action_plans._load(ctx, action_plan_id)
        body = action_plans.body_of(ctx, plan["body"])
        roles = sorted({r.split(":")[-1] for r in body.roles} if body else set())
        if roles:
            # The body's members and everyone below them (UNION stops at a loop).
            allowed |= {row[0] for row in await bulk.fetch(
                "WITH RECURSIVE line(id) AS ("
                f"SELECT id FROM person WHERE organisation = {{}} AND role IN ({', '.join('{}' for _ in roles)})"
                " UNION SELECT q.id FROM person q JOIN line l ON q.line_manager = l.id WHERE q.organisation = {})"
                " SELECT id FROM line", organisation, *roles, organisation,
            )}
    if allocation_id is not None:
        _, relations, _ = await audits.visible(ctx, allocation_id)
        others = sorted({relations[r] for r in ("practitioner", "auditor", "team_manager") if relations.get(r) is not None} - allowed)
        if others:
            # People of the audit not found above: of the actor's organisation only.
            allowed |= {row[0] for row in await bulk.fetch(
                f"SELECT id FROM person WHERE organisation = {{}} AND id IN ({', '.join('{}' for _ in others)})",
                organisation, *others,
            )}
    # Active people only: the organisation's few inactive ones taken out.
    inactive = {row[0] for row in await bulk.fetch(
        "SELECT id FROM person WHERE organisation = {} AND NOT active", organisation)}
    return allowed - inactive


def _refused_owner(name: str, allocation_id: int | None, action_plan_id: int | None) -> str:
    """The owner field's error, in the words of the rule (issue 16, case 3)."""
    if action_plan_id is not None:
        return (f"You cannot set an action for {name}: choose yourself, someone in your line, "
                "or a member of the plan's group or someone in their line")
    if allocation_id is not None:
        return (f"You cannot set an action for {name}: choose yourself, someone in your line, "
                "or this audit's practitioner, auditor or team manager")
    return f"You cannot set an action for {name}: choose yourself or someone in your line"


async def _load(ctx: Context, action_id: int) -> dict:
    """An action the actor may see: theirs, set by them, of someone they
    manage, on an audit they can see, or anyone's for the QA team."""
    assert ctx.actor
    action = await Action.select(*_COLUMNS).where(Action.id == action_id).first()
    if action is None or action["organisation"] != ctx.actor.organisation_id:
        raise NotFound("There is no action with that number that you can see")
    me = ctx.actor.person_id
    # Every action of the council for the QA administrators; a view-only role
    # (``view_all_audits`` without ``administer``) reads an action through the
    # paths below, so never one on a draft it cannot open (issue 16, case 1).
    if me in (action["owner"], action["created_by"]) or (ctx.actor.can("view_all_audits") and ctx.actor.can("administer")):
        return action
    if me in await escalations.Ladder().chain_above(action["owner"]):
        return action
    if action["action_plan"] is not None:
        from core.services import action_plans

        # The body monitoring the plan sees every action on it (CSCP 5.5).
        if await action_plans.may_see(ctx, action["action_plan"]):
            return action
    if action["allocation"] is not None:
        try:
            await audits.visible(ctx, action["allocation"])
            return action
        except NotFound:
            pass
    raise NotFound("There is no action with that number that you can see")


async def statuses_for(ctx: Context, action: dict) -> tuple[str, ...]:
    """The statuses the actor may give an action they can see; empty when they
    may only read it (least privilege, issue 16: seeing an action is not
    owning it).

    - whoever set it, the owner's line managers up the chain, and the body
      monitoring its plan (CSCP 5.5: "monitor ... until completion") may
      record progress, mark it done, cancel it or reopen it;
    - the owner records progress and marks it done, but cannot cancel what
      was set for them (nor reopen it once closed);
    - everyone else who can see it (the audit's practitioner, a view-all
      role) reads it only.
    """
    assert ctx.actor
    me = ctx.actor.person_id
    if me == action["created_by"] or me in await escalations.Ladder().chain_above(action["owner"]):
        return STATUSES
    if action["action_plan"] is not None:
        from core.services import action_plans

        if await action_plans.may_see(ctx, action["action_plan"]):
            return STATUSES
    if me == action["owner"]:
        return ("open", "done") if action["status"] == "open" else (action["status"],)
    return ()


async def update(ctx: Context, action_id: int, text: str, status: str = "") -> None:
    """A progress update; ``status`` done or cancelled closes the action."""
    action = await _load(ctx, action_id)
    allowed = await statuses_for(ctx, action)
    if not allowed:
        raise Forbidden("Only the action's owner, whoever set it and the owner's managers can record progress on it")
    text = (text or "").strip()
    status = status or ""
    errors = {}
    if not text:
        errors["text"] = "Say what progress has been made"
    elif message := limits.too_long(text, limits.ACTION_UPDATE, "The progress update"):
        errors["text"] = message
    if status and status not in STATUSES:
        errors["status"] = "Choose open, done or cancelled"
    elif status and status != action["status"] and status not in allowed:
        errors["status"] = (
            "Only whoever set the action or the owner's managers can cancel it"
            if status == "cancelled"
            else "Only whoever set the action or the owner's managers can reopen it"
        )
    if errors:
        raise Invalid("The update could not be recorded", errors)
    async with transaction():
        await ActionUpdate.insert(ActionUpdate(action=action_id, by=ctx.person_id, text=text, status=status, at=ctx.now))
        values = {}
        if status and status != action["status"]:
            values[Action.status] = status
            values[Action.closed_at] = ctx.now if status != "open" else None
            await Action.update(values).where(Action.id == action_id)
            if status != "open":
                await Deadline.update({Deadline.status: "met", Deadline.closed_at: ctx.now}).where(
                    (Deadline.action == action_id) & (Deadline.status == "open")
                )
        await trail.record(
            ctx, organisation_id=action["organisation"], entity="action", entity_id=action_id, action="action_updated",
            changes={"text": text, **({"status": [action["status"], status]} if values else {})},
        )


async def _shape(rows: list[dict], now: dt.datetime) -> list[dict]:
    for r in rows:
        r["overdue"] = r["status"] == "open" and r["due_at"] < now
    return rows


async def my_open_actions(ctx: Context) -> list[dict]:
    """The actor's open actions, soonest due first."""
    assert ctx.actor
    rows = await Action.select(*_COLUMNS).where(
        (Action.owner == ctx.actor.person_id) & (Action.status == "open")
    ).order_by(Action.due_at).order_by(Action.id)
    return await _shape(rows, ctx.now)


# The Actions page shows the open actions and the latest closed ones, with
# older closed ones a page at a time: ten years of an owner's actions are no
# page (issue 19 item 1).
CLOSED_SHOWN = 20
# When an action was closed (set whenever it is closed; its creation for a
# row closed without it).
_CLOSED_AT = "COALESCE(closed_at, created_at)"


@dataclass(frozen=True, slots=True)
class ClosedPage:
    """Closed actions, latest closed first; ``older`` the cursor of the next page, None at the end."""

    items: list[dict]
    older: int | None


async def _closed_ids(owner: int, before: int | None, count: int) -> list[int]:
    """Up to ``count`` ids of ``owner``'s done and cancelled actions, latest
    closed first, keyset by (when closed, id) after the action ``before``."""
    sql = "SELECT id FROM action WHERE owner = {} AND status <> 'open'"
    args: list = [owner]
    if before is not None:
        sql += (f" AND ({_CLOSED_AT} < (SELECT {_CLOSED_AT} FROM action WHERE id = {{}})"
                f" OR ({_CLOSED_AT} = (SELECT {_CLOSED_AT} FROM action WHERE id = {{}}) AND id < {{}}))")
        args += [before, before, before]
    return [r[0] for r in await bulk.fetch(f"{sql} ORDER BY {_CLOSED_AT} DESC, id DESC LIMIT {{}}", *args, count)]


async def _in_order(ctx: Context, ids: list[int]) -> list[dict]:
    """The actions ``ids``, in that order, shaped for the lists."""
    if not ids:
        return []
    rows = {r["id"]: r for r in await Action.select(*_COLUMNS).where(Action.id.is_in(ids))}
    return await _shape([rows[i] for i in ids if i in rows], ctx.now)


async def my_closed_actions(ctx: Context, before: int | None = None, limit: int | None = None) -> ClosedPage:
    """The actor's done and cancelled actions, latest closed first, keyset-paged
    by (when closed, id) after the action ``before``: a late page costs what
    the first does."""
    assert ctx.actor
    limit = limit or CLOSED_SHOWN
    found = await _closed_ids(ctx.actor.person_id, before, limit + 1)
    items = await _in_order(ctx, found[:limit])
    return ClosedPage(items=items, older=items[-1]["id"] if len(found) > limit and items else None)


# The API's list of a person's actions (``GET /api/v1/actions``), a page at a
# time (issue 19 item 1): 50 unless asked, at most 100.
ACTIONS_PAGE = 50
ACTIONS_PAGE_MOST = 100


@dataclass(frozen=True, slots=True)
class ActionsPage:
    """A page of the actor's actions; ``after`` the cursor of the next page
    (the last action's id), None at the end."""

    items: list[dict]
    after: int | None


async def my_actions(ctx: Context, after: int | None = None, limit: int | None = None) -> ActionsPage:
    """Every action of the actor, a page at a time: the open ones soonest due
    first (by due date, then id), then the done and cancelled ones latest
    closed first (by when closed, then id). ``after`` is the last action of
    the page before (keyset: a late page costs what the first does); an
    action that is not the actor's is refused (400), as is a ``limit``
    outside 1 to ``ACTIONS_PAGE_MOST``. An action closed between two pages
    moves to the closed part: it may be listed twice, never lost."""
    assert ctx.actor
    limit = ACTIONS_PAGE if limit is None else limit
    if not 1 <= limit <= ACTIONS_PAGE_MOST:
        raise Unreadable(f"Ask for between 1 and {ACTIONS_PAGE_MOST} actions a page")
    me = ctx.actor.person_id
    open_part = True
    if after is not None:
        found = await bulk.fetch("SELECT status FROM action WHERE id = {} AND owner = {}", after, me)
        if not found:
            raise Unreadable("The page to continue from is not one of your actions: "
                             "follow the next link of the page before, or start again without it")
        open_part = found[0][0] == "open"
    ids: list[int] = []
    if open_part:
        # ``action_owner_status (owner, status, due_at)``: this owner's open
        # actions in order, from the cursor on.
        sql = "SELECT id FROM action WHERE owner = {} AND status = 'open'"
        args: list = [me]
        if after is not None:
            sql += (" AND (due_at > (SELECT due_at FROM action WHERE id = {})"
                    " OR (due_at = (SELECT due_at FROM action WHERE id = {}) AND id > {}))")
            args += [after, after, after]
        ids = [r[0] for r in await bulk.fetch(f"{sql} ORDER BY due_at, id LIMIT {{}}", *args, limit + 1)]
    if len(ids) <= limit:
        ids += await _closed_ids(me, None if open_part else after, limit + 1 - len(ids))
    items = await _in_order(ctx, ids[:limit])
    return ActionsPage(items=items, after=items[-1]["id"] if len(ids) > limit and items else None)


async def my_follow_ups(ctx: Context) -> list[dict]:
    """Open follow-ups an escalation asked of the actor (HAR 2.13: "discuss the
    case within 10 working days"), soonest due first. Each is recorded as
    done on its audit's page; done, it leaves this list."""
    assert ctx.actor
    # The person's own rows of ``follow_up_assignee`` (an index by person,
    # core.services.follow_ups), not every open follow-up's JSON list.
    mine = WhereRaw("follow_up.id IN (SELECT fa.follow_up FROM follow_up_assignee fa WHERE fa.person = {})",
                    ctx.actor.person_id)
    rows = await FollowUp.select(
        FollowUp.id, FollowUp.allocation, FollowUp.action, FollowUp.due_at, FollowUp.status,
        FollowUp.allocation.child_case.external_id.as_alias("case_external_id"),
        # Issue 13: the person an audit without a case is on.
        FollowUp.allocation.subject_person.display_name.as_alias("subject_person_name"),
    ).where(
        (FollowUp.organisation == ctx.actor.organisation_id) & (FollowUp.status == "open") & mine
    ).order_by(FollowUp.due_at).order_by(FollowUp.id)
    for r in rows:
        r["overdue"] = r["due_at"] is not None and r["due_at"] < ctx.now
    return rows


# A director manages thousands: the page shows how many are overdue and the
# longest overdue first, not every one (measured: 15,000 rows, 320 ms).
TEAM_OVERDUE_SHOWN = 50


async def team_overdue(ctx: Context, limit: int | None = None) -> list[dict]:
    """Overdue actions of everyone the actor manages, directly or not: the
    ``limit`` longest overdue (``team_overdue_count`` says how many in all)."""
    reports = await _reports_of(ctx)
    if not reports:
        return []
    # Which ones, through the raw driver: a director has 4,900 people below
    # them, and Piccolo built that IN list into its query string in tens of
    # milliseconds (issue 19 item 4). ``action_open_due`` reads the open
    # actions by due date and stops at the limit.
    found = await bulk.fetch(
        f"SELECT id FROM action WHERE status = 'open' AND due_at < {{}} AND owner IN ({_list(reports)})"
        " ORDER BY due_at, id LIMIT {}", ctx.now, *sorted(reports), limit or TEAM_OVERDUE_SHOWN,
    )
    if not found:
        return []
    rows = await Action.select(*_COLUMNS).where(Action.id.is_in([r[0] for r in found])).order_by(
        Action.due_at).order_by(Action.id)
    return await _shape(rows, ctx.now)


def _list(values) -> str:
    return ", ".join("{}" for _ in values)


async def team_overdue_count(ctx: Context) -> int:
    reports = await _reports_of(ctx)
    if not reports:
        return 0
    rows = await bulk.fetch(
        f"SELECT COUNT(*) FROM action WHERE status = 'open' AND due_at < {{}} AND owner IN ({_list(reports)})",
        ctx.now, *sorted(reports),
    )
    return int(rows[0][0])


async def directions_to_review(ctx: Context) -> list[dict]:
    """Open management-direction actions of the people the actor manages, to
    review in supervision (Bedford s.3: "the manager ... will then review
    completion of these actions within supervision")."""
    reports = await _reports_of(ctx)
    if not reports:
        return []
    rows = await Action.select(*_COLUMNS).where(
        Action.owner.is_in(sorted(reports)) & (Action.kind == "management_direction") & (Action.status == "open")
    ).order_by(Action.review_on).order_by(Action.due_at).order_by(Action.id)
    return await _shape(rows, ctx.now)


async def of_allocation(ctx: Context, allocation_id: int) -> list[dict]:
    await audits.visible(ctx, allocation_id)
    rows = await Action.select(*_COLUMNS).where(Action.allocation == allocation_id).order_by(Action.due_at).order_by(Action.id)
    return await _shape(rows, ctx.now)


async def previous_audit(ctx: Context, allocation_id: int) -> int | None:
    """The audit before this one of the same case: the re-audit's predecessor,
    or the latest earlier final audit of the case."""
    row, _, _ = await audits.visible(ctx, allocation_id)
    if row["previous"]:
        return row["previous"]
    if row["child_case"] is None:  # an audit on a person or a meeting (issue 13): no case to have audits
        return None
    earlier = (
        await Allocation.select(Allocation.id)
        .where(
            (Allocation.child_case == row["child_case"]) & (Allocation.id != allocation_id)
            & (Allocation.created_at <= row["created_at"]) & Allocation.finalised_at.is_not_null()
        )
        .order_by(Allocation.finalised_at, ascending=False)
        .first()
    )
    return earlier["id"] if earlier else None


async def of_previous_audit(ctx: Context, allocation_id: int) -> tuple[int | None, list[dict]]:
    """The previous audit of the case and its actions, open and closed."""
    previous = await previous_audit(ctx, allocation_id)
    if previous is None:
        return None, []
    rows = await Action.select(*_COLUMNS).where(Action.allocation == previous).order_by(Action.due_at).order_by(Action.id)
    return previous, await _shape(rows, ctx.now)


async def action_view(ctx: Context, action_id: int) -> dict:
    action = await _load(ctx, action_id)
    updates = await ActionUpdate.select(ActionUpdate.all_columns(), ActionUpdate.by.display_name.as_alias("by_name")).where(
        ActionUpdate.action == action_id
    ).order_by(ActionUpdate.at).order_by(ActionUpdate.id)
    links = {"may_see_audit": False, "may_see_dispute": False}
    if action["allocation"] is not None:
        # Only the links that open for the reader (a manager up the owner's
        # line may read the action but not its audit).
        try:
            await audits.visible(ctx, action["allocation"])
            links["may_see_audit"] = True
        except NotFound:
            pass
    if action["dispute"] is not None:
        from core.services import disputes

        links["may_see_dispute"] = await disputes.may_open(ctx, action["dispute"])
    return (await _shape([action], ctx.now))[0] | {"updates": updates, "may_set": await statuses_for(ctx, action)} | links


__all__ = ["action_view", "create", "directions_to_review", "my_actions", "my_follow_ups", "of_allocation", "of_previous_audit", "team_overdue", "team_overdue_count", "update"]


async def people_for(ctx: Context, *, allocation_id: int | None = None, dispute_id: int | None = None,
                     action_plan_id: int | None = None) -> list[dict]:
    """Who the actor may give an action to, for the owner picker: only those
    ``create`` would accept (issue 16, case 3: never a choice that fails)."""
    assert ctx.actor
    if dispute_id is not None and allocation_id is None:
        dispute = await Dispute.select(Dispute.allocation, Dispute.organisation).where(Dispute.id == dispute_id).first()
        if dispute is not None and dispute["organisation"] == ctx.actor.organisation_id:
            allocation_id = dispute["allocation"]
    try:
        allowed = await _owners_allowed(ctx, allocation_id=allocation_id, action_plan_id=action_plan_id)
    except NotFound:
        allowed = await _owners_allowed(ctx)
    if allowed is not None:
        # Only the people allowed (a team manager's dozen), not every member
        # of staff read and filtered (issue 19); ``active`` as ``_owners_allowed``.
        rows = await bulk.fetch(
            f"SELECT id, display_name, role FROM person WHERE organisation = {{}} AND id IN ({_list(allowed)})"
            " ORDER BY display_name, id", ctx.actor.organisation_id, *sorted(allowed),
        ) if allowed else []
        return [{"id": r[0], "display_name": r[1], "role": r[2]} for r in rows]
    return await Person.select(Person.id, Person.display_name, Person.role).where(
        (Person.organisation == ctx.actor.organisation_id) & (Person.active == True)  # noqa: E712
    ).order_by(Person.display_name).order_by(Person.id)


# The owner choice on a final audit (issue 19: every active member of staff,
# ≈5,000 in a large council, was one select): the people near the audit, and
# anyone else by a search by name, at most this many found.
OWNERS_FOUND = 50


@dataclass(frozen=True, slots=True)
class OwnerChoice:
    """Whom the action form on an audit lists, each one ``create`` would
    accept (``_owners_allowed``: this narrows what is listed, never who is
    allowed). ``near`` says which: "service" (the case team's service),
    "team" (the case's team, in no service), "audit" (an audit on no team:
    its own people and the setter) or "name" (those whose name has ``name``
    in it); ``more``: a search found more than ``OWNERS_FOUND``."""

    people: list[dict]
    near: str
    name: str = ""
    more: bool = False


def _words(name: str) -> str:
    # Words as typed, without control characters (PostgreSQL refuses NUL in text).
    return " ".join("".join(c for c in (name or "") if c.isprintable()).split())[:100]


async def owner_choice(ctx: Context, allocation_id: int, name: str = "", chosen: int | None = None) -> OwnerChoice:
    """The people to list as an action's owner on the audit ``allocation_id``
    (which the actor must see): without ``name``, those allowed of the case
    team's service (or team), the audit's practitioner, auditor and team
    manager, and the setter; with ``name``, those allowed whose name has it
    in it (any case of letters). ``chosen`` (the owner a form refused for
    another reason named, found by name perhaps) is listed too if allowed,
    so the form comes back with the choice as it was made; one not allowed
    is never listed (issue 16 case 3: no choice that fails)."""
    assert ctx.actor
    row, relations, _ = await audits.visible(ctx, allocation_id)
    allowed = await _owners_allowed(ctx, allocation_id=allocation_id)
    organisation = ctx.actor.organisation_id
    name = _words(name)
    limit = None
    if name:
        near = "name"
        escaped = name.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        sql = ("SELECT id FROM person WHERE organisation = {} AND active"
               " AND LOWER(display_name) LIKE {} ESCAPE '\\'")
        args: list = [organisation, f"%{escaped}%"]
        if allowed is not None:
            sql += f" AND id IN ({_list(allowed)})"
            args += sorted(allowed)
        limit = OWNERS_FOUND
        ids = {r[0] for r in await bulk.fetch(f"{sql} ORDER BY display_name, id LIMIT {{}}", *args, limit + 1)}
    else:
        near = "audit"
        ids = {ctx.actor.person_id} | {relations[r] for r in ("practitioner", "auditor", "team_manager")
                                       if relations.get(r) is not None}
        team = row.get("case_team")
        if team is not None:
            service = (await bulk.fetch("SELECT service FROM team WHERE id = {}", team) or [(None,)])[0][0]
            if service is not None:
                near = "service"
                found = await bulk.fetch(
                    "SELECT p.id FROM person p JOIN team t ON t.id = p.team"
                    " WHERE t.service = {} AND p.organisation = {} AND p.active", service, organisation)
            else:
                near = "team"
                found = await bulk.fetch(
                    "SELECT id FROM person WHERE team = {} AND organisation = {} AND active", team, organisation)
            ids |= {r[0] for r in found}
        if allowed is not None:
            ids &= allowed
    if chosen is not None and (allowed is None or chosen in allowed):
        ids.add(chosen)
    rows = await Person.select(Person.id, Person.display_name).where(
        (Person.organisation == organisation) & (Person.active == True) & Person.id.is_in(sorted(ids) or [0])  # noqa: E712
    ).order_by(Person.display_name).order_by(Person.id) if ids else []
    more = bool(limit) and len([r for r in rows if r["id"] != chosen]) > OWNERS_FOUND
    if more:
        rows = [r for r in rows if r["id"] != chosen][:OWNERS_FOUND] + [r for r in rows if r["id"] == chosen]
    return OwnerChoice(people=rows, near=near, name=name, more=more)
