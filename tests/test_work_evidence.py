"""Evidence files on completion records (PLAT-6) and completion records that
go through the council's workflow (PLAT-2).

Files are checked from their content (not their name or the browser's
content type), stored in the database, listed on the work page and
downloaded only by those who may see the work; a completion record whose
schedule names a workflow is done only when the workflow reaches a final
state, by the people the workflow names."""

from __future__ import annotations

import datetime as dt
import html as html_lib
import io
import json
import re
import zipfile

import pytest
import pytest_asyncio
from litestar.testing import AsyncTestClient

from conftest import make_settings
from core.db.tables import EvidenceFile, Notification, Trail, Work, WorkMonth
from core.plugins import load_plugins
from core.services import month_counts, sweep
from core.services.context import Context
from helpers import api_token, csrf_from, person, sign_in
from support.snapshots import snapshot_demo

UTC = dt.timezone.utc
# Thursday 1 April 2027: the first working day of April and of a quarter,
# the week after Good Friday (26 March) and Easter Monday (29 March).
APRIL_OPENS = dt.datetime(2027, 4, 1, 8, 0, tzinfo=UTC)
# Friday 14 May 2027, 11:00 UTC: noon in London (British Summer Time).
MID_MAY = dt.datetime(2027, 5, 14, 11, 0, tzinfo=UTC)

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 17
CSV = b"case,finding\nCOV-1004,plan needs a review date\n"


def _docx() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", (
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.'
            'wordprocessingml.document.main+xml"/></Types>'))
        archive.writestr("word/document.xml", "<w:document/>")
    return out.getvalue()


DOCX = _docx()  # once: a zip records when each part was written


def _words(html: str) -> str:
    html = re.sub(r"</?(span|a|strong)\b[^>]*>", "", html)
    return html_lib.unescape(" ".join(re.sub(r"<[^>]+>", " ", html).split()))


async def _client(registry_plugins, database_url, tmp_path, council: str):
    from web.app import create_app

    await snapshot_demo(registry_plugins.registry, council)
    settings = make_settings(tmp_path, database_url, councils=(council,))
    return AsyncTestClient(app=create_app(settings, load_plugins(settings)), base_url="http://testserver.local")


@pytest.fixture(scope="module")
def coventry(tmp_path_factory):
    return load_plugins(make_settings(tmp_path_factory.mktemp("coventry"), "sqlite:///unused", councils=("coventry",)))


@pytest.fixture(scope="module")
def partnership(tmp_path_factory):
    return load_plugins(make_settings(tmp_path_factory.mktemp("partnership"), "sqlite:///unused", councils=("partnership",)))


@pytest_asyncio.fixture(loop_scope="session")
async def coventry_work(coventry, database_url, tmp_path, clock):
    """Coventry's April work issued; the client and the team manager's
    quarterly Case File work (C17 L17: "Each manager to audit 1 case as per
    schedule", read as quarterly; no form: done by a completion record)."""
    clock.move_to(APRIL_OPENS)
    async with await _client(coventry, database_url, tmp_path, "coventry") as client:
        await sweep.sweep(Context(registry=coventry.registry))
        tm = await person("coventry.hp_team_manager.1")
        work_id = (await Work.select(Work.id).where(
            (Work.owner == tm["id"]) & (Work.schedule_key == "coventry:hp_tm_case_file") & (Work.due_on == dt.date(2027, 6, 30))
        ).first())["id"]
        clock.move_to(MID_MAY)
        yield client, work_id, tm


