"""Evidence files on completion records (PLAT-6, PLAT-2).

A file's type is decided from its content, never from its name or the
browser's content type: PDF, PNG and JPEG by their signatures (the
``filetype`` library), Word, Excel and PowerPoint files by the parts their
zip container declares in ``[Content_Types].xml``, and plain text or CSV by
decoding as text with no control characters. The name must agree with what
the content is (a "report.pdf" that is not a PDF is refused), so what is
downloaded is what its name says.

Files are stored in the database (``EvidenceFile``), so a database backup
includes them. Who may download one is who may see the record it is on
(``core.services.work.get_work``: the owner, their line managers, the QA
team, and the people its completion workflow names); anyone else is told
there is no such file, and the refusal is in the trail. The trail records
each file's name, type, size and checksum, never its content.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass

import filetype

from core.db.engine import transaction
from core.db.tables import EvidenceFile
from core.services import trail
from core.services.context import Context
from core.services.errors import Forbidden, Invalid, NotFound

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"

# media type -> (what a person calls it, the names' endings it may have)
ALLOWED: dict[str, tuple[str, tuple[str, ...]]] = {
    "application/pdf": ("PDF", ("pdf",)),
    DOCX: ("Word document", ("docx",)),
    XLSX: ("Excel spreadsheet", ("xlsx",)),
    PPTX: ("PowerPoint presentation", ("pptx",)),
    "image/png": ("PNG image", ("png",)),
    "image/jpeg": ("JPEG image", ("jpg", "jpeg")),
    "text/plain": ("text file", ("txt",)),
    "text/csv": ("CSV file", ("csv",)),
}
KINDS_IN_WORDS = "a PDF, Word document, Excel spreadsheet, PowerPoint presentation, PNG, JPEG, text or CSV file"
# The zip containers: the main part each declares, and the folder it lives in.
_OFFICE = (
    (DOCX, "wordprocessingml.document.main+xml", "word/"),
    (XLSX, "spreadsheetml.sheet.main+xml", "xl/"),
    (PPTX, "presentationml.presentation.main+xml", "ppt/"),
)
MAX_FILES = 10  # at once: a completion record's evidence is a few files, not a folder


@dataclass(frozen=True, slots=True)
class Upload:
    """A file as it arrived: its name, and its bytes up to one more than the limit."""

    filename: str
    data: bytes
    too_big: bool = False


@dataclass(frozen=True, slots=True)
class Checked:
    filename: str
    media_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class EvidenceItem:
    id: int
    filename: str
    media_type: str
    size: int
    size_words: str
    uploaded_by: str
    uploaded_at: dt.datetime
    field: str = ""  # the answer it is evidence for (issue 14); "" for the whole record

    @property
    def kind(self) -> str:
        return ALLOWED.get(self.media_type, ("file", ()))[0]


def size_limit_words(max_bytes: int) -> str:
    """As GOV.UK words a limit: "10MB" (binary megabytes, as operating systems show them)."""
    mib = 1024 * 1024
    if max_bytes % mib == 0:
        return f"{max_bytes // mib}MB"
    if max_bytes >= mib:
        return f"{max_bytes / mib:.1f}MB"
    return f"{max(1, max_bytes // 1024)}KB"


def size_words(size: int) -> str:
    if size < 1024:
        return f"{size} bytes" if size != 1 else "1 byte"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f}KB"
    return f"{size / (1024 * 1024):.1f}MB"


def clean_name(filename: str) -> str:
    """The file's own name, without any folder, control characters or
    leading dots, at most 255 characters (keeping its ending)."""
    name = re.split(r"[\\/]", filename or "")[-1]
    name = "".join(ch for ch in unicodedata.normalize("NFC", name) if unicodedata.category(ch)[0] != "C").strip().lstrip(".")
    if len(name) > 255:
        stem, dot, ending = name.rpartition(".")
        name = (stem[: 254 - len(ending)] + dot + ending) if dot and len(ending) < 20 else name[:255]
    return name


def sniff(data: bytes) -> str | None:
    """The media type the content is, of those allowed; None for anything else."""
    if data.startswith(b"PK\x03\x04"):
        return _office(data)
    kind = filetype.guess(data)
    if kind is not None:
        return kind.mime if kind.mime in ("application/pdf", "image/png", "image/jpeg") else None
    return "text/plain" if _is_text(data) else None


def _office(data: bytes) -> str | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            info = archive.getinfo("[Content_Types].xml")
            if info.file_size > 1024 * 1024:  # a declaration, not a payload
                return None
            declared = archive.read(info).decode("utf-8", "replace")
    except (zipfile.BadZipFile, KeyError, RuntimeError, NotImplementedError, OSError, ValueError):
        return None
    for media_type, part, folder in _OFFICE:
        if part in declared and any(name.startswith(folder) for name in names):
            return media_type
    return None


def _is_text(data: bytes) -> bool:
    if b"\x00" in data:
        return False
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")  # a CSV saved by Excel on Windows
        except UnicodeDecodeError:
            return False
    return not any(unicodedata.category(ch) == "Cc" and ch not in "\t\r\n\f" for ch in text)


def check(upload: Upload, max_bytes: int) -> tuple[Checked | None, str | None]:
    """The file checked, or what is wrong with it in the GOV.UK file upload
    pattern's words."""
    name = clean_name(upload.filename)
    if upload.too_big or len(upload.data) > max_bytes:
        return None, f"The selected file must be smaller than {size_limit_words(max_bytes)}"
    if not upload.data:
        return None, "The selected file is empty"
    if not name:
        return None, "The selected file has no name: rename it and select it again"
    media_type = sniff(upload.data)
    ending = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if media_type == "text/plain" and ending == "csv":
        media_type = "text/csv"
    claimed = next((words for words, endings in ALLOWED.values() if ending in endings), None)
    if media_type is None:
        if claimed:
            return None, f"The selected file is not a real {claimed}: its name says it is, but its contents are not"
        return None, f"The selected file must be {KINDS_IN_WORDS}"
    if ending not in ALLOWED[media_type][1]:
        if claimed:
            return None, f"The selected file is not a real {claimed}: its name says it is, but its contents are not"
        return None, f"The selected file must be {KINDS_IN_WORDS}"
    return Checked(filename=name, media_type=media_type, data=upload.data), None


