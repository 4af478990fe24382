"""/api/v1: the same path as the pages, for integrations. Bearer tokens only."""

from __future__ import annotations

import json

from typing import Annotated

import msgspec
from litestar.datastructures import ResponseHeader
from litestar.params import FromPath, JSONBody, Parameter
from litestar import Controller, Request, Response, Router, get, post, put
from litestar.exceptions import NotAuthorizedException, TooManyRequestsException

from core.services import accounts, audits, compliance, imports, notifications
from core.services.errors import Unreadable
from web.api import schemas
from web.api.delivery import DeliveryController
from web.api.evidence import AuditEvidenceController
from web.api.disputes_actions import ActionsController, DisputesController, PlansController
from web.api.joint import JointAuditsController
from web.api.partnership import PartnershipController
from web.api.work import WorkController
from web.auth.guards import requires, signed_in
from web.auth.tokens import TokensApi
from web.auth.attempts import SignInAttemptsApi
from web.context import request_context
from web.cycles.controller import CyclesApi
from web.agency_requests import RequestsApi
from web.respondents import RespondentsApi, SignInApi
from web.people import PasswordResetApi, PeopleApi


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
                from_record=f.from_record,
                date_is=f.date_is,
            )
            for f in view.fields.fields
        ],
        transitions=[schemas.TransitionOut(key=t.key, label=t.label, reason_required=t.reason_required) for t in view.transitions],
        editable=view.editable,
        grade_chain=[msgspec.convert(g, schemas.GradeOut) for g in view.grade_chain],
        audited_by=view.audited_by,
        co_auditors=[schemas.CoAuditorOut(id=c["id"], name=c["name"]) for c in view.co_auditors],
        unchanged=dict(view.carried.unchanged) if view.carried else {},
        changed=[schemas.ChangedAnswerOut(field=c["name"], label=c["label"], before=str(c["before"]), after=str(c["after"]))
                 for c in view.carried.changed] if view.carried else [],
    )


class TokenController(Controller):
    path = "/auth"

    @post(
        "/token",
        summary="Exchange a username and password (and, for administrators and the QA team, "
        "the code from their authenticator app) for a bearer token that expires",
    )
    async def token(self, request: Request, data: JSONBody[schemas.TokenRequest]) -> schemas.TokenResponse:
        from core.services import second_factor
        from web.auth.controller import client_address, wait_words
        from web.state import qaf_state

        settings = qaf_state(request.app.state).settings
        if not settings.local_passwords:
            raise NotAuthorizedException(
                "qaf passwords are switched off: sign in on the web and make a token on the Your API tokens page"
            )
        ctx = request_context(request)
        address = client_address(request)
        result = await accounts.authenticate(ctx, data.username, data.password, address=address, key=settings.secret_key)
        if result.refused == "throttled":
            raise TooManyRequestsException(
                f"There have been too many attempts to sign in. Wait {wait_words(result.wait_seconds)} and try again",
                headers={"retry-after": str(result.wait_seconds)},
            )
        if result.refused:
            raise NotAuthorizedException("The username or password is not right")
        person_id = result.person_id
        if settings.second_factor and second_factor.required(await accounts.actor(ctx, person_id)):
            if not data.code or not await second_factor.check(ctx, person_id, data.code):
                person = await accounts.person_row(person_id)
                await accounts.record_attempt(
                    ctx, account=accounts.digest(settings.secret_key, "account:" + person["username"]),
                    address=accounts.digest(settings.secret_key, "address:" + address), person=person,
                    outcome="second_factor_wrong",
                )
                raise NotAuthorizedException(
                    "Give the 6-digit code from your authenticator app as code (set the app up by signing in on the web)"
                )
        expires_at = accounts.token_expiry(ctx, data.expires_in_days)  # a bad expiry refused before anything is written
        await accounts.signed_in(ctx, person_id, username=data.username, address=address, key=settings.secret_key)
        token = await accounts.create_token(ctx, person_id, data.label, data.expires_in_days)
        return schemas.TokenResponse(token=token, expires_at=expires_at)


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


# The API's QA queue a page at a time (issue 19): 50 unless asked, at most 100.
QUEUE_PAGE = 50


