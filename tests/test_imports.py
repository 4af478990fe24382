"""Importing staff and cases from CSV files (CORE-9), through the page and
the API, on SQLite and PostgreSQL: all or nothing, every problem at once,
a dry run that writes nothing, and a trail row for every change."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from core.db.tables import Agency, ChildCase, Person, Service, Team, Trail
from core.services import imports
from core.services.errors import Forbidden
from helpers import acting, api_token, csrf_from, person, sign_in

QA = "haringey.qa_officer"  # has `administer`
STAFF_HEADER = "username,display_name,email,role,team,service,line_manager_username,post,active"
CASES_HEADER = "external_id,category,team,allocated_worker_username,chair_username,involvement_started_on"


async def _upload(client, kind: str, content: bytes, action: str = "import"):
    form = await client.get("/imports")
    assert form.status_code == 200, form.text
    return await client.post(
        f"/imports/{kind}",
        data={"_csrf_token": csrf_from(form.text), "action": action},
        files={"file": (f"{kind}.csv", content, "text/csv")},
    )


async def _api(client, kind: str, content: bytes, headers: dict, dry_run: bool = False):
    suffix = "?dry_run=true" if dry_run else ""
    return await client.post(
        f"/api/v1/imports/{kind}{suffix}", content=content, headers={**headers, "content-type": "text/csv"}
    )


async def _counts() -> tuple[int, int, int, int, int]:
    return (
        await Person.count(),
        await ChildCase.count(),
        await Team.count(),
        await Service.count(),
        await Trail.count().where(Trail.action.like("imported%")),
    )


def _changes(row: dict) -> dict:
    changes = row["changes"]
    return changes if isinstance(changes, dict) else json.loads(changes)


async def _trail(entity: str, entity_id: int) -> list[dict]:
    rows = await Trail.select().where((Trail.entity == entity) & (Trail.entity_id == entity_id)).order_by(Trail.id)
    return [row | {"changes": _changes(row)} for row in rows]


async def _staff_file() -> bytes:
    """New team and service; a new team manager who appears after the person
    they manage; an existing practitioner moved to the new team."""
    moved = await person("haringey.practitioner.11")
    lines = [
        STAFF_HEADER,
        "g.mensah,Grace Mensah,g.mensah@example.org,practitioner,Family Support Team,Early Help,f.okoro,,yes",
        "F.Okoro,Femi Okoro,f.okoro@example.org,Team manager,Family Support Team,Early Help,haringey.service_manager,,",
        "",
        f"haringey.practitioner.11,{moved['display_name']},{moved['email']},practitioner,family support team,,f.okoro,,yes",
        ",,,,,,,,",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


def _cases_file() -> bytes:
    """As Mosaic exports them: Excel's BOM, British dates, categories by name."""
    lines = [
        CASES_HEADER,
        "MOS-204518,Child protection,Family Support Team,g.mensah,haringey.cp_chair,03/06/2025",
        "MOS-204519,looked-after CHILD,Family Support Team,g.mensah,haringey.iro,15/01/2025 00:00",
        "HAR-1001,cin,Assessment Team 1,haringey.practitioner.11,,2025-02-01",
    ]
    return "\ufeff".encode() + ("\r\n".join(lines) + "\r\n").encode()


async def _assert_staff_imported(request_id: str | None = None) -> None:
    okoro, mensah, moved = await person("f.okoro"), await person("g.mensah"), await person("haringey.practitioner.11")
    manager = await person("haringey.service_manager")
    team = await Team.select(Team.id, Team.name, Team.service.name.as_alias("service")).where(Team.name == "Family Support Team").first()
    assert team["service"] == "Early Help"
    assert (okoro["role"], okoro["team"], okoro["line_manager"], okoro["display_name"]) == ("team_manager", team["id"], manager["id"], "Femi Okoro")
    assert (mensah["role"], mensah["team"], mensah["line_manager"], mensah["active"]) == ("practitioner", team["id"], okoro["id"], True)
    assert (moved["team"], moved["line_manager"]) == (team["id"], okoro["id"])
    assert okoro["organisation"] == manager["organisation"]
    # Created without a password: nothing signs them in.
    assert okoro["password_hash"] == imports.NO_PASSWORD

    created = await _trail("person", okoro["id"])
    assert [t["action"] for t in created] == ["imported_created"]
    assert created[0]["changes"]["line_manager"] == "haringey.service_manager"
    assert created[0]["changes"]["team"] == "Family Support Team"
    updated = [t for t in await _trail("person", moved["id"]) if t["action"] == "imported_updated"]
    assert len(updated) == 1
    assert updated[0]["changes"] == {
        "team": ["Assessment Team 1", "Family Support Team"],
        "line_manager": ["haringey.team_manager.1", "f.okoro"],
    }
    assert [t["action"] for t in await _trail("team", team["id"])] == ["imported_created"]
    request_ids = {t["request_id"] for t in created + updated}
    assert len(request_ids) == 1 and request_ids != {""}
    if request_id:
        assert request_ids == {request_id}
    qa = await person(QA)
    assert created[0]["actor"] == qa["id"]


