"""Audit pages: my audits, one audit (fill in, submit, QA decision), its history."""

from __future__ import annotations

from litestar.params import FromPath
from litestar import Controller, Request, get, post
from litestar.response import Redirect, Response, Template

from core.services import allocations, audits, compliance, concerns, evidence, joint, reports_of_audit
from core.services.errors import Conflict, Forbidden, Invalid, ServiceError
from core.services.sweep import complete_follow_up
from web import history
from web.auth.guards import signed_in
from web.context import request_context
from web.forms import form_data
from web.rendering import flash, is_htmx, london, page, see_other
from web.evidence import evidence_response, uploads
from web.state import qaf_state


class AuditPages(Controller):
    path = "/audits"
    guards = [signed_in]
    include_in_schema = False

    @get("")
    async def mine(self, request: Request) -> Template:
        ctx = request_context(request)
        return await page(
            request,
            "audits/mine.html",
            title="My audits",
            to_do=await audits.my_open(ctx),
            completed=await audits.my_completed(ctx),
            of_my_cases=await audits.audits_of_my_cases(ctx),
        )

    @get("/completed")
    async def completed(self, request: Request, before: int | None = None) -> Template:
        """Older pages of the auditor's finished audits (keyset: ``before`` an id)."""
        return await page(
            request,
            "audits/completed.html",
            title="Audits I completed",
            heading="Audits I completed",
            items=await audits.my_completed(request_context(request), before),
            show_auditor=False,
            base_path="/audits/completed",
        )

    @get("/of-my-cases")
    async def of_my_cases(self, request: Request, before: int | None = None) -> Template:
        """Older pages of the final audits of the actor's (and team's) cases."""
        return await page(
            request,
            "audits/completed.html",
            title="Final audits of my cases",
            heading="Final audits of my cases and my team's cases",
            items=await audits.audits_of_my_cases(request_context(request), before),
            show_auditor=True,
            base_path="/audits/of-my-cases",
        )

    @get("/{allocation_id:int}")
    async def show(self, request: Request, allocation_id: FromPath[int], section: str | None = None) -> Template:
        """The audit; ``?section=KEY``: one section of it on its own page (issue 17)."""
        view = await audits.audit_view(request_context(request), allocation_id)
        return await self._render(request, view, view.answers, {}, section_key=_section(view, section))

    async def _render(self, request, view, values, errors, status_code=200, message=None, section_key=None, **extra) -> Template:
        title = f"Audit of {view.row['subject']}"
        if section_key:
            title = f"{_section_title(view, section_key)}: {title[0].lower()}{title[1:]}"
        return await page(
            request,
            "audits/audit.html",
            fragment="audits/_form.html",
            title=title,
            section_key=section_key,
            section_title=_section_title(view, section_key) if section_key else None,
            view=view,
            values=values,
            errors=errors,
            message=message,
            status_code=status_code,
            # PLAT-6: the audit's evidence files, and the limit the upload states.
            audit_files=await evidence.of_audit(request_context(request), view.id),
            evidence_limit=evidence.size_limit_words(qaf_state(request.app.state).settings.evidence_max_bytes),
            **((await _around(request_context(request), view, request.query_params.get("co_auditor_name") or "",
                              request.query_params.get("owner_name") or "")) | extra),
        )

    @post("/{allocation_id:int}/evidence")
    async def add_evidence(self, request: Request, allocation_id: FromPath[int]) -> Template | Redirect | Response:
        """Evidence files for the audit's answers, from its auditor (PLAT-6)."""
        ctx = request_context(request)
        files, problem = evidence.check_all(await uploads(request, "audit_evidence"),
                                            qaf_state(request.app.state).settings.evidence_max_bytes, required=True)
        if problem:
            view = await audits.audit_view(ctx, allocation_id)
            return await self._render(request, view, view.answers, {}, status_code=422, evidence_error=problem)
        form = await request.form()
        field = form.get("evidence_field") if isinstance(form.get("evidence_field"), str) else ""
        await evidence.add_to_audit(ctx, allocation_id, files, field=field or "")
        flash(request, "Evidence added" if len(files) == 1 else f"{len(files)} files of evidence added")
        return see_other(request, f"/audits/{allocation_id}")

    @get("/{allocation_id:int}/evidence/{file_id:int}")
    async def evidence_file(self, request: Request, allocation_id: FromPath[int], file_id: FromPath[int]) -> Response:
        return evidence_response(await evidence.download_from_audit(request_context(request), allocation_id, file_id))

    async def _action(self, request: Request, allocation_id: int, form: str, act, done: str) -> Template | Redirect | Response:
        """Run one of the audit page's small forms; on a refusal, re-render the
        page with that form's errors and what was typed."""
        ctx = request_context(request)
        data = await form_data(request)
        try:
            await act(ctx, data)
        except Invalid as invalid:
            view = await audits.audit_view(ctx, allocation_id)
            return await self._render(
                request, view, view.answers, {}, status_code=422,
                action_form=form, action_errors=invalid.errors, action_values=data,
            )
        flash(request, done)
        return see_other(request, f"/audits/{allocation_id}")

    @post("/{allocation_id:int}/steps/{step:str}")
    async def step(self, request: Request, allocation_id: FromPath[int], step: FromPath[str]) -> Template | Redirect | Response:
        async def act(ctx, data):
            await audits.take_step(ctx, allocation_id, step, data.get("reason", ""))

        return await self._action(request, allocation_id, f"step_{step}", act, "Done")

    @post("/{allocation_id:int}/concern")
    async def concern(self, request: Request, allocation_id: FromPath[int]) -> Template | Redirect | Response:
        async def act(ctx, data):
            await concerns.raise_concern(ctx, allocation_id, data.get("description", ""))

        return await self._action(request, allocation_id, "concern", act, "Concern sent: the team manager has been told now")

    @post("/{allocation_id:int}/reassign")
    async def reassign(self, request: Request, allocation_id: FromPath[int]) -> Template | Redirect | Response:
        async def act(ctx, data):
            await allocations.reassign(ctx, allocation_id, _int(data.get("auditor")), data.get("reason", ""))

        return await self._action(request, allocation_id, "reassign", act, "Audit reassigned")

    @post("/{allocation_id:int}/re-audit")
    async def re_audit(self, request: Request, allocation_id: FromPath[int]) -> Template | Redirect | Response:
        created: list[int] = []

        async def act(ctx, data):
            created.append(await allocations.allocate_re_audit(ctx, allocation_id, _int(data.get("auditor")), data.get("reason", "")))

        response = await self._action(request, allocation_id, "re_audit", act, "Re-audit allocated")
        if created:
            return see_other(request, f"/audits/{created[0]}")
        return response

    @post("/{allocation_id:int}/co-auditors")
    async def add_co_auditor(self, request: Request, allocation_id: FromPath[int]) -> Template | Redirect | Response:
        """The lead adds a co-auditor (PLAT-4)."""
        async def act(ctx, data):
            person = data.get("person", "")
            await joint.add(ctx, allocation_id, int(person) if person.isdigit() else None)

        return await self._action(request, allocation_id, "co_auditor", act, "Co-auditor added: they have been told")

    @post("/{allocation_id:int}/co-auditors/{person_id:int}/remove")
    async def remove_co_auditor(self, request: Request, allocation_id: FromPath[int], person_id: FromPath[int]) -> Template | Redirect | Response:
        async def act(ctx, data):
            await joint.remove(ctx, allocation_id, person_id)

        return await self._action(request, allocation_id, "co_auditor", act, "Co-auditor removed")

    @post("/{allocation_id:int}/follow-ups/{follow_up_id:int}")
    async def follow_up(self, request: Request, allocation_id: FromPath[int], follow_up_id: FromPath[int]) -> Template | Redirect | Response:
        async def act(ctx, data):
            await complete_follow_up(ctx, follow_up_id, data.get("note", ""))

        return await self._action(request, allocation_id, f"follow_up_{follow_up_id}", act, "Recorded")

    @post("/{allocation_id:int}/autosave")
    async def autosave(self, request: Request, allocation_id: FromPath[int]) -> Template:
        """Save the draft in the background (htmx, a moment after a change).

        The answer never touches the fields being typed in: only (out of band)
        the hidden revision and the status line under the form. A refused save
        (another tab saved first, or the audit is no longer editable) says so
        and stops autosaving in this tab; what was typed stays on screen."""
        ctx = request_context(request)
        data = await form_data(request)
        section = data.pop("section", None) or None
        revision, answers = _draft(data)
        context: dict = {"revision": None, "outcome": "saved", "message": None, "saved_at": None}
        try:
            context["revision"] = await audits.save_answers(ctx, allocation_id, revision, answers, section=section)
            context["saved_at"] = london(ctx.now, "%H:%M")
        except Invalid:
            context["outcome"] = "invalid"
        except (Conflict, Forbidden) as refused:
            context |= {"outcome": "refused", "message": refused.message}
        return Template(template_name="audits/_autosave.html", context=context, status_code=200)

    @post("/{allocation_id:int}")
    async def save(self, request: Request, allocation_id: FromPath[int]) -> Template | Redirect | Response:
        ctx = request_context(request)
        data = await form_data(request)
        action = data.pop("action", "save")
        section = data.pop("section", None) or None
        revision, answers = _draft(data)
        try:
            revision = await audits.save_answers(ctx, allocation_id, revision, answers, section=section)
        except Invalid as invalid:
            view = await audits.audit_view(ctx, allocation_id)
            return await self._render(request, view, data, invalid.errors, status_code=422, message=invalid.message,
                                      section_key=_section(view, section))
        except Conflict as conflict:
            # Keep what this tab typed on screen: nothing the person wrote is lost.
            # htmx swaps only 2xx and 422 (app.js): answer its request with 200
            # so the message and this tab's answers replace the form.
            view = await audits.audit_view(ctx, allocation_id)
            return await self._render(
                request, view, data, {"revision": conflict.message},
                status_code=200 if is_htmx(request) else 409, message=conflict.message,
                section_key=_section(view, section),
            )
        here = f"/audits/{allocation_id}" + (f"?section={section}" if section else "")
        if action == "continue":
            # Issue 17: on to the next section, after the last to "Check your answers".
            view = await audits.audit_view(ctx, allocation_id)
            keys = [t.key for t in view.task_list]
            later = keys[keys.index(section) + 1:] if section in keys else []
            return see_other(request, f"/audits/{allocation_id}?section={later[0]}" if later else f"/audits/{allocation_id}/check")
        if action == "check":
            return see_other(request, f"/audits/{allocation_id}/check")
        if action == "save" and not is_htmx(request):
            # Issue 17: back where the button was, not at the top of a long form.
            flash(request, "Draft saved")
            return see_other(request, f"{here}#save-draft")
        if action == "submit":
            try:
                directions = await compliance.submit(ctx, allocation_id, revision)
            except Invalid as invalid:
                view = await audits.audit_view(ctx, allocation_id)
                return await self._render(
                    request,
                    view,
                    view.answers,
                    invalid.errors,
                    status_code=422,
                    message="Your answers are saved as a draft, but the audit is not ready to submit yet.",
                )
            await self._told_submitted(request, directions, allocation_id)
            return see_other(request, f"/audits/{allocation_id}")
        view = await audits.audit_view(ctx, allocation_id)
        return await self._render(request, view, view.answers, {}, message="Draft saved", section_key=_section(view, section))

    @get("/{allocation_id:int}/check")
    async def check(self, request: Request, allocation_id: FromPath[int]) -> Template | Redirect | Response:
        """Issue 17: "Check your answers" (GOV.UK pattern), each section's
        answers with a link to change them; the audit is submitted from here."""
        ctx = request_context(request)
        view = await audits.audit_view(ctx, allocation_id)
        if not view.editable:
            return see_other(request, f"/audits/{allocation_id}")
        return await self._check_page(request, view, {})

    async def _check_page(self, request, view, errors, status_code=200) -> Template:
        return await page(
            request,
            "audits/check.html",
            title=("Error: " if errors else "") + f"Check your answers: audit of {view.row['subject']}",
            view=view,
            answers=view.answers | (view.facts or {}),
            errors=errors,
            submit_step=_submit_step(view) if "auditor" in view.relations else None,
            status_code=status_code,
        )

    @post("/{allocation_id:int}/submit")
    async def submit_checked(self, request: Request, allocation_id: FromPath[int]) -> Template | Redirect | Response:
        """Submit the audit as checked on "Check your answers" (issue 17)."""
        ctx = request_context(request)
        data = await form_data(request)
        revision, _ = _draft(data)
        try:
            directions = await compliance.submit(ctx, allocation_id, revision)
        except (Invalid, Conflict) as refused:
            view = await audits.audit_view(ctx, allocation_id)
            errors = refused.errors if isinstance(refused, Invalid) else {"revision": refused.message}
            return await self._check_page(request, view, errors, status_code=422 if isinstance(refused, Invalid) else 409)
        await self._told_submitted(request, directions, allocation_id)
        return see_other(request, f"/audits/{allocation_id}")

    @get("/{allocation_id:int}/concern")
    async def concern_page(self, request: Request, allocation_id: FromPath[int]) -> Template | Redirect | Response:
        """Issue 17: the immediate concern, on a page of its own, linked from
        the top of every view of the audit."""
        ctx = request_context(request)
        view = await audits.audit_view(ctx, allocation_id)
        # Only for those who may raise one (as on the audit page): never a button that cannot succeed.
        may_raise = (view.editable and {"auditor", "co_auditor"} & view.relations) or (
            ctx.actor.can("qa_review") and not view.row["finalised_at"])
        if not may_raise:
            return see_other(request, f"/audits/{allocation_id}")
        return await page(request, "audits/concern.html", title=f"Raise an immediate concern: audit of {view.row['subject']}", view=view)

    async def _told_submitted(self, request, directions, allocation_id: int) -> None:
        if directions:
            # BED-4: the remedial actions went to the worker as a management direction.
            flash(request, "Compliance audit complete",
                  f"{len(directions)} remedial action{'s' if len(directions) != 1 else ''} sent to the worker"
                  " as a management direction, to be reviewed in supervision.")
        else:
            flash(request, *_submitted(await audits.audit_view(request_context(request), allocation_id)))

    @post("/{allocation_id:int}/review")
    async def review(self, request: Request, allocation_id: FromPath[int]) -> Template | Redirect | Response:
        ctx = request_context(request)
        data = await form_data(request)
        try:
            moderated = {k.split(".", 1)[1]: v for k, v in data.items() if k.startswith("moderated.")}
            await audits.review(ctx, allocation_id, data.get("decision", ""), data.get("reason", ""), moderated)
        except Invalid as invalid:
            view = await audits.audit_view(ctx, allocation_id)
            return await page(
                request,
                "audits/audit.html",
                title=f"Audit of {view.row['subject']}",
                view=view,
                values=view.answers,
                errors={},
                review_errors=invalid.errors,
                review_values=data,
                message=None,
                status_code=422,
                **(await _around(ctx, view)),
            )
        decision = data.get("decision")
        flash(request, "Audit accepted: it is now final" if decision == "accept" else "Audit returned to the auditor")
        return see_other(request, "/qa")

    @get("/{allocation_id:int}/history")
    async def history(self, request: Request, allocation_id: FromPath[int]) -> Template:
        ctx = request_context(request)
        view = await audits.audit_view(ctx, allocation_id)
        return await page(
            request,
            "audits/history.html",
            title=f"History of the audit of {view.row['subject']}",
            view=view,
            # Each change as a sentence (issue 17): the trail keeps it as stored.
            entries=await history.sentences(await audits.history(ctx, allocation_id), history.audit_words(view)),
        )



