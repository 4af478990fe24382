"""Importing staff and cases from CSV files (CORE-9).

The files are what a case-record system (Mosaic and the like) or an HR
spreadsheet exports: a header row naming the columns, then one row per person
or case. An import is all or nothing: every problem in the file is reported
at once, with its line and column, and nothing is written unless the whole
file is good. A dry run ("check") reports what an import would create and
update, and writes nothing.

Existing people (by username) and cases (by external id) are updated; new
ones are created. New people get no password: they cannot sign in until an
administrator sets one. Every person, case, team and service created or
changed writes a trail row carrying the request id (CORE-14). Nothing
personal is logged: only counts and the request id.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import logging
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from core.calendar import london_date
from core.db.engine import transaction
from core.db.tables import Agency, ChildCase, Person, Service, Team
from core.services import trail
from core.services.context import Context
from core.services.errors import Forbidden, Invalid

log = logging.getLogger("qaf.imports")

MAX_BYTES = 5 * 1024 * 1024
# A stored hash no password matches: argon2 refuses it as malformed. (An empty
# hash would be checked against the sign-in's dummy hash instead.)
NO_PASSWORD = "!"
_CHUNK = 500  # names per IN (...) query: well inside every engine's parameter limit


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    required: bool
    description: str


STAFF_COLUMNS: tuple[Column, ...] = (
    Column("username", True, "Their sign-in name, unique across qaf: letters, digits and . _ - @ + only. An existing username is updated."),
    Column("display_name", True, "Their name as colleagues see it."),
    Column("email", False, "Their work email address, for notifications."),
    Column("role", True, "One of the role keys below (or its name)."),
    Column("team", False, "Their team's name. A team qaf does not know yet is created."),
    Column("service", False, "The service the team belongs to; used when the team is new. A service qaf does not know yet is created."),
    Column("line_manager_username", False, "Their line manager's username: someone already in qaf, or on another line of this file."),
    Column("post", False, "A named post within the role, where the framework names one."),
    Column("active", False, "yes or no. Blank leaves an existing person as they are; new people are active. "
           "People who are not active cannot sign in and are not allocated audits."),
    Column("agency", False, "The agency they belong to (police, health …): its key or its name. Blank leaves an existing "
           "person's agency as it is; new people get the organisation's own agency when it has only one."),
)

CASE_COLUMNS: tuple[Column, ...] = (
    Column("external_id", True, "The case's id in the case-record system. An existing id is updated."),
    Column("category", True, "One of the case categories below: its key or its name."),
    Column("team", False, "The name of the team holding the case: a team qaf already knows (import staff first)."),
    Column("allocated_worker_username", False, "The username of the allocated worker."),
    Column("chair_username", False, "The username of the child's CP chair or IRO."),
    Column("involvement_started_on", False, "When involvement began: 2026-11-22 or 22/11/2026."),
)


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the file; line 0 is the file as a whole."""

    line: int
    column: str
    message: str

    @property
    def text(self) -> str:
        if self.line and self.column:
            return f"Line {self.line}, {self.column}: {self.message}"
        if self.line:
            return f"Line {self.line}: {self.message}"
        return self.message


@dataclass(slots=True)
class RowResult:
    """What one line did (or, in a dry run, would do): ``changes`` maps each
    field to ``[before, after]`` (before is None for a new record)."""

    line: int
    key: str
    action: str  # created | updated | unchanged
    changes: dict[str, list] = field(default_factory=dict)


@dataclass(slots=True)
class Outcome:
    kind: str  # staff | cases
    dry_run: bool
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    teams_created: list[str] = field(default_factory=list)
    services_created: list[str] = field(default_factory=list)
    rows: list[RowResult] = field(default_factory=list)
    # Nothing wrong with the file, but worth knowing (PLAT-4: a post the
    # council's schedules name that nobody holds once the file is in).
    warnings: list[str] = field(default_factory=list)


class ImportRejected(Invalid):
    """The file cannot be imported; ``problems`` lists every reason. ``errors``
    is the API's shape of the same list: ``[{line, column, message}]``."""

    def __init__(self, problems: list[Problem]):
        count = len(problems)
        super().__init__(
            f"Nothing was imported: the file has {count} problem{'s' if count != 1 else ''}. "
            "Correct the file and upload it again."
        )
        self.problems = problems
        self.errors = [asdict(p) for p in problems]  # type: ignore[assignment]


# --- reading the file --------------------------------------------------------


def _refuse(message: str) -> ImportRejected:
    return ImportRejected([Problem(0, "", message)])


