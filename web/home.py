"""The home page (issue 17 item 1): for every role, "what needs me now?".

Each section comes from a service that already decides what the person may
see (the programme's work, their audits, the QA queue, audits and disputes
awaiting them, their actions and follow-ups, their line's delivery, the
reports they read), so every link on it opens. A section the person can
never have is not shown; an empty one says what will appear there and when.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from litestar import Request

from core.calendar import first_working_day, london_date
from core.services import actions, audits, delivery, home, programme, report_access, reports, work
from core.services.context import Context
from web.context import request_context
from web.rendering import page

SHOWN = 5  # rows a card lists; its link opens the rest


@dataclass
class Card:
    """One summary card of the home: a heading, what is in it, a way on."""

    key: str
    title: str
    template: str
    empty: str = ""  # what will appear here, and when
    link: tuple[str, str] | None = None  # (href, text)
    data: dict[str, Any] = field(default_factory=dict)


def _month_after(day: dt.date) -> dt.date:
    return (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)


def _day(day: dt.date, today: dt.date | None = None) -> str:
    """"Monday 4 January", with the year when it is not this one's."""
    return day.strftime("%A %-d %B") + (day.strftime(" %Y") if today and day.year != today.year else "")


async def _work_card(ctx: Context, today: dt.date) -> Card | None:
    """My programme's work this month and next, overdue first (issue 13)."""
    next_month = _month_after(today)
    horizon = _month_after(next_month) - dt.timedelta(days=1)
    # Not the person's years of finished work (issue 19): what is not finished.
    issued = await work.list_work(ctx, owner=ctx.actor.person_id, due_to=horizon,
                                  finished_before=today + dt.timedelta(days=1))
    to_do = sorted((w for w in issued if not w.finished), key=lambda w: (w.status != "overdue", w.due_on, w.id))
    card = Card("work", "My work this month and next", "home/_work.html", link=("/programme/mine", "My programme"),
                data={"items": to_do[:SHOWN], "more": max(0, len(to_do) - SHOWN)})
    if to_do:
        return card
    # Nothing open: say what comes next, or leave the card out for a role
    # the programme asks nothing of.
    council = ctx.registry.council(ctx.actor.council)
    year = work.council_year(council, today)
    coming = [
        i for y in (year, year + 1) for i in await programme.programme(ctx, y, mine=True)
        if i.starts and i.due and work.period_opens(i.starts) > today
    ]
    if not coming and not issued and not await work.list_work(ctx, owner=ctx.actor.person_id, due_to=horizon, limit=1):
        return None
    if coming:
        first = min(coming, key=lambda i: (work.period_opens(i.starts), i.due))
        card.empty = (
            f"Nothing is due from you now. Your next piece of work, {first.activity} (due {first.due:%-d %B %Y}), "
            f"will appear here on {_day(work.period_opens(first.starts), today)}."
        )
    else:
        card.empty = "Nothing is due from you now. Work from your programme will appear here when its period opens."
    return card


async def _audits_card(ctx: Context, today: dt.date) -> Card | None:
    """Audits allocated to me to do, re-audits among them (HAR 1.4)."""
    to_do = await audits.my_open(ctx)
    if not to_do and not ctx.actor.can("audit"):
        return None
    card = Card("audits", "My audits to do", "home/_audits.html", link=("/audits", "My audits"),
                data={"items": to_do[:SHOWN], "more": max(0, len(to_do) - SHOWN)})
    if not to_do:
        council = ctx.registry.council(ctx.actor.council)
        if council.cycles is not None:
            # HAR 2: each month's audits are drawn on its first working day.
            draw = first_working_day(today.year, today.month)
            if draw <= today:
                after = _month_after(today)
                draw = first_working_day(after.year, after.month)
            card.empty = f"Any audits drawn for you for {draw:%B} will appear here on {_day(draw)}."
        else:
            card.empty = "Audits you start from your programme, or that are allocated to you, will appear here."
    return card


async def _qa_card(ctx: Context) -> Card | None:
    if not ctx.actor.can("qa_review"):
        return None
    queue = await audits.qa_queue(ctx, limit=SHOWN + 1)
    # The count (from the index, or read up to a bound) only when there are more than are shown.
    count, more = await audits.qa_queue_waiting(ctx) if len(queue) > SHOWN else (len(queue), False)
    return Card(
        "qa", "QA queue", "home/_qa.html", link=("/qa", "Open the QA queue"),
        empty="Audits submitted for quality assurance will appear here as auditors submit them.",
        data={"items": queue[:SHOWN], "count": count, "more": more},
    )


