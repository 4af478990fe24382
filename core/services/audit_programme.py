"""The year's programme of multi-agency thematic audits (CSCP-3).

CSCP 5.2: "The CSCP aims to conduct a maximum of 4 multi-agency thematic
audits each year (one per quarter) ... The annual audit programme will be
discussed and agreed by the A&P Subgroup before any audits commence."

The QA manager drafts the year's programme (a theme for each quarter it
audits, at most four), takes it to the A&P subgroup, and the Audit Chair
records the subgroup's agreement (workflow ``audit_programme``). Themes can
change only while the programme is a draft.

:func:`check_thematic_allowed` is what the service that issues a thematic
request calls before it issues one: it refuses, with a reason a person can act
on, when the year's programme is not agreed, when the quarter has no thematic
audit in it, or when the quarter's thematic audit has already started.
"""

from __future__ import annotations

import datetime as dt

from core.calendar import london_date
from core.db.engine import transaction
from core.db.tables import AgencyRequest, AuditProgramme, AuditProgrammeTheme
from core.services import partnership_steps as steps
from core.services.context import Context
from core.services.errors import Conflict, Invalid, NotFound

WORKFLOW = "audit_programme"
MAX_A_YEAR = 4  # CSCP 5.2: "a maximum of 4 multi-agency thematic audits each year (one per quarter)"
THEMATIC_KINDS = ("thematic",)


def _clean_themes(themes: dict) -> tuple[dict[int, str], dict[str, str]]:
    errors: dict[str, str] = {}
    cleaned: dict[int, str] = {}
    for raw, theme in (themes or {}).items():
        try:
            quarter = int(str(raw).lower().removeprefix("q"))
        except ValueError:
            errors[f"quarter_{raw}"] = "A quarter is 1, 2, 3 or 4"
            continue
        if quarter not in (1, 2, 3, 4):
            errors[f"quarter_{raw}"] = "A quarter is 1, 2, 3 or 4"
            continue
        theme = str(theme or "").strip()
        if len(theme) > 300:
            errors[f"quarter_{quarter}"] = "A theme must be 300 characters or fewer"
        elif theme:
            cleaned[quarter] = theme
    if not cleaned and not errors:
        errors["quarter_1"] = "Enter the theme of at least one quarter's thematic audit"
    return cleaned, errors


async def _load(ctx: Context, programme_id: int) -> dict:
    assert ctx.actor
    row = await AuditProgramme.select().where(AuditProgramme.id == programme_id).first()
    if row is None or row["organisation"] != ctx.actor.organisation_id or not steps.reads_partnership(ctx):
        raise NotFound("There is no audit programme with that number that you can see")
    return row


async def create(ctx: Context, *, year: int, themes: dict) -> int:
    """The QA manager drafts the programme for the year starting ``year``."""
    assert ctx.actor
    steps.require_qa_manager(ctx, "draft the audit programme")
    cleaned, errors = _clean_themes(themes)
    if not isinstance(year, int) or not 2000 <= year <= 2100:
        errors["year"] = "Enter the year the programme starts, for example 2027"
    if errors:
        raise Invalid("The audit programme could not be drafted", errors)
    existing = await AuditProgramme.select(AuditProgramme.id).where(
        (AuditProgramme.organisation == ctx.actor.organisation_id) & (AuditProgramme.year == year)).first()
    if existing:
        raise Conflict(f"There is already an audit programme for {steps.year_words(ctx, year)}: change that one")
    workflow = steps.workflow_of(ctx, WORKFLOW)
    async with transaction():
        rows = await AuditProgramme.insert(AuditProgramme(
            organisation=ctx.actor.organisation_id, year=year, workflow_key=f"{ctx.actor.council}:{WORKFLOW}",
            state=workflow.initial, created_by=ctx.actor.person_id, created_at=ctx.now, updated_at=ctx.now,
        )).returning(AuditProgramme.id)
        programme_id = rows[0]["id"]
        await AuditProgrammeTheme.insert(*[AuditProgrammeTheme(programme=programme_id, quarter=q, theme=t) for q, t in sorted(cleaned.items())])
        await steps.record(ctx, "audit_programme", programme_id, "programme_drafted",
                           {"year": year, "themes": {f"Quarter {q}": t for q, t in sorted(cleaned.items())}})
    return programme_id


async def set_themes(ctx: Context, programme_id: int, themes: dict) -> None:
    """Change the draft's themes (only before it goes to the subgroup)."""
    row = await _load(ctx, programme_id)
    steps.require_qa_manager(ctx, "change the audit programme")
    if row["state"] != steps.workflow_of(ctx, WORKFLOW).initial:
        raise Conflict("The programme has gone to the A&P subgroup: its themes can no longer change")
    cleaned, errors = _clean_themes(themes)
    if errors:
        raise Invalid("The themes could not be saved", errors)
    async with transaction():
        await AuditProgrammeTheme.delete().where(AuditProgrammeTheme.programme == programme_id)
        await AuditProgrammeTheme.insert(*[AuditProgrammeTheme(programme=programme_id, quarter=q, theme=t) for q, t in sorted(cleaned.items())])
        await AuditProgramme.update({AuditProgramme.updated_at: ctx.now}).where(AuditProgramme.id == programme_id)
        await steps.record(ctx, "audit_programme", programme_id, "themes_changed",
                           {"themes": {f"Quarter {q}": t for q, t in sorted(cleaned.items())}})


def _held(ctx: Context, row: dict) -> set[str]:
    assert ctx.actor
    held = {ctx.actor.role}
    if row["created_by"] == ctx.actor.person_id:
        held.add("auditor")
    return held


