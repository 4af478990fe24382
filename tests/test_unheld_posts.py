"""A post nobody holds is reported, never silently dropped (PLAT-4).

Coventry's plan gives "Quality Assure Audit Process" to one named person
under the SLT page's "Quality Assurance" heading (seed 000, L61-L64:
"Neil Macdonald - Quality Assure Audit Process"), modelled as the senior
leader in post "Quality Assurance". In the demo organisation nobody holds
that post: the QA programme page, `qaf programme` and the staff import say
so, until the post is given to someone through the import.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
import pytest_asyncio
from litestar.testing import AsyncTestClient

from conftest import make_settings
from core.calendar import UTC
from core.plugins import load_plugins
from helpers import api_token, person, process_env, sign_in
from support.snapshots import snapshot_demo

QAF = str(Path(sys.executable).with_name("qaf"))
# The demo is set up on the plan's date, 29/03/17 (L1).
SET_UP = dt.datetime(2017, 3, 29, 9, 30, tzinfo=UTC)
QA_LEAD = "coventry.senior_leader"  # SLT: runs the plan and imports its staff (L44-L64)
UNHELD = "Quality Assure Audit Process: nobody holds the post Quality Assurance (Senior leadership team (SLT) member)"


@pytest.fixture(scope="module")
def coventry(tmp_path_factory):
    return load_plugins(make_settings(tmp_path_factory.mktemp("coventry"), "sqlite:///unused", councils=("coventry",))).registry


@pytest_asyncio.fixture(loop_scope="session")
async def coventry_client(coventry, database_url, tmp_path):
    from web.app import create_app

    await snapshot_demo(coventry, "coventry", now=SET_UP)
    settings = make_settings(tmp_path, database_url, councils=("coventry",))
    async with AsyncTestClient(app=create_app(settings, load_plugins(settings)), base_url="http://testserver.local") as client:
        yield client


def _text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def _unheld_on_page(page: str) -> list[str]:
    found = re.search(r'<ul class="govuk-list govuk-list--bullet" id="unheld-posts">(.*?)</ul>', page, re.S)
    return [_text(item) for item in re.findall(r"<li>(.*?)</li>", found.group(1), re.S)] if found else []


def _staff_file(post: str) -> bytes:
    return f"username,display_name,role,post\n{QA_LEAD},Neil Macdonald,senior_leader,{post}\n".encode()


@pytest.mark.req("PLAT-4")
async def test_a_post_nobody_holds_is_listed_on_the_programme_page_and_warned_of_by_the_staff_import(coventry_client):
    client = coventry_client
    await sign_in(client, QA_LEAD)
    page = await client.get("/programme?year=2017")
    assert page.status_code == 200
    assert _unheld_on_page(page.text) == [UNHELD]
    assert "1 activity is not given to anyone: the post is named in the framework but nobody holds it." in _text(page.text)

    headers = {**await api_token(client, QA_LEAD), "content-type": "text/csv"}
    # A file that gives the QA lead some other post: the import (and its check) warn.
    for dry_run in ("true", "false"):
        outcome = await client.post(f"/api/v1/imports/staff?dry_run={dry_run}", content=_staff_file("Performance"), headers=headers)
        assert outcome.status_code == 200, outcome.text
        assert outcome.json()["warnings"] == [UNHELD]
    assert (await person(QA_LEAD))["post"] == "Performance"
    assert _unheld_on_page((await client.get("/programme?year=2017")).text) == [UNHELD]

    # A check of a file that would give them the post: no warning, and nothing changed yet.
    checked = await client.post("/api/v1/imports/staff?dry_run=true", content=_staff_file("Quality Assurance"), headers=headers)
    assert (checked.json()["updated"], checked.json()["warnings"]) == (1, [])
    assert _unheld_on_page((await client.get("/programme?year=2017")).text) == [UNHELD]

    # Imported: the post is held, the page lists nothing, and the task is theirs (C17-4: undated).
    imported = await client.post("/api/v1/imports/staff", content=_staff_file("Quality Assurance"), headers=headers)
    assert (imported.json()["updated"], imported.json()["warnings"]) == (1, [])
    page = await client.get("/programme?year=2017")
    assert _unheld_on_page(page.text) == [] and "nobody holds the post" not in page.text
    assert "Quality Assure Audit Process" in page.text

    # Made inactive, nobody holds it again: the import says so.
    inactive = f"username,display_name,role,post,active\n{QA_LEAD},Neil Macdonald,senior_leader,Quality Assurance,no\n"
    checked = await client.post("/api/v1/imports/staff?dry_run=true", content=inactive.encode(), headers=headers)
    assert checked.json()["warnings"] == [UNHELD]


@pytest.mark.req("PLAT-4")
async def test_qaf_programme_lists_a_post_nobody_holds_until_someone_does(coventry_client, database_url, tmp_path):
    env = process_env(QAF_DATA_DIR=str(tmp_path), QAF_DATABASE_URL=database_url, QAF_COUNCILS="coventry")
    target = tmp_path / "programme.csv"

    def run() -> str:
        done = subprocess.run([QAF, "programme", "--council", "coventry", "--year", "2017", "--csv", str(target)],
                              env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    out = run()
    assert "for the organisation's staff" in out
    assert f"Not issued to anyone:\n  {UNHELD}\n" in out
    # Each schedule with its post: the QA lead's task names the post.
    assert "  Quality Assure Audit Process (role: Senior leadership team (SLT) member; post: Quality Assurance)\n" in out
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert not [row for row in rows if row["activity"] == "Quality Assure Audit Process"]

    headers = {**await api_token(coventry_client, QA_LEAD), "content-type": "text/csv"}
    imported = await coventry_client.post("/api/v1/imports/staff", content=_staff_file("Quality Assurance"), headers=headers)
    assert imported.status_code == 200, imported.text
    out = run()
    assert "Not issued to anyone" not in out and "nobody holds" not in out
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    mine = [row for row in rows if row["activity"] == "Quality Assure Audit Process"]
    assert [(row["post"], row["due"], row["note"]) for row in mine] == [
        ("Quality Assurance", "as required", "process and timescale to be agreed")
    ]


@pytest.mark.req("CORE-7")
def test_qaf_programme_shows_each_schedules_window_subject_and_post(tmp_path, monkeypatch, capsys):
    """Bedford's QALF (seed 001): s.4 a Head of Service audits a Team
    Manager's supervision records over the past six months (subject, window);
    s.6 observations of newly qualified workers by the Academy's team managers
    (post). No Bedford organisation: one sample person per role, who hold no post."""
    from core.cli import main
    from core.settings import get_settings

    monkeypatch.setenv("QAF_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("QAF_COUNCILS", "bedford")
    get_settings.cache_clear()
    try:
        assert main(["programme", "--council", "bedford", "--year", "2026", "--csv", str(tmp_path / "p.csv")]) == 0
    finally:
        get_settings.cache_clear()
    out = capsys.readouterr().out
    assert "programme for the year starting 2026-04" in out  # Bedford's April-to-March year
    assert ("  Audit of a Team Manager's professional supervision records (role: Manager (Head of Service); "
            "subject: Team Manager; on: a line report; window: the past 6 months)\n") in out
    assert "  Observation of a newly qualified worker (AYSE) (role: Team Manager; post: Academy)\n" in out
    assert "  Observation of a newly qualified worker (AYSE): nobody holds the post Academy (Team Manager)\n" in out
    rows = list(csv.DictReader(io.StringIO((tmp_path / "p.csv").read_text())))
    assert list(rows[0]) == ["person", "role", "post", "activity", "due", "count", "supervisee", "optional", "note",
                             "subject", "look_back_months", "with", "peer", "on"]
    audits = [r for r in rows if r["activity"] == "Audit of a Team Manager's professional supervision records"]
    assert audits and {(r["subject"], r["look_back_months"], r["on"]) for r in audits} == {("team_manager", "6", "a line report")}
    case_file = [r for r in rows if r["activity"] == "Case file audit"]
    assert case_file and {(r["subject"], r["look_back_months"]) for r in case_file} == {("", "6")}
