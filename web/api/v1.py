"""/api/v1: the same path as the pages, for integrations. Bearer tokens only."""

from __future__ import annotations

import json

import msgspec
from litestar.params import FromPath, JSONBody
from litestar import Controller, Request, Router, get, post, put
from litestar.exceptions import NotAuthorizedException

from core.services import accounts, audits, compliance, imports, notifications
from web.api import schemas
from web.api.delivery import DeliveryController
from web.api.evidence import AuditEvidenceController
from web.api.disputes_actions import ActionsController, DisputesController, PlansController
from web.api.joint import JointAuditsController
from web.api.partnership import PartnershipController
from web.api.work import WorkController
from web.auth.guards import requires, signed_in
from web.context import request_context
from web.cycles.controller import CyclesApi


def _detail(view: audits.AuditView) -> schemas.AllocationDetail:
    row = view.row
    return schemas.AllocationDetail(
        id=row["id"],
        case_external_id=row["case_external_id"] or "",
        subject=row["subject_title"],
        state=row["state"],
        state_label=view.state_label,
        revision=row["revision"],
        due_at=row["due_at"],
        state_due_at=row["state_due_at"],
        form=row["form_key"],
        form_version=row["form_version"],
        reason=row["reason"],
        answers=view.answers,
        fields=[
            schemas.FieldOut(
                name=f.name,
                label=f.label,
                kind=f.kind,
                required=f.required,
                section=f.section,
                phase=f.phase,
                options=[list(o) for o in f.options],
            )
            for f in view.fields.fields
        ],
        transitions=[schemas.TransitionOut(key=t.key, label=t.label, reason_required=t.reason_required) for t in view.transitions],
        editable=view.editable,
        grade_chain=[msgspec.convert(g, schemas.GradeOut) for g in view.grade_chain],
        audited_by=view.audited_by,
        co_auditors=[schemas.CoAuditorOut(id=c["id"], name=c["name"]) for c in view.co_auditors],
    )


class TokenController(Controller):
    path = "/auth"

    @post("/token", summary="Exchange a username and password for a bearer token")
    async def token(self, request: Request, data: JSONBody[schemas.TokenRequest]) -> schemas.TokenResponse:
        ctx = request_context(request)
        person_id = await accounts.authenticate(ctx, data.username, data.password)
        if person_id is None:
            raise NotAuthorizedException("The username or password is not right")
        return schemas.TokenResponse(token=await accounts.create_token(ctx, person_id, data.label))


class AllocationsController(Controller):
    path = "/allocations"
    guards = [signed_in]

    @get("", summary="My allocations, those still to do first")
    async def mine(self, request: Request) -> list[schemas.AllocationSummary]:
        return await audits.my_allocations(request_context(request))

    @get("/{allocation_id:int}", summary="One audit: state, answers, fields and what I may do next")
    async def detail(self, request: Request, allocation_id: FromPath[int]) -> schemas.AllocationDetail:
        return _detail(await audits.audit_view(request_context(request), allocation_id))

    @put("/{allocation_id:int}/answers", summary="Save a draft; refused with 409 if it changed since `revision`")
    async def save(self, request: Request, allocation_id: FromPath[int], data: JSONBody[schemas.SaveAnswers]) -> schemas.Saved:
        revision = await audits.save_answers(request_context(request), allocation_id, data.revision, data.answers)
        return schemas.Saved(revision=revision)

    @post("/{allocation_id:int}/submit", summary="Submit to QA", status_code=200)
    async def submit(self, request: Request, allocation_id: FromPath[int], data: JSONBody[schemas.Submit]) -> schemas.AllocationDetail:
        ctx = request_context(request)
        # A compliance audit's remedial actions become a management direction (BED-4).
        await compliance.submit(ctx, allocation_id, data.revision)
        return _detail(await audits.audit_view(ctx, allocation_id))

    @post("/{allocation_id:int}/review", summary="QA: accept, or return for revision with a reason", status_code=200)
    async def review(self, request: Request, allocation_id: FromPath[int], data: JSONBody[schemas.ReviewDecision]) -> schemas.AllocationDetail:
        ctx = request_context(request)
        await audits.review(ctx, allocation_id, data.decision, data.reason, data.grades)
        return _detail(await audits.audit_view(ctx, allocation_id))

    @post("/{allocation_id:int}/steps/{step:str}", summary="Take another step of the council's workflow", status_code=200)
    async def step(self, request: Request, allocation_id: FromPath[int], step: FromPath[str], data: JSONBody[schemas.Step]) -> schemas.AllocationDetail:
        ctx = request_context(request)
        await audits.take_step(ctx, allocation_id, step, data.reason)
        return _detail(await audits.audit_view(ctx, allocation_id))

    @get("/{allocation_id:int}/history", summary="The trail of every change to this audit")
    async def history(self, request: Request, allocation_id: FromPath[int]) -> list[schemas.TrailEntry]:
        entries = await audits.history(request_context(request), allocation_id)
        return [
            schemas.TrailEntry(
                at=e["at"],
                action=e["action"],
                actor_name=e["actor_name"],
                request_id=e["request_id"],
                changes=e["changes"] if isinstance(e["changes"], dict) else json.loads(e["changes"] or "{}"),
            )
            for e in entries
        ]


class QaController(Controller):
    path = "/qa"
    guards = [requires("qa_review")]

    @get("/queue", summary="Audits waiting for QA")
    async def queue(self, request: Request) -> list[schemas.AllocationSummary]:
        return await audits.qa_queue(request_context(request))


class NotificationsController(Controller):
    path = "/notifications"
    guards = [signed_in]

    @get("", summary="My notifications, newest first")
    async def inbox(self, request: Request) -> list[schemas.NotificationOut]:
        return [msgspec.convert(i, schemas.NotificationOut) for i in await notifications.inbox(request_context(request))]


class ImportsController(Controller):
    """CSV imports (CORE-9): the request body is the CSV file (text/csv), as on
    the /imports page. All or nothing; a 422 lists every problem as
    ``errors: [{line, column, message}]``."""

    path = "/imports"
    guards = [requires("administer")]

    @post("/staff", summary="Import staff from a text/csv body; ?dry_run=true only checks", status_code=200)
    async def staff(self, request: Request, dry_run: bool = False) -> imports.Outcome:
        return await imports.import_staff(request_context(request), await request.body(), dry_run=dry_run)

    @post("/cases", summary="Import cases from a text/csv body; ?dry_run=true only checks", status_code=200)
    async def cases(self, request: Request, dry_run: bool = False) -> imports.Outcome:
        return await imports.import_cases(request_context(request), await request.body(), dry_run=dry_run)



api_router = Router(
    path="/api/v1",
    route_handlers=[DisputesController, ActionsController, PlansController, TokenController, AllocationsController, QaController, NotificationsController, ImportsController, CyclesApi, WorkController, DeliveryController, AuditEvidenceController, JointAuditsController, PartnershipController],
    tags=["v1"],
)