class QaController(Controller):
    path = "/qa"
    guards = [requires("qa_review")]

    @get("/queue", summary="Audits waiting for QA, oldest first, a page at a time (the next page in the Link header)",
         response_headers=[ResponseHeader(
             name="Link", documentation_only=True, required=False,
             description='The next page, while there is one: </api/v1/qa/queue?after=<id>&limit=<n>>; rel="next"')])
    async def queue(
        self,
        request: Request,
        after: Annotated[int | None, Parameter(
            description="The last audit of the page before (from its Link header); none for the first page")] = None,
        limit: Annotated[int, Parameter(ge=1, le=100, description="How many audits a page")] = QUEUE_PAGE,
    ) -> Response[list[schemas.AllocationSummary]]:
        """Issue 19: the whole queue was one answer. Keyset by (last changed,
        id), as the QA queue page."""
        ctx = request_context(request)
        if after is not None and not await audits.of_organisation(ctx, after):
            raise Unreadable("The page to continue from is not an audit of your organisation: "
                             "follow the Link header of the page before, or start again without it")
        found = await audits.qa_queue(ctx, limit=limit + 1, after=after)
        headers = {}
        if len(found) > limit:
            headers["Link"] = f'</api/v1/qa/queue?after={found[limit - 1].id}&limit={limit}>; rel="next"'
        return Response(found[:limit], headers=headers)


# The API's notifications a page at a time (issue 19): 50 unless asked, at most 100.
INBOX_PAGE = 50


class NotificationsController(Controller):
    path = "/notifications"
    guards = [signed_in]

    @get("", summary="My notifications, newest first, a page at a time (the next page in the Link header)",
         response_headers=[ResponseHeader(
             name="Link", documentation_only=True, required=False,
             description='The next (older) page, while there is one: </api/v1/notifications?before=<id>&limit=<n>>; rel="next"')])
    async def inbox(
        self,
        request: Request,
        before: Annotated[int | None, Parameter(
            description="The last notification of the page before (from its Link header); none for the newest")] = None,
        limit: Annotated[int, Parameter(ge=1, le=100, description="How many notifications a page")] = INBOX_PAGE,
    ) -> Response[list[schemas.NotificationOut]]:
        """Issue 19: the newest 50 were all the API gave; older ones a page at a time."""
        found = await notifications.inbox(request_context(request), limit=limit + 1, before=before)
        headers = {}
        if len(found) > limit:
            headers["Link"] = f'</api/v1/notifications?before={found[limit - 1]["id"]}&limit={limit}>; rel="next"'
        return Response([msgspec.convert(i, schemas.NotificationOut) for i in found[:limit]], headers=headers)


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



class _ApiRouter(Router):
    """The API's router, made afresh for each app (``api_router``). Litestar
    deep-copies a router it registers so that two apps never share one; this
    one is never shared, and the copy of its ≈200 handlers was a tenth of
    the server's start-up (issue 19 item 6)."""

    def __deepcopy__(self, memo):
        return self


def api_router() -> Router:
    """``/api/v1``: every controller, with the errors every operation may answer."""
    router = _ApiRouter(
        path="/api/v1",
        route_handlers=[DisputesController, ActionsController, PlansController, TokenController, TokensApi, SignInAttemptsApi, AllocationsController, QaController, NotificationsController, ImportsController, CyclesApi, WorkController, DeliveryController, AuditEvidenceController, JointAuditsController, RequestsApi, RespondentsApi, SignInApi, PartnershipController, PeopleApi, PasswordResetApi],
        tags=["v1"],
    )
    document_errors(router)
    return router


# Issue 16: every status an operation can answer is in the schema. Any
# operation may be refused for these reasons, each answered as ``ErrorOut``.
ERRORS = {
    400: "The request could not be read: malformed JSON, a number or date out of range, or a control character",
    401: "No valid bearer token (POST /api/v1/auth/token: the username or password is wrong)",
    403: "Your role may not do this",
    404: "Nothing with that number that you can see",
    405: "The address does not take this method (the Allow header lists those it takes)",
    409: "The record changed since you read it, or is not in a state that allows this",
    413: "The request body is larger than the server accepts",
    422: "The input was refused; errors says why, field by field",
    429: "Too many of these in the last hour; try again later",
}


def document_errors(router: Router) -> None:
    """Add :data:`ERRORS` to the documented responses of every operation
    under ``router`` (an operation's own description of a status wins)."""
    from litestar.openapi.datastructures import ResponseSpec

    for route in router.routes:
        for handler in getattr(route, "route_handlers", ()):
            own = dict(handler.responses or {})
            handler.responses = {
                status: own.get(status) or ResponseSpec(data_container=schemas.ErrorOut, description=words, generate_examples=False)
                for status, words in ERRORS.items()
            } | own

