"""Evidence files on the web (PLAT-6): reading uploads from a page's form or
an API's multipart parts, each to one byte past the limit, and answering a
download. What a file may be, and who may have it, is core.services.evidence."""

from __future__ import annotations

from litestar import Request
from litestar.response import Response

from core.services import evidence
from core.services.errors import Invalid
from web.state import qaf_state


def _limit(request: Request) -> int:
    return qaf_state(request.app.state).settings.evidence_max_bytes


async def _read(parts, limit: int) -> list[evidence.Upload]:
    out = []
    for part in parts:
        data = await part.read(limit + 1)
        out.append(evidence.Upload(filename=part.filename or "", data=data, too_big=len(data) > limit))
    return out


async def uploads(request: Request, name: str = "evidence") -> list[evidence.Upload]:
    """The files sent in a page's multipart form field ``name``, each read to
    one byte past the limit (what is larger is refused without reading it all)."""
    form = await request.form()
    return await _read([value for key, value in form.multi_items() if key == name and not isinstance(value, str)],
                       _limit(request))


async def checked_parts(request: Request, parts) -> list[evidence.Checked]:
    """An API call's file parts, every one checked; Invalid (422) naming the
    first file refused and why, so nothing is stored unless all are accepted."""
    limit = _limit(request)
    files, problem = evidence.check_all(await _read(parts if isinstance(parts, list) else [parts], limit), limit, required=True)
    if problem:
        raise Invalid(problem, {"file": problem})
    return files


def evidence_response(row: dict) -> Response:
    """A stored file, as a download: the type its content was checked to be,
    never sniffed by the browser, never cached."""
    from urllib.parse import quote

    fallback = "".join(ch if ch.isascii() and ch.isprintable() and ch not in '"\\;' else "_" for ch in row["filename"])
    return Response(
        content=row["content"], media_type=row["media_type"], status_code=200,
        headers={
            # Lower case, as the app's own security headers are (it adds
            # what is missing): each header once.
            "content-disposition": f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(row['filename'])}",
            "x-content-type-options": "nosniff",
            "cache-control": "no-store",
        },
    )


