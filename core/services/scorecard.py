"""The quarterly Performance Scorecard (CSCP-2, CSCP 5.1).

- **Indicators are data** (``scorecard_indicator``): owner agency, definition,
  direction, green and amber thresholds. They are seeded once per
  organisation from the council's ``scorecard_indicators`` and afterwards
  change only through an ``indicator_change`` record: proposed, tabled at the
  A&P subgroup, and approved by the Audit Chair recording that the meeting
  was quorate, how many members were present and the minute reference (5.1:
  "approved by a quorate A&P subgroup and formally recorded in the meeting
  minutes"). Only an approval changes the indicator.
- **Figures and commentary come from the agencies**: an agency's accepted
  scorecard return (an allocation on ``scorecard_return`` answering a request
  of kind ``scorecard``, ``finalised_at`` set) gives a row per indicator it
  owns: the indicator (its name or key), the figure and the commentary.
  :func:`prefill_answers` gives those rows for an agency's indicators.
- **A quarter's scorecard** (``scorecard_quarter``) is populated by the QA
  manager, considered and refined by the A&P subgroup and presented to the
  Partnership Board (workflow ``scorecard``).

Access: the partnership's readers see every indicator and figure; an
agency's people see only the indicators their agency owns.
"""

from __future__ import annotations

import datetime as dt
import json

from core import workflow as wf
from core.db.engine import transaction
from core.db.tables import Allocation, IndicatorChange, ScorecardIndicator, ScorecardQuarter
from core.services import partnership_steps as steps
from core.services.context import Context
from core.services.errors import Conflict, Forbidden, Invalid, NotFound

CHANGE_WORKFLOW = "indicator_change"
QUARTER_WORKFLOW = "scorecard"
RETURN_FORM = "scorecard_return"
DIRECTIONS = {"higher_is_better": "Higher is better", "lower_is_better": "Lower is better"}
RAG_WORDS = {"green": "Green", "amber": "Amber", "red": "Red", None: "No figure"}
# An agency's people who see their own agency's indicators and figures (CSCP-1).
AGENCY_ROLES = ("agency_lead", "agency_respondent")
FIELDS = ("key", "label", "priority", "owner_agency", "definition", "direction", "unit", "green", "amber", "active")


# ------------------------------------------------------------------ indicators


async def _seed(ctx: Context) -> None:
    """Write the council's defined indicators the first time they are asked for."""
    assert ctx.actor
    org = ctx.actor.organisation_id
    if await ScorecardIndicator.count().where(ScorecardIndicator.organisation == org):
        return
    defined = ctx.registry.council(ctx.actor.council).scorecard_indicators
    if not defined:
        return
    async with transaction():
        if await ScorecardIndicator.count().where(ScorecardIndicator.organisation == org):
            return
        for d in defined:
            rows = await ScorecardIndicator.insert(ScorecardIndicator(
                organisation=org, key=d.key, label=d.label, priority=d.priority, owner_agency=d.owner_agency,
                definition=d.definition, direction=d.direction, unit=d.unit, green=d.green, amber=d.amber, active=True,
                version=1, created_at=ctx.now, updated_at=ctx.now,
            )).returning(ScorecardIndicator.id)
            await steps.record(ctx, "scorecard_indicator", rows[0]["id"], "indicator_seeded", {"key": d.key, "label": d.label})


async def _scope(ctx: Context) -> str | None:
    """None: every agency's (the partnership's readers); else the actor's agency key."""
    if steps.reads_partnership(ctx):
        return None
    agency = await steps.agency_of(ctx) if ctx.actor.role in AGENCY_ROLES else None
    if agency is None:
        raise NotFound("There is no scorecard you can see")
    return agency["key"]


def _shape(ctx: Context, row: dict, agencies: dict[str, str]) -> dict:
    assert ctx.actor
    groups = {i.key: i.label for i in ctx.registry.council(ctx.actor.council).indicators}
    return row | {
        "priority_label": groups.get(row["priority"], row["priority"]),
        "owner_label": agencies.get(row["owner_agency"], row["owner_agency"]),
        "direction_label": DIRECTIONS.get(row["direction"], row["direction"]),
    }


