"""/api/v1 for disputes (HAR-11), SMART actions (CORE-12) and action plans
(CSCP-8, BED-6): the same services the pages use."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import FromPath, JSONBody, Parameter

from core.services import action_plans, actions, disputes
from web.auth.guards import signed_in
from web.context import request_context


class DomainDispute(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    proposed: str
    rationale: str


class RaiseDispute(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    allocation_id: int
    criteria: str
    domains: dict[str, DomainDispute]


class DisputeStep(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    reason: str = ""
    outcome: str = ""  # upheld | amended, on the step that resolves it
    amendments: dict[str, str] = {}  # domain -> new level, when amended
    participants: str = ""


class DisputeOut(msgspec.Struct, kw_only=True):
    id: int
    allocation_id: int
    state: str
    state_label: str
    criteria: str
    outcome: str | None
    next_steps: list[str]
    final_grades: dict[str, str]


class NewAction(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    what: str
    owner_id: int
    due_on: dt.date
    allocation_id: int | None = None
    dispute_id: int | None = None
    plan: str = ""
    action_plan_id: int | None = None


class ActionUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    text: str
    status: str = ""  # "", done or cancelled


class ActionOut(msgspec.Struct, kw_only=True):
    id: int
    what: str
    owner_id: int
    due_at: dt.datetime | None
    status: str
    overdue: bool
    kind: str = ""
    review_on: dt.date | None = None
    action_plan_id: int | None = None
    # The statuses the caller may set (empty: they may only read it).
    may_set: list[str] = []


class ActionsOut(msgspec.Struct, kw_only=True):
    """A page of my actions (issue 19 item 1): open ones soonest due first,
    then closed ones latest closed first; ``next`` the address of the next
    page (null on the last). ``team_overdue``: the longest overdue actions of
    the people I manage (at most 50), the same on every page."""

    mine: list[ActionOut]
    team_overdue: list[ActionOut]
    next: str | None = None


class NewPlan(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    body: str
    title: str
    source_kind: str  # audit | themed_audit_day | multi_agency_audit | dispute_outcome
    source_detail: str
    allocation_id: int | None = None
    dispute_id: int | None = None


class PlanAction(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    what: str
    owner_id: int
    due_on: dt.date


class NewLearning(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    learned: str
    channel: str
    audience: str
    shared_on: dt.date


class Progress(msgspec.Struct, kw_only=True):
    total: int
    closed: int
    open: int
    overdue: int


class LearningOut(msgspec.Struct, kw_only=True):
    id: int
    learned: str
    channel: str
    channel_label: str
    audience: str
    shared_on: dt.date
    recorded_by: str


class PlanOut(msgspec.Struct, kw_only=True):
    id: int
    body: str
    title: str
    source_kind: str
    source_detail: str
    status: str
    progress: Progress
    actions: list[ActionOut] = []
    learning: list[LearningOut] = []


def _dispute_out(view: dict) -> DisputeOut:
    dispute = view["dispute"]
    return DisputeOut(
        id=dispute["id"],
        allocation_id=dispute["allocation"],
        state=dispute["state"],
        state_label=view["state_label"],
        criteria=dispute["criteria"],
        outcome=dispute.get("outcome") or None,
        next_steps=[t.key for t in view["transitions"]],
        final_grades=view["final_grades"],
    )


def _action_out(row: dict) -> ActionOut:
    return ActionOut(
        id=row["id"],
        what=row["what"],
        owner_id=row["owner"],
        due_at=row.get("due_at"),
        status=row["status"],
        overdue=bool(row.get("overdue")),
        kind=row.get("kind") or "",
        review_on=row.get("review_on"),
        action_plan_id=row.get("action_plan"),
        may_set=list(row.get("may_set") or ()),
    )


def _plan_out(plan: dict, progress: dict, rows: list[dict] | None = None, learning: list[dict] | None = None) -> PlanOut:
    return PlanOut(
        id=plan["id"], body=plan["body"], title=plan["title"], source_kind=plan["source_kind"],
        source_detail=plan["source_detail"], status=plan["status"], progress=Progress(**progress),
        actions=[_action_out(r) for r in rows or []],
        learning=[
            LearningOut(id=r["id"], learned=r["learned"], channel=r["channel"], channel_label=r["channel_label"],
                        audience=r["audience"], shared_on=r["shared_on"], recorded_by=r["recorded_by_name"] or "")
            for r in learning or []
        ],
    )


async def _plan_detail(ctx, plan_id: int) -> PlanOut:
    view = await action_plans.plan_view(ctx, plan_id)
    return _plan_out(view["plan"], view["progress"], view["actions"], view["learning"])


class DisputesController(Controller):
    path = "/disputes"
    guards = [signed_in]

    @post("", summary="Dispute a final audit's grades, domain by domain, citing grading criteria", status_code=201)
    async def raise_(self, request: Request, data: JSONBody[RaiseDispute]) -> DisputeOut:
        ctx = request_context(request)
        domains = {k: {"proposed": v.proposed, "rationale": v.rationale} for k, v in data.domains.items()}
        dispute_id = await disputes.raise_dispute(ctx, data.allocation_id, data.criteria, domains)
        return _dispute_out(await disputes.dispute_view(ctx, dispute_id))

    @get("/{dispute_id:int}", summary="A dispute: its stage and what I may do next")
    async def detail(self, request: Request, dispute_id: FromPath[int]) -> DisputeOut:
        return _dispute_out(await disputes.dispute_view(request_context(request), dispute_id))

    @post("/{dispute_id:int}/steps/{step:str}", summary="Take a step of the council's dispute process", status_code=200)
    async def step(self, request: Request, dispute_id: FromPath[int], step: FromPath[str], data: JSONBody[DisputeStep]) -> DisputeOut:
        ctx = request_context(request)
        await disputes.take_step(
            ctx, dispute_id, step, data.reason, outcome=data.outcome, amendments=data.amendments, participants=data.participants
        )
        return _dispute_out(await disputes.dispute_view(ctx, dispute_id))


class ActionsController(Controller):
    path = "/actions"
    guards = [signed_in]

    @get("", summary="My actions a page at a time (open first), and overdue actions of the people I manage")
    async def mine(
        self,
        request: Request,
        after: Annotated[int | None, Parameter(
            description="The last action of the page before (from its next link); none for the first page")] = None,
        limit: Annotated[int, Parameter(
            ge=1, le=actions.ACTIONS_PAGE_MOST, description="How many of my actions a page")] = actions.ACTIONS_PAGE,
    ) -> ActionsOut:
        ctx = request_context(request)
        found = await actions.my_actions(ctx, after, limit)
        more = None
        if found.after is not None:
            more = f"/api/v1/actions?after={found.after}" + (f"&limit={limit}" if limit != actions.ACTIONS_PAGE else "")
        return ActionsOut(
            mine=[_action_out(a) for a in found.items],
            team_overdue=[_action_out(a) for a in await actions.team_overdue(ctx)],
            next=more,
        )

    @post("", summary="Set a SMART action: what, who, by when", status_code=201)
    async def create(self, request: Request, data: JSONBody[NewAction]) -> ActionOut:
        ctx = request_context(request)
        action_id = await actions.create(
            ctx,
            what=data.what,
            owner_id=data.owner_id,
            due_on=data.due_on,
            allocation_id=data.allocation_id,
            dispute_id=data.dispute_id,
            plan=data.plan,
            action_plan_id=data.action_plan_id,
        )
        return _action_out(await actions.action_view(ctx, action_id))

    @get("/{action_id:int}", summary="An action and the statuses I may give it (none: I may only read it)")
    async def detail(self, request: Request, action_id: FromPath[int]) -> ActionOut:
        return _action_out(await actions.action_view(request_context(request), action_id))

    @post("/{action_id:int}/updates", summary="Record progress; status done or cancelled closes it", status_code=200)
    async def update(self, request: Request, action_id: FromPath[int], data: JSONBody[ActionUpdate]) -> ActionOut:
        ctx = request_context(request)
        await actions.update(ctx, action_id, data.text, data.status)
        return _action_out(await actions.action_view(ctx, action_id))


class PlansController(Controller):
    path = "/plans"
    guards = [signed_in]

    @get("", summary="Action plans of the bodies I sit on, with progress (CSCP-8, BED-6)")
    async def index(self, request: Request) -> list[PlanOut]:
        ctx = request_context(request)
        return [_plan_out(p, p["progress"]) for p in await action_plans.plans(ctx)]

    @post("", summary="Open an action plan monitored by a body", status_code=201)
    async def create(self, request: Request, data: JSONBody[NewPlan]) -> PlanOut:
        ctx = request_context(request)
        plan_id = await action_plans.create(
            ctx, body=data.body, title=data.title, source_kind=data.source_kind, source_detail=data.source_detail,
            allocation_id=data.allocation_id, dispute_id=data.dispute_id,
        )
        return await _plan_detail(ctx, plan_id)

    @get("/{plan_id:int}", summary="A plan: its actions, progress and learning")
    async def detail(self, request: Request, plan_id: FromPath[int]) -> PlanOut:
        return await _plan_detail(request_context(request), plan_id)

    @post("/{plan_id:int}/actions", summary="Add a SMART action to a plan", status_code=201)
    async def add_action(self, request: Request, plan_id: FromPath[int], data: JSONBody[PlanAction]) -> ActionOut:
        ctx = request_context(request)
        action_id = await action_plans.add_action(ctx, plan_id, what=data.what, owner_id=data.owner_id, due_on=data.due_on)
        return _action_out(await actions.action_view(ctx, action_id))

    @post("/{plan_id:int}/learning", summary="Record what was learned and how it was shared", status_code=201)
    async def learning(self, request: Request, plan_id: FromPath[int], data: JSONBody[NewLearning]) -> PlanOut:
        ctx = request_context(request)
        await action_plans.record_learning(
            ctx, plan_id, learned=data.learned, channel=data.channel, audience=data.audience, shared_on=data.shared_on
        )
        return await _plan_detail(ctx, plan_id)

    @post("/{plan_id:int}/complete", summary="Mark a plan complete (409 while any action is open)", status_code=200)
    async def complete(self, request: Request, plan_id: FromPath[int]) -> PlanOut:
        ctx = request_context(request)
        await action_plans.complete(ctx, plan_id)
        return await _plan_detail(ctx, plan_id)
