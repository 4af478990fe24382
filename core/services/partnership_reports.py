"""From a request's returns to a signed-off report and an action plan
(CSCP-5, CSCP-6, CSCP-8, CSCP-10).

- **Side by side** (CSCP-5, 5.2.1): for a multi-agency audit, each case's
  answers from every agency under each key line of enquiry of the
  Multi-Agency Audit Tool, with each agency's overall grade.
- **Findings and recommendations**: the QA manager records a finding per
  line of enquiry and raises recommendations (what, for which agency, the
  SMART action, by whom, by when).
- **The report** (CSCP-6, 5.2): an audit on form ``audit_report`` moved by
  ``report_sign_off``, naming the request (``allocation.agency_request``,
  no agency). Drafted from the findings and recommendations, it carries the
  figures computed from the returns (per agency and overall: returned on
  time, late, not yet; accepted; each grade's count per standard). The QA
  manager takes it to the Audit Chair, who signs it off; the A&P subgroup
  (its chair or any member) asks for amendments or agrees it; the QA manager
  records it as presented to the Partnership Board. Each step's who and when
  comes from the trail and is printed on the PDF.
- **The action plan** (CSCP-8, 5.5): once the subgroup has agreed the
  report, its SMART action plan rows become an action plan monitored by the
  A&P subgroup, one action per row, owned by the agency's lead.

Access: the partnership's readers (``partnership_steps.reads_partnership``)
read a request's returns side by side, the figures and the report; only the
QA manager records findings, drafts and edits; each sign-off step is taken
by the roles the workflow names. An agency's people see none of this: their
own returns are on their own pages.
"""

from __future__ import annotations

import datetime as dt
import json

from core import workflow as wf
from core.calendar import london_date, working_deadline
from core.db.engine import transaction
from core.db.tables import ActionPlan, AgencyRequest, Allocation, Notification, Person, RequestFinding, RequestRecommendation
from core.forms import fields_of, problems_for_submit
from core.services import action_plans, audits
from core.services import partnership_steps as steps
from core.services.allocations import create_allocation
from core.services.context import Context
from core.services.errors import Conflict, Forbidden, Invalid, NotFound

REPORT_FORM = "audit_report"
REPORT_WORKFLOW = "report_sign_off"
KIND_WORDS = {"section_11": "Section 11 self-assessment", "section_175": "Section 175/157 self-assessment",
              "scorecard": "Scorecard figures", "thematic": "Multi-agency thematic audit", "impromptu": "Impromptu audit"}
# The report form's "Kind of audit" for each kind of request.
REPORT_KIND = {"thematic": "thematic", "impromptu": "impromptu", "section_11": "section_11", "section_175": "section_175_157"}
MULTI_AGENCY_KINDS = ("thematic", "impromptu")


async def _request(ctx: Context, request_id: int) -> dict:
    assert ctx.actor
    row = await AgencyRequest.select().where(AgencyRequest.id == request_id).first()
    if row is None or row["organisation"] != ctx.actor.organisation_id or not steps.reads_partnership(ctx):
        raise NotFound("There is no request with that number that you can see")
    row["kind_words"] = KIND_WORDS.get(row["kind"], row["kind"])
    return row


def _answers(row: dict) -> dict:
    value = row.get("answers")
    return json.loads(value or "{}") if isinstance(value, str) else dict(value or {})


async def returns_of(ctx: Context, request_id: int) -> list[dict]:
    """Every agency's return to the request (one per agency, or per agency per case)."""
    await _request(ctx, request_id)
    rows = await Allocation.select(
        Allocation.id, Allocation.state, Allocation.answers, Allocation.due_at, Allocation.submitted_at, Allocation.finalised_at,
        Allocation.form_key, Allocation.workflow_key, Allocation.child_case.external_id.as_alias("case"),
        Allocation.agency.key.as_alias("agency_key"), Allocation.agency.name.as_alias("agency_name"),
    ).where((Allocation.agency_request == request_id) & Allocation.agency.is_not_null()).order_by(
        Allocation.agency.name).order_by(Allocation.id)
    for r in rows:
        r["answers"] = _answers(r)
        r["accepted"] = r["finalised_at"] is not None
        try:
            r["state_label"] = wf.state(ctx.registry.workflow(r["workflow_key"]), r["state"]).label
        except KeyError:
            r["state_label"] = r["state"]
    return rows