@pytest.mark.req("PLAT-6")
@pytest.mark.req("PLAT-2")
async def test_a_completion_record_carries_evidence_files_that_only_those_who_may_see_the_work_download(coventry_work):
    client, work_id, tm = coventry_work
    await sign_in(client, "coventry.hp_team_manager.1")
    form = await client.get(f"/programme/work/{work_id}")
    assert form.status_code == 200
    assert 'enctype="multipart/form-data"' in form.text and 'type="file"' in form.text
    assert "each smaller than 10MB" in _words(form.text)
    token = csrf_from(form.text)
    fields = {"_csrf_token": token, "done_on-day": "13", "done_on-month": "5", "done_on-year": "2027",
              "summary": "Audited case COV-1004 with the practitioner", "outcome": ""}

    # A "PDF" that is not one, sent as application/pdf: refused from its
    # content, with every other field's error too, and nothing typed lost.
    fake = await client.post(f"/programme/work/{work_id}/complete", data=fields,
                             files=[("evidence", ("findings.pdf", b"just some words, not a PDF", "application/pdf"))])
    assert fake.status_code == 422
    text = _words(fake.text)
    assert "The selected file is not a real PDF: its name says it is, but its contents are not" in text
    assert "Enter the outcome" in text and "Audited case COV-1004 with the practitioner" in fake.text
    # Too big: the GOV.UK message, the limit in the deployment's setting (10MB by default).
    big = await client.post(f"/programme/work/{work_id}/complete", data=fields | {"outcome": "Plan agreed"},
                            files=[("evidence", ("scan.pdf", PDF + b"0" * (10 * 1024 * 1024), "application/pdf"))])
    assert big.status_code == 422 and "The selected file must be smaller than 10MB" in big.text
    assert "Plan agreed" in big.text
    assert (await Work.select(Work.done_on).where(Work.id == work_id).first())["done_on"] is None
    assert await EvidenceFile.count() == 0

    done = await client.post(
        f"/programme/work/{work_id}/complete", data=fields | {"outcome": "Plan needs a review date; agreed with the worker"},
        files=[("evidence", ("Case file notes.pdf", PDF, "application/octet-stream")),
               ("evidence", ("findings.csv", CSV, "text/csv"))],
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    page = await client.get(f"/programme/work/{work_id}")
    shown = _words(page.text)
    assert "Status Done" in shown and "Done on 13 May 2027" in shown
    # Listed: name, kind, size in words, who, when (London time: BST noon).
    assert f"Case file notes.pdf PDF {len(PDF)} bytes {tm['display_name']} 14 May 2027 at 12:00pm" in shown
    assert f"findings.csv CSV file {len(CSV)} bytes {tm['display_name']}" in shown
    links = re.findall(rf'href="(/programme/work/{work_id}/evidence/\d+)"', page.text)
    assert len(links) == 2

    # The owner, and a QA officer, download it as it was sent, as an attachment.
    got = await client.get(links[0])
    assert got.status_code == 200 and got.content == PDF
    assert got.headers["content-type"].startswith("application/pdf")
    assert got.headers["content-disposition"].startswith("attachment;")
    assert "Case%20file%20notes.pdf" in got.headers["content-disposition"]
    assert got.headers["x-content-type-options"] == "nosniff" and got.headers["cache-control"] == "no-store"
    await sign_in(client, "coventry.senior_leader")
    assert (await client.get(links[1])).content == CSV
    # So does the owner's line manager, who has no right to see everyone's work.
    from core.db.tables import Person

    manager = await Person.select(Person.username).where(Person.id == tm["line_manager"]).first()
    await sign_in(client, manager["username"])
    assert (await client.get(links[0])).content == PDF
    # Another practitioner: no such file, and the refusal is in the trail.
    await sign_in(client, "coventry.practitioner.11")
    refused = await client.get(links[0])
    assert refused.status_code == 404 and PDF not in refused.content
    assert (await client.get(f"/programme/work/{work_id}")).status_code == 404
    denied = await Trail.select(Trail.action, Trail.actor).where(Trail.entity == "evidence_file")
    assert [d["action"] for d in denied] == ["download_refused"]

    # The owner adds evidence after the work is done; the trail holds what
    # was added, never the content.
    await sign_in(client, "coventry.hp_team_manager.1")
    page = await client.get(f"/programme/work/{work_id}")
    assert "Add evidence" in page.text and "Record as done" not in page.text
    wrong = await client.post(f"/programme/work/{work_id}/evidence", data={"_csrf_token": csrf_from(page.text)},
                              files=[("more_evidence", ("photo.png", b"MZ\x90\x00binary", "image/png"))])
    assert wrong.status_code == 422 and "The selected file is not a real PNG image" in wrong.text
    added = await client.post(f"/programme/work/{work_id}/evidence", data={"_csrf_token": csrf_from(page.text)},
                              files=[("more_evidence", ("whiteboard.png", PNG, "image/png"))], follow_redirects=False)
    assert added.status_code == 303
    assert "whiteboard.png PNG image" in _words((await client.get(f"/programme/work/{work_id}")).text)
    trail = await Trail.select(Trail.action, Trail.changes).where(
        (Trail.entity == "work") & (Trail.entity_id == work_id)).order_by(Trail.id)
    assert [t["action"] for t in trail] == ["issued", "completed", "evidence_added", "evidence_added", "evidence_added"]
    added = [t["changes"] if isinstance(t["changes"], dict) else json.loads(t["changes"]) for t in trail[2:]]
    assert [a["filename"] for a in added] == ["Case file notes.pdf", "findings.csv", "whiteboard.png"]
    assert added[0]["size"] == len(PDF) and "content" not in added[0] and "review date" not in str(added)


@pytest.mark.req("PLAT-6")
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the bytes' round trip on PostgreSQL: the page test
async def test_the_api_takes_evidence_files_from_the_owner_with_a_reason_for_each_refusal(coventry_work, database_url, tmp_path):
    client, work_id, tm = coventry_work
    owner = await api_token(client, "coventry.hp_team_manager.1")
    recorded = await client.post(f"/api/v1/work/{work_id}/completion", headers=owner,
                                 json={"done_on": "2027-05-13", "summary": "Audited COV-1004", "outcome": "Plan agreed"})
    assert recorded.status_code == 200 and recorded.json()["evidence"] == []

    sent = await client.post(f"/api/v1/work/{work_id}/evidence", headers=owner,
                             files=[("file", ("minutes.docx", DOCX, "application/octet-stream"))])
    assert sent.status_code == 201, sent.text
    [listed] = sent.json()["evidence"]
    assert listed["filename"] == "minutes.docx" and listed["uploaded_by"] == tm["display_name"]
    assert listed["media_type"] == "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    shown = (await client.get(f"/api/v1/work/{work_id}", headers=owner)).json()
    assert [e["filename"] for e in shown["evidence"]] == ["minutes.docx"]
    assert (await client.get(listed["download"], headers=owner)).content == DOCX
    # A backup of the database holds the file itself (SQLite's online backup, as the README says to take one).
    import sqlite3

    live = sqlite3.connect(database_url.removeprefix("sqlite:///"))
    copy = sqlite3.connect(tmp_path / "backup.sqlite3")
    live.backup(copy)
    live.close()
    assert copy.execute("SELECT filename, content FROM evidence_file").fetchall() == [("minutes.docx", DOCX)]
    copy.close()

    # Not an Excel file at all, though named and sent as one.
    wrong = await client.post(f"/api/v1/work/{work_id}/evidence", headers=owner,
                              files=[("file", ("returns.xlsx", PDF, "application/vnd.ms-excel"))])
    assert wrong.status_code == 422 and "not a real Excel spreadsheet" in wrong.json()["detail"]
    # Not a type accepted, whatever it is named.
    odd = await client.post(f"/api/v1/work/{work_id}/evidence", headers=owner,
                            files=[("file", ("tool.exe", b"MZ\x90\x00\x03binary", "application/octet-stream"))])
    assert odd.status_code == 422 and "must be a PDF, Word document" in odd.json()["detail"]
    # Not yours: the QA officer sees the work but does not add to another's record.
    qa = await api_token(client, "coventry.senior_leader")
    theirs = await client.post(f"/api/v1/work/{work_id}/evidence", headers=qa,
                               files=[("file", ("notes.txt", b"QA notes", "text/plain"))])
    assert theirs.status_code == 403 and tm["display_name"] in theirs.json()["detail"]
    practitioner = await api_token(client, "coventry.practitioner.11")
    assert (await client.get(listed["download"], headers=practitioner)).status_code == 404
    assert await EvidenceFile.count() == 1


# CSCP 5.1: the Performance Scorecard "is populated by the Quality Assurance
# Manager on a quarterly basis and taken to the A&P subgroup for
# consideration and refinement before being presented, by the Quality
# Assurance Manager, to the Partnership Board." The partnership's year starts
# in April: the first quarter's scorecard is due Wednesday 30 June 2027.
@pytest.mark.req("PLAT-2")
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the suite's time: PostgreSQL once, in the page test
async def test_a_completion_record_is_done_only_when_its_workflow_is_signed_off_by_the_people_it_names(
    partnership, database_url, tmp_path, clock
):
    clock.move_to(APRIL_OPENS)
    async with await _client(partnership, database_url, tmp_path, "partnership") as client:
        await sweep.sweep(Context(registry=partnership.registry))
        qa = await person("partnership.qa_manager")
        work_id = (await Work.select(Work.id).where(
            (Work.owner == qa["id"]) & (Work.schedule_key == "partnership:scorecard")).first())["id"]
        clock.move_to(MID_MAY)
        await sign_in(client, "partnership.qa_manager")
        page = await client.get(f"/programme/work/{work_id}")
        recorded = await client.post(f"/programme/work/{work_id}/complete", data={
            "_csrf_token": csrf_from(page.text), "done_on-day": "12", "done_on-month": "5", "done_on-year": "2027",
            "summary": "Q1 scorecard populated from the partners' returns", "outcome": "Three indicators red",
        }, files=[("evidence", ("scorecard.csv", CSV, "text/csv"))], follow_redirects=False)
        assert recorded.status_code == 303

        async def status() -> str:
            return re.search(r"Status (.+?) Period", _words((await client.get(f"/programme/work/{work_id}")).text)).group(1)

        async def done_count() -> int:
            rows = await WorkMonth.select(WorkMonth.done).where(WorkMonth.schedule_key == "partnership:scorecard")
            return sum(r["done"] for r in rows)

        # Recorded, not done: the status is the workflow's state, and the delivery counts wait.
        assert await status() == "Populated by the Quality Assurance Manager"
        assert await done_count() == 0
        page = await client.get(f"/programme/work/{work_id}")
        assert "Take to the A&amp;P subgroup" in page.text and "Consider and refine" not in page.text
        taken = await client.post(f"/programme/work/{work_id}/step",
                                  data={"_csrf_token": csrf_from(page.text), "step": "submit"}, follow_redirects=False)
        assert taken.status_code == 303
        assert await status() == "With the A&P subgroup for consideration and refinement"
        # The owner cannot refine their own scorecard: the subgroup does.
        own = await api_token(client, "partnership.qa_manager")
        refused = await client.post(f"/api/v1/work/{work_id}/steps", headers=own, json={"step": "refine"})
        assert refused.status_code == 403
        assert refused.json()["detail"] == "You are not one of the people who may 'consider and refine'"

        # The Audit Chair is told (the state's notify), sees the record and its evidence, and refines it.
        chair = await person("partnership.audit_chair")
        told = await Notification.select(Notification.subject, Notification.link).where(
            (Notification.recipient == chair["id"]) & (Notification.kind == "work_step"))
        assert told == [{"subject": "Populate the Performance Scorecard, take it to the A&P subgroup and present it "
                                    "to the Partnership Board: With the A&P subgroup for consideration and refinement",
                         "link": f"/programme/work/{work_id}"}]
        await sign_in(client, "partnership.audit_chair")
        page = await client.get(f"/programme/work/{work_id}")
        assert "scorecard.csv" in page.text and "Consider and refine" in page.text
        await client.post(f"/programme/work/{work_id}/step", data={"_csrf_token": csrf_from(page.text), "step": "refine"})
        assert await status() == "Refined by the A&P subgroup" and await done_count() == 0

        presented = await client.post(f"/api/v1/work/{work_id}/steps", headers=own, json={"step": "present"})
        assert presented.status_code == 200
        assert presented.json()["status"] == "done" and presented.json()["done_on"] == "2027-05-12"
        assert presented.json()["stage"] == "Presented to the Partnership Board"
        assert await status() == "Done" and await done_count() == 1
        # The upkept count is the one a recount gives.
        await month_counts.rebuild_all()
        assert await done_count() == 1
        trail = await Trail.select(Trail.action, Trail.actor).where(
            (Trail.entity == "work") & (Trail.entity_id == work_id)).order_by(Trail.id)
        assert [(t["action"], t["actor"]) for t in trail if t["action"].startswith("transition:")] == [
            ("transition:submit", qa["id"]), ("transition:refine", chair["id"]), ("transition:present", qa["id"])]


@pytest.mark.req("PLAT-6")
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # PostgreSQL's bytes: the page test above
async def test_an_audit_carries_evidence_for_its_answers_seen_only_by_those_who_may_see_the_audit(client):
    """Haringey's demo: the CP chair's audit this month (HAR 2: the monthly
    cycle). The auditor adds evidence while the answers can change; the QA
    officer downloads it; the case's practitioner, before the audit is final,
    may not (CORE-10: they see it once final)."""
    from core.db.tables import Allocation, Person
    from helpers import allocation_of

    audit = await allocation_of("haringey.cp_chair")
    await sign_in(client, "haringey.cp_chair")
    page = await client.get(f"/audits/{audit['id']}")
    assert "Upload evidence for your answers" in page.text
    fake = await client.post(f"/audits/{audit['id']}/evidence", data={"_csrf_token": csrf_from(page.text)},
                             files=[("audit_evidence", ("genogram.jpg", b"<html>not a picture</html>", "image/jpeg"))])
    assert fake.status_code == 422
    assert "The selected file is not a real JPEG image: its name says it is, but its contents are not" in _words(fake.text)
    added = await client.post(f"/audits/{audit['id']}/evidence", data={"_csrf_token": csrf_from(page.text)},
                              files=[("audit_evidence", ("chronology.pdf", PDF, "application/pdf"))], follow_redirects=False)
    assert added.status_code == 303
    page = await client.get(f"/audits/{audit['id']}")
    [link] = re.findall(rf'href="(/audits/{audit["id"]}/evidence/\d+)"', page.text)
    assert "chronology.pdf PDF" in _words(page.text)

    await sign_in(client, "haringey.qa_officer")
    got = await client.get(link)
    assert got.status_code == 200 and got.content == PDF and got.headers["content-disposition"].startswith("attachment;")
    row = await Allocation.select(Allocation.child_case.allocated_worker.as_alias("worker")).where(
        Allocation.id == audit["id"]).first()
    worker = await Person.select(Person.username).where(Person.id == row["worker"]).first()
    await sign_in(client, worker["username"])
    assert (await client.get(link)).status_code == 404
    assert [t["action"] for t in await Trail.select(Trail.action).where(Trail.entity == "evidence_file")] == ["download_refused"]
    # Only the auditor adds evidence: the QA officer, who sees the audit, may not.
    await sign_in(client, "haringey.qa_officer")
    page = await client.get(f"/audits/{audit['id']}")
    assert "Upload evidence for your answers" not in page.text
    refused = await client.post(f"/audits/{audit['id']}/evidence", data={"_csrf_token": csrf_from(page.text)},
                                files=[("audit_evidence", ("x.txt", b"x", "text/plain"))])
    assert refused.status_code == 403 and "Only the auditor adds evidence" in refused.text
    assert await EvidenceFile.count().where(EvidenceFile.allocation == audit["id"]) == 1

    # The API: the auditor adds and lists; the case's practitioner is told there is no such audit.
    auditor = await api_token(client, "haringey.cp_chair")
    sent = await client.post(f"/api/v1/allocations/{audit['id']}/evidence", headers=auditor,
                             files=[("file", ("visits.csv", CSV, "text/csv"))])
    assert sent.status_code == 201, sent.text
    assert [(f["filename"], f["media_type"]) for f in sent.json()] == [("chronology.pdf", "application/pdf"),
                                                                      ("visits.csv", "text/csv")]
    assert (await client.get(sent.json()[1]["download"], headers=auditor)).content == CSV
    theirs = await api_token(client, worker["username"])
    assert (await client.get(f"/api/v1/allocations/{audit['id']}/evidence", headers=theirs)).status_code == 404