async def _assert_cases_imported() -> None:
    mensah, cp_chair, iro = await person("g.mensah"), await person("haringey.cp_chair"), await person("haringey.iro")
    team = await Team.select(Team.id).where(Team.name == "Family Support Team").first()
    first = await ChildCase.select().where(ChildCase.external_id == "MOS-204518").first()
    assert (first["category"], first["team"], first["allocated_worker"], first["chair"]) == ("cp", team["id"], mensah["id"], cp_chair["id"])
    assert first["involvement_started_on"] == dt.date(2025, 6, 3)
    second = await ChildCase.select().where(ChildCase.external_id == "MOS-204519").first()
    assert (second["category"], second["chair"], second["involvement_started_on"]) == ("lac", iro["id"], dt.date(2025, 1, 15))
    assert first["organisation"] == mensah["organisation"]
    created = await _trail("child_case", first["id"])
    assert [t["action"] for t in created] == ["imported_created"]
    assert created[0]["changes"]["allocated_worker"] == "g.mensah"
    assert created[0]["changes"]["involvement_started_on"] == "2025-06-03"
    existing = await ChildCase.select().where(ChildCase.external_id == "HAR-1001").first()
    assert existing["involvement_started_on"] == dt.date(2025, 2, 1)
    updated = [t for t in await _trail("child_case", existing["id"]) if t["action"] == "imported_updated"]
    assert [t["changes"] for t in updated] == [{"involvement_started_on": [None, "2025-02-01"]}]


@pytest.mark.req("CORE-9")
@pytest.mark.req("CORE-14")
async def test_an_admin_imports_staff_then_cases_through_the_page(client, demo):
    await sign_in(client, QA)
    index = await client.get("/imports")
    assert index.status_code == 200
    assert 'href="/imports"' in index.text and 'enctype="multipart/form-data"' in index.text
    assert "govuk-file-upload" in index.text and "team_manager" in index.text and "Child protection" in index.text
    assert "cannot sign in until an administrator sets one" in index.text
    before = await _counts()

    checked = await _upload(client, "staff", await _staff_file(), action="check")
    assert checked.status_code == 200, checked.text
    assert "Nothing has been saved" in checked.text
    assert "Importing it would create 2, update 1 and leave 0 unchanged" in checked.text
    assert "New services to create: Early Help" in checked.text and "New teams to create: Family Support Team" in checked.text
    assert await _counts() == before  # the check wrote nothing, not even a trail row
    assert await person("f.okoro") is None

    done = await _upload(client, "staff", await _staff_file())
    assert done.status_code == 200, done.text
    assert "Staff imported: 2 created, 1 updated, 0 unchanged" in done.text
    assert "team: Assessment Team 1 → Family Support Team" in done.text
    await _assert_staff_imported(done.headers["x-request-id"])

    # The same file again changes nothing and writes no trail rows.
    trail_rows = await Trail.count()
    again = await _upload(client, "staff", await _staff_file())
    assert "Staff imported: 0 created, 0 updated, 3 unchanged" in again.text
    assert await Trail.count() == trail_rows

    cases = await _upload(client, "cases", _cases_file())
    assert cases.status_code == 200, cases.text
    assert "Cases imported: 2 created, 1 updated, 0 unchanged" in cases.text
    await _assert_cases_imported()

    # Nobody can sign in as an imported person until a password is set.
    for password in ("", "qaf-no-such-user", "qaf-demo-2026"):
        token = await client.post("/api/v1/auth/token", json={"username": "f.okoro", "password": password})
        assert token.status_code == 401