def _timeliness(r: dict) -> str:
    if r["submitted_at"] is None:
        return "not_returned"
    return "on_time" if r["submitted_at"] <= r["due_at"] else "late"


def _form(ctx: Context, form_key: str):
    form = ctx.registry.form(form_key)
    return form, fields_of(ctx.registry, form_key.split(":", 1)[0], form, "audit")


async def figures(ctx: Context, request_id: int, *, lens: str | None = None) -> dict:
    """Figures computed from the request's returns, per agency and overall:
    returned on time, late, not yet; accepted; and, from accepted returns,
    how many had each grade for each standard. ``lens``: nothing unless the
    request's form is a source of that lens (CSCP-10)."""
    request = await _request(ctx, request_id)
    from core.services.qa_overview import lens_of_forms

    lens_labels = {lens_.key: lens_.label for lens_ in ctx.registry.council(ctx.actor.council).lenses}
    if lens is not None and lens not in lens_labels:
        raise Invalid("Choose a lens", {"lens": "Choose one of the partnership's lenses"})
    own_lens = lens_of_forms(ctx).get(request["form_key"])
    rows = [r for r in await returns_of(ctx, request_id)] if lens is None or lens == own_lens else []
    form, form_fields = _form(ctx, request["form_key"])
    domains = form_fields.domains()
    levels = [(lvl.key, lvl.label) for lvl in form_fields.scale.levels] if form_fields.scale else []
    last_phase = form_fields.phases[-1] if form_fields.phases else None

    def empty() -> dict:
        return {"requested": 0, "accepted": 0, "on_time": 0, "late": 0, "not_returned": 0,
                "grades": {d: {lvl: 0 for lvl, _ in levels} for d, _ in domains}}

    per: dict[str, dict] = {}
    overall = empty()
    for r in rows:
        agency = per.setdefault(r["agency_key"], empty() | {"agency": r["agency_name"]})
        for bucket in (agency, overall):
            bucket["requested"] += 1
            bucket[_timeliness(r)] += 1
            if r["accepted"]:
                bucket["accepted"] += 1
                if last_phase:
                    for d, _ in domains:
                        level = r["answers"].get(f"grade.{last_phase}.{d}")
                        if level in bucket["grades"][d]:
                            bucket["grades"][d][level] += 1
    return {
        "request": request, "lens": lens, "lens_label": lens_labels.get(lens or "", ""),
        "own_lens_label": lens_labels.get(own_lens or "", ""), "lenses": list(lens_labels.items()),
        "agencies": sorted(per.values(), key=lambda a: a["agency"]), "overall": overall,
        "domains": domains, "levels": levels,
    }


def _lines(ctx: Context, form_key: str) -> list[tuple[str, str]]:
    """(section.question, label) of every what-worked-well / areas-for-development question."""
    form = ctx.registry.form(form_key)
    return [(f"{s.key}.{q.key}", q.label) for s in form.sections for q in s.questions if q.type == "strengths_development"]


