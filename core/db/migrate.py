"""Run the committed migrations against the bound engine."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Callable

from piccolo.apps.migrations.commands.forwards import ForwardsMigrationManager

log = logging.getLogger("qaf.db")


async def migrate(to: str = "all", progress: Callable[[str], None] | None = None) -> str:
    """Apply every pending migration; safe to call on every start.

    Piccolo prints its progress; it is captured and returned (and logged)
    so commands that print their own output stay readable. ``progress`` is
    told, in words, how a long rebuild after the migrations is getting on.
    """
    manager = ForwardsMigrationManager(app_name="qaf", migration_id=to, fake=False)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        result = await manager.run()
    if not result.success:
        raise RuntimeError(f"migration failed: {result.message}\n{printed.getvalue()}")
    log.info("migrations: %s", printed.getvalue().strip().replace("\n", "; "))
    # What the migrations asked for (summaries to rebuild), with today's code.
    from core.db.upkeep import run_requested

    done = await run_requested(progress) if to == "all" else ""
    return printed.getvalue() + (f"\n{done}" if done else "")


async def pending() -> list[str]:
    """The committed migrations not yet run on the bound database, oldest
    first (every one when the database has never been migrated)."""
    from piccolo.apps.migrations.commands.base import BaseMigrationManager
    from piccolo.apps.migrations.tables import Migration
    from piccolo.conf.apps import Finder

    manager = BaseMigrationManager()
    folder = Finder().get_app_config("qaf").resolved_migrations_folder_path
    wanted = manager.get_migration_ids(manager.get_migration_modules(folder))
    if not await Migration.table_exists():
        return sorted(wanted)
    ran = set(await Migration.get_migrations_which_ran(app_name="qaf"))
    return sorted(set(wanted) - ran)