@pytest.mark.req("CORE-9")
@pytest.mark.req("CORE-14")
async def test_an_admin_imports_staff_then_cases_through_the_api(client, demo):
    headers = await api_token(client, QA)
    before = await _counts()
    dry = await _api(client, "staff", await _staff_file(), headers, dry_run=True)
    assert dry.status_code == 200, dry.text
    body = dry.json()
    assert (body["dry_run"], body["created"], body["updated"], body["unchanged"]) == (True, 2, 1, 0)
    assert body["teams_created"] == ["Family Support Team"] and body["services_created"] == ["Early Help"]
    assert await _counts() == before

    staff = await _api(client, "staff", await _staff_file(), headers)
    assert staff.status_code == 200, staff.text
    assert (staff.json()["created"], staff.json()["updated"]) == (2, 1)
    rows = {r["key"]: r for r in staff.json()["rows"]}
    assert rows["f.okoro"]["line"] == 3 and rows["f.okoro"]["action"] == "created"
    assert rows["haringey.practitioner.11"]["line"] == 5
    await _assert_staff_imported(staff.headers["x-request-id"])

    cases = await _api(client, "cases", _cases_file(), headers)
    assert cases.status_code == 200, cases.text
    assert (cases.json()["created"], cases.json()["updated"], cases.json()["dry_run"]) == (2, 1, False)
    await _assert_cases_imported()

    # Windows-1252 (Excel's plain "CSV" on Windows) is read too.
    older = f"{STAFF_HEADER}\nz.bronte,Zoë Brontë,,iro,,,,,no\n".encode("cp1252")
    response = await _api(client, "staff", older, headers)
    assert response.status_code == 200, response.text
    bronte = await person("z.bronte")
    assert (bronte["display_name"], bronte["role"], bronte["active"], bronte["team"]) == ("Zoë Brontë", "iro", False, None)


def _bad_staff_file() -> bytes:
    return "\n".join([
        STAFF_HEADER,
        "x.one,X One,,tem_manager,Assessment Team 1,,,,",
        "x.two,X Two,,practitioner,Assessment Team 1,,nobody.here,,",
        "x.one,X Again,,practitioner,,,,,",
        "x.three,X Three,,practitioner,,,x.four,,",
        "x.four,X Four,,practitioner,,,x.three,,",
        "x.five,X Five,not-an-email,practitioner,New Team,,x.five,,maybe",
        "haringey.practitioner.11,Moved,,practitioner,Assessment Team 1,Corporate Parenting,,,",
    ]).encode()


STAFF_PROBLEMS = [
    "Line 2, role: 'tem_manager' is not a role of Haringey Children's Services; choose one of practitioner, team_manager",
    "Line 3, line_manager_username: 'nobody.here' is not a member of staff here, nor a username on another line of this file",
    "Line 4, username: 'x.one' is also on line 2; give each person one line",
    "Line 5, line_manager_username: this makes a loop of line managers (x.three → x.four → x.three)",
    "Line 7, email: 'not-an-email' is not an email address",
    "Line 7, active: 'maybe' is not yes or no",
    "Line 7, line_manager_username: a person cannot be their own line manager",
    "Line 8, service: team 'Assessment Team 1' already exists, in service 'Assessment and Safeguarding'",
]


def _bad_cases_file() -> bytes:
    return "\n".join([
        CASES_HEADER,
        "MOS-1,Child protection,Assessment Team 1,haringey.practitioner.11,,31/02/2025",
        "MOS-2,Adopted,Assessment Team 1,haringey.practitioner.11,,2025-13-01",
        "MOS-1,cp,No Such Team,nobody.here,,yesterday",
        "MOS-3,cin,,,,01/01/2999",
    ]).encode()


CASE_PROBLEMS = [
    ("Line 2, involvement_started_on: '31/02/2025' is not a real date", 2, "involvement_started_on"),
    ("Line 3, category: 'Adopted' is not a case category of Haringey Children's Services; choose one of cin, cp, lac", 3, "category"),
    ("Line 3, involvement_started_on: '2025-13-01' is not a real date", 3, "involvement_started_on"),
    ("Line 4, external_id: 'MOS-1' is also on line 2; give each case one line", 4, "external_id"),
    ("Line 4, team: there is no team called 'No Such Team'", 4, "team"),
    ("Line 4, allocated_worker_username: 'nobody.here' is not a member of staff here", 4, "allocated_worker_username"),
    ("Line 4, involvement_started_on: 'yesterday' is not a date: write it as 2026-11-22 or 22/11/2026", 4, "involvement_started_on"),
    ("Line 5, involvement_started_on: 1 January 2999 is in the future", 5, "involvement_started_on"),
]