async def indicators(ctx: Context, *, include_retired: bool = False) -> list[dict]:
    assert ctx.actor
    await _seed(ctx)
    only = await _scope(ctx)
    where = ScorecardIndicator.organisation == ctx.actor.organisation_id
    if not include_retired:
        where &= ScorecardIndicator.active == True  # noqa: E712
    if only is not None:
        where &= ScorecardIndicator.owner_agency == only
    rows = await ScorecardIndicator.select().where(where).order_by(ScorecardIndicator.priority).order_by(ScorecardIndicator.id)
    agencies = await steps.agency_names(ctx)
    return [_shape(ctx, r, agencies) for r in rows]


def rag(indicator: dict, figure: float | None) -> str | None:
    """Red, amber or green of a figure against the indicator's thresholds."""
    if figure is None:
        return None
    if indicator["direction"] == "lower_is_better":
        return "green" if figure <= indicator["green"] else "amber" if figure <= indicator["amber"] else "red"
    return "green" if figure >= indicator["green"] else "amber" if figure >= indicator["amber"] else "red"


def _number(value) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value).strip().replace(",", ""))
    except ValueError:
        return None


def _clean(ctx: Context, data: dict, current: dict | None, taken: set[str]) -> tuple[dict, dict[str, str]]:
    """A full indicator from a proposal (a change names only what changes)."""
    assert ctx.actor
    council = ctx.registry.council(ctx.actor.council)
    merged = {k: (current or {}).get(k) for k in FIELDS} | {k: v for k, v in (data or {}).items() if k in FIELDS}
    errors: dict[str, str] = {}
    out: dict = {}
    key = str(merged.get("key") or "").strip().lower()
    if current is None:
        if not key or not all(c.isalnum() or c == "_" for c in key) or len(key) > 64:
            errors["key"] = "Enter a short key for the indicator: letters, numbers and underscores"
        elif key in taken:
            errors["key"] = "There is already an indicator with that key"
    out["key"] = key
    label = str(merged.get("label") or "").strip()
    if not label:
        errors["label"] = "Enter the indicator's name"
    elif len(label) > 300:
        errors["label"] = "The name must be 300 characters or fewer"
    out["label"] = label
    groups = {i.key for i in council.indicators}
    out["priority"] = str(merged.get("priority") or "")
    if groups and out["priority"] not in groups:
        errors["priority"] = "Choose the partnership priority the indicator aligns to"
    out["owner_agency"] = str(merged.get("owner_agency") or "")
    if out["owner_agency"] not in {a.key for a in council.agencies}:
        errors["owner_agency"] = "Choose the agency that supplies the figure"
    out["definition"] = str(merged.get("definition") or "").strip()
    if not out["definition"]:
        errors["definition"] = "Say what the indicator counts"
    out["direction"] = str(merged.get("direction") or "")
    if out["direction"] not in DIRECTIONS:
        errors["direction"] = "Choose whether a higher or a lower figure is better"
    out["unit"] = str(merged.get("unit") or "").strip()[:32]
    for name in ("green", "amber"):
        number = _number(merged.get(name))
        if number is None:
            errors[name] = f"Enter the figure where {name} starts, as a number"
        out[name] = number
    if "green" not in errors and "amber" not in errors and out["direction"] in DIRECTIONS:
        better = out["green"] >= out["amber"] if out["direction"] == "higher_is_better" else out["green"] <= out["amber"]
        if not better:
            errors["green"] = ("Green must start at or above amber when a higher figure is better" if out["direction"] == "higher_is_better"
                               else "Green must start at or below amber when a lower figure is better")
    active = merged.get("active")
    out["active"] = True if active is None else active in (True, "true", "yes", "on", 1)
    return out, errors


# ------------------------------------------------------------------ changes to an indicator


async def _change(ctx: Context, change_id: int) -> dict:
    assert ctx.actor
    row = await IndicatorChange.select().where(IndicatorChange.id == change_id).first()
    missing = NotFound("There is no indicator change with that number that you can see")
    if row is None or row["organisation"] != ctx.actor.organisation_id:
        raise missing
    if isinstance(row["proposal"], str):
        row["proposal"] = json.loads(row["proposal"] or "{}")
    if not steps.reads_partnership(ctx) and (row["proposal"].get("owner_agency") != await _scope(ctx)):
        raise missing  # an agency's lead sees the changes to its own agency's indicators
    return row


