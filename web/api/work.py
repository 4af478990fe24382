"""/api/v1/work: the programme's work (issue 13, PLAT-1, PLAT-2), through
the same services as the My programme pages."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated

import msgspec
from litestar import Controller, Request, get, post
from litestar.datastructures import ResponseHeader, UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery, JSONBody, Parameter
from litestar.response import Response

from core.calendar import london_date
from core.services import evidence, work, work_by_hand, work_workflow
from web.auth.guards import signed_in
from web.context import request_context
from web.evidence import checked_parts, evidence_response


class EvidenceOut(msgspec.Struct, kw_only=True):
    """A file of evidence on a completion record (PLAT-6); its content is at ``download``."""

    id: int
    filename: str
    media_type: str  # the type its content was checked to be
    size: int  # bytes
    uploaded_by: str
    uploaded_at: dt.datetime
    download: str  # the path to GET it from, with the same bearer token


class AuditOut(msgspec.Struct, kw_only=True):
    id: int
    case: str  # "" for an audit on a person, or on a meeting without a case
    state: str
    final: bool
    # What it is on (issue 13): "Case 123", a person's name, or "Observation of a … on 3 March 2027".
    subject: str = ""


class WorkOut(msgspec.Struct, kw_only=True):
    id: int
    activity: str
    owner_id: int
    owner: str
    supervisee: str
    starts_on: dt.date
    due_on: dt.date
    count: int
    form: str  # the form's title; "" when it is done by a completion record
    status: str  # to_do | started | overdue | done | done_late
    status_label: str
    audits: list[AuditOut]
    done_on: dt.date | None
    summary: str
    outcome: str
    # C17-3: the theme of a themed activity started by hand, as the council names it.
    theme: str = ""
    # PLAT-3: the window the work looks back over, its days and in words.
    looks_back_from: dt.date | None = None
    looks_back_to: dt.date | None = None
    window: str = ""
    # PLAT-2: where its completion record's workflow has it ("" without one);
    # done_on stays empty until a final state is reached, recorded_on is the record's date.
    stage: str = ""
    recorded_on: dt.date | None = None
    evidence: list[EvidenceOut] = []
    # PLAT-4: a joint activity's co-auditors (the owner leads); who else does
    # it as the caller reads it ("with Ann Lead" for a co-auditor); and the
    # peer whose cases the owner audits in a peer pair.
    co_auditors: list[str] = []
    with_: str = msgspec.field(default="", name="with")
    peer: str = ""


@dataclass
class EvidenceUpload:
    """One or more files, each in a part named ``file`` (multipart/form-data)."""

    file: list[UploadFile]


class Step(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    step: str  # the workflow transition's key, e.g. refine
    reason: str = ""  # required by some steps


class Completion(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    done_on: dt.date
    summary: str
    outcome: str


class Start(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What the audit is on, as the work's schedule says (``about``): a case
    by its number; a person by their id (work on a supervisee: them, by
    default); or a meeting: its type (one of the council's meeting type
    keys), the date it was held, and optionally the case it was about."""

    case: str = ""  # the case number (the council's case-record id)
    person: int | None = None
    meeting_type: str = ""
    meeting_on: dt.date | None = None