@pytest.mark.req("CORE-9")
async def test_a_bad_file_lists_every_problem_by_line_and_imports_nothing(client, demo):
    await sign_in(client, QA)
    before = await _counts()
    for action in ("import", "check"):
        page = await _upload(client, "staff", _bad_staff_file(), action=action)
        assert page.status_code == 422
        assert "<title>Error: " in page.text and "govuk-error-summary" in page.text
        assert "Nothing was imported" in page.text
        assert 'href="#staff-file"' in page.text and "govuk-file-upload--error" in page.text
        text = page.text.replace("&#39;", "'").replace("&#34;", '"')
        for problem in STAFF_PROBLEMS:
            assert problem in text
    page = await _upload(client, "cases", _bad_cases_file())
    assert page.status_code == 422
    text = page.text.replace("&#39;", "'")
    for problem, _, _ in CASE_PROBLEMS:
        assert problem in text
    assert await _counts() == before

    headers = await api_token(client, QA)
    before = await _counts()
    staff = await _api(client, "staff", _bad_staff_file(), headers)
    assert staff.status_code == 422
    body = staff.json()
    assert body["detail"].startswith("Nothing was imported: the file has 8 problems")
    assert {"line": 2, "column": "role"} == {k: body["errors"][0][k] for k in ("line", "column")}
    assert [(e["line"], e["column"]) for e in body["errors"]] == [
        (2, "role"), (3, "line_manager_username"), (4, "username"), (5, "line_manager_username"),
        (7, "email"), (7, "active"), (7, "line_manager_username"), (8, "service"),
    ]
    cases = await _api(client, "cases", _bad_cases_file(), headers, dry_run=True)
    assert cases.status_code == 422
    errors = cases.json()["errors"]
    assert len(errors) == len(CASE_PROBLEMS)
    for error, (text, line, column) in zip(errors, CASE_PROBLEMS, strict=True):
        assert (error["line"], error["column"]) == (line, column)
        assert text.split(": ", 1)[1] in error["message"]
    assert await _counts() == before
    assert await person("x.two") is None


@pytest.mark.req("CORE-9")
async def test_files_that_cannot_be_read_are_refused_with_a_reason(client, demo):
    headers = await api_token(client, QA)
    before = await _counts()

    async def refused(content: bytes, kind: str = "staff") -> list[dict]:
        response = await _api(client, kind, content, headers)
        assert response.status_code == 422, response.text
        return response.json()["errors"]

    no_header = await refused(b"a.person,A Person,,practitioner,,,,,\n")
    assert no_header[0]["line"] == 1
    assert "the header must name the columns username, display_name, role" in no_header[0]["message"]
    wrong = await refused(b"username,display_name,role,usename\nx,X,practitioner,\n")
    assert "the header names 'usename', which qaf does not know" in wrong[0]["message"]
    assert "the header must name the column external_id" in (await refused(b"id,category\n1,cp\n", "cases"))[0]["message"]
    assert (await refused(b""))[0] == {"line": 0, "column": "", "message": "The file is empty."}
    assert "no rows after it" in (await refused(b"\xef\xbb\xbf" + STAFF_HEADER.encode() + b"\r\n\r\n"))[0]["message"]
    too_big = STAFF_HEADER.encode() + b"\n" + b"x" * imports.MAX_BYTES
    assert "the largest qaf takes is 5 MB" in (await refused(too_big))[0]["message"]
    assert "Excel workbook" in (await refused(b"PK\x03\x04rest-of-a-zip"))[0]["message"]
    assert "not text in UTF-8 or Windows-1252" in (await refused(b"username\x81\x8d\x8f\x90\x9d"))[0]["message"]
    extra = await refused(f"{STAFF_HEADER}\nx,X,,practitioner,,,,,,surplus\n".encode())
    assert extra[0]["line"] == 2 and "has 10 values but the header names 9 columns" in extra[0]["message"]
    assert await _counts() == before

    # The page says which file to choose when none was.
    await sign_in(client, QA)
    form = await client.get("/imports")
    empty = await client.post(
        "/imports/cases",
        data={"_csrf_token": csrf_from(form.text), "action": "import"},
        files={"file": ("", b"", "application/octet-stream")},
    )
    assert empty.status_code == 422 and "Select a CSV file of cases" in empty.text