def check_all(uploads: list[Upload], max_bytes: int, *, required: bool = False) -> tuple[list[Checked], str | None]:
    """Every file checked; the message for the field names each bad file when there are several."""
    uploads = [u for u in uploads if u.filename or u.data]
    if not uploads:
        return [], "Select a file" if required else None
    if len(uploads) > MAX_FILES:
        return [], f"Select up to {MAX_FILES} files at a time"
    checked, problems = [], []
    for upload in uploads:
        good, problem = check(upload, max_bytes)
        if problem:
            problems.append(problem if len(uploads) == 1 else f"{clean_name(upload.filename) or 'A file'}: {problem}")
        else:
            checked.append(good)
    return checked, (". ".join(problems) if problems else None)


async def add_to_work(ctx: Context, work_id: int, files: list[Checked]) -> list[int]:
    """Store checked files on a completion record (inside the caller's
    transaction where there is one). Only the owner adds evidence, to work
    done by a completion record."""
    from core.services.work import get_work

    assert ctx.actor
    if not files:
        return []
    item = await get_work(ctx, work_id)
    if item.owner_id != ctx.actor.person_id:
        raise Forbidden(f"Only {item.owner} can add evidence to this work")
    if item.form_key:
        raise Invalid(f"{item.activity} is done by completing its {item.form_title}: add evidence to the audit")
    return await _store(ctx, files, "work", work_id)


async def of_work(ctx: Context, work_ids: list[int]) -> dict[int, list[EvidenceItem]]:
    """The evidence listed on each piece of work (not the content), oldest first."""
    out: dict[int, list[EvidenceItem]] = {}
    if not work_ids:
        return out
    for row in await EvidenceFile.select(
        EvidenceFile.id, EvidenceFile.work, EvidenceFile.filename, EvidenceFile.media_type, EvidenceFile.size,
        EvidenceFile.uploaded_at, EvidenceFile.uploaded_by.display_name.as_alias("who"),
    ).where(EvidenceFile.work.is_in(work_ids)).order_by(EvidenceFile.id):
        out.setdefault(row["work"], []).append(
            EvidenceItem(id=row["id"], filename=row["filename"], media_type=row["media_type"], size=row["size"],
                         size_words=size_words(row["size"]), uploaded_by=row["who"], uploaded_at=row["uploaded_at"])
        )
    return out


async def download(ctx: Context, work_id: int, file_id: int) -> dict:
    """A file on a piece of work, for those who may see the work; anyone else
    gets NotFound, and the refusal is in the trail."""
    from core.services.work import get_work

    return await _fetch(ctx, file_id, EvidenceFile.work, "work", work_id, lambda: get_work(ctx, work_id))


