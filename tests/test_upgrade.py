"""Upgrading a populated database (PLAT-14, issue 18 item 5), on both
databases: a database at the previous release's schema (every migration up
to 2026-12-05T09:00), holding the Haringey demo, and missing the monthly
summary tables a release before that added (as a database from before
2026-11-22T10:00 would), migrates forward: the summaries are rebuilt from
the records after the migrations (core/db/upkeep.py), equal to what the
app had kept as it went, and nothing is pending."""

from __future__ import annotations

import time

import pytest
from piccolo.apps.migrations.tables import Migration

from core.db.engine import bind, current, engine_for
from core.db.migrate import migrate, pending
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


async def _snapshot() -> dict[str, list]:
    engine = current()
    out = {}
    for name in SUMMARIES:
        rows = await engine.run_ddl(f"SELECT * FROM {name}")
        out[name] = sorted(repr(sorted((k, v) for k, v in dict(r).items() if k != "id")) for r in rows)
    return out


@pytest.mark.req("PLAT-14")
@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_a_populated_database_of_an_earlier_release_upgrades(kind, tmp_path, request, registry, monkeypatch):
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'qaf.sqlite3'}"
    else:
        url = await request.getfixturevalue("make_postgres_database")(prefix="upgrade")
    bind(engine_for(url))
    await migrate(to=PREVIOUS_RELEASE)
    assert "2026-12-05T16:00:00:000000" in await pending()
    async with writing_as_of_the_schema(monkeypatch):  # as that release wrote: its columns, its trail
        await load_demo(Context(registry=registry), "haringey")
    kept = await _snapshot()
    assert kept["allocation_month"]  # the demo's seven audits, counted as they were allocated

    for statement in BEFORE_SUMMARIES:
        await current().run_ddl(statement)
    await Migration.delete().where(Migration.name == SUMMARIES_MIGRATION)
    assert SUMMARIES_MIGRATION in await pending()

    began = time.monotonic()
    printed = await migrate()
    seconds = time.monotonic() - began
    assert "Report summaries rebuilt from the records in " in printed
    assert await pending() == []
    assert await _snapshot() == kept
    assert await migrate() and "rebuilt" not in await migrate()  # asked for once, done once
    print(f"upgrade of the demo on {kind}: {seconds:.2f} s")


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