@pytest.mark.req("CORE-9")
@pytest.mark.req("CORE-10")
async def test_a_team_manager_cannot_import(client, demo):
    before = await _counts()
    headers = await api_token(client, "haringey.team_manager.1")
    refused = await _api(client, "staff", await _staff_file(), headers)
    assert refused.status_code == 403
    assert refused.json()["detail"] == "Your role does not allow this"
    assert (await _api(client, "cases", _cases_file(), headers, dry_run=True)).status_code == 403
    assert (await client.post("/api/v1/imports/staff", content=b"x", headers={"content-type": "text/csv"})).status_code == 401

    await sign_in(client, "haringey.team_manager.1")
    assert (await client.get("/imports")).status_code == 403
    audits = await client.get("/audits")
    assert 'href="/imports"' not in audits.text
    posted = await client.post(
        "/imports/staff",
        data={"_csrf_token": csrf_from(audits.text), "action": "import"},
        files={"file": ("staff.csv", await _staff_file(), "text/csv")},
    )
    assert posted.status_code == 403
    assert await _counts() == before


@pytest.mark.req("CORE-9")
async def test_the_service_refuses_people_without_administer(registry, demo):
    ctx = await acting(registry, "haringey.team_manager.1")
    with pytest.raises(Forbidden):
        await imports.import_cases(ctx, _cases_file(), dry_run=True)


@pytest.mark.req("CORE-9")
def test_reading_files_as_spreadsheets_export_them():
    text = imports.decode("\ufeffexternal_id;category\r\n\r\nA-1;cp\r\n".encode())
    rows, header = imports.read_rows(text, imports.CASE_COLUMNS)
    assert header == {"external_id", "category"}
    assert rows == [(3, {"external_id": "A-1", "category": "cp"})]
    # A quoted value over two lines: the next row's line number still counts lines.
    rows, _ = imports.read_rows('external_id,category,,\n"A\n1",cp,,\nA-2,cin\n', imports.CASE_COLUMNS)
    assert [line for line, _ in rows] == [2, 4]
    assert imports.parse_date("22/11/2026") == dt.date(2026, 11, 22)
    assert imports.parse_date("2026-11-22T00:00:00") == dt.date(2026, 11, 22)
    assert imports.parse_date("5/3/2026 09:30") == dt.date(2026, 3, 5)
    with pytest.raises(ValueError, match="not a real date"):
        imports.parse_date("29/02/2026")
    assert imports.decode("Zoë".encode("utf-16")) == "Zoë"


# --- agencies (CSCP-1) -------------------------------------------------------------

PARTNERSHIP_AGENCIES = (
    "local_authority, police, health, probation, schools, colleges, voluntary_sector, "
    "private_providers, safeguarding_partnerships_office"
)


async def _agency_of(username: str) -> str | None:
    found = await person(username)
    if found["agency"] is None:
        return None
    return (await Agency.select(Agency.key).where(Agency.id == found["agency"]).first())["key"]


