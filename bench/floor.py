"""The query+render floor of each staff page (issue 6): in-process, the
best raw SQL for what the page shows, through the raw driver (sqlite3 /
asyncpg), and the page's real template rendered with the real Jinja
environment (``web.rendering.environment``) from a minimal context built
from those rows. No ORM, no HTTP, no sessions, no middleware.

Definitions (forms, workflows, scales, role labels) come from the plugin
registry in memory, as in the app: they are not queries. Each page's floor
is timed for the same seconds as its load run, one call after another, for
the same users in turn; its throughput is what one core can do at best,
and the page's ``ratio to floor`` is page req/s ÷ floor req/s (target ≥ 0.6).

What a floor leaves out (so the floor is, if anything, faster than the page
could be): the session store, CSRF, and on the audit form the case note of a
final audit (``reports_of_audit.case_note``) and the administrators'
auditor list (the benchmarked auditors do not administer).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from types import SimpleNamespace

from bench.rawdb import Chooser, Raw
from bench.rawreports import RawReports

# One query for who is asking (the session's person) and the unread badge.
_ME = (
    "SELECT p.id AS id, p.organisation AS organisation, p.role AS role, p.display_name AS display_name, p.team AS team,"
    " o.council AS council,"
    " (SELECT COUNT(*) FROM notification n WHERE n.recipient = p.id AND n.read_at IS NULL) AS unread"
    " FROM person p JOIN organisation o ON o.id = p.organisation WHERE p.id = {} AND p.active = {}"
)

_SUMMARY = (
    "SELECT a.id AS id, a.kind AS kind, a.state AS state, a.due_at AS due_at, a.state_due_at AS state_due_at,"
    " a.workflow_key AS workflow_key, a.workflow_version AS workflow_version,"
    " c.external_id AS case_external_id, c.category AS case_category, t.name AS team_name,"
    " au.display_name AS auditor_name, cy.year AS cycle_year, cy.month AS cycle_month"
    " FROM allocation a JOIN child_case c ON c.id = a.child_case LEFT JOIN team t ON t.id = c.team"
    " JOIN person au ON au.id = a.auditor LEFT JOIN cycle cy ON cy.id = a.cycle"
)


def _finals_in(finals: list[str], negate: bool = False) -> str:
    return f"a.state {'NOT ' if negate else ''}IN ({', '.join('{}' for _ in finals)})"


def _open(finals: list[str]) -> str:
    return _SUMMARY + f" WHERE a.auditor = {{}} AND {_finals_in(finals, True)} ORDER BY a.due_at, a.id"


def _completed(finals: list[str], of_cases: bool) -> str:
    # Newest first, one page (+1 to know if there is an older page), by the
    # (finalised_at, id) keyset. HAR 2.6: of my cases = the cases I work, or
    # my team's if I manage it.
    who = ("a.child_case IN (SELECT cc.id FROM child_case cc WHERE cc.organisation = {}"
           " AND (cc.allocated_worker = {} OR (cc.team IS NOT NULL AND cc.team = {})))") if of_cases else "a.auditor = {}"
    return _SUMMARY + (f" WHERE {who} AND {_finals_in(finals)} AND a.organisation = {{}}"
                       " ORDER BY a.finalised_at DESC, a.id DESC LIMIT {}")


PAGE = 20  # core.services.audits.COMPLETED_PAGE


def _queue(states: list[str]) -> str:
    marks = ", ".join("{}" for _ in states)
    return _SUMMARY + f" WHERE a.organisation = {{}} AND a.state IN ({marks}) ORDER BY a.updated_at, a.id"


# The QA queue's "moderation in the last 12 months": from the standing-grade
# summary qaf keeps (core.services.moderation.agreement asks the same).
_AGREEMENT = (
    "SELECT COUNT(*) AS moderated, COALESCE(SUM(CASE WHEN s.moderated_level = s.auditor_level THEN 1 ELSE 0 END), 0) AS agreed"
    " FROM standing_grade s WHERE s.organisation = {} AND s.due_at >= {} AND s.moderated_level IS NOT NULL"
)

_AUDIT = (
    "SELECT a.*, c.external_id AS case_external_id, c.category AS case_category, c.team AS case_team,"
    " t.name AS case_team_name, c.allocated_worker AS practitioner_id, c.chair AS case_chair_id,"
    " c.involvement_started_on AS involvement_started_on, au.display_name AS auditor_name,"
    " cy.year AS cycle_year, cy.month AS cycle_month, o.council AS council,"
    " (SELECT tm.id FROM person tm WHERE tm.team = c.team AND tm.role = {} AND tm.active = {} ORDER BY tm.id LIMIT 1)"
    " AS team_manager_id,"
    # CORE-12: the audit before this one of the case (the re-audit's predecessor,
    # else the latest earlier final audit), whose actions the page shows.
    " COALESCE(a.previous, (SELECT e.id FROM allocation e WHERE e.child_case = a.child_case AND e.id <> a.id"
    " AND e.created_at <= a.created_at AND e.finalised_at IS NOT NULL ORDER BY e.finalised_at DESC LIMIT 1))"
    " AS previous_audit"
    " FROM allocation a JOIN child_case c ON c.id = a.child_case LEFT JOIN team t ON t.id = c.team"
    " JOIN person au ON au.id = a.auditor LEFT JOIN cycle cy ON cy.id = a.cycle"
    " JOIN organisation o ON o.id = a.organisation WHERE a.id = {}"
)
_CHAIN = ("SELECT g.phase AS phase, g.domain AS domain, g.level AS level, g.evidence AS evidence, g.set_at AS set_at,"
          " s.display_name AS set_by_name FROM grade g LEFT JOIN person s ON s.id = g.set_by"
          " WHERE g.allocation = {} ORDER BY g.set_at, g.id")
_REVIEWS = ("SELECT r.decision AS decision, r.reason AS reason, r.created_at AS created_at, p.display_name AS reviewer_name"
            " FROM review r JOIN person p ON p.id = r.reviewer WHERE r.allocation = {} ORDER BY r.created_at")
# The rest of the page in one round trip: follow-ups, disputes, this audit's
# and the previous audit's actions, and the previous audit's final grades.
_AROUND = (
    "SELECT 'f' AS k, f.id AS id, f.action AS a, CAST(f.assignees AS TEXT) AS b, f.due_at AS due_at, f.status AS status, f.note AS c,"
    " f.done_at AS at, d.display_name AS name, CAST(NULL AS DATE) AS due_on, CAST(NULL AS INTEGER) AS rank FROM follow_up f"
    " LEFT JOIN person d ON d.id = f.done_by WHERE f.allocation = {}"
    " UNION ALL SELECT 'd', ds.id, ds.workflow_key, CAST(ds.domains AS TEXT), ds.state_due_at, ds.state, ds.outcome, NULL,"
    " NULL, NULL, ds.workflow_version FROM dispute ds WHERE ds.allocation = {}"
    " UNION ALL SELECT CASE WHEN ac.allocation = {} THEN 'a' ELSE 'p' END, ac.id, ac.what, NULL, ac.due_at, ac.status,"
    " NULL, NULL, o.display_name, ac.due_on, NULL FROM action ac JOIN person o ON o.id = ac.owner"
    " WHERE ac.allocation IN ({}, {})"
    " UNION ALL SELECT 'g', g.id, g.domain, g.level, g.set_at, NULL, NULL, NULL, NULL, NULL, g.rank FROM grade g"
    " WHERE g.allocation = {} AND g.phase = 'final'"
)
_NAMES = "SELECT id, display_name FROM person WHERE id IN ({})"
_PEOPLE = "SELECT id, display_name, role FROM person WHERE organisation = {} AND active = {} ORDER BY display_name"
_SCOPES = ("SELECT 'service' AS kind, id, name FROM service WHERE organisation = {}"
           " UNION ALL SELECT 'team', id, name FROM team WHERE organisation = {} ORDER BY 1, 3")


class Floors:
    """The floor of each staff page, for one registry and raw connection."""

    def __init__(self, registry, raw: Raw, now: dt.datetime | None = None) -> None:
        from web.rendering import environment

        self.registry = registry
        self.raw = raw
        self.chooser = Chooser(raw)
        self.reports = RawReports(raw, self.chooser)
        self.env = environment()
        self.now = now or dt.datetime.now(dt.timezone.utc)

    # ------------------------------------------------------------- shared

    async def _me(self, person_id: int):
        from core.services.context import actor_for

        me = await self.raw.one(_ME, person_id, True)
        actor = actor_for(self.registry, dict(me), me["council"])
        return me, actor

    def _shell(self, actor, me, title: str, path: str) -> dict:
        """What base.html needs, as web.rendering.shell_context builds it."""
        from web.rendering import NavItem, UserView

        role = self.registry.role(f"{actor.council}:{actor.role}")
        nav = [NavItem("/audits", "My audits", path.startswith("/audits"))]
        if actor.can("qa_review"):
            nav.append(NavItem("/qa", "QA queue", path.startswith("/qa")))
        if actor.can("administer"):
            nav += [NavItem("/cycles", "Cycles"), NavItem("/imports", "Imports")]
        if actor.can("administer") or actor.can("view_all_audits"):
            nav.append(NavItem("/programme", "Programme"))
        else:
            nav.append(NavItem("/programme/mine", "My programme"))
        if actor.can("view_all_audits") or actor.can("qa_review"):
            nav.append(NavItem("/reports", "Reports", path.startswith("/reports")))
        nav += [NavItem("/actions", "Actions"), NavItem("/notifications", "Notifications", False, int(me["unread"]))]
        council = self.registry.council(actor.council)
        return {
            "page_title": title, "user": UserView(actor.display_name, role.label), "nav": nav,
            "csrf_token": "floor", "flash": [],
            "category_labels": {c.key: c.label for c in council.case_categories},
        }

    def _summaries(self, rows) -> list[dict]:
        import core.workflow as wf

        out = []
        for r in rows:
            workflow = self.registry.workflow(r["workflow_key"], r["workflow_version"])
            item = dict(r)
            item["state_label"] = wf.state(workflow, r["state"]).label
            item["due_at"] = self.raw.dt(r["due_at"])
            item["state_due_at"] = self.raw.dt(r["state_due_at"])
            item["cycle"] = f"{r['cycle_year']}-{r['cycle_month']:02d}" if r["cycle_year"] else ""
            item["team_name"] = r["team_name"] or ""
            out.append(item)
        return out

    def _states(self, council: str, role: str) -> tuple[list[str], list[str]]:
        """(final states, QA-queue states) of the council's workflows for ``role``."""
        finals, review, editable = set(), set(), set()
        for (key, _), supplied in self.registry.workflows.items():
            if not key.startswith(f"{council}:"):
                continue
            workflow = supplied.value
            finals |= {s.key for s in workflow.states if s.final}
            editable.add(workflow.initial)
            for t in workflow.transitions:
                if role in t.by:
                    review.update(t.from_)
                if "auditor" in t.by:
                    editable.update(t.from_)
        return sorted(finals), sorted(review - editable) or [""]

    def _render(self, template: str, context: dict) -> str:
        return self.env.get_template(template).render(context)

    # ------------------------------------------------------------- pages

    async def my_audits(self, person_id: int) -> str:
        me, actor = await self._me(person_id)
        finals, _ = self._states(actor.council, actor.role)
        council = self.registry.council(actor.council)
        manages = actor.role == council.team_manager_role.split(":")[-1]
        org = actor.organisation_id
        to_do = self._summaries(await self.raw.all(_open(finals), person_id, *finals))

        def page(rows):
            items = self._summaries(rows[:PAGE])
            return SimpleNamespace(items=items, older=items[-1]["id"] if len(rows) > PAGE else None)

        completed = page(await self.raw.all(_completed(finals, False), person_id, *finals, org, PAGE + 1))
        mine = page(await self.raw.all(_completed(finals, True), org, person_id, me["team"] if manages else None,
                                       *finals, org, PAGE + 1))
        return self._render("audits/mine.html", self._shell(actor, me, "My audits", "/audits")
                            | {"to_do": to_do, "completed": completed, "of_my_cases": mine})

    async def qa_queue(self, person_id: int) -> str:
        from core.services.moderation import Agreement

        me, actor = await self._me(person_id)
        _, states = self._states(actor.council, actor.role)
        # As the page: the oldest QA_PAGE (core.services.audits), and how many wait when there are more.
        from core.services.audits import QA_PAGE

        org = actor.organisation_id
        queue = self._summaries(await self.raw.all(_queue(states) + " LIMIT {}", org, *states, QA_PAGE + 1))
        later = queue[QA_PAGE - 1]["id"] if len(queue) > QA_PAGE else None
        waiting = len(queue)
        if later is not None:
            marks = ", ".join("{}" for _ in states)
            waiting = int((await self.raw.one(
                f"SELECT COUNT(*) AS n FROM allocation a WHERE a.organisation = {{}} AND a.state IN ({marks})", org, *states))["n"])
        row = await self._agreement(org)
        agreement = Agreement(int(row["moderated"] or 0), int(row["agreed"] or 0))
        return self._render("qa/queue.html", self._shell(actor, me, "QA queue", "/qa")
                            | {"queue": queue[:QA_PAGE], "later": later, "waiting": waiting, "paged": False,
                               "agreement": agreement})

    async def _agreement(self, org: int):
        from core.services.moderation import AGREEMENT_WINDOW

        since = dt.datetime.now(dt.timezone.utc) - AGREEMENT_WINDOW
        return await self.raw.one(_AGREEMENT, org, self.raw.t(since))

    async def audit_form(self, person_id: int, allocation_id: int) -> str:
        import core.workflow as wf
        from core.definitions.model import RELATIONS
        from core.forms import fields_of
        from core.grading import compare

        me, actor = await self._me(person_id)
        council = self.registry.council(actor.council)
        row = dict(await self.raw.one(_AUDIT, council.team_manager_role.split(":")[-1], True, allocation_id))
        for key in ("due_at", "state_due_at", "submitted_at", "finalised_at", "created_at", "updated_at"):
            row[key] = self.raw.dt(row[key])
        if isinstance(row["answers"], str):
            row["answers"] = json.loads(row["answers"] or "{}")
        if isinstance(row["involvement_started_on"], str):
            row["involvement_started_on"] = dt.date.fromisoformat(row["involvement_started_on"])
        people = {"auditor": row["auditor"], "practitioner": row["practitioner_id"],
                  "team_manager": row["team_manager_id"], "case_chair": row["case_chair_id"]}
        held = {rel for rel, who in people.items() if who == person_id}
        if actor.role not in RELATIONS:
            held.add(actor.role)
        form = self.registry.form(row["form_key"], row["form_version"])
        workflow = self.registry.workflow(row["workflow_key"], row["workflow_version"])
        editable_states = {workflow.initial} | {s for t in workflow.transitions if "auditor" in t.by for s in t.from_}
        chain = [dict(g) | {"set_at": self.raw.dt(g["set_at"])} for g in await self.raw.all(_CHAIN, allocation_id)]
        reviews = [dict(r) | {"created_at": self.raw.dt(r["created_at"])} for r in await self.raw.all(_REVIEWS, allocation_id)]
        scope_from = None
        if form.scope_months:
            start = (row["created_at"] - dt.timedelta(days=round(form.scope_months * 30.44))).date()
            began = row["involvement_started_on"]
            scope_from = max(start, began) if began else start
        fields = fields_of(self.registry, row["council"], form, row["kind"])
        view = SimpleNamespace(
            row=row, form=form, workflow=workflow, fields=fields, answers=dict(row["answers"] or {}), relations=held,
            transitions=[t for t in wf.available(workflow, row["state"], held) if t.key != "start"],
            editable="auditor" in held and row["state"] in editable_states,
            state_label=wf.state(workflow, row["state"]).label, grade_chain=chain, reviews=reviews,
            scope_from=scope_from, id=row["id"], revision=row["revision"],
        )
        previous = row["previous_audit"]
        follow_ups, disputes, actions, previous_actions, before = [], [], [], [], {}
        for r in await self.raw.all(_AROUND, allocation_id, allocation_id, allocation_id, allocation_id,
                                    previous or 0, row["previous"] or 0):
            k = r["k"]
            if k == "f":
                assignees = json.loads(r["b"] or "[]") if isinstance(r["b"], str) else (r["b"] or [])
                follow_ups.append({"id": r["id"], "action": r["a"], "assignees": assignees, "due_at": self.raw.dt(r["due_at"]),
                                   "status": r["status"], "note": r["c"], "done_at": self.raw.dt(r["at"]),
                                   "done_by_name": r["name"], "mine": person_id in assignees})
            elif k == "d":
                dwf = self.registry.workflow(r["a"], r["rank"])
                domains = json.loads(r["b"] or "{}") if isinstance(r["b"], str) else (r["b"] or {})
                disputes.append({"id": r["id"], "domains": domains, "state_label": wf.state(dwf, r["status"]).label,
                                 "outcome": r["c"], "state_due_at": self.raw.dt(r["due_at"])})
            elif k in ("a", "p"):
                due_at = self.raw.dt(r["due_at"])
                item = {"id": r["id"], "what": r["a"], "owner_name": r["name"], "due_on": r["due_on"], "status": r["status"],
                        "overdue": r["status"] == "open" and due_at < self.now}
                (actions if k == "a" else previous_actions).append(item)
            else:
                before[r["a"]] = r["b"]
        if follow_ups:
            ids = sorted({a for f in follow_ups for a in f["assignees"]}) or [0]
            names = {p["id"]: p["display_name"] for p in await self.raw.all(_NAMES.format(", ".join("{}" for _ in ids)), *ids)}
            for f in follow_ups:
                f["assignee_names"] = [names.get(a, "") for a in f["assignees"]]
        movement = []
        if row["previous"] and fields.scale is not None:
            after = {g["domain"]: g["level"] for g in chain if g["phase"] == "final"}
            labels = {lvl.key: lvl.label for lvl in fields.scale.levels}
            for domain, title in fields.domains():
                if domain in before and domain in after:
                    movement.append({"domain": title, "before": labels[before[domain]], "after": labels[after[domain]],
                                     "movement": compare(fields.scale, before[domain], after[domain])})
        final = bool(row["finalised_at"])
        may_dispute = (final and person_id in (people["practitioner"], people["team_manager"])
                       and not any(d["outcome"] == "" for d in disputes))
        context = {
            "view": view, "values": view.answers, "errors": {}, "message": None,
            "movement": movement, "follow_ups": follow_ups, "case_note": None, "auditors": [],
            "action_form": None, "action_errors": {}, "action_values": {},
            "can_review": actor.can("qa_review") and not final,
            "may_dispute": may_dispute, "disputes": sorted(disputes, key=lambda d: -d["id"]),
            "audit_actions": actions, "previous_audit": previous, "previous_actions": previous_actions,
            "action_people": await self.raw.all(_PEOPLE, actor.organisation_id, True) if final else [],
        }
        return self._render("audits/audit.html", self._shell(actor, me, f"Audit of case {row['case_external_id']}",
                                                             f"/audits/{allocation_id}") | context)

    async def dashboard(self, person_id: int) -> str:
        """/reports: this month, whole council (and the QA team's moderation tables)."""
        from core import charts, exports
        from core.calendar import london_date
        from core.services import reports as r
        from web.reports.controller import ChosenPeriod

        me, actor = await self._me(person_id)
        org = actor.organisation_id
        p = r.period("month", london_date(self.now))
        rows = await self.reports.report(org, p, self.now, trend=r.TREND_PERIODS, tag="dashboard")
        levels, titles = self._definitions(actor.council)
        report = build_report(p, r.Scope("org"), levels, titles, rows)
        agreement = None
        if actor.can("qa_review"):
            agreement = {by: [r.AgreementRow(a["who"], int(a["moderated"]), int(a["agreed"]))
                              for a in sorted(rows[f"agreement_{by}"], key=lambda a: a["who"])]
                         for by in ("auditor", "team")}
        tables = exports.tables(report, agreement)
        query = {"period": p.kind, "date": p.key, "scope": "org"}
        scope_items = [{"value": "org", "text": "Whole council"}] + [
            {"value": f"{s['kind']}:{s['id']}", "text": f"{s['kind'].capitalize()}: {s['name']}"}
            for s in await self.raw.all(_SCOPES, org, org)
        ]
        heading = f"{p.label}: whole council"
        from urllib.parse import urlencode

        context = {
            "report": report, "tables": tables, "heading": heading, "query": query, "query_string": urlencode(query),
            "period_items": [{"value": k, "text": v} for k, v in r.PERIOD_KINDS.items()], "scope_items": scope_items,
            "grade_chart": charts.grade_distribution("grades-chart", report.grades, report.levels),
            "movement_chart": charts.movement("movement-chart", report.movement) if report.movement else None,
            "trend_chart": charts.trend("trend-chart", report.trend),
            # The period control as the page gets it when nothing typed was wrong.
            "period_choice": ChosenPeriod(kind=p.kind, date=p.key, errors={}, values={}), "period_errors": {},
        }
        return self._render("reports/report.html", self._shell(actor, me, f"Report: {heading}", "/reports") | context)

    def _definitions(self, council_key: str):
        """Scale levels and domain titles of the council's cycle form (in memory)."""
        from core.forms import OVERALL, fields_of
        from core.programme import drawn_form

        council = self.registry.council(council_key)
        levels, titles = (), {}
        if council.cycles is not None:
            form = self.registry.form(drawn_form(self.registry, council_key))
            ff = fields_of(self.registry, council_key, form)
            if ff.scale:
                levels = tuple((lvl.key, lvl.label) for lvl in ff.scale.levels)
            titles = dict(ff.domains())
        titles.setdefault(OVERALL, "Overall grade")
        return levels, titles