def _draft(data: dict[str, str]) -> tuple[int, dict[str, str]]:
    """The revision the form was loaded at, and its answers. Removes both
    (and the CSRF token) from ``data``: what is left is what was typed."""
    data.pop("_csrf_token", None)
    try:
        revision = int(data.pop("revision", "-1"))
    except ValueError:
        revision = -1
    return revision, {k: v for k, v in data.items() if k.startswith(("answer.", "grade.", "evidence.", "confirm."))}


def _section(view, key: str | None) -> str | None:
    """A section of the audit's task list, or None (the whole form)."""
    return key if key and view.editable and any(t.key == key for t in view.task_list) else None


def _section_title(view, key: str) -> str:
    return next((t.title for t in view.task_list if t.key == key), "")


def _submit_step(view):
    """The workflow's submit step the form's main button takes, in the
    council's words ("Submit to QA", Bedford's "Share with the worker"), or
    None where the audit cannot be submitted from where it is (a practice
    observation shared with the worker is still the auditor's to edit, but its
    next step is another one): never a button whose action cannot succeed.
    An untouched audit counts as started: its first save starts it."""
    workflow = view.workflow
    states = {view.row["state"]}
    if view.row["state"] == workflow.initial:
        states |= {t.to for t in workflow.transitions
                   if workflow.initial in t.from_ and "auditor" in t.by and t.key != "submit"}
    return next((t for t in workflow.transitions
                 if t.key == "submit" and "auditor" in t.by and states & set(t.from_)), None)


