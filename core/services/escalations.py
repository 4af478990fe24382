"""Acting on escalations: tell people, and track what they must do by when.

Called inside the transaction of the event that caused it, so the
notifications, follow-up tasks and their deadlines commit with the event or
not at all (CORE-11, CORE-13).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field

from core.calendar import to_london, working_deadline
from core.db.tables import Allocation, Deadline, Person
from core.escalation import Escalation, EscalationEvent, answered
from core.services import follow_ups, month_counts, notifications, trail
from core.services.context import Context


class Ladder:
    """People looked up once for many ladder climbs (a sweep acts on hundreds
    of deadlines): who each person is and who manages them, fetched level by
    level for a whole batch instead of one query per rung per deadline."""

    def __init__(self) -> None:
        self.people: dict[int, dict | None] = {}
        self._everyone: dict[tuple[int, str], list[int]] = {}

    async def load(self, starts) -> None:
        """Everyone on the ladders above ``starts``, a query per rung."""
        frontier = {p for p in starts if p is not None and p not in self.people}
        while frontier:
            wanted = sorted(frontier)
            found: dict[int, dict] = {}
            for i in range(0, len(wanted), 500):
                for row in await Person.select(Person.id, Person.role, Person.line_manager, Person.active).where(
                    Person.id.is_in(wanted[i : i + 500])
                ):
                    found[row["id"]] = row
            for person_id in wanted:
                self.people[person_id] = found.get(person_id)
            frontier = {r["line_manager"] for r in found.values() if r["line_manager"] is not None} - self.people.keys()

    async def person(self, person_id: int) -> dict | None:
        if person_id not in self.people:
            await self.load([person_id])
        return self.people[person_id]

    async def chain_above(self, person_id: int | None) -> list[int]:
        """``person_id``'s managers up the line, nearest first (a loop in the
        data stops the climb)."""
        out: list[int] = []
        current = person_id
        while current is not None:
            person = await self.person(current)
            current = person["line_manager"] if person else None
            if current is None or current in out or current == person_id:
                break
            out.append(current)
        return out

    async def everyone(self, organisation_id: int, role: str) -> list[int]:
        key = (organisation_id, role)
        if key not in self._everyone:
            rows = await Person.select(Person.id).where(
                (Person.organisation == organisation_id) & (Person.role == role) & (Person.active == True)  # noqa: E712
            )
            self._everyone[key] = [r["id"] for r in rows]
        return self._everyone[key]

    async def nearest(self, organisation_id: int, start: int | None, role: str) -> list[int]:
        seen: set[int] = set()
        current = start
        while current is not None and current not in seen:
            seen.add(current)
            person = await self.person(current)
            if person is None:
                break
            if person["role"] == role and person["active"] and person["id"] != start:
                return [person["id"]]
            current = person["line_manager"]
        return list(await self.everyone(organisation_id, role))


async def ladder_person(organisation_id: int, start: int | None, role: str) -> list[int]:
    """The nearest person with ``role`` up the line-management chain from
    ``start``; failing that, everyone with the role in the organisation."""
    return await Ladder().nearest(organisation_id, start, role)


async def recipients(
    organisation_id: int, refs: tuple[str, ...], people: dict[str, int | None], anchor: int | None, ladder: Ladder | None = None
) -> list[int]:
    ladder = ladder or Ladder()
    out: list[int] = []
    for ref in refs:
        if ref in people:
            if people[ref] is not None:
                out.append(people[ref])
            continue
        out.extend(await ladder.nearest(organisation_id, anchor, ref.split(":")[-1]))
    return list(dict.fromkeys(out))


@dataclass(slots=True)
class Batch:
    """What a batch job (the sweep) writes for many events at once, inside its
    one transaction: notifications and trail rows queued in event order, and
    the ladder cache the events share."""

    outbox: notifications.Outbox
    trail_rows: list = field(default_factory=list)
    ladder: Ladder = field(default_factory=Ladder)

    async def flush(self) -> None:
        await self.outbox.flush()
        rows, self.trail_rows = self.trail_rows, []
        await trail.record_many(rows)


# Events about an audit's answers: fire() tells the plugins what was answered.
ANSWERED_EVENTS = ("grade_final", "reaudit_compared")


def by_when(due: dt.datetime, within_hours: int | None = None) -> str:
    """"by Monday 4 January 2027", or for a deadline in clock hours (BED-3's
    48 hours) "within 48 hours, by Saturday 2 January 2027 at 09:30", in London time."""
    if within_hours:
        return f"within {within_hours} hours, by {to_london(due):%A %-d %B %Y at %H:%M}"
    return f"by {to_london(due):%A %-d %B %Y}"


def _due(ctx: Context, escalation: Escalation) -> dt.datetime | None:
    if escalation.within_working_days is not None:
        return working_deadline(ctx.now, escalation.within_working_days)
    if escalation.within_hours is not None:
        return ctx.now + dt.timedelta(hours=escalation.within_hours)
    return None


async def fire(
    ctx: Context,
    event: EscalationEvent,
    *,
    organisation_id: int,
    people: dict[str, int | None],
    anchor: int | None,
    subject: str,
    about: str = "",
    link: str = "",
    detail: str = "",
    batch: Batch | None = None,
) -> list[Escalation]:
    """Ask every plugin what ``event`` requires, and do it. Returns the escalations acted on.

    With ``batch`` the notifications and trail rows are queued on it for the
    caller to flush (still inside its transaction); without, written now."""
    hooks = ctx.registry.hooks
    if event.answered is None and event.allocation_id is not None and event.kind in ANSWERED_EVENTS:
        # What the audit answered, for rules that fire only when a question
        # has an answer (BED-3: only where there are remedial actions to send).
        row = await Allocation.select(Allocation.answers).where(Allocation.id == event.allocation_id).output(load_json=True).first()
        event = dataclasses.replace(event, answered=answered(row["answers"] if row else None))
    escalations = hooks.escalations(ctx.registry, event) if hooks is not None else []
    own = batch is None
    if batch is None:
        batch = Batch(notifications.Outbox(ctx))
    for escalation in escalations:
        who = await recipients(organisation_id, escalation.notify, people, anchor, batch.ladder)
        if ctx.actor:
            who = [p for p in who if p != ctx.actor.person_id] or who
        due = _due(ctx, escalation)
        line = subject
        body = f"{subject}.\n\n{escalation.action}" if escalation.action else f"{subject}."
        if due is not None and escalation.within_hours != 0:
            when = by_when(due, escalation.within_hours)
            # A task, not only news: say what and by when in the subject.
            line = f"Action {when}: {escalation.action}" + (f" ({about})" if about else "")
            body += f" {when}."
        elif escalation.action:
            body += "."
        if detail:
            body += f"\n\n{detail}"
        batch.outbox.add(
            organisation_id=organisation_id,
            recipients=who,
            kind=f"escalation:{escalation.rule}",
            subject=line,
            body=body,
            link=link,
            allocation_id=event.allocation_id,
        )
        follow_up_id = None
        if due is not None and escalation.within_hours != 0:
            # The list and its rows by person together (core.services.follow_ups).
            follow_up_id = await follow_ups.open_follow_up(
                organisation=organisation_id,
                allocation=event.allocation_id,
                rule=f"{event.council}:{escalation.rule}",
                action=escalation.action,
                assignees=who,
                due_at=due,
                status="open",
                created_at=ctx.now,
            )
            await month_counts.follow_up_opened(organisation_id, ctx.now)
            await Deadline.insert(
                Deadline(
                    organisation=organisation_id,
                    allocation=event.allocation_id,
                    follow_up=follow_up_id,
                    kind="follow_up",
                    due_at=due,
                    escalate_to=[],
                    created_at=ctx.now,
                )
            )
        batch.trail_rows.append(
            trail.row(
                ctx,
                organisation_id=organisation_id,
                entity="allocation" if event.allocation_id else "organisation",
                entity_id=event.allocation_id or organisation_id,
                action=f"escalation:{escalation.rule}",
                changes={"event": event.kind, "notified": who, "follow_up": follow_up_id, "due": due.isoformat() if due else None},
            )
        )
    if own:
        await batch.flush()
    return escalations
