"""/api/v1 for disputes (HAR-11) and SMART actions (CORE-12): the same
services the pages use."""

from __future__ import annotations

import datetime as dt

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import FromPath, JSONBody

from core.services import actions, disputes
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
    )


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

    @get("", summary="My actions, and overdue actions of the people I manage")
    async def mine(self, request: Request) -> dict[str, list[ActionOut]]:
        ctx = request_context(request)
        return {
            "mine": [_action_out(a) for a in await actions.my_actions(ctx)],
            "team_overdue": [_action_out(a) for a in await actions.team_overdue(ctx)],
        }

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
        )
        return _action_out(await actions.action_view(ctx, action_id))

    @post("/{action_id:int}/updates", summary="Record progress; status done or cancelled closes it", status_code=200)
    async def update(self, request: Request, action_id: FromPath[int], data: JSONBody[ActionUpdate]) -> ActionOut:
        ctx = request_context(request)
        await actions.update(ctx, action_id, data.text, data.status)
        return _action_out(await actions.action_view(ctx, action_id))