def _submitted(view) -> tuple[str, str]:
    """What the auditor is told once the audit is submitted: QA's review where
    it now waits for QA, else where it is now and the auditor's next step."""
    if view.transitions:
        steps = " or ".join(f"'{t.label}'" for t in view.transitions)
        return view.state_label, f"Your next step: {steps}."
    state = next(s for s in view.workflow.states if s.key == view.row["state"])
    if state.final:
        return "Audit complete", f"{view.form.title}: {view.state_label.lower()}."
    # In the council's words: the state its workflow names, and its own
    # deadline for the review (HAR 2.6: one working day), never another council's.
    deadline = state.deadline.working_days if state.deadline else None
    due = f" The review is due within {deadline} working day{'s' if deadline != 1 else ''}." if deadline else ""
    step = next((t for t in view.workflow.transitions if t.key == "submit" and t.to == view.row["state"]), None)
    return _done(step.label if step else "Submit"), f"Its status is now “{view.state_label}”.{due}"


def _done(label: str) -> str:
    """A step's label as done, in the council's words: Haringey's "Submit to
    QA" is "Audit submitted to QA", Bedford's "Complete the audit" is "Audit
    completed"; a label of another shape is said as it is."""
    verb, _, rest = label.partition(" ")
    past = {"Submit": "submitted", "Complete": "completed", "Share": "shared", "Send": "sent"}.get(verb)
    if past is None:
        return f"Done: {label}"
    rest = rest.removeprefix("the audit").strip()
    return f"Audit {past}" + (f" {rest}" if rest else "")