def build_report(p, scope, levels, titles, rows):
    """A ``reports.Report`` from the raw rows (as the service shapes it)."""
    from core.forms import OVERALL
    from core.services import reports as r

    order = {k: i for i, (k, _) in enumerate(levels)}
    domain_order = {k: i for i, k in enumerate(titles)}

    def sort_key(domain):
        return (-1 if domain == OVERALL else domain_order.get(domain, len(domain_order)), domain)

    by_domain: dict[str, dict] = {}
    for g in rows["grades"]:
        e = by_domain.setdefault(g["domain"], {"levels": {k: 0 for k, _ in levels}, "mod": 0, "disp": 0})
        e["levels"][g["level"]] = e["levels"].get(g["level"], 0) + int(g["n"])
        e["mod"] += int(g["by_moderation"])
        e["disp"] += int(g["by_dispute"])
    grades = tuple(
        r.DomainGrades(d, titles.get(d, d), dict(sorted(e["levels"].items(), key=lambda kv: order.get(kv[0], len(order)))),
                       e["mod"], e["disp"])
        for d, e in sorted(by_domain.items(), key=lambda kv: sort_key(kv[0])))
    movement = tuple(r.DomainMovement(m["domain"], titles.get(m["domain"], m["domain"]), int(m["improved"]), int(m["same"]),
                                      int(m["downgraded"])) for m in sorted(rows["movement"], key=lambda m: sort_key(m["domain"])))
    themes: dict[int, dict[str, dict]] = {0: {}, 1: {}}
    for t in rows["themes"]:
        e = themes[int(t["strong"])].setdefault(t["domain"], {"n": 0, "quotes": []})
        if int(t["q"]) == 0:
            e["n"] = int(t["n"])
        else:
            e["quotes"].append((int(t["q"]), t["evidence"].strip()))

    def theme_tuple(strong):
        out = [r.Theme(d, titles.get(d, d), e["n"], tuple(q for _, q in sorted(e["quotes"])))
               for d, e in themes[strong].items()]
        return tuple(sorted(out, key=lambda t: (-t.count, sort_key(t.domain))))

    c = rows["counts"]
    counts = [r.Counts(int(c[4 * i]), int(c[4 * i + 1]), int(c[4 * i + 2]), int(c[4 * i + 3])) for i in range(len(rows["periods"]))]
    trend = []
    for i, q in enumerate(rows["periods"][:-1]):
        overall = {k: 0 for k, _ in levels}
        for g in rows["trend_grades"][i]:
            overall[g["level"]] = overall.get(g["level"], 0) + int(g["n"])
        trend.append(r.TrendPoint(q, counts[i], overall))
    trend.append(r.TrendPoint(p, counts[-1], dict(grades[0].levels) if grades and grades[0].domain == OVERALL
                              else {k: 0 for k, _ in levels}))
    fu = rows["follow_ups"]
    return r.Report(
        period=p, scope=scope, levels=levels, counts=counts[-1], grades=grades, movement=movement,
        strengths=theme_tuple(1), development=theme_tuple(0),
        escalations=tuple((e["kind"].split(":", 1)[1], int(e["n"])) for e in rows["escalations"]),
        follow_ups=r.FollowUps(int(fu["opened"]), int(fu["closed"]), int(fu["overdue"])), trend=tuple(trend), titles=titles,
    )