async def take_step(ctx: Context, programme_id: int, key: str, reason: str = "") -> None:
    row = await _load(ctx, programme_id)
    workflow = steps.workflow_of(ctx, WORKFLOW)
    chosen = steps.check_step(workflow, row["state"], key, _held(ctx, row), reason)
    async with transaction():
        moved = await AuditProgramme.update({AuditProgramme.state: chosen.to, AuditProgramme.updated_at: ctx.now}).where(
            (AuditProgramme.id == programme_id) & (AuditProgramme.state == row["state"])).returning(AuditProgramme.id)
        if not moved:
            raise Conflict("Someone else moved this programme on just now; reload the page")
        await steps.record(ctx, "audit_programme", programme_id, f"transition:{chosen.key}",
                           {"state": [row["state"], chosen.to], **({"reason": reason.strip()} if reason.strip() else {})})
        await steps.tell(ctx, workflow, chosen, subject=f"Audit programme {steps.year_words(ctx, row['year'])}",
                         link=f"/partnership/programme/{programme_id}")


async def view(ctx: Context, programme_id: int) -> dict:
    row = await _load(ctx, programme_id)
    workflow = steps.workflow_of(ctx, WORKFLOW)
    themes = await AuditProgrammeTheme.select().where(AuditProgrammeTheme.programme == programme_id).order_by(AuditProgrammeTheme.quarter)
    started = await _thematic_requests(ctx, row["year"])
    for theme in themes:
        theme["quarter_words"] = steps.quarter_words(ctx, row["year"], theme["quarter"])
        theme["started"] = [r["title"] for r in started if r["quarter"] == theme["quarter"]]
    from core import workflow as wf

    return {
        "programme": row,
        "year_words": steps.year_words(ctx, row["year"]),
        "state_label": wf.state(workflow, row["state"]).label,
        "agreed": wf.state(workflow, row["state"]).final,
        "themes": themes,
        "steps": steps.steps_for(ctx, workflow, row["state"], _held(ctx, row)),
        "chain": await steps.chain("audit_programme", programme_id, workflow),
        "editable": row["state"] == workflow.initial and ctx.actor.can("administer"),
    }


async def programmes(ctx: Context) -> list[dict]:
    assert ctx.actor
    steps.require_reader(ctx, "audit programme")
    from core import workflow as wf

    workflow = steps.workflow_of(ctx, WORKFLOW)
    rows = await AuditProgramme.select().where(AuditProgramme.organisation == ctx.actor.organisation_id).order_by(
        AuditProgramme.year, ascending=False)
    for row in rows:
        row["year_words"] = steps.year_words(ctx, row["year"])
        row["state_label"] = wf.state(workflow, row["state"]).label
    return rows


async def _thematic_requests(ctx: Context, year: int) -> list[dict]:
    assert ctx.actor
    first, _ = steps.quarter_bounds(ctx, year, 1)
    _, last = steps.quarter_bounds(ctx, year, 4)
    rows = await AgencyRequest.select(AgencyRequest.id, AgencyRequest.title, AgencyRequest.issued_at).where(
        (AgencyRequest.organisation == ctx.actor.organisation_id) & AgencyRequest.kind.is_in(list(THEMATIC_KINDS))
        & (AgencyRequest.state != "withdrawn")).order_by(AgencyRequest.id)
    out = []
    for r in rows:
        day = london_date(r["issued_at"])
        if first <= day <= last:
            out.append(r | {"quarter": steps.quarter_of(ctx, day)[1]})
    return out


async def check_thematic_allowed(ctx: Context, on: dt.date | None = None, *, ignore_request: int | None = None) -> dict:
    """May a multi-agency thematic audit start on ``on`` (a London date; today
    by default)? Returns ``{"year", "quarter", "theme"}`` of the agreed
    programme's audit for that quarter; raises ``Conflict`` with the reason
    otherwise (CSCP 5.2). Call it in the same transaction that issues the
    request; ``ignore_request`` leaves out a request already written.
    The answer names the agreed programme's theme: only those who read the
    programme may ask (docs/access.md; the access matrix found it open to
    anyone signed in, issue 16 item 2)."""
    assert ctx.actor
    steps.require_reader(ctx, "audit programme")
    day = on or london_date(ctx.now)
    year, quarter = steps.quarter_of(ctx, day)
    words = steps.year_words(ctx, year)
    programme = await AuditProgramme.select().where(
        (AuditProgramme.organisation == ctx.actor.organisation_id) & (AuditProgramme.year == year)).first()
    if programme is None:
        raise Conflict(f"There is no audit programme for {words}. The A&P subgroup must agree the year's "
                       "programme before any thematic audit starts.")
    from core import workflow as wf

    workflow = steps.workflow_of(ctx, WORKFLOW)
    if not wf.state(workflow, programme["state"]).final:
        raise Conflict(f"The audit programme for {words} has not been agreed by the A&P subgroup yet "
                       f"(it is {wf.state(workflow, programme['state']).label.lower()}). No thematic audit can start before it is.")
    theme = await AuditProgrammeTheme.select().where(
        (AuditProgrammeTheme.programme == programme["id"]) & (AuditProgrammeTheme.quarter == quarter)).first()
    when = steps.quarter_words(ctx, year, quarter)
    if theme is None:
        raise Conflict(f"The agreed audit programme for {words} has no thematic audit in {when}.")
    started = [r for r in await _thematic_requests(ctx, year) if r["quarter"] == quarter and r["id"] != ignore_request]
    if started:
        raise Conflict(f"The thematic audit for {when} has already started (\u201c{started[0]['title']}\u201d). "
                       f"The partnership runs at most {MAX_A_YEAR} thematic audits a year, one a quarter.")
    return {"year": year, "quarter": quarter, "theme": theme["theme"], "programme": programme["id"]}


__all__ = ["check_thematic_allowed", "create", "programmes", "set_themes", "take_step", "view"]