def _int(value: str | None) -> int:
    try:
        return int(value or "")
    except ValueError:
        raise Invalid("Choose someone", {"auditor": "Choose who will do the audit"}) from None


async def _earlier_audit(ctx, view) -> dict | None:
    """The audit a re-audit re-audits, by its case and the day it was made
    final (issue 17: never "audit 3"); a link only for whoever may open it."""
    previous = view.row.get("previous")
    if not previous:
        return None
    try:
        row, _, _ = await audits.visible(ctx, previous)
    except ServiceError:
        row, href = await audits.load_row(previous), None
    else:
        href = f"/audits/{previous}"
    if row is None:
        return None
    made_final = london(row["finalised_at"], "%-d %B %Y") if row["finalised_at"] else ""
    return {"href": href, "text": f"the audit of case {row['case_external_id']}" + (f" made final on {made_final}" if made_final else "")}


async def _around(ctx, view, co_auditor_name: str = "", owner_name: str = "") -> dict:
    """What the audit page shows around the form: re-audit movement, follow-up
    tasks, the case note once final, and the QA team's allocation tools."""
    out: dict = {
        "movement": await reports_of_audit.movement(ctx, view),
        "follow_ups": await reports_of_audit.follow_ups(ctx, view.id),
        "case_note": None,
        "auditors": [],
        "action_form": None,
        "action_errors": {},
        "action_values": {},
        "can_review": ctx.actor.can("qa_review") and not view.row["finalised_at"],
        # PLAT-4: a joint audit's co-auditors edit it; its lead alone submits.
        "submit_step": _submit_step(view) if "auditor" in view.relations else None,
        "may_change_co_auditors": "auditor" in view.relations and view.editable,
        "co_auditor_candidates": [],
    }
    if out["may_change_co_auditors"]:
        out["co_auditor_candidates"] = await joint.candidates(ctx, view.id, view.row, co_auditor_name)
    if view.row["finalised_at"] and ("auditor" in view.relations or ctx.actor.can("view_all_audits")):
        try:
            out["case_note"] = await reports_of_audit.case_note(ctx, view.id)
        except ServiceError:
            pass
    if ctx.actor.can("administer"):
        out["auditors"] = await allocations.auditors(ctx)
    out["earlier_audit"] = await _earlier_audit(ctx, view)
    out |= await _disputes_and_actions(ctx, view, owner_name)
    return out


async def _disputes_and_actions(ctx, view, owner_name: str = "") -> dict:
    """Disputes of a final audit (HAR-11) and its SMART actions, with the
    previous audit's actions on a re-audit or next audit of the case (CORE-12)."""
    from core.services import actions, disputes

    previous, previous_actions = await actions.of_previous_audit(ctx, view.id)
    return {
        "may_dispute": await disputes.may_dispute(ctx, view.id),
        "disputes": await disputes.disputes_of(ctx, view.id),
        "audit_actions": await actions.of_allocation(ctx, view.id),
        "previous_audit": previous,
        "previous_actions": previous_actions,
        # Issue 19: the people near the audit, or those found by name, not the council's staff.
        "action_owners": await actions.owner_choice(ctx, view.id, owner_name) if view.row["finalised_at"] else None,
    }
