"""Upgrading a populated database (PLAT-14, issue 18 item 5), on both
databases: a database at the previous release's schema (every migration up
to 2026-12-05T09:00), holding the Haringey and Bedford demos (two
organisations: the rebuild goes an organisation's years at a time), and
missing the monthly summary tables a release before that added (as a
database from before 2026-11-22T10:00 would), migrates forward: the
summaries are rebuilt from the records after the migrations
(core/db/upkeep.py), batch by batch, saying how far it has got; cut short
half way, the next `qaf migrate` carries on from the next batch; the
summaries equal what the app had kept as it went, the standing grades'
indexes set aside while they loaded are all back, and nothing is pending.
(At bench scale 0.2, 19,899 audits over ten years, the rebuilt summaries
equal those of the generated database on both databases:
/work/helpers/notes/upgrade-bench.py, docs/operations.md "Upgrade".)"""

from __future__ import annotations

import time

import pytest
from piccolo.apps.migrations.tables import Migration

from core.db.engine import bind, current, engine_for
from conftest import make_settings
from core.db.migrate import migrate, pending
from core.plugins import load_plugins
from core.services.context import Context
from core.services.demo import load_demo
from support.old_release import writing_as_of_the_schema

PREVIOUS_RELEASE = "2026-12-05T09:00:00:000000"
SUMMARIES_MIGRATION = "2026-11-22T10:00:00:000000"
SUMMARIES = ("allocation_month", "escalation_month", "movement_month", "grade_month", "agreement_month",
             "agreement_year", "follow_up_month", "work_month", "standing_grade")
# What 2026-11-22T10:00 made, undone, so it runs again on populated tables.
BEFORE_SUMMARIES = (
    "DROP TABLE allocation_month", "DROP TABLE escalation_month", "DROP TABLE movement_month",
    "DROP INDEX agreement_month_covering", "DROP INDEX standing_grade_previous",
)


class CutShort(Exception):
    """The upgrade's process stopped (a power cut, say) after some batches."""


async def _standing_grade_indexes() -> list[str]:
    engine = current()
    if engine.engine_type == "postgres":
        rows = await engine.run_ddl("SELECT indexname AS name FROM pg_indexes WHERE tablename = 'standing_grade'")
    else:
        rows = await engine.run_ddl("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'standing_grade'")
    return sorted(r["name"] for r in rows)


async def _upkeep_rows() -> list[str]:
    return sorted(r["task"] for r in await current().run_ddl("SELECT task FROM qaf_upkeep"))


async def _snapshot() -> dict[str, list]:
    engine = current()
    out = {}
    for name in SUMMARIES:
        rows = await engine.run_ddl(f"SELECT * FROM {name}")
        out[name] = sorted(repr(sorted((k, v) for k, v in dict(r).items() if k != "id")) for r in rows)
    return out


@pytest.fixture(scope="module")
def two_councils(tmp_path_factory):
    return load_plugins(make_settings(tmp_path_factory.mktemp("two"), "sqlite:///unused", councils=("haringey", "bedford"))).registry


@pytest.mark.req("PLAT-14")
@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_a_populated_database_of_an_earlier_release_upgrades(kind, tmp_path, request, two_councils, monkeypatch):
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'qaf.sqlite3'}"
    else:
        url = await request.getfixturevalue("make_postgres_database")(prefix="upgrade")
    bind(engine_for(url))
    await migrate(to=PREVIOUS_RELEASE)
    assert "2026-12-05T16:00:00:000000" in await pending()
    async with writing_as_of_the_schema(monkeypatch):  # as that release wrote: its columns, its trail
        await load_demo(Context(registry=two_councils), "haringey")
        await load_demo(Context(registry=two_councils), "bedford")
    kept = await _snapshot()
    assert kept["allocation_month"]  # the demos' audits, counted as they were allocated
    assert len({row.split("'organisation', ")[1].split(")")[0] for row in kept["allocation_month"]}) == 2
    indexes = await _standing_grade_indexes()
    assert len(indexes) > 3

    for statement in BEFORE_SUMMARIES:
        await current().run_ddl(statement)
    await Migration.delete().where(Migration.name == SUMMARIES_MIGRATION)
    assert SUMMARIES_MIGRATION in await pending()

    # The process stops after the second batch: those done stay done.
    told: list[str] = []

    def stop_after_two(words: str) -> None:
        told.append(words)
        if words.startswith("Rebuilding report summaries: 2 of "):
            raise CutShort

    with pytest.raises(CutShort):
        await migrate(progress=stop_after_two)
    # Haringey's demo is in one year; Bedford's programme runs into the next.
    # Each organisation's standing grades a span of years at a time, their
    # indexes made, then each one's counts; the seconds each took in brackets.
    assert [words.rsplit(", ", 1)[0] if " done (" in words else words.split(" (")[0] for words in told] == [
        "Rebuilding report summaries: 7 parts; the old ones cleared",
        "Rebuilding report summaries: 1 of 7 done (Haringey Children's Services, standing grades, every year",
        "Rebuilding report summaries: 2 of 7 done (Bedford Borough Council Children's Services, standing grades, up to 2026",
    ]
    assert await pending() == []
    waiting = await _upkeep_rows()
    assert {"summaries", "summaries cleared"} < set(waiting)
    assert sum(task.startswith("summaries grades:") for task in waiting) == 2
    assert len(await _standing_grade_indexes()) < len(indexes)  # set aside while the grades load

    told.clear()
    began = time.monotonic()
    printed = await migrate(progress=told.append)
    seconds = time.monotonic() - began
    assert [words.rsplit(", ", 1)[0] for words in told] == [
        "Rebuilding report summaries: carrying on after 2 of 7 parts done before",
        "Rebuilding report summaries: 3 of 7 done (Bedford Borough Council Children's Services, standing grades, 2027 onwards",
        "Rebuilding report summaries: 4 of 7 done (indexes of the standing grades made",
        "Rebuilding report summaries: 5 of 7 done (Haringey Children's Services, monthly counts, every year",
        "Rebuilding report summaries: 6 of 7 done (Bedford Borough Council Children's Services, monthly counts, up to 2026",
        "Rebuilding report summaries: 7 of 7 done (Bedford Borough Council Children's Services, monthly counts, 2027 onwards",
    ]
    assert "Report summaries rebuilt from the records in " in printed
    assert await pending() == []
    assert await _snapshot() == kept
    assert await _standing_grade_indexes() == indexes
    assert await _upkeep_rows() == []
    assert await migrate() and "rebuilt" not in await migrate()  # asked for once, done once
    print(f"upgrade of the demos on {kind}: {seconds:.2f} s")


def test_no_migration_imports_the_services_or_the_web_app():
    """A migration is frozen: what it runs must not change when a service does
    (issue 18 item 5). Only the database plumbing (core.db) may be imported."""
    import ast
    from pathlib import Path

    import core.db.migrations as package

    offenders = []
    for path in sorted(Path(package.__file__).parent.glob("qaf_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else (
                [alias.name for alias in node.names] if isinstance(node, ast.Import) else [])
            offenders += [f"{path.name}: {name}" for name in names
                          if name.startswith(("core.", "web.", "councils.", "plugins.")) and not name.startswith("core.db")]
    assert offenders == []
