"""Audits on a person or a meeting arrive on a populated database (issue 13):
the migration makes ``allocation.child_case`` optional and adds the subject
columns in place, on SQLite (where a column's NOT NULL cannot be altered:
the table's schema is edited, as SQLite documents for dropping a NOT NULL)
and on PostgreSQL. The audits already there keep their cases; an audit on a
person, with no case, can then be written and read back with the person's
name; a case that does not exist is still refused."""

from __future__ import annotations

import datetime as dt

import pytest

from core.db.engine import bind, current, engine_for
from core.db.migrate import migrate
from core.db.tables import Allocation, Person
from core.services import audits
from core.services.context import Context
from core.services.demo import load_demo
from support.old_release import writing_as_of_the_schema
from test_migrate_work import _migrate_to

# The migration before this one (core/db/migrations).
BEFORE_SUBJECTS = "2026-12-04T11:00:00:000000"


async def test_a_populated_database_gains_audits_without_a_case(registry, tmp_path, make_postgres_database, clock, monkeypatch):
    # Thursday 31 December 2026: the last working day of the year.
    clock.move_to(dt.datetime(2026, 12, 31, 9, 0, tzinfo=dt.timezone.utc))
    for url in (f"sqlite:///{tmp_path / 'old.sqlite3'}", await make_postgres_database(prefix="subjects")):
        bind(engine_for(url))
        await _migrate_to(BEFORE_SUBJECTS)
        async with writing_as_of_the_schema(monkeypatch):  # as the release before wrote (no trail chain yet)
            await load_demo(Context(registry=registry), "haringey", issue_work=False)
        before = await Allocation.raw("SELECT id, auditor, child_case, state FROM allocation ORDER BY id")
        assert before and all(row["child_case"] is not None for row in before)

        await migrate()

        after = await Allocation.select(
            Allocation.id, Allocation.auditor, Allocation.child_case, Allocation.state, Allocation.subject_person,
            Allocation.meeting_type, Allocation.meeting_on,
        ).order_by(Allocation.id)
        assert [{k: a[k] for k in ("id", "auditor", "child_case", "state")} for a in after] == before
        assert {(a["subject_person"], a["meeting_type"], a["meeting_on"]) for a in after} == {(None, "", None)}

        # An audit on a person: no case.
        model = await Allocation.select().where(Allocation.id == before[0]["id"]).first()
        someone = await Person.select(Person.id, Person.display_name).where(Person.id != model["auditor"]).order_by(Person.id).first()
        copy = {k: v for k, v in model.items() if k not in ("id", "work")}
        rows = await Allocation.insert(Allocation(**{**copy, "child_case": None, "subject_person": someone["id"]})).returning(Allocation.id)
        row = await audits.load_row(rows[0]["id"], registry)
        assert (row["case_external_id"], row["subject"]) == (None, someone["display_name"])
        # The foreign key onto the case is kept: a case that does not exist is refused.
        with pytest.raises(Exception):
            await Allocation.insert(Allocation(**{**copy, "child_case": 10**9}))
        if current().engine_type == "sqlite":
            assert await current().run_ddl("PRAGMA integrity_check") == [{"integrity_check": "ok"}]