async def side_by_side(ctx: Context, request_id: int) -> dict:
    """Each case, each line of enquiry, every agency's answer (CSCP-5)."""
    request = await _request(ctx, request_id)
    rows = await returns_of(ctx, request_id)
    lines = _lines(ctx, request["form_key"])
    form, form_fields = _form(ctx, request["form_key"])
    level_words = {lvl.key: lvl.label for lvl in form_fields.scale.levels} if form_fields.scale else {}
    last_phase = form_fields.phases[-1] if form_fields.phases else None
    cases: dict[str, list[dict]] = {}
    for r in rows:
        cases.setdefault(r["case"] or "", []).append(r)
    findings = {f["line"]: f for f in await RequestFinding.select().where(RequestFinding.agency_request == request_id)}
    out = []
    for case, returns in cases.items():
        out.append({
            "case": case,
            "agencies": [{"agency": r["agency_name"], "state": r["state_label"], "accepted": r["accepted"],
                          "grade": level_words.get(r["answers"].get(f"grade.{last_phase}.overall"), "") if last_phase else ""}
                         for r in returns],
            "lines": [{"key": key, "label": label, "by_agency": [
                {"agency": r["agency_name"], "accepted": r["accepted"],
                 "worked_well": str(r["answers"].get(f"answer.{key}.worked_well") or ""),
                 "development": str(r["answers"].get(f"answer.{key}.development") or "")} for r in returns]}
                for key, label in lines],
        })
    recommendations = await RequestRecommendation.select().where(RequestRecommendation.agency_request == request_id).order_by(
        RequestRecommendation.id)
    agencies = await steps.agency_names(ctx)
    for rec in recommendations:
        rec["agency_label"] = agencies.get(rec["agency"], "The partnership")
    return {
        "request": request, "cases": out, "lines": [{"key": k, "label": label, "finding": findings.get(k)} for k, label in lines],
        "recommendations": recommendations, "accepted": sum(1 for r in rows if r["accepted"]), "returns": len(rows),
        "agency_items": [{"value": a.key, "text": agencies.get(a.key, a.label)} for a in ctx.registry.council(ctx.actor.council).agencies],
        "may_write": ctx.actor.can("administer"),
    }


async def record_finding(ctx: Context, request_id: int, line: str, *, worked_well: str, development: str) -> None:
    """The QA manager's finding on one line of enquiry, across the agencies."""
    request = await _request(ctx, request_id)
    steps.require_qa_manager(ctx, "record findings")
    lines = dict(_lines(ctx, request["form_key"]))
    if line not in lines:
        raise NotFound("That form has no such line of enquiry")
    worked_well, development = (worked_well or "").strip(), (development or "").strip()
    if not worked_well and not development:
        raise Invalid("The finding could not be recorded", {
            "worked_well": f"{lines[line]}: enter what worked well, areas for development, or both"})
    async with transaction():
        existing = await RequestFinding.select(RequestFinding.id).where(
            (RequestFinding.agency_request == request_id) & (RequestFinding.line == line)).first()
        if existing:
            await RequestFinding.update({RequestFinding.worked_well: worked_well, RequestFinding.development: development,
                                         RequestFinding.recorded_by: ctx.actor.person_id, RequestFinding.recorded_at: ctx.now}).where(
                RequestFinding.id == existing["id"])
        else:
            await RequestFinding.insert(RequestFinding(
                organisation=ctx.actor.organisation_id, agency_request=request_id, line=line, worked_well=worked_well,
                development=development, recorded_by=ctx.actor.person_id, recorded_at=ctx.now))
        await steps.record(ctx, "agency_request", request_id, "finding_recorded",
                           {"line": lines[line], "worked_well": worked_well, "development": development})


async def raise_recommendation(ctx: Context, request_id: int, *, recommendation: str, agency: str, action: str,
                               by_whom: str, by_when) -> int:
    await _request(ctx, request_id)
    steps.require_qa_manager(ctx, "raise recommendations")
    errors: dict[str, str] = {}
    recommendation, action, by_whom = (recommendation or "").strip(), (action or "").strip(), (by_whom or "").strip()
    if not recommendation:
        errors["recommendation"] = "Enter the recommendation"
    if agency and agency not in {a.key for a in ctx.registry.council(ctx.actor.council).agencies}:
        errors["agency"] = "Choose an agency, or none for the whole partnership"
    if not action:
        errors["action"] = "Enter the SMART action that carries it out"
    if not by_whom:
        errors["by_whom"] = "Say who will do it"
    elif len(by_whom) > 200:
        errors["by_whom"] = "Who will do it must be 200 characters or fewer"
    day = by_when if isinstance(by_when, dt.date) else None
    if day is None:
        try:
            day = dt.date.fromisoformat(str(by_when or "").strip())
        except ValueError:
            errors["by_when"] = "Enter the date it is due by"
    if day is not None and day < london_date(ctx.now):
        errors["by_when"] = "The date it is due by must be today or in the future"
    if errors:
        raise Invalid("The recommendation could not be raised", errors)
    async with transaction():
        rows = await RequestRecommendation.insert(RequestRecommendation(
            organisation=ctx.actor.organisation_id, agency_request=request_id, recommendation=recommendation, agency=agency or "",
            action=action, by_whom=by_whom, by_when=day, raised_by=ctx.actor.person_id, raised_at=ctx.now,
        )).returning(RequestRecommendation.id)
        await steps.record(ctx, "agency_request", request_id, "recommendation_raised",
                           {"recommendation": recommendation, "agency": agency, "action": action, "by_whom": by_whom,
                            "by_when": day.isoformat()})
    return rows[0]["id"]


