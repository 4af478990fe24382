"""Retention and subject access (issue 16 item 5, PLAT-13), through the
commands an operator runs, on SQLite and PostgreSQL.

`qaf retention --dry-run` lists what is past the retention settings;
`--apply` anonymises it: the free text and the case's reference go, the
counts stay, so the monthly report's figures are the same afterwards, and
the trail records each and still verifies. `qaf subject-access CASE_ID`
writes everything held about a case as a ZIP of PDF and JSON.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import io
import json
import zipfile
from pathlib import Path

import pytest
from pypdf import PdfReader

from core.calendar import london_date
from core.db.engine import bind, engine_for
from core.db.tables import (
    Action, ActionUpdate, Allocation, ChildCase, Concern, Erasure, EvidenceFile, Grade, Notification, Trail, TrailText,
)
from core.services import actions, audits, concerns, evidence, reports, trail
from helpers import acting, allocation_of, filled_answers, person

UTC = dt.timezone.utc

# The audits are done in November 2026 (as tests/test_reports.py's month).
pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.clock("2026-11-20T10:00:00+00:00")]

# Words only a person wrote, to look for before and after.
EVIDENCE = "Tamsin told the auditor she feels safe with her nan"
CONCERN = "Bruising on Tamsin's arm in the photo of 3 November"
ACTION = "Book Tamsin's sibling assessment with the Safeguarding Team 2 manager"
UPDATE = "Assessment booked with Tamsin's school for 9 December"


def _qaf(monkeypatch, capsys, tmp_path: Path, database_url: str, *args: str) -> tuple[int, str, str]:
    """`qaf ARGS` as the operator runs it, in this process, in a thread of its own."""
    from core.cli import main
    from core.settings import get_settings

    monkeypatch.setenv("QAF_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("QAF_DATABASE_URL", database_url)
    monkeypatch.setenv("QAF_SECRET_KEY", "k" * 64)
    get_settings.cache_clear()
    capsys.readouterr()
    try:
        return main(list(args)), *capsys.readouterr()
    finally:
        get_settings.cache_clear()


async def _run(monkeypatch, capsys, tmp_path, database_url, *args) -> tuple[int, str, str]:
    result = await asyncio.to_thread(_qaf, monkeypatch, capsys, tmp_path, database_url, *args)
    bind(engine_for(database_url))  # the command bound an engine of its own
    return result


async def _final_audit(registry, auditor: str, grade: str) -> int:
    """The auditor's audit with every field answered (``EVIDENCE`` the words
    of each), a concern raised and a file of evidence added, then submitted
    and accepted by QA."""
    allocation = await allocation_of(auditor)
    ctx = await acting(registry, auditor)
    view = await audits.audit_view(ctx, allocation["id"])
    revision = await audits.save_answers(ctx, allocation["id"], view.revision, filled_answers(view, grade, EVIDENCE))
    await concerns.raise_concern(ctx, allocation["id"], CONCERN)
    await evidence.add_to_audit(ctx, allocation["id"], [evidence.Checked("home-visit-notes.txt", "text/plain", f"{EVIDENCE}.\n".encode())])
    await audits.submit(ctx, allocation["id"], revision)
    await audits.review(await acting(registry, "haringey.head_of_qa"), allocation["id"], "accept")
    return allocation["id"]


async def _closed_action(registry, allocation_id: int, owner: str) -> int:
    qa = await acting(registry, "haringey.head_of_qa")
    action_id = await actions.create(
        qa, what=ACTION, owner_id=(await person(owner))["id"], due_on=london_date(qa.now) + dt.timedelta(days=14),
        allocation_id=allocation_id,
    )
    await actions.update(qa, action_id, UPDATE, status="done")
    return action_id


SUMMARY_TABLES = (
    "standing_grade", "grade_month", "agreement_month", "agreement_year", "movement_month", "allocation_month",
    "follow_up_month", "escalation_month", "work_month",
)


async def _summary_tables() -> dict[str, list]:
    from core.db import bulk

    return {table: sorted(map(tuple, await bulk.fetch(f"SELECT * FROM {table}")), key=repr) for table in SUMMARY_TABLES}


def _figures(report: reports.Report) -> reports.Report:
    """A report's figures: its themes' quotes are words from the evidence, not figures."""
    def counted(themes):
        return tuple(dataclasses.replace(t, quotes=()) for t in themes)

    return dataclasses.replace(report, strengths=counted(report.strengths), development=counted(report.development))


@pytest.mark.req("PLAT-13")
async def test_retention_anonymises_what_is_due_keeps_every_figure_and_the_trail_verifies(
    registry, demo, database_url, monkeypatch, capsys, tmp_path, clock
):
    first = await _final_audit(registry, "haringey.cp_chair", "good")
    second = await _final_audit(registry, "haringey.iro", "requires_improvement")
    action_id = await _closed_action(registry, first, "haringey.cp_chair")
    row = await Allocation.select(Allocation.due_at, Allocation.child_case).where(Allocation.id == first).first()
    month = reports.period("month", london_date(row["due_at"]))
    after = month.end_at + dt.timedelta(days=2)
    qa = await acting(registry, "haringey.head_of_qa")
    qa.now = after
    before = await reports.report(qa, month, reports.Scope("org"))
    tables_before = await _summary_tables()
    assert tables_before["grade_month"] and tables_before["allocation_month"] and tables_before["standing_grade"]
    assert before.counts.completed == 2
    assert any(EVIDENCE in quote for theme in before.strengths + before.development for quote in theme.quotes)
    notifications = await Notification.count()
    assert notifications > 0
    # The trail's entries hold no words, only their seals; its history reads them back.
    assert "Tamsin" not in str([r["changes"] for r in await Trail.select(Trail.changes)])
    assert EVIDENCE in json.dumps([h["changes"] for h in await trail.history("allocation", first)], default=str)

    # Six years on (the default for audits) nothing is due yet: the audits
    # were final on 20 November 2026, the period runs from then.
    clock.move_to("2032-11-19T12:00:00+00:00")
    code, out, _ = await _run(monkeypatch, capsys, tmp_path, database_url, "retention", "--dry-run")
    assert code == 0
    assert "0 audits finalised before 19 November 2026 (kept 6 years)" in out
    # Notifications are kept two years: all of November 2026's are due.
    assert f"{notifications} notifications written before 19 November 2030 (kept 2 years): subject and message" in out

    # Monday 6 January 2033: past six years for both audits and the action.
    clock.move_to("2033-01-06T09:00:00+00:00")
    code, out, _ = await _run(monkeypatch, capsys, tmp_path, database_url, "retention", "--dry-run")
    assert code == 0, out
    assert "Haringey Children's Services: " in out and " records are due to be anonymised" in out
    assert (
        "2 audits finalised before 6 January 2027 (kept 6 years): written answers, grade evidence, QA's reasons, "
        "concerns and evidence files"
    ) in out
    assert "1 action closed before 6 January 2027 (kept 6 years): what each said and its updates" in out
    # A case goes with its audits only once every audit of it is anonymised.
    cases = {r["child_case"] for r in await Allocation.select(Allocation.child_case).where(Allocation.id.is_in([first, second]))}
    others = {r["child_case"] for r in await Allocation.select(Allocation.child_case).where(Allocation.id.not_in([first, second]))}
    whole = len(cases - others)
    assert whole == 2  # two references removed: each must stay unique in the organisation
    assert f"{whole} case reference{'s' if whole > 1 else ''} of cases whose every audit is anonymised" in out, out
    assert "Nothing was changed. Run qaf retention --apply" in out
    # A dry run changes nothing.
    assert await Erasure.count() == 0
    assert EVIDENCE in json.dumps((await Allocation.select(Allocation.answers).where(Allocation.id == first).first())["answers"])

    trail_before = await Trail.count()
    code, out, _ = await _run(monkeypatch, capsys, tmp_path, database_url, "retention", "--apply")
    assert code == 0, out
    assert "Haringey Children's Services: anonymised " in out
    assert "2 audits finalised before 6 January 2027" in out
    assert "counts, grades and dates are kept" in out
    anonymised = await Erasure.count()
    assert anonymised == 2 + 1 + whole + notifications
    # The trail records each, with no free text, and its chain still holds.
    entries = await Trail.select(Trail.entity, Trail.action, Trail.changes).where(Trail.action == "anonymised").output(load_json=True)
    assert len(entries) == anonymised == await Trail.count() - trail_before
    assert {e["entity"] for e in entries} == {"allocation", "action", "child_case", "notification"}
    assert "Tamsin" not in json.dumps([e["changes"] for e in entries])
    assert "and the words of the " in out and "trail entries about them (the entries stay, their chain intact)" in out
    code, out, _ = await _run(monkeypatch, capsys, tmp_path, database_url, "trail", "verify")
    assert code == 0 and "is intact" in out, out
    # The trail's entries about the audits said what was answered; they still
    # stand in their places, the words said to be removed.
    history = await trail.history("allocation", first)
    assert [h["action"] for h in history if h["action"] in ("answers_saved", "submitted", "anonymised")][-1] == "anonymised"
    assert "Tamsin" not in json.dumps([h["changes"] for h in history], default=str)
    assert "Removed under the retention policy" in json.dumps([h["changes"] for h in history], default=str)
    assert not await TrailText.count().where(TrailText.words.like("%Tamsin%"))
    assert "Tamsin" not in str([r["changes"] for r in await Trail.select(Trail.changes)])

    # The words are gone from the records; what is counted is not.
    for allocation_id in (first, second):
        answers = (await Allocation.select(Allocation.answers).where(Allocation.id == allocation_id).output(load_json=True).first())["answers"]
        assert "Tamsin" not in json.dumps(answers)
        assert any(value == "Removed under the retention policy" for value in answers.values())
        assert any(key.startswith("grade.") and value for key, value in answers.items())
        grades = await Grade.select(Grade.level, Grade.evidence).where(Grade.allocation == allocation_id)
        assert grades and all(g["evidence"] == "" and g["level"] for g in grades)
    assert {c["description"] for c in await Concern.select(Concern.description)} == {"Removed under the retention policy"}
    assert all(f["content"] in (b"", bytearray()) and f["filename"] == "removed" for f in await EvidenceFile.select())
    action = await Action.select(Action.what, Action.status).where(Action.id == action_id).first()
    assert action == {"what": "Removed under the retention policy", "status": "done"}
    assert {u["text"] for u in await ActionUpdate.select(ActionUpdate.text)} == {"Removed under the retention policy"}
    assert not await Notification.count().where(Notification.body.like("%Tamsin%"))
    case = await ChildCase.select(ChildCase.external_id, ChildCase.category).where(ChildCase.id == row["child_case"]).first()
    assert case["external_id"].startswith("removed ") and case["category"]
    assert not await ChildCase.count().where(ChildCase.id.is_in(list(cases - others)) & ChildCase.external_id.like("HAR-%"))

    # The month's report: every figure as it was, the evidence's words gone.
    after_report = await reports.report(qa, month, reports.Scope("org"))
    assert _figures(after_report) == _figures(before)
    # The summary tables the reports add up are untouched, row for row.
    assert await _summary_tables() == tables_before
    assert not any(EVIDENCE in quote for theme in after_report.strengths + after_report.development for quote in theme.quotes)

    # Done once: nothing is due now.
    code, out, _ = await _run(monkeypatch, capsys, tmp_path, database_url, "retention", "--dry-run")
    assert "Haringey Children's Services: nothing is due" in out


@pytest.mark.req("PLAT-13")
async def test_subject_access_writes_everything_held_about_a_case_as_pdf_and_json(
    registry, demo, database_url, monkeypatch, capsys, tmp_path
):
    allocation_id = await _final_audit(registry, "haringey.cp_chair", "good")
    await _closed_action(registry, allocation_id, "haringey.cp_chair")
    case = await ChildCase.select(ChildCase.external_id).where(
        ChildCase.id == (await Allocation.select(Allocation.child_case).where(Allocation.id == allocation_id).first())["child_case"]
    ).first()
    reference = case["external_id"]
    target = tmp_path / "request.zip"

    code, out, err = await _run(monkeypatch, capsys, tmp_path, database_url, "subject-access", reference, "--out", str(target))
    assert code == 0, err
    assert f"Case {reference} of Haringey Children's Services: 1 audit, 0 disputes, 1 action," in out
    assert "1 evidence file" in out and f"Written to {target}" in out
    assert target.stat().st_mode & 0o777 == 0o600  # a child's records: private

    with zipfile.ZipFile(target) as archive:
        names = set(archive.namelist())
        assert {"case.pdf", "case.json"} <= names
        files = [n for n in names if n.startswith("files/")]
        assert len(files) == 1 and files[0].endswith("home-visit-notes.txt")
        assert archive.read(files[0]).decode() == f"{EVIDENCE}.\n"
        held = json.loads(archive.read("case.json"))
        text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(archive.read("case.pdf"))).pages)

    # The JSON: each part, with the words a person wrote.
    assert held["case"]["reference"] == reference
    # The category in the council's words (HAR 2: the case categories), not its key.
    key = (await ChildCase.select(ChildCase.category).where(ChildCase.external_id == reference).first())["category"]
    labels = {c.key: c.label for c in registry.council("haringey").case_categories}
    assert held["case"]["category"] == labels[key] != key
    assert [a["number"] for a in held["audits"]] == [allocation_id]
    audit = held["audits"][0]
    assert audit["finalised_at"] and audit["auditor"]
    assert any(EVIDENCE == a["answer"] for a in audit["answers"])
    assert any(g["phase"] == "final" and g["grade"] == "Good" for g in audit["grades"])
    assert audit["concerns"][0]["description"] == CONCERN
    assert audit["qa_decisions"][0]["decision"] == "accepted"
    assert held["actions"][0]["what"] == ACTION and held["actions"][0]["updates"][0]["text"] == UPDATE
    assert held["notifications"]
    assert any(t["record"] == f"allocation {allocation_id}" and t["by"] for t in held["trail"])
    assert any(t["record"] == f"action {held['actions'][0]['number']}" for t in held["trail"])

    # The PDF: what a person reading it looks for, in words.
    flat = " ".join(text.split())
    for words in (
        f"Everything held about case {reference}", "Haringey Children's Services", "Audits", "Disputes", "No disputes.",
        "Actions", "Follow-ups", "Notifications", "The trail", CONCERN, ACTION, UPDATE, "Good", "home-visit-notes.txt",
    ):
        assert words in flat, words
    assert EVIDENCE in flat

    # A case nobody holds, said so; nothing written.
    code, out, err = await _run(monkeypatch, capsys, tmp_path, database_url, "subject-access", "NO-SUCH-CASE", "--out", str(tmp_path / "x.zip"))
    assert code == 1 and "No case with id NO-SUCH-CASE is held" in err
    assert not (tmp_path / "x.zip").exists()


@pytest.mark.req("PLAT-12")
@pytest.mark.req("PLAT-13")
async def test_qaf_trail_verify_names_an_entry_whose_sealed_words_were_changed_or_removed_outside_retention(
    registry, demo, database_url, monkeypatch, capsys, tmp_path
):
    allocation = await allocation_of("haringey.cp_chair")
    ctx = await acting(registry, "haringey.cp_chair")
    view = await audits.audit_view(ctx, allocation["id"])
    await audits.save_answers(ctx, allocation["id"], view.revision, filled_answers(view, "good", EVIDENCE))
    saved = await Trail.select(Trail.seq).where((Trail.entity == "allocation") & (Trail.action == "answers_saved")).first()
    text = await TrailText.select().where(TrailText.seq == saved["seq"]).first()
    assert EVIDENCE in text["words"]
    code, out, _ = await _run(monkeypatch, capsys, tmp_path, database_url, "trail", "verify")
    assert code == 0 and "is intact" in out

    # Someone with the app's own rights rewrites the words…
    await TrailText.update({TrailText.words: text["words"].replace("feels safe", "does not feel safe")}).where(TrailText.id == text["id"])
    code, _, err = await _run(monkeypatch, capsys, tmp_path, database_url, "trail", "verify")
    assert code == 1
    assert f'entry {saved["seq"]}, written Friday 20 November 2026 at 10:00 ("answers_saved" on allocation {allocation["id"]})' in err
    assert "its words do not match their fingerprints: they were changed after being written" in err
    # …or deletes them, which only retention may do (and it keeps the row).
    await TrailText.delete().where(TrailText.id == text["id"])
    code, _, err = await _run(monkeypatch, capsys, tmp_path, database_url, "trail", "verify")
    assert code == 1 and "its words are missing (removed outside qaf, not by retention)" in err


async def test_retention_periods_are_settings_in_whole_years_or_never(tmp_path):
    from core.services.retention import KindDue
    from core.settings import SettingsError, settings_from_env

    base = {"QAF_DATA_DIR": str(tmp_path), "QAF_SECRET_KEY": "k" * 64}
    assert settings_from_env(base).retain_years == {
        "audits": 6, "disputes": 6, "actions": 6, "follow_ups": 6, "work": 6, "notifications": 2,
    }
    chosen = settings_from_env(base | {"QAF_RETAIN_AUDITS_YEARS": "25", "QAF_RETAIN_NOTIFICATIONS_YEARS": "Never"})
    assert (chosen.retain_years["audits"], chosen.retain_years["notifications"]) == (25, None)
    assert KindDue("notifications", None, None).sentence() == "Notifications: kept for ever (QAF_RETAIN_NOTIFICATIONS_YEARS=never)"
    for bad in ("0", "six", "-1", "101"):
        with pytest.raises(SettingsError, match="QAF_RETAIN_DISPUTES_YEARS must be a whole number of years from 1 to 100, or never"):
            settings_from_env(base | {"QAF_RETAIN_DISPUTES_YEARS": bad})