# ------------------------------------------------------------------ audits
async def add_to_audit(ctx: Context, allocation_id: int, files: list[Checked], field: str = "") -> list[int]:
    """Evidence for an audit's answers, added by its auditor while they may
    still change the answers (never after it is submitted or final)."""
    from core.services.audits import audit_view

    assert ctx.actor
    if not files:
        return []
    view = await audit_view(ctx, allocation_id)  # NotFound for those who may not see it
    if not view.editable:
        raise Forbidden("Only the auditor adds evidence, while the audit can still be changed")
    # Issue 14: evidence on one answer (any of the form's fields), or on the whole audit.
    if field and field not in {f.name for f in view.fields.fields}:
        raise Invalid("Choose one of the form's answers", {"evidence_field": "Choose one of the form's answers, or the whole return"})
    return await _store(ctx, files, "allocation", allocation_id, field=field)


async def _store(ctx: Context, files: list[Checked], entity: str, entity_id: int, field: str = "") -> list[int]:
    """Write checked files on a piece of work or an audit (``entity``: work or
    allocation), each in the trail by name, type, size and digest: what was
    added, never the content."""
    assert ctx.actor
    ids = []
    async with transaction():
        for file in files:
            digest = hashlib.sha256(file.data).hexdigest()
            rows = await EvidenceFile.insert(
                EvidenceFile(
                    organisation=ctx.actor.organisation_id, filename=file.filename,
                    media_type=file.media_type, size=len(file.data), sha256=digest, content=file.data,
                    uploaded_by=ctx.actor.person_id, uploaded_at=ctx.now, field=field,
                    **({"work": entity_id} if entity == "work" else {"allocation": entity_id}),
                )
            ).returning(EvidenceFile.id)
            ids.append(rows[0]["id"])
            await trail.record(ctx, organisation_id=ctx.actor.organisation_id, entity=entity, entity_id=entity_id,
                               action="evidence_added", changes={"file": rows[0]["id"], "filename": file.filename,
                                                                 "media_type": file.media_type, "size": len(file.data),
                                                                 "sha256": digest, **({"answer": field} if field else {})})
    return ids


async def of_audit(ctx: Context, allocation_id: int) -> list[EvidenceItem]:
    """An audit's evidence as listed on its page (its visibility already checked)."""
    return [
        EvidenceItem(id=row["id"], filename=row["filename"], media_type=row["media_type"], size=row["size"],
                     size_words=size_words(row["size"]), uploaded_by=row["who"], uploaded_at=row["uploaded_at"],
                     field=row["field"])
        for row in await EvidenceFile.select(
            EvidenceFile.id, EvidenceFile.filename, EvidenceFile.media_type, EvidenceFile.size,
            EvidenceFile.uploaded_at, EvidenceFile.uploaded_by.display_name.as_alias("who"), EvidenceFile.field,
        ).where(EvidenceFile.allocation == allocation_id).order_by(EvidenceFile.id)
    ]


async def download_from_audit(ctx: Context, allocation_id: int, file_id: int) -> dict:
    """A file on an audit, for those who may see the audit (the audits'
    own policy, ``audits.visible``); anyone else: NotFound, in the trail."""
    from core.services.audits import visible

    return await _fetch(ctx, file_id, EvidenceFile.allocation, "allocation", allocation_id, lambda: visible(ctx, allocation_id))


async def _fetch(ctx: Context, file_id: int, parent_column, parent: str, parent_id: int, may_see) -> dict:
    """A stored file of its parent (a piece of work or an audit), once
    ``may_see()`` (the parent's own policy) lets the reader see the parent;
    anyone else gets NotFound, and the refusal is in the trail."""
    assert ctx.actor
    row = await EvidenceFile.select(
        EvidenceFile.id, EvidenceFile.filename, EvidenceFile.media_type, EvidenceFile.size, EvidenceFile.content,
    ).where((EvidenceFile.id == file_id) & (parent_column == parent_id)).first()
    if row is None:
        raise NotFound("There is no such file")
    try:
        await may_see()
    except NotFound:
        await trail.record(ctx, organisation_id=ctx.actor.organisation_id, entity="evidence_file", entity_id=file_id,
                           action="download_refused", changes={parent: parent_id})
        raise NotFound("There is no such file") from None
    content = row["content"]
    return {**row, "content": bytes(content) if not isinstance(content, bytes) else content}


__all__ = ["ALLOWED", "Checked", "EvidenceItem", "Upload", "add_to_work", "check", "check_all", "download",
           "of_work", "size_limit_words", "sniff", "add_to_audit", "of_audit", "download_from_audit"]