# ------------------------------------------------------------------ the report


async def _report(ctx: Context, request_id: int) -> dict | None:
    row = await Allocation.select(Allocation.id).where(
        (Allocation.agency_request == request_id) & Allocation.agency.is_null()
        & (Allocation.form_key == f"{ctx.actor.council}:{REPORT_FORM}")).order_by(Allocation.id).first()
    if row is None:
        return None
    return await audits.load_row(row["id"], ctx.registry)


async def draft_report(ctx: Context, request_id: int) -> int:
    """The QA manager drafts the request's report from its findings and
    recommendations; refused until at least one return is accepted."""
    request = await _request(ctx, request_id)
    steps.require_qa_manager(ctx, "draft the report")
    if await _report(ctx, request_id):
        raise Conflict("This request already has its report: open it to change it")
    rows = await returns_of(ctx, request_id)
    if not any(r["accepted"] for r in rows):
        raise Conflict("No agency's return has been accepted yet: accept at least one return before drafting the report")
    if request["kind"] not in REPORT_KIND:
        raise Conflict("A scorecard request is reported on the scorecard page, not in an audit report")
    view = await side_by_side(ctx, request_id)
    answers: dict[str, str] = {
        "answer.audit.kind": REPORT_KIND[request["kind"]],
        "answer.audit.theme": request["title"],
        "answer.audit.period": request["period"],
    }
    well = [f"{line['label']}: {line['finding']['worked_well']}" for line in view["lines"] if line["finding"] and line["finding"]["worked_well"]]
    dev = [f"{line['label']}: {line['finding']['development']}" for line in view["lines"] if line["finding"] and line["finding"]["development"]]
    if well:
        answers["answer.findings.findings.worked_well"] = "\n".join(well)
    if dev:
        answers["answer.findings.findings.development"] = "\n".join(dev)
    form = ctx.registry.form(f"{ctx.actor.council}:{REPORT_FORM}")
    table = next((q for sec in form.sections if sec.key == "recommendations" for q in sec.questions if q.key == "action_plan"), None)
    room = table.rows if table is not None else 5
    for n, rec in enumerate(view["recommendations"][:room], start=1):
        base = f"answer.recommendations.action_plan.{n}"
        answers |= {f"{base}.recommendation": rec["recommendation"], f"{base}.action": rec["action"],
                    f"{base}.by_whom": rec["by_whom"], f"{base}.by_when": rec["by_when"].isoformat(),
                    f"{base}.progress": "Not started"}
        if rec["agency"]:
            answers[f"{base}.agency"] = rec["agency"]
    me = await Person.select().where(Person.id == ctx.actor.person_id).first()
    async with transaction():
        report_id = await create_allocation(
            ctx, organisation_id=ctx.actor.organisation_id, case=None, auditor=me, kind="audit",
            reason=f"Report on {request['kind_words'].lower()}: {request['title']}", form_key=f"{ctx.actor.council}:{REPORT_FORM}",
            workflow_key=f"{ctx.actor.council}:{REPORT_WORKFLOW}", due_at=working_deadline(ctx.now, 20),
        )
        await Allocation.update({Allocation.agency_request: request_id, Allocation.answers: answers}).where(Allocation.id == report_id)
        await steps.record(ctx, "agency_request", request_id, "report_drafted", {"report": report_id})
    return report_id