async def propose_change(ctx: Context, *, indicator_id: int | None, proposal: dict, why: str) -> int:
    """Propose a new indicator (``indicator_id`` None) or a change to one; by
    anyone the workflow lets table it (QA manager, A&P members, agency leads,
    the Audit Chair)."""
    assert ctx.actor
    workflow = steps.workflow_of(ctx, CHANGE_WORKFLOW)
    first = [t for t in workflow.transitions if workflow.initial in t.from_]
    if not any(ctx.actor.role in t.by for t in first):
        raise Forbidden("Only the QA manager, A&P subgroup members, agency leads and the Audit Chair can propose a change to an indicator")
    await _seed(ctx)
    current = None
    if indicator_id is not None:
        current = await ScorecardIndicator.select().where(
            (ScorecardIndicator.id == indicator_id) & (ScorecardIndicator.organisation == ctx.actor.organisation_id)).first()
        if current is None:
            raise NotFound("There is no indicator with that number")
    taken = {r["key"] for r in await ScorecardIndicator.select(ScorecardIndicator.key).where(
        ScorecardIndicator.organisation == ctx.actor.organisation_id)}
    cleaned, errors = _clean(ctx, proposal, current, taken)
    why = (why or "").strip()
    if not why:
        errors["why"] = "Say why the indicator should change (for example the re-set priority it serves)"
    if current is not None and not errors and all(cleaned[k] == current[k] for k in FIELDS if k != "key"):
        errors["label"] = "The proposal changes nothing: change at least one field"
    if errors:
        raise Invalid("The change could not be proposed", errors)
    async with transaction():
        rows = await IndicatorChange.insert(IndicatorChange(
            organisation=ctx.actor.organisation_id, indicator=indicator_id, proposal=cleaned, why=why,
            workflow_key=f"{ctx.actor.council}:{CHANGE_WORKFLOW}", state=workflow.initial, proposed_by=ctx.actor.person_id,
            proposed_at=ctx.now, updated_at=ctx.now,
        )).returning(IndicatorChange.id)
        change_id = rows[0]["id"]
        await steps.record(ctx, "indicator_change", change_id, "change_proposed",
                           {"indicator": indicator_id, "proposal": cleaned, "why": why})
    return change_id


async def take_change_step(ctx: Context, change_id: int, key: str, *, reason: str = "", quorate: bool | None = None,
                           members_present: int | None = None, minute_reference: str = "") -> None:
    """Table, approve or reject a change. Approval records that the A&P
    subgroup was quorate, how many members were present and the minute; only
    then is the indicator written (a new version)."""
    assert ctx.actor
    row = await _change(ctx, change_id)
    workflow = steps.workflow_of(ctx, CHANGE_WORKFLOW)
    chosen = steps.check_step(workflow, row["state"], key, {ctx.actor.role}, reason)
    decides = wf.state(workflow, chosen.to).final
    extra: dict = {}
    if decides:
        errors: dict[str, str] = {}
        minute_reference = (minute_reference or "").strip()
        if quorate is None:
            errors["quorate"] = "Say whether the A&P subgroup meeting was quorate"
        elif chosen.to == "approved" and not quorate:
            errors["quorate"] = "An indicator can change only with the approval of a quorate A&P subgroup (CSCP framework 5.1): table it at a quorate meeting"
        if members_present is None or members_present < 1:
            errors["members_present"] = "Enter how many subgroup members were present"
        if not minute_reference:
            errors["minute_reference"] = "Enter the minute that records the decision, for example 'A&P minutes 14 March 2027, item 4'"
        if errors:
            raise Invalid("The decision could not be recorded", errors)
        extra = {IndicatorChange.quorate: quorate, IndicatorChange.members_present: members_present,
                 IndicatorChange.minute_reference: minute_reference[:200], IndicatorChange.decided_by: ctx.actor.person_id,
                 IndicatorChange.decided_at: ctx.now}
    async with transaction():
        moved = await IndicatorChange.update({IndicatorChange.state: chosen.to, IndicatorChange.updated_at: ctx.now, **extra}).where(
            (IndicatorChange.id == change_id) & (IndicatorChange.state == row["state"])).returning(IndicatorChange.id)
        if not moved:
            raise Conflict("Someone else moved this change on just now; reload the page")
        changes = {"state": [row["state"], chosen.to]}
        if reason.strip():
            changes["reason"] = reason.strip()
        if decides:
            changes |= {"quorate": quorate, "members_present": members_present, "minute_reference": minute_reference}
        await steps.record(ctx, "indicator_change", change_id, f"transition:{chosen.key}", changes)
        if chosen.to == "approved":
            await _apply(ctx, row)
        await steps.tell(ctx, workflow, chosen, subject="Scorecard indicator change", link=f"/partnership/scorecard/changes/{change_id}")