def decode(data: bytes) -> str:
    """The file as text: UTF-8 (with or without Excel's BOM), UTF-16 with a
    BOM, or else Windows-1252 (Excel's "CSV" on Windows)."""
    if len(data) > MAX_BYTES:
        raise _refuse(
            f"The file is {len(data) / 1024 / 1024:.1f} MB: the largest qaf takes is 5 MB. "
            "Split it into smaller files and import each."
        )
    if data.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise _refuse("This is an Excel workbook, not a CSV file. In Excel choose File, Save as, and the type CSV UTF-8.")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise _refuse("The file is not readable text. Save it as CSV UTF-8 and try again.") from None
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            try:
                text = data.decode("cp1252")
            except UnicodeDecodeError:
                raise _refuse(
                    "The file is not text in UTF-8 or Windows-1252. Save it as CSV UTF-8 and try again."
                ) from None
    # A UTF-8 BOM read as Windows-1252, or a second BOM.
    text = text.removeprefix("\ufeff").removeprefix("ï»¿")
    if "\x00" in text:
        raise _refuse("The file is not a text file. Save it as CSV UTF-8 and try again.")
    if not text.strip():
        raise _refuse("The file is empty.")
    return text


def _header_key(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def _delimiter(text: str) -> str:
    """Comma, unless the header line has none but semicolons or tabs (Excel in
    some locales)."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    if "," not in first:
        for candidate in (";", "\t"):
            if candidate in first:
                return candidate
    return ","


def read_rows(text: str, columns: tuple[Column, ...]) -> tuple[list[tuple[int, dict[str, str]]], set[str]]:
    """The data rows as ``(line number, {column: value})`` and the columns the
    header names. Blank lines are skipped; a bad header refuses the file."""
    known = {c.name for c in columns}
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    header: list[str] | None = None
    header_line = 0
    rows: list[tuple[int, dict[str, str]]] = []
    problems: list[Problem] = []
    last = 0
    try:
        for cells in reader:
            line, last = last + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if header is None:
                header, header_line = [_header_key(cell) for cell in cells], line
                while header and not header[-1]:  # Excel's trailing empty columns
                    header.pop()
                problems.extend(_header_problems(header, header_line, columns))
                if problems:
                    raise ImportRejected(problems)
                continue
            if len(cells) > len(header) and any(cell.strip() for cell in cells[len(header):]):
                problems.append(
                    Problem(line, "", f"this line has {len(cells)} values but the header names {len(header)} columns")
                )
                continue
            values = {name: (cells[i].strip() if i < len(cells) else "") for i, name in enumerate(header) if name in known}
            rows.append((line, values))
    except csv.Error as error:
        problems.append(Problem(last + 1, "", f"this line cannot be read as CSV ({error})"))
    if header is None:
        raise _refuse("The file is empty.")
    if problems:
        raise ImportRejected(problems)
    if not rows:
        raise _refuse(f"The file has a header on line {header_line} but no rows after it.")
    return rows, set(header)


def _header_problems(header: list[str], line: int, columns: tuple[Column, ...]) -> list[Problem]:
    problems = []
    expected = ", ".join(c.name for c in columns)
    missing = [c.name for c in columns if c.required and c.name not in header]
    unknown = [name for name in header if name and name not in {c.name for c in columns}]
    if missing:
        problems.append(
            Problem(line, "", f"the header must name the column{'s' if len(missing) > 1 else ''} "
                    f"{', '.join(missing)}; the first line of the file names the columns: {expected}")
        )
    if unknown:
        problems.append(
            Problem(line, "", f"the header names {', '.join(repr(u) for u in unknown)}, which qaf does not know; "
                    f"the columns are {expected}")
        )
    if "" in header:
        problems.append(Problem(line, "", "a column of the header has no name"))
    seen: set[str] = set()
    for name in header:
        if name and name in seen:
            problems.append(Problem(line, "", f"the header names {name!r} twice"))
        seen.add(name)
    return problems


# --- shared checks ------------------------------------------------------------


_USERNAME = re.compile(r"^[a-z0-9._@+\-]+$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TRUE = {"yes", "y", "true", "t", "1", "active"}
_FALSE = {"no", "n", "false", "f", "0", "inactive", "left"}


def _length(problems: list[Problem], line: int, column: str, value: str, limit: int) -> None:
    if len(value) > limit:
        problems.append(Problem(line, column, f"is {len(value)} characters long; the most qaf keeps is {limit}"))


def parse_date(value: str) -> dt.date:
    """ISO (2026-11-22) or British (22/11/2026, as Mosaic exports), with any
    time of day after it ignored."""
    iso = re.match(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ].*)?$", value)
    british = re.match(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?$", value)
    if iso:
        year, month, day = (int(part) for part in iso.groups())
    elif british:
        day, month, year = (int(part) for part in british.groups())
    else:
        raise ValueError(f"{value!r} is not a date: write it as 2026-11-22 or 22/11/2026")
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise ValueError(f"{value!r} is not a real date") from None


def _chunks(values: Iterable[str]) -> Iterable[list[str]]:
    items = list(values)
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _check_actor(ctx: Context) -> None:
    if ctx.actor is None or not ctx.actor.can("administer"):
        raise Forbidden("Only people who administer qaf for their organisation can import staff and cases")


async def _agency_for_new_records(organisation_id: int) -> int | None:
    """A council's own agency, when the organisation has only the one; a
    partnership's staff could belong to any of its agencies, so none."""
    agencies = await Agency.select(Agency.id).where(Agency.organisation == organisation_id)
    return agencies[0]["id"] if len(agencies) == 1 else None


def _finish(ctx: Context, outcome: Outcome) -> Outcome:
    log.info(
        "%s import%s on request %s: %s created, %s updated, %s unchanged",
        outcome.kind,
        " check" if outcome.dry_run else "",
        ctx.request_id,
        outcome.created,
        outcome.updated,
        outcome.unchanged,
    )
    return outcome


def _count(outcome: Outcome) -> Outcome:
    outcome.created = sum(1 for r in outcome.rows if r.action == "created")
    outcome.updated = sum(1 for r in outcome.rows if r.action == "updated")
    outcome.unchanged = sum(1 for r in outcome.rows if r.action == "unchanged")
    return outcome


# --- staff --------------------------------------------------------------------


@dataclass(slots=True)
class _StaffRow:
    line: int
    username: str
    values: dict[str, object]  # the columns the file gives, normalised
    team_key: str | None = None  # casefolded team name, when a team is given
    existing: dict | None = None


@dataclass(slots=True)
class _Teams:
    """The organisation's teams and services by casefolded name."""

    teams: dict[str, list[dict]]
    services: dict[str, list[dict]]
    names: dict[int, str]  # team id -> name
    new_teams: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # key -> (name, service name)
    new_services: dict[str, str] = field(default_factory=dict)  # key -> name


async def _load_teams(organisation_id: int) -> _Teams:
    teams = await Team.select(Team.id, Team.name, Team.service, Team.service.name.as_alias("service_name")).where(
        Team.organisation == organisation_id
    )
    services = await Service.select(Service.id, Service.name).where(Service.organisation == organisation_id)
    by_team: dict[str, list[dict]] = {}
    for team in teams:
        by_team.setdefault(team["name"].strip().casefold(), []).append(team)
    by_service: dict[str, list[dict]] = {}
    for service in services:
        by_service.setdefault(service["name"].strip().casefold(), []).append(service)
    return _Teams(by_team, by_service, {t["id"]: t["name"] for t in teams})


def _role_index(ctx: Context, council: str) -> tuple[dict[str, str], str]:
    roles = ctx.registry.roles_of(council)
    index: dict[str, str] = {}
    for role in roles:
        index.setdefault(role.label.strip().casefold(), role.key)
    for role in roles:
        index[role.key.casefold()] = role.key
    return index, ", ".join(role.key for role in roles)


async def plan_staff(ctx: Context, data: bytes) -> tuple[list[_StaffRow], _Teams, dict]:
    """Check a staff file against the organisation; raise ImportRejected
    listing every problem, or return what to write."""
    _check_actor(ctx)
    assert ctx.actor
    organisation_id, council_key = ctx.actor.organisation_id, ctx.actor.council
    council = ctx.registry.council(council_key)
    rows, header = read_rows(decode(data), STAFF_COLUMNS)
    roles, role_keys = _role_index(ctx, council_key)
    problems: list[Problem] = []

    people = await Person.select(
        Person.id, Person.username, Person.display_name, Person.email, Person.role, Person.team,
        Person.post, Person.active, Person.line_manager, Person.agency,
    ).where(Person.organisation == organisation_id)
    by_username = {p["username"]: p for p in people}
    username_of = {p["id"]: p["username"] for p in people}
    teams = await _load_teams(organisation_id)
    agencies = await Agency.select(Agency.id, Agency.key, Agency.name).where(
        Agency.organisation == organisation_id
    ).order_by(Agency.id)
    agency_index = _agency_index(agencies)
    agency_keys = ", ".join(a["key"] for a in agencies)

    parsed: list[_StaffRow] = []
    first_line: dict[str, int] = {}
    for line, raw in rows:
        values: dict[str, object] = {}
        username = raw["username"].lower()
        if not username:
            problems.append(Problem(line, "username", "is blank; every person needs a username"))
        elif not _USERNAME.match(username):
            problems.append(Problem(line, "username", f"{raw['username']!r} may use only letters, digits and . _ - @ +"))
        else:
            _length(problems, line, "username", username, 150)
            if username in first_line:
                problems.append(Problem(line, "username", f"{username!r} is also on line {first_line[username]}; give each person one line"))
            else:
                first_line[username] = line
        display_name = raw["display_name"]
        if not display_name:
            problems.append(Problem(line, "display_name", "is blank; give the person's name"))
        _length(problems, line, "display_name", display_name, 200)
        values["display_name"] = display_name
        role = roles.get(raw["role"].casefold())
        if role is None:
            shown = f"{raw['role']!r} is not" if raw["role"] else "is blank: it must be"
            problems.append(Problem(line, "role", f"{shown} a role of {council.name}; choose one of {role_keys}"))
        values["role"] = role
        if "email" in header:
            email = raw["email"]
            if email and not _EMAIL.match(email):
                problems.append(Problem(line, "email", f"{email!r} is not an email address"))
            _length(problems, line, "email", email, 254)
            values["email"] = email
        if "post" in header:
            _length(problems, line, "post", raw["post"], 100)
            values["post"] = raw["post"]
        if "active" in header:
            active = raw["active"].lower()
            if not active:
                pass  # as they are; new people are active
            elif active in _TRUE:
                values["active"] = True
            elif active in _FALSE:
                values["active"] = False
            else:
                problems.append(Problem(line, "active", f"{raw['active']!r} is not yes or no"))
        if "line_manager_username" in header:
            values["line_manager"] = raw["line_manager_username"].lower() or None
        if "agency" in header and raw["agency"]:
            # CSCP-1: a partner agency's staff belong to that agency; blank
            # leaves the person's agency as it is.
            agency = agency_index.get(raw["agency"].casefold())
            if agency is None:
                known = f"the agencies are {agency_keys}" if agencies else "this organisation has no agencies"
                problems.append(Problem(line, "agency", f"no agency {raw['agency']!r}: {known}"))
            else:
                values["agency"] = agency["key"]
        row = _StaffRow(line, username, values)
        if "team" in header:
            _team_of_row(problems, row, raw["team"], raw.get("service", "") if "service" in header else "", teams)
        elif "service" in header and raw["service"]:
            problems.append(Problem(line, "service", "needs a team column: a person belongs to a team, and a team to a service"))
        if username:
            parsed.append(row)

    # Usernames qaf already has: here they are updated; elsewhere they are taken.
    for chunk in _chunks(first_line):
        for other in await Person.select(Person.username).where(
            Person.username.is_in(chunk) & (Person.organisation != organisation_id)
        ):
            problems.append(
                Problem(first_line[other["username"]], "username", f"{other['username']!r} is already taken; choose another username")
            )
    for row in parsed:
        row.existing = by_username.get(row.username)

    # Line managers: someone here already, or on a line of this file.
    if "line_manager_username" in header:
        managers: dict[str, str | None] = {p["username"]: username_of.get(p["line_manager"]) for p in people}
        for row in parsed:
            manager = row.values["line_manager"]
            if manager is None:
                continue
            if manager not in by_username and manager not in first_line:
                problems.append(
                    Problem(row.line, "line_manager_username",
                            f"{manager!r} is not a member of staff here, nor a username on another line of this file")
                )
            elif manager == row.username:
                problems.append(Problem(row.line, "line_manager_username", "a person cannot be their own line manager"))
        for row in parsed:
            if row.username:
                managers[row.username] = row.values["line_manager"]  # type: ignore[assignment]
        problems.extend(_manager_loops(parsed, managers))

    if problems:
        raise ImportRejected(sorted(problems, key=lambda p: p.line))
    return parsed, teams, {
        "by_id": username_of,
        "ids": {p["username"]: p["id"] for p in people},
        "agency_keys": {a["id"]: a["key"] for a in agencies},
        "agency_ids": {a["key"]: a["id"] for a in agencies},
    }


def _agency_index(agencies: list[dict]) -> dict[str, dict]:
    """Agencies by casefolded name and key; a key wins over another agency's name."""
    index: dict[str, dict] = {}
    for agency in agencies:
        index.setdefault(agency["name"].strip().casefold(), agency)
    for agency in agencies:
        index[agency["key"].casefold()] = agency
    return index


def _team_of_row(problems: list[Problem], row: _StaffRow, team: str, service: str, teams: _Teams) -> None:
    line = row.line
    _length(problems, line, "team", team, 200)
    _length(problems, line, "service", service, 200)
    if not team:
        if service:
            problems.append(Problem(line, "service", "needs a team on the same line: a person belongs to a team, and a team to a service"))
        row.values["team"] = None
        return
    key = team.casefold()
    row.team_key = key
    row.values["team"] = key
    found = teams.teams.get(key, [])
    if len(found) > 1:
        problems.append(Problem(line, "team", f"more than one team is called {team!r}; rename one of them first"))
        return
    if found:
        existing = found[0]
        if service and (existing["service_name"] or "").strip().casefold() != service.casefold():
            where = f"service {existing['service_name']!r}" if existing["service_name"] else "no service"
            problems.append(
                Problem(line, "service", f"team {existing['name']!r} already exists, in {where}; leave the service blank or give that one")
            )
        return
    # A new team: its service is the first one given for it in the file.
    name, known_service = teams.new_teams.get(key, (team, None))
    if service:
        if known_service and known_service.casefold() != service.casefold():
            problems.append(
                Problem(line, "service", f"new team {name!r} is given service {known_service!r} on an earlier line, and {service!r} here")
            )
        elif len(teams.services.get(service.casefold(), [])) > 1:
            problems.append(Problem(line, "service", f"more than one service is called {service!r}; rename one of them first"))
        else:
            known_service = known_service or service
            if service.casefold() not in teams.services:
                teams.new_services.setdefault(service.casefold(), service)
    teams.new_teams[key] = (name, known_service)


def _manager_loops(rows: list[_StaffRow], managers: dict[str, str | None]) -> list[Problem]:
    """A problem for each loop of line managers the file would make."""
    line_of = {row.username: row.line for row in rows if row.username}
    problems: list[Problem] = []
    walked: set[str] = set()  # people whose chain of managers is already known
    for row in rows:
        path: list[str] = []
        on_path: set[str] = set()
        at: str | None = row.username
        while at is not None and at not in on_path and at not in walked:
            path.append(at)
            on_path.add(at)
            at = managers.get(at)
        walked.update(path)
        if at is None or at not in on_path:
            continue
        loop = path[path.index(at):]
        in_file = [u for u in loop if u in line_of]
        if len(loop) < 2 or not in_file:
            continue  # one person is "their own line manager", reported already
        start = min(in_file, key=lambda u: line_of[u])
        turn = loop.index(start)
        ordered = loop[turn:] + loop[:turn] + [start]
        problems.append(
            Problem(line_of[start], "line_manager_username",
                    f"this makes a loop of line managers ({' → '.join(ordered)}); someone in it needs a manager outside it")
        )
    return problems


_PERSON_FIELDS = ("display_name", "email", "role", "team", "line_manager", "post", "active", "agency")


def _staff_changes(
    row: _StaffRow, teams: _Teams, username_of: dict[int, str], agency_keys: dict[int, str]
) -> dict[str, list]:
    """``{field: [before, after]}``; teams by name, managers by username,
    agencies by key."""
    changes: dict[str, list] = {}
    existing = row.existing
    for name in _PERSON_FIELDS:
        if name not in row.values:
            continue
        after = row.values[name]
        if name == "team":
            after = _team_name(teams, row.team_key) if row.team_key else None
        if existing is None:
            if after not in (None, "") or name == "active":
                changes[name] = [None, after]
            continue
        before = existing[name]
        if name == "team":
            if row.team_key is None:
                changed = before is not None
            elif row.team_key in teams.teams:
                changed = before != teams.teams[row.team_key][0]["id"]
            else:
                changed = True  # a team created by this import
            if changed:
                changes[name] = [teams.names.get(before) if before else None, after]
            continue
        if name == "line_manager":
            before = username_of.get(before) if before else None
        if name == "agency":
            before = agency_keys.get(before) if before else None
        if before != after:
            changes[name] = [before, after]
    return changes


def _team_name(teams: _Teams, key: str) -> str:
    found = teams.teams.get(key)
    return found[0]["name"] if found else teams.new_teams[key][0]


async def import_staff(ctx: Context, data: bytes, *, dry_run: bool = False) -> Outcome:
    """Import (or, with ``dry_run``, check) a staff file; all or nothing."""
    _check_actor(ctx)
    if dry_run:
        rows, teams, extra = await plan_staff(ctx, data)
        outcome = _count(_staff_outcome(rows, teams, extra, dry_run=True))
        outcome.warnings = await _unheld_posts_after(ctx, rows)
        return _finish(ctx, outcome)
    async with transaction():
        # Planned inside the transaction: nobody changes the staff list between check and write.
        rows, teams, extra = await plan_staff(ctx, data)
        outcome = _count(_staff_outcome(rows, teams, extra, dry_run=False))
        await _write_staff(ctx, rows, teams, extra, outcome)
        outcome.warnings = await _unheld_posts_after(ctx, rows)
    return _finish(ctx, outcome)


async def _unheld_posts_after(ctx: Context, rows: list[_StaffRow]) -> list[str]:
    """PLAT-4: the posts the council's schedules name that no active member of
    staff holds once the file is imported (for a check: would hold), one line
    each: "<activity>: nobody holds the post <post> (<role>)"."""
    from core.programme import StaffMember
    from core.services.programme import unheld_posts

    assert ctx.actor
    people = {
        p["username"]: {"role": p["role"], "post": p["post"], "active": p["active"]}
        for p in await Person.select(Person.username, Person.role, Person.post, Person.active).where(
            Person.organisation == ctx.actor.organisation_id
        )
    }
    for row in rows:  # the file as it is (or would be) imported
        person = people.setdefault(row.username, {"role": None, "post": "", "active": True})
        person.update({name: row.values[name] for name in ("role", "post", "active") if name in row.values})
    staff = [
        StaffMember(0, username, person["role"], person["post"])
        for username, person in people.items()
        if person["active"] and person["role"]
    ]
    return [u.message for u in unheld_posts(ctx.registry, ctx.actor.council, staff)]


def _staff_outcome(rows: list[_StaffRow], teams: _Teams, extra: dict, *, dry_run: bool) -> Outcome:
    outcome = Outcome(kind="staff", dry_run=dry_run)
    outcome.services_created = list(teams.new_services.values())
    outcome.teams_created = [name for name, _ in teams.new_teams.values()]
    for row in rows:
        changes = _staff_changes(row, teams, extra["by_id"], extra["agency_keys"])
        action = "created" if row.existing is None else ("updated" if changes else "unchanged")
        outcome.rows.append(RowResult(row.line, row.username, action, changes))
    return outcome


async def _write_staff(
    ctx: Context, rows: list[_StaffRow], teams: _Teams, extra: dict, outcome: Outcome
) -> None:
    assert ctx.actor
    organisation_id = ctx.actor.organisation_id
    agency = await _agency_for_new_records(organisation_id)
    service_ids: dict[str, int] = {key: found[0]["id"] for key, found in teams.services.items()}
    for key, name in teams.new_services.items():
        created = await Service.insert(Service(organisation=organisation_id, agency=agency, name=name)).returning(Service.id)
        service_ids[key] = created[0]["id"]
        await trail.record(ctx, organisation_id=organisation_id, entity="service", entity_id=service_ids[key],
                           action="imported_created", changes={"name": name})
    team_ids: dict[str, int] = {key: found[0]["id"] for key, found in teams.teams.items()}
    for key, (name, service) in teams.new_teams.items():
        service_id = service_ids[service.casefold()] if service else None
        created = await Team.insert(Team(organisation=organisation_id, service=service_id, name=name)).returning(Team.id)
        team_ids[key] = created[0]["id"]
        await trail.record(ctx, organisation_id=organisation_id, entity="team", entity_id=team_ids[key],
                           action="imported_created", changes={"name": name, "service": service})

    ids: dict[str, int] = dict(extra["ids"])  # username -> id, new people added as they are created
    results = {result.line: result for result in outcome.rows}

    def column_values(row: _StaffRow, include_manager: bool) -> dict:
        values = {name: row.values[name] for name in ("display_name", "email", "role", "post", "active") if name in row.values}
        if "team" in row.values:
            values["team"] = team_ids[row.team_key] if row.team_key else None
        if "agency" in row.values:
            values["agency"] = extra["agency_ids"][row.values["agency"]]
        if include_manager and "line_manager" in row.values:
            manager = row.values["line_manager"]
            values["line_manager"] = ids[manager] if manager else None
        return values

    # New people first, without managers who may be further down the file.
    for row in rows:
        if row.existing is not None:
            continue
        values = column_values(row, include_manager=False)
        values.setdefault("agency", agency)
        created = await Person.insert(
            Person(organisation=organisation_id, username=row.username, password_hash=NO_PASSWORD,
                   created_at=ctx.now, **values)
        ).returning(Person.id)
        ids[row.username] = created[0]["id"]
    # Then every change that refers to someone, now that everyone has an id.
    for row in rows:
        result = results[row.line]
        if result.action == "unchanged":
            continue
        if row.existing is None:
            manager = column_values(row, include_manager=True).get("line_manager")
            if manager is not None:
                await Person.update({Person.line_manager: manager}).where(Person.id == ids[row.username])
            changes = {"username": row.username} | {name: after for name, (_, after) in result.changes.items()}
            await trail.record(ctx, organisation_id=organisation_id, entity="person", entity_id=ids[row.username],
                               action="imported_created", changes=changes)
        else:
            values = column_values(row, include_manager=True)
            await Person.update({getattr(Person, name): value for name, value in values.items()}).where(
                Person.id == row.existing["id"]
            )
            await trail.record(ctx, organisation_id=organisation_id, entity="person", entity_id=row.existing["id"],
                               action="imported_updated", changes=result.changes)


# --- cases ----------------------------------------------------------------------


@dataclass(slots=True)
class _CaseRow:
    line: int
    external_id: str
    values: dict[str, object]  # normalised; people and teams as ids
    shown: dict[str, object]  # the same, people by username and teams by name, for the trail
    existing: dict | None = None
    before: dict[str, object] | None = None  # ``existing`` as ``shown`` would show it
    attribute_changes: dict[str, list] = field(default_factory=dict)  # PLAT-3: {key: [before, after]}


async def plan_cases(ctx: Context, data: bytes) -> list[_CaseRow]:
    """Check a cases file against the organisation; raise ImportRejected
    listing every problem, or return what to write."""
    _check_actor(ctx)
    assert ctx.actor
    organisation_id, council_key = ctx.actor.organisation_id, ctx.actor.council
    council = ctx.registry.council(council_key)
    from core.services import case_attributes

    # PLAT-3: a column per case attribute the council records.
    rows, header = read_rows(decode(data), case_attributes.columns(council))
    categories: dict[str, str] = {}
    for category in council.case_categories:
        categories.setdefault(category.label.strip().casefold(), category.key)
    for category in council.case_categories:
        categories[category.key.casefold()] = category.key
    category_keys = ", ".join(c.key for c in council.case_categories)
    teams = await _load_teams(organisation_id)
    people = {
        p["username"]: p
        for p in await Person.select(Person.id, Person.username).where(Person.organisation == organisation_id)
    }
    username_of = {p["id"]: name for name, p in people.items()}
    existing_cases = {
        c["external_id"]: c
        for c in await ChildCase.select(
            ChildCase.id, ChildCase.external_id, ChildCase.category, ChildCase.team, ChildCase.allocated_worker,
            ChildCase.chair, ChildCase.involvement_started_on, ChildCase.attributes,
        ).where(ChildCase.organisation == organisation_id)
    }
    today = london_date(ctx.now)
    problems: list[Problem] = []
    first_line: dict[str, int] = {}
    parsed: list[_CaseRow] = []
    for line, raw in rows:
        external_id = raw["external_id"]
        if not external_id:
            problems.append(Problem(line, "external_id", "is blank; every case needs its id from the case-record system"))
        elif external_id in first_line:
            problems.append(Problem(line, "external_id", f"{external_id!r} is also on line {first_line[external_id]}; give each case one line"))
        else:
            first_line[external_id] = line
        _length(problems, line, "external_id", external_id, 64)
        values: dict[str, object] = {}
        shown: dict[str, object] = {}
        raw_category = raw["category"]
        if council.case_categories:
            category = categories.get(raw_category.casefold())
            if category is None:
                what = f"{raw_category!r} is not" if raw_category else "is blank: it must be"
                problems.append(Problem(line, "category", f"{what} a case category of {council.name}; choose one of {category_keys}"))
        else:
            category = raw_category or None
            if category is None:
                problems.append(Problem(line, "category", "is blank; give the case's category"))
            _length(problems, line, "category", raw_category, 64)
        values["category"] = shown["category"] = category
        if "team" in header:
            team = raw["team"]
            found = teams.teams.get(team.casefold(), []) if team else []
            if team and not found:
                problems.append(
                    Problem(line, "team", f"there is no team called {team!r}; import it in the staff file first, or correct the name")
                )
            elif len(found) > 1:
                problems.append(Problem(line, "team", f"more than one team is called {team!r}; rename one of them first"))
            values["team"] = found[0]["id"] if found else None
            shown["team"] = found[0]["name"] if found else None
        for column, name in (("allocated_worker_username", "allocated_worker"), ("chair_username", "chair")):
            if column not in header:
                continue
            username = raw[column].lower()
            person = people.get(username) if username else None
            if username and person is None:
                problems.append(Problem(line, column, f"{raw[column]!r} is not a member of staff here; import them in the staff file first"))
            values[name] = person["id"] if person else None
            shown[name] = username if person else None
        if "involvement_started_on" in header:
            started = None
            if raw["involvement_started_on"]:
                try:
                    started = parse_date(raw["involvement_started_on"])
                except ValueError as error:
                    problems.append(Problem(line, "involvement_started_on", str(error)))
                else:
                    if started > today:
                        problems.append(Problem(line, "involvement_started_on", f"{started:%-d %B %Y} is in the future"))
            values["involvement_started_on"] = started
            shown["involvement_started_on"] = started.isoformat() if started else None
        existing = existing_cases.get(external_id)
        attribute_changes: dict[str, list] = {}
        if council.case_attributes:
            values["attributes"], attribute_changes = case_attributes.parse_row(
                council, problems, line, raw, header, existing, today)
        parsed.append(_CaseRow(line, external_id, values, shown, existing, attribute_changes=attribute_changes))
    if problems:
        raise ImportRejected(sorted(problems, key=lambda p: p.line))
    for row in parsed:
        row.before = _case_before(row.existing, teams, username_of) if row.existing else None
    return parsed


def _case_before(existing: dict, teams: _Teams, username_of: dict[int, str]) -> dict:
    started = existing["involvement_started_on"]
    return {
        "category": existing["category"],
        "team": teams.names.get(existing["team"]) if existing["team"] else None,
        "allocated_worker": username_of.get(existing["allocated_worker"]) if existing["allocated_worker"] else None,
        "chair": username_of.get(existing["chair"]) if existing["chair"] else None,
        "involvement_started_on": started.isoformat() if isinstance(started, dt.date) else started,
    }


def _case_changes(row: _CaseRow) -> dict[str, list]:
    changes: dict[str, list] = {}
    for name, after in row.shown.items():
        if row.existing is None or row.before is None:
            if after is not None:
                changes[name] = [None, after]
        elif row.existing[name] != row.values[name]:
            changes[name] = [row.before[name], after]
    changes.update(row.attribute_changes)
    return changes


async def import_cases(ctx: Context, data: bytes, *, dry_run: bool = False) -> Outcome:
    """Import (or, with ``dry_run``, check) a cases file; all or nothing."""
    _check_actor(ctx)
    if dry_run:
        return _finish(ctx, _count(_cases_outcome(await plan_cases(ctx, data), dry_run=True)))
    async with transaction():
        rows = await plan_cases(ctx, data)
        outcome = _count(_cases_outcome(rows, dry_run=False))
        await _write_cases(ctx, rows, outcome)
    return _finish(ctx, outcome)


def _cases_outcome(rows: list[_CaseRow], *, dry_run: bool) -> Outcome:
    outcome = Outcome(kind="cases", dry_run=dry_run)
    for row in rows:
        changes = _case_changes(row)
        action = "created" if row.existing is None else ("updated" if changes else "unchanged")
        outcome.rows.append(RowResult(row.line, row.external_id, action, changes))
    return outcome


async def _write_cases(ctx: Context, rows: list[_CaseRow], outcome: Outcome) -> None:
    assert ctx.actor
    organisation_id = ctx.actor.organisation_id
    for row, result in zip(rows, outcome.rows, strict=True):
        if result.action == "unchanged":
            continue
        if row.existing is None:
            created = await ChildCase.insert(
                ChildCase(organisation=organisation_id, external_id=row.external_id, created_at=ctx.now, **row.values)
            ).returning(ChildCase.id)
            await trail.record(ctx, organisation_id=organisation_id, entity="child_case", entity_id=created[0]["id"],
                               action="imported_created",
                               changes={"external_id": row.external_id} | {k: after for k, (_, after) in result.changes.items()})
        else:
            await ChildCase.update({getattr(ChildCase, name): value for name, value in row.values.items()}).where(
                ChildCase.id == row.existing["id"]
            )
            await trail.record(ctx, organisation_id=organisation_id, entity="child_case", entity_id=row.existing["id"],
                               action="imported_updated", changes=result.changes)


# --- what the page shows ----------------------------------------------------------


def _case_columns(council) -> tuple[Column, ...]:
    from core.services import case_attributes

    return case_attributes.columns(council)


def guide(ctx: Context) -> dict:
    """The columns, roles and categories the import page documents."""
    assert ctx.actor
    council = ctx.registry.council(ctx.actor.council)
    return {
        "council": council.name,
        "staff_columns": STAFF_COLUMNS,
        "case_columns": _case_columns(council),
        "roles": [(role.key, role.label) for role in ctx.registry.roles_of(ctx.actor.council)],
        "categories": [(category.key, category.label) for category in council.case_categories],
        # CSCP-1: a partnership's agencies, for the staff file's agency column.
        "agencies": [(agency.key, agency.label) for agency in council.agencies],
        "max_mb": MAX_BYTES // (1024 * 1024),
    }