def _held(ctx: Context, report: dict) -> set[str]:
    held = {ctx.actor.role}
    if report["auditor"] == ctx.actor.person_id:
        held.add("auditor")
    return held


async def report_view(ctx: Context, request_id: int, *, lens: str | None = None) -> dict:
    request = await _request(ctx, request_id)
    report = await _report(ctx, request_id)
    numbers = await figures(ctx, request_id, lens=lens)
    if report is None:
        return {"request": request, "report": None, "figures": numbers, "steps": [], "chain": [], "sections": []}
    form, workflow = ctx.registry.form(report["form_key"]), ctx.registry.workflow(report["workflow_key"])
    form_fields = fields_of(ctx.registry, ctx.actor.council, form, "audit")
    answers = report["answers"] or {}
    sections = []
    for section in form_fields.sections:
        shown = []
        for f in form_fields.fields:
            if f.section != section.key or f.name.startswith("grade.") or f.name.startswith("evidence."):
                continue
            value = answers.get(f.name)
            if value in (None, ""):
                continue
            words = dict(f.options).get(value, value) if f.options else value
            if f.kind == "date":
                try:
                    words = f"{dt.date.fromisoformat(str(value)):%-d %B %Y}"
                except ValueError:
                    pass
            shown.append({"label": f.label, "value": str(words)})
        sections.append({"title": section.title, "items": shown})
    state = wf.state(workflow, report["state"])
    plan = await ActionPlan.select(ActionPlan.id, ActionPlan.title).where(ActionPlan.allocation == report["id"]).first()
    chain = [{"step": "Drafted by the Quality Assurance Manager", "by": report["auditor_name"], "at": report["created_at"], "reason": ""}]
    chain += await steps.chain("allocation", report["id"], workflow)
    available = [t for t in wf.available(workflow, report["state"], _held(ctx, report))]
    return {
        "request": request, "report": report, "state_label": state.label, "final": state.final, "figures": numbers,
        "sections": sections, "steps": available, "chain": chain, "plan": plan,
        "editable": report["state"] in ("drafting", "amending") and report["auditor"] == ctx.actor.person_id,
        "may_plan": plan is None and report["state"] in ("agreed", "presented") and bool(action_plans.bodies_for(ctx)),
    }


async def take_report_step(ctx: Context, request_id: int, key: str, reason: str = "") -> None:
    """A step of the report's sign-off (CSCP-6), by the roles the workflow names."""
    await _request(ctx, request_id)
    report = await _report(ctx, request_id)
    if report is None:
        raise NotFound("This request has no report yet")
    workflow = ctx.registry.workflow(report["workflow_key"])
    chosen = steps.check_step(workflow, report["state"], key, _held(ctx, report), reason)
    extra: dict = {}
    if report["state"] == workflow.initial:
        form = ctx.registry.form(report["form_key"])
        errors = problems_for_submit(fields_of(ctx.registry, ctx.actor.council, form, "audit"), report["answers"] or {}, None)
        if errors:
            raise Invalid("The report is not ready for the Audit Chair: complete it first", errors)
        extra[Allocation.submitted_at] = ctx.now
    if wf.state(workflow, chosen.to).final:
        extra[Allocation.finalised_at] = ctx.now
    people = await audits.relations_of(ctx, report)
    async with transaction():
        await audits._move(ctx, report, workflow, chosen, people, extra=extra, reason=reason.strip())
        # The subgroup's members and the Board read the report here, not on the audit page.
        await Notification.update({Notification.link: f"/partnership/requests/{request_id}#report"}).where(
            (Notification.allocation == report["id"]) & (Notification.created_at == ctx.now))