async def _apply(ctx: Context, change: dict) -> None:
    p = change["proposal"]
    values = {k: p[k] for k in FIELDS if k != "key"}
    if change["indicator"] is None:
        rows = await ScorecardIndicator.insert(ScorecardIndicator(
            organisation=change["organisation"], key=p["key"], version=1, created_at=ctx.now, updated_at=ctx.now, **values,
        )).returning(ScorecardIndicator.id)
        indicator_id = rows[0]["id"]
        await steps.record(ctx, "scorecard_indicator", indicator_id, "indicator_added", {"change": change["id"], **values})
        return
    before = await ScorecardIndicator.select().where(ScorecardIndicator.id == change["indicator"]).first()
    await ScorecardIndicator.update({**{getattr(ScorecardIndicator, k): v for k, v in values.items()},
                                     ScorecardIndicator.version: before["version"] + 1, ScorecardIndicator.updated_at: ctx.now}).where(
        ScorecardIndicator.id == change["indicator"])
    await steps.record(ctx, "scorecard_indicator", change["indicator"], "indicator_changed", {
        "change": change["id"], **{k: [before[k], v] for k, v in values.items() if before[k] != v}})


async def change_view(ctx: Context, change_id: int) -> dict:
    row = await _change(ctx, change_id)
    workflow = steps.workflow_of(ctx, CHANGE_WORKFLOW)
    current = None
    if row["indicator"] is not None:
        current = await ScorecardIndicator.select().where(ScorecardIndicator.id == row["indicator"]).first()
    agencies = await steps.agency_names(ctx)
    return {
        "change": row,
        "proposal": _shape(ctx, dict(row["proposal"]), agencies),
        "current": _shape(ctx, current, agencies) if current else None,
        "state_label": wf.state(workflow, row["state"]).label,
        "steps": steps.steps_for(ctx, workflow, row["state"], {ctx.actor.role}),
        "chain": await steps.chain("indicator_change", change_id, workflow),
    }


async def changes(ctx: Context) -> list[dict]:
    assert ctx.actor
    steps.require_reader(ctx, "indicator change")
    workflow = steps.workflow_of(ctx, CHANGE_WORKFLOW)
    rows = await IndicatorChange.select().where(IndicatorChange.organisation == ctx.actor.organisation_id).order_by(
        IndicatorChange.id, ascending=False)
    for r in rows:
        if isinstance(r["proposal"], str):
            r["proposal"] = json.loads(r["proposal"] or "{}")
        r["state_label"] = wf.state(workflow, r["state"]).label
    return rows


# ------------------------------------------------------------------ figures from the returns


def prefill_answers(ctx: Context, indicator_rows: list[dict], agency_key: str) -> dict[str, str]:
    """Answers for a new scorecard return: one row per indicator the agency
    owns, under its priority (for the service that issues the return)."""
    answers: dict[str, str] = {}
    counters: dict[str, int] = {}
    for ind in indicator_rows:
        if ind["owner_agency"] != agency_key or not ind["active"]:
            continue
        n = counters[ind["priority"]] = counters.get(ind["priority"], 0) + 1
        answers[f"answer.{ind['priority']}.figures.{n}.indicator"] = ind["label"]
    return answers


def _reported_quarter(ctx: Context, answers: dict, due_on: dt.date) -> tuple[int, int]:
    """The quarter a return reports: its own 'Quarter' answer, in the year
    whose quarter ended last on or before the request's deadline."""
    year, quarter = steps.quarter_of(ctx, due_on)
    chosen = str(answers.get("answer.return_details.quarter") or "").lower().removeprefix("q")
    if chosen not in ("1", "2", "3", "4"):
        # No answer: the last quarter that ended before the deadline.
        return (year, quarter - 1) if quarter > 1 else (year - 1, 4)
    n = int(chosen)
    for y in (year, year - 1):
        if steps.quarter_bounds(ctx, y, n)[1] <= due_on:
            return y, n
    return year, n