# ------------------------------------------------------------------ timing


async def time_floor(fn, calls: list[tuple], seconds: float) -> dict:
    """Call ``fn(*args)`` for each args in ``calls`` in turn for ``seconds``:
    throughput and per-call p50/p95 (one caller, in-process)."""
    from bench.run import _percentile

    for args in calls[:3]:
        await fn(*args)  # warm: templates compiled, SQL chosen
    latencies = []
    started = time.perf_counter()
    stop_at = started + seconds
    i = 0
    size = 0
    while time.perf_counter() < stop_at:
        t0 = time.perf_counter()
        size = len(await fn(*calls[i % len(calls)]))
        latencies.append((time.perf_counter() - t0) * 1000)
        i += 1
    elapsed = time.perf_counter() - started
    return {"calls": len(latencies), "seconds": elapsed, "rps": len(latencies) / elapsed if elapsed else 0.0,
            "p50_ms": _percentile(latencies, 0.50), "p95_ms": _percentile(latencies, 0.95), "html_bytes": size}


PAGES = {
    "my audits (/audits)": "my_audits",
    "QA queue (/qa)": "qa_queue",
    "audit form (/audits/{id})": "audit_form",
    "dashboard (/reports, this month)": "dashboard",
}


async def run_floors(registry, users: dict[str, list[tuple[str, str]]], seconds: float, now=None) -> tuple[list[dict], list[dict]]:
    """The floor of each staff page in ``users`` (as ``bench.run._users`` names
    them), for the same users: rows for the table, and the SQL choices made."""
    raw = await Raw.open()
    try:
        floors = Floors(registry, raw, now)
        out = []
        for name, method in PAGES.items():
            who = users.get(name) or []
            if not who:
                continue
            names = sorted({u for u, _ in who})
            marks = ", ".join("{}" for _ in names)
            ids = {r["username"]: r["id"] for r in await raw.all(f"SELECT id, username FROM person WHERE username IN ({marks})", *names)}
            calls = []
            for username, path in who:
                args = (ids[username],)
                if method == "audit_form":
                    args += (int(path.rsplit("/", 1)[1]),)
                calls.append(args)
            result = await time_floor(getattr(floors, method), calls, seconds)
            out.append({"name": name, "floor_of": name} | result)
        return out, floors.chooser.summary()
    finally:
        await raw.close()