class StartByHand(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Start an "as required" activity as work the caller owes."""

    schedule: str  # the schedule's key in the council's programme, e.g. thematic_audit
    due_on: dt.date | None = None  # today or later; by default the last working day of this month
    theme: str = ""  # one of the council's theme keys, where the activity is themed


class Started(msgspec.Struct, kw_only=True):
    allocation_id: int
    work: WorkOut


def work_out(item: work.WorkItem, files: list[evidence.EvidenceItem] = (), viewer: int | None = None) -> WorkOut:
    return WorkOut(
        id=item.id, activity=item.activity, owner_id=item.owner_id, owner=item.owner, supervisee=item.supervisee,
        starts_on=item.starts_on, due_on=item.due_on, count=item.count, form=item.form_title, status=item.status,
        status_label=item.status_label, audits=[AuditOut(**a) for a in item.audits], done_on=item.done_on,
        summary=item.summary, outcome=item.outcome, theme=item.theme, stage=item.state_label,
        looks_back_from=item.covers_from, looks_back_to=item.covers_to, window=item.window,
        recorded_on=item.recorded_on,
        evidence=[EvidenceOut(id=f.id, filename=f.filename, media_type=f.media_type, size=f.size,
                              uploaded_by=f.uploaded_by, uploaded_at=f.uploaded_at,
                              download=f"/api/v1/work/{item.id}/evidence/{f.id}") for f in files],
        co_auditors=list(item.co_auditors), with_=item.with_for(viewer), peer=item.peer,
    )


async def with_files(ctx, items: list[work.WorkItem]) -> list[WorkOut]:
    files = await evidence.of_work(ctx, [i.id for i in items])
    return [work_out(i, files.get(i.id, []), viewer=ctx.actor.person_id) for i in items]


# The API's list of work a page at a time (issue 19): 50 unless asked, at most 100.
WORK_PAGE = 50


class WorkController(Controller):
    path = "/work"
    guards = [signed_in]

    @get("", summary="Work issued from the programme: my own; ?owner= one person's, ?everyone=true all (QA); "
                     "soonest due first, a page at a time (the next page in the Link header)",
         response_headers=[ResponseHeader(
             name="Link", documentation_only=True, required=False,
             description='The next page, while there is one: </api/v1/work?…&after=<id>&limit=<n>>; rel="next"')])
    async def listing(
        self, request: Request, owner: FromQuery[int | None] = None, everyone: FromQuery[bool] = False,
        due_from: FromQuery[dt.date | None] = None, due_to: FromQuery[dt.date | None] = None,
        after: Annotated[int | None, Parameter(
            description="The last work of the page before (from its Link header); none for the first page")] = None,
        limit: Annotated[int, Parameter(ge=1, le=100, description="How many a page")] = WORK_PAGE,
    ) -> Response[list[WorkOut]]:
        ctx = request_context(request)
        asked_owner = owner
        if owner is None and not everyone:
            owner = ctx.actor.person_id
        items = await work.list_work(ctx, owner=owner, due_from=due_from, due_to=due_to, after=after, limit=limit + 1)
        headers = {}
        if len(items) > limit:
            # The same question, from the page's last work on (issue 19).
            asked = {"owner": asked_owner, "everyone": "true" if everyone else None,
                     "due_from": due_from, "due_to": due_to, "after": items[limit - 1].id, "limit": limit}
            query = "&".join(f"{k}={v}" for k, v in asked.items() if v is not None)
            headers["Link"] = f'</api/v1/work?{query}>; rel="next"'
        return Response(await with_files(ctx, items[:limit]), headers=headers)

    @get("/{work_id:int}", summary="One piece of work with its audits and evidence files")
    async def show(self, request: Request, work_id: FromPath[int]) -> WorkOut:
        ctx = request_context(request)
        return (await with_files(ctx, [await work.get_work(ctx, work_id)]))[0]

    @post("/{work_id:int}/completion", summary="Record work without a form as done", status_code=200)
    async def complete(self, request: Request, work_id: FromPath[int], data: JSONBody[Completion]) -> WorkOut:
        """Where the schedule names a workflow, the record enters its first
        stage and the work is done when a final stage is reached (``/steps``)."""
        ctx = request_context(request)
        item = await work.complete(ctx, work_id, done_on=data.done_on, summary=data.summary, outcome=data.outcome)
        return (await with_files(ctx, [item]))[0]

    @post("/{work_id:int}/evidence", summary="Add evidence files to a completion record (the owner)", status_code=201)
    async def add_evidence(
        self, request: Request, work_id: FromPath[int],
        data: Annotated[EvidenceUpload, Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> WorkOut:
        """Each file in a part named ``file``: a PDF, Word (.docx), Excel
        (.xlsx), PowerPoint (.pptx), PNG, JPEG, text or CSV file, its type
        checked from its content and its name agreeing, each no larger than
        the deployment's QAF_EVIDENCE_MAX_BYTES. A 422 says which file is
        wrong and why (too big, not the type its name says, a type not
        accepted); a 403 when the work is not yours; nothing is stored unless
        every file is accepted."""
        ctx = request_context(request)
        files = await checked_parts(request, data.file)
        await evidence.add_to_work(ctx, work_id, files)
        return (await with_files(ctx, [await work.get_work(ctx, work_id)]))[0]

    @get("/{work_id:int}/evidence/{file_id:int}", summary="Download an evidence file (whoever may see the work)",
         media_type="application/octet-stream")
    async def evidence_file(self, request: Request, work_id: FromPath[int], file_id: FromPath[int]) -> Response:
        """The file as an attachment, with the media type its content was
        checked to be; 404 for anyone who may not see the work."""
        return evidence_response(await evidence.download(request_context(request), work_id, file_id))

    @post("/{work_id:int}/steps", summary="Take a step of a completion record's workflow", status_code=200)
    async def step(self, request: Request, work_id: FromPath[int], data: JSONBody[Step]) -> WorkOut:
        """By one of the people the step names (403 otherwise, with the reason);
        a 422 when the step needs a reason and has none."""
        ctx = request_context(request)
        item = await work_workflow.take_step(ctx, work_id, data.step, data.reason)
        return (await with_files(ctx, [item]))[0]

    @post("/{work_id:int}/audits", summary="Start an audit on the work's form: on the case, person or meeting chosen",
          status_code=201)
    async def start(self, request: Request, work_id: FromPath[int], data: JSONBody[Start]) -> Started:
        ctx = request_context(request)
        allocation_id = await work.start(ctx, work_id, data.case, person=data.person, meeting_type=data.meeting_type,
                                         meeting_on=data.meeting_on)
        return Started(allocation_id=allocation_id, work=(await with_files(ctx, [await work.get_work(ctx, work_id)]))[0])

    @post("", summary="Start an 'as required' activity (a thematic audit, a dip sample...) as work you owe",
          status_code=201)
    async def start_by_hand(self, request: Request, data: JSONBody[StartByHand]) -> WorkOut:
        """The people whose role (and post) the activity is for start it; due
        today or later; themed activities need one of the council's themes.
        A 422 lists every field's problem as ``errors``."""
        ctx = request_context(request)
        due_on = data.due_on or work_by_hand.default_due(london_date(ctx.now))
        item = await work_by_hand.start_by_hand(ctx, data.schedule, due_on=due_on, theme=data.theme)
        return work_out(item)