async def _accepted_returns(ctx: Context) -> list[dict]:
    assert ctx.actor
    rows = await Allocation.select(
        Allocation.id, Allocation.answers, Allocation.finalised_at, Allocation.agency.key.as_alias("agency_key"),
        Allocation.agency_request.due_on.as_alias("due_on"),
    ).where(
        (Allocation.organisation == ctx.actor.organisation_id) & Allocation.finalised_at.is_not_null()
        & (Allocation.form_key == f"{ctx.actor.council}:{RETURN_FORM}") & (Allocation.agency_request.kind == "scorecard")
    ).order_by(Allocation.finalised_at).order_by(Allocation.id)
    for r in rows:
        if isinstance(r["answers"], str):
            r["answers"] = json.loads(r["answers"] or "{}")
        r["agency_key"] = r["agency_key"] or r["answers"].get("answer.return_details.agency") or ""
    return rows


def _figures_of(ctx: Context, ret: dict, by_agency: dict[str, list[dict]]) -> dict[int, tuple[float | None, str]]:
    """indicator id -> (figure, commentary) from one return, for the indicators its agency owns."""
    assert ctx.actor
    mine = by_agency.get(ret["agency_key"], [])
    names = {}
    for ind in mine:
        names[ind["key"].casefold()] = ind
        names[ind["label"].strip().casefold()] = ind
    out: dict[int, tuple[float | None, str]] = {}
    answers = ret["answers"]
    for group in ctx.registry.council(ctx.actor.council).indicators:
        for n in range(1, 100):
            name = answers.get(f"answer.{group.key}.figures.{n}.indicator")
            figure = answers.get(f"answer.{group.key}.figures.{n}.figure")
            if name is None and figure is None:
                if n > 5:
                    break
                continue
            ind = names.get(str(name or "").strip().casefold())
            if ind is None:
                continue
            out[ind["id"]] = (_number(figure), str(answers.get(f"answer.{group.key}.figures.{n}.commentary") or ""))
    return out


def _previous(year: int, quarter: int, n: int) -> list[tuple[int, int]]:
    out = []
    for _ in range(n):
        out.append((year, quarter))
        year, quarter = (year, quarter - 1) if quarter > 1 else (year - 1, 4)
    return list(reversed(out))


def lens_of_scorecard(ctx: Context) -> str | None:
    from core.services.qa_overview import lens_of_forms

    return lens_of_forms(ctx).get(f"{ctx.actor.council}:{RETURN_FORM}")


async def quarter_view(ctx: Context, year: int, quarter: int, *, quarters: int = 4, lens: str | None = None) -> dict:
    """Each indicator's figure, RAG and commentary for the quarter, with its
    trend over the last ``quarters`` quarters. ``lens``: the scorecard's
    figures only if the scorecard is a source of that lens (CSCP-10)."""
    assert ctx.actor
    if quarter not in (1, 2, 3, 4):
        raise Invalid("Choose a quarter", {"quarter": "A quarter is 1, 2, 3 or 4"})
    lenses = {k: label for k, label in ((lens_.key, lens_.label) for lens_ in ctx.registry.council(ctx.actor.council).lenses)}
    if lens is not None and lens not in lenses:
        raise Invalid("Choose a lens", {"lens": "Choose one of the partnership's lenses"})
    own_lens = lens_of_scorecard(ctx)
    inds = await indicators(ctx)
    in_lens = lens is None or lens == own_lens
    by_agency: dict[str, list[dict]] = {}
    for ind in inds:
        by_agency.setdefault(ind["owner_agency"], []).append(ind)
    span = _previous(year, quarter, quarters)
    table: dict[tuple[int, int], dict[int, tuple[float | None, str]]] = {q: {} for q in span}
    if in_lens:
        for ret in await _accepted_returns(ctx):
            q = _reported_quarter(ctx, ret["answers"], ret["due_on"])
            if q in table:
                table[q].update(_figures_of(ctx, ret, by_agency))  # a later accepted return wins
    rows = []
    for ind in inds:
        trend = []
        for q in span:
            figure, commentary = table[q].get(ind["id"], (None, ""))
            trend.append({"quarter": steps.quarter_words(ctx, *q), "short": f"Q{q[1]} {q[0]}", "figure": figure,
                          "rag": rag(ind, figure), "rag_label": RAG_WORDS[rag(ind, figure)], "commentary": commentary})
        now = trend[-1]
        rows.append(ind | {"figure": now["figure"], "rag": now["rag"], "rag_label": now["rag_label"],
                           "commentary": now["commentary"], "trend": trend})
    counts = {k: sum(1 for r in rows if r["rag"] == k) for k in ("green", "amber", "red", None)}
    record = await ScorecardQuarter.select().where(
        (ScorecardQuarter.organisation == ctx.actor.organisation_id) & (ScorecardQuarter.year == year)
        & (ScorecardQuarter.quarter == quarter)).first()
    workflow = steps.workflow_of(ctx, QUARTER_WORKFLOW)
    held = {ctx.actor.role} | ({"auditor"} if record and record["created_by"] == ctx.actor.person_id else set())
    return {
        "year": year, "quarter": quarter, "quarter_words": steps.quarter_words(ctx, year, quarter),
        "rows": rows, "counts": {RAG_WORDS[k]: v for k, v in counts.items()},
        "lens": lens, "lens_label": lenses.get(lens or "", ""), "own_lens": own_lens, "own_lens_label": lenses.get(own_lens or "", ""),
        "in_lens": in_lens, "lenses": list(lenses.items()),
        "record": record,
        "state_label": wf.state(workflow, record["state"]).label if record else "",
        "steps": steps.steps_for(ctx, workflow, record["state"], held) if record and steps.reads_partnership(ctx) else [],
        "chain": await steps.chain("scorecard_quarter", record["id"], workflow) if record else [],
        "may_open": record is None and ctx.actor.can("administer"),
    }