async def make_action_plan(ctx: Context, request_id: int) -> int:
    """The agreed report's SMART action plan becomes an action plan monitored
    by the A&P subgroup (CSCP-8, 5.5): one action per row, owned by the
    agency's lead (the QA manager for the partnership's own)."""
    request = await _request(ctx, request_id)
    report = await _report(ctx, request_id)
    if report is None:
        raise NotFound("This request has no report yet")
    if report["state"] not in ("agreed", "presented"):
        raise Conflict("The report's recommendations become an action plan once the A&P subgroup has agreed the report")
    if await ActionPlan.select(ActionPlan.id).where(ActionPlan.allocation == report["id"]).first():
        raise Conflict("This report's recommendations are already an action plan")
    bodies = action_plans.bodies_for(ctx)
    body = next((b for b in bodies if b.key == "ap_subgroup"), bodies[0] if bodies else None)
    if body is None:
        raise Forbidden("Only members of the A&P subgroup can open its action plans")
    answers = report["answers"] or {}
    rows = []
    for n in range(1, 100):
        base = f"answer.recommendations.action_plan.{n}"
        if not any(k.startswith(base + ".") for k in answers):
            if n > 5:
                break
            continue
        if answers.get(f"{base}.action"):
            rows.append({k: answers.get(f"{base}.{k}") or "" for k in ("recommendation", "agency", "action", "by_whom", "by_when")})
    if not rows:
        raise Conflict("The report has no SMART action plan rows to turn into actions")
    leads = {}
    for p in await Person.select(Person.id, Person.agency.key.as_alias("agency")).where(
            (Person.organisation == ctx.actor.organisation_id) & (Person.role == "agency_lead") & (Person.active == True)).order_by(Person.id):  # noqa: E712
        leads.setdefault(p["agency"], p["id"])
    async with transaction():
        plan_id = await action_plans.create(
            ctx, body=body.key, title=f"SMART action plan: {request['title']}"[:200],
            source_kind="multi_agency_audit" if request["kind"] in MULTI_AGENCY_KINDS else "audit",
            source_detail=f"{request['kind_words']}: {request['title']} ({request['period'] or 'no period'}), report agreed by the A&P subgroup",
            allocation_id=report["id"],
        )
        for row in rows:
            what = f"{row['recommendation']}: {row['action']} (by {row['by_whom']})" if row["recommendation"] else row["action"]
            await action_plans.add_action(ctx, plan_id, what=what[:2000], owner_id=leads.get(row["agency"], ctx.actor.person_id),
                                          due_on=row["by_when"])
        await steps.record(ctx, "agency_request", request_id, "action_plan_made", {"action_plan": plan_id, "actions": len(rows)})
    return plan_id


async def report_pdf(ctx: Context, request_id: int, render) -> bytes:
    """The report as a PDF with its figures and sign-off chain; ``render``
    turns (template, context) into HTML (the web layer's Jinja)."""
    from core.pdf import render_pdf

    view = await report_view(ctx, request_id)
    if view["report"] is None:
        raise NotFound("This request has no report yet")
    return await render_pdf(render("partnership/report_pdf.html", {"v": view}))


async def requests_overview(ctx: Context, *, lens: str | None = None) -> list[dict]:
    """Every request with its returns' figures, optionally of one lens (CSCP-10)."""
    assert ctx.actor
    steps.require_reader(ctx, "request")
    from core.services.qa_overview import lens_of_forms

    lens_of = lens_of_forms(ctx)
    rows = await AgencyRequest.select().where(AgencyRequest.organisation == ctx.actor.organisation_id).order_by(
        AgencyRequest.issued_at, ascending=False).order_by(AgencyRequest.id, ascending=False)
    labels = {lens_.key: lens_.label for lens_ in ctx.registry.council(ctx.actor.council).lenses}
    out = []
    for r in rows:
        if lens is not None and lens_of.get(r["form_key"]) != lens:
            continue
        numbers = await figures(ctx, r["id"])
        out.append(r | {"kind_words": KIND_WORDS.get(r["kind"], r["kind"]), "lens_label": labels.get(lens_of.get(r["form_key"], ""), "No lens"),
                        "overall": numbers["overall"]})
    return out


__all__ = ["draft_report", "figures", "make_action_plan", "raise_recommendation", "record_finding", "report_pdf", "report_view",
           "requests_overview", "returns_of", "side_by_side", "take_report_step"]