async def _partner_staff_file() -> bytes:
    """An existing demo practitioner moved into the police (by key, any case);
    a new health visitor (by the agency's name); an unchanged line with the
    agency the person already has; and a blank agency, which leaves it as it is."""
    moved, same, blank = (
        await person("partnership.practitioner.11"),
        await person("partnership.practitioner.12"),
        await person("partnership.team_manager.1"),
    )
    header = "username,display_name,email,role,agency"
    lines = [
        header,
        f"partnership.practitioner.11,{moved['display_name']},{moved['email']},practitioner,POLICE",
        "h.visitor,Hana Visitor,h.visitor@example.org,practitioner,Health (NHS commissioners and providers)",
        f"partnership.practitioner.12,{same['display_name']},{same['email']},practitioner,local_authority",
        f"partnership.team_manager.1,{blank['display_name']},{blank['email']},team_manager,",
    ]
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.req("CSCP-1")
@pytest.mark.req("CORE-9")
async def test_a_partnership_imports_staff_into_their_agencies(partnership, partnership_demo, partnership_client):
    assert await _agency_of("partnership.practitioner.11") == "local_authority"
    ctx = await acting(partnership, "partnership.qa_manager")
    before = await _counts()

    # The check shows the agency change by key and writes nothing.
    checked = await imports.import_staff(ctx, await _partner_staff_file(), dry_run=True)
    assert (checked.created, checked.updated, checked.unchanged) == (1, 1, 2)
    rows = {r.key: r for r in checked.rows}
    assert rows["partnership.practitioner.11"].changes == {"agency": ["local_authority", "police"]}
    assert rows["h.visitor"].changes["agency"] == [None, "health"]
    assert await _counts() == before
    assert await _agency_of("partnership.practitioner.11") == "local_authority"

    # The page's check says the same in words.
    client = partnership_client
    await sign_in(client, "partnership.qa_manager")
    # The import page lists the agencies the agency column takes.
    guide = await client.get("/imports")
    assert "Agencies you can use" in guide.text and "<code>police</code>" in guide.text
    page = await _upload(client, "staff", await _partner_staff_file(), action="check")
    assert page.status_code == 200, page.text
    assert "Importing it would create 1, update 1 and leave 2 unchanged" in page.text
    assert "agency: local_authority → police" in page.text
    assert await _counts() == before

    done = await imports.import_staff(ctx, await _partner_staff_file())
    assert (done.created, done.updated, done.unchanged) == (1, 1, 2)
    assert await _agency_of("partnership.practitioner.11") == "police"
    assert await _agency_of("h.visitor") == "health"
    assert await _agency_of("partnership.practitioner.12") == "local_authority"
    assert await _agency_of("partnership.team_manager.1") == "local_authority"

    moved, visitor = await person("partnership.practitioner.11"), await person("h.visitor")
    updated = [t for t in await _trail("person", moved["id"]) if t["action"] == "imported_updated"]
    assert [t["changes"] for t in updated] == [{"agency": ["local_authority", "police"]}]
    created = await _trail("person", visitor["id"])
    assert [t["action"] for t in created] == ["imported_created"]
    assert created[0]["changes"] == {
        "username": "h.visitor", "display_name": "Hana Visitor", "email": "h.visitor@example.org",
        "role": "practitioner", "agency": "health",
    }
    for unchanged in ("partnership.practitioner.12", "partnership.team_manager.1"):
        assert [t for t in await _trail("person", (await person(unchanged))["id"]) if t["action"].startswith("imported")] == []

    # The same file again changes nothing: an unchanged agency is not a change.
    trail_rows = await Trail.count()
    again = await imports.import_staff(ctx, await _partner_staff_file())
    assert (again.created, again.updated, again.unchanged) == (0, 0, 4)
    assert await Trail.count() == trail_rows

    # A new person with no agency, in a partnership of many agencies, has none.
    await imports.import_staff(ctx, b"username,display_name,role,agency\nn.one,N One,practitioner,\n")
    assert await _agency_of("n.one") is None


@pytest.mark.req("CSCP-1")
@pytest.mark.req("CORE-9")
async def test_an_unknown_agency_refuses_the_file(partnership, partnership_demo, partnership_client):
    ctx = await acting(partnership, "partnership.qa_manager")
    before = await _counts()
    content = (
        "username,display_name,role,agency\n"
        "partnership.practitioner.11,Moved,practitioner,police\n"
        "n.two,N Two,practitioner,polise\n"
    ).encode()
    problem = f"no agency 'polise': the agencies are {PARTNERSHIP_AGENCIES}"
    for dry_run in (True, False):
        with pytest.raises(imports.ImportRejected) as refused:
            await imports.import_staff(ctx, content, dry_run=dry_run)
        assert refused.value.errors == [{"line": 3, "column": "agency", "message": problem}]
    assert await _counts() == before
    assert await _agency_of("partnership.practitioner.11") == "local_authority"
    assert await person("n.two") is None

    client = partnership_client
    await sign_in(client, "partnership.qa_manager")
    page = await _upload(client, "staff", content)
    assert page.status_code == 422
    assert f"Line 3, agency: {problem}" in page.text.replace("&#39;", "'")
    assert await _counts() == before


@pytest.mark.req("CSCP-1")
@pytest.mark.req("CORE-9")
async def test_a_council_import_without_the_column_gives_new_people_its_own_agency(registry, demo):
    ctx = await acting(registry, QA)
    await imports.import_staff(ctx, f"{STAFF_HEADER}\nz.new,Zed New,,practitioner,,,,,\n".encode())
    assert await _agency_of("z.new") == "local_authority"
    created = await _trail("person", (await person("z.new"))["id"])
    assert "agency" not in created[0]["changes"]
    # The column names the council's one agency by key or name, too.
    unknown = f"{STAFF_HEADER},agency\nz.new,Zed New,,practitioner,,,,,,police\n".encode()
    with pytest.raises(imports.ImportRejected) as refused:
        await imports.import_staff(ctx, unknown)
    assert refused.value.problems[0].text == "Line 2, agency: no agency 'police': the agencies are local_authority"