async def _decisions_card(ctx: Context) -> Card | None:
    if not home.may_await_decisions(ctx):
        return None
    waiting = await home.awaiting_my_decision(ctx)
    return Card(
        "decisions", "Audits waiting for you", "home/_decisions.html",
        empty="Audits of your cases or your team's that need your sign-off or decision will appear here when the auditor passes them to you.",
        data={"items": waiting[:SHOWN], "count": len(waiting)},
    )


async def _disputes_card(ctx: Context) -> Card | None:
    if not home.has_disputes(ctx):
        return None
    found = await home.my_disputes(ctx)
    return Card(
        "disputes", "Disputes", "home/_disputes.html",
        empty="A dispute you raise about an audit's grades, or one waiting for your decision, will appear here.",
        data={"items": found[:SHOWN]},
    )


async def _actions_card(ctx: Context) -> Card:
    mine = await actions.my_open_actions(ctx)
    follow_ups = await actions.my_follow_ups(ctx)
    return Card(
        "actions", "My actions and follow-ups", "home/_actions.html", link=("/actions", "All actions"),
        empty="Actions set for you after an audit, and follow-ups an escalation asks of you, will appear here.",
        data={"actions": mine[:SHOWN], "follow_ups": follow_ups[:SHOWN],
              "overdue": sum(1 for a in mine if a["overdue"]) + sum(1 for f in follow_ups if f["overdue"])},
    )


async def _line_card(ctx: Context, today: dt.date) -> Card | None:
    """A manager's line (or, for the QA team, everyone's) this month: the
    programme's delivery (PLAT-5) and the line's overdue actions."""
    everyone = delivery.may_see_all(ctx)
    line = await actions._reports_of(ctx)
    if not everyone and not line:
        return None
    month = reports.period("month", today)
    found = await delivery.delivery(ctx, month, "person")
    overdue_actions = await actions.team_overdue_count(ctx) if line else 0
    return Card(
        "line", "Everyone's programme this month" if everyone else "My line this month", "home/_line.html",
        link=("/programme/delivery", "Programme delivery"),
        data={"total": found.total, "month": month.label, "overdue_actions": overdue_actions, "has_line": bool(line)},
    )


async def _reports_card(ctx: Context, today: dt.date) -> Card | None:
    """Headline figures of this month's report, of what the reader leads (HAR 1.9)."""
    if not (await report_access.reach(ctx)).any:
        return None
    month = reports.period("month", today)
    scope = await reports.parse_scope(ctx, "org")
    found = await reports.report(ctx, month, scope, trend=0)
    return Card(
        "reports", "Headline figures", "home/_reports.html", link=("/reports", "Reports"),
        data={"report": found, "scope": scope.name or "Whole council"},
    )


async def _requests_card(ctx: Context) -> Card | None:
    """Issue 14: the partnership QA manager's open requests to agencies."""
    from core.services import agency_requests

    if not ctx.registry.council(ctx.actor.council).agencies:
        return None
    if ctx.actor.can("administer"):
        found = await agency_requests.open_for_home(ctx)
    elif await agency_requests.agency_of(ctx) is not None:
        # An agency's lead or respondent: their agency's requests still to answer.
        found = [r for r in await agency_requests.list_requests(ctx) if r["state"] == "open" and r["accepted"] < r["returns"]]
    else:
        return None
    title = "Open requests to agencies" if ctx.actor.can("administer") else "The partnership's requests to your agency"
    return Card("requests", title, "requests/_home.html", link=("/requests", "All requests"),
                empty="Requests you issue to agencies will appear here until every agency's return is accepted.",
                data={"items": found[:SHOWN], "more": max(0, len(found) - SHOWN)})


async def cards(ctx: Context) -> list[Card]:
    today = london_date(ctx.now)
    found = [
        await _work_card(ctx, today),
        await _requests_card(ctx),
        await _audits_card(ctx, today),
        await _qa_card(ctx),
        await _decisions_card(ctx),
        await _disputes_card(ctx),
        await _actions_card(ctx),
        await _line_card(ctx, today),
        await _reports_card(ctx, today),
    ]
    return [c for c in found if c is not None]


async def home_page(request: Request):
    ctx = request_context(request)
    # A plain request gets the page; an htmx one (refreshing the cards) the partial.
    return await page(request, "home/home.html", fragment="home/_cards.html", title="Home", cards=await cards(ctx),
                      today=london_date(ctx.now))
