"""The year's QA programme: by role and month for leaders, and each person's own."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Response, Template

from core.calendar import london_date, utcnow
from core.db.engine import transaction
from core.services import case_attributes, evidence, programme, work, work_by_hand, work_workflow
from core.services.errors import Forbidden, Invalid
from web.auth.guards import signed_in
from web.context import request_context
from web.forms import form_data, govuk_date
from web.rendering import flash, page, see_other
from web.evidence import evidence_response, uploads
from web.state import qaf_state


def _year_of(request: Request, year: int | None) -> int:
    if year is not None:
        return year
    council = qaf_state(request.app.state).registry.council(request.scope["user"].council)
    today = london_date(utcnow())
    return today.year if today.month >= council.year_start_month else today.year - 1


class ProgrammePages(Controller):
    path = "/programme"
    guards = [signed_in]
    include_in_schema = False

    @get("")
    async def by_role(self, request: Request, year: FromQuery[int | None] = None) -> Template:
        ctx = request_context(request)
        if not (ctx.actor.can("administer") or ctx.actor.can("view_all_audits")):
            raise Forbidden("Only the QA team sees the whole programme; your own is under My programme")
        year = _year_of(request, year)
        items = await programme.programme(ctx, year)
        registry = ctx.registry
        council = registry.council(ctx.actor.council)
        months = [((council.year_start_month - 1 + i) % 12) + 1 for i in range(12)]
        grid: dict[tuple[str, str], dict] = defaultdict(lambda: {"months": defaultdict(int), "as_required": 0, "people": set(), "optional": False})
        for item in items:
            row = grid[(item.role, item.activity)]
            row["people"].add(item.person_id)
            row["optional"] |= item.optional
            if item.due is None:
                row["as_required"] += item.count
            else:
                row["months"][item.due.month] += item.count
        rows = [
            {
                "role": registry.role(f"{ctx.actor.council}:{role}").label,
                "activity": activity,
                "people": len(data["people"]),
                "cells": [data["months"].get(m, 0) for m in months],
                "as_required": data["as_required"],
                "optional": data["optional"],
            }
            for (role, activity), data in sorted(grid.items(), key=lambda kv: (registry.role(f"{ctx.actor.council}:{kv[0][0]}").label, kv[0][1]))
        ]
        return await page(
            request,
            "programme/by_role.html",
            title=f"QA programme {year}",
            year=year,
            months=[dt.date(2000, m, 1).strftime("%b") for m in months],
            rows=rows,
            # PLAT-4: schedules for a post nobody holds are said, not dropped.
            unheld=await programme.unheld_posts_of(ctx),
            may_import=ctx.actor.can("administer"),
            practice_weeks=council.practice_weeks_replace_cycle,
        )

    @get("/mine")
    async def mine(self, request: Request, year: FromQuery[int | None] = None) -> Template:
        """A person's to-do list (their issued work still open, and what they
        finished this month), what opens next month, then their year."""
        ctx = request_context(request)
        year = _year_of(request, year)
        items = await programme.programme(ctx, year, mine=True)
        today = london_date(ctx.now)
        month_start = today.replace(day=1)
        next_month_end = ((month_start + dt.timedelta(days=62)).replace(day=1)) - dt.timedelta(days=1)
        # Not the person's years of finished work (issue 19): what is open, and what was finished this month.
        issued = await work.list_work(ctx, owner=ctx.actor.person_id, finished_before=month_start)
        to_do = [w for w in issued if not w.finished or (w.done_on and w.done_on >= month_start)]
        issued_keys = {(w.schedule_key.split(":", 1)[1], w.due_on, w.supervisee) for w in issued}
        coming = [
            i for i in await programme.programme(ctx, work.council_year(ctx.registry.council(ctx.actor.council), next_month_end), mine=True)
            if i.starts and i.due and today < work.period_opens(i.starts) <= next_month_end
            and (i.schedule, i.due, i.supervisee) not in issued_keys
        ]
        return await page(
            request, "programme/mine.html", title=f"My programme {year}", year=year, items=items,
            to_do=to_do, coming=coming, today=today, me=ctx.actor.person_id,
            # "As required" activities the person may start (issue 13 item 3).
            startable=await work_by_hand.startable(ctx),
        )

    @get("/work/{work_id:int}")
    async def work_item(self, request: Request, work_id: FromPath[int]) -> Template:
        ctx = request_context(request)
        item = await work.get_work(ctx, work_id)
        return await self._work_page(request, item, values={}, errors={})

    async def _work_page(self, request: Request, item: work.WorkItem, values: dict, errors: dict, status_code: int = 200):
        ctx = request_context(request)
        mine = item.owner_id == ctx.actor.person_id
        startable = mine and item.may_start
        # Issue 13: what the audit is on decides what the owner chooses: a
        # case, a person (from those they may choose), or a meeting's details.
        cases = await work.eligible_cases(ctx, item) if startable and item.about == "case" else []
        people = await work.eligible_people(ctx, item) if startable and item.about == "person" else []
        meetings = work.meeting_types(ctx, item) if startable and item.about == "meeting" else []
        window = work.meeting_window(ctx, item) if item.about == "meeting" else None
        files = (await evidence.of_work(ctx, [item.id])).get(item.id, [])
        limit = qaf_state(request.app.state).settings.evidence_max_bytes
        return await page(
            request, "programme/work.html", title=("Error: " if errors else "") + item.activity, w=item, mine=mine, cases=cases,
            people=people, meetings=meetings, window=window,
            values=values, errors=errors, status_code=status_code, today=london_date(ctx.now),
            criteria=case_attributes.criteria_words(ctx.registry, item.schedule_key),
            files=files, size_limit=evidence.size_limit_words(limit), steps=await work_workflow.steps(ctx, item),
            agency_request=await _agency_request(ctx, item, mine),
        )

    @post("/work/{work_id:int}/complete")
    async def complete(self, request: Request, work_id: FromPath[int]) -> Template | Redirect | Response:
        ctx = request_context(request)
        data = await form_data(request)
        done_on, date_error = govuk_date(data, "done_on")
        # PLAT-6: the evidence files, checked from their content before anything is written.
        files, file_error = evidence.check_all(await uploads(request), qaf_state(request.app.state).settings.evidence_max_bytes)
        try:
            if date_error or file_error:
                # Every field's error at once: the date's own, the files', and the others'.
                errors = {}
                try:
                    await work.complete(ctx, work_id, done_on=done_on or london_date(ctx.now), summary=data.get("summary", ""),
                                        outcome=data.get("outcome", ""), check_only=True)
                except Invalid as invalid:
                    errors = dict(invalid.errors)
                if date_error:
                    errors["done_on"] = date_error
                if file_error:
                    errors["evidence"] = file_error
                raise Invalid("Check the completion record", errors)
            async with transaction():
                await work.complete(ctx, work_id, done_on=done_on, summary=data.get("summary", ""), outcome=data.get("outcome", ""))
                await evidence.add_to_work(ctx, work_id, files)
        except Invalid as invalid:
            item = await work.get_work(ctx, work_id)
            if not invalid.errors:
                invalid.errors = {"summary": str(invalid)}
            return await self._work_page(request, item, values=data, errors=invalid.errors, status_code=422)
        flash(request, "Recorded as done")
        return see_other(request, f"/programme/work/{work_id}")

    @post("/work/{work_id:int}/evidence")
    async def add_evidence(self, request: Request, work_id: FromPath[int]) -> Template | Redirect | Response:
        """More evidence on a completion record, by its owner, after it was recorded."""
        ctx = request_context(request)
        files, problem = evidence.check_all(await uploads(request, "more_evidence"), qaf_state(request.app.state).settings.evidence_max_bytes,
                                            required=True)
        if problem:
            item = await work.get_work(ctx, work_id)
            return await self._work_page(request, item, values={}, errors={"more_evidence": problem}, status_code=422)
        await evidence.add_to_work(ctx, work_id, files)
        flash(request, "Evidence added" if len(files) == 1 else f"{len(files)} files of evidence added")
        return see_other(request, f"/programme/work/{work_id}")

    @get("/work/{work_id:int}/evidence/{file_id:int}")
    async def evidence_file(self, request: Request, work_id: FromPath[int], file_id: FromPath[int]) -> Response:
        return evidence_response(await evidence.download(request_context(request), work_id, file_id))

    @post("/work/{work_id:int}/step")
    async def step(self, request: Request, work_id: FromPath[int]) -> Template | Redirect | Response:
        """A step of the completion record's workflow (PLAT-2)."""
        ctx = request_context(request)
        data = await form_data(request)
        try:
            item = await work_workflow.take_step(ctx, work_id, data.get("step", ""), data.get("reason", ""))
        except Invalid as invalid:
            item = await work.get_work(ctx, work_id)
            # Each step has its own reason box: the error goes to the one used.
            step = data.get("step", "")
            errors = {f"reason-{step}" if key == "reason" else key: message for key, message in invalid.errors.items()}
            return await self._work_page(request, item, values=data, errors=errors or {f"reason-{step}": str(invalid)},
                                         status_code=422)
        flash(request, "Done" if item.finished else item.state_label)
        return see_other(request, f"/programme/work/{work_id}")

    @post("/work/{work_id:int}/start")
    async def start(self, request: Request, work_id: FromPath[int]) -> Template | Redirect | Response:
        ctx = request_context(request)
        data = await form_data(request)
        meeting_on, date_error = govuk_date(data, "meeting_on")
        try:
            allocation_id = await work.start(ctx, work_id, data.get("case", ""), person=data.get("person") or None,
                                             meeting_type=data.get("meeting_type", ""), meeting_on=meeting_on,
                                             date_error=date_error)
        except Invalid as invalid:
            item = await work.get_work(ctx, work_id)
            return await self._work_page(request, item, values=data, errors=invalid.errors or {"case": str(invalid)}, status_code=422)
        flash(request, "Audit started")
        return see_other(request, f"/audits/{allocation_id}")

    # ------------------------------------------------ "as required", by hand
    @get("/start/{key:str}")
    async def start_by_hand_page(self, request: Request, key: FromPath[str]) -> Template:
        """Start an "as required" activity: when it is due, and its theme."""
        ctx = request_context(request)
        activity = await work_by_hand.startable_one(ctx, key)
        due = work_by_hand.default_due(london_date(ctx.now))
        values = {"due_on-day": str(due.day), "due_on-month": str(due.month), "due_on-year": str(due.year)}
        return await self._start_page(request, activity, values, {})

    async def _start_page(self, request: Request, activity: work_by_hand.Startable, values: dict, errors: dict,
                          status_code: int = 200) -> Template:
        today = london_date(request_context(request).now)
        return await page(
            request, "programme/start.html", title=("Error: " if errors else "") + f"Start {activity.activity}",
            activity=activity, values=values, errors=errors, status_code=status_code, today=today,
            default_due=work_by_hand.default_due(today),
        )

    @post("/start/{key:str}")
    async def start_by_hand(self, request: Request, key: FromPath[str]) -> Template | Redirect | Response:
        ctx = request_context(request)
        activity = await work_by_hand.startable_one(ctx, key)
        data = await form_data(request)
        due_on, date_error = govuk_date(data, "due_on")
        try:
            item = await work_by_hand.start_by_hand(ctx, key, due_on=None if date_error else due_on,
                                                    theme=data.get("theme", ""))
        except Invalid as invalid:
            # Every field's error at once: the date's own wording where it could not be read.
            errors = dict(invalid.errors) or {"due_on": str(invalid)}
            if date_error:
                errors["due_on"] = date_error
            return await self._start_page(request, activity, data, errors, status_code=422)
        flash(request, f"{item.activity} started", f"Due {item.due_on:%-d %B %Y}")
        return see_other(request, f"/programme/work/{item.id}")


async def _agency_request(ctx, item, mine: bool) -> dict | None:
    """Issue 14: a QA manager's work that is a request to agencies offers to
    issue it (with its period and agencies filled in), or names the one issued."""
    from core.services import agency_requests

    supplied = ctx.registry.schedules.get(item.schedule_key)
    if supplied is None or supplied.value.request is None or not mine:
        return None
    issued = await agency_requests.request_of_work(item.id)
    return {"issued": issued, "href": f"/requests/new?work={item.id}"}