async def open_quarter(ctx: Context, year: int, quarter: int) -> int:
    """The QA manager starts populating a quarter's scorecard (CSCP 5.1)."""
    assert ctx.actor
    steps.require_qa_manager(ctx, "populate the scorecard")
    if quarter not in (1, 2, 3, 4) or not 2000 <= year <= 2100:
        raise Invalid("Choose a quarter", {"quarter": "A quarter is 1, 2, 3 or 4 of a year"})
    workflow = steps.workflow_of(ctx, QUARTER_WORKFLOW)
    async with transaction():
        exists = await ScorecardQuarter.select(ScorecardQuarter.id).where(
            (ScorecardQuarter.organisation == ctx.actor.organisation_id) & (ScorecardQuarter.year == year)
            & (ScorecardQuarter.quarter == quarter)).first()
        if exists:
            raise Conflict(f"The scorecard for {steps.quarter_words(ctx, year, quarter)} is already being populated")
        rows = await ScorecardQuarter.insert(ScorecardQuarter(
            organisation=ctx.actor.organisation_id, year=year, quarter=quarter, workflow_key=f"{ctx.actor.council}:{QUARTER_WORKFLOW}",
            state=workflow.initial, created_by=ctx.actor.person_id, created_at=ctx.now, updated_at=ctx.now,
        )).returning(ScorecardQuarter.id)
        await steps.record(ctx, "scorecard_quarter", rows[0]["id"], "scorecard_opened", {"year": year, "quarter": quarter})
    return rows[0]["id"]


async def take_quarter_step(ctx: Context, year: int, quarter: int, key: str, reason: str = "") -> None:
    assert ctx.actor
    steps.require_reader(ctx, "scorecard")
    record = await ScorecardQuarter.select().where(
        (ScorecardQuarter.organisation == ctx.actor.organisation_id) & (ScorecardQuarter.year == year)
        & (ScorecardQuarter.quarter == quarter)).first()
    if record is None:
        raise NotFound("That quarter's scorecard has not been started")
    workflow = steps.workflow_of(ctx, QUARTER_WORKFLOW)
    held = {ctx.actor.role} | ({"auditor"} if record["created_by"] == ctx.actor.person_id else set())
    chosen = steps.check_step(workflow, record["state"], key, held, reason)
    async with transaction():
        moved = await ScorecardQuarter.update({ScorecardQuarter.state: chosen.to, ScorecardQuarter.updated_at: ctx.now}).where(
            (ScorecardQuarter.id == record["id"]) & (ScorecardQuarter.state == record["state"])).returning(ScorecardQuarter.id)
        if not moved:
            raise Conflict("Someone else moved this scorecard on just now; reload the page")
        await steps.record(ctx, "scorecard_quarter", record["id"], f"transition:{chosen.key}",
                           {"state": [record["state"], chosen.to], **({"reason": reason.strip()} if reason.strip() else {})})
        await steps.tell(ctx, workflow, chosen, subject=f"Performance Scorecard {steps.quarter_words(ctx, year, quarter)}",
                         link=f"/partnership/scorecard?year={year}&quarter={quarter}")


__all__ = ["change_view", "changes", "indicators", "open_quarter", "prefill_answers", "propose_change", "quarter_view", "rag",
           "take_change_step", "take_quarter_step"]
