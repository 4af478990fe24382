"""/api/v1/allocations/{id}/evidence: an audit's evidence files (PLAT-6),
through the same service and policy as the audit page."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Response

from core.services import audits, evidence
from web.api.work import EvidenceOut, EvidenceUpload
from web.auth.guards import signed_in
from web.context import request_context
from web.evidence import checked_parts, evidence_response


def _out(allocation_id: int, files: list[evidence.EvidenceItem]) -> list[EvidenceOut]:
    return [EvidenceOut(id=f.id, filename=f.filename, media_type=f.media_type, size=f.size, uploaded_by=f.uploaded_by,
                        uploaded_at=f.uploaded_at, download=f"/api/v1/allocations/{allocation_id}/evidence/{f.id}")
            for f in files]


class AuditEvidenceController(Controller):
    path = "/allocations/{allocation_id:int}/evidence"
    guards = [signed_in]

    @get("", summary="An audit's evidence files (whoever may see the audit)")
    async def listing(self, request: Request, allocation_id: FromPath[int]) -> list[EvidenceOut]:
        ctx = request_context(request)
        await audits.visible(ctx, allocation_id)
        return _out(allocation_id, await evidence.of_audit(ctx, allocation_id))

    @post("", summary="Add evidence files to an audit (its auditor, while the answers can change)", status_code=201)
    async def add(
        self, request: Request, allocation_id: FromPath[int],
        data: Annotated[EvidenceUpload, Body(media_type=RequestEncodingType.MULTI_PART)],
        field: FromQuery[str] = "",
    ) -> list[EvidenceOut]:
        """Each file in a part named ``file``, checked as on completion
        records (``POST /api/v1/work/{id}/evidence``): a 422 says which file
        is wrong and why, a 403 when you are not the auditor or the audit can
        no longer change; nothing is stored unless every file is accepted."""
        ctx = request_context(request)
        files = await checked_parts(request, data.file)
        # Issue 14: ``?field=answer.x.y`` names the answer the files are evidence for.
        await evidence.add_to_audit(ctx, allocation_id, files, field=field)
        return _out(allocation_id, await evidence.of_audit(ctx, allocation_id))

    @get("/{file_id:int}", summary="Download an audit's evidence file", media_type="application/octet-stream")
    async def download(self, request: Request, allocation_id: FromPath[int], file_id: FromPath[int]) -> Response:
        return evidence_response(await evidence.download_from_audit(request_context(request), allocation_id, file_id))
