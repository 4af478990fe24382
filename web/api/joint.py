"""/api/v1/allocations/{id}/co-auditors: a joint audit's co-auditors (PLAT-4),
added and removed by its lead, through the same service as the audit page."""

from __future__ import annotations

from litestar import Controller, Request, delete, get, post
from litestar.params import FromPath, JSONBody

from core.services import audits, joint
from web.api import schemas
from web.auth.guards import signed_in
from web.context import request_context


class JointAuditsController(Controller):
    path = "/allocations"
    guards = [signed_in]

    @get("/{allocation_id:int}/co-auditors/candidates", summary="Who the lead may add as a co-auditor",
         description="Without `name`: those in the lead's service (for a lead in no team, in the lead's role). "
                     "With `name`: up to 50 whose name has it in it.")
    async def candidates(self, request: Request, allocation_id: FromPath[int], name: str = "") -> list[schemas.CoAuditorOut]:
        ctx = request_context(request)
        row = await joint.lead_of(ctx, allocation_id)
        found = await joint.candidates(ctx, allocation_id, row, name)
        return [schemas.CoAuditorOut(id=p["id"], name=p["name"]) for p in found.people]

    @post("/{allocation_id:int}/co-auditors", summary="The lead adds a co-auditor: a joint audit", status_code=201)
    async def add(self, request: Request, allocation_id: FromPath[int], data: JSONBody[schemas.CoAuditorIn]) -> schemas.AllocationDetail:
        from web.api.v1 import _detail

        ctx = request_context(request)
        await joint.add(ctx, allocation_id, data.person_id)
        return _detail(await audits.audit_view(ctx, allocation_id))

    @delete("/{allocation_id:int}/co-auditors/{person_id:int}", summary="The lead removes a co-auditor", status_code=200)
    async def remove(self, request: Request, allocation_id: FromPath[int], person_id: FromPath[int]) -> schemas.AllocationDetail:
        from web.api.v1 import _detail

        ctx = request_context(request)
        await joint.remove(ctx, allocation_id, person_id)
        return _detail(await audits.audit_view(ctx, allocation_id))
