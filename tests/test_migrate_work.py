"""An existing database keeps working when the programme's work arrives
(issue 13, item 6): a database populated before the work migrations, with
this month's cycle issued, is migrated in place on SQLite and PostgreSQL;
its audits, cycle and reports are as they were, and the next sweep issues
the month's work, which the audits already drawn count towards."""

from __future__ import annotations

import contextlib
import datetime as dt
import io

from piccolo.apps.migrations.commands.forwards import ForwardsMigrationManager

from core.db.engine import bind, engine_for
from core.db.migrate import migrate
from core.db.tables import Allocation, Cycle, Person, Trail, Work
from core.services import reports, sweep, trail
from core.services.context import Context
from core.services.demo import load_demo
from helpers import acting
from support.old_release import writing_as_of_the_schema

# The last migration before the programme's work (core/db/migrations).
BEFORE_WORK = "2026-11-22T11:30:00:000000"


async def _migrate_to(migration_id: str) -> None:
    manager = ForwardsMigrationManager(app_name="qaf", migration_id=migration_id, fake=False)
    with contextlib.redirect_stdout(io.StringIO()):
        result = await manager.run()
    assert result.success, result.message


async def test_a_populated_database_is_migrated_and_its_cycle_counts_towards_the_months_work(
    registry, tmp_path, make_postgres_database, clock, monkeypatch
):
    # Tuesday 1 December 2026, 09:00: the month's first working day.
    clock.move_to(dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.timezone.utc))
    for url in (f"sqlite:///{tmp_path / 'old.sqlite3'}", await make_postgres_database(prefix="old")):
        bind(engine_for(url))
        await _migrate_to(BEFORE_WORK)
        # Populated as the release before this one left it: staff, cases and
        # December's cycle, its audits allocated.
        async with writing_as_of_the_schema(monkeypatch):
            await load_demo(Context(registry=registry), "haringey", issue_work=False)
        before = await Allocation.raw("SELECT id, auditor, child_case, state FROM allocation ORDER BY id")
        assert before, "the demo allocated December's audits"

        await migrate()  # the work migrations, in place
        # The trail written before its chain is chained in place (PLAT-12).
        assert await trail.verify() == trail.Verification(entries=await Trail.count(), organisations=1)

        after = await Allocation.select(
            Allocation.id, Allocation.auditor, Allocation.child_case, Allocation.state, Allocation.work
        ).order_by(Allocation.id)
        assert [{k: a[k] for k in ("id", "auditor", "child_case", "state")} for a in after] == before
        assert {a["work"] for a in after} == {None}
        assert await Cycle.count() == 1

        # The next sweep issues December's work; the cycle is not drawn again,
        # and each auditor's drawn audit counts towards their month's case audit.
        report = await sweep.sweep(Context(registry=registry))
        assert (report.cycles_issued, report.work_issued > 0) == (0, True)
        chair = await Person.select(Person.id).where(Person.username == "haringey.cp_chair").first()
        work = await Work.select(Work.id, Work.due_on).where(
            (Work.owner == chair["id"]) & (Work.schedule_key == "haringey:cp_chair_case_audit")
        ).first()
        assert work["due_on"] == dt.date(2026, 12, 31)
        linked = await Allocation.select(Allocation.work).where(Allocation.auditor == chair["id"]).first()
        assert linked["work"] == work["id"]

        # The month's report reads the same audits.
        qa = await acting(registry, "haringey.head_of_qa")
        month = reports.period("month", dt.date(2026, 12, 1))
        counts = (await reports.report(qa, month, reports.Scope("org"))).counts
        assert counts.allocated == len(before)
        # The sweep's entries chain onto the migrated ones.
        assert (await trail.verify()).broken is None
