"""The year's QA programme: by role and month for leaders, and each person's own."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from litestar import Controller, Request, get
from litestar.params import FromQuery
from litestar.response import Template

from core.calendar import london_date, utcnow
from core.services import programme
from core.services.errors import Forbidden
from web.auth.guards import signed_in
from web.context import request_context
from web.rendering import page
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
        )

    @get("/mine")
    async def mine(self, request: Request, year: FromQuery[int | None] = None) -> Template:
        ctx = request_context(request)
        year = _year_of(request, year)
        items = await programme.programme(ctx, year, mine=True)
        return await page(request, "programme/mine.html", title=f"My programme {year}", year=year, items=items)
